"""Benchmark: this checkout's training speed against an earlier revision, in the same run.

    python scripts/bench_versions.py [--baseline REV] [--rounds R]

The baseline's ``mlp`` and ``preprocess`` are taken from git (``git archive REV``) into a
temporary folder; each measurement runs in a fresh process whose ``PYTHONPATH`` puts one of
the two trees first (the process prints which ``mlp`` it imported, and the bench checks it).
Rounds alternate the order (before/after, then after/before), so that the machine's drift
hits both alike; figures are medians with the spread of the per-round ratios, and the ratio
of the two sides' fastest rounds (on a machine shared with other work, the fastest round is
the one least disturbed).

Workloads, the same code path on both sides:
  w1       one W1 epoch (60000x784 float32, 784-512-512-10, Adam lr 1e-3, batch 128,
           shuffled): a warm-up epoch, then the fastest of three timed epochs.
  step     a small network's step: 64-100-10 float64 on 1797x64, batch 200, on one BLAS
           thread, after 5 warm-up epochs: microseconds a step in the fastest of five
           blocks of 20 epochs (180 steps each; one block of 100 epochs, timed whole, read
           0.79-1.29 between the two sides of a round on this shared machine).
  sklearn  ``RoutinizerClassifier`` over ``MLPClassifier`` on digits (the fit of
           ``bench_sklearn.py``: 100 epochs of batch 200, one hidden layer of 100, float64,
           no scaling or validation split), both in the same process, three alternating
           fits each after a warm-up; the median ratio.
The default baseline is the last revision before modules, losses and update rules became
registered classes (the goal of that change: every figure within 3% of before).
Prints a table and one JSON line; asserts nothing.

The figures of the README: the revision before the module protocol and the registries,
``ba6dede``, against the checkout of 2026-12-02 (goal: within 3%), 21:23-21:27 UTC, load
1.1-1.25, 8 rounds; before, after, after / before median (rounds), fastest rounds:

- W1 epoch: 1.78 s, 1.73 s, 0.94 (0.86-1.17), 0.96;
- small-network step (64-100-10 float64, batch 200, one BLAS thread): 250 µs, 258 µs, 1.03
  (0.98-1.18), 1.02;
- digits fit, ours over ``MLPClassifier``: 0.483, 0.486, 1.02 (0.90-1.09), 0.98.

The step alone over 16 rounds right after (21:51) read 1.016 (0.83-1.43), fastest rounds 0.99.
An earlier run the same evening (8 rounds) read 1.06 (0.91-1.19) / fastest 1.08 for W1 and 1.04
(0.98-1.17) / 1.00 for the step: on this machine a 3% difference is inside the spread of one
run. Timed phase by phase inside one process (forward, backward, step), the two W1 epochs are
equal (1.59 against 1.61 s, 1.57 against 1.55, 1.64 against 1.66), and a step now makes 114
Python calls against the 118 of before (135 at first: the rule and its buffers were looked up
and checked at every step; they are now found once).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

#: the last revision before the module protocol and the registries
BASELINE = "ba6dede"
ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.03
STEP_BLOCKS = 5  #: timed blocks of 20 epochs in a step measurement


def _w1() -> float:
    import numpy as np

    from mlp import BasicRoutinizer, Model
    from preprocess import Data

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60000, 784)).astype(np.float32)
    data = Data(X, rng.integers(0, 10, 60000))
    model = Model.mlp([784, 512, 512, 10], seed=0)
    routinizer = BasicRoutinizer(epochs=1, batch_size=128, lr=1e-3, progress=False, seed=0)
    routinizer.run(model, data)
    times = []
    for epochs in (2, 3, 4):
        routinizer.epochs = epochs
        start = time.perf_counter()
        routinizer.run(model, data)
        times.append(time.perf_counter() - start)
    return min(times)


def _step() -> float:
    import numpy as np

    from mlp import BasicRoutinizer, Model
    from preprocess import Data

    rng = np.random.default_rng(0)
    data = Data(rng.normal(size=(1797, 64)), rng.integers(0, 10, 1797))
    model = Model.mlp([64, 100, 10], seed=0, dtype="float64")
    routinizer = BasicRoutinizer(epochs=5, batch_size=200, lr=1e-3, progress=False, seed=0)
    routinizer.run(model, data)
    blocks = []
    for _ in range(STEP_BLOCKS):  # 20 epochs each: the fastest block is the least disturbed
        routinizer.epochs += 20
        start = time.perf_counter()
        routinizer.run(model, data)
        blocks.append((time.perf_counter() - start) / (20 * 9) * 1e6)
    return min(blocks)


def _sklearn() -> float:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from mlp.sklearn.estimators import RoutinizerClassifier

    X, y = load_digits(return_X_y=True)
    ours = RoutinizerClassifier(hidden_layer_sizes=(100,), epochs=100, batch_size=200, lr=1e-3,
                                validation_fraction=0.0, early_stopping=None, normalize=None,
                                random_state=0)
    theirs = MLPClassifier(hidden_layer_sizes=(100,), max_iter=100, batch_size=200,
                           learning_rate_init=1e-3, alpha=0.0, tol=0.0, n_iter_no_change=101,
                           random_state=0)
    ratios = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        for _ in range(3):
            start = time.perf_counter()
            ours.fit(X, y)
            middle = time.perf_counter()
            theirs.fit(X, y)
            ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


WORKLOADS = {"w1": (_w1, "s"), "step": (_step, "us"), "sklearn": (_sklearn, "ours/sklearn")}


def worker(kind: str) -> None:
    """Measure one workload with whichever ``mlp`` is first on the path; print JSON."""
    import mlp

    print(json.dumps({"mlp": mlp.__file__, "value": WORKLOADS[kind][0]()}))


def baseline_tree(revision: str, folder: Path) -> Path:
    """``mlp/`` and ``preprocess/`` of ``revision``, unpacked into ``folder``."""
    archive = folder / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive),
                    revision, "mlp", "preprocess"], check=True, capture_output=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    return folder / "tree"


def measure(kind: str, tree: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    if kind in ("step", "sklearn"):
        env["OPENBLAS_NUM_THREADS"] = "1"  # microsecond products: a second thread only waits
    done = subprocess.run([sys.executable, __file__, "--worker", kind], env=env, check=True,
                          capture_output=True, text=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(answer["mlp"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the {kind} worker imported {answer['mlp']}, not {tree}")
    return answer["value"]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision ({BASELINE})")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per workload (6)")
    parser.add_argument("--only", choices=list(WORKLOADS), action="append")
    args = parser.parse_args()
    results: dict[str, object] = {"baseline": args.baseline}
    with tempfile.TemporaryDirectory() as folder:
        try:
            before_tree = baseline_tree(args.baseline, Path(folder))
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            print(f"before/after: unavailable (no git revision {args.baseline}: {exc})")
            return
        print(f"before ({args.baseline}) against after (this checkout), {args.rounds} rounds, "
              f"order alternating; goal: after/before within {GOAL:.0%}")
        print(f"{'workload':<10}{'unit':<14}{'before':>10}{'after':>10}  after/before, median "
              "(rounds)")
        for kind in args.only or list(WORKLOADS):
            before, after = [], []
            for index in range(args.rounds):
                pair = ((before, before_tree), (after, ROOT))
                for values, tree in pair if index % 2 == 0 else pair[::-1]:
                    values.append(measure(kind, tree))
            ratios = [a / b for a, b in zip(after, before, strict=True)]
            ratio = statistics.median(ratios)
            fastest = min(after) / min(before)
            results[kind] = {"before": statistics.median(before),
                             "after": statistics.median(after), "after_over_before": ratio,
                             "rounds": [round(r, 3) for r in ratios],
                             "fastest_after_over_fastest_before": fastest}
            print(f"{kind:<10}{WORKLOADS[kind][1]:<14}{statistics.median(before):>10.4g}"
                  f"{statistics.median(after):>10.4g}  {ratio:.3f} "
                  f"({min(ratios):.3f}-{max(ratios):.3f}); fastest rounds {fastest:.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""The start-up section of the benchmark: how long a small run waits before it trains.

    python scripts/bench_startup.py [--runs N] [--json-only]  (scripts/bench.py
    --startup-only runs just this)

For the shipped CSV config (``scripts/configs/blobs.json``) and sin config, runs ``python -m
mlp train CONFIG --set train.epochs=1`` ``N`` times (default 5) in fresh processes, into a
temporary checkpoint root, after one warm-up run each (so the files read are in the page
cache, Python's bytecode caches are written, even where ``PYTHONDONTWRITEBYTECODE`` is set,
and numba's on-disk cache holds the compiled kernels). Each process is started with
``MLP_STARTUP_FILE`` set (``mlp.training.startup``): the command appends the time at which its
first epoch starts, and which costly packages were imported by then. Printed per config: process
start (the ``time.time()`` just before the process is spawned) to the first epoch's start, and
to the process's exit (the whole command: one epoch, the checkpoint, the curves), as medians
with their spread (min-max), the processor seconds the process used until its first epoch
(median; a loaded machine inflates it much less than the wall time), the packages imported
before the first epoch, and the load average when the runs began (the machine is shared: figures
move with it).
Goal: process start to first epoch at most 0.5 s (median of 5).

A sweep worker: ``mlp sweep --workers 2`` of four trials of the sin config, ``N // 2`` times
after a warm-up: the time from the command's start to the first epoch of its own first trial
and to that of the worker process (which the command starts as its first step, within a few
hundredths of a second of its own start; it waits for the data file the command writes once
the sweep has passed its checks), the worker's processor seconds by then and what it had
imported. Asserts nothing.

Figures, 2026-12-05 16:06 UTC, this project's machine (2 shared cores, CPython 3.11.7, NumPy
2.4.6, numba 0.68.1, h5py 3.16), load average 6.7-7.4 (the cores were oversubscribed about
3.5 times, so wall times are about twice the processor times), before and after the start-up
work, the two trees run in turn, 5 runs each (the sweep 3), medians (spread):

===========================================  ====================  ====================
figure                                       before                after
===========================================  ====================  ====================
CSV config: process start to first epoch     1.294 s (1.23-1.41)   0.543 s (0.53-0.57)
  processor seconds by then                  0.635 s               0.259 s
  whole process (one epoch, saves, curves)   1.836 s               0.913 s
sin config: process start to first epoch     1.319 s (1.27-1.34)   0.540 s (0.50-0.57)
  processor seconds by then                  0.644 s               0.260 s
  whole process                              1.896 s               0.912 s
sweep (2 workers): start to the worker's     2.407 s (2.32-3.08)   0.874 s (0.87-1.07)
  first epoch; its processor seconds         0.911 s               0.292 s
===========================================  ====================  ====================

Imported before the first epoch, before: h5py, numba, numpy, pydantic, scipy (numba's), tqdm,
and matplotlib in a sweep worker; after: h5py (the run folder's pre-flight check builds the
checkpoint's header in memory), numpy, pydantic, tqdm, and optuna in a sweep worker. Where the
0.26 processor seconds go (``time.process_time`` between the steps of ``mlp train``): Python
itself and the command line's modules 0.04, NumPy 0.05, pydantic 0.02, the network's and the
run config's Pydantic models 0.11, h5py (the pre-flight check) 0.02, the rest 0.02. The same
day, ``bench.py --startup-only`` at load 6.4: 0.370 s (CSV) and 0.492 s (sin) to the first
epoch. Tried and left: Pydantic's ``defer_build`` on every model (0.012 s less, 5%).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"csv": ROOT / "scripts" / "configs" / "blobs.json",
           "sin": ROOT / "scripts" / "configs" / "sin.json"}
GOAL_S = 0.5  #: process start to first epoch, median
#: a sweep of four trials of the sin config (3000 full-batch epochs, about a second each), so
#: that the worker process takes trials too
SWEEP = {"name": "startup", "base": str(CONFIGS["sin"]),
         "space": {"train.lr": {"choice": [0.03, 0.01, 0.003, 0.001]}},
         "search": {"kind": "grid"}, "metric": "val_loss", "direction": "minimize"}


def _records(command: list[str], root: Path) -> tuple[float, float, list[dict]]:
    """``(time.time() just before, after)`` of ``command`` run to its end in a new process in
    ``root``, and the probe's records (``mlp.training.startup``)."""
    probe = root / "startup.jsonl"
    probe.unlink(missing_ok=True)
    # bytecode is cached, as an installed package has it (the warm-up run writes the caches)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MLP_STARTUP_FILE=str(probe),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    start = time.time()
    subprocess.run([sys.executable, "-m", "mlp", *command], env=env, cwd=root,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ended = time.time()
    lines = probe.read_text(encoding="utf-8").splitlines()
    return start, ended, [json.loads(line) for line in lines]


def one_run(config: Path, root: Path) -> tuple[float, float, float, list[str]]:
    """``(seconds to the first epoch, seconds to exit, processor seconds to the first epoch,
    packages imported before the first epoch)`` of one ``mlp train config --set
    train.epochs=1`` in a new process."""
    start, ended, (record,) = _records(["train", str(config), "--set", "train.epochs=1",
                                        "--ckpt-root", str(root), "--overwrite"], root)
    return record["time"] - start, ended - start, record["cpu"], record["loaded"]


def sweep_run(root: Path) -> tuple[float, float, float, list[str]]:
    """``(seconds from the command's start to the first epoch of its own first trial, to
    that of the worker process, processor seconds of the worker process by then, packages
    it had imported)`` of one ``mlp sweep --workers 2`` of ``SWEEP`` in a new process."""
    shutil.rmtree(root / "ckpt", ignore_errors=True)
    (root / "sweep.json").write_text(json.dumps(SWEEP), encoding="utf-8")
    start, _, records = _records(["-q", "sweep", "sweep.json", "--workers", "2",
                                  "--ckpt-root", "ckpt"], root)
    firsts = {r["pid"]: r for r in reversed(records)}  # each process's first record
    own = min(firsts.values(), key=lambda r: r["time"])  # the command starts first
    worker = max(firsts.values(), key=lambda r: r["time"])
    if worker is own:
        raise RuntimeError("the worker process ran no trial")
    return own["time"] - start, worker["time"] - start, worker["cpu"], worker["loaded"]


def run(runs: int = 5) -> dict:
    """The figures of every config in ``CONFIGS`` and of the sweep (see the module
    docstring)."""
    r: dict = {"startup_load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
    median = statistics.median
    with tempfile.TemporaryDirectory() as folder:
        for name, config in CONFIGS.items():
            one_run(config, Path(folder))  # warm-up: page cache, numba's cache
            results = [one_run(config, Path(folder)) for _ in range(runs)]
            first = [f for f, _, _, _ in results]
            whole = [w for _, w, _, _ in results]
            r[f"startup_{name}_first_epoch_s"] = median(first)
            r[f"startup_{name}_first_epoch_spread"] = f"{min(first):.3f}-{max(first):.3f}"
            r[f"startup_{name}_first_epoch_cpu_s"] = median(c for _, _, c, _ in results)
            r[f"startup_{name}_process_s"] = median(whole)
            r[f"startup_{name}_process_spread"] = f"{min(whole):.3f}-{max(whole):.3f}"
            r[f"startup_{name}_imported_first"] = " ".join(
                sorted(set().union(*(loaded for _, _, _, loaded in results))))
            r[f"startup_{name}_goal"] = ("met" if median(first) <= GOAL_S
                                         else "missed") + f" (first epoch within {GOAL_S} s)"
        sweep_run(Path(folder))  # warm-up
        results = [sweep_run(Path(folder)) for _ in range(max(runs // 2, 1))]
        r["startup_sweep_command_first_epoch_s"] = median(o for o, _, _, _ in results)
        worker = [w for _, w, _, _ in results]
        r["startup_sweep_worker_first_epoch_s"] = median(worker)
        r["startup_sweep_worker_first_epoch_spread"] = f"{min(worker):.3f}-{max(worker):.3f}"
        r["startup_sweep_worker_first_epoch_cpu_s"] = median(c for _, _, c, _ in results)
        r["startup_sweep_worker_imported_first"] = " ".join(
            sorted(set().union(*(loaded for _, _, _, loaded in results))))
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per config (5)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    r = run(args.runs)
    if not args.json_only:
        for key, value in r.items():
            text = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{key:<36}{text:>40}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))


if __name__ == "__main__":
    main()

"""The notebook section of the benchmark: what live display costs a run in a real Jupyter
kernel (ipykernel started by jupyter_client, as a notebook server starts it).

    python scripts/bench_notebook.py [--rounds R] [--n N]  (scripts/bench.py runs it unless
    --no-notebook; --notebook-only runs just this)

Two workloads, each run with every display off (``progress=False``), with the progress line
only (the default ``progress=True``) and with the progress line and the live curves
(``dynamic_show=True``, ``plot_every=1``, the defaults otherwise), the three in turn in each
round (the order rotating), timed inside the kernel around the ``run`` call:
  digits60  scikit-learn's digits as the shipped config makes it (validation 0.1, 1-pixel
            shifts, z-score), 64-256-10 ReLU with dropout 0.2, Adam with weight decay, label
            smoothing 0.1, cosine schedule, batch 32, 60 epochs (no early stop: every run
            does all 60).
  W1        60000x784 random inputs (``--n``), 784-512-512-10, Adam, batch 128, 1 epoch.
The first run of each workload (both displays on: it pays the imports) is a warm-up.
The kernel's messages of each run are counted on the client side (display, in-place
updates, widget messages): what a frontend would receive. The time spent inside the
displays' calls (creating, updating and closing the progress line, drawing and sending the
picture) is summed in the kernel and divided by the run's time: the display's share, which
the machine's drift moves much less than the ratio of two runs. Prints the medians of each
setting, their ratios to display off (goal: at most 1.10 with both displays on), the
message counts, and the cost of one update of each display (the progress line, unthrottled,
100 times; the picture of the digits run's 60 epochs, 10 times), which with the counts
bounds the displays' share independently of the machine's drift; asserts nothing.

The figure of the README: ``python scripts/bench.py --notebook-only``, in a real kernel, on
2026-12-05 at 17:37 UTC, 2 cores, load average 0.2-0.7: with both displays on, the displays
took 9.7% of a 60-epoch digits run (1.58 s against 1.43 s with them off, 1.105; 0.99 with the
progress line only, 0.6% its share) and 4.8% of a 1.36 s W1 epoch (its one picture at the end;
1.06 of off); one progress update took 0.08 ms, one picture 71 ms.

Earlier that day, ``--rounds 3`` at 16:29 UTC, load average 3.5-3.8: with both displays on, the
displays took 8.9% of a 60-epoch digits run (1.0% the progress line; the run 2.10 s against
1.59 s with the displays off, 1.12, and 1.0 with the progress line only, rounds this short
move by a tenth) and 1.4% of a W1 epoch; one progress update took 0.11 ms, one picture 79 ms
(matplotlib, ``mlp.plotting.curves``, redrawn into the figure the last drawing left). The
picture is drawn twice in either run: at the first epoch and at the end (the throttle lets a
run spend at most 5% of its time on the pictures before the last one, the first included, and
the last is always drawn). Earlier the same day: at 16:10 UTC (load 3.5) 7.9% of a 3.6 s
digits run (ratio 1.11) and 11.4% of a 1.3 s W1 epoch, whose one picture was drawn twice (at its
epoch and at its end, now once); at 15:58 UTC (load 7) 11.2%, before the throttle counted the
first picture in its share; with the Pillow picture (10 ms a picture) 6.3% and 0.14%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"off": "progress=False", "progress": "progress=True",
            "live": "progress=True, dynamic_show=True"}

SETUP = """
import json, time
import numpy as np
from mlp import BasicRoutinizer, Model
from preprocess import Data

digits = (Data.from_sklearn("digits", test_fraction=0.25, seed=0)
          .split_validation(0.1, seed=0).augment_shift((8, 8), pixels=1).normalize())
rng = np.random.default_rng(0)
w1 = Data(rng.random(({n}, 784), dtype=np.float32), rng.integers(0, 10, {n}))

def digits60(**shown):
    return Model.mlp([64, 256, 10], dropout=0.2, seed=0), digits, BasicRoutinizer(
        epochs=60, batch_size=32, optimizer="adam", lr=1e-3, weight_decay=1e-4,
        loss={{"kind": "cross_entropy", "label_smoothing": 0.1}},
        schedule={{"kind": "cosine", "min_lr": 1e-5}}, seed=0, **shown)

def W1(**shown):
    return Model.mlp([784, 512, 512, 10], seed=0), w1, BasicRoutinizer(
        epochs=1, batch_size=128, optimizer="adam", lr=1e-3, seed=0, **shown)

import mlp.plotting.notebook
spent = [0.0]  # seconds inside the displays' calls during a run

def _clocked(function):
    def clocked(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started
    return clocked

for cls, names in ((mlp.plotting.notebook.NotebookProgress, ("__init__", "epoch", "close")),
                   (mlp.plotting.notebook.NotebookCurves, ("update",))):
    for name in names:
        setattr(cls, name, _clocked(getattr(cls, name)))

def timed(make, **shown):
    global history
    model, data, routinizer = make(**shown)
    spent[0] = 0.0
    started = time.perf_counter()
    history = routinizer.run(model, data)
    seconds = time.perf_counter() - started
    print(json.dumps({{"seconds": seconds, "display_share": spent[0] / seconds}}))

def update_costs(count=100):
    from mlp.plotting.notebook import NotebookCurves, NotebookProgress
    progress, curves = NotebookProgress(0, count), NotebookCurves()
    row = {{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "train_accuracy": 0.9,
           "val_accuracy": 0.8, "lr": 1e-3, "seconds": 0.1}}
    started = time.perf_counter()
    for epoch in range(1, count + 1):
        progress.row = {{**row, "epoch": epoch}}  # a new line each time: a message each
        progress._show(done=False)
    line = (time.perf_counter() - started) / count
    progress.close()
    started = time.perf_counter()
    for _ in range(count // 10):
        curves.drawn = None  # drawn anew each time (one epoch is otherwise drawn once)
        curves.update(history, final=True)
    picture = (time.perf_counter() - started) / (count // 10)
    print(json.dumps({{"line": line, "picture": picture}}))
"""


def _run(client, code: str) -> tuple[dict, Counter]:  # noqa: ANN001 (a jupyter_client client)
    """Execute ``code`` in the kernel; returns the JSON it printed and the message counts."""
    counts: Counter = Counter()
    printed: list[str] = []

    def hook(msg: dict) -> None:
        counts[msg["msg_type"]] += 1
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    client.execute_interactive(code, output_hook=hook, timeout=900)
    text = "".join(printed).strip()
    return (json.loads(text.splitlines()[-1]) if text else {}), counts


def run(rounds: int = 3, n: int = 60000) -> dict[str, float | int | str]:
    """The figures of both workloads (keys ``notebook_<workload>_<setting>_s``, the ratios
    ``..._over_off`` and the message counts of the last round)."""
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MPLBACKEND", None)
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    result: dict[str, float | int | str] = {}
    try:
        _run(client, SETUP.format(n=n))
        for workload in ("digits60", "W1"):
            _run(client, f"timed({workload}, {SETTINGS['live']})")  # warm-up, imports
            times: dict[str, list[float]] = {name: [] for name in SETTINGS}
            shares: dict[str, list[float]] = {name: [] for name in SETTINGS}
            for index in range(rounds):
                order = list(SETTINGS)[index % 3:] + list(SETTINGS)[:index % 3]
                for name in order:
                    printed, counts = _run(client, f"timed({workload}, {SETTINGS[name]})")
                    times[name].append(printed["seconds"])
                    shares[name].append(printed["display_share"])
                    messages = ", ".join(f"{k} {counts[k]}" for k in (
                        "display_data", "update_display_data", "comm_msg") if counts[k])
                    result[f"notebook_{workload}_{name}_messages"] = messages or "none"
            off = times["off"]
            for name, seconds in times.items():
                result[f"notebook_{workload}_{name}_s"] = statistics.median(seconds)
                if name != "off":
                    result[f"notebook_{workload}_{name}_over_off"] = statistics.median(
                        [a / b for a, b in zip(seconds, off, strict=True)])
                    result[f"notebook_{workload}_{name}_display_share"] = statistics.median(
                        shares[name])
            if workload == "digits60":  # the history of its last run is drawn
                costs, _ = _run(client, "update_costs()")
                result["notebook_progress_update_ms"] = 1000 * costs["line"]
                result["notebook_picture_update_ms"] = 1000 * costs["picture"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=60000, help="W1's samples (60000)")
    args = parser.parse_args()
    for key, value in run(args.rounds, args.n).items():
        shown = f"{value:>12.4g}" if isinstance(value, float) else f"{value:>12}"
        print(f"{key:<44}{shown}")


if __name__ == "__main__":
    main()

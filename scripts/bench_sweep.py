"""The sweep section of the benchmark: a 16-trial digits grid as whole ``mlp sweep``
commands with one worker and with two, and where a worker's time goes (training, loading
the data, the study storage and claims, the report) in one in-process run. For trials of
6 epochs (short trials, where the per-sweep costs weigh most), 15 (the shipped digits
sweep's length) and 30.

    python scripts/bench_sweep.py [--epochs E ...]  (scripts/bench.py runs it unless --no-sweep)

Prints figures, asserts nothing. Beside two workers over one and its goal (0.6) it prints the
floor of that ratio: one minus the trials' training time (in-process run) over twice the
one-worker command, the ratio two workers would reach if they halved the training and nothing
else. Start-up (Python, imports, loading digits with scikit-learn), the report and the storage
stay one process's work. A one-worker command uses the default BLAS threads; with
``--workers 2`` every worker gets one. A control says how much of two cores the machine had
free: two concurrent copies of a pure-Python loop against one.

The figures of the README
-------------------------
2026-12-02 at about 21:30 UTC (load average 0.6-1.1), the 16-trial digits grid (hidden 32 or 64,
lr 1e-3 or 3e-3, batch 32 or 64, He or Xavier), each command timed whole, two rounds, medians;
columns are trials of 6, 15 and 30 epochs::

    figure                                               6 epochs     15 epochs    30 epochs
    mlp sweep, one worker                                4.59 s       4.75 s       4.17 s
    mlp sweep --workers 2                                4.18 s       4.10 s       3.94 s
    two over one (goal: at most 0.6), rounds             0.91 (0.86,  0.86 (0.95,  0.94 (0.96,
                                                         0.98)        0.79)        0.93)
    trials' training (in-process run)                    1.24 s       0.79 s       1.17 s
    floor of two over one (halving the training only)    0.87         0.92         0.86
    start-up: Python, imports, loading digits            2.67 s       3.45 s       2.36 s
    report (csv, md, fANOVA, two PNGs)                   0.53 s       0.35 s       0.46 s
    storage, claims, run folders                         0.14 s       0.13 s       0.16 s

(scikit-learn's import alone is 1.4 s of the start-up.) The 0.6 goal cannot be reached on sweeps
this small. Since a trial's ``curves.png`` costs milliseconds instead of 0.13-0.15 s, a
one-worker command spends about a quarter of its time training (0.8-1.2 s of 4.2-4.7 s); the
rest is the command's own start-up and its report, which happen once whatever the number of
workers. Even a perfect split of the training would leave two workers at 0.86-0.92 of one
worker's time, and they measure 0.86-0.94. The shipped sweeps show the same (two rounds each,
21:28 UTC): digits 5.34 and 5.37 s with one worker against 4.45 and 4.51 s with two (0.83,
0.84); sin 9.05 and 8.03 s against 7.01 and 7.01 s (0.78, 0.87). Before the picture got cheap
these commands took 8.5 and 10.8 s with one worker and reached 0.66 and 0.64; the one-worker
command is what got faster (digits by 37%). Two workers pay off where training dominates:
longer trials, more of them, or bigger data.

The shipped sweeps, measured 2026-11-26 on the same machine, shared with other work:

``mlp sweep scripts/sweeps/sin.json --workers 2``: the reference sin experiment, 1-30-20-1
against 1-20-10-1, sigmoid against ReLU, three learning rates, MAE loss (1024 training points in
[0, 1], batch 16, Adam with a cosine schedule, 40 epochs), 12 configurations × 2 seeds; 7.0 s
for the whole command with 2 workers (10.8 s with one) at 02:50 (9.5 s an hour earlier, before
the faster curves and workers, 47 s and 132 s with every epoch checkpointed and the machine
loaded; the same table every time, bit for bit). Every trial ran 40 epochs and completed::

    rank trial hidden nonlinearity lr     val_loss (mean ± sd)  best epoch  train s
    1    10    30-20  sigmoid      0.03   0.004309 ± 0.0012     40, 38      0.33
    2    6     30-20  sigmoid      0.01   0.004653 ± 0.00031    40, 40      0.34
    3    0     20-10  sigmoid      0.03   0.004981 ± 0.0009     40, 40      0.32
    4    2     30-20  relu         0.01   0.01021 ± 0.0046      40, 38      0.33
    5    9     30-20  relu         0.03   0.01172 ± 0.00055     38, 38      0.34
    6    3     20-10  relu         0.01   0.02439 ± 0.02        40, 40      0.32
    7    8     20-10  relu         0.03   0.05022 ± 0.056       40, 40      0.31
    8    11    30-20  relu         0.003  0.05312 ± 0.006       40, 40      0.35
    9    7     20-10  sigmoid      0.01   0.06651 ± 0.0054      40, 40      0.31
    10   1     20-10  relu         0.003  0.07062 ± 0.023       40, 40      0.33
    11   5     20-10  sigmoid      0.003  0.3498 ± 0.015        40, 40      0.31
    12   4     30-20  sigmoid      0.003  0.3761 ± 0.00052      38, 38      0.33

Sigmoid fits sin(2πx) to a validation MAE below 0.01 (0.0043 ± 0.0012 for 1-30-20-1 at lr 0.03)
and ReLU never gets there (best 0.010 ± 0.005); the smallest learning rate leaves the sigmoid
nets on the plateau (0.35-0.38) within 40 epochs. Several neighbours are within one sd of each
other: the repeats are what tells them apart. ``curves.png`` shows the 24 validation curves on a
log scale, the best configuration's two runs in red falling to about 0.004, and a band of runs
stuck near 0.35; ``params.png`` shows the metric per architecture, nonlinearity and learning
rate with importances 0.40 / 0.40 / 0.20.

``mlp sweep scripts/sweeps/digits.json --workers 2``: the reference character experiment on
scikit-learn's digits (z-score, stratified 25% test and 10% validation splits, 15 epochs of Adam
at lr 1e-3): batch 16 against 64, one hidden layer of 32 or 128, normal initialisation with std
0.01, 0.1 or 0.2; 12 configurations × 2 seeds, metric validation accuracy; 5.7 s for the whole
command with 2 workers (8.5 s with one) at 02:50 (8.6 s earlier in the day, and 38 s and 50 s
when the machine was loaded; same table). Every trial ran 15 epochs and completed::

    rank trial batch hidden init_scale val_accuracy (mean ± sd)  best epoch  train s
    1    0     16    128    0.01       0.9963 ± 0.0052           14, 15      0.18
    2    10    16    32     0.01       0.9926 ± 0                15, 15      0.17
    3    7     64    128    0.01       0.9853 ± 0.01             15, 15      0.08
    4    5     16    128    0.1        0.9816 ± 0.0052           11, 14      0.19
    5    4     16    32     0.1        0.9706 ± 0                15, 15      0.16
    6    2     16    32     0.2        0.9669 ± 0.026            15, 15      0.18
    7    3     16    128    0.2        0.9669 ± 0.0052           15, 15      0.18
    8    8     64    128    0.1        0.9632 ± 0.01             15, 15      0.07
    9    1     64    128    0.2        0.9522 ± 0.0052           15, 15      0.07
    10   9     64    32     0.1        0.9449 ± 0.016            15, 14      0.05
    11   6     64    32     0.01       0.9412 ± 0                15, 15      0.05
    12   11    64    32     0.2        0.9375 ± 0.016            15, 15      0.06

Batch 16 beats 64 at the same 15 epochs (more steps), and the smallest initial std is best for
both widths. The validation split has 136 images, so one image is 0.0074: most neighbours differ
by one or two images and the sd column says so. ``curves.png`` shows the 24 accuracy curves
rising from 0.2-0.9 after one epoch to 0.93-1.0, the best two in red; ``params.png`` shows the
spread per batch size, width and std (log axis), and fANOVA importances of 0.56 for the std,
0.44 for the batch size and 0.00 for the width.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlp.sweep.command import run_sweep
from mlp.sweep.config import SweepConfig
from mlp.training.run_config import load_data

SWEEP = {
    "name": "bench-digits",
    "base": {
        "name": "digits",
        "data": {"source": "sklearn", "name": "digits", "test_fraction": 0.25,
                 "validation_fraction": 0.1, "normalize": "zscore"},
        "model": {"hidden": [64], "nonlinearity": "relu", "seed": 0},
        "train": {"epochs": 6, "batch_size": 32, "lr": 0.001, "loss": "cross_entropy"},
    },
    "space": {"train.lr": {"choice": [0.001, 0.003]},
              "train.batch_size": {"choice": [32, 64]},
              "model.hidden": {"choice": [[32], [64]]},
              "model.init": {"choice": ["he", "xavier"]}},
    "search": {"kind": "grid"},
}


TWO_OVER_ONE_GOAL = 0.6  #: two workers' wall time over one worker's, at most

BURN = "x = 0\nfor i in range(8_000_000):\n    x += i\n"


def free_cores_control() -> float:
    """Wall time of two concurrent copies of a pure-Python loop over one copy's: 1.0 when
    two cores are free, 2.0 when the machine has one core's worth left for us."""
    def burn(copies: int) -> float:
        started = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(copies)]
        for process in processes:
            process.wait()
        return time.perf_counter() - started

    return burn(2) / burn(1)


def _command(path: Path, root: Path, workers: int) -> float:
    """Wall time of ``mlp sweep`` as a user runs it: a fresh process (Python, imports,
    data, trials, report), into the empty folder ``root``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlp.cli", "-q", "sweep", str(path), "--ckpt-root",
                    str(root), "--workers", str(workers)], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(epochs: int = 6, rounds: int = 2) -> dict[str, float]:
    """Time the 16-trial sweep (trials of ``epochs`` epochs): whole ``mlp sweep`` commands
    with one and two workers (``rounds`` of each, interleaved, medians), and one in-process
    run for where a worker's time goes; return the figures."""
    r: dict[str, float] = {"sweep_epochs_per_trial": epochs}
    sweep = copy.deepcopy(SWEEP)
    sweep["base"]["train"]["epochs"] = epochs
    with tempfile.TemporaryDirectory(prefix="mlp-bench-sweep-") as tmp:
        path = Path(tmp) / "sweep.json"
        path.write_text(json.dumps(sweep))
        config = SweepConfig.from_file(path)
        one_s, two_s = [], []
        for index in range(rounds):
            one_s.append(_command(path, Path(tmp) / f"one-{index}", 1))
            two_s.append(_command(path, Path(tmp) / f"two-{index}", 2))
        load_data(config.run_config.data)  # imports what loading needs, as a command has
        inside = run_sweep(path, config, Path(tmp) / "inside" / config.name, progress=False)
    one, two = statistics.median(one_s), statistics.median(two_s)
    r["sweep_trials"] = config.n_trials()
    r["sweep_one_worker_s"] = one
    r["sweep_two_workers_s"] = two
    r["sweep_two_over_one"] = two / one
    r["sweep_two_over_one_each"] = ", ".join(f"{b / a:.2f}" for a, b in zip(one_s, two_s,
                                                                            strict=True))
    r["sweep_two_over_one_goal"] = TWO_OVER_ONE_GOAL
    # where the in-process worker's time went; the machinery is what is neither training
    # nor loading the data, over the wall time of the one-worker command
    machinery = inside.wall_seconds - inside.training_seconds - inside.data_seconds
    r["sweep_inside_wall_s"] = inside.wall_seconds
    r["sweep_training_s"] = inside.training_seconds
    r["sweep_data_loading_s"] = inside.data_seconds
    r["sweep_report_s"] = inside.report_seconds
    r["sweep_storage_and_claims_s"] = machinery - inside.report_seconds
    r["sweep_machinery_s"] = machinery
    r["sweep_machinery_fraction"] = machinery / one
    r["sweep_startup_s"] = one - inside.wall_seconds  # Python, imports, first data import
    # the lowest two over one that two workers could reach if they halved the trials'
    # training and nothing else (start-up, data, report and storage stay one process's)
    r["sweep_two_over_one_floor"] = 1 - inside.training_seconds / (2 * one)
    r["cores"] = os.cpu_count() or 0
    r["control_two_loops_over_one"] = free_cores_control()
    r["load_average_1min"] = os.getloadavg()[0]  # a shared machine: other people's work
    return r


EPOCHS = (6, 15, 30)  #: trial lengths the benchmark times


def run_all(epochs: tuple[int, ...] = EPOCHS) -> dict[str, float]:
    """``run`` for each trial length, the keys prefixed with it (``e6_sweep_...``)."""
    return {f"e{e}_{key}": value for e in epochs for key, value in run(e).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=list(EPOCHS),
                        help="epochs per trial, one sweep pair each (6 15 30)")
    for key, value in run_all(tuple(parser.parse_args().epochs)).items():
        shown = f"{value:>12.4g}" if isinstance(value, float | int) else f"{value:>12}"
        print(f"{key:<36}{shown}")


if __name__ == "__main__":
    main()

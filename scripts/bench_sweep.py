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

"""The sweep section of the benchmark: a 16-trial digits grid (6 epochs each) run by one
worker in this process and by two worker processes, and what the sweep machinery (study
storage, claiming, the report) costs beside the trials' own training.

    python scripts/bench_sweep.py [--epochs E]   (also run by scripts/bench.py unless --no-sweep)

Prints figures, asserts nothing. The one-worker run uses this process's BLAS threads; the
two workers get one BLAS thread each, as ``mlp sweep --workers 2`` starts them. A control
says how much of two cores the machine had free: two concurrent copies of a pure-Python
loop against one.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlp.sweep import SweepConfig
from mlp.sweep_command import run_sweep

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


def run(epochs: int = 6) -> dict[str, float]:
    """Time the 16-trial sweep (trials of ``epochs`` epochs) with one and two workers;
    return the figures."""
    r: dict[str, float] = {"sweep_epochs_per_trial": epochs}
    sweep = copy.deepcopy(SWEEP)
    sweep["base"]["train"]["epochs"] = epochs
    with tempfile.TemporaryDirectory(prefix="mlp-bench-sweep-") as tmp:
        path = Path(tmp) / "sweep.json"
        path.write_text(json.dumps(sweep))
        config = SweepConfig.from_file(path)
        one = run_sweep(path, config, Path(tmp) / "one" / config.name, progress=False)
        started = time.perf_counter()
        two = run_sweep(path, config, Path(tmp) / "two" / config.name, workers=2,
                        progress=False)
        r["sweep_two_workers_total_s"] = time.perf_counter() - started
    r["sweep_trials"] = config.n_trials()
    r["sweep_one_worker_s"] = one.wall_seconds
    r["sweep_two_workers_s"] = two.wall_seconds
    r["sweep_two_over_one"] = two.wall_seconds / one.wall_seconds
    r["sweep_training_s"] = one.training_seconds
    r["sweep_report_s"] = one.report_seconds
    machinery = one.wall_seconds - one.training_seconds - one.data_seconds
    r["sweep_data_loading_s"] = one.data_seconds
    r["sweep_machinery_s"] = machinery
    r["sweep_machinery_fraction"] = machinery / one.wall_seconds
    r["sweep_storage_and_claims_s"] = machinery - one.report_seconds
    r["cores"] = os.cpu_count() or 0
    r["control_two_loops_over_one"] = free_cores_control()
    r["load_average_1min"] = os.getloadavg()[0]  # a shared machine: other people's work
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial (6)")
    for key, value in run(parser.parse_args().epochs).items():
        print(f"{key:<32}{value:>12.4g}")


if __name__ == "__main__":
    main()

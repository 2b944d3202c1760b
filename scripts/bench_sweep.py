"""The sweep section of the benchmark: a 16-trial digits grid (6 epochs each) run by one
worker in this process and by two worker processes, and what the sweep machinery (study
storage, claiming, the report) costs beside the trials' own training.

    python scripts/bench_sweep.py      (also run by scripts/bench.py unless --no-sweep)

Prints figures, asserts nothing. The one-worker run uses this process's BLAS threads; the
two workers get one BLAS thread each, as ``mlp sweep --workers 2`` starts them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from mlp.sweep import SweepConfig
from mlp.sweep_run import run_sweep

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


def run() -> dict[str, float]:
    """Time the 16-trial sweep with one and two workers; return the figures."""
    r: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mlp-bench-sweep-") as tmp:
        path = Path(tmp) / "sweep.json"
        path.write_text(json.dumps(SWEEP))
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
    r["load_average_1min"] = os.getloadavg()[0]  # a shared machine: other people's work
    return r


def main() -> None:
    for key, value in run().items():
        print(f"{key:<32}{value:>12.4g}")


if __name__ == "__main__":
    main()

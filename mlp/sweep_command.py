"""The ``mlp sweep`` command: check the sweep, open its study, run the workers (in this
process, or as worker processes with single-threaded BLAS), follow them on a progress bar,
and write the report.

Every refusal happens before a trial starts: the space (every value built into a run
config), the split the metric needs, the storage, a sweep file changed since the study began.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mlp.config import load_data
from mlp.errors import MLPError
from mlp.sweep import SweepConfig
from mlp.sweep_report import write_report
from mlp.sweep_run import Worker, shared_data_path
from mlp.sweep_study import ERROR_ATTR, JOURNAL, open_storage, open_study

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class SweepOutcome:
    """What a sweep command did: wall time, loading the base run's data (checks, and the
    in-process worker's data), time inside trials and inside their training (an in-process
    worker only), report time, the report files, and the workers that did not
    end cleanly."""

    wall_seconds: float
    data_seconds: float
    trial_seconds: float
    training_seconds: float
    report_seconds: float
    reports: list[Path]
    failed_workers: list[str]


def prepare(config: SweepConfig, folder: Path, url: str | None, data: Any
            ) -> tuple[optuna.storages.BaseStorage, optuna.Study]:
    """What can still be refused before a trial starts, once the space is checked and the
    base run's ``data`` loaded: the split the metric needs, the storage, a changed sweep."""
    split = {"val": data.X_val, "test": data.X_test}.get(config.metric.split("_")[0], True)
    if split is None:
        raise MLPError(f"the metric {config.metric} needs a {config.metric.split('_')[0]} "
                       "split, and the base run's data has none")
    storage = open_storage(folder, url)
    return storage, open_study(config, storage)


def run_sweep(sweep_file: Path, config: SweepConfig, folder: Path, *, workers: int = 1,
              url: str | None = None, n_trials: int | None = None, progress: bool = True,
              report: bool = True) -> SweepOutcome:
    """Run (or finish) the sweep with ``workers`` processes on this machine, then write the
    report. This process is the first worker; the others are fresh processes. With more
    than one worker, every worker (this one included) runs with single-threaded BLAS."""
    started = time.perf_counter()
    config.check_space()  # every value of the space built into a run config
    data = load_data(config.run_config.data)
    data_seconds = time.perf_counter() - started
    storage, study = prepare(config, folder, url, data)
    total = config.n_trials(n_trials)
    bar = tqdm(total=total, disable=not progress, unit="trial", dynamic_ncols=True,
               desc=config.name)
    failed: list[str] = []
    trial_seconds = training_seconds = 0.0
    try:
        if workers == 1:
            worker = Worker(config, folder, study, storage, total, data)
            _refresh(bar, study)
            worker.work(on_trial=lambda: _refresh(bar, study))
            trial_seconds, training_seconds = worker.trial_seconds, worker.training_seconds
        else:
            shared = shared_data_path(folder, config.run_config.data.model_dump_json())
            if not shared.exists():
                folder.mkdir(parents=True, exist_ok=True)
                data.save(shared)
            # this process is one of the workers (it has loaded everything already), with
            # single-threaded BLAS like the others, while the rest start up
            processes = _spawn(sweep_file, folder, workers - 1, url, total)
            try:
                with threadpool_limits(limits=1, user_api="blas"):
                    worker = Worker(config, folder, study, storage, total, data)
                    worker.work(on_trial=lambda: _refresh(bar, study))
                trial_seconds, training_seconds = worker.trial_seconds, worker.training_seconds
                failed = _follow(processes, bar, study)
            except BaseException:
                for process in processes:
                    process.terminate()
                raise
    finally:
        _refresh(bar, study)
        bar.close()
    report_started = time.perf_counter()
    reports = write_report(study, folder) if report else []
    ended = time.perf_counter()
    return SweepOutcome(ended - started, data_seconds, trial_seconds, training_seconds,
                        ended - report_started, reports, failed)


def _spawn(sweep_file: Path, folder: Path, workers: int, url: str | None,
           total: int) -> list[subprocess.Popen]:
    """Start ``workers`` worker processes (each ``mlp sweep`` with one worker, no report,
    single-threaded BLAS)."""
    env = {**os.environ, **dict.fromkeys(BLAS_THREAD_VARIABLES, "1")}
    command = [sys.executable, "-m", "mlp.cli", "-q", "sweep", str(sweep_file),
               "--ckpt-root", str(folder.parent), "--trials", str(total), "--worker"]
    if url is not None:
        command += ["--storage", url]
    return [subprocess.Popen(command, env=env) for _ in range(workers)]


def _follow(processes: list[subprocess.Popen], bar: tqdm, study: optuna.Study) -> list[str]:
    """Follow the study until the worker processes end; return the failed ones."""
    while any(p.poll() is None for p in processes):
        _refresh(bar, study)
        running = next(p for p in processes if p.poll() is None)
        try:  # returns as soon as that worker ends, so the last one is not waited for
            running.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    return [f"worker {p.pid} ended with status {p.returncode}" for p in processes
            if p.returncode != 0]


def _refresh(bar: tqdm, study: optuna.Study) -> None:
    """Trials done and the best value so far on the sweep's progress bar."""
    if bar.disable:
        return
    trials = study.get_trials(deepcopy=False)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or
               (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs) for t in trials)
    if done == bar.n:
        return
    complete = [t.value for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        bar.set_postfix(best=f"{pick(complete):.4g}", refresh=False)
    bar.update(done - bar.n)


def command(sweep_file: Path | None, *, ckpt_root: Path, workers: int, url: str | None,
            n_trials: int | None, report_only: bool, worker_only: bool, schema: bool,
            quiet: bool) -> int:
    """``mlp sweep``: run the sweep, rebuild its report, or print the sweep file's schema."""
    if schema:
        print(json.dumps(SweepConfig.model_json_schema(), indent=2))
        return 0
    if sweep_file is None:
        raise MLPError("mlp sweep needs a sweep file (or --schema)")
    if workers < 1:
        raise MLPError(f"--workers needs a positive count, found {workers}")
    config = SweepConfig.from_file(sweep_file)
    folder = ckpt_root / config.name
    if report_only:
        if url is None and not (folder / JOURNAL).exists():
            raise MLPError(f"no study to report on: {folder / JOURNAL} does not exist")
        storage = open_storage(folder, url)
        try:
            study = optuna.load_study(study_name=config.name, storage=storage)
        except KeyError:
            raise MLPError(f"no study named {config.name!r} in the storage") from None
        for path in write_report(study, folder):
            print(f"{path.name}: {path}")
        return 0
    if worker_only:
        storage = open_storage(folder, url)
        study = open_study(config, storage)
        Worker(config, folder, study, storage, config.n_trials(n_trials)).work()
        return 0
    outcome = run_sweep(sweep_file, config, folder, workers=workers, url=url,
                        n_trials=n_trials, progress=not quiet)
    print((folder / "results.md").read_text() if outcome.reports else "")
    for path in outcome.reports:
        print(f"{path.name}: {path}")
    print(f"wall time {outcome.wall_seconds:.1f} s")
    for line in outcome.failed_workers:
        print(f"mlp sweep: {line}; run the same command again to finish the sweep",
              file=sys.stderr)
    return 1 if outcome.failed_workers else 0

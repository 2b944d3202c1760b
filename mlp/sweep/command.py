"""The ``mlp sweep`` command: check the sweep, open its study, run the workers (in this
process, or as worker processes with single-threaded BLAS), follow them on a progress bar,
and write the report.

Every refusal happens before a trial starts: the space (every value built into a run
config), the split the metric needs, the storage, a sweep file changed since the study began.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mlp.errors import MLPError
from mlp.storage.output_paths import refuse_clobbering
from mlp.sweep.config import SweepConfig
from mlp.sweep.report import SweepResults, collect, write_report
from mlp.sweep.study import (
    ERROR_ATTR,
    JOURNAL,
    StorageFailed,
    open_storage,
    open_study,
    storage_failures,
    sweep_done,
)
from mlp.sweep.trials import Worker
from mlp.sweep.workers import WorkerProcesses
from mlp.training.run_config import load_data
from preprocess import Data


class SweepInterrupted(KeyboardInterrupt):
    """The sweep stopped on SIGINT or SIGTERM.

    What finished is in the study, and the interrupted trials continue from their checkpoints
    when the command runs again.

    Parameters
    ----------
    exit_code : int, default 130
        128 + the signal (130, 143).
    """

    def __init__(self, exit_code: int = 130) -> None:
        super().__init__("interrupted; finished trials are kept, and the same command run "
                         "again finishes the sweep (interrupted trials continue from their "
                         "last checkpoint)")
        self.exit_code = exit_code


class SweepFailed(MLPError):
    """Every trial of the sweep failed: the message names the first one's error."""


@dataclass(repr=False)
class SweepOutcome:
    """What a sweep command did.

    Parameters
    ----------
    wall_seconds : float
        Wall time.
    data_seconds : float
        Loading the base run's data (checks, and the in-process worker's data).
    trial_seconds : float
        Time inside trials (an in-process worker only).
    training_seconds : float
        Time inside their training (an in-process worker only).
    report_seconds : float
        Writing the report.
    reports : list of Path
        The report files.
    failed_workers : list of str
        The workers that did not end cleanly.
    results : SweepResults, optional
        Every trial, best first in ``results.ranked()``.
    all_failed : str, optional
        Set when every trial failed (``all_failed``).
    """

    wall_seconds: float
    data_seconds: float
    trial_seconds: float
    training_seconds: float
    report_seconds: float
    reports: list[Path]
    failed_workers: list[str]
    results: SweepResults | None = None
    #: when no trial succeeded: the first failed trial's number and error
    all_failed: str | None = None

    def _headline(self) -> str:
        where = f"report in {self.reports[0].parent}" if self.reports else "no report"
        failed = f", {len(self.failed_workers)} worker(s) failed" if self.failed_workers else ""
        return f"SweepOutcome({self.wall_seconds:.1f} s, {where}{failed})"

    def __repr__(self) -> str:
        """The wall time, where the report is, and the results' best rows."""
        return self._headline() + ("" if self.results is None else "\n" + repr(self.results))

    def _repr_html_(self) -> str:
        """The results' best rows as an HTML table, under the headline, for notebooks."""
        table = "" if self.results is None else self.results._repr_html_()
        return f"<p>{html.escape(self._headline())}</p>\n{table}"


def check_split(config: SweepConfig, data: Any) -> None:
    """Refuse a metric whose split the base run's data lacks.

    Parameters
    ----------
    config : SweepConfig
    data : Data
        The base run's data.

    Raises
    ------
    MLPError
        The metric's split (validation or test) is missing.
    """
    split = {"val": data.X_val, "test": data.X_test}.get(config.metric.split("_")[0], True)
    if split is None:
        raise MLPError(f"the metric {config.metric} needs a {config.metric.split('_')[0]} "
                       "split, and the base run's data has none")


def run_sweep(sweep_file: Path, config: SweepConfig, folder: Path, *, workers: int = 1,
              url: str | None = None, n_trials: int | None = None, progress: bool = True,
              report: bool = True, started: WorkerProcesses | None = None) -> SweepOutcome:
    """Run (or finish) the sweep on this machine, then write the report.

    This process is the first worker; the others are ``started`` already (``mlp sweep``
    starts them before its imports), or started here first (``mlp.sweep.workers``). They wait
    for the data file this process writes once the sweep has passed every check. With more
    than one worker, every worker (this one included) runs with single-threaded BLAS.

    Parameters
    ----------
    sweep_file : Path
    config : SweepConfig
    folder : Path
        The sweep folder.
    workers : int, default 1
        Worker processes, this one included.
    url : str, optional
        The study's storage; None: the journal file in ``folder``.
    n_trials : int, optional
        ``--trials``.
    progress : bool, default True
        Show the trials' progress bar.
    report : bool, default True
        Write the report at the end.
    started : WorkerProcesses, optional
        Workers started already.

    Returns
    -------
    SweepOutcome
    """
    began = time.perf_counter()
    others = started or WorkerProcesses.start(sweep_file, folder.parent, workers - 1, url,
                                              n_trials)
    total = config.n_trials(n_trials)
    try:
        config.check_space()  # every value of the space built into a run config
        loading = time.perf_counter()
        data = load_data(config.run_config.data)
        data_seconds = time.perf_counter() - loading
        check_split(config, data)
        storage = open_storage(folder, url)
        study = open_study(config, storage, folder)  # refuses a changed sweep
        if others.data_file is not None:
            if getattr(data, "disk", None) is not None:
                raise MLPError("a sweep on data read in place from HDF5 runs in one process: "
                               "use --workers 1 (worker processes receive the data in memory)")
            data.save(others.data_file)  # atomic: a worker sees the whole file or none
        trial_seconds, training_seconds = _work(config, folder, study, storage, total, data,
                                                others.processes, progress)
        # the report is written while the worker processes exit
        report_started = time.perf_counter()
        reports = write_report(study, folder) if report else []
        report_seconds = time.perf_counter() - report_started
        statuses = [(process.pid, process.wait()) for process in others.processes]
        failed = [f"worker {pid} ended with status {status}" for pid, status in statuses
                  if status != 0]
    except BaseException:
        others.stop()  # after a refusal they have not taken a trial
        raise
    others.remove_folder()
    return SweepOutcome(time.perf_counter() - began, data_seconds, trial_seconds,
                        training_seconds, report_seconds, reports, failed, collect(study),
                        all_failed(study))


def all_failed(study: optuna.Study) -> str | None:
    """A message when no trial succeeded and at least one failed with an error.

    Parameters
    ----------
    study : optuna.Study

    Returns
    -------
    str or None
        ``"N trials failed; the first, trial K: ERROR"``, or None otherwise.
    """
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials):
        return None
    failed = [t for t in trials if t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs]
    if not failed:
        return None
    first = failed[0]
    return (f"every trial failed ({len(failed)} of {len(trials)}); the first, trial "
            f"{first.number}: {first.user_attrs[ERROR_ATTR]}")


def _work(config: SweepConfig, folder: Path, study: optuna.Study,
          storage: optuna.storages.BaseStorage, total: int, data: Any,
          processes: list[subprocess.Popen], progress: bool) -> tuple[float, float]:
    """Be the first worker (single-threaded BLAS beside worker processes), then follow the
    others on the progress bar until the sweep is done or they have all ended; returns this
    worker's trial and training seconds."""
    bar = tqdm(total=total, disable=not progress, unit="trial", dynamic_ncols=True,
               desc=config.name)
    try:
        _refresh(bar, study)
        worker = Worker(config, folder, study, storage, total, data)
        limits = threadpool_limits(limits=1, user_api="blas") if processes else None
        try:
            worker.work(on_trial=lambda: _refresh(bar, study))
        finally:
            if limits is not None:
                limits.restore_original_limits()
        _follow(processes, bar, study, total)
    finally:
        _refresh(bar, study)
        bar.close()
    return worker.trial_seconds, worker.training_seconds


def wait_for_data(data_file: Path, parent: int) -> Any:
    """The data the parent ``mlp sweep`` writes once it has checked the sweep.

    Parameters
    ----------
    data_file : Path
        Where the parent writes it, once it has opened its study.
    parent : int
        The parent's process id.

    Returns
    -------
    Data or None
        None when the parent ends first (it refused the sweep, or was killed).
    """
    while not data_file.exists():
        if os.getppid() != parent:
            return None
        time.sleep(0.01)
    return Data.load(data_file)


def _follow(processes: list[subprocess.Popen], bar: tqdm, study: optuna.Study,
            total: int) -> None:
    """Follow the study until every trial the sweep needs has ended, or the worker
    processes have (a worker that died leaves its trial running)."""
    while any(p.poll() is None for p in processes) and not sweep_done(study, total):
        _refresh(bar, study)
        running = next(p for p in processes if p.poll() is None)
        try:  # returns as soon as that worker ends, so the last one is not waited for
            running.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass


def _refresh(bar: tqdm, study: optuna.Study) -> None:
    """Trials done and the best value so far on the sweep's progress bar."""
    if bar.disable:
        return
    trials = study.get_trials(deepcopy=False)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or
               (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs) for t in trials)
    if done == bar.n:
        return
    complete = [cast(float, t.value) for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        bar.set_postfix(best=f"{pick(complete):.4g}", refresh=False)
    bar.update(done - bar.n)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``SweepInterrupted(143)`` wherever the command is (training installs
    its own handler, which saves the epoch first), so that the command always stops its
    worker processes; in the main thread only, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise SweepInterrupted(128 + signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def command(sweep_file: Path | None, *, ckpt_root: Path, workers: int, url: str | None,
            n_trials: int | None, report_only: bool, worker_only: bool, schema: bool,
            quiet: bool, data_file: Path | None = None, parent: int | None = None,
            started: WorkerProcesses | None = None) -> int:
    """``mlp sweep``: run the sweep, rebuild its report, or print the sweep file's schema.

    As a worker started by another ``mlp sweep`` (``data_file`` and ``parent``), wait for its
    data first.

    Parameters
    ----------
    sweep_file : Path or None
    ckpt_root : Path
        The sweep folder is ``ckpt_root / name``.
    workers : int
    url : str or None
        ``--storage``.
    n_trials : int or None
        ``--trials``.
    report_only : bool
        ``--report``: rebuild the report.
    worker_only : bool
        ``--worker``: run as a worker of another ``mlp sweep``.
    schema : bool
        ``--schema``: print the sweep file's JSON Schema.
    quiet : bool
    data_file : Path, optional
    parent : int, optional
    started : WorkerProcesses, optional
        Worker processes started already.

    Returns
    -------
    int
        The exit status.
    """
    data = None
    if worker_only and data_file is not None and parent is not None:
        data = wait_for_data(data_file, parent)
        if data is None:
            return 0  # the sweep that started this worker ended before handing it data
    if schema:
        print(json.dumps(SweepConfig.model_json_schema(), indent=2))
        return 0
    if sweep_file is None:
        raise MLPError("mlp sweep needs a sweep file (or --schema)")
    if workers < 1:
        raise MLPError(f"--workers needs a positive count, found {workers}")
    config = SweepConfig.from_file(sweep_file)
    folder = ckpt_root / config.name
    if not worker_only:
        source = config.run_config.data
        reads = (getattr(source, "path", None), getattr(source, "root", None))
        refuse_clobbering([], {sweep_file: "the sweep file",
                               config.base_path: "the sweep's base config",
                               **{Path(p): "the data of the base config" for p in reads if p}},
                          run_folder=folder)
    if report_only:
        if url is None and not (folder / JOURNAL).exists():
            raise MLPError(f"no study to report on: {folder / JOURNAL} does not exist")
        storage = open_storage(folder, url)
        with storage_failures(url):
            try:
                study = optuna.load_study(study_name=config.name, storage=storage)
            except KeyError:
                raise MLPError(f"no study named {config.name!r} in the storage") from None
            reports = write_report(study, folder)
        for path in reports:
            print(f"{path.name}: {path}")
        return 0
    try:
        with storage_failures(url):
            if worker_only:
                storage = open_storage(folder, url)
                study = open_study(config, storage, folder)
                Worker(config, folder, study, storage, config.n_trials(n_trials), data).work()
                return 0
            with _sigterm_interrupts():
                outcome = run_sweep(sweep_file, config, folder, workers=workers, url=url,
                                    n_trials=n_trials, progress=not quiet, started=started)
    except KeyboardInterrupt as exc:
        code = getattr(exc, "exit_code", 130)
        if parent is not None:
            return code  # a worker stopped by the sweep that started it, which says why
        raise SweepInterrupted(code) from None
    except StorageFailed:
        if parent is not None:
            return 2  # the sweep that started this worker meets the same storage, and says so
        raise
    print((folder / "results.md").read_text() if outcome.reports else "")
    for path in outcome.reports:
        print(f"{path.name}: {path}")
    print(f"wall time {outcome.wall_seconds:.1f} s")
    for line in outcome.failed_workers:
        print(f"mlp sweep: {line}; run the same command again to finish the sweep",
              file=sys.stderr)
    if outcome.all_failed is not None:
        raise SweepFailed(outcome.all_failed)
    return 1 if outcome.failed_workers else 0

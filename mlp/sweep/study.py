"""Where a sweep's Optuna study lives and how workers share it.

The default study is a journal file in the sweep folder (``ckpt/<sweep>/study.journal``):
no server, one machine, any number of processes. ``--storage postgresql://...`` puts it in
PostgreSQL for many machines; the study is named after the sweep. Workers take trials one at
a time under a claim lock (a file lock, or a PostgreSQL advisory lock), so no two workers
pick the same grid point and a sweep never runs more trials than asked for.

Workers may start at the same instant on an empty database or a fresh folder: on PostgreSQL,
Optuna's tables are created under a database-wide advisory lock (without it, concurrent
``CREATE TABLE`` statements collide on PostgreSQL's catalog), and every backend creates or
joins the study and checks its sweep file under the claim lock, so that exactly one worker
creates each and the others find them whole.

A worker that dies leaves its trial RUNNING. With the journal, every running trial holds a
file lock (``mlp.storage.locks``) that the operating system releases when its process dies (a
soft lock, where the platform has none, names that process, which is checked), so the next
worker that claims a trial sees the dead one at once; with PostgreSQL, the trial's heartbeat
stops and Optuna fails it after the grace period. A worker takes its trial's file lock and
records the trial's first heartbeat under the claim lock it creates the trial under: a running
trial without them, seen under the claim lock, lost its worker (or the server) before its
first beat, and is failed at once (Optuna never counts a trial without a heartbeat as stale).
Either way the failed trial is queued again with the same parameters (Optuna's retry
callback), under a new trial number.

Crashes: kill any worker, or the whole sweep, at any moment, and run the same command again.
Ctrl-C (or SIGTERM) stops the command and its worker processes, each training trial saving its
epoch first, with one line and exit status 130 (143): ``mlp sweep: interrupted; finished trials
are kept, and the same command run again finishes the sweep (interrupted trials continue from
their last checkpoint)``. Finished trials are not rerun. The retry of a dead trial takes over
its folder and continues every repeat from its ``last.h5``, ending bit-identical to a run that
was never interrupted; if the folder is not there (the trial ran on another machine without a
shared file system) it restarts with the same seeds. The report's note column says which
(``retry of trial 3; resumed at epoch 17`` or ``...; restarted with the same seeds``).

PostgreSQL: run the same command with ``--storage postgresql://user@host:port/db`` (or
``postgres://...``) on each machine; the URL is passed to SQLAlchemy with the psycopg2 driver
that the ``sweep`` extra installs. The heartbeat is every 5 s and a trial is failed after 20 s
of silence; the environment variables ``MLP_SWEEP_HEARTBEAT`` and ``MLP_SWEEP_GRACE`` set other
whole seconds, the grace longer than the interval. Choose a grace longer than any pause a live
worker may have on a busy machine: a worker silent for longer is taken for dead and its trial
retried. A server that goes away or refuses the schema (no CREATE permission) is one line naming
the URL without its password, exit 2; finished trials stay, and the same command run again
completes the sweep.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from mlp.errors import MLPError
from mlp.storage.locks import ProcessLock
from mlp.storage.regular_files import check_output
from mlp.sweep.config import SweepConfig, describe_changes
from mlp.sweep.journal import repair_journal

JOURNAL = "study.journal"
HEARTBEAT_SECONDS = 5  #: default interval of a running trial's heartbeat (PostgreSQL)
GRACE_SECONDS = 20  #: default silence after which a running trial's worker counts as dead
HEARTBEAT_ENV, GRACE_ENV = "MLP_SWEEP_HEARTBEAT", "MLP_SWEEP_GRACE"
FINGERPRINT_ATTR = "sweep"
ERROR_ATTR = "error"
RUNS_ATTR = "runs"
MAX_RETRIES = 3  #: a trial that kills its worker every time is not retried forever
CONNECT_SECONDS = 5  #: how long a PostgreSQL connection attempt may take
SCHEMA_LOCK = "mlp sweep: Optuna's tables"  #: the advisory lock around their creation

try:  # Optuna >= 4.9 renamed the retry callback and the storage argument that takes it
    from optuna.storages import RetryHeartbeatStaleTrialCallback as _Retry
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as _Retry

try:  # Optuna >= 4.0 names the file backend JournalFileBackend
    from optuna.storages.journal import JournalFileBackend, JournalStorage
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import JournalFileStorage as JournalFileBackend
    from optuna.storages import JournalStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger("mlp")


class _NoFallbackNotices(logging.Filter):
    """Drops the RDB storage's notice that a failed query is tried again a slower way (a
    multi-line SQL dump): when the server has gone the second way fails too, and the worker
    says so in one line (``storage_failures``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Caught an error from sqlalchemy")


logging.getLogger(RDBStorage.__module__).addFilter(_NoFallbackNotices())


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's notices about the parts it calls experimental (heartbeats, retries)
    and its advice to heartbeat only inside ``Study.optimize`` (the workers record their own
    heartbeats around ``ask``/``tell``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its end-of-grid ``study.stop()``, which only works
    inside ``Study.optimize``; the worker loop counts the grid itself."""

    def after_trial(self, study: optuna.Study, trial: Any, state: TrialState,
                    values: Any) -> None:
        return None


def storage_url(url: str) -> str:
    """The SQLAlchemy URL of what people type.

    Parameters
    ----------
    url : str
        A storage URL.

    Returns
    -------
    str
        ``postgres://`` and ``postgresql://`` name the driver the ``sweep`` extra installs,
        psycopg2 (SQLAlchemy 2.1 would pick psycopg 3); other URLs as they are.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def shown_url(url: str) -> str:
    """The URL without its password, for messages.

    Parameters
    ----------
    url : str

    Returns
    -------
    str
    """
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def heartbeat_seconds() -> tuple[int, int]:
    """``(interval, grace)`` of the heartbeats of a PostgreSQL study: ``MLP_SWEEP_HEARTBEAT``
    and ``MLP_SWEEP_GRACE`` (whole seconds, the grace longer than the interval) or the
    defaults 5 and 20. Workers started by ``--workers`` inherit them."""
    values = []
    for name, default in ((HEARTBEAT_ENV, HEARTBEAT_SECONDS), (GRACE_ENV, GRACE_SECONDS)):
        text = os.environ.get(name, "").strip()
        if not text:
            values.append(default)
        elif text.isdigit() and int(text) > 0:
            values.append(int(text))
        else:
            raise MLPError(f"{name} must be a positive whole number of seconds, found {text!r}")
    interval, grace = values
    if grace <= interval:
        raise MLPError(f"{GRACE_ENV} ({grace} s) must be longer than {HEARTBEAT_ENV} "
                       f"({interval} s): a live worker would be taken for dead")
    return interval, grace


def open_storage(folder: Path, url: str | None) -> optuna.storages.BaseStorage:
    """The study's storage.

    Parameters
    ----------
    folder : Path
        The sweep folder, which holds the journal file.
    url : str or None
        None: the journal file in ``folder`` (a torn last line is cut off first,
        ``mlp.sweep.journal``); else an RDB storage with heartbeats and retries, its tables
        created under ``schema_lock``.

    Returns
    -------
    optuna.storages.BaseStorage

    Raises
    ------
    MLPError
        In one line: an unreachable server, or one that refuses the tables.
    """
    if url is None:
        folder.mkdir(parents=True, exist_ok=True)
        check_output(folder / JOURNAL, MLPError)  # a FIFO there would block every append
        repair_journal(folder / JOURNAL)
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    import sqlalchemy

    interval, grace = heartbeat_seconds()
    url = storage_url(url)
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_SECONDS}
    argument = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback"
                in inspect.signature(RDBStorage).parameters else "failed_trial_callback")
    try:
        with quiet_optuna(), schema_lock(url):
            retry: dict[str, Any] = {argument: _Retry(max_retry=MAX_RETRIES)}
            return RDBStorage(url, engine_kwargs=engine_kwargs,
                              heartbeat_interval=interval, grace_period=grace,
                              **retry)
    except sqlalchemy.exc.OperationalError as exc:
        raise MLPError(f"cannot reach the storage {shown_url(url)}: {_reason(exc)}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:  # a permission refused, mostly
        raise MLPError(f"the storage {shown_url(url)} refused the study's tables: "
                       f"{_reason(exc)}") from None
    except (ImportError, ValueError) as exc:
        raise MLPError(f"cannot reach the storage {shown_url(url)}: {_reason(exc)}") from None


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold the database's schema lock while Optuna creates or checks its tables.

    On PostgreSQL, the advisory lock ``SCHEMA_LOCK`` on a connection of its own, released
    when it closes, so a killed worker never leaves it held; other databases as they are.

    Parameters
    ----------
    url : str
    """
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args={"connect_timeout": CONNECT_SECONDS})
    try:
        with engine.connect() as connection:
            key = {"k": advisory_key(SCHEMA_LOCK)}
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), key)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), key)
    finally:
        engine.dispose()


def advisory_key(name: str) -> int:
    """The 64-bit PostgreSQL advisory lock key of a name.

    Parameters
    ----------
    name : str

    Returns
    -------
    int
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _reason(exc: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy's ``orig``), else of ``exc``."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class StorageFailed(MLPError):
    """The study's storage failed mid-sweep; what finished is kept in it."""


@contextlib.contextmanager
def storage_failures(url: str | None) -> Iterator[None]:
    """Turn a study storage that fails mid-sweep into one ``StorageFailed``.

    Its server went away, or refused a statement; the error names the URL without its
    password. The journal (``url`` None) as it is.

    Parameters
    ----------
    url : str or None
    """
    if url is None:
        yield
        return
    import sqlalchemy

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        cause = exc if isinstance(exc, sqlalchemy.exc.SQLAlchemyError) else exc.__cause__
        raise StorageFailed(f"the storage {shown_url(storage_url(url))} failed: "
                       f"{_reason(cause or exc)}; finished trials are kept, and the same "
                       "command run again finishes the sweep") from None


def make_sampler(config: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of ``search.kind``.

    Workers make a fresh one before each claim, seeded by the sweep's seed and the trial's
    number, so random points do not depend on which worker or machine draws them.

    Parameters
    ----------
    config : SweepConfig
    seed : int

    Returns
    -------
    optuna.samplers.BaseSampler
    """
    if config.search.kind == "grid":  # the grid's order must be the same in every worker
        return _GridSampler(config.grid(), seed=config.search.seed)
    if config.search.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = min(10, max(1, config.n_trials() // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def trial_seed(config: SweepConfig, number: int) -> int:
    """The sampler seed of a trial.

    Parameters
    ----------
    config : SweepConfig
    number : int
        The trial's number.

    Returns
    -------
    int
        From 0 to 2**32 - 1: the first four bytes of the SHA-256 of the sweep's seed and
        ``number``.
    """
    digest = hashlib.sha256(f"{config.search.seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def open_study(config: SweepConfig, storage: optuna.storages.BaseStorage,
               folder: Path) -> optuna.Study:
    """Create or join the study named after the sweep.

    Under the claim lock, so that of workers started together one creates the study and
    records its sweep, and the others check theirs against it.

    Parameters
    ----------
    config : SweepConfig
    storage : optuna.storages.BaseStorage
    folder : Path
        The sweep folder.

    Returns
    -------
    optuna.Study

    Raises
    ------
    MLPError
        The study's sweep (space, base, search, repeats, metric) differs from ``config``,
        naming the differences.
    """
    with claim_lock(storage, folder, config.name):
        return _open_study(config, storage)


def _open_study(config: SweepConfig, storage: optuna.storages.BaseStorage) -> optuna.Study:
    sampler = make_sampler(config, config.search.seed)
    if config.pruning is None:
        pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    else:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=config.pruning.startup_trials,
                                             n_warmup_steps=config.pruning.warmup_epochs)
    study = optuna.create_study(study_name=config.name, storage=storage, sampler=sampler,
                                pruner=pruner, direction=config.goal, load_if_exists=True)
    expected = config.fingerprint()
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, expected)
    elif stored != expected:
        changes = "; ".join(describe_changes(stored, expected))
        raise MLPError(f"the sweep {config.name!r} was started with a different sweep file "
                       f"({changes}); give it a new name to start a new sweep")
    return study


def is_postgres(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage is a PostgreSQL database.

    Parameters
    ----------
    storage : optuna.storages.BaseStorage

    Returns
    -------
    bool
    """
    return isinstance(storage, RDBStorage) and storage.engine.dialect.name == "postgresql"


@contextlib.contextmanager
def claim_lock(storage: optuna.storages.BaseStorage, folder: Path, name: str) -> Iterator[None]:
    """Hold the sweep's claim lock.

    A PostgreSQL advisory lock keyed by the sweep's name on PostgreSQL (all machines), else an
    exclusive file lock in the sweep folder.

    Parameters
    ----------
    storage : optuna.storages.BaseStorage
    folder : Path
        The sweep folder.
    name : str
        The sweep's name.
    """
    if is_postgres(storage):
        import sqlalchemy

        key = {"k": advisory_key(name)}
        with cast(RDBStorage, storage).engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), key)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), key)
        return
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessLock(folder / "claim.lock"):
        yield


def trial_lock_path(folder: Path, number: int) -> Path:
    """The lock file of a trial.

    Parameters
    ----------
    folder : Path
        The sweep folder.
    number : int
        The trial's number.

    Returns
    -------
    Path
    """
    return folder / "locks" / f"trial-{number:04d}.lock"


def hold_trial_lock(folder: Path, number: int) -> ProcessLock:
    """Lock the trial's lock file for as long as this process runs it.

    Released by ``release`` or by the process's death.

    Parameters
    ----------
    folder, number
        As for ``trial_lock_path``.

    Returns
    -------
    ProcessLock
        Held; ``release()`` frees it.
    """
    path = trial_lock_path(folder, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = ProcessLock(path)
    lock.acquire()
    return lock


def fail_dead_trials(study: optuna.Study, storage: optuna.storages.BaseStorage,
                     folder: Path) -> list[int]:
    """Fail the running trials whose worker is gone and queue them again.

    Under the claim lock. Journal: a free trial lock means a dead worker. RDB: stale
    heartbeats, and no heartbeat at all.

    Parameters
    ----------
    study : optuna.Study
    storage : optuna.storages.BaseStorage
    folder : Path
        The sweep folder.

    Returns
    -------
    list of int
        The numbers of the trials failed.
    """
    if isinstance(storage, RDBStorage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)
            _fail_trials_without_heartbeat(study, storage)
        after = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return sorted(t.number for t in after if t.number not in before)
    dead = []
    with quiet_optuna():
        retry = _Retry(max_retry=MAX_RETRIES)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        probe = ProcessLock(trial_lock_path(folder, trial.number))
        if not probe.acquire(blocking=False):
            continue  # its worker is alive
        probe.release()
        with quiet_optuna():
            retries = len(_Retry.retry_history(trial))
        identifier = trial_id(study, storage, trial.number)
        try:
            if retries >= MAX_RETRIES:  # the retry callback gives up: the failure is a result
                storage.set_trial_user_attr(identifier, ERROR_ATTR,
                                            f"its worker died {retries + 1} times")
            storage.set_trial_state_values(identifier, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        with quiet_optuna():
            retry(study, storage.get_trial(identifier))
        dead.append(trial.number)
    return dead


def _fail_trials_without_heartbeat(study: optuna.Study, storage: RDBStorage) -> None:
    """Fail the running trials that have no heartbeat (their worker, or the server, went
    between ``ask`` and the first beat, both under the claim lock) and call the storage's
    stale-trial callback on them, as ``optuna.storages.fail_stale_trials`` does on stale
    ones. Optuna has no public query for heartbeats: this one reads its tables."""
    import sqlalchemy

    query = sqlalchemy.text(
        "SELECT t.trial_id FROM trials t WHERE t.study_id = :study AND t.state = 'RUNNING' "
        "AND NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id)")
    study_id = storage.get_study_id_from_name(study.study_name)
    with storage.engine.connect() as connection:
        identifiers = [row[0] for row in connection.execute(query, {"study": study_id})]
    # the getter's name since Optuna 4.4; before, get_failed_trial_callback
    getter = getattr(storage, "get_heartbeat_stale_trial_callback", None)
    callback = (getter or storage.get_failed_trial_callback)()
    for identifier in identifiers:
        try:
            storage.set_trial_state_values(identifier, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(identifier)))  # it edits lists


def trial_id(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int) -> int:
    """The storage's own id of a study's trial.

    Through the storage's public methods; Optuna keeps it private on its trial objects.

    Parameters
    ----------
    study : optuna.Study
    storage : optuna.storages.BaseStorage
    number : int
        The trial's number in ``study``.

    Returns
    -------
    int
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def sweep_done(study: optuna.Study, n_trials: int) -> bool:
    """Whether the sweep has all it needs.

    No trial running or queued, and ``n_trials`` configurations covered (``counts``).

    Parameters
    ----------
    study : optuna.Study
    n_trials : int

    Returns
    -------
    bool
    """
    trials = study.get_trials(deepcopy=False)
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        return False
    return sum(counts(t) for t in trials) >= n_trials


def counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial covers a configuration.

    All but the failures of dead workers (those are queued again); a trial that failed by
    itself (diverged) is a result.

    Parameters
    ----------
    trial : optuna.trial.FrozenTrial

    Returns
    -------
    bool
    """
    return trial.state != TrialState.FAIL or ERROR_ATTR in trial.user_attrs


def retried_from(trial: optuna.trial.FrozenTrial) -> int | None:
    """The number of the trial this one retries (the last of its retry history).

    Parameters
    ----------
    trial : optuna.trial.FrozenTrial

    Returns
    -------
    int or None
        None for a trial that retries none.
    """
    with quiet_optuna():
        history = _Retry.retry_history(trial)
    return history[-1] if history else None


class Heartbeat:
    """Record a trial's heartbeat in a thread, at the storage's interval (RDB storages).

    A context manager: the thread runs while it is entered.

    Parameters
    ----------
    storage : optuna.storages.BaseStorage
        Heartbeats are recorded only for an ``RDBStorage``.
    identifier : int
        The storage's id of the trial (``trial_id``).
    """

    def __init__(self, storage: optuna.storages.BaseStorage, identifier: int) -> None:
        self._storage, self._trial_id = storage, identifier
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if isinstance(self._storage, RDBStorage):
            self._storage.record_heartbeat(self._trial_id)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        """Beat until stopped. A failed beat (the server away) is tried again at the next
        interval: the trial goes on, and the worker's next call to the storage says what
        failed; a server back within the grace period never sees the trial as dead."""
        import sqlalchemy

        storage = cast(RDBStorage, self._storage)  # started only for an RDBStorage
        interval = storage.get_heartbeat_interval() or HEARTBEAT_SECONDS
        while not self._stop.wait(interval):
            try:
                storage.record_heartbeat(self._trial_id)
            except (sqlalchemy.exc.SQLAlchemyError,
                    optuna.exceptions.StorageInternalError) as exc:  # the worker finds out
                log.debug("heartbeat of trial id %d failed: %s", self._trial_id, exc)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

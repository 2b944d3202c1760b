"""Sweep storages under stress: workers started at the same instant on empty PostgreSQL
databases and on fresh journal files all join the one study and finish it (no worker fails,
no trial runs twice); a PostgreSQL server that goes away mid-sweep, or refuses the study's
tables, is one line naming the URL without its password, exit 2, and the rerun completes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")
psycopg2 = pytest.importorskip("psycopg2")

from pg import PostgresServer, server_binaries  # noqa: E402

from mlp import load_checkpoint  # noqa: E402
from mlp.cli.commands import main  # noqa: E402
from mlp.sweep.config import SweepConfig  # noqa: E402
from mlp.sweep.study import (  # noqa: E402
    GRACE_ENV,
    HEARTBEAT_ENV,
    advisory_key,
    open_storage,
    open_study,
    quiet_optuna,
    storage_url,
)

BASE: dict[str, Any] = {
    "name": "base",
    "data": {"source": "sin", "n_train": 32, "n_val": 32, "seed": 0},
    "model": {"hidden": [4], "nonlinearity": "tanh", "seed": 0},
    "train": {"loss": "mse", "epochs": 2, "batch_size": 16, "lr": 0.01},
}
SPACE = {"train.lr": {"choice": [0.03, 0.01, 0.003, 0.001]},
         "model.hidden": {"choice": [[4], [6]]}}
N_TRIALS = 8
WORKERS = 4
ROUNDS = 3  #: rounds on new PostgreSQL databases
JOURNAL_ROUNDS = 2  #: rounds on fresh journal files, in each of the two journal tests

#: a worker process that imports everything first, then waits for the go file and runs
#: ``mlp sweep``: the workers reach the storage within a millisecond or so of each other,
#: not spread over their staggered Python start-ups
LAUNCHER = """
import os, sys, time
import optuna, psycopg2, sqlalchemy
import mlp.cli.commands, mlp.sweep.command, mlp.sweep.study
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.0005)
sys.exit(mlp.cli.commands.main(sys.argv[2:]))
"""


def write_sweep(folder: Path, name: str, epochs: int = 2, file: str | None = None,
                **train: Any) -> Path:
    base = json.loads(json.dumps(BASE))
    base["train"].update(epochs=epochs, **train)
    path = folder / f"{file or name}.json"
    path.write_text(json.dumps({"name": name, "base": base, "space": SPACE}))
    return path


def start_together(paths: Path | list[Path], root: Path, go: Path,
                   *storage: str) -> list[tuple[int, str]]:
    """Run ``WORKERS`` sweep commands (of the sweep files ``paths``, in turn) released at
    one instant; their statuses and errors."""
    paths = [paths] if isinstance(paths, Path) else paths
    processes = [subprocess.Popen([sys.executable, "-c", LAUNCHER, str(go), "-q", "sweep",
                                   str(paths[i % len(paths)]), "--ckpt-root", str(root),
                                   *storage],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(WORKERS)]
    time.sleep(1.0)  # long enough for most imports; the rest join a race already under way
    go.touch()
    return [(p.wait(timeout=120), p.stderr.read().strip()) for p in processes]


def check_one_study_each_configuration_once(study: optuna.Study, root: Path) -> None:
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * N_TRIALS
    assert sorted(t.number for t in trials) == list(range(N_TRIALS))
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == N_TRIALS
    for trial in trials:
        (run,) = trial.user_attrs["runs"]
        assert run["started"] == "fresh" and run["epochs"] == 2
        assert Path(run["folder"]) == root / study.study_name / f"trial-{trial.number:04d}"
        assert len(load_checkpoint(Path(run["folder"]) / "last.h5").history) == 2


@pytest.fixture(scope="module")
def server():
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres) on this machine; "
                    ".ci/run installs the 'postgresql' package where apt-get is available")
    server = PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_workers_started_together_on_empty_postgres_databases_share_one_study(
        tmp_path, server):
    """Each round on a new, empty database (no tables: they race to create Optuna's); the
    last on a database whose tables another sweep made (they race to create the study)."""
    path = write_sweep(tmp_path, "race")
    databases = [f"race_{r}" for r in range(ROUNDS)] + ["race_tables"]
    for database in databases:
        server.execute(f"CREATE DATABASE {database}")
    other = write_sweep(tmp_path, "other")
    assert main(["-q", "sweep", str(other), "--ckpt-root", str(tmp_path / "other"), "--storage",
                 server.url_of("race_tables"), "--trials", "1"]) == 0
    for database in databases:
        url = storage_url(server.url_of(database))
        root = tmp_path / database
        outcomes = start_together(path, root, tmp_path / f"go-{database}", "--storage", url)
        assert outcomes == [(0, "")] * WORKERS, database
        names = set(optuna.get_all_study_names(url))
        assert names == ({"race", "other"} if database == "race_tables" else {"race"})
        check_one_study_each_configuration_once(optuna.load_study(study_name="race",
                                                                  storage=url), root)


def test_workers_started_together_on_a_fresh_journal_share_one_study(tmp_path):
    from mlp.sweep.study import JournalFileBackend, JournalStorage

    path = write_sweep(tmp_path, "race")
    for round_ in range(JOURNAL_ROUNDS):
        root = tmp_path / f"round-{round_}"
        assert start_together(path, root, tmp_path / f"go-{round_}") == [(0, "")] * WORKERS
        storage = JournalStorage(JournalFileBackend(str(root / "race" / "study.journal")))
        assert optuna.get_all_study_names(storage) == ["race"]
        check_one_study_each_configuration_once(optuna.load_study(study_name="race",
                                                                  storage=storage), root)


def test_two_sweep_files_of_one_name_started_together_one_is_refused(tmp_path):
    """Started at one instant on a fresh journal, workers of two different sweep files that
    share a name: the study takes one file, every worker of the other is refused (exit 2,
    naming the difference), and no trial of the refused file runs."""
    from mlp.sweep.study import JournalFileBackend, JournalStorage

    first = write_sweep(tmp_path, "race", file="first")
    second = write_sweep(tmp_path, "race", file="second", epochs=3)
    for round_ in range(JOURNAL_ROUNDS):
        root = tmp_path / f"round-{round_}"
        outcomes = start_together([first, second], root, tmp_path / f"go-{round_}")
        statuses = [status for status, _ in outcomes]
        assert sorted(statuses) == [0, 0, 2, 2] and statuses[0] == statuses[2], outcomes
        for status, err in outcomes:
            assert status == 0 and err == "" or (
                "was started with a different sweep file (base.train.epochs" in err
                and len(err.splitlines()) == 1), err
        storage = JournalStorage(JournalFileBackend(str(root / "race" / "study.journal")))
        trials = optuna.load_study(study_name="race", storage=storage).trials
        epochs = 2 if statuses[0] == 0 else 3
        assert len(trials) == N_TRIALS
        assert {run["epochs"] for t in trials for run in t.user_attrs["runs"]} == {epochs}


def _complete(server: PostgresServer, database: str) -> int:
    return server.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'",
                          database=database)[0][0]


def _take_claim_lock_after(server: PostgresServer, database: str, sweep: str, complete: int,
                           command: subprocess.Popen, seconds: float = 120) -> Any:
    """Hold the sweep's claim lock (so that no worker starts another trial) from the first
    moment ``complete`` trials are done; the connection holding it, or None when the
    command ended first or ``seconds`` passed."""
    connection = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres",
                                  dbname=database)
    connection.autocommit = True
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while command.poll() is None and time.monotonic() < deadline:
            cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_key(sweep),))
            try:
                cursor.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")
                if cursor.fetchone()[0] >= complete:
                    return connection
            except psycopg2.errors.UndefinedTable:  # the sweep has not made them yet
                pass
            cursor.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(sweep),))
            time.sleep(0.02)
    connection.close()
    return None


def test_a_server_gone_mid_sweep_is_one_line_and_the_rerun_completes(
        tmp_path, server, monkeypatch):
    """Two workers; the server stops (immediate shutdown) once two trials are done, with
    the sweep's claim lock held from that moment, so that trials remain however fast they
    run (the workers are training, or waiting to claim the next trial). The command stops
    its worker process and says in one line which storage failed (no password), exit 2.
    With the server back, the finished trials are still there and the same command
    finishes the sweep: the interrupted trials are failed by their stale heartbeats and
    retried, each configuration completes once. (The grace period is long while workers
    live, so that a heartbeat delayed by a loaded machine never fails a live trial.)"""
    monkeypatch.setenv(HEARTBEAT_ENV, "1")  # inherited by the commands
    monkeypatch.setenv(GRACE_ENV, "60")  # a live worker is not taken for dead on a busy machine
    server.execute("CREATE DATABASE gone")
    url = server.url_of("gone", password="secret")
    path = write_sweep(tmp_path, "gone", epochs=60, save_every_epochs=1)
    command = subprocess.Popen([sys.executable, "-m", "mlp.cli", "-q", "sweep", str(path),
                                "--ckpt-root", str(tmp_path), "--workers", "2", "--storage",
                                url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        holder = _take_claim_lock_after(server, "gone", "gone", 2, command)
        server.halt()
        if holder is not None:
            holder.close()
        _, err = command.communicate(timeout=120)
    finally:
        if server.process.poll() is not None:
            server.restart()
    assert command.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    line = err.strip()
    shown = f"postgresql+psycopg2://postgres:***@127.0.0.1:{server.port}/gone"
    assert line.startswith(f"mlp sweep: StorageFailed: the storage {shown} failed: "), line
    assert line.endswith("finished trials are kept, and the same command run again "
                         "finishes the sweep") and "secret" not in line
    finished = _complete(server, "gone")
    assert 2 <= finished < N_TRIALS
    # the command's workers have ended: the trials they left running are stale 2 s after
    # their last beat for the rerun, which judges them (a live worker is judged at 60 s)
    monkeypatch.setenv(GRACE_ENV, "2")
    time.sleep(2.5)
    assert main(["-q", "sweep", str(path), "--ckpt-root", str(tmp_path), "--storage", url]) == 0
    trials = optuna.load_study(study_name="gone", storage=storage_url(url)).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == N_TRIALS
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == N_TRIALS
    assert all(t.state.name == "FAIL" for t in trials if t not in complete)
    for trial in complete:
        (run,) = trial.user_attrs["runs"]
        assert run["epochs"] == 60


def test_a_trial_left_running_before_its_first_heartbeat_is_failed_and_retried(
        tmp_path, server):
    """A worker (or the server) that goes between creating its trial and recording the
    trial's first heartbeat leaves a running trial without a heartbeat, which Optuna never
    finds stale: the next worker fails it and queues it again, and the sweep runs every
    configuration once (it used to count such a trial as covered: exit 0, a configuration
    never run). Two such trials: one given its grid point, one left before that."""
    server.execute("CREATE DATABASE orphans")
    url = server.url_of("orphans")
    path = write_sweep(tmp_path, "orphans")
    storage = open_storage(tmp_path / "orphans", url)
    study = open_study(SweepConfig.from_file(path), storage, tmp_path / "orphans")
    with quiet_optuna():
        study.ask()
    storage.create_new_trial(storage.get_study_id_from_name("orphans"))
    storage.engine.dispose()
    assert main(["-q", "sweep", str(path), "--ckpt-root", str(tmp_path), "--storage", url]) == 0
    trials = optuna.load_study(study_name="orphans", storage=storage_url(url)).trials
    assert [t.state.name for t in trials] == ["FAIL"] * 2 + ["COMPLETE"] * N_TRIALS
    assert len({json.dumps(t.params, sort_keys=True) for t in trials[2:]}) == N_TRIALS
    assert [t.system_attrs.get("failed_trial") for t in trials[2:4]] == [0, 1]
    for trial in trials[2:]:
        (run,) = trial.user_attrs["runs"]
        assert run["started"] == "fresh" and run["epochs"] == 2


def test_a_server_that_refuses_the_tables_is_one_line_and_the_rerun_completes(
        tmp_path, server, capsys):
    """A role without the right to create tables (PostgreSQL 15's default on the public
    schema of a database it does not own): one line naming the URL and the refusal; after
    the grant, the same command runs the sweep."""
    server.execute("CREATE ROLE visitor LOGIN", "CREATE DATABASE refusing")
    server.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database="refusing")
    url = server.url_of("refusing", user="visitor", password="secret")
    path = write_sweep(tmp_path, "refused")
    arguments = ["-q", "sweep", str(path), "--ckpt-root", str(tmp_path), "--storage", url]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    shown = f"postgresql+psycopg2://visitor:***@127.0.0.1:{server.port}/refusing"
    assert err.strip().splitlines() == [
        f"mlp sweep: MLPError: the storage {shown} refused the study's tables: "
        "permission denied for schema public"]
    assert not list(tmp_path.glob("refused/trial-*"))
    server.execute("GRANT CREATE ON SCHEMA public TO visitor", database="refusing")
    assert main(arguments) == 0
    trials = optuna.load_study(study_name="refused", storage=storage_url(url)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * N_TRIALS

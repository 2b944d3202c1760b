"""Sweeps: the search kinds, repeats, pruning, workers sharing a journal or PostgreSQL, a
killed worker's trial finished bit-identically, a changed sweep refused, and bad input."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from pg import PostgresServer, server_binaries  # noqa: E402

from mlp import load_checkpoint  # noqa: E402
from mlp.cli.commands import main  # noqa: E402
from mlp.training.run_config import RunConfig, load_data  # noqa: E402

BASE: dict[str, Any] = {
    "name": "base",
    "data": {"source": "sin", "n_train": 32, "n_val": 32, "seed": 0},
    "model": {"hidden": [4], "nonlinearity": "tanh", "seed": 0},
    "train": {"loss": "mse", "epochs": 2, "batch_size": 16, "lr": 0.01},
}


def write_sweep(tmp_path: Path, name: str = "sw", **fields: Any) -> Path:
    sweep = {"name": name, "base": BASE, **fields}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(sweep))
    return path


def sweep(path: Path, root: Path, *extra: str) -> int:
    return main(["-q", "sweep", str(path), "--ckpt-root", str(root), *extra])


def rows(root: Path, name: str = "sw") -> list[dict[str, str]]:
    with open(root / name / "results.csv") as stream:
        return list(csv.DictReader(stream))


def study(root: Path, name: str = "sw", url: str | None = None) -> optuna.Study:
    from mlp.sweep.study import JournalFileBackend, JournalStorage

    storage = url or JournalStorage(JournalFileBackend(str(root / name / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def direct_run(folder: Path) -> tuple[list[np.ndarray], Any]:
    """Train the run config of a trial folder from scratch, in one call, without
    checkpoints: the uninterrupted reference."""
    config = RunConfig.model_validate_json((folder / "config.json").read_text())
    config.train.checkpoint_dir = None
    data = load_data(config.data)
    model = config.build_model(data.n_features, data.n_outputs)
    history = config.train.run(model, data)
    return [a for layer in model.layers for a in (layer.weight, layer.bias)], history


def weights(folder: Path) -> list[np.ndarray]:
    model = load_checkpoint(folder / "last.h5").model
    return [a for layer in model.layers for a in (layer.weight, layer.bias)]


def test_grid_runs_every_combination_once_with_usable_run_folders(tmp_path, capsys):
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.03, 0.003]},
                                        "model.hidden": {"choice": [[4], [3, 3]]}})
    assert sweep(path, tmp_path) == 0
    table = rows(tmp_path)
    assert sorted((r["train.lr"], r["model.hidden"]) for r in table) == sorted(
        (lr, h) for lr in ("0.03", "0.003") for h in ("[4]", "[3, 3]"))
    assert [r["number"] for r in table] == ["0", "1", "2", "3"]
    assert all(r["state"] == "COMPLETE" and r["epochs"] == "2" for r in table)
    markdown = (tmp_path / "sw" / "results.md").read_text()
    ranked = [float(line.split("|")[5]) for line in markdown.splitlines()
              if line.startswith("| ") and line[2].isdigit()]
    assert ranked == sorted(ranked) and len(ranked) == 4
    for name in ("curves.png", "params.png"):
        assert (tmp_path / "sw" / name).stat().st_size > 1000
    # a trial is an ordinary run folder: evaluate reads it, and its value is the run's
    folder = Path(table[0]["folder"])
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--split", "val", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["loss"] == pytest.approx(float(table[0]["val_loss"]), rel=1e-6)
    # the report comes from the study alone
    (tmp_path / "sw" / "results.csv").unlink()
    for trial in (tmp_path / "sw").glob("trial-*"):
        trial.rename(tmp_path / trial.name)
    assert sweep(path, tmp_path, "--report") == 0
    assert rows(tmp_path) == table
    # a finished sweep run again runs nothing
    assert sweep(path, tmp_path) == 0
    assert len(study(tmp_path).trials) == 4


@pytest.mark.parametrize("kind", ["random", "tpe"])
def test_random_and_tpe_sample_in_range_reproducibly(tmp_path, kind):
    space = {"train.lr": {"log_uniform": [1e-3, 1e-1]}, "train.batch_size": {"int": [4, 32]},
             "model.nonlinearity": {"choice": ["tanh", "sigmoid"]}}
    params = []
    for root in (tmp_path / "a", tmp_path / "b"):
        path = write_sweep(root.parent, name=f"sw-{root.name}", space=space,
                           search={"kind": kind, "trials": 3, "seed": 7})
        assert sweep(path, root) == 0
        params.append([t.params for t in study(root, f"sw-{root.name}").trials])
    assert params[0] == params[1] and len(params[0]) == 3
    for p in params[0]:
        assert 1e-3 <= p["train.lr"] <= 1e-1 and 4 <= p["train.batch_size"] <= 32
    assert len({p["train.lr"] for p in params[0]}) == 3


def test_repeats_give_mean_and_sd_over_seeds(tmp_path):
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.03, 0.01]}}, repeats=2)
    assert sweep(path, tmp_path) == 0
    table = rows(tmp_path)
    assert len(table) == 4
    for number in ("0", "1"):
        runs = [r for r in table if r["number"] == number]
        seeds = {json.loads((Path(r["folder"]) / "config.json").read_text())["train"]["seed"]
                 for r in runs}
        assert seeds == {0, 1}
        values = [float(r["val_loss"]) for r in runs]
        assert values[0] != values[1]
        trial = study(tmp_path).trials[int(number)]
        assert trial.value == pytest.approx(np.mean(values))
        line = next(line for line in (tmp_path / "sw" / "results.md").read_text().splitlines()
                    if line.startswith("| ") and line.split("|")[2].strip() == number)
        assert f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}" in line


def test_median_pruning_stops_hopeless_trials_and_steps_bit_identically(tmp_path):
    space = {"train.lr": {"choice": [0.05, 1e-6, 0.04, 2e-6]}}
    path = write_sweep(tmp_path, space=space, trial_curves=True,
                       pruning={"startup_trials": 1, "warmup_epochs": 1})
    config = json.loads(path.read_text())
    config["base"]["train"]["epochs"] = 6
    path.write_text(json.dumps(config))
    assert sweep(path, tmp_path) == 0
    trials = study(tmp_path).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and all(t.params["train.lr"] < 1e-5 for t in pruned)
    for trial in pruned:
        assert max(trial.intermediate_values) < 6
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert complete
    folder = tmp_path / "sw" / f"trial-{complete[0].number:04d}"
    reference, history = direct_run(folder)
    for ours, theirs in zip(weights(folder), reference, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert load_checkpoint(folder / "last.h5").history.val_loss == history.val_loss
    for trial in trials:  # asked for, the stepped trials get their picture, drawn at the end
        picture = tmp_path / "sw" / f"trial-{trial.number:04d}" / "curves.png"
        assert picture.stat().st_size > 0


def _check_each_configuration_ran_once(trials: list, n: int, epochs: int) -> None:
    assert [t.state.name for t in trials] == ["COMPLETE"] * n
    assert sorted(t.number for t in trials) == list(range(n))
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == n
    for trial in trials:
        (run,) = trial.user_attrs["runs"]
        assert run["epochs"] == epochs and run["started"] == "fresh"
        assert len(load_checkpoint(Path(run["folder"]) / "last.h5").history) == epochs


def test_two_local_workers_share_the_journal(tmp_path, monkeypatch):
    temp = tmp_path / "temp"  # where the worker process's data file goes, then is removed
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.03, 0.01, 0.003, 0.001]}})
    assert sweep(path, tmp_path, "--workers", "2") == 0
    _check_each_configuration_ran_once(study(tmp_path).trials, 4, 2)
    assert len(rows(tmp_path)) == 4
    assert len({r["folder"] for r in rows(tmp_path)}) == 4
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "sw").glob("*.h5")) == []


@pytest.fixture(scope="module")
def postgres_url():
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres) on this machine; "
                    ".ci/run installs the 'postgresql' package where apt-get is available")
    server = PostgresServer(binaries)
    try:
        yield server.start()
    finally:
        server.stop()


def test_postgres_two_worker_processes_run_every_trial_once(tmp_path, postgres_url):
    path = write_sweep(tmp_path, name="pg-sweep",
                       space={"train.lr": {"choice": [0.03, 0.003]},
                              "model.hidden": {"choice": [[4], [6]]}})
    url = postgres_url.replace("postgresql://", "postgres://")  # the form people type
    assert sweep(path, tmp_path, "--workers", "2", "--storage", url) == 0
    from mlp.sweep.study import storage_url

    assert "pg-sweep" in optuna.get_all_study_names(storage_url(postgres_url))
    trials = study(tmp_path, "pg-sweep", storage_url(postgres_url)).trials
    _check_each_configuration_ran_once(trials, 4, 2)
    assert not (tmp_path / "pg-sweep" / "study.journal").exists()


def _kill_a_worker_mid_trial(tmp_path: Path, name: str, *storage: str) -> tuple[Path, int]:
    """Start a one-worker sweep (two 15-epoch trials, a checkpoint per epoch) and SIGKILL it
    once its first trial has saved a checkpoint; return the sweep file and how many epochs
    that checkpoint holds."""
    path = write_sweep(tmp_path, name=name, space={"train.lr": {"choice": [0.03, 0.01]}})
    config = json.loads(path.read_text())
    config["base"]["train"]["epochs"] = 15
    config["base"]["train"]["save_every_epochs"] = 1  # a checkpoint per epoch to kill between
    path.write_text(json.dumps(config))
    worker = subprocess.Popen([sys.executable, "-m", "mlp.cli", "-q", "sweep", str(path),
                               "--ckpt-root", str(tmp_path), *storage],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / name / "trial-0000" / "last.h5"
    deadline = time.monotonic() + 60
    while not last.exists() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    interrupted_at = len(load_checkpoint(last).history)
    assert 0 < interrupted_at < 15
    return path, interrupted_at


def _check_the_retry_finished_bit_identically(tmp_path: Path, name: str, trials: list,
                                              interrupted_at: int | None) -> None:
    """Trial 0 failed (its worker died) and was retried once, from its checkpoint at
    ``interrupted_at`` (None: from scratch), ending as an uninterrupted run would."""
    assert [t.number for t in trials] == [0, 1, 2]
    assert trials[0].state.name == "FAIL"
    retry = next(t for t in trials if t.params == trials[0].params and t.number != 0)
    assert retry.state.name == "COMPLETE"
    (run,) = retry.user_attrs["runs"]
    started = "fresh" if interrupted_at is None else f"resumed at epoch {interrupted_at}"
    assert run["started"] == started and run["epochs"] == 15
    folder = tmp_path / name / f"trial-{retry.number:04d}"
    assert not (tmp_path / name / "trial-0000").exists()
    reference, history = direct_run(folder)
    for ours, theirs in zip(weights(folder), reference, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert load_checkpoint(folder / "last.h5").history.val_loss == history.val_loss
    notes = {r["number"]: r["note"] for r in rows(tmp_path, name)}
    assert notes["0"] == f"worker lost; retried as trial {retry.number}"
    assert notes[str(retry.number)] == "retry of trial 0; " + (
        "restarted with the same seeds" if interrupted_at is None else started)


@pytest.mark.parametrize("folder_kept", [True, False], ids=["resumed", "folder-lost"])
def test_killed_worker_trial_finishes_bit_identically_on_rerun(tmp_path, folder_kept):
    path, interrupted_at = _kill_a_worker_mid_trial(tmp_path, "sw")
    if not folder_kept:  # as when the trial ran on another machine
        shutil.rmtree(tmp_path / "sw" / "trial-0000")
    assert sweep(path, tmp_path) == 0
    _check_the_retry_finished_bit_identically(tmp_path, "sw", study(tmp_path).trials,
                                              interrupted_at if folder_kept else None)


def test_killed_postgres_worker_is_found_by_its_heartbeat_and_its_trial_resumed(
        tmp_path, postgres_url, monkeypatch):
    """The dead worker's trial stays RUNNING in PostgreSQL; once its heartbeat is older than
    the grace period the next worker fails it, queues it again and resumes it."""
    from mlp.sweep.study import GRACE_ENV, HEARTBEAT_ENV, storage_url

    monkeypatch.setenv(HEARTBEAT_ENV, "1")  # inherited by the worker process
    monkeypatch.setenv(GRACE_ENV, "2")
    path, interrupted_at = _kill_a_worker_mid_trial(tmp_path, "pg-kill",
                                                    "--storage", postgres_url)
    trials = study(tmp_path, "pg-kill", storage_url(postgres_url)).trials
    assert [t.state.name for t in trials] == ["RUNNING"]
    time.sleep(2.5)  # the heartbeat goes stale
    assert sweep(path, tmp_path, "--storage", postgres_url) == 0
    _check_the_retry_finished_bit_identically(
        tmp_path, "pg-kill", study(tmp_path, "pg-kill", storage_url(postgres_url)).trials,
        interrupted_at)


@pytest.mark.parametrize(("signum", "to_group", "status"),
                         [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_two_worker_sweep_in_one_line_and_a_rerun_finishes_it(
        tmp_path, signum, to_group, status):
    """SIGINT to the terminal's process group (Ctrl-C), or SIGTERM to the command alone: the
    command stops its worker process, says once how to finish, exits 130 or 143 and leaves
    no process behind; the rerun completes every configuration exactly once."""
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.03, 0.01, 0.003, 0.001]}})
    config = json.loads(path.read_text())
    config["base"]["train"]["epochs"] = 200
    config["base"]["train"]["save_every_epochs"] = 1
    path.write_text(json.dumps(config))
    command = subprocess.Popen([sys.executable, "-m", "mlp.cli", "-q", "sweep", str(path),
                                "--ckpt-root", str(tmp_path), "--workers", "2"], text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)  # its own group, as a terminal's job
    deadline = time.monotonic() + 60
    while (not list((tmp_path / "sw").glob("trial-*/last.h5")) and command.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)
    time.sleep(random.Random(signum).uniform(0.0, 0.3))  # in training or between trials
    if to_group:
        os.killpg(command.pid, signum)
    else:
        command.send_signal(signum)
    _, err = command.communicate(timeout=60)
    assert command.returncode == status, err
    assert err.strip().splitlines() == [
        "mlp sweep: interrupted; finished trials are kept, and the same command run again "
        "finishes the sweep (interrupted trials continue from their last checkpoint)"]
    time.sleep(0.2)
    stray = subprocess.run(["pgrep", "-f", str(path)], capture_output=True, text=True).stdout
    assert stray.strip() == "", stray
    assert sweep(path, tmp_path) == 0
    trials = study(tmp_path).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["train.lr"] for t in complete) == [0.001, 0.003, 0.01, 0.03]
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_changed_space_is_refused_naming_the_difference(tmp_path, capfd, workers):
    """With --workers 2 the worker process, started before the check, is stopped silently
    before it takes a trial (capfd: its output too)."""
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.03]}})
    assert sweep(path, tmp_path) == 0
    write_sweep(tmp_path, space={"train.lr": {"choice": [0.01]}})
    capfd.readouterr()
    assert sweep(path, tmp_path, "--workers", workers) == 2
    err = capfd.readouterr().err
    assert "space.train.lr.choice: was [0.03], now [0.01]" in err
    assert len(err.strip().splitlines()) == 1
    assert len(study(tmp_path).trials) == 1


def test_a_refusal_after_loading_the_data_stops_the_worker_processes(tmp_path, capfd):
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.1]}},
                       metric="test_accuracy")
    assert sweep(path, tmp_path, "--workers", "2") == 2
    err = capfd.readouterr().err
    assert "needs a test split" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize(("fields", "expected"), [
    ({"space": {"train.learning_rate": {"choice": [0.1]}}},
     "unknown key 'train.learning_rate'"),
    ({"space": {"train.lr": {"uniform": [-0.1, 0.1]}}, "search": {"kind": "random", "trials": 2}},
     "the value -0.1 is not valid for train.lr"),
    ({"space": {"train.epochs": {"choice": [2, "many"]}}},
     'the value "many" is not valid for train.epochs'),
    ({"space": {"train.lr": {"choice": []}}}, "at least 1 item"),
    ({"space": {}}, "the grid is empty"),
    ({"space": {"train.lr": {"normal": [0, 1]}}}, 'expected one of {"choice"'),
    ({"space": {"train.lr": {"choice": [0.1]}}, "metric": "test_accuracy"},
     "needs a test split"),
])
def test_bad_input_is_one_line_exit_2_before_any_trial(tmp_path, capsys, fields, expected):
    path = write_sweep(tmp_path, **fields)
    assert sweep(path, tmp_path) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("sw/trial-*"))


def test_unreachable_storage_is_one_line_exit_2(tmp_path, capsys):
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.1]}})
    with socket_port() as port:
        url = f"postgresql://someone:secret@127.0.0.1:{port}/nowhere"
        assert sweep(path, tmp_path, "--storage", url) == 2
    err = capsys.readouterr().err
    assert "cannot reach the storage postgresql+psycopg2://someone:***@127.0.0.1" in err
    assert "secret" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_missing_or_broken_sweep_file_is_one_line_exit_2(tmp_path, capfd, workers):
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "broken.json").write_text("{")
    for name, expected in (("missing.json", "no such sweep file"),
                           ("list.json", 'expected a JSON object ({"name", "base", "space"})'),
                           ("broken.json", "not valid JSON")):
        assert sweep(tmp_path / name, tmp_path, "--workers", workers) == 2
        err = capfd.readouterr().err
        assert f"{tmp_path / name}: {expected}" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("heartbeat", "grace", "expected"), [
    ("abc", "20", "MLP_SWEEP_HEARTBEAT must be a positive whole number of seconds, found 'abc'"),
    ("5", "5", "MLP_SWEEP_GRACE (5 s) must be longer than MLP_SWEEP_HEARTBEAT (5 s)")])
def test_bad_heartbeat_settings_are_one_line_exit_2(tmp_path, capsys, monkeypatch, heartbeat,
                                                    grace, expected):
    monkeypatch.setenv("MLP_SWEEP_HEARTBEAT", heartbeat)
    monkeypatch.setenv("MLP_SWEEP_GRACE", grace)
    path = write_sweep(tmp_path, space={"train.lr": {"choice": [0.1]}})
    assert sweep(path, tmp_path, "--storage", "postgresql://someone@127.0.0.1:5432/db") == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw").exists()


class socket_port:
    """A loopback port nothing listens on (bound, not listening, while in use)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return self._socket.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


# ------------------------------------------------------------- failing honestly
def test_a_regression_base_without_a_loss_trains_with_mse_as_mlp_train_does(tmp_path):
    base = {**BASE, "train": {k: v for k, v in BASE["train"].items() if k != "loss"}}
    path = tmp_path / "sw.json"
    path.write_text(json.dumps({"name": "sw", "base": base,
                                "space": {"train.lr": {"choice": [0.03, 0.01]}}}))
    assert sweep(path, tmp_path) == 0
    for trial in ("trial-0000", "trial-0001"):
        saved = json.loads((tmp_path / "sw" / trial / "config.json").read_text())
        assert saved["train"]["loss"]["kind"] == "mse"
        assert load_checkpoint(tmp_path / "sw" / trial / "last.h5").config.loss.kind == "mse"
    assert [t.state.name for t in study(tmp_path).trials] == ["COMPLETE", "COMPLETE"]


def test_a_sweep_whose_every_trial_failed_exits_2_naming_the_first_error(tmp_path, capsys):
    base = {**BASE, "train": {**BASE["train"], "loss": "cross_entropy"}}  # regression data
    path = tmp_path / "sw.json"
    path.write_text(json.dumps({"name": "sw", "base": base,
                                "space": {"train.lr": {"choice": [0.03, 0.01]}}}))
    assert sweep(path, tmp_path) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("mlp sweep:")]
    assert line == ("mlp sweep: SweepFailed: every trial failed (2 of 2); the first, trial "
                    "0: DataError: cross_entropy needs classification data, found regression")
    assert (tmp_path / "sw" / "results.md").exists()  # the report still says what failed


def _journal_sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path, space={"train.lr": {"log_uniform": [1e-3, 1e-1]}},
                       search={"kind": "random", "trials": 1, "seed": 3})


def test_a_torn_journal_tail_is_cut_off_with_a_warning_and_the_sweep_continues(
        tmp_path, caplog):
    path = _journal_sweep(tmp_path)
    assert sweep(path, tmp_path) == 0
    journal = tmp_path / "sw" / "study.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "user_at')
    assert sweep(path, tmp_path, "--trials", "2") == 0  # appends after the repaired tail
    assert f"{journal}: removed a torn last line (56 bytes" in caplog.text
    assert journal.read_bytes().startswith(whole)
    assert sweep(path, tmp_path, "--trials", "3") == 0  # the journal reads back whole
    assert [t.state.name for t in study(tmp_path).trials] == ["COMPLETE"] * 3


def test_a_journal_damaged_before_its_end_is_refused_naming_the_file_and_line(tmp_path,
                                                                             capsys):
    path = _journal_sweep(tmp_path)
    assert sweep(path, tmp_path) == 0
    journal = tmp_path / "sw" / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([lines[0], b'{"op_code": 5, "work\n', *lines[1:]]))
    assert sweep(path, tmp_path, "--trials", "2") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"mlp sweep: JournalDamaged: {journal}: line 2 is not a study "
                           "record")

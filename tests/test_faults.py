"""Run folders under faults: a full disk, unwritable pictures, a second trainer, repeated
and failed ``mlp train``, resume from elsewhere, runs without ``config.json``, edited
configs, the save cadence and its cost. (Hostile files: ``test_hostile_files.py``; signals:
``test_signals.py``.)"""

from __future__ import annotations

import errno
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from fixtures.faults import (
    MLP,
    blobs,
    child_env,
    cli,
    edit,
    mlp,
    set_json,
    temp_files,
    tmpfs,
    write_config,
    write_npz,
)

from mlp.callbacks import Callback
from mlp.errors import CheckpointError, DataError, TrainingDiverged
from mlp.nn.model import Model
from mlp.storage import atomic
from mlp.storage.run_folder import RunFolder, RunFolderBusy
from mlp.training.checkpoint import load_checkpoint
from mlp.training.hyperparameters import TrainingConfig
from mlp.training.routinizer import BasicRoutinizer
from mlp.training.run_config import read_run_config
from preprocess import Data

#: a model whose checkpoint takes about 130 KiB: two fit in 300 KiB, a third does not
WIDE = [6, 100, 50, 3]


def _arrays(path: Path) -> dict[str, np.ndarray]:
    return dict(load_checkpoint(path).model.named_arrays())


def _assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name


# ------------------------------------------------------------------ 1. a full disk
def _fill_disk_during_second_save(folder: Path) -> BasicRoutinizer:
    """Train WIDE into ``folder`` (a 300 KiB tmpfs) saving every epoch: the first save fits,
    the second does not; returns the routinizer after its CheckpointError was checked."""
    routinizer = BasicRoutinizer(epochs=4, batch_size=16, lr=0.01, seed=1, progress=False,
                                 save_every_epochs=1, checkpoint_dir=folder / "run")
    with pytest.raises(CheckpointError) as caught:
        routinizer.run(Model.mlp(WIDE, seed=0), blobs(validation=False))
    message = str(caught.value)
    assert "No space left on device" in message
    assert str(folder / "run") in message and ".h5" in message
    return routinizer


def test_a_full_disk_is_a_checkpoint_error_and_keeps_the_previous_checkpoint():
    with tmpfs("300k") as folder:
        if folder is None:
            pytest.skip("needs root to mount a size-limited tmpfs (the OS-level fault "
                        "injection tests below cover the same path)")
        routinizer = _fill_disk_during_second_save(folder)
        run = folder / "run"
        assert temp_files(run) == []
        assert load_checkpoint(run / "last.h5").state.epoch == 1  # the previous one, intact
        assert load_checkpoint(run / "best.h5").state.epoch == 1
        # the process is alive, and the in-memory run describes its own weights: epoch 2
        # was trained (its save failed), so a later save would write epoch 2 onwards
        assert routinizer.state.epoch == 2
        assert len(routinizer.history) == 2


def test_a_full_disk_through_mlp_train_is_one_line_and_exit_2(tmp_path):
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", hidden=WIDE[1:-1], epochs=4, save_every_epochs=1)
    with tmpfs("300k") as folder:
        if folder is None:
            pytest.skip("needs root to mount a size-limited tmpfs")
        result = mlp("train", tmp_path / "run.json", "--ckpt-root", folder, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("mlp train:")]
        assert len(lines) == 1 and "No space left on device" in lines[0]
        assert temp_files(folder / "run") == []
        load_checkpoint(folder / "run" / "last.h5")


def test_a_file_size_limit_fails_the_save_cleanly_in_a_child_process(tmp_path):
    """The same path without mounting: RLIMIT_FSIZE makes write() fail with EFBIG."""
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", hidden=WIDE[1:-1], epochs=4, save_every_epochs=1)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    result = subprocess.run([*MLP, "train", "run.json"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=child_env(), preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("mlp train:")]
    assert "CheckpointError" in line and "File too large" in line and "ckpt/run/" in line
    assert temp_files(tmp_path / "ckpt" / "run") == []


def test_a_failed_save_leaves_a_run_that_continues_bit_identically(tmp_path, monkeypatch):
    """ENOSPC injected into the second checkpoint write: CheckpointError naming the file,
    nothing on disk changes, and once the disk has room the same run continues to the very
    weights of a run that never failed."""
    straight = BasicRoutinizer(epochs=4, batch_size=16, lr=0.01, seed=1, progress=False,
                               save_every_epochs=1, checkpoint_dir=tmp_path / "straight")
    straight.run(Model.mlp(WIDE, seed=0), blobs())

    real_write, calls = os.write, {"n": 0}

    def full_disk_on_the_third_file(fd: int, data: bytes) -> int:
        # a checkpoint image; the lock and CSV lines are small, curves.png is a PNG
        if len(data) > 50_000 and bytes(data[:4]) != b"\x89PNG":
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(atomic.os, "write", full_disk_on_the_third_file)
    routinizer = BasicRoutinizer(epochs=4, batch_size=16, lr=0.01, seed=1, progress=False,
                                 save_every_epochs=1, checkpoint_dir=tmp_path / "run")
    model = Model.mlp(WIDE, seed=0)
    with pytest.raises(CheckpointError, match=r"run/(best|last)\.h5: .*No space left"):
        routinizer.run(model, blobs())
    assert temp_files(tmp_path / "run") == []
    assert load_checkpoint(tmp_path / "run" / "last.h5").state.epoch == 1
    monkeypatch.setattr(atomic.os, "write", real_write)
    routinizer.run(model, blobs())  # the disk has room again
    assert routinizer.state.epoch == 4
    _assert_same_arrays(dict(model.named_arrays()), dict(straight._model.named_arrays()))
    _assert_same_arrays(_arrays(tmp_path / "run" / "last.h5"),
                        _arrays(tmp_path / "straight" / "last.h5"))


# -------------------------------------------------------------------- 2. pictures
def test_an_unwritable_picture_is_a_warning_and_the_run_finishes(tmp_path, caplog):
    folder = tmp_path / "run"
    (folder / "curves.png").mkdir(parents=True)  # a folder where the picture should go
    routinizer = BasicRoutinizer(epochs=2, seed=1, progress=False, checkpoint_dir=folder)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        routinizer.run(Model.mlp([6, 8, 3]), blobs())
    assert any("could not write" in r.getMessage() and "curves.png" in r.getMessage()
               for r in caplog.records)
    assert load_checkpoint(folder / "last.h5").state.epoch == 2
    assert (folder / "best.h5").is_file()
    assert temp_files(folder) == []


def test_mlp_train_prints_its_report_when_the_picture_cannot_be_written(
        tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", epochs=2)
    (tmp_path / "ckpt" / "run" / "curves.png").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        status, out, _ = cli(capsys, "train", "run.json")
    assert status == 0
    assert "test loss" in out and "last.h5" in out
    assert "could not write" in caplog.text


def test_pictures_are_0644_and_their_stale_temp_files_are_cleaned(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    stale = folder / ".curves.png.0123abcd.tmp"  # left by a process killed mid-picture
    stale.write_bytes(b"half a png")
    assert atomic.TEMP_PATTERN.match(stale.name)
    previous = os.umask(0o022)
    try:
        BasicRoutinizer(epochs=1, seed=1, progress=False, checkpoint_dir=folder).run(
            Model.mlp([6, 8, 3]), blobs())
    finally:
        os.umask(previous)
    assert not stale.exists()
    for name in ("curves.png", "last.h5", "best.h5"):
        assert (folder / name).stat().st_mode & 0o777 == 0o644, name


# ------------------------------------------------------------------ 3. two trainers
def _start_trainer(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``mlp train ARGS`` in a child process, returned once it logged its first epoch."""
    process = subprocess.Popen([*MLP, "train", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env())
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("epoch "):
            return process, "".join(seen)
    process.wait(timeout=30)
    raise AssertionError(f"the trainer ended before its first epoch: {''.join(seen)}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


def test_a_second_trainer_of_the_same_folder_fails_at_once(tmp_path, monkeypatch, capsys):
    write_npz(tmp_path / "data.npz", n=400)
    write_config(tmp_path / "run.json", epochs=100_000, batch_size=4)
    first, _ = _start_trainer(tmp_path, "run.json")
    try:
        folder = tmp_path / "ckpt" / "run"
        other = folder / ".last.h5.0123abcd.tmp"  # looks like a live writer's temp file
        other.write_bytes(b"being written")
        with pytest.raises(RunFolderBusy, match=rf"run folder .*ckpt/run is in use by "
                                                rf"process {first.pid}\b"):
            BasicRoutinizer(epochs=2, progress=False, checkpoint_dir=folder).run(
                Model.mlp([6, 8, 3]), blobs())
        assert other.exists()  # the refused trainer cleaned nothing
        monkeypatch.chdir(tmp_path)
        status, _, err = cli(capsys, "train", "run.json", "--overwrite")
        assert status == 2
        assert f"is in use by process {first.pid}" in err
        assert first.poll() is None  # the first trainer is unharmed
    finally:
        _stop(first)
    assert load_checkpoint(folder / "last.h5").state.epoch >= 1


# --------------------------------------------------------------- 4. mlp train twice
def test_mlp_train_refuses_an_existing_run_and_a_failed_train_keeps_its_config(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", epochs=2)
    assert cli(capsys, "train", "run.json")[0] == 0
    folder = tmp_path / "ckpt" / "run"
    config_before = (folder / "config.json").read_bytes()
    last_before = (folder / "last.h5").read_bytes()

    status, _, err = cli(capsys, "train", "run.json")
    assert status == 2
    assert f"mlp resume {Path('ckpt/run')}" in err and "--overwrite" in err

    status, _, err = cli(capsys, "train", "run.json", "--overwrite", "--set",
                         "data.path=missing.npz")
    assert status == 2 and "missing.npz" in err
    assert (folder / "config.json").read_bytes() == config_before
    assert (folder / "last.h5").read_bytes() == last_before

    status, _, _ = cli(capsys, "train", "run.json", "--overwrite", "--set", "train.epochs=1")
    assert status == 0
    assert load_checkpoint(folder / "last.h5").state.epoch == 1
    assert json.loads((folder / "config.json").read_text())["train"]["epochs"] == 1


# ---------------------------------------------------------- 5. resume and paths
def test_resume_from_another_directory_writes_into_the_folder_given(tmp_path, monkeypatch,
                                                                    capsys):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    write_npz(project / "data" / "train.npz")
    write_config(project / "configs" / "run.json", data_path="../data/train.npz", epochs=2)
    monkeypatch.chdir(project)
    assert cli(capsys, "train", "configs/run.json")[0] == 0
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, _, err = cli(capsys, "resume", project / "ckpt" / "run", "--epochs", "3")
    assert status == 0, err
    assert load_checkpoint(project / "ckpt" / "run" / "last.h5").state.epoch == 3
    assert list(elsewhere.iterdir()) == []
    status, out, _ = cli(capsys, "evaluate", project / "ckpt" / "run", "--json")
    assert status == 0 and json.loads(out)["n"] == 24


def test_a_checkpoint_naming_another_folder_never_writes_there(tmp_path):
    victim = tmp_path / "victim"
    BasicRoutinizer(epochs=1, seed=1, progress=False, checkpoint_dir=victim).run(
        Model.mlp([6, 8, 3]), blobs())
    bait = victim / ".keep.0123abcd.tmp"
    bait.write_bytes(b"not ours")
    before = {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()}

    run = tmp_path / "run"
    BasicRoutinizer(epochs=1, seed=1, progress=False, checkpoint_dir=run).run(
        Model.mlp([6, 8, 3]), blobs())
    edit(run / "last.h5", lambda f: set_json(
        f, "routinizer", lambda c: c | {"checkpoint_dir": str(victim)}))
    routinizer, model = BasicRoutinizer.resume(run)
    assert routinizer.checkpoint_dir == run
    routinizer.epochs = 3
    routinizer.run(model, blobs())
    assert load_checkpoint(run / "last.h5").state.epoch == 3
    assert {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()} == before


# ------------------------------------------------------ 6. runs made from Python
def test_the_cli_says_what_a_run_made_from_python_lacks(tmp_path, capsys):
    BasicRoutinizer(epochs=1, seed=1, progress=False, checkpoint_dir=tmp_path / "py").run(
        Model.mlp([6, 8, 3]), blobs())
    for command in ("resume", "evaluate"):
        status, _, err = cli(capsys, command, tmp_path / "py")
        assert status == 2, command
        assert "no config.json" in err and "load_checkpoint" in err
        assert "mlp train CONFIG.json" in err
    status, out, _ = cli(capsys, "runs", tmp_path)
    assert status == 0 and "py" in out and "unreadable" not in out


# ------------------------------------------------------- 7. edited config.json
def test_resume_refuses_an_edited_config_and_set_changes_what_may_change(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", epochs=2)
    assert cli(capsys, "train", "run.json")[0] == 0
    config_file = tmp_path / "ckpt" / "run" / "config.json"
    original = config_file.read_text()
    edited = json.loads(original)
    edited["train"]["lr"] = 0.5
    edited["train"]["optimizer"] = "sgd"
    edited["model"]["hidden"] = [32]
    config_file.write_text(json.dumps(edited))
    status, _, err = cli(capsys, "resume", "ckpt/run", "--epochs", "3")
    assert status == 2
    for key in ("train.lr", "train.optimizer", "model.hidden"):
        assert key in err
    assert load_checkpoint(tmp_path / "ckpt" / "run" / "last.h5").state.epoch == 2

    config_file.write_text(original)
    status, _, err = cli(capsys, "resume", "ckpt/run", "--set", "train.lr=0.5")
    assert status == 2 and "cannot change train.lr" in err
    status, _, err = cli(capsys, "resume", "ckpt/run", "--set", "train.epochs=4", "--set",
                         "train.save_every_epochs=1", "--set", "train.early_stopping=10")
    assert status == 0, err
    assert load_checkpoint(tmp_path / "ckpt" / "run" / "last.h5").state.epoch == 4
    saved = json.loads(config_file.read_text())["train"]
    assert (saved["epochs"], saved["save_every_epochs"], saved["early_stopping"]) == (4, 1, 10)


def test_reading_a_config_never_draws_weights(tmp_path):
    folder = RunFolder(tmp_path / "big")
    spec = {"modules": [{"type": "layer", "in_features": 20000, "out_features": 20000}]}
    folder.write_config(json.dumps({"name": "big", "data": {"source": "sin"},
                                    "model": spec, "train": {}}))
    tracemalloc.start()
    try:
        config = read_run_config(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # the weights alone would be 1.6 GB
    assert config.name == "big"


# -------------------------------------------------------------- 12. bad numbers
@pytest.mark.parametrize("field", ["lr", "eps", "weight_decay", "momentum", "grad_clip",
                                   "target_loss", "save_every_seconds"])
def test_non_finite_hyperparameters_are_refused(field):
    from pydantic import ValidationError

    for value in (float("inf"), float("nan")):
        with pytest.raises(ValidationError):
            TrainingConfig(**{field: value})
        with pytest.raises(ValidationError):
            setattr(TrainingConfig(), field, value)


def test_mlp_train_refuses_an_infinite_lr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json")
    status, _, err = cli(capsys, "train", "run.json", "--set", "train.lr=Infinity")
    assert status == 2
    assert "train.lr" in err and "finite" in err
    assert not (tmp_path / "ckpt" / "run").exists()


def test_diverging_weights_without_validation_keep_the_last_good_checkpoint(tmp_path):
    """Full batch, no validation split: epoch 3's loss is finite, its one update makes the
    weights infinite; that epoch must never reach a checkpoint."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    data = Data(X, X @ np.array([[100.0], [200.0], [300.0]]))
    folder = tmp_path / "run"
    model = Model.mlp([3, 8, 1], seed=0)
    routinizer = BasicRoutinizer(epochs=2, batch_size=None, lr=1e-4, optimizer="sgd",
                                 loss="mse", seed=1, progress=False, save_every_epochs=1,
                                 checkpoint_dir=folder)
    routinizer.run(model, data)
    routinizer.lr, routinizer.epochs = 3e38, 4
    with pytest.raises(TrainingDiverged, match="weights became NaN or infinite at epoch 3"):
        routinizer.run(model, data)
    for name in ("last.h5", "best.h5"):
        checkpoint = load_checkpoint(folder / name)  # refuses NaN weights
        assert checkpoint.state.epoch == 2
        assert all(np.isfinite(a).all() for _, a in checkpoint.model.named_arrays())


# -------------------------------------------------------- 13. wide-range inputs
def test_float16_inputs_of_wide_range_are_normalised_in_float64():
    rng = np.random.default_rng(0)
    X = (rng.choice([-1, 1], size=(200, 3)) * rng.uniform(30000, 60000, (200, 3)))
    X = X.astype(np.float16)
    y = (X[:, 0] > 0).astype(int)
    data = Data(X[:160], y[:160], X_val=X[160:], y_val=y[160:]).normalize()
    assert data.X_train.dtype == np.float16
    assert np.isfinite(data.X_train).all() and np.abs(data.X_train).max() < 10
    expected = (X.astype(np.float64) - X[:160].astype(np.float64).mean(0)) \
        / X[:160].astype(np.float64).std(0)
    np.testing.assert_allclose(data.X_val.astype(np.float64), expected[160:], rtol=2e-3)
    BasicRoutinizer(epochs=2, progress=False).run(Model.mlp([3, 8, 2]), data)


def test_features_near_1e300_are_normalised_without_overflow():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2)) * np.array([1e300, 1.0])
    data = Data(X, rng.integers(0, 2, 100)).normalize()
    assert np.isfinite(data.X_train).all()
    np.testing.assert_allclose(data.X_train.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(data.X_train.std(0), 1, rtol=1e-9)


def test_a_range_too_wide_to_measure_is_a_data_error_naming_the_feature():
    X = np.array([[1.0, -1.7e308], [2.0, 1.7e308], [3.0, 0.0]])
    with pytest.raises(DataError, match="feature 1"):
        Data(X, [0, 1, 0]).normalize("minmax")


def test_data_without_features_is_refused():
    with pytest.raises(DataError, match="at least 1 feature"):
        Data(np.empty((5, 0)), [0, 1, 0, 1, 0])


# ---------------------------------------------------------------- 14. the cadence
class _LastEpochOnDisk(Callback):
    """Records, after each epoch, the epoch ``last.h5`` holds (0 when there is none), and
    copies ``last.h5`` when it holds ``copy_at`` to ``copy_to`` (what a killed run leaves)."""

    def __init__(self, folder: Path, copy_at: int = 0, copy_to: Path | None = None) -> None:
        self.folder, self.copy_at, self.copy_to = folder, copy_at, copy_to
        self.seen: list[int] = []

    def on_epoch_end(self, routinizer: BasicRoutinizer, row: dict) -> bool:
        last = self.folder / "last.h5"
        epoch = load_checkpoint(last).state.epoch if last.exists() else 0
        self.seen.append(epoch)
        if self.copy_to is not None and epoch == self.copy_at and not self.copy_to.exists():
            self.copy_to.mkdir()
            shutil.copy(last, self.copy_to / "last.h5")
        return False


def test_the_default_cadence_saves_every_30_seconds_and_at_the_end(tmp_path):
    config = TrainingConfig()
    assert (config.save_every_seconds, config.save_every_epochs) == (30.0, None)
    folder = tmp_path / "run"
    watcher = _LastEpochOnDisk(folder)
    BasicRoutinizer(epochs=5, seed=1, progress=False, checkpoint_dir=folder).run(
        Model.mlp([6, 8, 3]), blobs(), callbacks=[watcher])
    assert watcher.seen == [0, 0, 0, 0, 0]  # five quick epochs: no save before the end
    assert load_checkpoint(folder / "last.h5").state.epoch == 5
    assert load_checkpoint(folder / "best.h5").state.epoch >= 1


def test_resume_from_whatever_last_h5_holds_is_bit_identical(tmp_path):
    def routinizer(folder: Path, epochs: int) -> BasicRoutinizer:
        return BasicRoutinizer(epochs=epochs, batch_size=16, lr=0.01, seed=1, progress=False,
                               save_every_epochs=3, checkpoint_dir=folder)

    straight_model = Model.mlp([6, 16, 3], seed=0, dropout=0.2)
    routinizer(tmp_path / "straight", 7).run(straight_model, blobs())

    watcher = _LastEpochOnDisk(tmp_path / "run", copy_at=3, copy_to=tmp_path / "killed")
    routinizer(tmp_path / "run", 7).run(Model.mlp([6, 16, 3], seed=0, dropout=0.2), blobs(),
                                        callbacks=[watcher])
    assert watcher.seen == [0, 0, 3, 3, 3, 6, 6]  # epoch 7: saved after the callbacks
    resumed, model = BasicRoutinizer.resume(tmp_path / "killed")  # as a killed run left it
    assert resumed.state.epoch == 3
    resumed.run(model, blobs())
    _assert_same_arrays(dict(model.named_arrays()), dict(straight_model.named_arrays()))
    _assert_same_arrays(_arrays(tmp_path / "killed" / "last.h5"),
                        _arrays(tmp_path / "straight" / "last.h5"))


def test_history_csv_has_one_row_per_epoch_across_segments_and_is_closed(tmp_path):
    folder = tmp_path / "run"
    routinizer = BasicRoutinizer(epochs=3, seed=1, progress=False, checkpoint_dir=folder)
    routinizer.run(Model.mlp([6, 8, 3]), blobs())
    resumed, model = BasicRoutinizer.resume(folder)
    resumed.epochs = 5
    resumed.run(model, blobs())
    rows = (folder / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and [r.split(",")[0] for r in rows[1:]] == \
        ["1", "2", "3", "4", "5"]
    open_files = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.exists(f"/proc/self/fd/{fd}")]
    assert str(folder / "history.csv") not in open_files

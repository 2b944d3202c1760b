"""What a careless or hostile command line must not do to files: an output never replaces an
input of the same command or a file of a run (by name, ``..``, symbolic or hard link); a
run stopped at any instant before or during its first save (Ctrl-C in epoch 1, SIGKILL in
the save, a full disk) continues with ``mlp resume`` and leaves no temporary file behind the
next command; what a checkpoint cannot store is refused before the first epoch; and a data
conversion onto a disk that fills is one line, exit 2, no temporary file (it used to crash
HDF5: exit 139)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.faults import MLP, child_env, cli, mlp, temp_files, tmpfs, write_config, write_npz

from mlp.callbacks import Callback
from mlp.errors import CheckpointError
from mlp.nn.model import Model
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data


def _one_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"mlp {command}: "), err
    assert "Traceback" not in err
    return lines[0]


def _csv(path: Path, rows: int = 40) -> Path:
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.normal(size=(rows, 3)), np.arange(rows) % 2])
    np.savetxt(path, table, delimiter=",", fmt="%.6f")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 2-epoch run folder made by ``mlp train``."""
    root = tmp_path_factory.mktemp("run")
    write_npz(root / "data.npz")
    write_config(root / "run.json", epochs=2)
    assert subprocess.run([*MLP, "-q", "train", "run.json"], cwd=root, env=child_env(),
                          capture_output=True, timeout=120).returncode == 0
    return root / "ckpt" / "run"


# --------------------------------------------------------- 1. outputs never destroy inputs
@pytest.mark.parametrize("output", ["x.csv", "./sub/../x.csv", "link.csv", "hard.csv"])
def test_convert_refuses_to_write_over_its_own_input(tmp_path, monkeypatch, capsys, output):
    monkeypatch.chdir(tmp_path)
    source = _csv(tmp_path / "x.csv")
    (tmp_path / "sub").mkdir()
    os.symlink("x.csv", tmp_path / "link.csv")
    os.link(source, tmp_path / "hard.csv")
    before = source.read_bytes()
    status, _, err = cli(capsys, "data", "convert", "x.csv", output)
    assert status == 2
    line = _one_line(err, "data")
    assert "OutputClash" in line and "the data being converted" in line
    assert source.read_bytes() == before
    assert temp_files(tmp_path) == []


def test_convert_refuses_the_labels_it_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "X.npy", np.ones((4, 2)))
    np.save(tmp_path / "y.npy", np.arange(4) % 2)
    before = (tmp_path / "y.npy").read_bytes()
    status, _, err = cli(capsys, "data", "convert", "X.npy", "y.npy", "--labels", "y.npy")
    assert status == 2 and "the labels being converted" in _one_line(err, "data")
    assert (tmp_path / "y.npy").read_bytes() == before


def test_convert_refuses_a_file_of_a_run_and_a_place_inside_its_image_folder(
        tmp_path, run, capsys, image_folder):
    before = (run / "best.h5").read_bytes()
    status, _, err = cli(capsys, "data", "convert", _csv(tmp_path / "x.csv"), run / "best.h5")
    assert status == 2 and f"is a file of the run in {run}" in _one_line(err, "data")
    assert (run / "best.h5").read_bytes() == before
    inside = image_folder / "out.h5"
    status, _, err = cli(capsys, "data", "convert", image_folder, inside)
    assert status == 2 and "is inside the data being converted" in _one_line(err, "data")
    assert not inside.exists()


@pytest.mark.parametrize("name", ["best.h5", "last.h5", "config.json"])
def test_export_refuses_the_checkpoint_it_reads_and_the_files_of_its_run(run, capsys, name):
    pytest.importorskip("onnx")
    before = (run / name).read_bytes()
    status, _, err = cli(capsys, "export", run, run / name)
    assert status == 2 and "OutputClash" in _one_line(err, "export")
    assert (run / name).read_bytes() == before


def test_export_refuses_a_hard_link_of_the_checkpoint(tmp_path, run, capsys):
    pytest.importorskip("onnx")
    os.link(run / "best.h5", tmp_path / "copy.h5")
    before = (run / "best.h5").read_bytes()
    status, _, err = cli(capsys, "export", run / "best.h5", tmp_path / "copy.h5")
    assert status == 2 and "the checkpoint being exported" in _one_line(err, "export")
    assert (run / "best.h5").read_bytes() == before


def test_train_refuses_a_config_or_data_inside_the_run_folder_it_writes(tmp_path, run,
                                                                        capsys):
    """``mlp train RUN/config.json --overwrite`` would replace the very file it reads."""
    before = (run / "config.json").read_bytes()
    status, _, err = cli(capsys, "train", run / "config.json", "--overwrite", "--set",
                         f"train.checkpoint_dir={json.dumps(str(run))}")
    assert status == 2
    line = _one_line(err, "train")
    assert "OutputClash" in line and "the run config being read" in line
    assert (run / "config.json").read_bytes() == before
    assert (run / "last.h5").exists()


def test_a_sweep_refuses_a_sweep_file_inside_its_own_folder(tmp_path, capsys):
    pytest.importorskip("optuna")
    folder = tmp_path / "ckpt" / "sw"
    folder.mkdir(parents=True)
    base = {"name": "b", "data": {"source": "sin", "n_train": 16, "n_val": 16},
            "model": {"hidden": [2]}, "train": {"epochs": 1}}
    (folder / "sweep.json").write_text(json.dumps(
        {"name": "sw", "base": base, "space": {"train.lr": {"choice": [0.1]}}}))
    status, _, err = cli(capsys, "sweep", folder / "sweep.json", "--ckpt-root",
                         tmp_path / "ckpt")
    assert status == 2 and "the sweep file" in _one_line(err, "sweep")
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.json"]


# ------------------------------------------------ 2. resumable from the first moment
def _straight_weights(tmp_path: Path, *set_: str) -> list[np.ndarray]:
    """The weights of the same run trained without interruption, in its own folder."""
    result = mlp("-q", "train", "run.json", "--ckpt-root", "straight", *set_, cwd=tmp_path,
                 timeout=300)
    assert result.returncode == 0, result.stderr
    return [a for _, a in load_checkpoint(tmp_path / "straight" / "run" / "last.h5")
            .model.named_arrays()]


def _weights(folder: Path) -> list[np.ndarray]:
    return [a for _, a in load_checkpoint(folder / "last.h5").model.named_arrays()]


def _wait_for(predicate, process: subprocess.Popen, limit: float = 60.0) -> bool:
    """Poll ``predicate`` (about every millisecond) while ``process`` runs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.001)
    return False


def test_ctrl_c_in_epoch_1_leaves_a_run_that_resume_continues_bit_identically(tmp_path):
    write_npz(tmp_path / "data.npz", n=20000)
    write_config(tmp_path / "run.json", epochs=1, batch_size=1, hidden=[32])
    folder = tmp_path / "ckpt" / "run"
    process = subprocess.Popen([*MLP, "train", "run.json"], cwd=tmp_path, env=child_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: (folder / "config.json").exists(), process)
        time.sleep(0.3)  # into the first epoch (an epoch takes seconds)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "mlp train: interrupted after epoch 0 of 1; continue with: mlp resume ckpt/run "
        "(no epoch was saved, so it starts over from epoch 0)")
    assert not (folder / "last.h5").exists()
    resumed = mlp("-q", "resume", "ckpt/run", cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting it over from epoch 0" in resumed.stderr
    assert load_checkpoint(folder / "last.h5").state.epoch == 1
    for mine, straight in zip(_weights(folder), _straight_weights(tmp_path), strict=True):
        assert np.array_equal(mine, straight)


def test_a_sigkill_during_the_first_save_leaves_a_run_that_resume_finishes(tmp_path):
    """The checkpoint (about 16 MB) is killed while its temporary file is being written:
    the folder holds config.json and that temporary file; the next command in the folder
    removes it, and resume trains the run from epoch 0 to the weights of a straight run."""
    write_npz(tmp_path / "data.npz", n=60)
    write_config(tmp_path / "run.json", epochs=1, hidden=[1000, 1000], optimizer="adam")
    folder = tmp_path / "ckpt" / "run"
    process = subprocess.Popen([*MLP, "-q", "train", "run.json"], cwd=tmp_path,
                               env=child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        caught = _wait_for(lambda: folder.is_dir() and any(
            ".h5." in name for name in temp_files(folder)), process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert caught, "the save ended before its temporary file was seen"
    assert process.returncode == -signal.SIGKILL
    if not (folder / "last.h5").exists():  # killed before the rename: nothing was saved
        assert temp_files(folder) != []
        inspected = mlp("inspect", "ckpt/run", cwd=tmp_path)  # any command entering it
        assert inspected.returncode == 2 and "Traceback" not in inspected.stderr
        assert temp_files(folder) == []
    resumed = mlp("-q", "resume", "ckpt/run", cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert temp_files(folder) == []
    for mine, straight in zip(_weights(folder), _straight_weights(tmp_path), strict=True):
        assert np.array_equal(mine, straight)


def test_a_full_disk_at_the_first_save_is_reported_and_resume_continues_once_there_is_room(
        tmp_path):
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", epochs=2, hidden=[200, 100])
    with tmpfs("100k") as root:
        if root is None:
            pytest.skip("needs root to mount a size-limited tmpfs")
        result = mlp("train", "run.json", "--ckpt-root", root, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("mlp train:")]
        assert "No space left on device" in line
        assert "Traceback" not in result.stderr
        run = root / "run"
        assert temp_files(run) == [] and not (run / "last.h5").exists()
        again = mlp("train", "run.json", "--ckpt-root", root, cwd=tmp_path)
        assert again.returncode == 2 and f"to continue it: mlp resume {run}" in again.stderr
        subprocess.run(["mount", "-o", "remount,size=2m", str(root)], check=True)
        resumed = mlp("-q", "resume", run, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert load_checkpoint(run / "last.h5").state.epoch == 2
        assert temp_files(run) == []


class _Epochs(Callback):
    def __init__(self) -> None:
        self.seen = 0

    def on_epoch_end(self, routinizer: object, row: dict) -> None:
        self.seen += 1


_X = np.random.default_rng(0).normal(size=(40, 4))


@pytest.mark.parametrize("labels, expected", [
    (np.arange(40) % 2 + 1j, "class labels"),
    (np.array([np.void(b"ab"), np.void(b"cd")] * 20), "class labels"),
    (np.array(["a\udc80", "b"] * 20), "class labels"),
])
def test_labels_a_checkpoint_cannot_store_are_refused_before_the_first_epoch(
        tmp_path, labels, expected):
    epochs = _Epochs()
    routinizer = BasicRoutinizer(epochs=3, progress=False, checkpoint_dir=tmp_path / "run")
    with pytest.raises(CheckpointError, match=expected) as caught:
        routinizer.run(Model.mlp([4, 8, 2]), Data(_X, labels), callbacks=[epochs])
    assert "no epoch is trained" in str(caught.value)
    assert epochs.seen == 0
    assert not (tmp_path / "run").exists()


def test_a_folder_name_a_checkpoint_cannot_store_is_refused_before_the_first_epoch(tmp_path):
    folder = tmp_path / os.fsdecode(b"run\xff")
    epochs = _Epochs()
    routinizer = BasicRoutinizer(epochs=3, progress=False, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="train.checkpoint_dir"):
        routinizer.run(Model.mlp([4, 8, 2]), Data(_X, np.arange(40) % 2), callbacks=[epochs])
    assert epochs.seen == 0


def test_mlp_train_refuses_complex_labels_before_writing_the_run(tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", X=rng.normal(size=(60, 3)),
             y=(np.arange(60) % 3).astype(complex))
    write_config(tmp_path / "run.json", epochs=2)
    status, _, err = cli(capsys, "train", "run.json")
    if "complex" in err and "CheckpointError" not in err:
        pytest.skip("the loader refuses complex labels itself")
    assert status == 2 and "class labels" in _one_line(err, "train")
    assert not (tmp_path / "ckpt" / "run" / "config.json").exists()


# ---------------------------------------------- segfault: a data file onto a full disk
def _npz(path: Path, rows: int = 30000) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.random((rows, 20)), y=rng.integers(0, 3, rows))
    return path


@pytest.mark.parametrize("size", ["300k", "1m", "2300k", "2500k", "2600k"])
def test_converting_onto_a_disk_that_fills_is_one_line_and_leaves_no_temp(tmp_path, size):
    """2.4 MB of float32 features: the disk fills in the first block, mid-way, or as the
    file closes; each is ``OSError: No space left on device`` naming the output."""
    source = _npz(tmp_path / "big.npz")
    with tmpfs(size) as root:
        if root is None:
            pytest.skip("needs root to mount a size-limited tmpfs")
        result = mlp("data", "convert", source, root / "out.h5", "-q", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        line = _one_line(result.stderr, "data")
        assert line == f"mlp data: OSError: [Errno 28] No space left on device: " \
                       f"'{root / 'out.h5'}'"
        assert os.listdir(root) == []


def test_converting_past_a_file_size_limit_is_one_line_and_leaves_no_temp(tmp_path):
    """The same without root: RLIMIT_FSIZE makes a write fail (EFBIG) part-way."""
    source = _npz(tmp_path / "big.npz")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    result = subprocess.run([*MLP, "data", "convert", str(source), "out.h5", "-q"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=child_env(), preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    assert "File too large: 'out.h5'" in _one_line(result.stderr, "data")
    assert temp_files(tmp_path) == [] and not (tmp_path / "out.h5").exists()

"""HDF5 checkpoints: exact round trips, atomic writes, and a CheckpointError for every kind
of bad file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

import mlp.training.checkpoint as checkpoint_module
from mlp.errors import CheckpointError
from mlp.history import HISTORY_COLUMNS, History
from mlp.nn.model import Model
from mlp.storage import hdf5
from mlp.training.checkpoint import load_checkpoint, save_checkpoint
from mlp.training.inspect import describe_checkpoint, runs_table
from mlp.training.routinizer import BasicRoutinizer, TrainingState
from preprocess import Data, Normalizer

ROOT = str(Path(__file__).resolve().parents[1])


def make_run(dtype: str = "float32", classes: list | None = None, seed: int = 0,
             loss: str = "cross_entropy") -> tuple[Model, BasicRoutinizer, SimpleNamespace]:
    """A model whose every array holds distinct random numbers, and a routinizer restored
    to a mid-run state (epoch 2, best weights, a history with a None), without training."""
    rng = np.random.default_rng(seed)
    out = 1 if loss == "mse" else 3
    model = Model.mlp([4, 6, out], dropout=0.2, dtype=dtype, seed=seed)
    for _, value, grad in model.named_parameters():
        value[...] = rng.normal(size=value.shape)
        grad[...] = rng.normal(size=value.shape)
    momentum = {key: rng.normal(size=value.shape).astype(dtype)
                for key, value, _ in model.named_parameters()}
    routinizer = BasicRoutinizer(epochs=5, lr=0.01, optimizer="nesterov", loss=loss,
                                 schedule={"kind": "step", "step_size": 2, "gamma": 0.5},
                                 progress=False, seed=seed)
    generator = np.random.default_rng(seed + 1)
    generator.random(7)
    state = TrainingState(epoch=2, step=14, best_loss=0.5, best_epoch=1,
                          rng_state=generator.bit_generator.state,
                          data_fingerprint={"shape": [20, 4], "sha256": "ab" * 32})
    history = History()
    history.append(epoch=1, train_loss=0.9, val_loss=0.5, train_accuracy=0.6,
                   val_accuracy=None, lr=0.01, seconds=0.25)
    history.append(epoch=2, train_loss=0.7, val_loss=0.6, train_accuracy=0.7,
                   val_accuracy=0.65, lr=0.01, seconds=0.5)
    best = [a + 1 for layer in model.layers for a in (layer.weight, layer.bias)]
    routinizer.restore(model, state, history, best, False, optimizer_state={"m": momentum})
    normalizer = Normalizer(method="zscore", offset=rng.normal(size=4),
                            scale=rng.uniform(0.5, 2.0, size=4))
    data = SimpleNamespace(normalizer=normalizer, image_shape=(2, 2),
                           classes=None if classes is None else np.array(classes))
    return model, routinizer, data


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model, routinizer, data = make_run(classes=["cat", "dog", "ünïcode"])
    return save_checkpoint(tmp_path / "run" / "last.h5", model, routinizer, data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("classes", [["cat", "dog", "ünïcode"], [3, 7, 11], [0.5, 1.5, 2.5]])
def test_round_trip_is_exact(tmp_path, dtype, classes):
    model, routinizer, data = make_run(dtype, classes)
    path = save_checkpoint(tmp_path / "new" / "ck.h5", model, routinizer, data)
    loaded = load_checkpoint(path)

    assert loaded.path == path and loaded.format_version == 2
    assert loaded.model.model_dump_json() == model.model_dump_json()
    for (name, saved_array), (loaded_name, array) in zip(
            model.named_arrays(), loaded.model.named_arrays(), strict=True):
        assert name == loaded_name
        assert array.dtype == np.dtype(dtype) and np.array_equal(array, saved_array), name
    assert loaded.routinizer.model_dump_json() == routinizer.model_dump_json()
    assert loaded.state == routinizer.state
    assert loaded.history == routinizer.history
    assert loaded.history.val_accuracy[0] is None
    for kept, original in zip(loaded.best_arrays, routinizer.best_arrays, strict=True):
        assert kept.dtype == original.dtype and np.array_equal(kept, original)
    saved_moments = routinizer.optimizer_state["m"]
    assert loaded.optimizer_state.keys() == {"m"}
    assert loaded.optimizer_state["m"].keys() == saved_moments.keys()
    for key, array in saved_moments.items():
        kept = loaded.optimizer_state["m"][key]
        assert kept.dtype == np.dtype(dtype) and np.array_equal(kept, array), key
    assert loaded.normalizer.method == "zscore"
    assert np.array_equal(loaded.normalizer.offset, data.normalizer.offset)
    assert np.array_equal(loaded.normalizer.scale, data.normalizer.scale)
    assert loaded.classes.tolist() == classes
    assert [type(c) for c in loaded.classes.tolist()] == [type(c) for c in classes]
    assert loaded.image_shape == (2, 2)


def test_a_restored_routinizer_continues_with_the_same_generator(saved):
    routinizer, model = BasicRoutinizer.resume(saved.parent)
    generator = np.random.default_rng(1)
    generator.random(7)
    assert np.array_equal(routinizer.rng.random(5), generator.random(5))
    assert routinizer.state.epoch == 2 and routinizer.best_arrays is not None


def test_without_data_or_best_weights(tmp_path):
    model = Model.mlp([3, 2])
    routinizer = BasicRoutinizer(progress=False)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "plain.h5", model, routinizer))
    assert loaded.best_arrays is None and loaded.normalizer is None
    assert loaded.classes is None and loaded.image_shape is None and len(loaded.history) == 0
    X = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_every_dataset_has_a_checksum_and_nothing_is_pickled(saved):
    names = []
    with h5py.File(saved) as file:
        file.visititems(lambda name, item: names.append(name)
                        if isinstance(item, h5py.Dataset) else None)
        assert all(file[name].fletcher32 for name in names)
        assert all(file[name].dtype.kind in "fiS" for name in names)
        assert file.attrs["format"] == b"mlp-checkpoint"  # fixed-length: header-checksummed
        assert isinstance(file.attrs["format_version"], np.integer)
        json.loads(file.attrs["model_spec"])
    assert "model/0/weight" in names and "best/3/bias" in names
    assert {f"history/{c}" for c in HISTORY_COLUMNS} <= set(names)


def test_predict_applies_the_normalizer_and_decodes_labels(saved):
    loaded = load_checkpoint(saved)
    X = np.random.default_rng(5).normal(size=(30, 4)) * 3
    indices = loaded.model.predict(loaded.normalizer.apply(X))
    labels = loaded.predict(X)
    assert labels.tolist() == [["cat", "dog", "ünïcode"][i] for i in indices]
    assert all(type(label) is str for label in labels.tolist())
    proba = loaded.predict_proba(X)
    assert proba.shape == (30, 3) and np.array_equal(proba.argmax(axis=1), indices)


def test_regression_predict_returns_outputs(tmp_path):
    model, routinizer, data = make_run("float64", loss="mse")
    loaded = load_checkpoint(save_checkpoint(tmp_path / "r.h5", model, routinizer, data))
    X = np.ones((3, 4))
    expected = model.predict_logits(data.normalizer.apply(X))
    assert np.array_equal(loaded.predict(X), expected)


def test_save_is_fsynced_and_atomic(tmp_path, monkeypatch):
    model, routinizer, data = make_run()
    synced, replaced = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.setattr(os, "replace",
                        lambda src, dst: replaced.append((Path(src), Path(dst)))
                        or real_replace(src, dst))
    path = save_checkpoint(tmp_path / "deep" / "folder" / "last.h5", model, routinizer, data)
    assert len(synced) == 2  # the file, then the folder
    (source, target), = replaced
    assert target == path and source.parent == path.parent
    assert re.fullmatch(r"\.last\.h5\.[0-9a-f]{8}\.tmp", source.name)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.h5"]


def stale_superblock(build: Callable[..., bytes]) -> Callable[..., bytes]:
    """``hdf5.build_image`` whose image has the fault HDF5 1.14 gave images of open files: the
    superblock's end-of-file address changed after its checksum was computed."""
    def built(fill: Callable) -> bytes:
        image = bytearray(build(fill))
        image[28] ^= 0x10  # the superblock's end-of-file address, under its checksum
        return bytes(image)

    return built


@pytest.mark.parametrize("failure", ["mid-write", "rename", "does-not-read-back"])
def test_a_failed_save_keeps_the_previous_checkpoint(saved, monkeypatch, failure):
    before = saved.read_bytes()
    model, routinizer, data = make_run(classes=["a", "b", "c"], seed=9)
    if failure == "does-not-read-back":
        monkeypatch.setattr(hdf5, "build_image", stale_superblock(hdf5.build_image))
        expected, message = CheckpointError, (f"{re.escape(str(saved))}.*does not read back"
                                              f".*incorrect metadata checksum")
    elif failure == "mid-write":
        def broken(*args):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(checkpoint_module, "_write_data_facts", broken)
        expected, message = CheckpointError, f"{re.escape(str(saved))}.*disk on fire"
    else:
        def broken(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken)
        expected, message = CheckpointError, f"{re.escape(str(saved))}.*No space left"
    with pytest.raises(expected, match=message):
        save_checkpoint(saved, model, routinizer, data)
    assert saved.read_bytes() == before
    assert load_checkpoint(saved).classes.tolist() == ["cat", "dog", "ünïcode"]
    assert [p.name for p in saved.parent.iterdir()] == ["last.h5"]


def test_a_training_whose_save_does_not_read_back_fails_loudly(tmp_path, monkeypatch, capsys):
    from mlp.cli.commands import main

    config = {"name": "sin", "data": {"source": "sin", "n_train": 32, "n_val": 8},
              "model": {"hidden": [4]}, "train": {"epochs": 2, "loss": "mse"}}
    (tmp_path / "run.json").write_text(json.dumps(config))
    monkeypatch.setattr(hdf5, "build_image", stale_superblock(hdf5.build_image))
    code = main(["train", str(tmp_path / "run.json"), "--ckpt-root", str(tmp_path / "ckpt")])
    assert code == 2
    assert "does not read back" in capsys.readouterr().err
    assert not list((tmp_path / "ckpt").rglob("*.h5"))


def test_stale_temp_files_are_ignored_then_removed_by_the_next_trainer(saved):
    folder = saved.parent
    stale = [folder / ".last.h5.0f1e2d3c.tmp", folder / ".best.h5.abcd0123.tmp"]
    stale[0].write_bytes(saved.read_bytes()[:1000])
    stale[1].write_bytes(b"")
    kept = [folder / "notes.tmp", folder / ".hidden.txt", folder / ".last.h5.short.tmp"]
    for path in kept:
        path.write_text("mine")
    assert load_checkpoint(folder).state.epoch == 2
    save_checkpoint(saved, *make_run())  # a save alone touches no other file
    assert all(path.exists() for path in stale)
    rng = np.random.default_rng(0)
    BasicRoutinizer(epochs=1, progress=False, checkpoint_dir=folder).run(
        Model.mlp([4, 6, 3]), Data(rng.normal(size=(12, 4)), rng.integers(0, 3, 12)),
        overwrite=True)  # a new run in the folder of another
    assert not any(path.exists() for path in stale)
    assert all(path.read_text() == "mine" for path in kept)


def _flip_inside_weight(path: Path) -> None:
    with h5py.File(path, "r") as file:
        offset = file["model/0/weight"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as handle:
        handle.seek(offset + 5)
        byte = handle.read(1)[0]
        handle.seek(offset + 5)
        handle.write(bytes([byte ^ 0x10]))


def _edit(**attrs):
    def edit(path: Path) -> None:
        with h5py.File(path, "r+") as file:
            for name, value in attrs.items():
                file.attrs[name] = value
    return edit


def _edit_spec(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        spec = json.loads(file.attrs["model_spec"])
        spec["modules"][0]["in_features"] = -4
        file.attrs["model_spec"] = json.dumps(spec)


def _resize_weight(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        del file["optimizer/m/3/weight"]
        file.create_dataset("optimizer/m/3/weight", data=np.zeros((6, 4), np.float32),
                            fletcher32=True)


def _replace(name: str, array: np.ndarray, **attrs: str):
    def replace(path: Path) -> None:
        with h5py.File(path, "r+") as file:
            del file[name]
            dataset = file.create_dataset(name, data=array, fletcher32=True)
            dataset.attrs.update(attrs)
    return replace


def _delete(name: str):
    def delete(path: Path) -> None:
        with h5py.File(path, "r+") as file:
            del file[name]
    return delete


def _link(kind: str):
    def link(path: Path) -> None:
        copy = path.with_name("other.h5")
        copy.write_bytes(path.read_bytes())
        with h5py.File(path, "r+") as file:
            del file["model/0/weight"]
            file["model/0/weight"] = (h5py.ExternalLink(str(copy), "/model/0/weight")
                                      if kind == "external" else h5py.SoftLink("/best/0/weight"))
    return link


def _extra_filter(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        data = file["model/0/weight"][()]
        del file["model/0/weight"]
        file.create_dataset("model/0/weight", data=data, fletcher32=True, compression="gzip")


def _remove_format(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        del file.attrs["format"]


def _no_checksum(path: Path) -> None:
    with h5py.File(path, "r+") as file:
        data = file["model/0/bias"][()]
        del file["model/0/bias"]
        file.create_dataset("model/0/bias", data=data)


BAD_FILES = {
    "not hdf5": (lambda p: p.write_text("weights: [1, 2, 3]\n"), "not a readable HDF5 file"),
    "empty": (lambda p: p.write_bytes(b""), "not a readable HDF5 file"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
                  "HDF5|corrupt"),
    "flipped byte": (_flip_inside_weight, "model/0/weight.*checksum"),
    "wrong format": (_edit(format="other-format"), "format is 'other-format'"),
    "no format": (_remove_format, "no 'format' attribute"),
    "newer version": (_edit(format_version=7),
                      r"format_version 7 is newer than this library reads \(format_version 2\)"),
    "version type": (_edit(format_version="1"), "format_version should be an integer"),
    "missing weight": (_delete("model/3/weight"), "dataset 'model/3/weight' is missing"),
    "missing history": (_delete("history/lr"), "dataset 'history/lr' is missing"),
    "missing best": (_delete("best/0/bias"), "dataset 'best/0/bias' is missing"),
    "wrong shape": (_resize_weight, r"optimizer/m/3/weight' has shape \(6, 4\), expected \(6, 3\)"),
    "invalid spec": (_edit_spec, "in_features"),
    "invalid json": (_edit(routinizer="{not json"), "corrupt or inconsistent.*Invalid JSON"),
    "state type": (_edit(state=np.int64(3)), "attribute 'state' should be a string"),
    "state field type": (_edit(state='{"epoch": "many"}'), "epoch"),
    "normalizer width": (_replace("normalizer/scale", np.ones(5)),
                         r"'normalizer/scale' has shape \(5,\), expected \(4,\)"),
    "too many classes": (_replace("classes", np.arange(4), kind="int"),
                         "'classes' holds 4 labels, more than the model's 3 outputs"),
    "no checksum": (_no_checksum, "'model/0/bias' has no fletcher32 checksum"),
    "extra filter": (_extra_filter, r"'model/0/weight' has filters \['deflate', 'fletcher32'\]"),
    "external link": (_link("external"), "link 'model/0/weight' is of type ExternalLink"),
    "soft link": (_link("soft"), "link 'model/0/weight' is of type SoftLink"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_checkpoint_error_naming_file_and_problem(saved, case):
    corrupt, problem = BAD_FILES[case]
    corrupt(saved)
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(saved))}: .*({problem})"):
        load_checkpoint(saved)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_an_external_link_to_a_pipe_does_not_hang_the_load(saved):
    """Opening a FIFO blocks until a writer appears; the load must refuse the link instead
    of following it (run in a child process so a regression fails instead of hanging)."""
    pipe = saved.with_name("pipe")
    os.mkfifo(pipe)
    with h5py.File(saved, "r+") as file:
        del file["best"]
        file["best"] = h5py.ExternalLink(str(pipe), "/weights")
    script = ("import sys; from mlp.training.checkpoint import load_checkpoint\n"
              "try: load_checkpoint(sys.argv[1])\n"
              "except Exception as exc: print(type(exc).__name__, exc)")
    child = subprocess.run([sys.executable, "-c", script, str(saved)], capture_output=True,
                           text=True, timeout=30, env={**os.environ, "PYTHONPATH": ROOT})
    assert child.stdout.startswith(f"CheckpointError {saved}: link 'best' is of type "
                                   "ExternalLink"), child.stdout + child.stderr


def test_missing_file_and_empty_run_folder(tmp_path):
    with pytest.raises(CheckpointError, match=f"{re.escape(str(tmp_path / 'nope.h5'))}: no such"):
        load_checkpoint(tmp_path / "nope.h5")
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "last.h5"))):
        load_checkpoint(tmp_path)


@pytest.mark.skipif(shutil.which("h5ls") is None, reason="h5ls (hdf5-tools) not installed")
def test_h5ls_lists_the_layout(saved):
    listing = subprocess.run(["h5ls", "-r", str(saved)], capture_output=True, text=True,
                             check=True).stdout
    for name in ("/model/0/weight", "/optimizer/m/3/bias", "/best/0/weight", "/history/val_loss",
                 "/normalizer/offset", "/classes"):
        assert name in listing


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (hdf5-tools) not installed")
def test_h5dump_shows_the_checksum_filter(saved):
    header = subprocess.run(["h5dump", "-H", "-p", "-d", "/model/0/weight", str(saved)],
                            capture_output=True, text=True, check=True).stdout
    assert "FLETCHER32" in header.upper()


def test_describe_checkpoint_names_the_key_facts(saved):
    text = describe_checkpoint(saved)
    for fact in ("mlp-checkpoint version 2", "epoch: 2", "step: 14", "best loss: 0.5",
                 "at epoch 1", "Layer(4->6, he)", '"optimizer": "nesterov"', "cat, dog",
                 "zscore", "created: 20"):
        assert fact in text, fact


def test_runs_table_lists_runs_and_unreadable_ones(tmp_path, saved):
    root = saved.parent.parent
    model, routinizer, data = make_run()
    save_checkpoint(root / "second" / "last.h5", model, routinizer, data)
    (root / "broken").mkdir()
    (root / "broken" / "last.h5").write_text("nonsense")
    (root / "empty").mkdir()
    lines = runs_table(root).splitlines()
    assert lines[0].split()[:2] == ["run", "epochs"] and len(lines) == 5
    assert [line.split()[0] for line in lines[2:]] == ["broken", "run", "second"]
    assert lines[2].split()[1:8] == ["-"] * 6 + ["unreadable:"]
    assert "not a readable HDF5 file" in lines[2] and len(lines[1]) < 80  # note kept aside
    # epochs done, then the best epoch's row: the weights best.h5 holds
    assert lines[3].split()[1:6] == ["2", "1", "0.5", "-", "0.8"]
    assert "no runs" in runs_table(tmp_path / "missing")


def test_runs_table_finds_nested_runs_by_their_path_and_ends_on_a_link_loop(tmp_path):
    model, routinizer, data = make_run()
    for run in ("sweep/trial-0000/repeat-0", "sweep/trial-0000/repeat-1", "sweep/trial-0001",
                "plain"):
        save_checkpoint(tmp_path / run / "last.h5", model, routinizer, data)
    (tmp_path / "sweep" / "loop").symlink_to(tmp_path / "sweep")
    (tmp_path / "linked").symlink_to(tmp_path / "plain")
    names = [line.split()[0] for line in runs_table(tmp_path).splitlines()[2:]]
    assert names == ["linked", "plain", "sweep/trial-0000/repeat-0", "sweep/trial-0000/repeat-1",
                     "sweep/trial-0001"]
    names = [line.split()[0] for line in runs_table(tmp_path / "sweep").splitlines()[2:]]
    assert names == ["trial-0000/repeat-0", "trial-0000/repeat-1", "trial-0001"]


def test_best_checkpoint_predicts_raw_inputs_like_the_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(loc=50.0, scale=10.0, size=(120, 4))
    labels = np.where(X[:, 0] + X[:, 1] > 100, "high", "low")
    data = Data(X, labels).split_validation(0.25, seed=0).normalize("zscore")
    model = Model.mlp([4, 16, 2], seed=0)
    routinizer = BasicRoutinizer(epochs=8, batch_size=16, lr=0.01, progress=False,
                                 checkpoint_dir=tmp_path / "run")
    routinizer.run(model, data)
    X_raw = rng.normal(loc=50.0, scale=10.0, size=(30, 4))
    expected_last = data.decode(model.predict(data.normalizer.apply(X_raw)))
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "run" / "last.h5").predict(X_raw),
                                  expected_last)
    best_model = model.copy()
    for layer, (weight, bias) in zip(best_model.layers, zip(
            routinizer.best_arrays[::2], routinizer.best_arrays[1::2], strict=True), strict=True):
        layer.weight[...], layer.bias[...] = weight, bias
    best = load_checkpoint(tmp_path / "run" / "best.h5")
    predicted = best.predict(X_raw)
    np.testing.assert_array_equal(predicted,
                                  data.decode(best_model.predict(data.normalizer.apply(X_raw))))
    assert set(predicted.tolist()) <= {"high", "low"} and isinstance(predicted[0].item(), str)


@pytest.mark.parametrize("save_every_epochs", [None, 1, 3])
def test_best_h5_holds_the_best_epoch_as_a_run_stopped_there_would_have_saved_it(
        tmp_path, save_every_epochs):
    """best.h5 is the best epoch's whole checkpoint (weights, optimizer state, counters),
    whatever the cadence, while later epochs overwrite the last one's snapshot."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    data = Data(X[:40], y[:40], X_val=X[40:], y_val=y[40:])

    def train(epochs: int, folder: str) -> BasicRoutinizer:
        routinizer = BasicRoutinizer(epochs=epochs, batch_size=8, lr=0.01, seed=1,
                                     progress=False, checkpoint_dir=tmp_path / folder,
                                     save_every_epochs=save_every_epochs)
        routinizer.run(Model.mlp([4, 32, 2], seed=2), data)
        return routinizer

    routinizer = train(25, "long")
    best_epoch = routinizer.state.best_epoch
    assert best_epoch == 7  # the validation loss rises after it (overfitting)
    best = load_checkpoint(tmp_path / "long" / "best.h5")
    assert load_checkpoint(tmp_path / "long" / "last.h5").state.epoch == 25
    train(best_epoch, "short")
    stopped = load_checkpoint(tmp_path / "short" / "last.h5")
    assert best.state.epoch == stopped.state.epoch == best_epoch
    assert best.state.step == stopped.state.step
    assert best.state.rng_state == stopped.state.rng_state
    for key, array in stopped.model.state_dict().items():
        np.testing.assert_array_equal(best.model.state_dict()[key], array)
    for name, arrays in stopped.optimizer_state.items():
        for key, array in arrays.items():
            np.testing.assert_array_equal(best.optimizer_state[name][key], array)


def test_when_the_last_epoch_is_the_best_both_files_are_one_checkpoint_built_once(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    routinizer = BasicRoutinizer(epochs=4, batch_size=16, lr=1e-3, progress=False,
                                 checkpoint_dir=tmp_path / "run")
    routinizer.run(Model.mlp([3, 8, 2], seed=0), Data(X, (X[:, 0] > 0).astype(int)))
    assert routinizer.state.best_epoch == 4  # the training loss fell every epoch
    best, last = tmp_path / "run" / "best.h5", tmp_path / "run" / "last.h5"
    assert best.read_bytes() == last.read_bytes()
    assert load_checkpoint(best).state.epoch == load_checkpoint(last).state.epoch == 4

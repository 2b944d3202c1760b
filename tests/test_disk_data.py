"""Training splits read in place from HDF5 (``Data.from_hdf5``): block shuffling decided by the
run's generator alone, bit-identical resumes (mid-epoch included), streaming statistics equal
to the in-memory ones, conversion, and the bad inputs of a file on disk."""

from __future__ import annotations

import os
import signal

import h5py
import numpy as np
import pytest

from mlp.errors import CheckpointError, DataError
from mlp.nn.model import Model
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer, TrainingInterrupted
from preprocess import Data
from preprocess.convert import convert
from preprocess.disk import DiskSplit


def blobs(n: int = 1000, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(3, features))
    y = rng.integers(0, 3, size=n)
    return (centres[y] + rng.normal(size=(n, features))).astype(np.float32), y


@pytest.fixture
def data_file(tmp_path):
    X, y = blobs()
    Data(X[:800], y[:800], X_val=X[800:], y_val=y[800:]).save(tmp_path / "blobs.h5")
    return tmp_path / "blobs.h5"


def _open(path, **options) -> Data:
    options.setdefault("block_rows", 32)
    options.setdefault("buffer_rows", 128)
    return Data.from_hdf5(path, **options)


def test_every_row_is_drawn_once_an_epoch_in_an_order_only_the_generator_decides(data_file):
    data = _open(data_file)
    X = Data.load(data_file).X_train
    epochs = []
    for _ in range(2):
        rows = []
        for X_batch, _, _ in data.weighted_batches(50, np.random.default_rng(7)):
            assert X_batch.shape[0] == 50  # 800 rows: 16 full batches
            rows += [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in X_batch]
        epochs.append(rows)
    assert sorted(epochs[0]) == list(range(800))
    assert epochs[0] == epochs[1]  # the same generator state: the same batches
    other = [int(np.flatnonzero((X == row).all(axis=1))[0]) for X_batch, _, _ in
             data.weighted_batches(50, np.random.default_rng(8)) for row in X_batch]
    assert other != epochs[0] and sorted(other) == list(range(800))
    # a buffer of 128 rows mixes 4 blocks of 32: no batch comes from one block alone
    first = np.array(epochs[0][:50]) // 32
    assert len(set(first.tolist())) >= 3
    in_order = [X_batch.copy() for X_batch, _, _ in data.weighted_batches(300)]
    assert np.array_equal(np.concatenate(in_order), X)


def test_the_generator_draws_the_block_order_and_each_buffers_permutation(data_file):
    data = _open(data_file)
    rng = np.random.default_rng(3)
    batches = [X.copy() for X, _, _ in data.weighted_batches(1000, rng)]
    replay = np.random.default_rng(3)
    order = replay.permutation(25)  # 800 rows in blocks of 32
    X = Data.load(data_file).X_train
    expected = []
    for group in range(0, 25, 4):  # buffers of 4 blocks
        rows = np.concatenate([np.arange(b * 32, b * 32 + 32) for b in order[group:group + 4]])
        expected.append(rows[replay.permutation(rows.shape[0])])
    assert np.array_equal(batches[0], X[np.concatenate(expected)])
    assert rng.bit_generator.state == replay.bit_generator.state


def _train(folder, data, epochs, **options) -> tuple[BasicRoutinizer, Model]:
    model = Model.mlp([6, 16, 3], dropout=0.2, seed=3)
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=40, lr=0.01, seed=11,
                                 progress=False, checkpoint_dir=folder, **options)
    routinizer.run(model, data)
    return routinizer, model


def _same(model_a: Model, model_b: Model) -> bool:
    return all(np.array_equal(a, b) for (_, a), (_, b) in
               zip(model_a.named_arrays(), model_b.named_arrays(), strict=True))


def test_a_resumed_run_from_disk_is_bit_identical_to_an_uninterrupted_one(tmp_path, data_file):
    straight, straight_model = _train(tmp_path / "straight", _open(data_file).normalize(), 4)
    _train(tmp_path / "stopped", _open(data_file).normalize(), 2)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "stopped")
    routinizer.epochs = 4
    routinizer.run(model, _open(data_file).normalize())
    assert _same(model, straight_model)
    assert routinizer.history.val_loss == straight.history.val_loss
    assert routinizer.state.rng_state == straight.state.rng_state


def test_a_run_interrupted_mid_epoch_resumes_bit_identically(tmp_path, data_file,
                                                             monkeypatch):
    straight, straight_model = _train(tmp_path / "straight", _open(data_file), 3)
    reads = {"count": 0}
    read = DiskSplit.read

    def read_then_signal(self, *args):  # a real SIGINT, delivered in the third epoch
        reads["count"] += 1
        if reads["count"] == 2 * 7 + 3:
            os.kill(os.getpid(), signal.SIGINT)
        return read(self, *args)

    monkeypatch.setattr(DiskSplit, "read", read_then_signal)
    with pytest.raises(TrainingInterrupted):
        _train(tmp_path / "stopped", _open(data_file), 3)
    monkeypatch.setattr(DiskSplit, "read", read)
    assert load_checkpoint(tmp_path / "stopped" / "last.h5").state.epoch == 2
    routinizer, model = BasicRoutinizer.resume(tmp_path / "stopped")
    routinizer.run(model, _open(data_file))
    assert routinizer.state.epoch == 3 and _same(model, straight_model)


def test_the_checkpoint_records_the_datasets_by_content_and_refuses_a_changed_file(
        tmp_path, data_file):
    _train(tmp_path / "run", _open(data_file), 1)
    saved = load_checkpoint(tmp_path / "run" / "last.h5").state.data_fingerprint
    assert saved["source"] == "hdf5" and saved["datasets"] == ["X_train", "y_train"]
    assert str(data_file) not in str(saved)  # no path to trust: names and a content hash
    moved = tmp_path / "moved.h5"
    os.replace(data_file, moved)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run")
    routinizer.epochs = 2
    routinizer.run(model, _open(moved))  # the same content elsewhere is the same data
    X, y = blobs(seed=1)
    Data(X[:800], y[:800], X_val=X[800:], y_val=y[800:]).save(moved)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run")
    routinizer.epochs = 3
    with pytest.raises(CheckpointError, match="training data differ"):
        routinizer.run(model, _open(moved))


def test_streaming_statistics_equal_the_in_memory_ones(tmp_path):
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(70_000, 4)) * [1, 100, 1e-3, 5] + [0, 1e4, 3, -2]).astype(np.float64)
    X[:, 3] = 7.0  # a constant feature
    y = rng.integers(0, 2, size=X.shape[0])
    w = rng.uniform(0, 2, size=X.shape[0])
    w[::10] = 0
    path = tmp_path / "big.h5"
    Data(X, y, w_train=w).save(path)
    for method in ("zscore", "minmax"):
        for weights in (None, "w_train"):
            disk = Data.from_hdf5(path, w=weights).normalize(method)
            memory = Data(X, y, w_train=None if weights is None else w).normalize(method)
            np.testing.assert_allclose(disk.normalizer.offset, memory.normalizer.offset,
                                       rtol=1e-13, atol=0)
            np.testing.assert_allclose(disk.normalizer.scale, memory.normalizer.scale,
                                       rtol=1e-12, atol=0)
            assert disk.normalizer.scale[3] == 1.0 and disk.normalizer.offset[3] == 7.0
    disk = Data.from_hdf5(path).normalize()
    memory = Data(X, y).normalize()
    # the offsets differ in the last bits; divided by a scale of 1e-3 that stays below 1e-11
    np.testing.assert_allclose(disk.X_train[100:200], memory.X_train[100:200], rtol=0,
                               atol=1e-11)


def test_conversions_read_back_as_the_loaders_read_the_sources(tmp_path):
    X, y = blobs(n=300)
    labels = np.array(["circle", "square", "star"])[y]
    csv = tmp_path / "data.csv"
    lines = [",".join(f"{v:.5f}" for v in row) + f",{label}\n"
             for row, label in zip(X, labels, strict=True)]
    csv.write_text("a,b,c,d,e,f,shape\n" + "".join(lines))
    np.savez(tmp_path / "data.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    cases = {"csv": (csv, {}, Data.from_csv(csv)),
             "npz": (tmp_path / "data.npz", {}, Data.from_npz(tmp_path / "data.npz")),
             "npy": (tmp_path / "X.npy", {"labels": tmp_path / "y.npy"}, Data(X, y))}
    for name, (source, options, expected) in cases.items():
        out = tmp_path / f"{name}.h5"
        facts = convert(source, out, dtype="float64", progress=False, **options)
        assert facts == {"rows": 300, "features": 6, "task": "classification", "classes": 3}
        disk = Data.from_hdf5(out)
        assert np.array_equal(disk.X_train[0:300], expected.X_train), name
        assert np.array_equal(disk.y_train[0:300], expected.y_train), name
        assert disk.classes.tolist() == expected.classes.tolist(), name
        with h5py.File(out, "r", locking=False) as converted:
            assert converted["X_train"].fletcher32 and converted["y_train"].fletcher32
            assert converted["y_train"].chunks[0] == converted["X_train"].chunks[0]


def test_an_image_folder_converts_with_its_shape_and_scale(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("o", "x"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for index in range(5):
            Image.fromarray(rng.integers(0, 256, (3, 4), dtype=np.uint8)).save(
                tmp_path / "images" / label / f"{index}.png")
    convert(tmp_path / "images", tmp_path / "images.h5", progress=False)
    disk, memory = Data.from_hdf5(tmp_path / "images.h5"), Data.from_image_folder(
        tmp_path / "images")
    assert disk.image_shape == (3, 4) and disk.input_scale == 1.0
    assert np.array_equal(disk.X_train[0:10], memory.X_train)
    assert disk.decode(disk.y_train[0:10]).tolist() == memory.decode(memory.y_train).tolist()


def test_val_and_test_rows_are_held_out_of_training(tmp_path):
    X, y = blobs(n=500)
    path = tmp_path / "one.h5"
    Data(X, y).save(path)
    data = Data.from_hdf5(path, val_rows=(400, 450), test_rows=[450, 500])
    assert len(data) == 400 and np.array_equal(data.X_val, X[400:450])
    assert np.array_equal(data.X_test, X[450:])
    assert np.array_equal(data.decode(data.y_test), y[450:])
    with pytest.raises(DataError, match="must not overlap"):
        Data.from_hdf5(path, val_rows=(400, 460), test_rows=(450, 500))
    with pytest.raises(DataError, match=r"split_validation needs the training split in memory"):
        data.split_validation(0.1)


def test_mismatched_lengths_and_a_truncated_file_are_refused_by_name(tmp_path, data_file):
    with h5py.File(tmp_path / "short.h5", "w") as file:
        file.create_dataset("X_train", data=np.ones((10, 3)), fletcher32=True, chunks=(5, 3))
        file.create_dataset("y_train", data=np.arange(9) % 2, fletcher32=True, chunks=(5,))
    with pytest.raises(DataError, match=r"short.h5: datasets 'X_train' and 'y_train' need one "
                                        r"length, found 10 and 9 rows"):
        Data.from_hdf5(tmp_path / "short.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data_file.read_bytes()[:3000])
    with pytest.raises(DataError, match="truncated.h5: "):
        Data.from_hdf5(truncated)


def _corrupt_chunk(path, dataset: str, chunk: int) -> None:
    """Flip a byte inside stored chunk ``chunk`` of ``dataset`` (its checksum then fails)."""
    with h5py.File(path, "r") as file:
        info = file[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + 5)
        value = handle.read(1)[0]
        handle.seek(info.byte_offset + 5)
        handle.write(bytes([value ^ 0xFF]))


def test_a_chunk_failing_its_checksum_mid_epoch_names_the_rows_and_keeps_the_checkpoint(
        tmp_path):
    X, y = blobs(n=4000)
    path = tmp_path / "data.h5"
    rows = 500
    with h5py.File(path, "w") as file:
        file.create_dataset("X_train", data=X, fletcher32=True, chunks=(rows, 6))
        file.create_dataset("y_train", data=y, fletcher32=True, chunks=(rows,))
    routinizer, _ = _train(tmp_path / "run", Data.from_hdf5(path, val_rows=(3600, 4000)), 1)
    before = (tmp_path / "run" / "last.h5").read_bytes()
    _corrupt_chunk(path, "X_train", 1)
    data = Data.from_hdf5(path, val_rows=(3600, 4000))
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run", allow_data_change=True)
    routinizer.epochs = 2
    with pytest.raises(DataError, match=rf"dataset 'X_train' rows {rows}-{2 * rows - 1} cannot "
                                        "be read, its checksum or storage is corrupt"):
        routinizer.run(model, data)
    assert (tmp_path / "run" / "last.h5").read_bytes() == before
    assert load_checkpoint(tmp_path / "run" / "last.h5").state.epoch == 1


def test_non_finite_features_found_mid_stream_name_their_rows(tmp_path):
    X, y = blobs(n=2000)
    X[1234, 2] = np.nan
    with h5py.File(tmp_path / "nan.h5", "w") as file:
        file.create_dataset("X_train", data=X, fletcher32=True, chunks=(100, 6))
        file.create_dataset("y_train", data=y, fletcher32=True, chunks=(100,))
    data = Data.from_hdf5(tmp_path / "nan.h5")  # opening reads only the labels
    with pytest.raises(DataError, match=r"nan.h5: dataset 'X_train' row 1234 \(in rows "
                                        r"1200-1299\): expected finite features"):
        BasicRoutinizer(epochs=1, batch_size=64, progress=False).run(Model.mlp([6, 4, 3]), data)


def test_a_file_changed_under_a_running_trainer_stops_it_with_the_checkpoint_intact(
        tmp_path, data_file):
    data = _open(data_file)
    _train(tmp_path / "run", data, 1)
    before = (tmp_path / "run" / "last.h5").read_bytes()
    X, y = blobs(seed=4)
    Data(X[:800], y[:800]).save(data_file)  # replaced while the run's Data holds it open
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run")
    routinizer.epochs = 2
    with pytest.raises(DataError, match="blobs.h5: the data file changed while it was being "
                                        "trained on"):
        routinizer.run(model, data)
    assert (tmp_path / "run" / "last.h5").read_bytes() == before


def test_an_hdf5_source_trains_from_the_command_line(tmp_path, data_file, capsys):
    import json

    from fixtures.faults import cli

    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "name": "disk", "data": {"source": "hdf5", "path": "blobs.h5", "buffer_rows": 200},
        "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 32}}))
    status, out, err = cli(capsys, "train", config, "--ckpt-root", tmp_path)
    assert status == 0, err
    saved = load_checkpoint(tmp_path / "disk" / "last.h5")
    assert saved.state.epoch == 2 and saved.normalizer is not None
    status, out, err = cli(capsys, "data", "convert", tmp_path / "nope.csv", tmp_path / "o.h5")
    assert status == 2 and err == f"mlp data: DataError: {tmp_path / 'nope.csv'}: no such " \
                                  "input file\n"
    assert not (tmp_path / "o.h5").exists()


def test_a_data_file_declaring_more_than_it_stores_is_refused_on_opening(tmp_path):
    with h5py.File(tmp_path / "crafted.h5", "w") as file:
        file.create_dataset("X_train", shape=(10**7, 10**4), dtype="f4", chunks=(64, 64),
                            fletcher32=True)  # 400 GB declared, no chunk written
        file.create_dataset("y_train", data=np.arange(10) % 2, fletcher32=True, chunks=(5,))
    with pytest.raises(DataError, match=r"crafted.h5: dataset 'X_train' declares "
                                        r"400000000000 bytes but stores 0"):
        Data.from_hdf5(tmp_path / "crafted.h5")


def test_data_save_writes_the_chunk_layout_the_disk_reader_expects(tmp_path):
    X, y = blobs(n=5000, features=300)
    Data(X, y).save(tmp_path / "saved.h5")
    with h5py.File(tmp_path / "saved.h5", "r") as file:
        assert file["X_train"].chunks == (512, 300)  # 614 KB: the rows of 1 MiB or less
        assert file["y_train"].chunks == (512,)
        assert file["X_train"].fletcher32 and file["y_train"].fletcher32


def test_a_sweep_trains_its_trials_from_an_hdf5_source(tmp_path, data_file, capsys):
    import json

    from fixtures.faults import cli

    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({
        "name": "disk-sweep",
        "base": {"name": "base", "data": {"source": "hdf5", "path": str(data_file)},
                 "model": {"hidden": [8]}, "train": {"epochs": 1, "batch_size": 64}},
        "space": {"train.lr": {"choice": [0.01, 0.001]}}, "search": {"kind": "grid"}}))
    status, _, err = cli(capsys, "-q", "sweep", sweep, "--ckpt-root", tmp_path)
    assert status == 0, err
    trials = sorted((tmp_path / "disk-sweep").glob("trial-*/last.h5"))
    assert len(trials) == 2
    assert {load_checkpoint(t).config.lr for t in trials} == {0.01, 0.001}


def test_a_sweep_with_worker_processes_on_an_hdf5_source_is_refused_in_one_line(
        tmp_path, data_file):
    import json

    from fixtures.faults import mlp

    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({
        "name": "disk-sweep",
        "base": {"name": "base", "data": {"source": "hdf5", "path": str(data_file)},
                 "model": {"hidden": [8]}, "train": {"epochs": 1}},
        "space": {"train.lr": {"choice": [0.01, 0.001]}}, "search": {"kind": "grid"}}))
    result = mlp("sweep", sweep, "--workers", "2", "--ckpt-root", tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "mlp sweep: MLPError: a sweep on data read in place from HDF5 runs in one process: "
        "use --workers 1 (worker processes receive the data in memory)"], result.stderr


@pytest.mark.parametrize("options", [{"block_rows": 0}, {"buffer_rows": -5},
                                     {"block_rows": 2.5}])
def test_block_and_buffer_sizes_must_be_positive_row_counts(data_file, options):
    with pytest.raises(DataError, match=r"(block|buffer)_rows must be a positive number of rows"):
        Data.from_hdf5(data_file, **options)

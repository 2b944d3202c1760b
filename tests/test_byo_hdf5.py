"""HDF5 files other programs write, trained from in place (``Data.from_hdf5``, ``"source":
"hdf5"``) and converted (``mlp data convert``): contiguous or chunked in any shape, gzip, lzf,
shuffle, scaleoffset and nbit, with or without fletcher32, give the numbers of the same rows in
memory and resume bit-identically; a file without checksums says so in one warning; plugin
filters and oversized chunks are refused in one line that names the way on; crafted files
(chunks never written, chunks storing or inflating past their shape) are refused before HDF5
allocates for them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from fixtures.faults import child_env, cli

from mlp.errors import DataError
from mlp.nn.model import Model
from mlp.storage import hdf5
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data
from preprocess.bounded import ReadLimits
from preprocess.convert import convert

ROOT = Path(__file__).resolve().parents[1]
WARNING = "carry no fletcher32 checksum, so corruption in them cannot be detected"

#: how other programs write data sets: h5py's options for the features (the labels get the
#: same filters, in chunks of the features' rows)
KINDS = {
    "contiguous": {},
    "chunked in odd shapes": {"chunks": (37, 5)},
    "gzip, chunks guessed by h5py": {"compression": "gzip"},
    "lzf": {"compression": "lzf", "chunks": (64, 11)},
    "shuffle and gzip 9": {"shuffle": True, "compression": "gzip", "compression_opts": 9,
                           "chunks": (50, 3)},
    "gzip with fletcher32": {"compression": "gzip", "fletcher32": True, "chunks": (100, 11)},
    "shuffle, lzf and fletcher32": {"shuffle": True, "compression": "lzf", "fletcher32": True,
                                    "chunks": (128, 11)},
}


def _rows(n: int = 600, features: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=2.0, size=(3, features))
    y = rng.integers(0, 3, size=n)
    return (centres[y] + rng.normal(size=(n, features))).astype(np.float32), y


def _write(path: Path, X: np.ndarray, y: np.ndarray, **options: object) -> Path:
    """``X_train`` and ``y_train`` written by h5py with ``options`` (the labels in chunks
    of the features' rows)."""
    label_options = dict(options)
    if "chunks" in options:
        label_options["chunks"] = options["chunks"][:1]
    with h5py.File(path, "w") as file:
        file.create_dataset("X_train", data=X, **options)
        file.create_dataset("y_train", data=y, **label_options)
    return path


def _train(data: Data, shuffle: bool) -> tuple[list[float], np.ndarray]:
    routinizer = BasicRoutinizer(epochs=3, batch_size=40, lr=0.01, optimizer="adam",
                                 shuffle=shuffle, seed=5, progress=False)
    model = Model.mlp([11, 16, 3], seed=2)
    history = routinizer.run(model, data)
    return history.train_loss, model.state_dict()["0/weight"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_file_of_each_kind_trains_to_the_numbers_of_its_rows_in_memory(tmp_path, kind):
    X, y = _rows()
    path = _write(tmp_path / "other.h5", X, y, **KINDS[kind])
    # in file order: the very batches of the arrays in memory
    losses, weight = _train(Data.from_hdf5(path), shuffle=False)
    expected_losses, expected_weight = _train(Data(X, y), shuffle=False)
    assert losses == expected_losses
    np.testing.assert_array_equal(weight, expected_weight)
    # shuffled by blocks: the batches of the checksummed file Data.save writes
    Data(X, y).save(tmp_path / "saved.h5")
    blocks = {"block_rows": 25, "buffer_rows": 100}
    shuffled = _train(Data.from_hdf5(path, **blocks), shuffle=True)
    reference = _train(Data.from_hdf5(tmp_path / "saved.h5", **blocks), shuffle=True)
    assert shuffled[0] == reference[0] and np.array_equal(shuffled[1], reference[1])
    assert len(set(shuffled[0])) == 3 and shuffled[0] != losses  # the shuffle changed the order


def test_a_run_on_an_lzf_file_resumes_bit_identically(tmp_path):
    X, y = _rows()
    path = _write(tmp_path / "lzf.h5", X, y, compression="lzf", shuffle=True, chunks=(30, 11))

    def run(folder: Path, epochs: int) -> tuple[BasicRoutinizer, Model]:
        routinizer = BasicRoutinizer(epochs=epochs, batch_size=40, seed=5, progress=False,
                                     checkpoint_dir=folder)
        model = Model.mlp([11, 16, 3], seed=2)
        routinizer.run(model, Data.from_hdf5(path, buffer_rows=90).normalize())
        return routinizer, model

    straight, straight_model = run(tmp_path / "straight", 4)
    run(tmp_path / "stopped", 2)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "stopped")
    routinizer.epochs = 4
    routinizer.run(model, Data.from_hdf5(path, buffer_rows=90).normalize())
    assert routinizer.history.train_loss == straight.history.train_loss
    for name, array in straight_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], array)


def test_the_normaliser_and_held_out_rows_of_a_gzip_file_are_those_of_memory(tmp_path):
    X, y = _rows()
    path = _write(tmp_path / "gzip.h5", X, y, compression="gzip", chunks=(70, 4))
    disk = Data.from_hdf5(path, val_rows=(500, 600)).normalize()
    memory = Data(X[:500], y[:500], X_val=X[500:], y_val=y[500:]).normalize()
    np.testing.assert_allclose(disk.normalizer.offset, memory.normalizer.offset, rtol=1e-12)
    np.testing.assert_allclose(disk.normalizer.scale, memory.normalizer.scale, rtol=1e-12)
    np.testing.assert_array_equal(disk.X_val, memory.X_val)
    np.testing.assert_array_equal(disk.X_train[123:321], memory.X_train[123:321])


def test_a_contiguous_dataset_is_read_in_blocks_of_about_a_mebibyte_not_whole(tmp_path):
    X = np.zeros((5000, 300), np.float32)  # 6 MB, no chunks
    path = _write(tmp_path / "contiguous.h5", X, np.arange(5000) % 2)
    split = Data.from_hdf5(path).disk
    assert split.block_rows == 512  # 614 KB: the rows of 1 MiB or less, as Data.save chunks
    assert len(split.pieces()) == 10


def test_a_file_without_checksums_trains_with_one_warning_saying_so(tmp_path, caplog):
    X, y = _rows()
    path = _write(tmp_path / "plain.h5", X, y, compression="lzf")
    with caplog.at_level(logging.WARNING, logger="mlp"):
        Data.from_hdf5(path, val_rows=(0, 100)).normalize()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{path}: datasets 'X_train', 'y_train' {WARNING} (mlp data convert "
                        f"writes a checksummed copy)"]
    caplog.clear()
    checked = _write(tmp_path / "checked.h5", X, y, compression="lzf", fletcher32=True)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        Data.from_hdf5(checked)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_mlp_train_from_an_unchecksummed_gzip_file_warns_once_and_trains(tmp_path):
    X, y = _rows()
    _write(tmp_path / "gzip.h5", X, y, compression="gzip")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "name": "gzip", "data": {"source": "hdf5", "path": "gzip.h5", "val_rows": [0, 100],
                                 "normalize": "zscore"},
        "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 32}}))
    result = subprocess.run([sys.executable, "-m", "mlp.cli", "train", str(config),
                             "--ckpt-root", str(tmp_path)], capture_output=True, text=True,
                            cwd=ROOT, env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(WARNING) == 1, result.stderr
    assert load_checkpoint(tmp_path / "gzip" / "last.h5").state.epoch == 2


def _plugin_file(path: Path) -> Path:
    """Features through filter 32001 (blosc, registered with the HDF Group, a plugin
    library not installed here): made optional, so HDF5 writes the chunks without it."""
    X, y = _rows()
    with h5py.File(path, "w") as file:
        create = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        create.set_chunk((100, 11))
        create.set_filter(32001, h5py.h5z.FLAG_OPTIONAL, (0, 0, 0, 0, 5, 1, 1))
        space = h5py.h5s.create_simple(X.shape)
        h5py.Dataset(h5py.h5d.create(file.id, b"X_train", h5py.h5t.IEEE_F32LE, space,
                                     dcpl=create))[...] = X
        file.create_dataset("y_train", data=y)
    return path


def test_a_filter_that_needs_a_plugin_is_refused_in_one_line_naming_it(tmp_path):
    assert not h5py.h5z.filter_avail(32001)
    path = _plugin_file(tmp_path / "blosc.h5")
    for attempt in (lambda: Data.from_hdf5(path),
                    lambda: convert(path, tmp_path / "out.h5", progress=False)):
        with pytest.raises(DataError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith(f"{path}: dataset 'X_train' uses HDF5 filter 32001 (blosc), "
                                  "which needs a plugin library")
        assert "\n" not in message and "mlp data convert" in message
    assert not (tmp_path / "out.h5").exists()


def test_a_chunk_past_the_read_limit_is_refused_in_one_line_naming_convert(tmp_path, capsys):
    X, y = _rows()
    path = _write(tmp_path / "big-chunks.h5", X, y, compression="gzip", chunks=(600, 11))
    with pytest.raises(DataError) as caught:
        Data.from_hdf5(path, limits=ReadLimits(max_chunk_bytes=16384))
    assert str(caught.value) == (
        f"{path}: dataset 'X_train' has chunks of shape (600, 11): the rows they span are "
        "26400 bytes decompressed, more than the limit of 16384 (max_chunk_bytes): raise it "
        "if memory allows, or write a copy in chunks of 1 MiB: mlp data convert "
        "big-chunks.h5 OUT.h5 --max-chunk-bytes 26400")
    # chunks of whole columns: each is small, but a block of rows decodes all of them
    columns = _write(tmp_path / "columns.h5", X, y, compression="gzip", chunks=(600, 1))
    with pytest.raises(DataError, match=r"columns.h5: dataset 'X_train' has chunks of shape "
                                        r"\(600, 1\): the rows they span are 26400 bytes"):
        Data.from_hdf5(columns, limits=ReadLimits(max_chunk_bytes=16384))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "name": "big", "data": {"source": "hdf5", "path": str(path), "max_chunk_bytes": 16384},
        "model": {"hidden": [8]}, "train": {"epochs": 1}}))
    status, _, err = cli(capsys, "train", config, "--ckpt-root", tmp_path)
    assert status == 2 and err.count("\n") == 1 and "mlp data convert" in err
    status, _, err = cli(capsys, "data", "convert", path, tmp_path / "small.h5",
                         "--max-chunk-bytes", "26400")
    assert status == 0, err
    with h5py.File(tmp_path / "small.h5", "r") as file:
        chunks = file["X_train"].chunks
        assert chunks[1] == 11 and chunks[0] * 11 * 4 <= 1 << 20 and file["X_train"].fletcher32
    assert len(Data.from_hdf5(tmp_path / "small.h5")) == 600


def test_a_compressed_dataset_with_chunks_never_written_is_refused_on_opening(tmp_path):
    with h5py.File(tmp_path / "crafted.h5", "w") as file:
        features = file.create_dataset("X_train", shape=(10**7, 10**4), dtype="f4",
                                       chunks=(64, 64), compression="gzip")  # 400 GB
        features[:64, :64] = 1.0  # one chunk of 3.8 million
        file.create_dataset("y_train", data=np.arange(10) % 2)
    with pytest.raises(DataError, match=r"crafted.h5: dataset 'X_train' declares 24531250 "
                                        r"chunks but stores 1; the file is truncated or crafted"):
        Data.from_hdf5(tmp_path / "crafted.h5")


def test_convert_takes_a_gzip_file_and_writes_a_checksummed_copy(tmp_path, capsys):
    X, y = _rows()
    path = tmp_path / "theirs.h5"
    with h5py.File(path, "w") as file:  # string labels, chunks of h5py's choice
        file.create_dataset("X", data=X.astype(np.float64), compression="gzip")
        file.create_dataset("y", data=np.array(["cat", "dog", "emu"], object)[y],
                            dtype=h5py.string_dtype())
    with pytest.raises(DataError, match=r"labels 'y' are strings \(object\); a data file "
                                        r"holds class codes: mlp data convert theirs.h5 OUT.h5"):
        Data.from_hdf5(path, "X", "y")
    status, out, err = cli(capsys, "data", "convert", path, tmp_path / "ours.h5")
    assert status == 0, err
    assert out == f"{tmp_path / 'ours.h5'}: 600 rows of 11 features, classification, 3 classes\n"
    with h5py.File(tmp_path / "ours.h5", "r") as file:
        assert all(file[name].fletcher32 and file[name].compression is None
                   for name in ("X_train", "y_train"))
    copy = Data.load(tmp_path / "ours.h5")
    np.testing.assert_array_equal(copy.X_train, X)
    assert copy.classes.tolist() == ["cat", "dog", "emu"]
    losses, _ = _train(Data.from_hdf5(tmp_path / "ours.h5"), shuffle=False)
    assert losses == _train(Data(X, y), shuffle=False)[0]


def test_convert_keeps_the_splits_of_a_file_and_regression_targets(tmp_path):
    X, _ = _rows()
    targets = X[:, :2].astype(np.float64) * 2.0
    path = tmp_path / "regression.h5"
    with h5py.File(path, "w") as file:
        for split, rows in (("train", slice(0, 500)), ("val", slice(500, 600))):
            file.create_dataset(f"X_{split}", data=X[rows], compression="lzf", shuffle=True)
            file.create_dataset(f"y_{split}", data=targets[rows], compression="lzf")
    facts = convert(path, tmp_path / "ours.h5", progress=False)
    assert facts == {"rows": 500, "features": 11, "task": "regression", "classes": None}
    copy = Data.load(tmp_path / "ours.h5")
    np.testing.assert_array_equal(copy.X_val, X[500:])
    np.testing.assert_array_equal(copy.y_train, targets[:500])


def test_checkpoints_and_data_load_still_require_fletcher32_alone(tmp_path):
    X, y = _rows()
    Data(X, y).save(tmp_path / "saved.h5")
    for options, problem in (({"compression": "gzip"}, "has no fletcher32 checksum"),
                             ({"compression": "gzip", "fletcher32": True},
                              r"has filters \['deflate', 'fletcher32'\]")):
        with h5py.File(tmp_path / "saved.h5", "a") as file:
            del file["X_train"]
            file.create_dataset("X_train", data=X, **options)
        with pytest.raises(DataError, match=f"dataset 'X_train' {problem}"):
            Data.load(tmp_path / "saved.h5")


def test_a_gzip_chunk_that_inflates_past_its_shape_is_refused_before_hdf5_inflates_it(
        tmp_path):
    """HDF5's gzip filter grows its buffer as long as the stream inflates: 16 KB stored in a
    chunk declared as 16 KiB would become 16 MiB there (a 1 MB chunk, 1 GB)."""
    zeros = zlib.compressobj(9)
    bomb = b"".join(zeros.compress(bytes(1 << 20)) for _ in range(16)) + zeros.flush()
    assert len(bomb) < 64 * 64 * 4
    with h5py.File(tmp_path / "bomb.h5", "w") as file:
        features = file.create_dataset("X_train", shape=(64, 64), dtype="f4", chunks=(64, 64),
                                       compression="gzip")
        features.id.write_direct_chunk((0, 0), bomb)
        file.create_dataset("y_train", data=np.arange(64) % 2)
    with pytest.raises(DataError, match=r"bomb.h5: dataset 'X_train' stores a gzip chunk at "
                                        r"\(0, 0\) that decodes past its declared 16384 bytes"):
        Data.from_hdf5(tmp_path / "bomb.h5")


def _mark_open_for_writing(path: Path) -> None:
    """Set the superblock's "open for writing" flag, as a writer that has not closed the
    file (or stopped without closing it) leaves it, and fix the superblock's checksum."""
    image = bytearray(path.read_bytes())
    assert image[8] in (2, 3)  # a version 2 or 3 superblock: flags at byte 11
    image[11] = 1
    image[44:48] = hdf5._lookup3(bytes(image[:44])).to_bytes(4, "little")
    path.write_bytes(bytes(image))


def test_a_large_file_marked_open_for_writing_is_refused_not_copied_into_memory(
        tmp_path, monkeypatch):
    X, y = _rows()
    path = tmp_path / "held.h5"
    with h5py.File(path, "w", libver="latest") as file:
        file.create_dataset("X_train", data=X, compression="gzip")
        file.create_dataset("y_train", data=y)
    _mark_open_for_writing(path)
    assert len(Data.from_hdf5(path)) == 600  # small: read from a copy in memory
    monkeypatch.setattr(hdf5, "_HELD_IMAGE_BYTES", 1000)
    with pytest.raises(DataError, match=r"held.h5: marked as open for writing by another "
                                        r"program, or by one that stopped without closing it "
                                        r".*clear the mark with h5clear -s held.h5$"):
        Data.from_hdf5(path)


def test_scaleoffset_and_nbit_files_train_on_the_values_they_store(tmp_path):
    X, y = _rows()
    path = tmp_path / "scaleoffset.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("X_train", data=X, chunks=(50, 11), scaleoffset=3)  # lossy
        create = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        create.set_chunk((50,))
        create.set_filter(h5py.h5z.FILTER_NBIT, h5py.h5z.FLAG_OPTIONAL)
        labels = h5py.Dataset(h5py.h5d.create(file.id, b"y_train", h5py.h5t.STD_I64LE,
                                              h5py.h5s.create_simple(y.shape), dcpl=create))
        labels[...] = y
    with h5py.File(path, "r") as file:
        stored = file["X_train"][()]
    assert 0 < np.abs(stored - X).max() < 1e-3  # three decimal digits kept
    losses, _ = _train(Data.from_hdf5(path), shuffle=False)
    assert losses == _train(Data(stored, y), shuffle=False)[0]


def test_a_chunk_storing_more_than_its_shape_is_refused(tmp_path):
    with h5py.File(tmp_path / "long.h5", "w") as file:
        features = file.create_dataset("X_train", shape=(64, 64), dtype="f4", chunks=(64, 64),
                                       compression="lzf")
        features.id.write_direct_chunk((0, 0), bytes(1 << 20))  # 1 MiB for 16 KiB
        file.create_dataset("y_train", data=np.arange(64) % 2)
    with pytest.raises(DataError, match=r"long.h5: dataset 'X_train' stores a chunk at \(0, 0\) "
                                        r"of 1048576 bytes, more than its declared 16384; the "
                                        r"file is crafted"):
        Data.from_hdf5(tmp_path / "long.h5")

"""``mlp data convert SRC OUT.h5``: CSV, ``.npz``, ``.npy``, image folders and HDF5 files of
other programs to the data file layout (``preprocess.data_file``), in bounded memory.

Features are streamed: CSV in blocks of ``bounded.BLOCK_ROWS`` rows, ``.npy`` arrays and
``.npz`` members in blocks of rows read from the file (or the zip stream), images one at a
time, HDF5 datasets (any chunking, gzip, lzf, with or without checksums: what
``Data.from_hdf5`` reads) in blocks of rows; each block is appended to a chunked,
fletcher32-checksummed dataset of a file written beside ``OUT.h5`` and renamed over it at
the end (``mlp.storage.hdf5.StreamWriter``), so a failure leaves no partial file. Memory is one
block of features plus the targets (8 bytes a row for class codes or a regression value:
labels are encoded once all of them are known). Every input check of the loaders applies
(sizes before allocation, non-regular files refused, non-finite values named by line or
row). A progress bar counts rows when stderr is a terminal.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from tqdm import tqdm

from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.storage import hdf5
from mlp.storage.output_paths import refuse_clobbering
from mlp.storage.regular_files import open_regular
from preprocess import bounded, data_file, disk_open, loaders
from preprocess.bounded import DEFAULT_LIMITS, ReadLimits

#: bytes of features read from a ``.npy``/``.npz`` array at a time
STREAM_BYTES = 16 << 20
#: names of HDF5 files
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")


def convert(source: str | Path, out: str | Path, *, labels: str | Path | None = None,
            target: int | str = -1, delimiter: str = ",", task: str = "auto",
            x_key: str = "X", y_key: str = "y", dtype: str = "float32",
            limits: ReadLimits = DEFAULT_LIMITS, progress: bool | None = None) -> dict:
    """Write the data of a file or folder as a data file (``mlp data convert``).

    Read block by block, so a source larger than memory converts.

    Parameters
    ----------
    source : str or Path
        A ``.csv``, ``.npz`` or ``.npy`` file (whose targets are the ``.npy`` file
        ``labels``), an HDF5 file ``.h5``/``.hdf5``, or a folder ``<label>/*.png|bmp|jpg``.
    out : str or Path
        The data file to write.
    labels : str or Path, optional
        The targets of a ``.npy`` source.
    target, delimiter, task
        ``Data.from_csv``'s.
    x_key, y_key : str, default "X", "y"
        The arrays (or datasets) of an ``.npz`` (or HDF5) file without ``X_train``/``y_train``.
    dtype : str, default "float32"
        The features' floating type in ``out``.
    limits : ReadLimits, default DEFAULT_LIMITS
        The limits of the source's reader (``Data.from_csv``'s, ``from_npz``'s...).
    progress : bool, optional
        Show a bar; None shows one when stderr is a terminal.

    Returns
    -------
    dict
        ``{"rows", "features", "task", "classes"}``.
    """
    source, out = Path(source), Path(out)
    refuse_clobbering([out], {source: "the data being converted",
                              labels: "the labels being converted"})
    dtype_ = np.dtype(dtype)
    if dtype_.kind != "f":
        raise DataError(f"features are stored as float32 or float64, found dtype {dtype}")
    bar = tqdm(unit=" rows", unit_scale=True, desc=f"converting {source.name}",
               disable=None if progress is None else not progress, leave=False)
    with bar, hdf5.StreamWriter(out) as writer:
        if source.is_dir():
            facts = _images(source, writer, dtype_, limits, bar)
        elif source.suffix.lower() == ".csv":
            facts = _csv(source, writer, dtype_, target, delimiter, task, limits, bar)
        elif source.suffix.lower() in (".npz", ".npy"):
            facts = _arrays(source, labels, writer, dtype_, x_key, y_key, task, limits, bar)
        elif source.suffix.lower() in HDF5_SUFFIXES:
            facts = _hdf5(source, writer, dtype_, x_key, y_key, task, limits, bar)
        else:
            raise DataError(f"{source}: expected a .csv, .npz, .npy or .h5 file or a folder "
                            "of image folders to convert")
        writer.write(lambda file: data_file.write_facts(file, facts["task"], facts.get("classes"),
                              facts.get("image_shape"), facts.get("input_scale")))
        writer.commit()
    rows = facts["rows"]
    classes = facts.get("classes")
    return {"rows": rows, "features": facts["features"], "task": facts["task"],
            "classes": None if classes is None else len(classes)}


def _encode(source: Path, labels: np.ndarray, task: str
            ) -> tuple[str, np.ndarray, np.ndarray | None]:
    """``(task, stored targets, classes)``: class labels become int64 codes into their sorted
    unique values; regression targets float64 ``(N, k)``."""
    if task == "auto":
        task = "regression" if labels.dtype.kind == "f" and labels.ndim == 2 else "classification"
    if task == "regression":
        if labels.dtype.kind not in "fiub":
            raise DataError(f"{source}: regression needs numeric targets, found {labels.dtype}")
        values = labels.astype(np.float64).reshape(labels.shape[0], -1)
        if not all_finite(values):
            raise DataError(f"{source}: expected finite regression targets, found NaN or inf")
        return task, values, None
    if labels.ndim != 1:
        raise DataError(f"{source}: class labels must have ndim 1, found shape {labels.shape}")
    classes, codes = np.unique(labels, return_inverse=True)
    if classes.shape[0] < 2:
        raise DataError(f"{source}: classification needs at least 2 classes, found "
                        f"{classes.tolist()}")
    return task, codes.reshape(-1).astype(np.int64), classes


def _finish(source: Path, writer: hdf5.StreamWriter, key: str, labels: np.ndarray, task: str,
            rows: int, features: int) -> dict:
    task, targets, classes = _encode(source, labels, task)
    if targets.shape[0] != rows:
        raise DataError(f"{source}: {rows} feature rows and {targets.shape[0]} targets; "
                        "expected one target a row")
    writer.append(key, targets, writer.rows_per_chunk(f"X{key[1:]}"))
    return {"task": task, "classes": classes, "rows": rows, "features": features}


# -------------------------------------------------------------------------------- CSV
def _csv(source: Path, writer: hdf5.StreamWriter, dtype: np.dtype, target: int | str,
         delimiter: str, task: str, limits: ReadLimits, bar: tqdm) -> dict:
    _, blocks = loaders.csv_blocks(source, target, "auto", delimiter, limits)
    texts, rows, width = [], 0, 0
    for features, labels in blocks:
        writer.append("X_train", features.astype(dtype))
        texts.append(labels)
        rows, width = rows + features.shape[0], features.shape[1]
        bar.update(features.shape[0])
    targets = loaders.csv_targets(source, np.concatenate(texts), task)
    if task == "auto":
        task = "regression" if targets.ndim == 2 else "classification"
    return _finish(source, writer, "y_train", targets, task, rows, width)


# ----------------------------------------------------------------------- .npy / .npz
def _row_blocks(handle: IO[bytes], shape: tuple[int, ...], fortran: bool, dtype: np.dtype,
                where: str) -> Iterator[np.ndarray]:
    """The rows of a C-order ``.npy`` payload at ``handle``, ``STREAM_BYTES`` at a time."""
    if fortran and len(shape) > 1:
        raise DataError(f"{where}: a Fortran-order array cannot be streamed by rows; save it "
                        "in C order (np.ascontiguousarray) first")
    row_items = int(np.prod(shape[1:], dtype=np.int64))
    readinto = bounded.readinto_of(handle)
    step = max(1, STREAM_BYTES // max(1, row_items * dtype.itemsize))
    for start in range(0, shape[0], step):
        m = min(step, shape[0] - start)
        block = np.empty((m, *shape[1:]), dtype)
        view, done = block.data.cast("B"), 0
        while done < view.nbytes:
            got = readinto(view[done:])
            if not got:
                raise DataError(f"{where}: truncated in rows {start}-{start + m - 1}")
            done += got
        yield block


def _features(blocks: Iterator[np.ndarray], writer: hdf5.StreamWriter, key: str,
              dtype: np.dtype, where: str, bar: tqdm) -> tuple[int, int]:
    rows = width = 0
    for block in blocks:
        if block.ndim != 2 or block.dtype.kind not in "fiub":
            raise DataError(f"{where}: features must be a numeric (N, D) array, found "
                            f"{block.dtype} rows of shape {block.shape[1:]}")
        if not all_finite(block.astype(dtype, copy=False)):
            bad = int(np.argmax(~np.isfinite(block).all(axis=1)))
            raise DataError(f"{where}: row {rows + bad} (in rows {rows}-"
                            f"{rows + block.shape[0] - 1}): expected finite features")
        writer.append(key, block.astype(dtype, copy=False))
        rows, width = rows + block.shape[0], block.shape[1]
        bar.update(block.shape[0])
    return rows, width


def _arrays(source: Path, labels: str | Path | None, writer: hdf5.StreamWriter,
            dtype: np.dtype, x_key: str, y_key: str, task: str, limits: ReadLimits,
            bar: tqdm) -> dict:
    if source.suffix.lower() == ".npy":
        if labels is None:
            raise DataError(f"{source}: a .npy file holds features only; give the targets "
                            "as --labels Y.npy")
        shape, fortran, array_dtype, offset = bounded.npy_header_of(source)
        with open_regular(source, DataError) as handle:
            handle.seek(offset)
            rows, width = _features(_row_blocks(handle, shape, fortran, array_dtype,
                                                str(source)), writer, "X_train", dtype,
                                    str(source), bar)
        return _finish(source, writer, "y_train", bounded.read_npy(labels, limits), task,
                       rows, width)
    with open_regular(source, DataError) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{source}: expected an .npz archive ({exc})") from exc
        with archive:
            names = {n[:-4] if n.endswith(".npy") else n: n for n in archive.namelist()}
            pairs = [(f"X_{s}", f"y_{s}") for s in ("train", "val", "test")
                     if f"X_{s}" in names and f"y_{s}" in names]
            if "X_train" not in names:
                if x_key not in names or y_key not in names:
                    raise DataError(f"{source}: expected arrays {x_key!r} and {y_key!r} (or "
                                    f"'X_train' and 'y_train'), found {sorted(names)}")
                pairs = [(x_key, y_key)]
            facts = {}
            all_labels = {}
            for x_name, y_name in pairs:
                key = "X_train" if x_name == x_key else x_name
                where = f"{source} (member {names[x_name]!r})"
                with archive.open(names[x_name]) as member:
                    shape, fortran, array_dtype = bounded.npy_header(member, source,
                                                                      f" ({names[x_name]})")
                    if len(shape) != 2:
                        raise DataError(f"{where}: features must be (N, D), found {shape}")
                    rows, width = _features(_row_blocks(member, shape, fortran, array_dtype,
                                                        where), writer, key, dtype, where, bar)
                facts[key] = (rows, width)
                all_labels[key] = bounded.read_member(archive, archive.getinfo(names[y_name]),
                                                       source)
    return _encode_splits(source, writer, all_labels, facts, task)


def _encode_splits(source: Path, writer: hdf5.StreamWriter, labels: dict[str, np.ndarray],
                   facts: dict[str, tuple[int, int]], task: str) -> dict:
    """Targets of every split encoded against the classes of all of them together."""
    keys = list(labels)
    joined = np.concatenate([labels[k] for k in keys])
    task, targets, classes = _encode(source, joined, task)
    bounds = np.cumsum([labels[k].shape[0] for k in keys])[:-1]
    for key, part in zip(keys, np.split(targets, bounds), strict=True):
        rows = facts[key][0]
        if part.shape[0] != rows:
            raise DataError(f"{source}: {key} has {rows} rows and its targets "
                            f"{part.shape[0]}; expected one target a row")
        writer.append(f"y{key[1:]}", part, writer.rows_per_chunk(key))
    return {"task": task, "classes": classes, "rows": facts["X_train"][0],
            "features": facts["X_train"][1]}


# ------------------------------------------------------------------------------ HDF5
def _hdf5(source: Path, writer: hdf5.StreamWriter, dtype: np.dtype, x_key: str, y_key: str,
          task: str, limits: ReadLimits, bar: tqdm) -> dict:
    """Datasets ``X_train``/``y_train`` (and ``X_val``/``y_val``, ``X_test``/``y_test``)
    of an HDF5 file, or ``x_key``/``y_key`` when it has no ``X_train``, read as
    ``Data.from_hdf5`` reads them (any chunking, built-in filters, checksums optional):
    features in blocks of whole chunks, labels (numbers or strings; codes into a
    ``classes`` dataset) whole."""
    with hdf5.SafeReader(source, DataError, foreign=True,
                         max_chunk_bytes=limits.max_chunk_bytes) as reader:
        pairs = [(f"X_{s}", f"y_{s}") for s in ("train", "val", "test")
                 if reader.has(f"X_{s}") and reader.has(f"y_{s}")]
        if not reader.has("X_train"):
            pairs = [(x_key, y_key)]
        classes = reader.classes() if reader.has("classes") and pairs[0][0] == "X_train" \
            else None
        labels, facts = {}, {}
        for x_name, y_name in pairs:
            key = "X_train" if x_name == x_key else x_name
            rows = reader.rows(x_name, kinds="fiub", ndim=2)
            facts[key] = _features(_chunk_blocks(rows), writer, key, dtype,
                                   f"{source} (dataset {x_name!r})", bar)
            stored = reader.labels(y_name)
            labels[key] = stored if classes is None else classes[stored]
        disk_open.warn_unchecked(reader, copying=True)
        image_shape = reader.image_shape()
        scale = reader.attribute("input_scale")
        if task == "auto":  # as Data.from_hdf5 decides it
            task = reader.text("task") if reader.attribute("task") is not None else (
                "regression" if labels["X_train"].dtype.kind == "f" else "classification")
    found = _encode_splits(source, writer, labels, facts, task)
    return {**found, "image_shape": image_shape,
            "input_scale": None if scale is None else float(scale)}


def _chunk_blocks(rows: hdf5.Rows) -> Iterator[np.ndarray]:
    """The rows of a dataset in blocks of whole chunks, about ``STREAM_BYTES`` each."""
    row_bytes = max(1, rows.dtype.itemsize * int(np.prod(rows.shape[1:], dtype=np.int64)))
    step = max(1, STREAM_BYTES // row_bytes // rows.chunk_rows) * rows.chunk_rows
    for start in range(0, rows.shape[0], step):
        block = np.empty((min(step, rows.shape[0] - start), *rows.shape[1:]), rows.dtype)
        rows.read(start, start + block.shape[0], block)
        yield block


# ----------------------------------------------------------------------------- images
def _images(root: Path, writer: hdf5.StreamWriter, dtype: np.dtype, limits: ReadLimits,
            bar: tqdm) -> dict:
    files, names = loaders.image_files_of(root)
    shape: tuple[int, int] | None = None
    block: list[np.ndarray] = []
    for path in files:
        image = bounded.read_image(path, shape, limits,
                                   like=f"the first image {files[0]}")
        shape = image.shape
        block.append(image.reshape(-1))
        if len(block) == 1024:
            writer.append("X_train", np.stack(block).astype(dtype))
            bar.update(len(block))
            block = []
    if block:
        writer.append("X_train", np.stack(block).astype(dtype))
        bar.update(len(block))
    assert shape is not None  # image_files_of refuses a folder without images
    facts = _finish(root, writer, "y_train", np.array(names), "classification", len(files),
                    shape[0] * shape[1])
    return {**facts, "image_shape": shape, "input_scale": 1.0}


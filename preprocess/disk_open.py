"""Opening an HDF5 data file for training in place (behind ``Data.from_hdf5``).

The file is opened through ``mlp.storage.hdf5.SafeReader`` as a file another program may have
written (its links, filters and stored sizes checked; gzip, lzf, shuffle and the other
filters HDF5 has built in are read, any chunking or none; a chunk past
``ReadLimits.max_chunk_bytes`` is refused). Datasets without the fletcher32 checksum that
``Data.save`` and ``mlp data convert`` write are read too, with one logged warning naming
them: corruption in them cannot be detected. The training split is rows of datasets
``x``/``y``/``w`` left on disk; the validation and test splits are either datasets of their
own or row ranges of ``x``/``y`` (``val_rows``/``test_rows``, excluded from training), and
are read into memory. With the names ``Data.save`` uses (``X_train``...), a file's
``X_val``/``y_val`` and ``X_test``/``y_test`` are taken when no other split is asked for,
and its ``classes``, ``task``, ``image_shape``, ``input_scale`` and ``normalizer`` are kept.

Labels: 1-D integer or boolean targets are class labels (with a ``classes`` dataset, codes
into it), floating targets ``(N,)`` or ``(N, k)`` regression values; one pass over the
labels finds the classes (or checks the codes) when the file is opened.

Your own HDF5 files train as they are: datasets written by h5py or any HDF5 program,
contiguous or chunked in any shape, with gzip, lzf, szip, shuffle, nbit or scaleoffset, with
or without fletcher32. A file without checksums trains with one warning (``train.h5: datasets
'X_train', 'y_train' carry no fletcher32 checksum, so corruption in them cannot be detected
(mlp data convert writes a checksummed copy)``). A filter that needs a plugin (blosc, zstd,
bitshuffle...) is refused in one line naming it: rewrite the file where the plugin is installed
(``h5repack -f NONE``). A block of rows decodes the row of chunks it spans; a row of chunks over
``max_chunk_bytes`` (64 MiB decompressed) is refused, naming ``mlp data convert SRC OUT.h5
--max-chunk-bytes N``, which writes a copy in 1 MiB chunks. Compression is a bomb in a crafted
file (HDF5's gzip decoder grows its buffer while the stream inflates: a 1 MB chunk declared as
1 MiB took a process to 1 GiB), so files are checked on opening: a compressed dataset must store
every chunk it declares, no chunk may store more than its shape, and every gzip chunk is
inflated once, in bounded steps, to check that it decodes to at most its shape (opening a gzip
file reads it once more). A file over 64 MiB marked open for writing is refused (``h5clear
-s``). Checkpoints hash the decoded rows, so a run started on a gzip file resumes on its
converted copy.

``normalize`` is one streaming pass (the same statistics as in memory within float64 rounding);
the normaliser is then applied to every block read. Bad files (mismatched lengths, a truncated
or crafted file, non-finite values met mid-epoch, a chunk failing its checksum, a file replaced
or modified while training) are each a ``DataError`` naming the file, dataset and rows; the
run's last checkpoint stays intact and resumable.
"""

from __future__ import annotations

import logging
import reprlib
from pathlib import Path
from typing import Any, cast

import numpy as np

from mlp.errors import DataError
from mlp.nn.input_normalizer import Normalizer
from mlp.storage import hdf5
from mlp.storage.regular_files import check_regular
from preprocess.bounded import DEFAULT_LIMITS, ReadLimits
from preprocess.disk import DiskSplit, Ranges, complement

log = logging.getLogger("mlp")


def _range(value: Any, n: int, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    low, high = (int(v) for v in value)
    if not 0 <= low < high <= n:
        raise DataError(f"{name} must be a range [start, stop) of rows with 0 <= start < "
                        f"stop <= {n}, found {list(value)}")
    return low, high


def _read_rows(rows: hdf5.Rows, low: int, high: int) -> np.ndarray:
    out = np.empty((high - low, *rows.shape[1:]), rows.dtype)
    rows.read(low, high, out)
    return out


def open_split(path: str | Path, x: str = "X_train", y: str = "y_train", w: str | None = None,
               x_val: str | None = None, y_val: str | None = None,
               x_test: str | None = None, y_test: str | None = None,
               val_rows: Any = None, test_rows: Any = None, task: str = "auto",
               block_rows: int | None = None, buffer_rows: int | None = None,
               limits: ReadLimits = DEFAULT_LIMITS) -> tuple[DiskSplit, dict[str, Any]]:
    """Open a data file's training split on disk and the other arguments of its ``Data``.

    Logs one warning when a dataset read has no checksum. The parameters are
    ``Data.from_hdf5``'s.

    Parameters
    ----------
    path : str or Path
    x, y : str, default "X_train", "y_train"
    w : str, optional
    x_val, y_val, x_test, y_test : str, optional
    val_rows, test_rows : sequence of int, optional
    task : str, default "auto"
    block_rows, buffer_rows : int, optional
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_chunk_bytes`` bounds a chunk's decompressed size.

    Returns
    -------
    split : DiskSplit
    arguments : dict
        ``X_val``... in memory as stored, ``task``, ``image_shape``, ``input_scale``, the
        stored ``normalizer`` and ``classes``.
    """
    path = Path(path)
    check_regular(path, DataError)
    reader = hdf5.SafeReader(path, DataError, foreign=True,
                             max_chunk_bytes=limits.max_chunk_bytes)
    try:
        opened = _open(reader, x, y, w, x_val, y_val, x_test, y_test, val_rows, test_rows,
                       task, block_rows, buffer_rows)
    except BaseException:
        reader.file.close()
        raise
    warn_unchecked(reader)
    return opened


def warn_unchecked(reader: hdf5.SafeReader, copying: bool = False) -> None:
    """One warning naming the datasets read without a checksum, if any.

    Parameters
    ----------
    reader : SafeReader
    copying : bool, default False
        Whether the caller writes a checksummed copy (else the warning says that ``mlp data
        convert`` does).
    """
    if reader.unchecked:
        log.warning("%s: datasets %s carry no fletcher32 checksum, so corruption in them "
                    "cannot be detected%s", reader.path, ", ".join(map(repr, reader.unchecked)),
                    " (the copy written carries checksums)" if copying else
                    " (mlp data convert writes a checksummed copy)")


def _open(reader: hdf5.SafeReader, x: str, y: str, w: str | None, x_val: str | None,
          y_val: str | None, x_test: str | None, y_test: str | None, val_rows: Any,
          test_rows: Any, task: str, block_rows: int | None, buffer_rows: int | None
          ) -> tuple[DiskSplit, dict[str, Any]]:
    X_rows = reader.rows(x, kinds="fiub", ndim=2)
    y_rows = reader.rows(y, kinds="fiubSO")
    w_rows = None if w is None else reader.rows(w, kinds="fiu", ndim=1)
    n = X_rows.shape[0]
    for other in (y_rows, w_rows):
        if other is not None and other.shape[0] != n:
            raise reader.fail(f"datasets {x!r} and {other.name!r} need one length, found {n} "
                              f"and {other.shape[0]} rows")
    if n == 0 or X_rows.shape[1] == 0:
        raise reader.fail(f"dataset {x!r} needs rows and features, found shape {X_rows.shape}")
    stored_classes = reader.classes() if reader.has("classes") else None
    if task == "auto":
        task = reader.text("task") if reader.attribute("task") is not None else (
            "classification" if y_rows.dtype.kind in "iub" and len(y_rows.shape) == 1
            else "regression")
    if task not in ("classification", "regression"):
        raise DataError("task must be 'auto', 'classification' or 'regression', found "
                        f"{reprlib.repr(task)}")
    if y_rows.dtype.kind in "SO":
        raise reader.fail(f"labels {y!r} are strings ({y_rows.dtype}); a data file holds "
                          f"class codes: mlp data convert {reader.path.name} OUT.h5 writes them")
    if task == "classification" and (y_rows.dtype.kind not in "iub" or len(y_rows.shape) != 1):
        raise reader.fail(f"classification labels {y!r} must be 1-D integers or booleans, "
                          f"found {y_rows.dtype} {y_rows.shape} (convert other labels with "
                          "mlp data convert)")
    if task == "regression" and (y_rows.dtype.kind != "f" or len(y_rows.shape) > 2):
        raise reader.fail(f"regression targets {y!r} must be floating (N,) or (N, k), found "
                          f"{y_rows.dtype} {y_rows.shape}")
    held = {s: _range(r, n, f"{s}_rows") for s, r in (("val", val_rows), ("test", test_rows))}
    taken: Ranges = [r for r in held.values() if r is not None]
    if len(taken) == 2 and max(taken[0][0], taken[1][0]) < min(taken[0][1], taken[1][1]):
        raise DataError(f"val_rows and test_rows must not overlap, found {taken[0]} and "
                        f"{taken[1]}")
    ranges = complement(n, taken)
    if not ranges:
        raise DataError(f"the validation and test rows leave no training rows of {n}")
    split = DiskSplit(reader, X_rows, y_rows, w_rows, ranges,
                      np.arange(0) if task == "classification" else None, False,
                      block_rows, buffer_rows)
    found = split.label_scan()
    if task == "classification":
        # classification scans labels of at least one training row, so some were found
        split.classes, split.encode = _classes(reader, y, cast(np.ndarray, found),
                                               stored_classes)
        split.label_range = (0, split.classes.shape[0] - 1)
    arguments = _held_splits(reader, split, held, x, y, x_val, y_val, x_test, y_test,
                             stored_classes)
    scale = reader.attribute("input_scale")
    arguments.update(task=task, image_shape=reader.image_shape(),
                     input_scale=None if scale is None else float(scale),
                     normalizer=_stored_normalizer(reader),
                     classes=split.classes if stored_classes is None else stored_classes)
    return split, arguments


def _classes(reader: hdf5.SafeReader, y: str, found: np.ndarray,
             stored: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """The sorted classes and whether stored labels need encoding: with a stored ``classes``
    dataset the labels are its codes (checked in range); else the labels found."""
    if stored is not None:
        if found.size and not 0 <= found.min() <= found.max() < stored.shape[0]:
            raise reader.fail(f"expected {y!r} to hold class codes in [0, "
                              f"{stored.shape[0] - 1}], found {found.min()}..{found.max()}")
        return np.arange(stored.shape[0]), False
    if found.shape[0] < 2:
        raise reader.fail(f"classification needs at least 2 classes in {y!r}, found "
                          f"{found.tolist()}")
    return found, not np.array_equal(found, np.arange(found.shape[0]))


def _held_splits(reader: hdf5.SafeReader, split: DiskSplit, held: dict[str, Any], x: str,
                 y: str, x_val: str | None, y_val: str | None, x_test: str | None,
                 y_test: str | None, stored_classes: np.ndarray | None) -> dict[str, Any]:
    """``X_val``, ``y_val``, ``X_test``, ``y_test`` in memory: row ranges of ``x``/``y``, or
    datasets (by default a ``Data.save`` file's own, when no range was asked for)."""
    names = {"val": (x_val, y_val), "test": (x_test, y_test)}
    arguments: dict[str, Any] = {}
    for split_name, (x_name, y_name) in names.items():
        if (x_name is None) != (y_name is None):
            raise DataError(f"x_{split_name} and y_{split_name} go together: expected both")
        default = (f"X_{split_name}", f"y_{split_name}")
        if (x_name is None and held[split_name] is None and x == "X_train"
                and all(reader.has(d) for d in default)):
            x_name, y_name = default
        if held[split_name] is not None:
            low, high = held[split_name]
            X, labels = _read_rows(split.X, low, high), _read_rows(split.y, low, high)
        elif x_name is not None and y_name is not None:  # given together (checked above)
            X = reader.dataset(x_name, kinds="fiub", ndim=2)
            labels = reader.dataset(y_name, kinds="fiub")
        else:
            continue
        if stored_classes is not None:
            labels = stored_classes[_codes(reader, y_name or y, labels, stored_classes)]
        elif split.classes is not None:
            labels = split.classes[_codes(reader, y_name or y, np.searchsorted(
                split.classes, labels), split.classes, labels)]
        arguments[f"X_{split_name}"], arguments[f"y_{split_name}"] = X, labels
    return arguments


def _codes(reader: hdf5.SafeReader, name: str, codes: np.ndarray, classes: np.ndarray,
           labels: np.ndarray | None = None) -> np.ndarray:
    """``codes`` checked to index ``classes`` (and, given ``labels``, to find them)."""
    if codes.dtype.kind not in "iu" or codes.ndim != 1 or (codes.size and not (
            0 <= codes.min() and codes.max() < classes.shape[0])):
        raise reader.fail(f"expected {name!r} to hold the training split's classes "
                          f"{classes.tolist()}, found other labels")
    if labels is not None and (classes[codes] != labels).any():
        raise reader.fail(f"expected {name!r} to hold the training split's classes "
                          f"{classes.tolist()}, found others")
    return codes


def _stored_normalizer(reader: hdf5.SafeReader) -> Normalizer | None:
    if not reader.has("normalizer"):
        return None
    return Normalizer.from_arrays(reader.text("method", reader.node("normalizer")),
                                  reader.dataset("normalizer/offset", ndim=1),
                                  reader.dataset("normalizer/scale", ndim=1))

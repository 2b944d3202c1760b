"""A training split read in place from an HDF5 data file (``Data.from_hdf5``).

``DiskSplit`` holds the open file (``mlp.storage.hdf5.SafeReader``: links, filters and stored sizes
checked on opening, fletcher32 verified on every chunk read when the file carries it;
compressed chunks decoded by HDF5), the feature, target and weight
datasets, and the file rows that form the training split (ranges; the validation and test
splits are in memory). Rows are read a block at a time into caller buffers: features in the
training dtype (HDF5 converts), checked finite (an error names the dataset and the rows),
normalised when a normaliser was fitted on the stream; class labels as int64 codes.

``DiskArray`` stands where ``Data.X_train``/``y_train``/``w_train`` hold arrays: it has their
``shape``, ``dtype``, ``len`` and row slices (read from disk), and the label range found when
the file was opened; turning the whole of it into an array is refused (it may not fit).
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.nn.input_normalizer import Normalizer
from mlp.storage import hdf5

Ranges = list[tuple[int, int]]
#: bytes of one shuffle buffer when ``buffer_rows`` is not given
BUFFER_BYTES = 32 << 20
#: bytes of features read at a time by the streaming passes (statistics, fingerprint, labels)
PASS_BYTES = 8 << 20


def _stat_key(path: Path) -> tuple[int, ...]:
    info = os.stat(path)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def complement(n: int, taken: Ranges) -> Ranges:
    """The ranges of ``[0, n)`` not covered by others.

    Parameters
    ----------
    n : int
    taken : list of tuple
        ``[start, stop)`` ranges.

    Returns
    -------
    list of tuple
        Sorted, non-overlapping.

    Examples
    --------
    >>> complement(10, [(2, 4), (6, 8)])
    [(0, 2), (4, 6), (8, 10)]
    """
    ranges, start = [], 0
    for low, high in sorted(taken):
        if low > start:
            ranges.append((start, low))
        start = max(start, high)
    if start < n:
        ranges.append((start, n))
    return ranges


class DiskSplit:
    """The training rows of an open data file, read in blocks.

    Blocks of ``block_rows`` (aligned to the file's chunks) are shuffled through buffers of
    ``buffer_rows`` (``preprocess.block_batches``).

    Parameters
    ----------
    reader : SafeReader
        The open file.
    X : Rows
        Dataset ``(N, D)``.
    y : Rows
        Dataset ``(N,)`` or ``(N, k)``.
    w : Rows or None
        Dataset ``(N,)`` of sample weights.
    ranges : list of tuple
        The training rows, as ``[start, stop)`` ranges.
    classes : ndarray or None
        The sorted class labels for classification; None for regression.
    encode : bool
        The stored labels are not already their codes ``0..C-1`` and are looked up.
    block_rows : int or None
        Rows of a shuffled block (default: the file's chunk).
    buffer_rows : int or None
        Rows of the shuffle buffer (default: 32 MiB of features).
    """

    def __init__(self, reader: hdf5.SafeReader, X: hdf5.Rows, y: hdf5.Rows,
                 w: hdf5.Rows | None, ranges: Ranges, classes: np.ndarray | None,
                 encode: bool, block_rows: int | None, buffer_rows: int | None) -> None:
        self.reader, self.X, self.y, self.w, self.ranges = reader, X, y, w, ranges
        self.classes, self.encode = classes, encode
        self.n = sum(high - low for low, high in ranges)
        self.n_features = int(X.shape[1])
        self.dtype = np.dtype(np.float32) if X.dtype.kind in "iub" else np.dtype(X.dtype)
        self.y_dtype = np.dtype(np.int64) if classes is not None else np.dtype(y.dtype)
        self.y_shape: tuple[int, ...] = () if classes is not None else (
            (1,) if len(y.shape) == 1 else tuple(y.shape[1:]))
        for name, value in (("block_rows", block_rows), ("buffer_rows", buffer_rows)):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | np.integer) or value < 1):
                raise DataError(f"{name} must be a positive number of rows, found {value!r}")
        self.block_rows = int(block_rows or X.chunk_rows)
        row_bytes = self.n_features * self.dtype.itemsize
        default = max(1, BUFFER_BYTES // row_bytes // self.block_rows) * self.block_rows
        self.buffer_rows = max(self.block_rows, min(int(buffer_rows or default), self.n))
        self.pass_rows = max(1, PASS_BYTES // row_bytes)
        self.normalizer: Normalizer | None = None  # applied to every block read
        self.label_range: tuple[float, float] = (0, 0)
        self._stat = _stat_key(reader.path)
        self._fingerprint: dict[str, Any] | None = None
        self.buffers: dict[str, np.ndarray] = {}

    @property
    def path(self) -> Path:
        """The data file."""
        return self.reader.path

    def apply(self, normalizer: Normalizer) -> None:
        """Normalise every block read from now on (the normaliser enters the fingerprint).

        Parameters
        ----------
        normalizer : Normalizer
        """
        self.normalizer, self._fingerprint = normalizer, None

    def astype(self, dtype: np.dtype) -> DiskSplit:
        """This split with features (and regression targets) read as another dtype.

        Parameters
        ----------
        dtype : numpy.dtype

        Returns
        -------
        DiskSplit
            A copy sharing the file.
        """
        other = copy.copy(self)
        other.dtype = np.dtype(dtype)
        if self.classes is None:
            other.y_dtype = np.dtype(dtype)
        other.buffers = {}
        return other

    # ------------------------------------------------------------------ rows
    def pieces(self, ranges: Ranges | None = None) -> Ranges:
        """Ranges cut at multiples of ``block_rows`` of the file: the blocks the shuffle permutes.

        Parameters
        ----------
        ranges : list of tuple, optional
            The training ranges by default.

        Returns
        -------
        list of tuple
        """
        size, pieces = self.block_rows, []
        for low, high in self.ranges if ranges is None else ranges:
            start = low
            while start < high:
                stop = min(high, (start // size + 1) * size)
                pieces.append((start, stop))
                start = stop
        return pieces

    def file_ranges(self, start: int, stop: int) -> Ranges:
        """The file ranges of training rows ``[start, stop)``.

        Parameters
        ----------
        start, stop : int
            Training row numbers.

        Returns
        -------
        list of tuple
        """
        found, offset = [], 0
        for low, high in self.ranges:
            a, b = max(start, offset), min(stop, offset + high - low)
            if a < b:
                found.append((low + a - offset, low + b - offset))
            offset += high - low
        return found

    def read(self, pieces: Ranges, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
             ) -> int:
        """Read file rows one range after another into arrays, from their row 0.

        Parameters
        ----------
        pieces : list of tuple
            ``[start, stop)`` file ranges.
        X : ndarray
            ``(M, D)``, filled.
        y : ndarray
            Filled with the targets (class codes when labels are encoded).
        w : ndarray or None
            Filled with the weights.

        Returns
        -------
        int
            The number of rows read.

        Raises
        ------
        DataError
            Non-finite features, unknown labels or bad weights, naming the rows.
        """
        offset = 0
        for low, high in pieces:
            m = high - low
            X_block, y_block = X[offset:offset + m], y[offset:offset + m]
            self._read_features(low, high, X_block)
            self.y.read(low, high, y_block.reshape((m, *self.y.shape[1:])))
            if self.encode:
                self._encode(low, high, y_block)
            if w is not None:  # given only when the split has weights
                weights = cast(hdf5.Rows, self.w)
                weights.read(low, high, w[offset:offset + m])
                if not (np.isfinite(w[offset:offset + m]).all()
                        and (w[offset:offset + m] >= 0).all()):
                    raise DataError(f"{self.path}: dataset {weights.name!r} rows {low}-"
                                    f"{high - 1}: expected finite non-negative weights")
            offset += m
        return offset

    def _read_features(self, low: int, high: int, out: np.ndarray) -> None:
        normalizer, stored = self.normalizer, self.X.dtype
        exact = normalizer is not None and stored.kind == "f" and stored != out.dtype
        target = np.empty(out.shape, stored) if exact else out  # normalised in its own dtype
        self.X.read(low, high, target)
        if not all_finite(target):
            bad = int(np.argmax(~np.isfinite(target).all(axis=1)))
            raise DataError(f"{self.path}: dataset {self.X.name!r} row {low + bad} (in rows "
                            f"{low}-{high - 1}): expected finite features, found NaN or inf")
        if normalizer is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                target -= normalizer.offset.astype(target.dtype, copy=False)
                target /= normalizer.scale.astype(target.dtype, copy=False)
            if target is not out:
                out[...] = target

    def _encode(self, low: int, high: int, codes: np.ndarray) -> None:
        classes = cast(np.ndarray, self.classes)  # encode is set only for class labels
        index = np.minimum(np.searchsorted(classes, codes), classes.shape[0] - 1)
        if (classes[index] != codes).any():
            raise DataError(f"{self.path}: dataset {self.y.name!r} rows {low}-{high - 1} hold "
                            f"labels that were not there when the file was opened")
        codes[...] = index

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Training rows ``[start, stop)`` as new arrays.

        Parameters
        ----------
        start, stop : int

        Returns
        -------
        tuple
            ``(X, y, w)``, ``w`` None without weights.
        """
        pieces = self.file_ranges(max(0, start), min(self.n, stop))
        m = sum(b - a for a, b in pieces)
        X = np.empty((m, self.n_features), self.dtype)
        y = np.empty((m, *self.y_shape), self.y_dtype)
        w = None if self.w is None else np.empty(m, np.float64)
        self.read(pieces, X, y, w)
        return X, y, w

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """The training split in order, ``PASS_BYTES`` of features at a time (new arrays)."""
        for start in range(0, self.n, self.pass_rows):
            yield self.rows(start, start + self.pass_rows)

    # ------------------------------------------------------------------ facts
    def check_unchanged(self) -> None:
        """``DataError`` when the file was replaced or modified since it was opened."""
        try:
            now = _stat_key(self.path)
        except OSError as exc:
            raise DataError(f"{self.path}: the data file has gone while training "
                            f"({exc.strerror})") from exc
        if now != self._stat:
            raise DataError(f"{self.path}: the data file changed while it was being trained "
                            "on (its size, time or inode differ from when it was opened); "
                            "the run's last checkpoint is intact: restore the file and resume")

    def fingerprint(self) -> dict[str, Any]:
        """``{"shape", "dtype", "sha256", "source", "datasets", "rows"}``: the hash covers
        the stored bytes of the training rows of every dataset (read once, in blocks), and
        the normaliser fitted on them; names, never the path, are recorded beside it."""
        self.check_unchanged()
        if self._fingerprint is None:
            digest = hashlib.sha256()
            parts = [p for p in (self.X, self.y, self.w) if p is not None]
            for part in parts:
                digest.update(f"{part.shape}{part.dtype.str}".encode())
                row_shape = part.shape[1:]
                for low, high in self.pieces(self._pass_ranges()):
                    block = np.empty((high - low, *row_shape), part.dtype)
                    part.read(low, high, block)
                    digest.update(block.data.cast("B"))
            if self.normalizer is not None:
                for array in self.normalizer.to_arrays().values():
                    digest.update(array.tobytes())
            self._fingerprint = {
                "shape": [self.n, self.n_features], "dtype": str(self.X.dtype),
                "sha256": digest.hexdigest(), "source": "hdf5",
                "datasets": [p.name for p in parts], "rows": [list(r) for r in self.ranges]}
        return self._fingerprint

    def _pass_ranges(self) -> Ranges:
        """The training ranges cut into pieces of ``pass_rows`` rows."""
        pieces, step = [], self.pass_rows
        for low, high in self.ranges:
            pieces += [(a, min(high, a + step)) for a in range(low, high, step)]
        return pieces

    def label_scan(self) -> np.ndarray | None:
        """One pass over the stored labels of the training rows: their sorted unique values
        for classification (labels must be integers or booleans), else None; the range of
        the codes is kept as ``label_range``."""
        found: np.ndarray | None = None
        for low, high in self._pass_ranges():
            block = np.empty((high - low, *self.y.shape[1:]), self.y.dtype)
            self.y.read(low, high, block)
            if self.classes is not None or self.y.dtype.kind in "iub":
                values = np.unique(block)
                found = values if found is None else np.union1d(found, values)
            elif not all_finite(block):
                raise DataError(f"{self.path}: dataset {self.y.name!r} rows {low}-{high - 1}: "
                                "expected finite regression targets, found NaN or inf")
        return found


class DiskArray:
    """``Data.X_train``, ``y_train`` or ``w_train`` of a split on disk.

    It has ``shape``, ``dtype``, ``len``, row slices ``a[start:stop]`` read from the file,
    and ``min``/``max`` of class codes; ``np.asarray`` of the whole is refused (it may not fit
    in memory).

    Parameters
    ----------
    split : DiskSplit
    part : {"X", "y", "w"}
    """

    def __init__(self, split: DiskSplit, part: str) -> None:
        self.split, self.part = split, part
        if part == "X":
            self.shape: tuple[int, ...] = (split.n, split.n_features)
            self.dtype = split.dtype
        elif part == "y":
            self.shape, self.dtype = (split.n, *split.y_shape), split.y_dtype
        else:
            self.shape, self.dtype = (split.n,), np.dtype(np.float64)
        self.ndim, self.size = len(self.shape), math.prod(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise DataError(f"a training split on disk ({self.split.path}) is read by row "
                            f"ranges a[start:stop], found index {key!r}")
        start, stop, _ = key.indices(self.shape[0])
        X, y, w = self.split.rows(start, stop)
        return cast(np.ndarray, {"X": X, "y": y, "w": w}[self.part])  # w: only with weights

    def min(self) -> float:
        """The smallest class code (``label_range``)."""
        return self.split.label_range[0]

    def max(self) -> float:
        """The largest class code (``label_range``)."""
        return self.split.label_range[1]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise DataError(f"the training split is read in place from {self.split.path} "
                        f"({self.shape[0]} rows); it is not loaded whole into memory: read "
                        "row ranges (data.X_train[a:b]) or train on it")


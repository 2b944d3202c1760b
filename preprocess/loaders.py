"""Loaders behind ``Data.from_*``, and raw inputs for prediction.

Each loader returns the keyword arguments of ``Data(...)`` (arrays, ``task``,
``image_shape``, ``input_scale``) and never builds a ``Data`` itself. Files are read through
``preprocess.bounded``: sizes checked against the file and ``ReadLimits`` before anything is
allocated, non-regular files refused, no pickle anywhere.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.storage.memory import check_bytes
from preprocess import bounded
from preprocess.bounded import DEFAULT_LIMITS, ReadLimits

#: what a loader returns: keyword arguments of ``Data(...)``
DataArguments = dict[str, Any]

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg")
SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def load_npz(path: str | Path, x_key: str, y_key: str,
             limits: ReadLimits = DEFAULT_LIMITS) -> DataArguments:
    """The arguments of ``Data.from_npz``: the arrays of an ``.npz`` archive.

    Sizes are checked before reading (``bounded.read_npz``).

    Parameters
    ----------
    path, x_key, y_key, limits
        As ``Data.from_npz``'s.

    Returns
    -------
    dict
        Keyword arguments of ``Data(...)``.
    """
    arrays = bounded.read_npz(path, limits)
    if "X_train" in arrays:
        return {key: arrays.get(key) for key in SPLIT_KEYS}
    if x_key not in arrays or y_key not in arrays:
        raise DataError(f"{path}: expected arrays {x_key!r} and {y_key!r} (or 'X_train' and "
                        f"'y_train'), found {sorted(arrays)}")
    return {"X_train": arrays[x_key], "y_train": arrays[y_key]}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _has_header(rows: list[list[str]]) -> bool:
    """A first row is a header when it has text where the second row has a number (or,
    alone, when it has any text)."""
    if len(rows) == 1:
        return not all(map(_is_number, rows[0]))
    return any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], rows[1], strict=False))


def _target_column(path: Path, target: int | str, names: list[str] | None, width: int) -> int:
    if isinstance(target, str):
        if names is None or target not in names:
            raise DataError(f"{path}: expected target column {target!r} in the header, found "
                            f"{names if names is not None else 'no header'}")
        return names.index(target)
    if not -width <= target < width:
        raise DataError(f"{path}: target column index must be in [{-width}, {width - 1}], "
                        f"found {target}")
    return target % width


def csv_targets(path: Path, labels: np.ndarray, task: str) -> np.ndarray:
    """The texts of a target column as targets.

    Parameters
    ----------
    path : Path
        Named in errors.
    labels : ndarray
        Texts ``(N,)``.
    task : str
        ``auto``, ``classification`` or ``regression``.

    Returns
    -------
    ndarray
        Strings stay class labels; integral numbers become int64 codes and other numbers
        ``(N, 1)`` float64 regression targets, unless ``task`` asks otherwise.
    """
    try:
        values = labels.astype(np.float64)
    except ValueError:
        if task == "regression":
            bad = next(v for v in labels.tolist() if not _is_number(v))
            raise DataError(f"{path}: regression needs numeric targets, found {bad!r}") \
                from None
        return labels
    integral = bool(np.all(np.isfinite(values) & (values == np.round(values))
                           & (np.abs(values) < 2.0**53)))
    if task == "regression" or (task == "auto" and not integral):
        return values.reshape(-1, 1)
    return values.astype(np.int64) if integral else values


def csv_blocks(path: str | Path, target: int | str, header: bool | str, delimiter: str,
               limits: ReadLimits = DEFAULT_LIMITS
               ) -> tuple[list[str] | None, Iterator[tuple[np.ndarray, np.ndarray]]]:
    """The header and the blocks of a CSV file, read ``bounded.BLOCK_ROWS`` lines at a time.

    Parameters
    ----------
    path : str or Path
    target : int or str
        The target column: index or header name.
    header : bool or "auto"
        ``auto`` detects a header row (always one for a named target).
    delimiter : str
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_rows``, ``max_line_chars``, ``max_field_chars`` and ``max_label_chars``
        apply.

    Returns
    -------
    names : list of str or None
        The header names (None without a header).
    blocks : iterator of tuple
        ``(features (B, D) float64, target texts (B,))``.
    """
    path = Path(path)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise DataError(f"{path}: expected a delimiter of one character (not a quote or a "
                        f"line break), found {delimiter!r}")
    blocks = bounded.csv_lines(path, limits)
    first, lines = next(blocks, (1, []))
    head = list(itertools.islice(_rows(path, first, lines, delimiter, limits), 2))
    if not head:
        raise DataError(f"{path}: expected rows of comma-separated values, found an empty file")
    if header == "auto":
        header = isinstance(target, str) or _has_header([row for _, row in head])
    names = None
    if header:
        (number, names), head = head[0], head[1:]
        lines, first = lines[number - first + 1:], number + 1
    if not head:
        raise DataError(f"{path}: expected data rows after the header, found none")
    width = len(names if names is not None else head[0][1])
    column = _target_column(path, target, names, width)
    parse = _Parser(path, width, column, delimiter, limits)
    return names, (parse(number, block) for number, block in
                   itertools.chain([(first, lines)], blocks))


def _rows(path: Path, first: int, lines: list[str], delimiter: str, limits: ReadLimits
          ) -> Iterator[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of the non-empty rows of ``lines``."""
    previous = csv.field_size_limit(limits.max_field_chars)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for row in reader:
            if row:
                yield first + reader.line_num - 1, [cell.strip() for cell in row]
    except csv.Error as exc:
        raise DataError(f"{path}: line {first + reader.line_num - 1}: {exc} (raise "
                        f"max_field_chars, now {limits.max_field_chars}, for longer "
                        "fields)") from exc
    finally:
        csv.field_size_limit(previous)


class _Parser:
    """One block of CSV lines to ``(features (B, D) float64, target texts (B,))``: NumPy's C
    parser when no line is quoted, longer than a field may be or of another width; else
    (and to name a bad line) the ``csv`` module, row by row."""

    def __init__(self, path: Path, width: int, column: int, delimiter: str,
                 limits: ReadLimits) -> None:
        self.path, self.width, self.column = path, width, column
        self.delimiter, self.limits = delimiter, limits
        self.features = [i for i in range(width) if i != column]

    def __call__(self, first: int, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        fast = self._fast(lines)
        if fast is not None:
            return fast
        block = list(_rows(self.path, first, lines, self.delimiter, self.limits))
        for number, row in block:
            if len(row) != self.width:
                raise DataError(f"{self.path}: line {number}: expected {self.width} fields, "
                                f"found {len(row)}")
        numbers = [number for number, _ in block]
        self._check_labels([row[self.column] for _, row in block], numbers)
        longest = max((len(cell) for _, row in block for cell in row), default=0)
        check_bytes(len(block) * self.width * longest * 4,
                    f"{self.path}: lines {numbers[0]}-{numbers[-1]} as text cells")
        cells = np.array([row for _, row in block], dtype=str).reshape(len(block), self.width)
        features = bounded.numbers(self.path, numbers, np.delete(cells, self.column, axis=1))
        return features, cells[:, self.column]

    def _check_labels(self, labels: list[str], numbers: list[int] | None = None) -> None:
        """``DataError`` naming the line of a label longer than ``max_label_chars`` (labels
        are held at the width of the longest one)."""
        limit = self.limits.max_label_chars
        for index, label in enumerate(labels):
            if len(label) > limit:
                where = f"line {numbers[index]}" if numbers else "a line"
                raise DataError(f"{self.path}: {where}: a target of {len(label)} characters, "
                                f"more than the {limit} a label may have (raise "
                                "max_label_chars)")

    def _fast(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        rows = [line for line in lines if not line.isspace()]
        if not rows or any('"' in line or len(line) > self.limits.max_field_chars
                           or line.count(self.delimiter) != self.width - 1 for line in rows):
            return None
        labels = [line.split(self.delimiter)[self.column].strip() for line in rows]
        if any(len(label) > self.limits.max_label_chars for label in labels):
            return None  # the row-by-row path names the line
        try:
            features = np.loadtxt(rows, dtype=np.float64, usecols=self.features, ndmin=2,
                                  delimiter=self.delimiter, comments=None, quotechar=None)
        except ValueError:
            return None
        if not np.isfinite(features).all():
            return None  # the row-by-row path names the line
        return features, np.array(labels, dtype=str)


def load_csv(path: str | Path, target: int | str, header: bool | str, delimiter: str,
             task: str, limits: ReadLimits = DEFAULT_LIMITS) -> DataArguments:
    """The arguments of ``Data.from_csv``: a CSV file's numeric features and one target column.

    Read in blocks under ``limits`` (``csv_blocks``).

    Parameters
    ----------
    path, target, header, delimiter, task, limits
        As ``Data.from_csv``'s.

    Returns
    -------
    dict
        Keyword arguments of ``Data(...)``.
    """
    _, blocks = csv_blocks(path, target, header, delimiter, limits)
    features, labels = zip(*blocks, strict=True)
    check_bytes(sum(a.nbytes for a in features + labels), f"{path}: the rows")
    return {"X_train": np.concatenate(features),
            "y_train": csv_targets(Path(path), np.concatenate(labels), task), "task": task}


def _image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` by name; hidden ones (``.name``) are not data."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _stack_images(files: list[Path], shape: Sequence[int] | None,
                  limits: ReadLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, tuple[int, int]]:
    """``(len(files), h*w)`` float32 rows of images that all have ``shape`` (height, width),
    by default the first image's (within ``limits.max_pixels``); every image's declared
    size is checked before it is decoded. Returns the rows and the shape."""
    first = bounded.read_image(files[0], shape, limits)
    expected = first.shape
    like = f"the first image {files[0]}" if shape is None else "image_shape"
    X = np.empty((len(files), first.size), dtype=np.float32)
    for row, path in enumerate(files):
        image = first if row == 0 else bounded.read_image(path, expected, limits, like)
        X[row] = image.reshape(-1)
    return X, expected


def image_files_of(root: str | Path) -> tuple[list[Path], list[str]]:
    """The image files ``root/<label>/*.bmp|png|jpg`` and their labels.

    Folders and files are sorted by name; hidden ones, whose names start with a dot, are
    skipped.

    Parameters
    ----------
    root : str or Path

    Returns
    -------
    files : list of Path
    labels : list of str
        The sub-folder name of each file.

    Raises
    ------
    DataError
        ``root`` is not a folder of label folders, or holds no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder with one sub-folder of images per label, "
                        "found no such folder")
    files: list[Path] = []
    labels: list[str] = []
    # hidden folders (.ipynb_checkpoints, .git) are tools' files, not labels
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _image_files(folder)
        files += found
        labels += [folder.name] * len(found)
    if not files:
        raise DataError(f"{root}: expected images ({', '.join(IMAGE_SUFFIXES)}) in <label>/ "
                        "sub-folders, found none")
    return files, labels


def load_image_folder(root: str | Path, image_shape: Sequence[int] | None,
                      limits: ReadLimits = DEFAULT_LIMITS) -> DataArguments:
    """The arguments of ``Data.from_image_folder``.

    ``root/<label>/*.bmp|png|jpg`` as grey-scale [0, 1] float32 rows flattened row-major,
    labelled by sub-folder name; folders and files sorted by name.

    Parameters
    ----------
    root, image_shape, limits
        As ``Data.from_image_folder``'s.

    Returns
    -------
    dict
        Keyword arguments of ``Data(...)``.
    """
    files, labels = image_files_of(root)
    X, shape = _stack_images(files, image_shape, limits)
    return {"X_train": X, "y_train": np.array(labels), "task": "classification",
            "image_shape": shape, "input_scale": 1.0}


#: what an image read in [0, 1] must be multiplied by to match a scikit-learn set's pixels
SKLEARN_INPUT_SCALES = {"digits": 16.0}


def load_sklearn(name: str, test_fraction: float | None, seed: int) -> DataArguments:
    """The arguments of ``Data.from_sklearn``: a toy set with a stratified test split.

    Parameters
    ----------
    name : str
        ``digits``, ``iris``, ``wine`` or ``breast_cancer``.
    test_fraction : float or None
        For ``train_test_split`` (None: its default, 0.25).
    seed : int

    Returns
    -------
    dict
        Keyword arguments of ``Data(...)``.

    Raises
    ------
    DataError
        An unknown name, or scikit-learn is not installed.
    """
    if name not in SKLEARN_SETS:
        raise DataError(f"expected a scikit-learn data set among {', '.join(SKLEARN_SETS)}, "
                        f"found unknown name {name!r}")
    try:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise DataError("scikit-learn data sets need the 'datasets' extra: "
                        "pip install 'mlp-routinizer[datasets]'") from exc
    bunch = getattr(datasets, f"load_{name}")()
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=test_fraction, stratify=bunch.target,
        random_state=seed)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
            "task": "classification", "image_shape": (8, 8) if name == "digits" else None,
            "input_scale": SKLEARN_INPUT_SCALES.get(name)}


def make_sin(n_train: int, n_val: int, noise: float, interval: tuple[float, float],
             frequency: float, seed: int) -> DataArguments:
    """The arguments of ``Data.sin``: ``y = sin(frequency x)`` regression, float64 ``(N, 1)``.

    Parameters
    ----------
    n_train : int
        Sorted uniform draws of ``x`` in ``interval`` (targets plus ``noise * N(0, 1)``).
    n_val : int
        A noiseless grid of validation points spanning the interval.
    noise : float
    interval : tuple of float
    frequency : float
    seed : int

    Returns
    -------
    dict
        Keyword arguments of ``Data(...)``.
    """
    low, high = interval
    if not (np.isfinite([low, high, high - low, frequency * low, frequency * high]).all()
            and low < high):
        raise DataError(f"sin data: expected a finite interval [low, high] with low < high "
                        f"whose width and frequency * x stay finite, found interval "
                        f"{list(interval)} and frequency {frequency}")
    check_bytes(4 * 8 * (n_train + n_val), f"sin data of {n_train} + {n_val} points")
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(low, high, n_train)).reshape(-1, 1)
    x_val = np.linspace(low, high, n_val).reshape(-1, 1)
    y_train = np.sin(frequency * x_train) + noise * rng.normal(size=x_train.shape)
    return {"X_train": x_train, "y_train": y_train, "X_val": x_val,
            "y_val": np.sin(frequency * x_val), "task": "regression"}


def _input_matrix(path: Path, X: np.ndarray, image_shape: Sequence[int] | None,
                  n_features: int | None) -> np.ndarray:
    """``X`` of a ``.npy``/``.csv`` input file as a finite floating ``(N, D)`` array: a 1-D
    array is one sample, ``(N, h, w)`` images of the model's ``image_shape`` are flattened,
    integers and booleans become float32; ``D`` must be ``n_features`` when given."""
    if X.dtype.kind not in "iubf":
        raise DataError(f"{path}: expected numeric inputs, found dtype {X.dtype}")
    if X.size == 0:
        raise DataError(f"{path}: expected at least one sample with features, found an empty "
                        f"array of shape {X.shape}")
    shape = X.shape
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim == 3 and image_shape is not None and tuple(X.shape[1:]) == tuple(image_shape):
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2:
        images = (f", or (N, {image_shape[0]}, {image_shape[1]}) images"
                  if image_shape is not None else "")
        raise DataError(f"{path}: expected inputs of ndim 2 (N, features) or 1 (one sample)"
                        f"{images}, found ndim {X.ndim} with shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(f"{path}: the model takes {n_features} features per sample, found "
                        f"{X.shape[1]} (array of shape {shape})")
    if X.dtype.kind in "iub":
        X = X.astype(np.float32)
    if not all_finite(X):
        raise DataError(f"{path}: expected finite inputs, found "
                        f"{int((~np.isfinite(X)).sum())} NaN or inf value(s)")
    return X


def image_inputs(paths: Sequence[str | Path]) -> list[Path] | None:
    """The image files some paths name, in order (folders give their images sorted by name).

    Parameters
    ----------
    paths : sequence of str or Path

    Returns
    -------
    list of Path or None
        None when ``paths`` is one ``.npy`` or ``.csv`` file.

    Raises
    ------
    DataError
        A path that is neither, nor an image or a folder, or no image at all.
    """
    given = [Path(p) for p in paths]
    if len(given) == 1 and given[0].suffix.lower() in (".npy", ".csv"):
        return None
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            files.extend(_image_files(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            raise DataError(f"{path}: expected a .npy, .csv or image file "
                            f"({', '.join(IMAGE_SUFFIXES)}) or a folder of images")
    if not files:
        raise DataError(f"expected image files in {', '.join(map(str, given))}, found none")
    return files


def read_inputs(paths: Sequence[str | Path], image_shape: Sequence[int] | None = None,
                input_scale: float | None = 1.0, n_features: int | None = None,
                source: str | Path = "the model") -> np.ndarray:
    """Raw inputs ``(N, D)`` (floating) for prediction.

    One ``.npy`` or ``.csv`` file (a header row is skipped), or image files and folders of
    images, each read as ``Data.from_image_folder`` reads it and multiplied by
    ``input_scale``.

    Parameters
    ----------
    paths : sequence of str or Path
    image_shape : sequence of int, optional
        The shape images must have.
    input_scale : float or None, default 1.0
        The scale the model's training images had (digits: 16); images are refused for a
        model that records none (None).
    n_features : int, optional
        The width the model takes.
    source : str or Path, default "the model"
        Named in errors.

    Returns
    -------
    ndarray
        ``(N, D)``: a file's floating dtype, else float32.

    Raises
    ------
    DataError
        No path, unreadable inputs, images without an ``input_scale``, or another width.
    """
    given = [Path(p) for p in paths]
    if not given:
        raise DataError("expected a .npy, .csv or image file or a folder of images, found "
                        "no path")
    files = image_inputs(given)
    if files is None:
        return _input_matrix(given[0], _read_array(given[0]), image_shape, n_features)
    if input_scale is None:
        raise DataError(f"{source} does not record how the images it was trained on were "
                        "scaled, so image files cannot be predicted faithfully; give the "
                        "inputs as a .npy or .csv file on the training scale")
    X = _stack_images(files, image_shape)[0]
    if input_scale != 1.0:
        X *= np.float32(input_scale)
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(f"{files[0]}: the model takes {n_features} features, the images have "
                        f"{X.shape[1]} pixels")
    return X


def input_blocks(paths: Sequence[str | Path], image_shape: Sequence[int] | None = None,
                 input_scale: float | None = 1.0, n_features: int | None = None,
                 source: str | Path = "the model", rows: int = bounded.BLOCK_ROWS
                 ) -> Iterator[np.ndarray]:
    """``read_inputs`` in blocks of at most ``rows`` samples ``(B, D)``.

    Predicting a large input holds one block of it at a time: a ``.csv`` file is read block
    by block, other inputs are read whole and handed out in blocks.

    Parameters
    ----------
    paths, image_shape, input_scale, n_features, source
        ``read_inputs``'s.
    rows : int, default BLOCK_ROWS

    Yields
    ------
    ndarray
    """
    given = [Path(p) for p in paths]
    if len(given) == 1 and given[0].suffix.lower() == ".csv":
        for X in _csv_inputs(given[0], rows):
            yield _input_matrix(given[0], X, image_shape, n_features)
        return
    X = read_inputs(given, image_shape, input_scale, n_features, source)
    for start in range(0, len(X), rows):
        yield X[start:start + rows]


def _read_array(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """The array of one ``.npy`` file or the numbers of one ``.csv`` file, sizes checked
    before reading (``bounded``)."""
    if path.suffix.lower() == ".npy":
        return bounded.read_npy(path, limits)
    return np.concatenate(list(_csv_inputs(path, bounded.BLOCK_ROWS, limits)))


def _csv_inputs(path: Path, size: int, limits: ReadLimits = DEFAULT_LIMITS
                ) -> Iterator[np.ndarray]:
    """The numbers of a ``.csv`` file of inputs as float64 blocks ``(B, D)`` of at most
    ``size`` rows (a header row is skipped); a file without rows is one empty block. A
    block is parsed by NumPy's C parser, or (quoted cells, or to name a bad line) by the
    ``csv`` module."""
    width, found = None, False
    for first, lines in bounded.csv_lines(path, limits):
        rows = [line for line in lines if not line.isspace()]
        if not found and rows:
            head = next(_rows(path, first, rows[:1], ",", limits))[1]
            rows = rows[1:] if not all(map(_is_number, head)) else rows
        found = found or bool(rows)
        for start in range(0, len(rows), size):
            X = _input_numbers(path, first, rows[start:start + size], limits)
            if width is not None and X.shape[1] != width:
                raise DataError(f"{path}: expected one number of fields per row, found "
                                f"{sorted({width, X.shape[1]})}")
            width = X.shape[1]
            yield X
    if not found:
        yield np.empty((0, 0))


def _input_numbers(path: Path, first: int, lines: list[str], limits: ReadLimits
                   ) -> np.ndarray:
    """Non-empty CSV ``lines`` of numbers as float64 ``(B, D)``."""
    if not any('"' in line for line in lines):
        try:
            return np.loadtxt(lines, dtype=np.float64, delimiter=",", ndmin=2, comments=None,
                              quotechar=None)
        except ValueError:
            pass  # the csv module names the line
    rows = [row for _, row in _rows(path, first, lines, ",", limits)]
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise DataError(f"{path}: expected one number of fields per row, found {widths}")
    try:
        return np.array([[float(cell) for cell in row] for row in rows]).reshape(len(rows), -1)
    except ValueError as exc:
        raise DataError(f"{path}: expected numeric CSV inputs, found {exc}") from exc

"""Loaders behind ``Data.from_*``, HDF5 storage of ``Data``, and raw inputs for prediction.

No pickle anywhere: ``.npz`` files are read with ``allow_pickle=False`` and ``Data.save``
writes HDF5 (strings as fixed-length UTF-8, every dataset with the ``fletcher32`` checksum).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
from pydantic import ValidationError

from mlp.arrays import all_finite
from mlp.errors import DataError

if TYPE_CHECKING:
    from preprocess.data import Data

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg")
SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
WEIGHT_KEYS = ("w_train", "w_val")


def load_npz(cls: type[Data], path: str | Path, x_key: str, y_key: str) -> Data:
    """``Data`` of the arrays ``x_key``/``y_key``, or of ``X_train``/``y_train`` (and the
    ``_val``, ``_test`` pairs) when the archive has ``X_train``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: expected an .npz archive of plain arrays (no pickle), "
                        f"found an unreadable file ({exc})") from exc
    if "X_train" in arrays:
        return cls(**{key: arrays.get(key) for key in SPLIT_KEYS})
    if x_key not in arrays or y_key not in arrays:
        raise DataError(f"{path}: expected arrays {x_key!r} and {y_key!r} (or 'X_train' and "
                        f"'y_train'), found {sorted(arrays)}")
    return cls(arrays[x_key], arrays[y_key])


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


def _csv_targets(path: Path, labels: list[str], task: str) -> np.ndarray:
    """Strings stay class labels; integral numbers become int64 codes and other numbers
    ``(N, 1)`` float64 regression targets, unless ``task`` asks otherwise."""
    if not all(map(_is_number, labels)):
        if task == "regression":
            bad = next(v for v in labels if not _is_number(v))
            raise DataError(f"{path}: regression needs numeric targets, found {bad!r}")
        return np.array(labels)
    values = np.array([float(v) for v in labels])
    integral = bool(np.all(np.isfinite(values) & (values == np.round(values))
                           & (np.abs(values) < 2.0**53)))
    if task == "regression" or (task == "auto" and not integral):
        return values.reshape(-1, 1)
    return values.astype(np.int64) if integral else values


def load_csv(cls: type[Data], path: str | Path, target: int | str, header: bool | str,
             delimiter: str, task: str) -> Data:
    """``Data`` of a CSV file: numeric feature columns and one ``target`` column (index or
    header name); ``header="auto"`` detects a header row (always one for a named target)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [[cell.strip() for cell in row]
                    for row in csv.reader(handle, delimiter=delimiter) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: expected a readable UTF-8 CSV file ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: expected rows of comma-separated values, found an empty file")
    if header == "auto":
        header = isinstance(target, str) or _has_header(rows)
    names = rows.pop(0) if header else None
    if not rows:
        raise DataError(f"{path}: expected data rows after the header, found none")
    width = len(names if names is not None else rows[0])
    column = _target_column(path, target, names, width)
    features = np.empty((len(rows), width - 1), dtype=np.float64)
    first = 2 if names is not None else 1
    for number, row in enumerate(rows, start=first):
        if len(row) != width:
            raise DataError(f"{path}: line {number}: expected {width} fields, found {len(row)}")
        cells = row[:column] + row[column + 1:]
        try:
            features[number - first] = [float(cell) for cell in cells]
        except ValueError as exc:
            raise DataError(f"{path}: line {number}: expected numeric features, found "
                            f"{cells}") from exc
    labels = [row[column] for row in rows]
    return cls(features, _csv_targets(path, labels, task), task=task)


def read_image(path: Path) -> np.ndarray:
    """A grey-scale (Pillow mode ``L``) image as float32 ``(height, width)`` in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: expected a readable image, found an unreadable file "
                        f"({exc})") from exc
    return pixels / np.float32(255.0)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _stack_images(files: list[Path], shape: Sequence[int] | None
                  ) -> tuple[np.ndarray, tuple[int, int]]:
    """``(len(files), h*w)`` float32 rows of images that all have ``shape`` (height, width),
    by default the first image's; returns the rows and the shape."""
    first = read_image(files[0])
    expected = first.shape if shape is None else tuple(int(s) for s in shape)
    source = f"the first image {files[0]}" if shape is None else "image_shape"
    X = np.empty((len(files), first.size), dtype=np.float32)
    for row, path in enumerate(files):
        image = first if row == 0 else read_image(path)
        if image.shape != expected:
            raise DataError(f"{path}: expected an image of {expected[0]}x{expected[1]} "
                            f"(height x width) like {source}, found "
                            f"{image.shape[0]}x{image.shape[1]}")
        X[row] = image.reshape(-1)
    return X, expected


def load_image_folder(cls: type[Data], root: str | Path,
                      image_shape: Sequence[int] | None) -> Data:
    """``Data`` of ``root/<label>/*.bmp|png|jpg``: grey-scale [0, 1] float32 rows flattened
    row-major, labelled by sub-folder name; folders and files sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder with one sub-folder of images per label, "
                        "found no such folder")
    files: list[Path] = []
    labels: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        found = _image_files(folder)
        files += found
        labels += [folder.name] * len(found)
    if not files:
        raise DataError(f"{root}: expected images ({', '.join(IMAGE_SUFFIXES)}) in <label>/ "
                        "sub-folders, found none")
    X, shape = _stack_images(files, image_shape)
    return cls(X, np.array(labels), task="classification", image_shape=shape)


def load_sklearn(cls: type[Data], name: str, test_fraction: float, seed: int) -> Data:
    """A scikit-learn toy set with a stratified test split made by ``train_test_split``."""
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
    return cls(X_train, y_train, X_test=X_test, y_test=y_test, task="classification",
               image_shape=(8, 8) if name == "digits" else None)


def make_sin(cls: type[Data], n_train: int, n_val: int, noise: float,
             interval: tuple[float, float], frequency: float, seed: int) -> Data:
    """``y = sin(frequency x)`` regression, float64 ``(N, 1)``: ``n_train`` sorted uniform
    draws of ``x`` in ``interval`` (targets plus ``noise * N(0, 1)``) and a noiseless grid of
    ``n_val`` validation points spanning the interval."""
    rng = np.random.default_rng(seed)
    low, high = interval
    x_train = np.sort(rng.uniform(low, high, n_train)).reshape(-1, 1)
    x_val = np.linspace(low, high, n_val).reshape(-1, 1)
    y_train = np.sin(frequency * x_train) + noise * rng.normal(size=x_train.shape)
    return cls(x_train, y_train, x_val, np.sin(frequency * x_val), task="regression")


def _input_matrix(path: Path, X: np.ndarray) -> np.ndarray:
    """``X`` of a ``.npy``/``.csv`` input file as a finite floating ``(N, D)`` array (a 1-D
    array is one sample; integers and booleans become float32)."""
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.size == 0:
        raise DataError(f"{path}: expected inputs of ndim 2 (N, features) or 1 (one sample), "
                        f"found ndim {X.ndim} with shape {X.shape}")
    if X.dtype.kind in "iub":
        X = X.astype(np.float32)
    elif X.dtype.kind != "f":
        raise DataError(f"{path}: expected numeric inputs, found dtype {X.dtype}")
    if not all_finite(X):
        raise DataError(f"{path}: expected finite inputs, found "
                        f"{int((~np.isfinite(X)).sum())} NaN or inf value(s)")
    return X


def read_inputs(paths: Sequence[str | Path], image_shape: Sequence[int] | None = None
                ) -> np.ndarray:
    """Raw inputs ``(N, D)`` (floating) for prediction: one ``.npy`` or ``.csv`` file (a
    header row is skipped), or image files and folders of images, each read as
    ``Data.from_image_folder`` reads it (of ``image_shape`` when given)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("expected a .npy, .csv or image file or a folder of images, found "
                        "no path")
    if len(paths) == 1 and paths[0].suffix.lower() == ".npy":
        try:
            X = np.load(paths[0], allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{paths[0]}: expected a .npy array without pickle, found an "
                            f"unreadable file ({exc})") from exc
        return _input_matrix(paths[0], X)
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        try:
            with paths[0].open(newline="", encoding="utf-8") as handle:
                rows = [row for row in csv.reader(handle) if row]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"{paths[0]}: expected a readable UTF-8 CSV file ({exc})") from exc
        if rows and not all(map(_is_number, rows[0])):
            rows = rows[1:]
        widths = sorted({len(row) for row in rows})
        if len(widths) > 1:
            raise DataError(f"{paths[0]}: expected one number of fields per row, found {widths}")
        try:
            X = np.array([[float(cell) for cell in row] for row in rows])
        except ValueError as exc:
            raise DataError(f"{paths[0]}: expected numeric CSV inputs, found {exc}") from exc
        return _input_matrix(paths[0], X)
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(_image_files(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            raise DataError(f"{path}: expected a .npy, .csv or image file "
                            f"({', '.join(IMAGE_SUFFIXES)}) or a folder of images")
    if not files:
        raise DataError(f"expected image files in {', '.join(map(str, paths))}, found none")
    return _stack_images(files, image_shape)[0]


def encode_classes(classes: np.ndarray) -> tuple[str, np.ndarray]:
    """``(kind, array)`` storing class labels in HDF5 without pickle: strings as fixed-length
    UTF-8 (HDF5 filters refuse variable-length data), other labels as their numeric dtype."""
    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes.tolist()):
        encoded = [c.encode("utf-8") for c in classes.tolist()]
        length = max([1, *map(len, encoded)])
        return "str", np.array(encoded, dtype=h5py.string_dtype("utf-8", length))
    kinds = {"S": "bytes", "i": "int", "u": "int", "f": "float", "b": "bool"}
    if classes.dtype.kind not in kinds:
        raise DataError(f"expected class labels of strings, bytes, integers, floats or "
                        f"booleans to store, found dtype {classes.dtype}")
    return kinds[classes.dtype.kind], classes


def decode_classes(kind: str, values: np.ndarray) -> np.ndarray:
    """The class labels ``encode_classes`` stored, with their original Python types."""
    if kind == "str":
        return np.array([v.decode("utf-8") for v in values.tolist()], dtype=str)
    return values


def save_data(data: Data, path: Path) -> Path:
    """Write every split, the sample weights, the classes, the normaliser, ``task`` and
    ``image_shape``."""
    from preprocess.data import SPLITS

    with h5py.File(path, "w") as handle:
        handle.attrs["format"] = "mlp-data"
        handle.attrs["task"] = data.task
        if data.image_shape is not None:
            handle.attrs["image_shape"] = np.array(data.image_shape, dtype=np.int64)
        for split in SPLITS:
            for prefix in ("X", "y"):
                array = getattr(data, f"{prefix}_{split}")
                if array is not None:
                    handle.create_dataset(f"{prefix}_{split}", data=array, fletcher32=True)
        for key in WEIGHT_KEYS:
            if getattr(data, key) is not None:
                handle.create_dataset(key, data=getattr(data, key), fletcher32=True)
        if data.classes is not None:
            kind, array = encode_classes(data.classes)
            handle.create_dataset("classes", data=array, fletcher32=True).attrs["kind"] = kind
        if data.normalizer is not None:
            group = handle.create_group("normalizer")
            group.attrs["method"] = data.normalizer.method
            for name, array in data.normalizer.to_arrays().items():
                group.create_dataset(name, data=array, fletcher32=True)
    return path


def load_data_file(cls: type[Data], path: Path) -> Data:
    """Read a file written by ``save_data``; the splits pass the constructor's validation
    (class codes are decoded and re-encoded, which must give the stored classes back)."""
    from preprocess.normalizer import Normalizer

    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != "mlp-data":
                raise DataError(f"{path}: expected a file written by Data.save (format "
                                f"'mlp-data'), found format {handle.attrs.get('format')!r}")
            arrays = {key: handle[key][()] for key in SPLIT_KEYS + WEIGHT_KEYS if key in handle}
            classes = None
            if "classes" in handle:
                dataset = handle["classes"]
                classes = decode_classes(str(dataset.attrs["kind"]), dataset[()])
            normalizer = None
            if "normalizer" in handle:
                group = handle["normalizer"]
                normalizer = Normalizer.from_arrays(str(group.attrs["method"]),
                                                    group["offset"][()], group["scale"][()])
            task = str(handle.attrs["task"])
            image_shape = handle.attrs.get("image_shape")
    except (OSError, KeyError, ValidationError) as exc:
        raise DataError(f"{path}: expected a readable HDF5 data file, found {exc}") from exc
    if classes is not None:
        for key in ("y_train", "y_val", "y_test"):
            codes = arrays.get(key)
            if codes is not None and (codes.dtype.kind not in "iu" or codes.ndim != 1 or (
                    codes.size and not 0 <= codes.min() <= codes.max() < classes.shape[0])):
                raise DataError(f"{path}: expected {key} to hold class codes in "
                                f"[0, {classes.shape[0] - 1}], found {codes.dtype} "
                                f"{codes.shape}")
            if codes is not None:
                arrays[key] = classes[codes]
    data = cls(**arrays, task=task, image_shape=image_shape)
    if classes is not None and not np.array_equal(data.classes, classes):
        raise DataError(f"{path}: expected every stored class to occur in some split, found "
                        f"classes {data.classes.tolist()} of {classes.tolist()}")
    data.normalizer = normalizer
    return data

"""Loaders behind ``Data.from_*``, HDF5 storage of ``Data``, and raw inputs for prediction.

No pickle anywhere: ``.npz`` files are read with ``allow_pickle=False`` and ``Data.save``
writes HDF5 (strings as UTF-8, every dataset with the ``fletcher32`` checksum).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlp.errors import DataError

if TYPE_CHECKING:
    from preprocess.data import Data

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg")
SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")


def load_npz(cls: type[Data], path: str | Path, x_key: str, y_key: str) -> Data:
    """``X``/``y`` arrays, or ``X_train``/``y_train`` (and ``_val``, ``_test``) when present."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as .npz without pickle ({exc})") from exc
    if "X_train" in arrays:
        return cls(**{k: arrays.get(k) for k in ("X_train", "y_train", "X_val", "y_val",
                                                 "X_test", "y_test")})
    missing = [k for k in (x_key, y_key) if k not in arrays]
    if missing:
        raise DataError(f"{path}: expected arrays {x_key!r} and {y_key!r}, found "
                        f"{sorted(arrays)}")
    return cls(arrays[x_key], arrays[y_key])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(cls: type[Data], path: str | Path, target: int | str, delimiter: str,
             task: str) -> Data:
    """Numeric feature columns and one target column (by index or header name)."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    if not rows:
        raise DataError(f"{path}: empty CSV file")
    header = None if all(_is_number(cell) for cell in rows[0]) else rows.pop(0)
    width = len(rows[0]) if rows else 0
    if isinstance(target, str):
        if header is None or target not in header:
            raise DataError(f"{path}: target column {target!r} not in header {header}")
        column = header.index(target)
    else:
        column = target % width if width else 0
    features, labels = [], []
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {width}")
        labels.append(row[column])
        cells = row[:column] + row[column + 1:]
        try:
            features.append([float(cell) for cell in cells])
        except ValueError as exc:
            raise DataError(f"{path}: line {number}: non-numeric feature ({exc})") from exc
    y: np.ndarray
    y = np.array([float(v) for v in labels]) if all(map(_is_number, labels)) else np.array(labels)
    if y.dtype.kind == "f" and task != "regression" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if task == "regression":
        y = y.astype(np.float64).reshape(-1, 1)
    return cls(np.array(features, dtype=np.float64), y, task=task)


def read_image(path: Path) -> np.ndarray:
    """A grey-scale image as float32 ``(h, w)`` in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc
    return pixels / np.float32(255.0)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _stack_images(files: list[Path], shape: tuple[int, int] | None) -> np.ndarray:
    images = []
    for path in files:
        image = read_image(path)
        if shape is None:
            shape = image.shape
        if image.shape != shape:
            raise DataError(f"{path}: image size {image.shape[1]}x{image.shape[0]} differs "
                            f"from the expected {shape[1]}x{shape[0]} (width x height)")
        images.append(image.reshape(-1))
    return np.stack(images)


def load_image_folder(cls: type[Data], root: str | Path) -> Data:
    """``root/<label>/*.bmp|png|jpg``: grey-scale, [0, 1], flattened; labels are folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder of <label>/ sub-folders, found none")
    files, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in _image_files(folder):
            files.append(path)
            labels.append(folder.name)
    if not files:
        raise DataError(f"{root}: expected images ({', '.join(IMAGE_SUFFIXES)}) in "
                        "<label>/ sub-folders, found none")
    first = read_image(files[0]).shape
    X = _stack_images(files, first)
    return cls(X, np.array(labels), task="classification", image_shape=first)


def load_sklearn(cls: type[Data], name: str, test_fraction: float, seed: int) -> Data:
    """A scikit-learn toy data set with a stratified test split (``train_test_split``)."""
    if name not in SKLEARN_SETS:
        raise DataError(f"unknown scikit-learn data set {name!r}; expected one of "
                        f"{', '.join(SKLEARN_SETS)}")
    try:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise DataError("scikit-learn data sets need the 'datasets' extra: "
                        "pip install 'mlp-routinizer[datasets]'") from exc
    bunch = getattr(datasets, f"load_{name}")()
    X, y = bunch.data, bunch.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed)
    return cls(X_train, y_train, X_test=X_test, y_test=y_test, task="classification",
               image_shape=(8, 8) if name == "digits" else None)


def read_inputs(paths: list[Path], image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Raw inputs for prediction: one ``.npy`` or ``.csv`` file, or image files / folders."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].suffix.lower() == ".npy":
        X = np.load(paths[0], allow_pickle=False)
        return X.reshape(1, -1) if X.ndim == 1 else X
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        with open(paths[0], newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
        if rows and not all(_is_number(cell) for cell in rows[0]):
            rows = rows[1:]
        try:
            return np.array([[float(cell) for cell in row] for row in rows])
        except ValueError as exc:
            raise DataError(f"{paths[0]}: expected numeric CSV inputs ({exc})") from exc
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
        raise DataError(f"no image files in {', '.join(map(str, paths))}")
    return _stack_images(files, None if image_shape is None else tuple(image_shape))


def encode_classes(classes: np.ndarray) -> tuple[str, np.ndarray]:
    """``(kind, array)`` for HDF5 without pickle: strings as fixed-length UTF-8 (HDF5
    filters refuse variable-length data), everything else as its own numeric dtype."""
    import h5py

    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes.tolist()):
        encoded = [c.encode("utf-8") for c in classes.tolist()]
        length = max([1, *map(len, encoded)])
        return "str", np.array(encoded, dtype=h5py.string_dtype("utf-8", length))
    kinds = {"S": "bytes", "i": "int", "u": "int", "f": "float", "b": "bool"}
    if classes.dtype.kind not in kinds:
        raise DataError(f"cannot store class labels of dtype {classes.dtype} "
                        "(strings, bytes, integers, floats or booleans)")
    return kinds[classes.dtype.kind], classes


def decode_classes(kind: str, values: np.ndarray) -> np.ndarray:
    """The labels ``encode_classes`` stored, with their original Python types."""
    if kind == "str":
        return np.array([v.decode("utf-8") for v in values.tolist()], dtype=str)
    return values


def save_data(data: Data, path: Path) -> Path:
    """Write every split, the classes and the normaliser to an HDF5 file."""
    import h5py

    from preprocess.data import SPLITS

    with h5py.File(path, "w") as handle:
        handle.attrs["format"] = "mlp-data"
        handle.attrs["task"] = data.task
        if data.image_shape is not None:
            handle.attrs["image_shape"] = np.array(data.image_shape)
        for split in SPLITS:
            for prefix in ("X", "y"):
                array = getattr(data, f"{prefix}_{split}")
                if array is not None:
                    handle.create_dataset(f"{prefix}_{split}", data=array, fletcher32=True)
        if data.classes is not None:
            kind, array = encode_classes(data.classes)
            handle.create_dataset("classes", data=array, fletcher32=True).attrs["kind"] = kind
        if data.normalizer is not None:
            group = handle.create_group("normalizer")
            group.attrs["method"] = data.normalizer.method
            group.create_dataset("offset", data=data.normalizer.offset, fletcher32=True)
            group.create_dataset("scale", data=data.normalizer.scale, fletcher32=True)
    return path


def load_data_file(cls: type[Data], path: Path) -> Data:
    """Read a file written by ``Data.save``."""
    import h5py

    from preprocess.data import SPLITS, Normalizer

    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != "mlp-data":
                raise DataError(f"{path}: not a data file written by Data.save")
            arrays = {name: handle[name][()] for name in handle if name.startswith(("X_", "y_"))}
            classes = None
            if "classes" in handle:
                dataset = handle["classes"]
                classes = decode_classes(str(dataset.attrs["kind"]), dataset[()])
            normalizer = None
            if "normalizer" in handle:
                group = handle["normalizer"]
                normalizer = Normalizer(method=str(group.attrs["method"]),
                                        offset=group["offset"][()], scale=group["scale"][()])
            task = str(handle.attrs["task"])
            shape = handle.attrs.get("image_shape")
    except OSError as exc:
        raise DataError(f"{path}: cannot read as HDF5 ({exc})") from exc
    data = object.__new__(cls)
    for split in SPLITS:
        setattr(data, f"X_{split}", arrays.get(f"X_{split}"))
        setattr(data, f"y_{split}", arrays.get(f"y_{split}"))
    data.task, data.classes, data.normalizer = task, classes, normalizer
    data.image_shape = None if shape is None else tuple(int(s) for s in shape)
    return data

"""``Data``: validated training/validation/test splits, label encoding, normalisation,
mini-batches and HDF5 storage.

Samples are rows: features are ``(N, n_features)`` floating arrays, C-contiguous. Floating
features keep their dtype (float32 stays float32, without a copy); integer and boolean
features become float32. Classification labels of any hashable type are encoded to
``0..C-1`` (``classes`` keeps the original values, sorted, so ``classes[codes]`` decodes);
regression targets are 2-D floating arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mlp.errors import DataError

SPLITS = ("train", "val", "test")
Task = Literal["auto", "classification", "regression"]


class Normalizer(BaseModel):
    """``apply(X) = (X - offset) / scale`` with statistics of a training split."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    method: Literal["zscore", "minmax"]
    offset: np.ndarray = Field(exclude=True, repr=False)
    scale: np.ndarray = Field(exclude=True, repr=False)

    @classmethod
    def fit(cls, X: np.ndarray, method: Literal["zscore", "minmax"]) -> Normalizer:
        """Statistics of ``X (N, D)``; constant features get scale 1 (they map to 0)."""
        if method == "zscore":
            offset, scale = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
        elif method == "minmax":
            offset = X.min(axis=0).astype(np.float64)
            scale = X.max(axis=0).astype(np.float64) - offset
        else:
            raise DataError(f"normalize method must be 'zscore' or 'minmax', found {method!r}")
        scale[scale == 0] = 1.0
        return cls(method=method, offset=offset, scale=scale)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``(X - offset) / scale`` in ``X``'s floating dtype (float32 for integers)."""
        X = np.asarray(X)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        if X.ndim != 2 or X.shape[1] != self.offset.shape[0]:
            raise DataError(f"normalizer expects (N, {self.offset.shape[0]}) inputs, "
                            f"found shape {X.shape}")
        out = X.astype(dtype, copy=True)
        out -= self.offset.astype(dtype)
        out /= self.scale.astype(dtype)
        return out


def _features(X: Any, split: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"X_{split} must be 2-D (N, features), found {X.ndim}-D shape {X.shape}")
    if X.dtype.kind in "iub":
        X = X.astype(np.float32)
    elif X.dtype.kind != "f":
        raise DataError(f"X_{split} must be numeric, found dtype {X.dtype}")
    X = np.ascontiguousarray(X)
    finite = np.isfinite(X)
    if not finite.all():
        raise DataError(f"X_{split} must be finite, found {X.size - int(finite.sum())} "
                        "NaN or inf value(s)")
    return X


class Data:
    """Training data with optional validation and test splits.

    ``task`` is ``classification``, ``regression`` or ``auto`` (regression for 2-D float
    targets, classification otherwise). Construction validates: 2-D finite features, one
    width for every split, as many targets as samples, two or more classes.
    """

    def __init__(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None,
                 X_test: Any = None, y_test: Any = None, task: Task = "auto",
                 image_shape: tuple[int, int] | None = None) -> None:
        raw = {"train": (X_train, y_train), "val": (X_val, y_val), "test": (X_test, y_test)}
        features: dict[str, np.ndarray | None] = {}
        targets: dict[str, np.ndarray | None] = {}
        for split, (X, y) in raw.items():
            if (X is None) != (y is None):
                raise DataError(f"X_{split} and y_{split} go together: found only "
                                f"{'X' if y is None else 'y'}_{split}")
            if X is None:
                features[split] = targets[split] = None
                continue
            features[split] = _features(X, split)
            targets[split] = np.asarray(y)
            n_x, n_y = features[split].shape[0], targets[split].shape[0]
            if n_x != n_y:
                raise DataError(f"X_{split} has {n_x} samples, y_{split} has {n_y} targets")
        widths = {s: X.shape[1] for s, X in features.items() if X is not None}
        if len(set(widths.values())) > 1:
            raise DataError(f"every split needs the training width {widths['train']}, "
                            f"found widths {widths}")
        y_train_arr = targets["train"]
        if task == "auto":
            task = ("regression" if y_train_arr.ndim == 2 and y_train_arr.dtype.kind == "f"
                    else "classification")
        if task not in ("classification", "regression"):
            raise DataError(f"task must be auto, classification or regression, found {task!r}")
        self.task: Literal["classification", "regression"] = task
        self.classes: np.ndarray | None = None
        if task == "classification":
            targets = self._encode(targets)
        else:
            targets = {s: None if y is None else self._regression_targets(y, s)
                       for s, y in targets.items()}
        self.X_train, self.y_train = features["train"], targets["train"]
        self.X_val, self.y_val = features["val"], targets["val"]
        self.X_test, self.y_test = features["test"], targets["test"]
        self.normalizer: Normalizer | None = None
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)

    # ------------------------------------------------------------------ labels
    def _encode(self, targets: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
        present = {s: y for s, y in targets.items() if y is not None}
        for split, y in present.items():
            if y.ndim != 1:
                raise DataError(f"classification labels y_{split} must be 1-D, found shape "
                                f"{y.shape}")
        classes = np.unique(np.concatenate([y for y in present.values()]))
        if classes.shape[0] < 2:
            raise DataError("classification needs at least 2 classes, found 1: "
                            f"{classes[0]!r}")
        self.classes = classes
        return {s: None if y is None else np.searchsorted(classes, y).astype(np.int64)
                for s, y in targets.items()}

    @staticmethod
    def _regression_targets(y: np.ndarray, split: str) -> np.ndarray:
        if y.dtype.kind not in "fiub":
            raise DataError(f"regression targets y_{split} must be numeric, found {y.dtype}")
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2:
            raise DataError(f"regression targets y_{split} must be 2-D (N, outputs), found "
                            f"{y.ndim}-D")
        y = np.ascontiguousarray(y, dtype=y.dtype if y.dtype.kind == "f" else np.float64)
        if not np.isfinite(y).all():
            raise DataError(f"y_{split} must be finite, found NaN or inf")
        return y

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Original labels of class indices (regression: returned unchanged)."""
        return np.asarray(codes) if self.classes is None else self.classes[np.asarray(codes)]

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else int(self.classes.shape[0])

    @property
    def n_outputs(self) -> int:
        """Output width a model needs: classes, or target columns for regression."""
        return self.n_classes if self.task == "classification" else int(self.y_train.shape[1])

    def __len__(self) -> int:
        return int(self.X_train.shape[0])

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={getattr(self, f'X_{s}').shape[0]}" for s in SPLITS
                          if getattr(self, f"X_{s}") is not None)
        return f"Data({self.task}, features={self.n_features}, {sizes})"

    # ------------------------------------------------------------ transforms
    def astype(self, dtype: str | np.dtype) -> Data:
        """A Data whose features (and regression targets) are ``dtype``; no copy of arrays
        that already are, and ``self`` when nothing changes."""
        dtype = np.dtype(dtype)
        arrays = {f"X_{s}": getattr(self, f"X_{s}") for s in SPLITS}
        if self.task == "regression":
            arrays.update({f"y_{s}": getattr(self, f"y_{s}") for s in SPLITS})
        if all(a is None or a.dtype == dtype for a in arrays.values()):
            return self
        other = object.__new__(Data)
        other.__dict__.update(self.__dict__)
        other.__dict__["_buffers"] = {}
        for name, array in arrays.items():
            if array is not None:
                setattr(other, name, np.ascontiguousarray(array, dtype=dtype))
        return other

    def shuffle(self, seed: int) -> Data:
        """Shuffle the training split in place."""
        order = np.random.default_rng(seed).permutation(len(self))
        self.X_train, self.y_train = self.X_train[order], self.y_train[order]
        return self

    def _split_off(self, split: str, fraction: float, stratify: bool, seed: int) -> Data:
        if getattr(self, f"X_{split}") is not None:
            raise DataError(f"the data already has a {split} split")
        if not 0 < fraction < 1:
            raise DataError(f"the {split} fraction must be in (0, 1), found {fraction}")
        rng = np.random.default_rng(seed)
        n = len(self)
        if stratify and self.task == "classification":
            held = []
            for code in range(self.n_classes):
                members = np.flatnonzero(self.y_train == code)
                take = int(round(fraction * members.shape[0]))
                held.append(rng.permutation(members)[:take])
            held_out = np.sort(np.concatenate(held))
        else:
            held_out = np.sort(rng.permutation(n)[: int(round(fraction * n))])
        if held_out.shape[0] == 0 or held_out.shape[0] == n:
            raise DataError(f"a {split} fraction of {fraction} of {n} samples leaves an empty "
                            "split")
        keep = np.ones(n, dtype=bool)
        keep[held_out] = False
        setattr(self, f"X_{split}", self.X_train[held_out])
        setattr(self, f"y_{split}", self.y_train[held_out])
        self.X_train, self.y_train = self.X_train[keep], self.y_train[keep]
        return self

    def split_validation(self, fraction: float = 0.1, stratify: bool = True,
                         seed: int = 0) -> Data:
        """Move ``fraction`` of the training samples (per class when stratified) to
        validation."""
        return self._split_off("val", fraction, stratify, seed)

    def split_test(self, fraction: float = 0.2, stratify: bool = True, seed: int = 0) -> Data:
        """Move ``fraction`` of the training samples (per class when stratified) to test."""
        return self._split_off("test", fraction, stratify, seed)

    def normalize(self, method: Literal["zscore", "minmax"] = "zscore") -> Data:
        """Fit ``method`` on the training split and apply it to every split."""
        if self.normalizer is not None:
            raise DataError(f"the data is already normalised ({self.normalizer.method})")
        self.normalizer = Normalizer.fit(self.X_train, method)
        for split in SPLITS:
            X = getattr(self, f"X_{split}")
            if X is not None:
                setattr(self, f"X_{split}", self.normalizer.apply(X))
        return self

    def augment_shift(self, image_shape: tuple[int, int], pixels: int = 1) -> Data:
        """Training split = originals + shifts up, down, left and right (5x the samples)."""
        from preprocess.augment import shifted_copies

        self.X_train = shifted_copies(self.X_train, tuple(image_shape), pixels)
        self.y_train = np.tile(self.y_train, (5,) + (1,) * (self.y_train.ndim - 1))
        return self

    # ---------------------------------------------------------------- batches
    def batches(self, batch_size: int | None, rng: np.random.Generator | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Mini-batches of the training split: ``rng.permutation(n)`` order when ``rng`` is
        given (drawn in place into a kept index buffer, so the same generator state gives
        the same order), else in order. Batches are gathered into buffers kept on the Data
        and reused: a batch is valid until the next one is taken."""
        X, y = self.X_train, self.y_train
        n = X.shape[0]
        size = n if batch_size is None else min(batch_size, n)
        if rng is None:
            for start in range(0, n, size):
                yield X[start:start + size], y[start:start + size]
            return
        order = self._work("order", (n,), np.dtype(np.int64))
        np.copyto(order, self._arange(n))
        rng.shuffle(order)
        for start in range(0, n, size):
            index = order[start:start + size]
            m = index.shape[0]
            X_batch = self._work("X", (m,) + X.shape[1:], X.dtype)
            y_batch = self._work("y", (m,) + y.shape[1:], y.dtype)
            # indices come from our own permutation; mode="raise" would buffer the whole batch
            np.take(X, index, axis=0, out=X_batch, mode="wrap")
            np.take(y, index, axis=0, out=y_batch, mode="wrap")
            yield X_batch, y_batch

    def _work(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A buffer kept across calls of ``batches`` (one per name, shape and dtype)."""
        buffers = self.__dict__.setdefault("_buffers", {})
        key = (name, shape, dtype)
        if key not in buffers:
            buffers[key] = np.empty(shape, dtype)
        return buffers[key]

    def _arange(self, n: int) -> np.ndarray:
        buffers = self.__dict__.setdefault("_buffers", {})
        if ("arange", n) not in buffers:
            buffers[("arange", n)] = np.arange(n, dtype=np.int64)
        return buffers[("arange", n)]

    def fingerprint(self) -> dict[str, Any]:
        """Shape, dtype and SHA-256 of the training arrays (to notice changed data)."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train):
            digest.update(f"{array.shape}{array.dtype.str}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        return {"shape": list(self.X_train.shape), "dtype": str(self.X_train.dtype),
                "sha256": digest.hexdigest()}

    # ---------------------------------------------------------------- loaders
    @classmethod
    def from_arrays(cls, X: Any, y: Any, **kwargs: Any) -> Data:
        return cls(X, y, **kwargs)

    @classmethod
    def from_npz(cls, path: str | Path, x_key: str = "X", y_key: str = "y") -> Data:
        from preprocess.loaders import load_npz

        return load_npz(cls, path, x_key, y_key)

    @classmethod
    def from_csv(cls, path: str | Path, target: int | str = -1, delimiter: str = ",",
                 task: Task = "auto") -> Data:
        from preprocess.loaders import load_csv

        return load_csv(cls, path, target, delimiter, task)

    @classmethod
    def from_image_folder(cls, root: str | Path) -> Data:
        from preprocess.loaders import load_image_folder

        return load_image_folder(cls, root)

    @classmethod
    def from_sklearn(cls, name: str, test_fraction: float = 0.25, seed: int = 0) -> Data:
        from preprocess.loaders import load_sklearn

        return load_sklearn(cls, name, test_fraction, seed)

    @classmethod
    def sin(cls, n_train: int = 64, n_val: int = 256, noise: float = 0.0,
            interval: tuple[float, float] = (0.0, 1.0), frequency: float = 2 * np.pi,
            seed: int = 0) -> Data:
        """y = sin(frequency x): random training x, a validation grid, float64 (N, 1)."""
        rng = np.random.default_rng(seed)
        low, high = interval
        x_train = np.sort(rng.uniform(low, high, n_train)).reshape(-1, 1)
        x_val = np.linspace(low, high, n_val).reshape(-1, 1)
        y_train = np.sin(frequency * x_train) + noise * rng.normal(size=x_train.shape)
        return cls(x_train, y_train, x_val, np.sin(frequency * x_val), task="regression")

    def save(self, path: str | Path) -> Path:
        from preprocess.loaders import save_data

        return save_data(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Data:
        from preprocess.loaders import load_data_file

        return load_data_file(cls, Path(path))

"""``Data``: validated training/validation/test splits with label encoding, splitting,
normalisation, augmentation, mini-batches, fingerprints and HDF5 storage.

Samples are rows: features are ``(N, n_features)`` C-contiguous floating arrays. Floating
features keep their dtype and are not copied when already C-contiguous; integer and boolean
features become float32. SciPy sparse features (CSR, CSC, ...) are kept as CSR
(``mlp.nn.sparse``): their batches are CSR row selections, never dense, ``normalize`` scales
them without centring (``Normalizer.fit``), and ``augment_shift`` and ``save`` refuse them.
Classification labels of any sortable hashable type are encoded to
``0..C-1`` (``classes`` keeps the sorted original values, so ``classes[codes]`` decodes);
regression targets are ``(N, outputs)`` floating arrays.
"""

from __future__ import annotations

import copy
import hashlib
import math
import reprlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.nn import sparse
from mlp.nn.input_normalizer import Method, Normalizer
from preprocess import augment, data_display, data_file, disk_open, loaders
from preprocess.block_batches import block_batches
from preprocess.bounded import DEFAULT_LIMITS, ReadLimits
from preprocess.disk import DiskArray, DiskSplit
from preprocess.streaming_stats import fit_streaming

SPLITS = ("train", "val", "test")
Task = Literal["auto", "classification", "regression"]


def _features(X: Any, split: str) -> np.ndarray:
    """``X_split`` as a C-contiguous floating ``(N, D)`` array (copied only when needed),
    or a checked floating CSR matrix for sparse ``X``."""
    if sparse.is_sparse(X):
        return sparse.features(X, f"X_{split}")
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"X_{split} must have ndim 2 (N, features), found ndim {X.ndim} "
                        f"(shape {X.shape})")
    if X.shape[1] == 0:
        raise DataError(f"X_{split} must have at least 1 feature, found shape {X.shape}")
    if X.dtype.kind in "iub":
        X = X.astype(np.float32)
    elif X.dtype.kind != "f":
        raise DataError(f"X_{split} must be numeric (float, int or bool), found dtype {X.dtype}")
    X = np.ascontiguousarray(X)
    _check_finite(X, f"X_{split}")
    return X


def _check_finite(array: np.ndarray, name: str) -> None:
    if not all_finite(array):
        n_nan = int(np.isnan(array).sum())
        raise DataError(f"{name} must be finite, found {n_nan} NaN and "
                        f"{int(np.isinf(array).sum())} inf value(s)")


def _encode_labels(labels: dict[str, np.ndarray], known: Any = None
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sorted unique labels of every split (train first) and each split's int64 codes;
    with ``known`` classes, codes index those (a split may then lack some, or hold one)."""
    for split, y in labels.items():
        if y.ndim != 1:
            raise DataError(f"classification labels y_{split} must have ndim 1 (N,), found "
                            f"shape {y.shape}")
        if y.dtype.kind == "f":
            _check_finite(y, f"y_{split}")
    kinds = ", ".join(f"y_{s}: {y.dtype}" for s, y in labels.items())
    if len({"number" if y.dtype.kind in "iuf" else y.dtype.kind for y in labels.values()}) > 1:
        raise DataError(f"classification labels of every split need one kind (numbers, "
                        f"strings, bytes, booleans or objects), found {kinds}")
    if known is not None:
        return _encode_known(labels, np.asarray(known))
    try:
        classes, codes = np.unique(np.concatenate(list(labels.values())), return_inverse=True)
    except TypeError as exc:
        raise DataError(f"classification labels must be mutually sortable, found {kinds} "
                        f"({exc})") from exc
    if classes.shape[0] < 2:
        raise DataError("classification needs at least 2 classes, found 1: "
                        f"{classes.tolist()[0]!r}")
    bounds = np.cumsum([y.shape[0] for y in labels.values()])[:-1]
    parts = np.split(codes.reshape(-1).astype(np.int64), bounds)
    return classes, dict(zip(labels, parts, strict=True))


def _looks_continuous(y: np.ndarray) -> bool:
    """1-D float labels, not all whole numbers, at least 10 and nearly all distinct: these
    are regression targets, not class labels."""
    if y.ndim != 1 or y.dtype.kind != "f" or len(y) < 10 or not all_finite(y):
        return False
    return bool((y != np.round(y)).any()) and len(np.unique(y)) > 0.9 * len(y)


def _encode_known(labels: dict[str, np.ndarray], known: np.ndarray
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes of ``labels`` as indices into the sorted unique ``known`` classes."""
    classes = np.unique(known)
    if known.ndim != 1 or classes.shape[0] != known.shape[0] or classes.shape[0] < 2:
        raise DataError(f"classes must be at least 2 distinct labels (N,), found "
                        f"{known.tolist()!r}")
    codes = {}
    for split, y in labels.items():
        try:
            index = np.minimum(np.searchsorted(classes, y), classes.shape[0] - 1)
        except TypeError as exc:
            raise DataError(f"y_{split} and the classes must be mutually sortable, found "
                            f"{y.dtype} and {classes.dtype} ({exc})") from exc
        unknown = classes[index] != y
        if unknown.any():
            raise DataError(f"y_{split} must hold only the classes {classes.tolist()!r}, "
                            f"found {np.unique(y[unknown]).tolist()!r}")
        codes[split] = index.astype(np.int64)
    return classes, codes


def _sample_weights(w: Any, n: int, split: str) -> np.ndarray:
    """``w_split`` as a float64 ``(n,)`` array of finite non-negative weights."""
    w = np.asarray(w)
    if w.dtype.kind not in "fiub" or w.shape != (n,):
        raise DataError(f"w_{split} must be {n} numeric sample weights (shape ({n},)), found "
                        f"dtype {w.dtype} shape {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise DataError(f"w_{split} must be finite and non-negative with a positive sum, found "
                        f"min {w.min()}, max {w.max()}, sum {w.sum()}")
    return w


def class_weights(codes: np.ndarray, classes: np.ndarray,
                  class_weight: str | dict[Any, float]) -> np.ndarray:
    """Per-class weights from the class codes of a training split.

    Parameters
    ----------
    codes : ndarray
        Class codes ``(N,)`` in ``0..C-1``.
    classes : ndarray
        The original labels ``(C,)``.
    class_weight : "balanced" or dict
        ``"balanced"`` gives every class present ``N / (classes present * its count)``
        (scikit-learn's rule) and 1 to absent ones; a dict ``{label: weight}`` its weights
        (1 for labels it omits).

    Returns
    -------
    ndarray
        Weights ``(C,)``, float64.

    Raises
    ------
    DataError
        ``class_weight`` is neither, or names labels that are not classes.
    """
    counts = np.bincount(codes, minlength=classes.shape[0])
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise DataError(f"class_weight must be 'balanced' or a dict, found {class_weight!r}")
        present = counts > 0
        per_class = np.ones(classes.shape[0])
        per_class[present] = codes.shape[0] / (present.sum() * counts[present])
    elif isinstance(class_weight, dict):
        per_class = np.ones(classes.shape[0])
        listed = classes.tolist()
        for label, weight in class_weight.items():
            if label not in listed:
                raise DataError(f"class_weight names label {label!r}, the classes are {listed!r}")
            per_class[listed.index(label)] = float(weight)
    else:
        raise DataError(f"class_weight must be 'balanced' or a dict, found {class_weight!r}")
    return per_class


def _regression_targets(y: np.ndarray, split: str) -> np.ndarray:
    """``y_split`` as a C-contiguous floating ``(N, outputs)`` array ((N,) becomes (N, 1))."""
    if y.dtype.kind not in "fiub":
        raise DataError(f"regression targets y_{split} must be numeric, found dtype {y.dtype}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2:
        raise DataError(f"regression targets y_{split} must have ndim 2 (N, outputs), found "
                        f"ndim {y.ndim}")
    y = np.ascontiguousarray(y, dtype=y.dtype if y.dtype.kind == "f" else np.float64)
    _check_finite(y, f"y_{split}")
    return y


def _image_shape(shape: Sequence[int] | None, n_features: int) -> tuple[int, int] | None:
    if shape is None:
        return None
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1 or math.prod(shape) != n_features:
        raise DataError(f"image_shape must be (height, width) with height * width = "
                        f"{n_features} features, found {shape}")
    return shape


class Data:
    """Training data with optional validation and test splits, validated.

    ``X_*`` are stored as ``(N, D)`` floating arrays; ``y_*`` as int64 class codes ``(N,)``
    or float regression targets ``(N, outputs)``. The task is stored resolved. Sample
    weights follow their rows through shuffling, splitting and augmenting, and the
    trainer's loss uses them as a weighted mean.

    Parameters
    ----------
    X_train, y_train : array_like
        Training features ``(N, D)`` (floating, integer or boolean; SciPy sparse is kept as
        CSR) and targets: class labels ``(N,)`` of any sortable hashable type, or
        regression values ``(N,)`` or ``(N, outputs)``.
    X_val, y_val : array_like, optional
        A validation split, given together.
    X_test, y_test : array_like, optional
        A test split, given together.
    task : {"auto", "classification", "regression"}, default "auto"
        ``auto`` takes 2-D float targets as regression and anything else as class
        labels, but refuses 1-D float targets that look continuous.
    image_shape : sequence of int, optional
        ``(height, width)`` for image data (``height * width == D``).
    input_scale : float, optional
        The factor that turns image files read in [0, 1] into these features' scale
        (digits: 16), kept with the model so image files can be predicted.
    w_train, w_val : array_like, optional
        Sample weights ``(N,)`` of the training and validation splits (float64).
    class_weight : "balanced" or dict, optional
        Multiplies into the sample weights (see ``class_weights``).
    classes : array_like, optional
        The label set to encode against (so a split may lack some classes, as in
        incremental training).

    Raises
    ------
    DataError
        Saying what was expected and found: splits of different lengths or widths,
        non-finite values, a bad ``task`` or ``image_shape``.

    Examples
    --------
    >>> import numpy as np
    >>> from preprocess import Data
    >>> data = Data(np.zeros((4, 3)), ["cat", "dog", "cat", "bird"])
    >>> data.task, data.classes.tolist(), data.y_train.tolist()
    ('classification', ['bird', 'cat', 'dog'], [1, 2, 1, 0])
    >>> data.decode([2, 0]).tolist()
    ['dog', 'bird']
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    w_train: np.ndarray | None
    w_val: np.ndarray | None

    def __init__(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None,
                 X_test: Any = None, y_test: Any = None, task: Task = "auto",
                 image_shape: Sequence[int] | None = None,
                 input_scale: float | None = None, w_train: Any = None,
                 w_val: Any = None, class_weight: str | dict[Any, float] | None = None,
                 classes: Any = None) -> None:
        if task not in ("auto", "classification", "regression"):
            raise DataError(f"task must be 'auto', 'classification' or 'regression', found "
                            f"{reprlib.repr(task)}")
        pairs = {"train": (X_train, y_train), "val": (X_val, y_val), "test": (X_test, y_test)}
        features: dict[str, np.ndarray] = {}
        targets: dict[str, np.ndarray] = {}
        for split, (X, y) in pairs.items():
            if X is None and y is None and split != "train":
                continue
            if X is None or y is None:
                found = "neither" if X is y else f"only {'y' if X is None else 'X'}_{split}"
                raise DataError(f"X_{split} and y_{split} go together: expected both, found "
                                f"{found}")
            features[split], targets[split] = _features(X, split), np.asarray(y)
            n_x, n_y = features[split].shape[0], len(targets[split]) if np.ndim(y) else 0
            if n_x != n_y:
                raise DataError(f"X_{split} and y_{split} need one length, found {n_x} "
                                f"samples in X_{split} and {n_y} targets in y_{split}")
            if n_x == 0:
                raise DataError(f"the {split} split needs at least 1 sample, found 0 (pass "
                                "None for no split)")
        width = features["train"].shape[1]
        others = {s: X.shape[1] for s, X in features.items() if X.shape[1] != width}
        if others:
            found = ", ".join(f"{w} in X_{s}" for s, w in others.items())
            raise DataError(f"every split needs the {width} features of X_train, found {found}")
        y = targets["train"]
        if task == "auto":
            task = "regression" if y.ndim == 2 and y.dtype.kind == "f" else "classification"
            if task == "classification" and _looks_continuous(y):
                raise DataError(
                    f"y_train holds {len(np.unique(y))} distinct non-integer numbers in "
                    f"{len(y)} samples, which look like regression targets; say "
                    "task='regression' (\"task\": \"regression\" in a config's data), or "
                    "task='classification' to use them as class labels")
        self.task: Literal["classification", "regression"] = task
        self.classes: np.ndarray | None = None
        if task == "classification":
            self.classes, targets = _encode_labels(targets, classes)
        else:
            targets = {s: _regression_targets(y, s) for s, y in targets.items()}
        for split in SPLITS:
            setattr(self, f"X_{split}", features.get(split))
            setattr(self, f"y_{split}", targets.get(split))
        self._set_weights(w_train, w_val, class_weight)
        self.normalizer: Normalizer | None = None
        self.n_original_train: int | None = None  # before augment_shift added copies
        self.image_shape: tuple[int, int] | None = _image_shape(image_shape, width)
        if input_scale is not None and not (math.isfinite(input_scale) and input_scale > 0):
            raise DataError(f"input_scale must be a positive number, found {input_scale!r}")
        self.input_scale: float | None = None if input_scale is None else float(input_scale)

    disk: DiskSplit | None = None  # the training split, when it is read in place

    def _in_memory(self, method: str) -> None:
        if self.disk is not None:
            raise DataError(f"{method} needs the training split in memory; it is read in "
                            f"place from {self.disk.path} (choose val_rows/test_rows or "
                            "datasets in Data.from_hdf5; mlp data convert writes splits)")

    def _attach_disk(self, split: DiskSplit) -> None:
        """Make ``split`` this Data's training split (``X_train``... become ``DiskArray``)."""
        self.disk = split
        # stand-ins read by row ranges, typed as the arrays they stand for (the methods that
        # need more refuse a split on disk: _in_memory)
        self.X_train = cast(np.ndarray, DiskArray(split, "X"))
        self.y_train = cast(np.ndarray, DiskArray(split, "y"))
        self.w_train = None if split.w is None else cast(np.ndarray, DiskArray(split, "w"))

    def _set_weights(self, w_train: Any, w_val: Any,
                     class_weight: str | dict[Any, float] | None) -> None:
        self.w_train = self.w_val = None
        for split, w in (("train", w_train), ("val", w_val)):
            X = getattr(self, f"X_{split}")
            if w is not None and X is None:
                raise DataError(f"w_{split} needs the {split} split, found no X_{split}")
            if w is not None:
                setattr(self, f"w_{split}", _sample_weights(w, X.shape[0], split))
        if class_weight is None:
            return
        if self.classes is None:
            raise DataError("class_weight needs classification data, found a regression task")
        per_class = class_weights(self.y_train, self.classes, class_weight)
        for split in ("train", "val"):
            y = getattr(self, f"y_{split}")
            if y is not None:
                w = getattr(self, f"w_{split}")
                setattr(self, f"w_{split}", per_class[y] if w is None else w * per_class[y])

    # ------------------------------------------------------------------ facts
    @property
    def n_features(self) -> int:
        """Number of input features ``D``."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes ``C`` (0 for regression)."""
        return 0 if self.classes is None else int(self.classes.shape[0])

    @property
    def n_outputs(self) -> int:
        """Output width a model needs: ``C`` classes, or the target columns of regression."""
        return self.n_classes if self.task == "classification" else int(self.y_train.shape[1])

    def __len__(self) -> int:
        return int(self.X_train.shape[0])

    def __repr__(self) -> str:
        """One line: task, features, the size of each split, the normaliser."""
        return data_display.describe(self)

    def _repr_html_(self) -> str:
        """A row per split with its arrays' shapes, for notebooks."""
        return data_display.html(self)

    def decode(self, codes: Any) -> np.ndarray:
        """Original labels of integer class codes.

        Parameters
        ----------
        codes : array_like
            Integer class codes in ``0..C-1``, any shape.

        Returns
        -------
        ndarray
            ``classes[codes]``, the same shape.

        Raises
        ------
        DataError
            Regression data, or codes that are not integers in range.
        """
        if self.classes is None:
            raise DataError("decode needs classification data, found a regression task")
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu" or (codes.size and not
                                            0 <= codes.min() <= codes.max() < self.n_classes):
            raise DataError(f"class codes must be integers in [0, {self.n_classes - 1}], found "
                            f"dtype {codes.dtype} with range "
                            f"{(codes.min(), codes.max()) if codes.size else 'empty'}")
        return self.classes[codes]

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the training split, so a continued run can tell other data.

        The hash covers the shapes, dtypes and C-contiguous bytes of ``X_train`` and
        ``y_train`` (and ``w_train`` when there are sample weights); for sparse ``X_train``
        its CSR values, indices and row pointers after the marker ``csr`` and its shape; for
        a split on disk, ``DiskSplit.fingerprint``.

        Returns
        -------
        dict
            ``{"shape", "dtype", "sha256"}``.
        """
        if self.disk is not None:
            return self.disk.fingerprint()
        digest = hashlib.sha256()
        arrays: tuple[np.ndarray, ...] = (self.X_train, self.y_train)
        if sparse.is_sparse(self.X_train):
            digest.update(f"csr{self.X_train.shape}".encode())
            arrays = (*sparse.fingerprint_arrays(self.X_train), self.y_train)
        if self.w_train is not None:
            arrays += (self.w_train,)
        for array in arrays:
            digest.update(f"{array.shape}{array.dtype.str}".encode())
            digest.update(np.ascontiguousarray(array).data.cast("B"))
        return {"shape": list(self.X_train.shape), "dtype": str(self.X_train.dtype),
                "sha256": digest.hexdigest()}

    # ------------------------------------------------------------- transforms
    def astype(self, dtype: str | np.dtype) -> Data:
        """A Data whose features (and regression targets) have another dtype.

        Parameters
        ----------
        dtype : str or numpy.dtype
            The floating type wanted (``"float32"``, ``"float64"``).

        Returns
        -------
        Data
            A Data sharing everything else; arrays that already are ``dtype`` are not
            copied, and ``self`` is returned when no array changes.
        """
        dtype = np.dtype(dtype)
        names = [f"{p}_{s}" for p in ("X", "y") for s in SPLITS
                 if p == "X" or self.task == "regression"]
        arrays = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if all(a.dtype == dtype for a in arrays.values()):
            return self
        other = copy.copy(self)
        other.__dict__["_buffers"] = {}
        if self.disk is not None:  # read as dtype from the file
            other._attach_disk(self.disk.astype(dtype))
            arrays = {n: a for n, a in arrays.items() if not n.endswith("_train")}
        for name, array in arrays.items():
            setattr(other, name, sparse.astype(array, dtype) if sparse.is_sparse(array)
                    else np.ascontiguousarray(array, dtype=dtype))
        return other

    def shuffle(self, seed: int) -> Data:
        """Shuffle the training split in place with ``default_rng(seed).permutation``.

        Parameters
        ----------
        seed : int
            Seed of the permutation.

        Returns
        -------
        Data
            ``self``, its training split reordered.
        """
        self._in_memory("shuffle")
        order = np.random.default_rng(seed).permutation(len(self))
        self.X_train, self.y_train = self.X_train[order], self.y_train[order]
        if self.w_train is not None:
            self.w_train = self.w_train[order]
        return self

    def split_validation(self, fraction: float = 0.1, stratify: bool = True,
                         seed: int = 0, by_content: bool = False) -> Data:
        """Move a fraction of the training samples to a new validation split.

        Both splits keep their original order.

        Parameters
        ----------
        fraction : float, default 0.1
            The share held out, in (0, 1) (of each class when stratified).
        stratify : bool, default True
            Hold out the fraction of each class (classification).
        seed : int, default 0
            Seed of the choice.
        by_content : bool, default False
            Which samples are held out depends on their values, not on their positions.
            Identical samples (the same features and target) stay together on one side,
            and the fraction counts sample weights, so a sample of integer weight k is split
            as k copies of it would be, wherever they stand (what the scikit-learn
            estimators need for weights to equal repeated rows); duplicates also cannot leak
            from the training split into the validation split.

        Returns
        -------
        Data
            ``self``, with ``X_val``, ``y_val`` and, when the training split has sample
            weights, ``w_val``.

        Raises
        ------
        DataError
            There is a validation split already, or the fraction leaves a split empty.
        """
        if by_content:
            return self._split_off("val", fraction, stratify, seed, self._content_held_out)
        return self._split_off("val", fraction, stratify, seed)

    def split_test(self, fraction: float = 0.2, stratify: bool = True, seed: int = 0) -> Data:
        """Move a fraction of the training samples to a new test split.

        Both splits keep their original order.

        Parameters
        ----------
        fraction : float, default 0.2
            The share moved to the test split, in (0, 1).
        stratify : bool, default True
        seed : int, default 0
            As for ``split_validation``.

        Returns
        -------
        Data
            ``self``, with ``X_test`` and ``y_test`` (test splits carry no weights).

        Raises
        ------
        DataError
            There is a test split already, or the fraction leaves a split empty.
        """
        return self._split_off("test", fraction, stratify, seed)

    def _split_off(self, split: str, fraction: float, stratify: bool, seed: int,
                   choose: Callable[[list[np.ndarray], float, np.random.Generator],
                                    list[np.ndarray]] | None = None) -> Data:
        self._in_memory(f"split_{split if split == 'test' else 'validation'}")
        if getattr(self, f"X_{split}") is not None:
            raise DataError(f"expected no {split} split yet, found one with "
                            f"{getattr(self, f'X_{split}').shape[0]} samples")
        if not 0 < fraction < 1:
            raise DataError(f"the {split} fraction must be in (0, 1), found {fraction}")
        rng = np.random.default_rng(seed)
        n = len(self)
        if stratify and self.task == "classification":
            groups = [np.flatnonzero(self.y_train == code) for code in range(self.n_classes)]
        else:
            groups = [np.arange(n)]
        if choose is None:
            held = [rng.permutation(g)[: math.floor(fraction * g.shape[0] + 0.5)]
                    for g in groups]
        else:
            held = choose(groups, fraction, rng)
        held_out = np.sort(np.concatenate(held))
        if not 0 < held_out.shape[0] < n:
            raise DataError(f"a {split} fraction of {fraction} of {n} training samples must "
                            f"leave both splits non-empty, found {held_out.shape[0]} held out")
        keep = np.ones(n, dtype=bool)
        keep[held_out] = False
        keep = np.flatnonzero(keep)  # row indices select rows of a CSR matrix too
        setattr(self, f"X_{split}", self.X_train[held_out])
        setattr(self, f"y_{split}", self.y_train[held_out])
        self.X_train, self.y_train = self.X_train[keep], self.y_train[keep]
        if self.w_train is not None:  # test splits carry no weights
            if split == "val":
                self.w_val = self.w_train[held_out]
            self.w_train = self.w_train[keep]
        return self

    def _content_held_out(self, groups: list[np.ndarray], fraction: float,
                          rng: np.random.Generator) -> list[np.ndarray]:
        """For each group of training rows (a class, or all rows), the rows held out by
        ``split_validation(by_content=True)``: the group's distinct samples, in the order of
        their bytes, are permuted by ``rng``, and the shortest prefix whose total weight (a
        row's weight, or 1) reaches ``round(fraction * the group's weight)`` is held out with
        every copy of its samples."""
        n = len(self)
        if sparse.is_sparse(self.X_train):  # a digest of each row's entries and target
            key = sparse.row_keys(self.X_train, self.y_train)
        else:
            X = self.X_train.reshape(n, -1)
            y = np.ascontiguousarray(self.y_train).reshape(n, -1)
            key = np.concatenate([X.view(np.uint8).reshape(n, -1),
                                  y.view(np.uint8).reshape(n, -1)], axis=1)
            key = np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1])))[:, 0]
        weight = np.ones(n) if self.w_train is None else self.w_train.astype(np.float64)
        held = []
        for rows in groups:
            _, sample, copies = np.unique(key[rows], return_inverse=True, return_counts=True)
            mass = np.bincount(sample, weights=weight[rows], minlength=copies.shape[0])
            order = rng.permutation(copies.shape[0])
            wanted = math.floor(fraction * float(mass.sum()) + 0.5)
            taken = np.searchsorted(np.cumsum(mass[order]), wanted) + 1 if wanted > 0 else 0
            chosen = np.zeros(copies.shape[0], dtype=bool)
            chosen[order[:taken]] = True
            held.append(rows[chosen[sample]])
        return held

    def normalize(self, method: Method = "zscore") -> Data:
        """Normalise the features with statistics of the training split.

        The statistics are weighted by ``w_train`` when there are sample weights; every
        split gets new arrays, and the normaliser is kept as ``normalizer`` (checkpoints
        save it, so raw inputs can be predicted).

        Parameters
        ----------
        method : {"zscore", "minmax"}, default "zscore"
            Mean 0 and standard deviation 1, or the range [0, 1].

        Returns
        -------
        Data
            ``self``, with its ``normalizer``.

        Raises
        ------
        DataError
            The data are already normalised.
        """
        if self.normalizer is not None:
            raise DataError(f"expected raw data, found data already normalised with "
                            f"{self.normalizer.method!r}")
        if self.disk is not None:  # one pass over the file; applied to every block read
            self.normalizer = fit_streaming(((X, w) for X, _, w in self.disk.blocks()),
                                            self.n_features, method)
            self.disk.apply(self.normalizer)
        else:
            self.normalizer = Normalizer.fit(self.X_train, method, self.w_train)
        for split in SPLITS[self.disk is not None:]:
            X = getattr(self, f"X_{split}")
            if X is not None:
                setattr(self, f"X_{split}", self.normalizer.apply(X))
        return self

    def augment_shift(self, image_shape: Sequence[int], pixels: int = 1) -> Data:
        """Add four shifted copies of every training image.

        The training split ``(N, h*w)`` becomes ``(5N, h*w)``: the originals, then copies
        shifted up, down, left and right by ``pixels`` with zero fill (augment before
        normalising, so the fill is background); targets and weights are repeated.

        Parameters
        ----------
        image_shape : sequence of int
            ``(height, width)`` of the images.
        pixels : int, default 1
            How far each copy is shifted.

        Returns
        -------
        Data
            ``self``, its training split five times as long.

        Raises
        ------
        DataError
            Sparse features, or a training split read in place from a file.
        """
        self._in_memory("augment_shift")
        if sparse.is_sparse(self.X_train):
            raise DataError("augment_shift shifts dense images (N, h*w), found sparse X_train")
        self.n_original_train = len(self)
        self.X_train = augment.shifted_copies(self.X_train, image_shape, pixels)
        self.y_train = np.tile(self.y_train, (5,) + (1,) * (self.y_train.ndim - 1))
        if self.w_train is not None:
            self.w_train = np.tile(self.w_train, 5)
        return self

    # ---------------------------------------------------------------- batches
    def batches(self, batch_size: int | None = None, rng: np.random.Generator | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Mini-batches ``(X (B, D), y (B, ...))`` of the training split.

        With ``rng`` the order is ``rng.permutation(n)``, the only draw (made in place into
        a kept index buffer, which consumes exactly what ``permutation`` does); batches are
        gathered with ``np.take`` into buffers kept on this Data, so a batch is valid only
        until the next one is taken. Without ``rng`` batches are views of the training
        split, in order (the full batch is ``(X_train, y_train)`` themselves). A sparse
        ``X_train`` gives new CSR matrices of the batch's rows, in the same order.

        Parameters
        ----------
        batch_size : int, optional
            Rows per batch ``B``; None: the full batch. The last batch may be smaller.
        rng : numpy.random.Generator, optional
            Shuffles the order; None keeps it.

        Yields
        ------
        tuple of ndarray
            ``(X, y)``.

        Examples
        --------
        >>> import numpy as np
        >>> from preprocess import Data
        >>> data = Data(np.arange(10.0).reshape(5, 2), [0, 1, 0, 1, 0])
        >>> [X.shape for X, y in data.batches(2)]
        [(2, 2), (2, 2), (1, 2)]
        """
        return ((X, y) for X, y, _ in self.weighted_batches(batch_size, rng))

    def weighted_batches(self, batch_size: int | None = None,
                         rng: np.random.Generator | None = None
                         ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """``batches`` with each batch's sample weights as a third item.

        The same draws and the same buffer rules as ``batches``.

        Parameters
        ----------
        batch_size : int, optional
            Rows per batch ``B``; None: the full batch.
        rng : numpy.random.Generator, optional
            Shuffles the order; None keeps it.

        Returns
        -------
        iterator of tuple
            ``(X, y, w)``, ``w`` the weights ``(B,)`` or None when the data have none.

        Raises
        ------
        DataError
            ``batch_size`` is not a positive integer or None.
        """
        if batch_size is not None and (isinstance(batch_size, bool) or not
                                       isinstance(batch_size, int | np.integer)
                                       or batch_size < 1):
            raise DataError(f"batch_size must be a positive integer or None, found "
                            f"{batch_size!r}")
        n = len(self)
        size = n if batch_size is None else min(int(batch_size), n)
        return self._batches(size, rng)

    def _batches(self, size: int, rng: np.random.Generator | None
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        if self.disk is not None:
            yield from block_batches(self.disk, size, rng)
            return
        X, y, w = self.X_train, self.y_train, self.w_train
        n = X.shape[0]
        if rng is None and size == n:
            yield X, y, w
            return
        if sparse.is_sparse(X):
            yield from self._sparse_batches(size, rng)
            return
        if rng is None:
            for start in range(0, n, size):
                yield (X[start:start + size], y[start:start + size],
                       None if w is None else w[start:start + size])
            return
        order = self._buffer("order", (n,), np.dtype(np.intp))
        np.copyto(order, self._buffer("arange", (n,), np.dtype(np.intp), fill=np.arange))
        rng.shuffle(order)
        X_buffer = self._buffer("X", (size, *X.shape[1:]), X.dtype)
        y_buffer = self._buffer("y", (size, *y.shape[1:]), y.dtype)
        for start in range(0, n, size):
            index = order[start:start + size]
            m = index.shape[0]
            X_batch, y_batch = (X_buffer, y_buffer) if m == size else (X_buffer[:m], y_buffer[:m])
            # our own permutation is in range; mode="raise" would buffer the whole batch
            np.take(X, index, axis=0, out=X_batch, mode="wrap")
            np.take(y, index, axis=0, out=y_batch, mode="wrap")
            yield X_batch, y_batch, None if w is None else w[index]

    def _sparse_batches(self, size: int, rng: np.random.Generator | None
                        ) -> Iterator[tuple[Any, np.ndarray, np.ndarray | None]]:
        """``_batches`` of a CSR ``X_train``: the same order (the same draw), each batch a
        new CSR matrix of its rows (their entries only), the targets gathered as dense."""
        y, w = self.y_train, self.w_train
        order = None
        if rng is not None:
            order = self._buffer("order", (len(self),), np.dtype(np.intp))
            np.copyto(order, self._buffer("arange", (len(self),), np.dtype(np.intp),
                                          fill=np.arange))
            rng.shuffle(order)
        for start, X_batch in zip(range(0, len(self), size),
                                  sparse.row_batches(self.X_train, order, size), strict=True):
            index = slice(start, start + size) if order is None else order[start:start + size]
            yield X_batch, y[index], None if w is None else w[index]

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype,
                fill: Callable[..., np.ndarray] | None = None) -> np.ndarray:
        """The work array ``name`` kept across calls of ``batches``, replaced when ``shape``
        or ``dtype`` change; ``fill(n, dtype=...)`` initialises a 1-D one when it is made."""
        buffers = self.__dict__.setdefault("_buffers", {})
        array = buffers.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = np.empty(shape, dtype) if fill is None else fill(*shape, dtype=dtype)
            buffers[name] = array
        return array

    # ---------------------------------------------------------------- loaders
    @classmethod
    def from_arrays(cls, X: Any, y: Any, **kwargs: Any) -> Data:
        """``Data(X, y, **kwargs)``: the training split, plus any keyword of the constructor.

        Parameters
        ----------
        X, y : array_like
            Training features and targets.
        **kwargs
            Any keyword of the constructor (``X_val``, ``task``, ...).

        Returns
        -------
        Data
        """
        return cls(X, y, **kwargs)

    @classmethod
    def from_npz(cls, path: str | Path, x_key: str = "X", y_key: str = "y",
                 task: Task = "auto", limits: ReadLimits = DEFAULT_LIMITS) -> Data:
        """The arrays of an ``.npz`` file, read without pickle.

        Its declared sizes are checked against the file and ``limits`` first.

        Parameters
        ----------
        path : str or Path
            The ``.npz`` file.
        x_key, y_key : str, default "X", "y"
            The arrays of features and targets (or ``X_train``, ``y_train``, ``X_val``, ...
            when the file has them).
        task : {"auto", "classification", "regression"}, default "auto"
            As the constructor's.
        limits : ReadLimits, default DEFAULT_LIMITS
            Its ``max_bytes`` bounds the arrays' declared sizes
            (``preprocess.bounded.ReadLimits``).

        Returns
        -------
        Data
            A training split, and the validation and test splits the archive holds.

        Raises
        ------
        DataError
            A missing array or file, a pickled (object) array, or sizes over ``limits``.
        """
        return cls(**loaders.load_npz(path, x_key, y_key, limits), task=task)

    @classmethod
    def from_csv(cls, path: str | Path, target: int | str = -1,
                 header: bool | Literal["auto"] = "auto", delimiter: str = ",",
                 task: Task = "auto", limits: ReadLimits = DEFAULT_LIMITS) -> Data:
        """Numeric feature columns and one target column of a CSV file.

        Non-numeric targets are class labels (strings), integer targets class codes, other
        numbers regression targets ``(N, 1)`` unless ``task`` says otherwise. Read in blocks
        under ``limits`` (rows, line and field lengths).

        Parameters
        ----------
        path : str or Path
            The CSV file.
        target : int or str, default -1
            The target column: its index (negative counts from the end) or header name.
        header : bool or "auto", default "auto"
            Whether the first row is a header; ``auto`` detects it (the first row is not
            numeric).
        delimiter : str, default ","
            The one character between fields.
        task : {"auto", "classification", "regression"}, default "auto"
            As the constructor's.
        limits : ReadLimits, default DEFAULT_LIMITS
            Its ``max_rows``, ``max_line_chars``, ``max_field_chars`` and
            ``max_label_chars`` apply (``preprocess.bounded.ReadLimits``).

        Returns
        -------
        Data
            A training split only.

        Raises
        ------
        DataError
            Naming the line of a value that is not a number, or a limit passed.

        Examples
        --------
        >>> data = Data.from_csv("measurements.csv", target="species")  # doctest: +SKIP
        """
        return cls(**loaders.load_csv(path, target, header, delimiter, task, limits))

    @classmethod
    def from_image_folder(cls, root: str | Path,
                          image_shape: Sequence[int] | None = None,
                          limits: ReadLimits = DEFAULT_LIMITS) -> Data:
        """Images ``root/<label>/*.bmp|png|jpg`` as grey-scale float32 rows in [0, 1].

        Each sub-folder is a class. Every image's size is checked in its header before it
        is decoded.

        Parameters
        ----------
        root : str or Path
            The folder holding one sub-folder of images per class.
        image_shape : sequence of int, optional
            ``(height, width)`` every image must have; by default the first one's (at most
            ``limits.max_pixels``).
        limits : ReadLimits, default DEFAULT_LIMITS
            Its ``max_pixels`` bounds each image's declared size
            (``preprocess.bounded.ReadLimits``).

        Returns
        -------
        Data
            Classification data with ``image_shape`` set.
        """
        return cls(**loaders.load_image_folder(root, image_shape, limits))

    @classmethod
    def from_sklearn(cls, name: str, test_fraction: float | None = 0.25, seed: int = 0) -> Data:
        """A scikit-learn toy set with a stratified test split (needs the ``datasets`` extra).

        Parameters
        ----------
        name : {"digits", "iris", "wine", "breast_cancer"}
            The data set.
        test_fraction : float or None, default 0.25
            The share held out as the test split (None: ``train_test_split``'s default,
            0.25).
        seed : int, default 0
            Seed of the split.

        Returns
        -------
        Data
            A training and a test split.

        Raises
        ------
        DataError
            An unknown name, or scikit-learn is not installed.

        Examples
        --------
        >>> data = Data.from_sklearn("iris")
        >>> len(data), len(data.X_test), data.n_classes
        (112, 38, 3)
        """
        return cls(**loaders.load_sklearn(name, test_fraction, seed))

    @classmethod
    def sin(cls, n_train: int = 64, n_val: int = 256, noise: float = 0.0,
            interval: tuple[float, float] = (0.0, 1.0), frequency: float = 2 * np.pi,
            seed: int = 0) -> Data:
        """The toy regression ``y = sin(frequency x)``, float64 ``(N, 1)``.

        Parameters
        ----------
        n_train : int, default 64
            Training points: sorted uniform draws of ``x`` in ``interval``.
        n_val : int, default 256
            Validation points: a noiseless grid spanning the interval.
        noise : float, default 0.0
            ``noise * N(0, 1)`` is added to the training targets.
        interval : tuple of float, default (0.0, 1.0)
            The range of ``x``.
        frequency : float, default 2 pi
            The angular frequency.
        seed : int, default 0
            Seed of the draws and the noise.

        Returns
        -------
        Data

        Examples
        --------
        >>> data = Data.sin(n_train=8, n_val=4)
        >>> data.task, data.X_train.shape, data.y_val.shape
        ('regression', (8, 1), (4, 1))
        """
        return cls(**loaders.make_sin(n_train, n_val, noise, interval, frequency, seed))

    @classmethod
    def from_hdf5(cls, path: str | Path, x: str = "X_train", y: str = "y_train",
                  w: str | None = None, *, x_val: str | None = None, y_val: str | None = None,
                  x_test: str | None = None, y_test: str | None = None,
                  val_rows: Sequence[int] | None = None, test_rows: Sequence[int] | None = None,
                  task: Task = "auto", block_rows: int | None = None,
                  buffer_rows: int | None = None, limits: ReadLimits = DEFAULT_LIMITS
                  ) -> Data:
        """Datasets of an HDF5 file, the training split read in place.

        Training reads batches from disk (shuffled by blocks of ``block_rows`` rows within
        buffers of ``buffer_rows``: ``preprocess.block_batches``) while validation and test
        splits are read into memory. The file's layout and defaults are
        ``preprocess.disk_open``'s; ``normalize`` is one pass over the file. Any HDF5 file
        with datasets of those shapes trains: contiguous or chunked, with HDF5's built-in
        filters (gzip, lzf, shuffle...) and with or without the fletcher32 checksum (without
        it, one warning is logged).

        Parameters
        ----------
        path : str or Path
            The HDF5 file.
        x, y : str, default "X_train", "y_train"
            Datasets of the training features ``(N, D)`` and targets.
        w : str, optional
            Dataset of sample weights ``(N,)``.
        x_val, y_val, x_test, y_test : str, optional
            Datasets of the validation and test splits (by default a ``Data.save`` file's
            own, when no row range is asked for).
        val_rows, test_rows : sequence of int, optional
            ``[start, stop)`` row ranges of ``x``/``y`` taken as the validation or test
            split and left out of training.
        task : {"auto", "classification", "regression"}, default "auto"
            As the constructor's.
        block_rows : int, optional
            Rows of a shuffled block (default: the file's chunk).
        buffer_rows : int, optional
            Rows of the shuffle buffer (default: 32 MiB of features).
        limits : ReadLimits, default DEFAULT_LIMITS
            ``limits.max_chunk_bytes`` bounds the decompressed size of a chunk.

        Returns
        -------
        Data
            Its ``disk`` is the training split on disk.

        Raises
        ------
        DataError
            Missing datasets, shapes that disagree, or non-finite values met while reading.
        """
        split, arguments = disk_open.open_split(
            path, x, y, w, x_val, y_val, x_test, y_test, val_rows, test_rows, task,
            block_rows, buffer_rows, limits)
        held = {k: arguments.pop(k) for k in ("X_val", "y_val", "X_test", "y_test")
                if k in arguments}
        normalizer, classes = arguments.pop("normalizer"), arguments.pop("classes")
        # the constructor validates the splits held in memory; two placeholder rows stand
        # for the training split until the one on disk replaces them
        placeholder = (np.zeros((2, split.n_features)),
                       classes[:2] if classes is not None else np.zeros((2, *split.y_shape)))
        data = cls(X_train=placeholder[0], y_train=placeholder[1], **held, classes=classes,
                   **arguments)
        data._attach_disk(split)
        data.normalizer = normalizer
        return data

    def save(self, path: str | Path) -> Path:
        """Write every split, the classes, the normaliser, ``task`` and ``image_shape``.

        An HDF5 file with ``fletcher32`` on every dataset, no pickle, written atomically.

        Parameters
        ----------
        path : str or Path
            The ``.h5`` data file to write; an existing file is replaced.

        Returns
        -------
        Path
            The data file written.

        Raises
        ------
        DataError
            Sparse features (the file holds dense arrays), or a training split read in
            place.
        OSError
            The file cannot be written.
        """
        self._in_memory("save")
        if any(sparse.is_sparse(getattr(self, f"X_{s}")) for s in SPLITS):
            raise DataError("Data.save writes dense arrays, found sparse features; save "
                            "X.toarray() if it fits in memory")
        return data_file.write(path, self)

    @classmethod
    def load(cls, path: str | Path) -> Data:
        """Read a file written by ``save``.

        Validated as on construction, and with the checks a checkpoint gets: links, filters,
        stored sizes, checksums.

        Parameters
        ----------
        path : str or Path
            The ``.h5`` data file.

        Returns
        -------
        Data
            The splits, classes and normaliser the file holds.

        Raises
        ------
        DataError
            Anything the file holds that is not valid data, naming the file.
        """
        arguments, classes, normalizer = data_file.read(path)
        data = cls(**arguments)
        if classes is not None and not np.array_equal(cast(np.ndarray, data.classes), classes):
            raise DataError(f"{path}: expected every stored class to occur in some split, "
                            f"found classes {cast(np.ndarray, data.classes).tolist()} of "
                            f"{classes.tolist()}")
        data.normalizer = normalizer
        return data

"""``Normalizer``: the per-feature affine map fitted on a training split and kept with a
saved model (in its checkpoint), so raw inputs can be predicted."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.nn import sparse
from mlp.nn.scratch import same_fields

Method = Literal["zscore", "minmax"]


def check_method(method: str) -> None:
    """``DataError`` unless ``method`` is a normalising method (``zscore`` or ``minmax``).

    Parameters
    ----------
    method : str
        The method asked for.
    """
    if method not in ("zscore", "minmax"):
        raise DataError(f"normalize method must be 'zscore' or 'minmax', found {method!r}")


class Normalizer(BaseModel):
    """Per-feature affine map ``apply(X) = (X - offset) / scale`` fitted on a training split.

    ``offset`` and ``scale`` are 1-D floating ``(D,)`` arrays with ``scale > 0``; they are
    excluded from JSON dumps (the JSON is ``{"method": ...}``), and ``to_arrays`` and
    ``from_arrays`` move them in and out of checkpoint files.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    method: Method
    offset: np.ndarray = Field(exclude=True, repr=False)
    scale: np.ndarray = Field(exclude=True, repr=False)

    @field_validator("offset", "scale", mode="before")
    @classmethod
    def _as_array(cls, value: Any) -> np.ndarray:
        return np.asarray(value)

    @model_validator(mode="after")
    def _check_arrays(self) -> Normalizer:
        for name in ("offset", "scale"):
            array = getattr(self, name)
            if array.ndim != 1 or array.dtype.kind != "f":
                raise ValueError(f"{name} must be a 1-D floating array, found {array.ndim}-D "
                                 f"{array.dtype}")
        if self.offset.shape != self.scale.shape:
            raise ValueError(f"offset and scale need one shape, found {self.offset.shape} and "
                             f"{self.scale.shape}")
        if not (np.isfinite(self.offset).all() and np.isfinite(self.scale).all()
                and (self.scale > 0).all()):
            raise ValueError("offset must be finite and scale finite and positive, found "
                             f"{int((~np.isfinite(self.offset)).sum())} bad offset(s) and "
                             f"{int((~(np.isfinite(self.scale) & (self.scale > 0))).sum())} "
                             "bad scale(s)")
        return self

    @classmethod
    def fit(cls, X: np.ndarray, method: str, weight: np.ndarray | None = None) -> Normalizer:
        """Statistics of a training split ``X (N, D)``: ``zscore`` takes the mean and the
        (population) standard deviation, ``minmax`` the minimum and the range, both in
        float64. Constant features get their value as offset and scale 1, so they map to 0.
        With sample weights ``weight (N,)`` the mean and deviation are weighted and rows of
        weight 0 are left out, so a weight of k counts as k copies of the row. Features whose
        squares overflow float64 (values near 1e300) are measured divided by their largest
        magnitude; statistics that still are not finite raise ``DataError`` naming the
        feature, and so do 0 features.

        A sparse ``X`` (CSR) is scaled without centring, as scikit-learn's
        ``StandardScaler(with_mean=False)``: ``zscore`` keeps offset 0 and the standard
        deviation (zeros counted) as scale, since subtracting a mean would fill every zero
        and make the data dense; ``minmax``, which subtracts the minimum, is refused."""
        check_method(method)
        if sparse.is_sparse(X):
            return cls._fit_sparse(X, method, weight)
        if X.ndim != 2 or X.shape[1] == 0:
            raise DataError(f"expected inputs (N, D) with D >= 1 features to fit a normalizer, "
                            f"found shape {X.shape}")
        if weight is not None:
            X, weight = X[weight > 0], weight[weight > 0]
        low, high = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
        if method == "zscore":
            with np.errstate(over="ignore", invalid="ignore"):  # overflow: handled below
                if weight is not None:
                    offset = np.average(X, axis=0, weights=weight)
                    scale = np.sqrt(np.average(np.square(X - offset), axis=0, weights=weight))
                else:
                    offset = X.mean(axis=0, dtype=np.float64)
                    scale = X.std(axis=0, dtype=np.float64)
            if not (np.isfinite(offset).all() and np.isfinite(scale).all()):
                # features near 1e300: the squares overflow, so each feature is divided by
                # its largest magnitude first
                peak = np.maximum(np.abs(low), np.abs(high))
                peak[peak == 0] = 1.0
                offset, scale = _moments(X, peak, weight)
        else:
            with np.errstate(over="ignore"):  # an overflow is reported below
                offset, scale = low, high - low
        return cls.from_statistics(method, offset, scale, low, high)

    @classmethod
    def from_statistics(cls, method: str, offset: np.ndarray, scale: np.ndarray,
                        low: np.ndarray, high: np.ndarray) -> Normalizer:
        """The normaliser of measured per-feature statistics, all float64 ``(D,)``: ``offset``
        and ``scale`` (the mean and standard deviation, or the minimum and range; changed in
        place), ``low`` and ``high`` the minimum and maximum. Constant features get their value
        as offset and scale 1, so they map to 0; statistics that are not finite raise
        ``DataError`` naming the feature.

        Parameters
        ----------
        method : str
            ``"zscore"`` or ``"minmax"``, kept in the normaliser and named in errors.
        offset, scale : numpy.ndarray
            The measured offset and scale, ``(D,)``.
        low, high : numpy.ndarray
            The minimum and maximum of each feature, ``(D,)``.
        """
        constant = high == low
        offset[constant] = low[constant]
        scale[constant | (scale == 0)] = 1.0
        bad = ~(np.isfinite(offset) & np.isfinite(scale) & (scale > 0))
        if bad.any():
            raise DataError(f"cannot {method}-normalise feature {int(np.argmax(bad))}: its "
                            f"statistics are offset {offset[bad][0]!r}, scale "
                            f"{scale[bad][0]!r} (the values are too large to measure)")
        return cls(method=method, offset=offset, scale=scale)

    @classmethod
    def _fit_sparse(cls, X: Any, method: str, weight: np.ndarray | None) -> Normalizer:
        """``fit`` of a CSR ``X``: scale by the standard deviation, offset 0."""
        if method != "zscore":
            raise DataError(f"sparse inputs are scaled without centring: expected normalize "
                            f"'zscore' (divides by the standard deviation, as "
                            f"StandardScaler(with_mean=False)) or None, found {method!r}, "
                            "which would shift every zero")
        if weight is not None:
            X, weight = X[np.flatnonzero(weight > 0)], weight[weight > 0]
        _, scale = sparse.column_moments(X, weight)
        scale[scale == 0] = 1.0
        if not np.isfinite(scale).all():
            raise DataError(f"cannot zscore-normalise feature "
                            f"{int(np.argmax(~np.isfinite(scale)))}: its standard deviation "
                            "is not finite (the values are too large to measure)")
        return cls(method=method, offset=np.zeros_like(scale), scale=scale)

    @classmethod
    def from_arrays(cls, method: str, offset: np.ndarray, scale: np.ndarray) -> Normalizer:
        """A validated normaliser from stored ``(D,)`` arrays (the inverse of ``to_arrays``)."""
        return cls(method=method, offset=offset, scale=scale)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"offset": (D,), "scale": (D,)}``: the numbers a checkpoint stores next to the
        JSON ``{"method": ...}``."""
        return {"offset": self.offset, "scale": self.scale}

    def __eq__(self, other: object) -> bool:
        """Same method and bit-identical ``offset`` and ``scale``."""
        if not isinstance(other, Normalizer):
            return NotImplemented
        return same_fields(self, other)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``(X - offset) / scale`` for ``X (N, D)``, as a new array in ``X``'s floating dtype
        (float32 for integer inputs); float16 inputs are computed in float64 and rounded once.
        A result that is not finite raises ``DataError`` naming the feature. A sparse
        ``X`` (CSR) stays sparse when every offset is 0 (the stored values divided by their
        column's scale, the same bits as dense); a normaliser with offsets densifies it."""
        if sparse.is_sparse(X):
            if X.shape[1] != self.offset.shape[0]:
                raise DataError(f"the normalizer expects inputs (N, {self.offset.shape[0]}), "
                                f"found shape {X.shape}")
            if self.offset.any():
                return self.apply(X.toarray())
            out = sparse.divide_columns(X, self.scale)
            sparse.check_finite(out, "normalised inputs")
            return out
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.offset.shape[0]:
            raise DataError(f"the normalizer expects inputs (N, {self.offset.shape[0]}), found "
                            f"shape {X.shape}")
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        if dtype.itemsize >= 4:  # float32 and float64 compute in their own precision
            out = X.astype(dtype)
            with np.errstate(over="ignore", invalid="ignore"):  # checked below
                out -= self.offset.astype(dtype, copy=False)
                out /= self.scale.astype(dtype, copy=False)
        else:  # float16 has too little range for the differences: computed in float64
            out = np.empty(X.shape, dtype=dtype)
            for start in range(0, X.shape[0], _BLOCK_ROWS):  # blocks bound the float64 copy
                block = X[start:start + _BLOCK_ROWS].astype(np.float64)
                out[start:start + _BLOCK_ROWS] = (block - self.offset) / self.scale
        _check_result(out)
        return out


#: rows normalised at a time (bounds the float64 working copy)
_BLOCK_ROWS = 8192


def _moments(X: np.ndarray, peak: np.ndarray, weight: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """The (weighted) mean and population standard deviation of ``X (N, D)`` per feature,
    computed in float64 on ``X / peak`` in blocks of rows and scaled back."""
    total = np.zeros(X.shape[1])
    mass = 0.0
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start:start + _BLOCK_ROWS].astype(np.float64) / peak
        if weight is None:
            total += block.sum(axis=0)
            mass += block.shape[0]
        else:
            w = weight[start:start + _BLOCK_ROWS]
            total += w @ block
            mass += float(w.sum())
    mean = total / mass
    squares = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = np.square(X[start:start + _BLOCK_ROWS].astype(np.float64) / peak - mean)
        squares += block.sum(axis=0) if weight is None else \
            weight[start:start + _BLOCK_ROWS] @ block
    return mean * peak, np.sqrt(squares / mass) * peak


def _check_result(out: np.ndarray) -> None:
    """A normalised array must be finite in its dtype; ``DataError`` naming the feature."""
    if all_finite(out):  # blockwise: no boolean copy of the data
        return
    feature = int(np.argmax(~np.isfinite(out).all(axis=0)))
    raise DataError(f"normalising feature {feature} gave non-finite values in {out.dtype} "
                    f"(raw values too large for it); use float32 or float64 inputs")

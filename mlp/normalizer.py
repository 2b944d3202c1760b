"""``Normalizer``: the per-feature affine map fitted on a training split and kept with a
saved model (in its checkpoint), so raw inputs can be predicted."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlp.errors import DataError

Method = Literal["zscore", "minmax"]


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
        weight 0 are left out, so a weight of k counts as k copies of the row."""
        if method not in ("zscore", "minmax"):
            raise DataError(f"normalize method must be 'zscore' or 'minmax', found {method!r}")
        if weight is not None:
            X, weight = X[weight > 0], weight[weight > 0]
        low, high = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
        constant = high == low
        if method == "zscore" and weight is not None:
            offset = np.average(X, axis=0, weights=weight)
            scale = np.sqrt(np.average(np.square(X - offset), axis=0, weights=weight))
        elif method == "zscore":
            offset, scale = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
        else:
            offset, scale = low, high - low
        offset[constant] = low[constant]
        scale[constant | (scale == 0)] = 1.0
        return cls(method=method, offset=offset, scale=scale)

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
        return self.method == other.method and all(
            np.array_equal(a, b) for a, b in ((self.offset, other.offset),
                                              (self.scale, other.scale)))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``(X - offset) / scale`` for ``X (N, D)``, as a new array in ``X``'s floating dtype
        (float32 for integer inputs)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.offset.shape[0]:
            raise DataError(f"the normalizer expects inputs (N, {self.offset.shape[0]}), found "
                            f"shape {X.shape}")
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        out = X.astype(dtype)
        out -= self.offset.astype(dtype, copy=False)
        out /= self.scale.astype(dtype, copy=False)
        return out

"""Normaliser statistics in one pass over blocks of rows, for training splits read from disk.

``zscore`` combines each block's float64 count (or weight), mean and sum of squared deviations
with Chan, Golub and LeVeque's pairwise update, so the mean and the population standard
deviation equal ``Normalizer.fit``'s on the whole array within float64 rounding; ``minmax``
keeps the running minimum and maximum (exact). Constant features get their value as offset
and scale 1, as ``Normalizer.fit`` gives them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mlp.errors import DataError
from mlp.nn.input_normalizer import Normalizer, check_method


class RunningMoments:
    """Per-feature weight, mean, sum of squared deviations, minimum and maximum of the rows
    seen so far (float64, ``(D,)`` each)."""

    def __init__(self, n_features: int) -> None:
        self.mass = 0.0
        self.mean = np.zeros(n_features)
        self.squares = np.zeros(n_features)
        self.low = np.full(n_features, np.inf)
        self.high = np.full(n_features, -np.inf)

    def add(self, X: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Rows ``X (B, D)`` with optional weights ``(B,)`` (rows of weight 0 are left out)."""
        if weight is not None:
            X, weight = X[weight > 0], weight[weight > 0]
        if X.shape[0] == 0:
            return
        block = X.astype(np.float64, copy=False)
        self.low = np.minimum(self.low, block.min(axis=0))
        self.high = np.maximum(self.high, block.max(axis=0))
        if weight is None:
            mass = float(block.shape[0])
            mean = block.mean(axis=0)
            squares = np.square(block - mean).sum(axis=0)
        else:
            mass = float(weight.sum())
            mean = (weight @ block) / mass
            squares = weight @ np.square(block - mean)
        total = self.mass + mass
        delta = mean - self.mean
        self.mean = self.mean + delta * (mass / total)
        self.squares = self.squares + squares + np.square(delta) * (self.mass * mass / total)
        self.mass = total

    def normalizer(self, method: str) -> Normalizer:
        """The ``Normalizer`` of ``method`` (``zscore`` or ``minmax``) for the rows seen."""
        check_method(method)
        if self.mass == 0:
            raise DataError("expected rows of positive weight to fit a normalizer, found none")
        if method == "zscore":
            offset, scale = self.mean.copy(), np.sqrt(self.squares / self.mass)
        else:
            offset, scale = self.low.copy(), self.high - self.low
        return Normalizer.from_statistics(method, offset, scale, self.low, self.high)


def fit_streaming(blocks: Iterable[tuple[np.ndarray, np.ndarray | None]], n_features: int,
                  method: str) -> Normalizer:
    """``Normalizer.fit`` of the rows of ``blocks`` (``(X (B, D), weights (B,) or None)``),
    read once."""
    moments = RunningMoments(n_features)
    for X, weight in blocks:
        moments.add(X, weight)
    return moments.normalizer(method)

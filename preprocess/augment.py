"""Shift augmentation: the one-pixel shifts the character-classification seeds suggest."""

from __future__ import annotations

import numpy as np

from mlp.errors import DataError


def shifted_copies(X: np.ndarray, image_shape: tuple[int, int], pixels: int = 1) -> np.ndarray:
    """``(N, h*w) -> (5N, h*w)``: the originals, then copies shifted up, down, left and right
    by ``pixels`` with zero fill."""
    height, width = image_shape
    if X.shape[1] != height * width:
        raise DataError(f"image_shape {image_shape} needs {height * width} features, "
                        f"found {X.shape[1]}")
    if not 0 < pixels < min(height, width):
        raise DataError(f"pixels must be in [1, {min(height, width) - 1}], found {pixels}")
    images = X.reshape(-1, height, width)
    out = np.zeros((5,) + images.shape, dtype=X.dtype)
    out[0] = images
    out[1, :, :-pixels, :] = images[:, pixels:, :]   # up
    out[2, :, pixels:, :] = images[:, :-pixels, :]   # down
    out[3, :, :, :-pixels] = images[:, :, pixels:]   # left
    out[4, :, :, pixels:] = images[:, :, :-pixels]   # right
    return out.reshape(-1, height * width)

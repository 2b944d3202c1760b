"""Shift augmentation: the one-pixel shifts the character-classification seeds suggest."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlp.errors import DataError


def shifted_copies(X: np.ndarray, image_shape: Sequence[int], pixels: int = 1) -> np.ndarray:
    """Four shifted copies of every image, after the originals.

    Parameters
    ----------
    X : ndarray
        Rows ``(N, h*w)``, each a row-major ``(h, w)`` image.
    image_shape : sequence of int
        ``(h, w)``.
    pixels : int, default 1
        How far each copy is shifted.

    Returns
    -------
    ndarray
        ``(5N, h*w)`` in ``X``'s dtype: the originals, then copies shifted up, down, left and
        right by ``pixels``, the pixels shifted in filled with zeros.
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise DataError(f"image_shape must be (height, width) of positive integers, found "
                        f"{tuple(image_shape)}")
    if X.shape[1] != math.prod(shape):
        raise DataError(f"image_shape {shape} needs {math.prod(shape)} features, found "
                        f"{X.shape[1]}")
    height, width = shape
    if (isinstance(pixels, bool) or not isinstance(pixels, int | np.integer)
            or not 0 < pixels < min(height, width)):
        raise DataError(f"pixels must be an integer in [1, {min(height, width) - 1}] for "
                        f"{height}x{width} images, found {pixels!r}")
    images = X.reshape(-1, height, width)
    out = np.zeros((5, *images.shape), dtype=X.dtype)
    out[0] = images
    out[1, :, :-pixels, :] = images[:, pixels:, :]  # up
    out[2, :, pixels:, :] = images[:, :-pixels, :]  # down
    out[3, :, :, :-pixels] = images[:, :, pixels:]  # left
    out[4, :, :, pixels:] = images[:, :, :-pixels]  # right
    return out.reshape(-1, height * width)

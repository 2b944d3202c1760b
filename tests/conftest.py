"""Shared fixtures: headless plotting, a generated image folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


def make_image_folder(root: Path, per_class: int = 40, size: int = 12, seed: int = 0) -> Path:
    """Three classes of noisy 12x12 grey shapes (``bar``, ``cross``, ``ring``) as .bmp/.png."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    shapes = {
        "bar": (np.abs(xx - centre) < 1.6),
        "cross": (np.abs(xx - yy) < 1.2) | (np.abs(xx + yy - (size - 1)) < 1.2),
        "ring": np.abs(np.hypot(xx - centre, yy - centre) - size / 3) < 1.0,
    }
    for label, mask in shapes.items():
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            shift = rng.integers(-1, 2, size=2)
            image = np.roll(mask, tuple(shift), axis=(0, 1)) * 200.0
            image = np.clip(image + rng.normal(0, 30, image.shape), 0, 255).astype(np.uint8)
            suffix = ".bmp" if i % 2 else ".png"
            Image.fromarray(image, mode="L").save(folder / f"{i}{suffix}")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")

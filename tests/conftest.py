"""Shared fixtures: headless plotting, a generated image folder.

The suite, by package: each package's docstring (``mlp``, ``mlp.storage``, ``mlp.nn``,
``mlp.optim``, ``mlp.plotting``, ``mlp.training``, ``mlp.sweep``, ``mlp.sklearn``, ``mlp.cli``,
``preprocess``) lists the test files that cover it. The files that span packages:

- ``test_architecture.py``: the structure: no import cycle, no upward import, h5py in two
  modules, the run-folder names in one, ``import preprocess`` without the trainer.
- ``test_h5py_versions.py``: h5py 3.11, 3.14 and 3.16 each write a run folder, a data file, an
  estimator and a sweep, and each reads all three (9 pairs), resuming bit for bit.
- ``test_hostile_inputs.py`` and ``test_hostile_outputs.py``: sizes past the machine under a
  3 GB address-space limit, FIFOs and devices everywhere a file is read or written, outputs onto
  inputs, a Ctrl-C in epoch 1 and kills during the first save, and 1,000 run configs mutated
  along ``mlp schema``'s paths, allowing only the library's errors.
- ``test_faults.py``, ``test_hostile_files.py``, ``test_signals.py``: run folders under faults: a
  full disk (a real 300 KiB tmpfs when run as root, else injected ENOSPC and RLIMIT_FSIZE), a
  second trainer in the same folder (a real process), SIGINT and SIGTERM to a real
  ``mlp train``, crafted files, a checkpoint held open by another HDF5 program, non-finite
  hyperparameters and weights.
- ``test_open_network.py`` and ``test_normalization.py``: a user's module, loss and update rule
  and the normalisation modules through every part of the library (JSON, checkpoints, resume,
  export, diagnostics, estimators, sweeps).
- ``test_resume.py``: resume against an uninterrupted run, bit for bit, with diagnostics on as
  well (the diagnostics columns equal, no warning given twice).
- ``test_portable.py``: the library where POSIX is not (no ``fcntl``, Windows' signals only).
- ``test_notebooks.py``: every notebook in ``scripts/notebooks/`` in a real kernel (nbclient,
  ipykernel), the kernel's messages counted.
- ``test_cli_person.py`` and ``test_readme.py``: the command line as a person meets it, and the
  README's examples run as written with every import path it names.
- ``test_course.py``: CS231n's checks of its own layers, on this library's modules.

A steady-state training run is checked to allocate under 64 KiB at its peak (tracemalloc), and
validating a large dataset under 1 MiB. ``make test`` skips the PyTorch comparisons (it does not
install PyTorch; the closed-form checks run instead), scikit-learn's array-API checks, and the
fault tests' variants for a machine where mounting a tmpfs is not allowed; ``make test-floors``
also skips the checks that need Python 3.11 or a newer scikit-learn. On 2026-12-05, in a clean
clone on the machine of the README's figures, ``make test`` passed 1330 tests with 26 skipped
in 237 s and ``make test-floors`` passed 1316 with 32 skipped in 215 s."""

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

"""Reproduce seed report 000's failure and its fix, with diagnostics on.

    python scripts/diagnose_seed.py [--out ckpt/diagnose-seed] [--epochs 10] [--n 480]

Generates 28x28 "scanned characters" of 12 classes (dark strokes on a white background,
raw pixels in [0, 1], as the report's images), then trains the report's network
784-128-64-32-12 (ReLU, SGD, lr 0.01, batch 32) twice through the command line with
``--diagnose``: with its initialisation, normal with std 1.0 (run ``seed-normal``: most
ReLU units die and every image gets the same class), and with He's (run ``seed-he``).
Each run is followed by ``mlp diagnose``, which prints the per-layer table and writes the
run's ``diagnostics.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def character_images(n: int, classes: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X (n, 784), y (n,))``: per class a pattern of three two-pixel strokes on white,
    shifted by up to one pixel in each direction, plus Gaussian noise of std 0.1, clipped
    to [0, 1]."""
    rng = np.random.default_rng(seed)
    patterns = np.ones((classes, 28, 28))
    for c in range(classes):
        for _ in range(3):
            row, col = rng.integers(4, 24, 2)
            if rng.random() < 0.5:
                patterns[c, row:row + 2, 4:24] = 0.0
            else:
                patterns[c, 4:24, col:col + 2] = 0.0
    y = rng.integers(0, classes, n)
    X = np.empty((n, 28, 28))
    for i in range(n):
        X[i] = np.roll(patterns[y[i]], tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
    X = np.clip(X + rng.normal(0.0, 0.1, X.shape), 0.0, 1.0).reshape(n, 784)
    return X, y


def run_config(name: str, data_path: Path, epochs: int, init: str,
               init_scale: float | None) -> dict:
    """The run config of the report's network with the given initialisation."""
    return {"name": name,
            "data": {"source": "npz", "path": str(data_path), "validation_fraction": 0.2,
                     "normalize": None},
            "model": {"hidden": [128, 64, 32], "nonlinearity": "relu", "init": init,
                      "init_scale": init_scale, "seed": 0},
            "train": {"epochs": epochs, "batch_size": 32, "optimizer": "sgd", "lr": 0.01,
                      "seed": 0, "diagnostics": True}}


def main() -> None:
    from mlp.cli.commands import main as mlp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("ckpt/diagnose-seed"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n", type=int, default=480, help="images (a fifth for validation)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    X, y = character_images(args.n)
    data_path = args.out / "characters.npz"
    np.savez(data_path, X=X, y=y)
    for name, init, scale in (("seed-normal", "normal", 1.0), ("seed-he", "he", None)):
        config = args.out / f"{name}.json"
        config.write_text(json.dumps(run_config(name, data_path.resolve(), args.epochs, init,
                                                scale), indent=2) + "\n")
        print(f"== mlp train {config} --diagnose")
        mlp(["train", str(config), "--diagnose", "--ckpt-root", str(args.out)])
        print(f"== mlp diagnose {args.out / name}")
        mlp(["diagnose", str(args.out / name)])


if __name__ == "__main__":
    main()

"""Fit sin(2*pi*x) on [0, 1] from 64 points, as the seed reports do, and save the fit plot.

    python scripts/train_sin.py [--epochs 3000] [--out ckpt/sin]

A 1-30-20-1 sigmoid network trained full batch with Adam on the mean absolute error
reaches a validation MAE well below 0.01 (the seeds' target).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from mlp import BasicRoutinizer, Model
from mlp.plotting.figures import plot_fit
from preprocess import Data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("ckpt/sin"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = Data.sin(n_train=64, n_val=256, interval=(0.0, 1.0))
    model = Model.mlp([1, 30, 20, 1], nonlinearity="sigmoid", init="xavier", dtype="float64")
    routinizer = BasicRoutinizer(
        epochs=args.epochs, batch_size=None, optimizer="adam", lr=0.01, loss="mae",
        schedule={"kind": "cosine", "min_lr": 1e-4}, checkpoint_dir=args.out,
    )
    routinizer.run(model, data)
    scores = routinizer.evaluate(model, data.X_val, data.y_val)
    figure_path = args.out / "fit.png"
    plot_fit(model, data.X_train, data.y_train, truth=lambda x: np.sin(2 * np.pi * x),
             interval=(0.0, 1.0), path=figure_path, X_val=data.X_val, y_val=data.y_val)
    logging.info("validation mean absolute error %.5f; plot %s", scores["loss"], figure_path)


if __name__ == "__main__":
    main()

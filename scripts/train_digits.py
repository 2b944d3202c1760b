"""Train on scikit-learn's 8x8 digits (stratified 25% test split) and report test accuracy.

    python scripts/train_digits.py [--epochs 40] [--out ckpt/digits-script]

Needs the ``datasets`` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mlp import BasicRoutinizer, Model
from mlp.plotting.figures import plot_confusion_matrix, plot_first_layer
from preprocess import Data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("ckpt/digits-script"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = Data.from_sklearn("digits", test_fraction=0.25, seed=0)
    data.split_validation(0.1, seed=0).augment_shift(data.image_shape).normalize("zscore")
    model = Model.mlp([data.n_features, 256, data.n_classes], dropout=0.2)
    routinizer = BasicRoutinizer(epochs=args.epochs, batch_size=32, lr=1e-3,
                                 weight_decay=1e-4, early_stopping=10,
                                 loss={"kind": "cross_entropy", "label_smoothing": 0.1},
                                 schedule={"kind": "cosine", "min_lr": 1e-5},
                                 checkpoint_dir=args.out)
    routinizer.run(model, data)
    scores = routinizer.evaluate(model, data.X_test, data.y_test)
    plot_confusion_matrix(data.y_test, model.predict(data.X_test), classes=data.classes,
                          path=args.out / "confusion.png")
    plot_first_layer(model, data.image_shape, path=args.out / "first_layer.png")
    logging.info("test accuracy %.4f (n=%d); outputs in %s", scores["accuracy"], scores["n"],
                 args.out)


if __name__ == "__main__":
    main()

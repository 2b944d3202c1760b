"""Train on any folder of grey-scale images laid out as ``ROOT/<label>/<n>.bmp|png``.

    python scripts/train_images.py ROOT [--hidden 500] [--dropout 0.5] [--epochs 30]

The seeds' 12-class 28x28 character set is this layout; 10% of the images are held out
for validation (stratified), inputs are z-scored per pixel, and the training split can be
augmented with one-pixel shifts (``--shift``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mlp import BasicRoutinizer, Model
from mlp.plotting import plot_confusion_matrix
from preprocess import Data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--hidden", type=int, nargs="+", default=[500])
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--shift", action="store_true", help="add 4 one-pixel shifts")
    parser.add_argument("--out", type=Path, default=Path("ckpt/images"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = Data.from_image_folder(args.root).split_validation(0.1, seed=0).normalize("zscore")
    if args.shift:
        data.augment_shift(data.image_shape, pixels=1)
    model = Model.mlp([data.n_features, *args.hidden, data.n_classes], dropout=args.dropout)
    logging.info("%s", model.summary())
    routinizer = BasicRoutinizer(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 early_stopping=8, checkpoint_dir=args.out)
    history = routinizer.run(model, data)
    plot_confusion_matrix(data.y_val, model.predict(data.X_val), classes=data.classes,
                          path=args.out / "confusion.png")
    logging.info("best validation loss %.4f at epoch %s; val accuracy %.4f; outputs in %s",
                 min(v for v in history.val_loss if v is not None), history.best_epoch(),
                 history.val_accuracy[-1], args.out)


if __name__ == "__main__":
    main()

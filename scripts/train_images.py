"""Train on any folder of grey-scale images laid out as ``ROOT/<label>/<n>.bmp|png``.

    python scripts/train_images.py ROOT [--hidden 500] [--dropout 0.5] [--epochs 30]

The seeds' 12-class 28x28 character set is this layout; 10% of the images are held out
for validation (stratified), the training split can be augmented with one-pixel shifts
(``--shift``), and inputs are z-scored per pixel with the training split's statistics, after
the shifts (so a shifted copy's empty border is the background, 0, before normalising).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mlp import BasicRoutinizer, Model
from mlp.plotting.figures import plot_confusion_matrix
from preprocess import Data


def load_images(root: Path, shift: bool) -> Data:
    """The images under ``root`` with a stratified 10% validation split, the training split
    augmented with four one-pixel shifts when ``shift``, then z-scored: augmenting comes
    before normalising, as ``Data.augment_shift`` requires."""
    data = Data.from_image_folder(root).split_validation(0.1, seed=0)
    if shift:
        data.augment_shift(data.image_shape, pixels=1)
    return data.normalize("zscore")


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

    data = load_images(args.root, args.shift)
    model = Model.mlp([data.n_features, *args.hidden, data.n_classes], dropout=args.dropout)
    logging.info("%s", model.summary())
    routinizer = BasicRoutinizer(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 early_stopping=8, checkpoint_dir=args.out)
    routinizer.run(model, data)
    plot_confusion_matrix(data.y_val, model.predict(data.X_val), classes=data.classes,
                          path=args.out / "confusion.png")
    scores = routinizer.evaluate(model, data.X_val, data.y_val)  # the weights the model holds
    logging.info("best validation loss %.4f at epoch %s; the model (epoch %d) has val "
                 "accuracy %.4f; outputs in %s", routinizer.state.best_loss,
                 routinizer.state.best_epoch,
                 routinizer.state.best_epoch if routinizer.state.stopped_early
                 else routinizer.state.epoch, scores["accuracy"], args.out)


if __name__ == "__main__":
    main()

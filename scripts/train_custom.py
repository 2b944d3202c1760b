"""Train the user's own module, loss and update rule of ``custom_modules.py`` (a Swish MLP, the
Huber loss, Lion) on the noisy sin data, the way a script of one's own would.

    python scripts/train_custom.py [--epochs N] [--ckpt-root DIR]

Checks the gradients against finite differences, trains half the epochs into a run folder,
resumes it to the end, trains the same run uninterrupted beside it and says whether the two
agree bit for bit, then exports the result to ONNX when the ``onnx`` extra is installed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import custom_modules  # noqa: E402,F401 (registers swish, huber and lion)

from mlp import BasicRoutinizer, Model, RunFolder, gradcheck, load_checkpoint  # noqa: E402
from mlp.training.run_config import RunConfig, load_data  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "custom.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--ckpt-root", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = RunConfig.from_file(CONFIG)
    data = load_data(config.data)
    epochs = args.epochs or config.train.epochs
    root = args.ckpt_root or Path(tempfile.mkdtemp(prefix="mlp-custom-"))

    def fresh(folder: Path, until: int) -> tuple[BasicRoutinizer, Model]:
        routinizer = BasicRoutinizer.model_validate(
            {**config.train.model_dump(), "epochs": until, "checkpoint_dir": folder,
             "progress": False})
        return routinizer, config.build_model(data.n_features, 1)

    model = config.build_model(data.n_features, 1)
    error = gradcheck(model, config.train.loss, data.X_train[:8], data.y_train[:8])
    print(f"gradient check (max relative error): {error:.2e}")

    straight, straight_model = fresh(root / "straight", epochs)
    straight.run(straight_model, data)
    first, first_model = fresh(root / "custom", epochs // 2)
    first.run(first_model, data)
    resumed, model = BasicRoutinizer.resume(root / "custom")
    resumed.epochs = epochs
    resumed.run(model, data)
    same = all(a.tobytes() == b.tobytes() for (_, a), (_, b) in
               zip(straight_model.named_arrays(), model.named_arrays(), strict=True))
    scores = resumed.evaluate(model, data.X_val, data.y_val)
    print(f"validation huber loss after {epochs} epochs: {scores['loss']:.5f}")
    print(f"resumed bit-exactly: {same}")
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("onnx is not installed: no export")
        return
    path = load_checkpoint(RunFolder(root / "custom").best).to_onnx(root / "custom.onnx")
    print(f"exported: {path}")
    print(np.round(model.predict_logits(np.array([[0.25], [0.75]])).ravel(), 4))


if __name__ == "__main__":
    main()

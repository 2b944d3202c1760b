"""The ``mlp`` command: train, resume, evaluate, predict, inspect, runs, schema, diagnose.

Errors a user can cause (bad config, bad data, bad checkpoint, divergence, missing file)
are printed in one or two lines on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from mlp.errors import CheckpointError, MLPError

log = logging.getLogger("mlp")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlp", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or logs")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train from a JSON run config")
    train.add_argument("config", type=Path)
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a config value, e.g. train.lr=0.01")
    train.add_argument("--ckpt-root", type=Path, default=Path("ckpt"),
                       help="where run folders go when train.checkpoint_dir is not set")
    train.add_argument("--diagnose", action="store_true",
                       help="record per-layer diagnostics and warn (train.diagnostics=true)")

    resume = commands.add_parser("resume", help="continue a run from its folder")
    resume.add_argument("run", type=Path)
    resume.add_argument("--epochs", type=int, help="train until this many epochs in total")
    resume.add_argument("--allow-data-change", action="store_true",
                        help="continue although the training data changed")

    evaluate = commands.add_parser("evaluate", help="loss and accuracy of a run or checkpoint")
    evaluate.add_argument("target", type=Path, help="run folder (uses best.h5) or .h5 file")
    evaluate.add_argument("--split", choices=["test", "val", "train"], default="test")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = commands.add_parser("predict", help="predict labels for raw inputs")
    predict.add_argument("checkpoint", type=Path, help="run folder or .h5 file")
    predict.add_argument("inputs", type=Path, nargs="+",
                         help=".npy or .csv file, or image files / a folder of images")

    inspect = commands.add_parser("inspect", help="describe a checkpoint file")
    inspect.add_argument("checkpoint", type=Path)

    runs = commands.add_parser("runs", help="a table of the runs under a folder")
    runs.add_argument("root", type=Path, nargs="?", default=Path("ckpt"))

    commands.add_parser("schema", help="JSON Schema of the run config")

    diagnose = commands.add_parser("diagnose", help="per-layer table and diagnostics.png of a run")
    diagnose.add_argument("run", type=Path, help="run folder (uses last.h5) or .h5 file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s")
    try:
        return _COMMANDS[args.command](args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        print(f"mlp {args.command}: invalid {where}: {first['msg']} "
              f"({exc.error_count()} error(s) in all)", file=sys.stderr)
    except (MLPError, OSError, ValueError) as exc:
        print(f"mlp {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 2


def _train(args: argparse.Namespace) -> int:
    from mlp.config import RunConfig, load_data

    config = RunConfig.from_file(args.config, args.overrides)
    if config.train.checkpoint_dir is None:
        config.train.checkpoint_dir = args.ckpt_root / config.name
    if args.quiet:
        config.train.progress = False
    if args.diagnose:
        config.train.diagnostics = True
    folder = Path(config.train.checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.model_dump_json(indent=2) + "\n")
    data = load_data(config.data)
    model = config.build_model(data.n_features, data.n_outputs)
    history = config.train.run(model, data)
    _report(config.train, model, data, history, folder)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from mlp.config import load_data
    from mlp.routinizer import BasicRoutinizer

    config = _run_config(args.run)
    routinizer, model = BasicRoutinizer.resume(args.run, args.allow_data_change)
    if args.epochs is not None:
        routinizer.epochs = args.epochs
    if args.quiet:
        routinizer.progress = False
    folder = Path(routinizer.checkpoint_dir or args.run)
    data = load_data(config.data)
    history = routinizer.run(model, data)
    _report(routinizer, model, data, history, folder)
    return 0


def _report(routinizer, model, data, history, folder: Path) -> None:  # noqa: ANN001
    last = {k: getattr(history, k)[-1] for k in ("epoch", "train_loss", "val_loss",
                                                  "val_accuracy")} if len(history) else {}
    print(f"epochs: {last.get('epoch', 0)}  train loss: {last.get('train_loss', float('nan')):.4g}"
          + (f"  val loss: {last['val_loss']:.4g}" if last.get("val_loss") is not None else "")
          + (f"  val accuracy: {last['val_accuracy']:.4f}"
             if last.get("val_accuracy") is not None else ""))
    if data.X_test is not None:
        scores = routinizer.evaluate(model, data.X_test, data.y_test)
        text = f"test loss: {scores['loss']:.4g}"
        if "accuracy" in scores:
            text += f"  test accuracy: {scores['accuracy']:.4f}"
        print(text + f"  (n={scores['n']})")
    for name in ("best.h5", "last.h5", "curves.png"):
        if (folder / name).exists():
            print(f"{name}: {folder / name}")


def _run_config(path: Path):  # noqa: ANN202
    from mlp.config import RunConfig

    folder = path if path.is_dir() else path.parent
    config_path = folder / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{config_path}: no run config next to the checkpoint "
                              "(needed to rebuild the data)")
    return RunConfig.model_validate_json(config_path.read_text())


def _checkpoint_path(path: Path, prefer: str = "best.h5") -> Path:
    if path.is_dir():
        for name in (prefer, "last.h5"):
            if (path / name).exists():
                return path / name
        raise CheckpointError(f"{path}: no {prefer} or last.h5 in this folder")
    return path


def _evaluate(args: argparse.Namespace) -> int:
    from mlp.checkpoint import load_checkpoint
    from mlp.config import load_data

    checkpoint = load_checkpoint(_checkpoint_path(args.target))
    config = _run_config(args.target)
    data = load_data(config.data)
    X, y = {"test": (data.X_test, data.y_test), "val": (data.X_val, data.y_val),
            "train": (data.X_train, data.y_train)}[args.split]
    if X is None:
        raise MLPError(f"the run's data has no {args.split} split")
    scores = checkpoint.routinizer.evaluate(checkpoint.model, X, y)
    if args.json:
        print(json.dumps(scores))
    else:
        print("  ".join(f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}"
                        for k, v in scores.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from mlp.checkpoint import load_checkpoint
    from preprocess.loaders import read_inputs

    checkpoint = load_checkpoint(_checkpoint_path(args.checkpoint))
    X = read_inputs(args.inputs, checkpoint.image_shape)
    predictions = checkpoint.predict(X)
    for value in predictions:
        print(" ".join(f"{v:.6g}" for v in np.atleast_1d(value)) if np.ndim(value)
              else value)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from mlp.inspect import describe_checkpoint

    print(describe_checkpoint(args.checkpoint))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from mlp.inspect import runs_table

    print(runs_table(args.root))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from mlp.config import RunConfig

    print(json.dumps(RunConfig.model_json_schema(), indent=2))
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from mlp.config import load_data
    from mlp.diagnostics import diagnose

    data = load_data(_run_config(args.run).data)
    report, _ = diagnose(args.run, data)
    print(report)
    return 0


_COMMANDS = {"train": _train, "resume": _resume, "evaluate": _evaluate, "predict": _predict,
             "inspect": _inspect, "runs": _runs, "schema": _schema,
             "diagnose": _diagnose}

if __name__ == "__main__":
    sys.exit(main())

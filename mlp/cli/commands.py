"""The mlp command: train, resume, evaluate, predict, inspect, runs, compare, schema, export,
sweep, diagnose, data convert.

Anything a user can get wrong (a bad config or file, bad data, a busy run folder, a diverged
run) is printed on stderr in a line or a few, never as a traceback, with exit status 2;
SIGINT and SIGTERM end training after saving the last epoch, with status 130 and 143.
Modules load when a command needs them, so ``mlp --help`` stays quick.

``mlp train`` puts the run in ``train.checkpoint_dir``, else ``--ckpt-root``/``name`` (default
``ckpt/<name>``), and refuses a folder that already holds a run: continue it with ``mlp
resume``, or start it over with ``--overwrite``. ``--set KEY=VALUE`` values are JSON, or a bare
word taken as a string (``train.optimizer=sgd``); for ``train.schedule`` and ``train.loss`` a
word is the kind (``train.schedule=cosine``); anything else that is not valid JSON
(``model.hidden=[20,``) is an error. Values are validated like the file, and every invalid one
is listed by its place in the config, with the value found.

On a terminal, a progress bar counts the epochs, with log lines (early stopping, notes) printed
above it. Otherwise (a pipe, a file, CI) each epoch is one line, ``epoch 3/40  loss 0.4123
val_loss 0.3981  acc 0.8812  val_acc 0.9012  lr 0.001  0.05 s``, and ``--log-every N`` keeps
every N-th (and the last). ``-q``, before or after the command, shows neither; warnings and
errors still print. The final summary reports the epoch whose weights the model holds: the
restored best one after early stopping.

``mlp resume RUN`` continues the run in its folder; ``--epochs N`` sets the total, and ``--set
train.KEY=VALUE`` may change the keys ``mlp.storage.run_folder`` lists. Values are checked before
anything is read or written. When the schedule spans ``epochs`` (cosine without ``t_max``), or
the run had stopped early, it prints one line saying what that changes.

``mlp evaluate`` and ``mlp predict`` on a folder use ``best.h5``. ``evaluate`` rebuilds the data
from ``config.json``; ``--split val`` or ``--split train`` (the training samples themselves,
without the shifted copies of ``augment_shift``) score another split. ``mlp predict`` takes a
``.npy`` file (``(N, features)``, one sample ``(features,)``, or ``(N, height, width)`` images of
an image model), a ``.csv`` file (a header row is skipped), or image files and folders of images
(``--names`` prints each file's name before its label, ``--proba`` probabilities). Image files
are read as grey-scale in [0, 1] and multiplied by the scale the model's training images had
(digits: 0..16), which its checkpoint records; a checkpoint that records none (trained on other
arrays) refuses image files and says so. Output cut short by its reader (``mlp predict ... |
head -1``) ends quietly with 0. ``mlp runs DIR`` finds runs at any depth (a sweep's
``trial-0003/repeat-1``, ...).

``scripts/train_sin.py``, ``scripts/train_digits.py`` and ``scripts/train_images.py ROOT`` are
the same runs written as short Python programs to copy from.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from mlp.errors import MLPError
from mlp.storage import run_folder
from mlp.version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import numpy as np
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

#: training fields a resume may change (``mlp resume --set train.KEY=VALUE``)
RESUMABLE_KEYS = ("epochs", "early_stopping", "min_delta", "target_loss", "progress",
                  "save_every_epochs", "save_every_seconds", "log_every", "dynamic_show",
                  "plot_every")
_MAX_ERRORS = 6
#: plugins to import before any command, separated by os.pathsep (what --plugin adds to, so
#: that the worker processes of a sweep import them too)
PLUGINS_VARIABLE = "MLP_PLUGINS"


# ------------------------------------------------------------------------------ parser
def _positive_int(text: str) -> int:
    """An argparse type: a whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number above 0, found {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bar, no log lines")
    common.add_argument("--plugin", dest="plugins", action="append", default=argparse.SUPPRESS,
                        metavar="MODULE",
                        help="import MODULE (a module name or a .py file) first, so the "
                             "modules, losses and optimizers it registers can be named in "
                             f"configs and checkpoints (repeatable; also ${PLUGINS_VARIABLE})")
    parser = argparse.ArgumentParser(
        prog="mlp", parents=[common],
        description="Train, resume, evaluate and inspect multilayer perceptrons.")
    parser.add_argument("--version", action="version", version=f"mlp-routinizer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do (mlp COMMAND --help for its options)")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=text, description=text)

    train = command("train", "train a network from a JSON run config")
    train.add_argument("config", type=Path, help="run config file (see: mlp schema)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a config value, e.g. train.lr=0.01 or "
                            "model.hidden=[64,32] (repeatable)")
    train.add_argument("--ckpt-root", type=Path, default=Path("ckpt"),
                       help="where run folders go when train.checkpoint_dir is not set "
                            "(default: ckpt)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace a run that the run folder already holds")
    train.add_argument("--log-every", type=_positive_int, metavar="N",
                       help="when the output is not a terminal, write a line every N-th "
                            "epoch (default: 1, and always the last)")
    train.add_argument("--diagnose", action="store_true",
                       help="record per-layer diagnostics and warn (train.diagnostics=true)")

    resume = command("resume", "continue a run from its folder")
    resume.add_argument("run", type=Path,
                        help=f"run folder (holds {run_folder.CONFIG} and {run_folder.LAST})")
    resume.add_argument("--epochs", type=_positive_int, metavar="N",
                        help="train until N epochs in all (more than are done)")
    resume.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="train.KEY=VALUE",
                        help="change what may change between segments: "
                             + ", ".join(f"train.{k}" for k in RESUMABLE_KEYS))
    resume.add_argument("--allow-data-change", action="store_true",
                        help="continue although the training data changed")

    evaluate = command("evaluate", "loss and accuracy of a run or checkpoint")
    evaluate.add_argument("target", type=Path,
                          help=f"run folder (its {run_folder.BEST} is used) or checkpoint file")
    evaluate.add_argument("--split", choices=["test", "val", "train"], default="test",
                          help="which split of the run's data (default: test)")
    evaluate.add_argument("--json", action="store_true",
                          help="print one JSON object: loss, accuracy, n")

    predict = command("predict", "predict labels or outputs for raw inputs")
    predict.add_argument("checkpoint", type=Path, help="run folder or checkpoint file")
    predict.add_argument("inputs", type=Path, nargs="+",
                         help=".npy or .csv file, or image files / folders of images")
    predict.add_argument("--proba", action="store_true",
                         help="print class probabilities instead of labels")
    predict.add_argument("--names", action="store_true",
                         help="print each image file's name before its prediction (image "
                              "inputs)")

    inspect = command("inspect", "describe a checkpoint file")
    inspect.add_argument("checkpoint", type=Path, help="checkpoint file or run folder")

    runs = command("runs", "a table of the runs under a folder")
    runs.add_argument("root", type=Path, nargs="?", default=Path("ckpt"),
                      help="folder of run folders (default: ckpt)")

    compare = command("compare", "two or more runs side by side: the hyperparameters that "
                                 "differ, best numbers, and their curves in one PNG")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                         help=f"run folder (its {run_folder.LAST} is read) or checkpoint file")
    compare.add_argument("--out", type=Path, default=Path("compare.png"), metavar="PNG",
                         help="the PNG to write (default: compare.png)")
    compare.add_argument("--json", action="store_true",
                         help="print one JSON object: runs, differing hyperparameters, best "
                              "numbers")

    command("schema", "print the JSON Schema of the run config")

    export = command("export", "write a run or checkpoint as an ONNX file")
    export.add_argument("checkpoint", type=Path,
                        help=f"run folder (its {run_folder.BEST} is used) or checkpoint file")
    export.add_argument("output", type=Path, help="the .onnx file to write")
    export.add_argument("--opset", type=int, metavar="N", help="ONNX opset (default: 21)")

    sweep = command("sweep", "run a hyperparameter sweep (Optuna)")
    sweep.add_argument("sweep_file", type=Path, nargs="?", help="the sweep's JSON file")
    sweep.add_argument("--workers", type=int, default=1, help="processes on this machine")
    sweep.add_argument("--storage", help="a shared study, e.g. postgresql://user@host:5432/db "
                                         "(default: a journal file in the sweep folder)")
    sweep.add_argument("--trials", type=int, help="configurations to run in all")
    sweep.add_argument("--report", action="store_true",
                       help="only rebuild the report from the study")
    sweep.add_argument("--ckpt-root", type=Path, default=Path("ckpt"),
                       help="where the sweep folder goes (default: ckpt)")
    sweep.add_argument("--schema", action="store_true",
                       help="print the JSON Schema of a sweep file")
    # how --workers starts its worker processes, not for users (hidden from --help): run as one
    # worker; wait for the data file the parent writes once it has checked the sweep; end when
    # the parent process ends before writing it
    sweep.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    sweep.add_argument("--data-file", type=Path, help=argparse.SUPPRESS)
    sweep.add_argument("--parent", type=int, help=argparse.SUPPRESS)

    data = command("data", "data files: mlp data convert SRC OUT.h5")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION",
                                        help="what to do with data files")
    convert = data_commands.add_parser(
        "convert", parents=[common], help="write CSV, .npz, .npy, another HDF5 file or an "
        "image folder as an HDF5 data file (chunked, checksummed) to train from in place",
        description="write CSV, .npz, .npy, another HDF5 file (gzip, lzf, unchecksummed...) "
                    "or an image folder as an HDF5 data file (chunked, checksummed) to train "
                    "from in place (data.source: hdf5)")
    convert.add_argument("source", type=Path,
                         help=".csv, .npz, .npy or .h5 file, or a folder of <label>/ image "
                              "folders")
    convert.add_argument("output", type=Path, help="the .h5 data file to write")
    convert.add_argument("--labels", type=Path, metavar="Y.npy",
                         help="the targets of a .npy source")
    convert.add_argument("--target", default="-1",
                         help="CSV target column: index or header name (default: -1)")
    convert.add_argument("--delimiter", default=",", help="CSV delimiter (default: ,)")
    convert.add_argument("--task", choices=["auto", "classification", "regression"],
                         default="auto")
    convert.add_argument("--x-key", default="X",
                         help=".npz or .h5 features when there is no X_train (default: X)")
    convert.add_argument("--y-key", default="y",
                         help=".npz or .h5 targets when there is no y_train (default: y)")
    convert.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                         help="stored feature dtype (default: float32)")
    convert.add_argument("--max-rows", type=_positive_int, metavar="N",
                         help="CSV rows allowed (default: 100 million)")
    convert.add_argument("--max-line-chars", type=_positive_int, metavar="N",
                         help="characters in one CSV line (default: 1048576)")
    convert.add_argument("--max-pixels", type=_positive_int, metavar="N",
                         help="pixels of one image (default: 16777216)")
    convert.add_argument("--max-chunk-bytes", type=_positive_int, metavar="N",
                         help="bytes of one decompressed chunk of an .h5 source "
                              "(default: 67108864)")

    diagnose = command("diagnose", f"per-layer table and {run_folder.DIAGNOSTICS} of a run")
    diagnose.add_argument("run", type=Path,
                          help=f"run folder (its {run_folder.LAST} is used) or checkpoint file")
    return parser


# -------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mlp`` command line: ``mlp train``, ``resume``, ``evaluate``, ``sweep``, ...

    A user's error (bad config, bad data, a damaged file) is printed in one or a few lines
    on stderr, without a traceback.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``mlp``; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a user's error, 128 + the signal (130, 143)
        when training was interrupted.

    Examples
    --------
    >>> from mlp.cli import main
    >>> main(["train", "digits.json", "--set", "train.epochs=3"])  # doctest: +SKIP
    0
    """
    args = _parser().parse_args(argv)
    import logging  # after parsing: `mlp --help` stays quick

    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    try:
        _import_plugins(getattr(args, "plugins", []))
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that has gone is noticed here, not at exit
        return status
    except BrokenPipeError:  # `mlp predict ... | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit has nowhere to fail
        return 0
    except KeyboardInterrupt as exc:  # TrainingInterrupted, or Ctrl-C outside training
        print(f"mlp {args.command}: {str(exc) or 'interrupted'}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except (MLPError, OSError, ValueError) as exc:  # pydantic's ValidationError included
        print(f"mlp {args.command}: {_error_text(exc)}", file=sys.stderr)
    except RecursionError:
        print(f"mlp {args.command}: input nested too deeply", file=sys.stderr)
    except (MemoryError, OverflowError) as exc:  # one an allocation site did not name
        print(f"mlp {args.command}: {_error_text(exc)}: a size asked for by the input is "
              "more than this machine can hold", file=sys.stderr)
    return 2


#: characters of an error message the command line prints (a file's attribute or a value
#: echoed in a message can be as long as the file)
_MAX_MESSAGE = 2000


def _error_text(exc: BaseException) -> str:
    """``describe_error(exc)``, at most ``_MAX_MESSAGE`` characters, and never an error of
    its own (a message that cannot be built is replaced by the error's class name)."""
    try:
        text = describe_error(exc)
    except Exception:  # noqa: BLE001 - the printer of errors must not fail
        text = f"{type(exc).__name__} (its message cannot be shown)"
    if len(text) > _MAX_MESSAGE:
        text = f"{text[:_MAX_MESSAGE]}... ({len(text)} characters in all)"
    return text


def _import_plugins(named: list[str]) -> None:
    """Import the plugins of ``$MLP_PLUGINS`` and ``named`` (``--plugin``), and export them
    all in ``$MLP_PLUGINS`` for the processes this command starts (files by absolute path)."""
    from mlp.registry import import_plugin

    inherited = [p for p in os.environ.get(PLUGINS_VARIABLE, "").split(os.pathsep) if p]
    for plugin in dict.fromkeys(inherited + list(named)):
        import_plugin(plugin)
    plugins = inherited + [str(Path(p).resolve()) if p.endswith(".py") else p for p in named]
    if plugins:
        os.environ[PLUGINS_VARIABLE] = os.pathsep.join(dict.fromkeys(plugins))


def describe_error(exc: BaseException) -> str:
    """A user's error in a line or a few.

    Parameters
    ----------
    exc : BaseException
        The error.

    Returns
    -------
    str
        A validation error in the config's words (``describe_validation``), anything else
        as its class name and message.
    """
    pydantic = sys.modules.get("pydantic")  # not imported: the error cannot be pydantic's
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        return describe_validation(exc)
    return f"{type(exc).__name__}: {exc}"


def describe_validation(exc: ValidationError, root: Sequence[Any] = (),
                        what: str = "config") -> str:
    """The errors of a validation in the config's own words.

    ``model.hiden: extra inputs are not permitted (found 2)``, several on their own lines,
    with the count.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The errors.
    root : sequence, default ()
        Where in the config the validated object sits (``("train",)`` for training fields).
    what : str, default "config"
        What was invalid, named when an error has no location.

    Returns
    -------
    str
    """
    errors = _branch_errors(exc.errors())
    lines = []
    for error in errors[:_MAX_ERRORS]:
        where = config_path((*root, *error["loc"])) or what
        message = error["msg"][0].lower() + error["msg"][1:]
        found = error.get("input")
        shown = "" if error["type"] == "missing" else f" (found {_short(found)})"
        lines.append(f"{where}: {message}{shown}")
    more = len(errors) - _MAX_ERRORS
    head = f"invalid {what}, {len(errors)} errors:" if len(errors) > 1 else f"invalid {what}:"
    if len(lines) == 1:
        return f"{head} {lines[0]}"
    return "\n".join([head, *(f"  {line}" for line in lines)]
                     + ([f"  ... and {more} more"] if more > 0 else []))


def config_path(loc: Sequence[Any]) -> str:
    """A validation error's location as the config's dotted key.

    The parts Pydantic adds for unions and validators are dropped.

    Parameters
    ----------
    loc : sequence
        The error's ``loc``.

    Returns
    -------
    str

    Examples
    --------
    >>> config_path(("model", "function-after[_one_of(), MlpSpec]", "hiden"))
    'model.hiden'
    """
    parts: list[str] = []
    for index, part in enumerate(loc):
        text = str(part)
        if any(c in text for c in "[](), ") or text in _UNION_TAGS:
            continue
        if index and str(loc[index - 1]) == "data" and text in _SOURCES:
            continue  # the discriminator of the data source
        parts.append(f"[{text}]" if isinstance(part, int) else text)
    return ".".join(parts).replace(".[", "[")


_UNION_TAGS = {"MlpSpec", "Model", "constant", "step", "cosine", "plateau", "layer",
               "nonlinearity", "dropout"}
_SOURCES = {"sklearn", "npz", "csv", "image_folder", "sin", "hdf5"}


def _branch_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """For ``model`` (an ``MlpSpec`` or a full ``Model``), keep only the branch the input
    meant: a ``modules`` key (which ``MlpSpec`` refuses as extra) means a full spec."""
    def branch(error: ErrorDetails) -> str | None:
        loc = [str(p) for p in error["loc"]]
        if len(loc) > 1 and loc[0] == "model":
            return "Model" if ("Model" in loc[1] and "MlpSpec" not in loc[1]) else "MlpSpec"
        return None

    meant_model = any(branch(e) == "MlpSpec" and e["type"] == "extra_forbidden"
                      and [str(p) for p in e["loc"]][2:] == ["modules"] for e in errors)
    wanted = "Model" if meant_model else "MlpSpec"
    kept = [e for e in errors if branch(e) in (None, wanted)]
    return kept or errors


def _short(value: Any) -> str:
    import json

    try:
        text = json.dumps(value) if isinstance(value, (dict, list, str, bool, type(None))) \
            else repr(value)
    except (RecursionError, TypeError, ValueError):  # deep, or not JSON: a shallow picture
        import reprlib

        shallow = reprlib.Repr()
        shallow.maxlevel = 2
        text = shallow.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------- commands
def _train(args: argparse.Namespace) -> int:
    from mlp.storage.output_paths import refuse_clobbering
    from mlp.storage.run_folder import RunFolder
    from mlp.training.checkpoint import check_saveable
    from mlp.training.run_config import RunConfig, load_data

    config = RunConfig.from_file(args.config, args.overrides)
    if config.train.checkpoint_dir is None:
        config.train.checkpoint_dir = args.ckpt_root / config.name
    if getattr(args, "quiet", False):
        config.train.progress = False
    if args.log_every is not None:
        config.train.log_every = args.log_every
    if args.diagnose:
        config.train.diagnostics = True
    folder = RunFolder(config.train.checkpoint_dir)
    folder.remove_stale_temps()
    folder.claim(args.overwrite, flag="--overwrite", clear=False)
    refuse_clobbering([], {args.config: "the run config being read",
                           **_data_inputs(config.data)}, run_folder=folder.path)
    data = load_data(config.data)  # bad data or model: refused before the folder is made
    config.loss_for(data.task)
    model = config.build_model(data.n_features, data.n_outputs)
    check_saveable(model, config.train, data)  # labels, normaliser, names: before config.json
    with folder.locked():
        folder.claim(args.overwrite, flag="--overwrite")
        folder.write_config(config.model_dump_json(indent=2) + "\n")
        history = _run(config.train, model, data, folder)
    _report(config.train, model, data, history, folder)
    return 0


def _run(routinizer: Any, model: Any, data: Any, folder: Any) -> Any:
    """``routinizer.run(model, data)`` in ``folder``; a Ctrl-C before training takes its
    signals over (while it prepares) says, as one during training does, how to continue."""
    import signal

    from mlp.signals import TrainingInterrupted
    from mlp.training.startup import startup_probes

    try:
        return routinizer.run(model, data, startup_probes())
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise TrainingInterrupted(signal.SIGINT, routinizer.state.epoch, routinizer.epochs,
                                  folder.path) from None


def _data_inputs(data: Any) -> dict[str | Path | None, str]:
    """The files and folders a run config's data section reads, with what each is."""
    return {Path(value): f"the data (data.{name})" for name in ("path", "root")
            if (value := getattr(data, name, None)) is not None}


def _resume(args: argparse.Namespace) -> int:
    import logging

    from mlp.storage.output_paths import refuse_clobbering
    from mlp.storage.run_folder import RunFolder
    from mlp.training.routinizer import BasicRoutinizer
    from mlp.training.run_config import load_data, read_run_config

    log = logging.getLogger("mlp")
    folder = RunFolder(args.run)
    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    changes = _resume_changes(overrides)  # checked before anything is read or written
    config = read_run_config(folder)  # names the folder when it is missing
    folder.remove_stale_temps()
    refuse_clobbering([], _data_inputs(config.data), run_folder=folder.path)
    if not (folder.last.is_file() or folder.best.is_file()):
        return _start_over(folder, config, changes, getattr(args, "quiet", False))
    with folder.locked():
        routinizer, model = BasicRoutinizer.resume(folder.path, args.allow_data_change)
        _refuse_edited_config(folder, config, routinizer, model)
        state, planned = routinizer.state, routinizer.epochs
        done = state.epoch
        stopped = state.stopped_early or state.should_stop_early(routinizer.early_stopping)
        for key, value in changes.items():
            setattr(routinizer, key, value)
        if "epochs" in changes and routinizer.epochs <= done:
            raise MLPError(f"{folder.path} has {done} epochs done; --epochs must be more "
                           f"than that to continue, found {routinizer.epochs}")
        if routinizer.epochs != planned and routinizer.schedule.depends_on_epochs():
            log.warning("%s", _schedule_note(routinizer, planned, done))
        if stopped and routinizer.epochs > done:
            again = state.should_stop_early(routinizer.early_stopping) or (
                routinizer.early_stopping is not None
                and done + 1 - (state.patience_from or done) >= routinizer.early_stopping)
            log.warning("note: the run stopped early at epoch %d (best epoch %s) and continues "
                        "from epoch %d's weights, not the best ones%s", done, state.best_epoch,
                        done, f", and stops after the next epoch unless the "
                        f"{state.monitor.replace('_', ' ')} improves (--set "
                        f"train.early_stopping=N gives it longer)" if again else "")
            state.stopped_early = False  # the flag describes how the last segment ended
        if getattr(args, "quiet", False):
            routinizer.progress = False
        data = load_data(config.data)
        if changes:
            config.train = routinizer
            folder.write_config(config.model_dump_json(indent=2) + "\n")
        history = _run(routinizer, model, data, folder)
    _report(routinizer, model, data, history, folder)
    return 0


def _start_over(folder: Any, config: Any, changes: dict[str, Any], quiet: bool) -> int:
    """Resume a run that stopped before its first checkpoint: train it from epoch 0 as
    ``mlp train`` would have, from its ``config.json`` (the same seeds, so the same run)."""
    import logging

    from mlp.training.checkpoint import check_saveable
    from mlp.training.run_config import load_data

    logging.getLogger("mlp").warning(
        "%s holds no checkpoint (the run stopped before its first save): starting it over "
        "from epoch 0 with the seeds of its %s", folder.path, folder.config.name)
    data = load_data(config.data)
    config.loss_for(data.task)
    model = config.build_model(data.n_features, data.n_outputs)
    config.train.checkpoint_dir = folder.path
    for key, value in changes.items():
        setattr(config.train, key, value)
    if quiet:
        config.train.progress = False
    check_saveable(model, config.train, data)
    with folder.locked():
        if folder.last.is_file() or folder.best.is_file():
            raise MLPError(f"{folder.path}: a checkpoint appeared while this command "
                           "prepared; run mlp resume again to continue from it")
        if changes:
            folder.write_config(config.model_dump_json(indent=2) + "\n")
        history = _run(config.train, model, data, folder)
    _report(config.train, model, data, history, folder)
    return 0


def _resume_changes(overrides: list[str]) -> dict[str, Any]:
    """The ``train.KEY=VALUE`` overrides of a resume as ``{KEY: value}``, each validated as
    the training config validates it; ``ConfigError`` for anything a resume may not
    change or any invalid value."""
    from pydantic import ValidationError

    from mlp.training.hyperparameters import TrainingConfig
    from mlp.training.run_config import ConfigError, apply_override

    raw: dict[str, Any] = {}
    for item in overrides:
        apply_override(raw, item)
    train = raw.get("train", {})
    unknown = sorted(set(raw) - {"train"}) + sorted(
        f"train.{k}" for k in train if k not in RESUMABLE_KEYS)
    if unknown:
        raise ConfigError(f"a resume cannot change {', '.join(unknown)}; it may change "
                          + ", ".join(f"train.{k}" for k in RESUMABLE_KEYS))
    probe = TrainingConfig()
    for key, value in train.items():
        try:
            setattr(probe, key, value)
        except ValidationError as exc:
            raise ConfigError(describe_validation(exc, root=("train",), what="value")) \
                from None
    return train


def _schedule_note(routinizer: Any, planned: int, done: int) -> str:
    """One line: how continuing to ``routinizer.epochs`` changes a schedule that spans
    ``epochs``, from the ``planned`` epochs of the run so far."""
    schedule, history = routinizer.schedule, routinizer.history
    now = schedule.lr_for_epoch(done, routinizer.lr, routinizer.epochs, routinizer.state.schedule)
    before = f" (epoch {done} trained at {history.lr[-1]:.3g})" if len(history) else ""
    return (f"note: the {schedule.kind} schedule has no t_max, so it spans train.epochs: "
            f"going from {planned} to {routinizer.epochs} epochs stretches its curve, and "
            f"epoch {done + 1} trains at lr {now:.3g}{before}; the result differs from one "
            f"{routinizer.epochs}-epoch run (set t_max in a run's schedule to fix its curve)")


def _refuse_edited_config(folder: Any, config: Any, routinizer: Any, model: Any) -> None:
    """``config.json`` must describe the checkpoint's run: list the keys that differ."""
    import json

    saved = json.loads(config.train.model_dump_json())
    actual = json.loads(routinizer.model_dump_json())
    differing = [f"train.{k}" for k in sorted(saved) if k not in RESUMABLE_KEYS
                 and k != "checkpoint_dir" and saved[k] != actual.get(k)]
    differing += _model_differences(config, model)
    if differing:
        raise MLPError(f"{folder.config} differs from the checkpoint in {', '.join(differing)}; "
                       "a resume continues the saved run (change epochs, early stopping and "
                       "the like with --set), or train a new run")


def _model_differences(config: Any, model: Any) -> list[str]:
    from mlp.nn.model import Model

    spec = config.model
    if isinstance(spec, Model):
        return [] if spec.model_dump() == model.model_dump() else ["model"]
    widths = model.widths()
    sizes = [model.in_features] + [widths[i] for i in model.layer_indices()]
    expected = spec.layer_sizes or spec.hidden
    found = sizes if spec.layer_sizes else sizes[1:-1]
    differing = [] if expected == found else ["model.hidden" if spec.hidden else
                                              "model.layer_sizes"]
    built = Model.mlp_modules(sizes, spec.nonlinearity, spec.dropout, spec.init,
                              spec.init_scale, spec.normalization)
    if not differing and [m.model_dump() for m in built] != [m.model_dump()
                                                             for m in model.modules]:
        differing.append("model (nonlinearity, dropout, normalization or init)")
    if spec.seed != model.seed:
        differing.append("model.seed")
    if spec.dtype != model.dtype:
        differing.append("model.dtype")
    return differing


def _report(routinizer: Any, model: Any, data: Any, history: Any, folder: Any) -> None:
    """The final summary: the epoch whose weights the model now holds (the best one after
    early stopping), the test scores, and the run folder's files."""
    state = routinizer.state
    epoch = state.best_epoch if state.stopped_early and state.best_epoch else state.epoch
    if len(history):
        i = history.epoch.index(epoch) if epoch in history.epoch else len(history) - 1
        text = f"epochs: {state.epoch}"
        if state.stopped_early:
            text += f" (stopped early; restored epoch {history.epoch[i]})"
        text += f"  train loss: {history.train_loss[i]:.4g}"
        if history.val_loss[i] is not None:
            text += f"  val loss: {history.val_loss[i]:.4g}"
        if history.val_accuracy[i] is not None:
            text += f"  val accuracy: {history.val_accuracy[i]:.4f}"
        print(text)
    if data.X_test is not None:
        scores = routinizer.evaluate(model, data.X_test, data.y_test)
        text = f"test loss: {scores['loss']:.4g}"
        if "accuracy" in scores:
            text += f"  test accuracy: {scores['accuracy']:.4f}"
        print(text + f"  (n={scores['n']})")
    for path in (folder.best, folder.last, folder.curves):
        if path.exists():
            print(f"{path.name}: {path}")


def _evaluate(args: argparse.Namespace) -> int:
    from mlp.storage.run_folder import RunFolder
    from mlp.training.checkpoint import load_checkpoint
    from mlp.training.run_config import load_data, read_run_config

    RunFolder.of(args.target).remove_stale_temps()
    checkpoint = load_checkpoint(RunFolder.checkpoint_of(args.target, "best"))
    folder = RunFolder.of(checkpoint.path)
    config = read_run_config(folder)
    data = load_data(config.data)
    X, y = {"test": (data.X_test, data.y_test), "val": (data.X_val, data.y_val),
            "train": (data.X_train, data.y_train)}[args.split]
    if X is None:
        others = [s for s in ("val", "test", "train")
                  if getattr(data, f"X_{s}") is not None and s != args.split]
        raise MLPError(f"the data of {folder.path} has no {args.split} split (its config "
                       f"makes {', '.join(others)}); use --split {others[0]}")
    y = cast("np.ndarray", y)  # a split with features has targets
    if args.split == "train" and data.n_original_train is not None:
        X, y = X[:data.n_original_train], y[:data.n_original_train]  # not the shifted copies
    scores = checkpoint.config.loss.evaluate(checkpoint.model.predict_logits(X), y)
    if args.json:
        import json

        print(json.dumps(scores))
    else:
        print("  ".join(f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}"
                        for k, v in scores.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from mlp.storage.run_folder import RunFolder
    from mlp.training.checkpoint import load_checkpoint
    from preprocess.loaders import image_inputs, input_blocks

    RunFolder.of(args.checkpoint).remove_stale_temps()
    checkpoint = load_checkpoint(RunFolder.checkpoint_of(args.checkpoint, "best"))
    blocks = input_blocks(args.inputs, checkpoint.image_shape, checkpoint.input_scale,
                          checkpoint.model.in_features, source=checkpoint.path)
    files = image_inputs(args.inputs)
    names = iter(one_line(str(path)) for path in files) if files is not None else None
    for X in blocks:  # one block of rows in memory at a time
        values = checkpoint.predict_proba(X) if args.proba else checkpoint.predict(X)
        lines = []
        for value in values:
            text = (" ".join(f"{v:.6g}" for v in np.atleast_1d(value)) if np.ndim(value)
                    else one_line(str(value)))
            lines.append(f"{next(names)}  {text}" if args.names and names else text)
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def one_line(text: str) -> str:
    """``text`` on one line of output.

    Parameters
    ----------
    text : str
        A label or name.

    Returns
    -------
    str
        ``text`` with each character that is not printable (a newline, a tab, a control
        character) written as its escape.

    Examples
    --------
    >>> print(one_line("a" + chr(10) + "b"))
    a\\nb
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _inspect(args: argparse.Namespace) -> int:
    from mlp.storage.run_folder import RunFolder
    from mlp.training.inspect import describe_checkpoint

    RunFolder.of(args.checkpoint).remove_stale_temps()
    print(describe_checkpoint(args.checkpoint))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from mlp.training.inspect import runs_table

    print(runs_table(args.root))
    return 0


def _compare(args: argparse.Namespace) -> int:
    import json

    from mlp.storage.output_paths import refuse_clobbering
    from mlp.training.compare import compare

    refuse_clobbering([args.out], {run: "a run being compared" for run in args.runs})
    comparison = compare(args.runs)
    path = comparison.save_figure(args.out)
    if args.json:
        print(json.dumps({**comparison.to_dict(), "figure": str(path)}))
    else:
        print(comparison.table())
        print(f"curves: {path}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from mlp.training.run_config import RunConfig

    print(json.dumps(RunConfig.model_json_schema(), indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    from mlp.training.checkpoint import load_checkpoint

    try:
        from mlp.export import to_onnx
    except ImportError as exc:
        raise MLPError(str(exc)) from exc  # names the missing package and the extra
    from mlp.storage.run_folder import RunFolder

    RunFolder.of(args.checkpoint).remove_stale_temps()
    source = RunFolder.checkpoint_of(args.checkpoint, "best")
    print(to_onnx(load_checkpoint(source), args.output, args.opset))
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from mlp.storage.run_folder import RunFolder
    from mlp.training.diagnostics import diagnose
    from mlp.training.run_config import load_data, read_run_config

    RunFolder.of(args.run).remove_stale_temps()
    source = RunFolder.checkpoint_of(args.run, "last")
    data = load_data(read_run_config(RunFolder.of(source)).data)
    report, _ = diagnose(source, data)
    print(report)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    started = None
    if (args.workers > 1 and args.sweep_file is not None
            and not (args.report or args.worker or args.schema)):
        from mlp.sweep.workers import WorkerProcesses

        # first, so that they start and import while this process imports and checks
        started = WorkerProcesses.start(args.sweep_file, args.ckpt_root, args.workers - 1,
                                        args.storage, args.trials)
    try:
        from mlp.sweep.command import command

        return command(args.sweep_file, ckpt_root=args.ckpt_root, workers=args.workers,
                       url=args.storage, n_trials=args.trials, report_only=args.report,
                       worker_only=args.worker, schema=args.schema,
                       quiet=getattr(args, "quiet", False), data_file=args.data_file,
                       parent=args.parent, started=started)
    except BaseException:
        if started is not None:
            started.stop()
        raise


def _data(args: argparse.Namespace) -> int:
    from preprocess.bounded import DEFAULT_LIMITS, ReadLimits
    from preprocess.convert import convert

    limits = ReadLimits(**{name: getattr(args, name) or getattr(DEFAULT_LIMITS, name)
                           for name in ("max_rows", "max_line_chars", "max_pixels",
                                        "max_chunk_bytes")})
    target = int(args.target) if args.target.lstrip("-").isdigit() else args.target
    facts = convert(args.source, args.output, labels=args.labels, target=target,
                    delimiter=args.delimiter, task=args.task, x_key=args.x_key,
                    y_key=args.y_key, dtype=args.dtype, limits=limits,
                    progress=None if not getattr(args, "quiet", False) else False)
    classes = f", {facts['classes']} classes" if facts["classes"] else ""
    print(f"{args.output}: {facts['rows']} rows of {facts['features']} features, "
          f"{facts['task']}{classes}")
    return 0


_COMMANDS = {"train": _train, "resume": _resume, "evaluate": _evaluate, "predict": _predict,
             "inspect": _inspect, "runs": _runs, "compare": _compare, "schema": _schema,
             "export": _export, "sweep": _sweep, "diagnose": _diagnose, "data": _data}

if __name__ == "__main__":
    sys.exit(main())

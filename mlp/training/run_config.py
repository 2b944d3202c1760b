"""The run config: ``{"name", "data", "model", "train"}``, validated by Pydantic.

``data`` is a discriminated union on ``source`` (``sklearn``, ``npz``, ``csv``,
``image_folder``, ``sin``, ``hdf5``) with the preprocessing options every source shares;
``model`` is either the ``Model.mlp`` builder's arguments (``hidden`` widths, with the input
and output widths taken from the data, or explicit ``layer_sizes``) or a full ``Model`` spec
(``modules``); ``train`` is a ``BasicRoutinizer``. ``mlp schema`` prints the JSON Schema.

Reading a config never allocates weights: a full ``Model`` spec is validated as a spec
(``SPEC_ONLY`` context) and built by ``build_model``. Relative data paths are resolved
against the folder of the config file they were read from, and a run folder's
``config.json`` stores them absolute, so a run resolves the same from any directory.

``data`` in detail:

- ``source`` selects the loader: ``sklearn`` (``name``: ``digits``, ``iris``, ``wine``,
  ``breast_cancer``; needs the ``datasets`` extra), ``npz`` (``path``, ``x_key``, ``y_key``; or
  arrays ``X_train``, ``y_train``, ``X_val``, ...), ``csv`` (``path``, ``target`` column index or
  header name, ``delimiter``), ``image_folder`` (``root/<label>/*.bmp|png``, grey-scale, scaled
  to [0, 1]; the folder names are the labels), ``sin`` (``n_train``, ``n_val``, ``noise``,
  ``interval``, ``frequency``), ``hdf5`` (a data file read in place: ``preprocess.disk_open``).
- ``task``: ``classification``, ``regression`` or ``auto`` (the default: 2-D float targets, and
  a CSV column of numbers that are not all whole, are regression values, anything else class
  labels; 1-D float targets that look continuous are refused with a message asking for
  ``task``). ``sklearn``, ``image_folder`` and ``sin`` have a fixed task, which ``task`` may only
  repeat.
- The preprocessing options, applied in this order: ``test_fraction`` (when the source has no
  test split), ``validation_fraction``, ``stratify``, ``split_seed``, ``augment_shift`` (pixels
  of the four one-step shifts added to the training split of image data), ``normalize``
  (``zscore``, ``minmax`` or null; statistics from the training split only, saved in every
  checkpoint); and the read limits of ``preprocess.bounded``.

``model``: the builder's ``hidden`` widths (or all ``layer_sizes``), ``nonlinearity``,
``dropout``, ``init``, ``init_scale``, ``normalization`` (``batch``, ``layer`` or null),
``seed``, ``dtype``; or a full ``{"modules": [...]}`` spec, whose modules may be a user's own
registered types.

``train``: every ``BasicRoutinizer`` field: ``epochs``, ``batch_size`` (null = full batch),
``lr``, ``optimizer`` (``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adam``, ``adamw``,
``amsgrad``, or a registered rule), ``momentum``, ``alpha``, ``beta1``, ``beta2``, ``eps``,
``weight_decay``, ``grad_clip`` (global norm), ``loss`` (a kind or ``{"kind",
"label_smoothing"}``; when left out, ``mse`` for regression data and ``cross_entropy`` for
classification), ``schedule`` (``{"kind": "constant"}``, ``{"kind": "step", "step_size",
"gamma"}``, ``{"kind": "cosine", "min_lr", "t_max"}``, ``{"kind": "plateau", "factor",
"patience", "min_lr"}``), ``early_stopping`` (patience in epochs on the validation loss;
restores the best weights), ``target_loss``, ``shuffle``, ``seed`` (the one generator for
shuffling and dropout), ``checkpoint_dir`` (default ``ckpt/<name>`` from the command line),
``save_every_epochs`` and ``save_every_seconds``, ``dynamic_show`` (live curves; a PNG under a
non-interactive backend), ``plot_every``, ``progress``, ``log_every``, ``diagnostics``,
``tensorboard``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    StringConstraints,
    model_validator,
)

from mlp.errors import MLPError
from mlp.nn.model import MAX_MODULES, Model, NonlinearityKind, Normalization
from mlp.storage.regular_files import read_regular
from mlp.storage.run_folder import RunFolder
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data
from preprocess.bounded import DEFAULT_LIMITS, MAX_LIMIT, ReadLimits


class ConfigError(MLPError):
    """A config file that cannot be read as a JSON object, or a bad ``--set``."""


def _one_folder_name(name: str) -> str:
    if name in (".", ".."):
        raise ValueError(f"a name must name a folder of its own, found {name!r}")
    return name


#: a run's or a sweep's name, which becomes a folder under the checkpoint root: letters,
#: digits, "_", "." and "-", and neither "." nor ".." (which would name the root or its parent)
FolderName = Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$"),
                       AfterValidator(_one_folder_name)]


#: validation context under which a ``Model`` spec is checked without drawing weights
SPEC_ONLY = {"spec_only": True}


class Preprocessing(BaseModel):
    """Options shared by every data source, applied in this order: test split (when the
    source has none), validation split, shift augmentation of the training split,
    normalisation (training statistics). ``task`` says whether the targets are class labels
    or regression values. ``auto`` takes 2-D float targets (and a CSV column of numbers that
    are not all whole) as regression values and anything else as class labels, but refuses
    1-D float targets that look continuous, asking for ``task``; the ``sklearn``,
    ``image_folder`` and ``sin`` sources have a fixed task, which ``task`` may only repeat."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    task: Literal["auto", "classification", "regression"] = "auto"

    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    validation_fraction: float | None = Field(default=0.1, gt=0, lt=1)
    stratify: bool = True
    split_seed: int = 0
    normalize: Literal["zscore", "minmax"] | None = "zscore"
    augment_shift: PositiveInt | None = Field(
        default=None, description="pixels of the 4 one-step shifts added to the training split"
    )


class SklearnSource(Preprocessing):
    source: Literal["sklearn"] = "sklearn"
    name: Literal["digits", "iris", "wine", "breast_cancer"]
    test_fraction: float | None = Field(default=0.25, gt=0, lt=1)


class NpzSource(Preprocessing):
    source: Literal["npz"] = "npz"
    path: Path
    x_key: str = "X"
    y_key: str = "y"
    max_bytes: PositiveInt = Field(default=DEFAULT_LIMITS.max_bytes, le=MAX_LIMIT,
                                   description="array bytes the archive may declare")


class CsvSource(Preprocessing):
    source: Literal["csv"] = "csv"
    path: Path
    target: int | str = -1
    max_rows: PositiveInt = Field(default=DEFAULT_LIMITS.max_rows, le=MAX_LIMIT,
                                  description="rows the file may have (a header counts)")
    max_line_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_line_chars, le=MAX_LIMIT,
                                        description="characters one line may have")
    max_field_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_field_chars, le=MAX_LIMIT,
                                         description="characters one field may have")
    max_label_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_label_chars, le=MAX_LIMIT,
                                         description="characters one class label may have")
    delimiter: str = Field(default=",", min_length=1, max_length=1)


class ImageFolderSource(Preprocessing):
    source: Literal["image_folder"] = "image_folder"
    root: Path
    normalize: Literal["zscore", "minmax"] | None = None
    max_pixels: PositiveInt = Field(default=DEFAULT_LIMITS.max_pixels, le=MAX_LIMIT,
                                    description="pixels the first image may declare")


class SinSource(Preprocessing):
    source: Literal["sin"] = "sin"
    n_train: PositiveInt = 64
    n_val: PositiveInt = 256
    noise: float = Field(default=0.0, ge=0)
    interval: tuple[float, float] = (0.0, 1.0)
    frequency: float = 6.283185307179586
    seed: int = 0
    validation_fraction: float | None = None
    normalize: Literal["zscore", "minmax"] | None = None


class HDF5Source(Preprocessing):
    """Datasets of an HDF5 data file read in place (``Data.from_hdf5``): training batches
    come from disk; the validation and test splits are datasets (``x_val``/``y_val``...,
    by default a ``Data.save`` file's own) or row ranges ``[start, stop)`` of ``x``/``y``.
    ``validation_fraction`` and ``test_fraction`` are not available (they would need the
    rows in memory)."""

    source: Literal["hdf5"] = "hdf5"
    path: Path
    x: str = "X_train"
    y: str = "y_train"
    w: str | None = None
    x_val: str | None = None
    y_val: str | None = None
    x_test: str | None = None
    y_test: str | None = None
    val_rows: tuple[NonNegativeInt, PositiveInt] | None = None
    test_rows: tuple[NonNegativeInt, PositiveInt] | None = None
    block_rows: PositiveInt | None = Field(
        default=None, description="rows of a shuffled block (default: the file's chunk)")
    buffer_rows: PositiveInt | None = Field(
        default=None, description="rows of the shuffle buffer (default: 32 MiB of features)")
    max_chunk_bytes: PositiveInt = Field(
        default=DEFAULT_LIMITS.max_chunk_bytes,
        description="bytes of one decompressed chunk of a dataset (its declared shape)")
    validation_fraction: None = None
    test_fraction: None = None


DataConfig = Annotated[
    SklearnSource | NpzSource | CsvSource | ImageFolderSource | SinSource | HDF5Source,
    Field(discriminator="source"),
]


class MlpSpec(BaseModel):
    """Arguments of ``Model.mlp``; ``hidden`` widths take the input and output widths from
    the data (features; classes, or target columns for regression)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hidden: list[PositiveInt] | None = Field(default=None, max_length=MAX_MODULES // 2 - 1)
    layer_sizes: list[PositiveInt] | None = Field(default=None, max_length=MAX_MODULES // 2)
    nonlinearity: NonlinearityKind = "relu"
    dropout: float = Field(default=0.0, ge=0, lt=1)
    normalization: Normalization | None = Field(
        default=None, description="BatchNorm1d ('batch') or LayerNorm ('layer') after each "
        "hidden layer, before its nonlinearity")
    init: Literal["he", "xavier", "normal", "uniform"] = "he"
    init_scale: float | None = Field(default=None, gt=0)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _one_of(self) -> MlpSpec:
        if (self.hidden is None) == (self.layer_sizes is None):
            raise ValueError("give exactly one of 'hidden' (widths between the data's) or "
                             "'layer_sizes' (all widths)")
        return self


class RunConfig(BaseModel):
    """A whole training run: where the data comes from, the network, the training. When
    ``train.loss`` is not given, it is ``mse`` for regression data and ``cross_entropy``
    for classification."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: FolderName
    data: DataConfig
    model: MlpSpec | Model
    train: BasicRoutinizer = Field(default_factory=BasicRoutinizer)

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | None = None) -> RunConfig:
        """Read a JSON config, apply ``a.b=value`` overrides (values parsed as JSON; a bare
        word is taken as a string) and validate the result; relative data paths resolve
        against the config file's folder."""
        path = Path(path)
        raw = read_json_object(path)
        for item in overrides or []:
            apply_override(raw, item)
        config = cls.model_validate(raw, context=SPEC_ONLY)
        return config.with_paths_from(path.resolve().parent)

    def with_paths_from(self, folder: Path) -> RunConfig:
        """This config with relative data paths made absolute against ``folder``."""
        data = self.data
        for name in ("path", "root"):
            value = getattr(data, name, None)
            if value is not None and not Path(value).is_absolute():
                setattr(data, name, (folder / value).resolve())
        return self

    def loss_for(self, task: str) -> None:
        """Give ``train.loss`` its default for ``task`` when the config did not set it."""
        if "loss" not in self.train.model_fields_set:
            self.train.loss = {"kind": "mse" if task == "regression" else "cross_entropy"}

    def build_model(self, n_features: int, n_outputs: int) -> Model:
        """The model of this config for data of ``n_features`` inputs and ``n_outputs``
        (weights drawn here, from the model's seed; a full spec's ``weight``/``bias``
        arrays, when it gives them, are used instead)."""
        spec = self.model
        if isinstance(spec, Model):  # with the arrays the spec gives, drawn otherwise
            return Model(modules=[m.model_copy(deep=True) for m in spec.modules],
                         seed=spec.seed, dtype=spec.dtype)
        sizes = spec.layer_sizes or [n_features, *spec.hidden, n_outputs]
        return Model.mlp(sizes, nonlinearity=spec.nonlinearity, dropout=spec.dropout,
                         init=spec.init, init_scale=spec.init_scale, seed=spec.seed,
                         dtype=spec.dtype, normalization=spec.normalization)


#: bytes a config or sweep file may have (a full model spec with its arrays fits)
MAX_CONFIG_BYTES = 64 << 20


def read_json_object(path: Path, kind: str = "config",
                     fields: str = '"name", "data", "model", "train"') -> dict[str, Any]:
    """The JSON object in ``path``; ``ConfigError`` naming the file for anything else (the
    messages call it a ``kind`` file whose object has ``fields``)."""
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: no such {kind} file")
    try:
        text = read_regular(path, ConfigError, MAX_CONFIG_BYTES, f"{kind} file").decode(
            "utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {kind} ({exc})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column "
                          f"{exc.colno}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: JSON nested too deeply") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object ({{{fields}}}), found "
                          f"{type(raw).__name__}")
    return raw


#: shorthand values ``--set`` accepts for fields that are objects (``train.schedule=cosine``)
_SHORTHAND_KIND = {"train.schedule", "train.loss"}


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set ``raw[a][b] = value`` for ``item == "a.b=value"``. ``value`` is JSON; a bare word
    (letters, digits, ``_.-/``, not starting with a digit or ``-``) is taken as a string,
    and anything else that is not valid JSON is an error. A path (``/abs/x.csv``,
    ``./x.csv``) is a bare word too: a path the user types is the user's choice. For
    ``train.schedule`` and ``train.loss`` a word is the ``kind``."""
    if "=" not in item or item.startswith("="):
        raise ConfigError(f"--set expects KEY.PATH=VALUE, found {item!r}")
    key, text = item.split("=", 1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if not re.fullmatch(r"[A-Za-z_./][A-Za-z0-9_.\-/]*", text):
            raise ConfigError(f"--set {key}: {text!r} is not valid JSON ({exc.msg}); quote "
                              "strings only when they contain other characters") from exc
        value = text
    if key in _SHORTHAND_KIND and isinstance(value, str):
        value = {"kind": value}
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part!r} is not an object in the config")
        node = child
    node[last] = value


def read_run_config(folder: RunFolder) -> RunConfig:
    """The ``config.json`` of a run folder (validated without drawing weights); an error
    saying what is missing when there is none (a run trained from Python has none)."""
    if not folder.config.is_file():
        raise ConfigError(
            f"{folder.path} has no {folder.config.name}, so the command cannot rebuild the "
            "run's data: the run was trained from Python (or not by mlp train). Continue it "
            f"in Python with {folder.resume_command()} (and run(model, data) on the data it "
            "was trained on), load it with mlp.load_checkpoint(...), or train it with mlp "
            "train CONFIG.json"
            if folder.path.is_dir() else f"{folder.path}: no such run folder")
    config = RunConfig.model_validate(read_json_object(folder.config), context=SPEC_ONLY)
    return config.with_paths_from(folder.path.resolve())


def load_data(config: SklearnSource | NpzSource | CsvSource | ImageFolderSource | SinSource
              | HDF5Source) -> Data:
    """Load and preprocess the data a config describes (deterministic for a given config)."""
    if isinstance(config, HDF5Source):
        data = Data.from_hdf5(config.path, config.x, config.y, config.w, x_val=config.x_val,
                              y_val=config.y_val, x_test=config.x_test, y_test=config.y_test,
                              val_rows=config.val_rows, test_rows=config.test_rows,
                              task=config.task, block_rows=config.block_rows,
                              buffer_rows=config.buffer_rows,
                              limits=ReadLimits(max_chunk_bytes=config.max_chunk_bytes))
    elif isinstance(config, SklearnSource):
        data = Data.from_sklearn(config.name, test_fraction=config.test_fraction,
                                 seed=config.split_seed)
    else:
        if isinstance(config, NpzSource):
            data = Data.from_npz(config.path, x_key=config.x_key, y_key=config.y_key,
                                 task=config.task,
                                 limits=ReadLimits(max_bytes=config.max_bytes))
        elif isinstance(config, CsvSource):
            limits = ReadLimits(max_rows=config.max_rows, max_line_chars=config.max_line_chars,
                                max_field_chars=config.max_field_chars,
                                max_label_chars=config.max_label_chars)
            data = Data.from_csv(config.path, target=config.target,
                                 delimiter=config.delimiter, task=config.task, limits=limits)
        elif isinstance(config, ImageFolderSource):
            data = Data.from_image_folder(config.root,
                                          limits=ReadLimits(max_pixels=config.max_pixels))
        else:
            data = Data.sin(n_train=config.n_train, n_val=config.n_val, noise=config.noise,
                            interval=config.interval, frequency=config.frequency,
                            seed=config.seed)
        if config.test_fraction is not None and data.X_test is None:
            data.split_test(config.test_fraction, stratify=config.stratify,
                            seed=config.split_seed)
    if config.task != "auto" and data.task != config.task:
        raise ConfigError(f"data.task is {config.task!r}, but the {config.source} source "
                          f"gives {data.task} data; leave task out (\"auto\") for this source")
    if config.validation_fraction is not None and data.X_val is None:
        data.split_validation(config.validation_fraction, stratify=config.stratify,
                              seed=config.split_seed)
    if config.augment_shift is not None:
        if data.image_shape is None:
            raise ConfigError(f"data.augment_shift needs image data; the {config.source} "
                              "source has no image shape")
        data.augment_shift(data.image_shape, pixels=config.augment_shift)
    if config.normalize is not None:
        data.normalize(config.normalize)
    return data

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
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
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
from mlp.training.field_docs import Documented
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


class Preprocessing(Documented):
    """Options shared by every data source.

    They apply in this order: test split (when the source has none), validation split,
    shift augmentation of the training split, normalisation (training statistics). ``task``
    says whether the targets are class labels or regression values. ``auto`` takes 2-D
    float targets (and a CSV column of numbers that are not all whole) as regression values
    and anything else as class labels, but refuses 1-D float targets that look continuous,
    asking for ``task``; the ``sklearn``, ``image_folder`` and ``sin`` sources have a fixed
    task, which ``task`` may only repeat.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    task: Literal["auto", "classification", "regression"] = Field(
        default="auto", description="Whether the targets are class labels or regression "
        "values; auto decides from the targets.")
    test_fraction: float | None = Field(
        default=None, gt=0, lt=1, description="Fraction of the rows held out as the test "
        "split when the source has none. None: no test split.")
    validation_fraction: float | None = Field(
        default=0.1, gt=0, lt=1, description="Fraction of the training rows held out as the "
        "validation split when the source has none. None: no validation split.")
    stratify: bool = Field(
        default=True, description="Keep the class proportions in the test and validation "
        "splits (classification).")
    split_seed: int = Field(default=0, description="Seed of the test and validation splits.")
    normalize: Literal["zscore", "minmax"] | None = Field(
        default="zscore", description="Feature scaling fitted on the training split and "
        "saved with the model: zscore (mean 0, std 1) or minmax ([0, 1]). None: raw features.")
    augment_shift: PositiveInt | None = Field(
        default=None, description="Pixels of the 4 one-step shifts (up, down, left, right) "
        "added to the training split of image data. None: no augmentation.")


class SklearnSource(Preprocessing):
    """A scikit-learn toy data set (``Data.from_sklearn``; needs the ``datasets`` extra)."""

    source: Literal["sklearn"] = Field(default="sklearn",
                                       description="The loader: a scikit-learn toy set.")
    name: Literal["digits", "iris", "wine", "breast_cancer"] = Field(
        description="Which scikit-learn data set.")
    test_fraction: float | None = Field(
        default=0.25, gt=0, lt=1, description="Fraction of the rows held out (stratified) as "
        "the test split.")


class NpzSource(Preprocessing):
    """Arrays of an ``.npz`` file (``Data.from_npz``), read without pickle."""

    source: Literal["npz"] = Field(default="npz", description="The loader: a NumPy .npz file.")
    path: Path = Field(description="The .npz file (relative to the config file's folder).")
    x_key: str = Field(default="X", description="Name of the features array (N, D).")
    y_key: str = Field(default="y", description="Name of the targets array.")
    max_bytes: PositiveInt = Field(default=DEFAULT_LIMITS.max_bytes, le=MAX_LIMIT,
                                   description="Array bytes the archive may declare.")


class CsvSource(Preprocessing):
    """Numeric feature columns and one target column of a CSV file (``Data.from_csv``)."""

    source: Literal["csv"] = Field(default="csv", description="The loader: a CSV file.")
    path: Path = Field(description="The CSV file (relative to the config file's folder).")
    target: int | str = Field(
        default=-1, description="The target column: its index (negative counts from the "
        "end) or its header name.")
    max_rows: PositiveInt = Field(default=DEFAULT_LIMITS.max_rows, le=MAX_LIMIT,
                                  description="Rows the file may have (a header counts).")
    max_line_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_line_chars, le=MAX_LIMIT,
                                        description="Characters one line may have.")
    max_field_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_field_chars, le=MAX_LIMIT,
                                         description="Characters one field may have.")
    max_label_chars: PositiveInt = Field(default=DEFAULT_LIMITS.max_label_chars, le=MAX_LIMIT,
                                         description="Characters one class label may have.")
    delimiter: str = Field(default=",", min_length=1, max_length=1,
                           description="The one character between fields.")


class ImageFolderSource(Preprocessing):
    """Grey-scale images ``root/<label>/*.bmp|png|jpg`` (``Data.from_image_folder``)."""

    source: Literal["image_folder"] = Field(
        default="image_folder", description="The loader: a folder of image folders, one per "
        "class.")
    root: Path = Field(description="The folder holding one sub-folder of images per class "
                       "(relative to the config file's folder).")
    normalize: Literal["zscore", "minmax"] | None = Field(
        default=None, description="Feature scaling fitted on the training split: zscore or "
        "minmax. None: the pixels as read, in [0, 1].")
    max_pixels: PositiveInt = Field(default=DEFAULT_LIMITS.max_pixels, le=MAX_LIMIT,
                                    description="Pixels the first image may declare.")


class SinSource(Preprocessing):
    """The toy regression ``y = sin(frequency x)`` (``Data.sin``)."""

    source: Literal["sin"] = Field(default="sin",
                                   description="The loader: the sine toy regression.")
    n_train: PositiveInt = Field(
        default=64, description="Training points, sorted uniform draws of x in interval.")
    n_val: PositiveInt = Field(
        default=256, description="Validation points, a noiseless grid spanning interval.")
    noise: float = Field(default=0.0, ge=0, description="Standard deviation of the Gaussian "
                         "noise added to the training targets.")
    interval: tuple[float, float] = Field(default=(0.0, 1.0),
                                          description="The range [a, b] of x.")
    frequency: float = Field(default=6.283185307179586,
                             description="The angular frequency (2 pi: one period on [0, 1]).")
    seed: int = Field(default=0, description="Seed of the training draws and their noise.")
    validation_fraction: float | None = Field(
        default=None, gt=0, lt=1, description="Unused by this source, which has its own "
        "validation grid (n_val).")
    normalize: Literal["zscore", "minmax"] | None = Field(
        default=None, description="Feature scaling fitted on the training split: zscore or "
        "minmax. None: x as drawn.")


class HDF5Source(Preprocessing):
    """Datasets of an HDF5 data file read in place (``Data.from_hdf5``).

    Training batches come from disk; the validation and test splits are datasets
    (``x_val``/``y_val``..., by default a ``Data.save`` file's own) or row ranges
    ``[start, stop)`` of ``x``/``y``. ``validation_fraction`` and ``test_fraction`` are not
    available (they would need the rows in memory).
    """

    source: Literal["hdf5"] = Field(default="hdf5",
                                    description="The loader: an HDF5 file read in place.")
    path: Path = Field(description="The HDF5 file (relative to the config file's folder).")
    x: str = Field(default="X_train", description="Dataset of the training features (N, D).")
    y: str = Field(default="y_train", description="Dataset of the training targets.")
    w: str | None = Field(default=None,
                          description="Dataset of per-row sample weights (N,). None: none.")
    x_val: str | None = Field(default=None, description="Dataset of the validation "
                              "features (default: the file's X_val, if any).")
    y_val: str | None = Field(default=None, description="Dataset of the validation "
                              "targets (default: the file's y_val, if any).")
    x_test: str | None = Field(default=None, description="Dataset of the test features "
                               "(default: the file's X_test, if any).")
    y_test: str | None = Field(default=None, description="Dataset of the test targets "
                               "(default: the file's y_test, if any).")
    val_rows: tuple[NonNegativeInt, PositiveInt] | None = Field(
        default=None, description="Rows [start, stop) of x and y taken as the validation "
        "split and left out of training.")
    test_rows: tuple[NonNegativeInt, PositiveInt] | None = Field(
        default=None, description="Rows [start, stop) of x and y taken as the test split and "
        "left out of training.")
    block_rows: PositiveInt | None = Field(
        default=None, description="Rows of a shuffled block (default: the file's chunk).")
    buffer_rows: PositiveInt | None = Field(
        default=None, description="Rows of the shuffle buffer (default: 32 MiB of features).")
    max_chunk_bytes: PositiveInt = Field(
        default=DEFAULT_LIMITS.max_chunk_bytes,
        description="Bytes of one decompressed chunk of a dataset (its declared shape).")
    validation_fraction: None = Field(
        default=None, description="Not available for this source: give x_val/y_val or "
        "val_rows.")
    test_fraction: None = Field(
        default=None, description="Not available for this source: give x_test/y_test or "
        "test_rows.")


DataConfig = Annotated[
    SklearnSource | NpzSource | CsvSource | ImageFolderSource | SinSource | HDF5Source,
    Field(discriminator="source"),
]


class MlpSpec(Documented):
    """Arguments of ``Model.mlp``.

    ``hidden`` widths take the input and output widths from the data (features; classes, or
    target columns for regression); ``layer_sizes`` gives all widths. Exactly one of the two.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hidden: list[PositiveInt] | None = Field(
        default=None, max_length=MAX_MODULES // 2 - 1, description="Widths of the hidden "
        "layers; the input and output widths come from the data.")
    layer_sizes: list[PositiveInt] | None = Field(
        default=None, max_length=MAX_MODULES // 2, description="Every width, input to "
        "output (instead of hidden).")
    nonlinearity: NonlinearityKind = Field(
        default="relu", description="The activation after each hidden layer.")
    dropout: float = Field(
        default=0.0, ge=0, lt=1, description="Dropout probability after each hidden "
        "activation (0: no dropout layers).")
    normalization: Normalization | None = Field(
        default=None, description="BatchNorm1d ('batch') or LayerNorm ('layer') after each "
        "hidden layer, before its nonlinearity. None: no normalisation layers.")
    init: Literal["he", "xavier", "normal", "uniform"] = Field(
        default="he", description="How the layers' weights are drawn (see Layer).")
    init_scale: float | None = Field(
        default=None, gt=0, description="The standard deviation for normal; a gain for he, "
        "xavier and uniform. None: the initialiser's own.")
    seed: int = Field(default=0, description="Seed of the weights' initialisation.")
    dtype: Literal["float32", "float64"] = Field(
        default="float32", description="Floating type of the weights and computations.")

    @model_validator(mode="after")
    def _one_of(self) -> MlpSpec:
        if (self.hidden is None) == (self.layer_sizes is None):
            raise ValueError("give exactly one of 'hidden' (widths between the data's) or "
                             "'layer_sizes' (all widths)")
        return self


class RunConfig(Documented):
    """A whole training run: where the data comes from, the network, the training.

    When ``train.loss`` is not given, it is ``mse`` for regression data and
    ``cross_entropy`` for classification. ``mlp schema`` prints this model's JSON Schema.

    Examples
    --------
    >>> from mlp.training.run_config import RunConfig
    >>> config = RunConfig.model_validate({
    ...     "name": "digits", "data": {"source": "sklearn", "name": "digits"},
    ...     "model": {"hidden": [64]}, "train": {"epochs": 5}})
    >>> config.data.test_fraction, config.train.epochs
    (0.25, 5)
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: FolderName = Field(description="The run's name: its folder under the checkpoint "
                             "root (letters, digits, '_', '.', '-').")
    data: DataConfig = Field(description="Where the data comes from, chosen by source, and "
                             "how it is split and scaled.")
    model: MlpSpec | Model = Field(description="The network: Model.mlp's arguments (hidden or "
                                   "layer_sizes), or a full Model spec (modules).")
    train: BasicRoutinizer = Field(default_factory=BasicRoutinizer,
                                   description="The training hyperparameters.")

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | None = None) -> RunConfig:
        """Read a JSON config, apply overrides and validate the result.

        Relative data paths resolve against the config file's folder; a full ``Model``
        spec is validated without drawing weights.

        Parameters
        ----------
        path : str or Path
            The config file (a JSON object).
        overrides : list of str, optional
            ``a.b=value`` items, as ``--set`` takes them (see ``apply_override``).

        Returns
        -------
        RunConfig

        Raises
        ------
        ConfigError
            The file cannot be read as a JSON object, or an override is malformed.
        pydantic.ValidationError
            A value the config cannot take.

        Examples
        --------
        >>> config = RunConfig.from_file("digits.json", ["train.lr=0.01"])  # doctest: +SKIP
        """
        path = Path(path)
        raw = read_json_object(path)
        for item in overrides or []:
            apply_override(raw, item)
        config = cls.model_validate(raw, context=SPEC_ONLY)
        return config.with_paths_from(path.resolve().parent)

    def with_paths_from(self, folder: Path) -> RunConfig:
        """Make relative data paths absolute, in place.

        Parameters
        ----------
        folder : Path
            The folder they are relative to.

        Returns
        -------
        RunConfig
            ``self``.
        """
        data = self.data
        for name in ("path", "root"):
            value = getattr(data, name, None)
            if value is not None and not Path(value).is_absolute():
                setattr(data, name, (folder / value).resolve())
        return self

    def loss_for(self, task: str) -> None:
        """Give ``train.loss`` its default for ``task`` when the config did not set it.

        Parameters
        ----------
        task : str
            ``"regression"`` (``mse``) or ``"classification"`` (``cross_entropy``).
        """
        if "loss" not in self.train.model_fields_set:
            # assignment is validated: the registered loss is built from its JSON
            self.train.loss = cast(Any, {"kind": "mse" if task == "regression"
                                         else "cross_entropy"})

    def build_model(self, n_features: int, n_outputs: int) -> Model:
        """The model of this config for the data's widths.

        Weights are drawn here, from the model's seed; a full spec's ``weight``/``bias``
        arrays, when it gives them, are used instead.

        Parameters
        ----------
        n_features : int
            Input width (the data's features).
        n_outputs : int
            Output width (classes, or regression target columns).

        Returns
        -------
        Model
        """
        spec = self.model
        if isinstance(spec, Model):  # with the arrays the spec gives, drawn otherwise
            return Model(modules=[m.model_copy(deep=True) for m in spec.modules],
                         seed=spec.seed, dtype=spec.dtype)
        # without layer_sizes, hidden is given (MlpSpec takes exactly one of them)
        sizes = spec.layer_sizes or [n_features, *cast(list[int], spec.hidden), n_outputs]
        return Model.mlp(sizes, nonlinearity=spec.nonlinearity, dropout=spec.dropout,
                         init=spec.init, init_scale=spec.init_scale, seed=spec.seed,
                         dtype=spec.dtype, normalization=spec.normalization)


#: bytes a config or sweep file may have (a full model spec with its arrays fits)
MAX_CONFIG_BYTES = 64 << 20


def read_json_object(path: Path, kind: str = "config",
                     fields: str = '"name", "data", "model", "train"') -> dict[str, Any]:
    """The JSON object in a file, read under a size limit (``MAX_CONFIG_BYTES``).

    Parameters
    ----------
    path : Path
        The file.
    kind : str, default "config"
        What the messages call the file (``"sweep"``...).
    fields : str
        The fields the messages say the object has.

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        Naming the file: missing, unreadable, not JSON, or not an object.
    """
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
    """Set ``raw[a][b] = value`` for ``item == "a.b=value"``, in place.

    ``value`` is JSON; a bare word (letters, digits, ``_.-/``, not starting with a digit or
    ``-``) is taken as a string, and anything else that is not valid JSON is an error. A
    path (``/abs/x.csv``, ``./x.csv``) is a bare word too: a path the user types is the
    user's choice. For ``train.schedule`` and ``train.loss`` a word is the ``kind``.

    Parameters
    ----------
    raw : dict
        A config as read from JSON; missing objects on the way are created.
    item : str
        ``KEY.PATH=VALUE``.

    Raises
    ------
    ConfigError
        A malformed item, a value that is not JSON nor a bare word, or a key through
        something that is not an object.

    Examples
    --------
    >>> raw = {"train": {"lr": 0.1}}
    >>> apply_override(raw, "train.lr=0.01")
    >>> apply_override(raw, "train.schedule=cosine")
    >>> raw
    {'train': {'lr': 0.01, 'schedule': {'kind': 'cosine'}}}
    """
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
    """The ``config.json`` of a run folder, validated without drawing weights.

    Parameters
    ----------
    folder : RunFolder
        The run folder.

    Returns
    -------
    RunConfig
        Its data paths absolute.

    Raises
    ------
    ConfigError
        There is no such folder or no ``config.json`` (a run trained from Python has none),
        saying how to continue such a run.
    """
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
    """Load and preprocess the data a config describes (deterministic for a given config).

    Parameters
    ----------
    config : SklearnSource, NpzSource, CsvSource, ImageFolderSource, SinSource or HDF5Source
        The run config's ``data``.

    Returns
    -------
    Data
        Split, augmented and normalised as the config says.

    Raises
    ------
    ConfigError
        ``task`` disagrees with the source, or ``augment_shift`` without image data.
    DataError
        The data cannot be read or are not valid.
    """
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

"""The run config: ``{"name", "data", "model", "train"}``, validated by Pydantic.

``data`` is a discriminated union on ``source`` (``sklearn``, ``npz``, ``csv``,
``image_folder``, ``sin``) with the preprocessing options every source shares; ``model`` is
either the ``Model.mlp`` builder's arguments (``hidden`` widths, with the input and output
widths taken from the data, or explicit ``layer_sizes``) or a full ``Model`` spec
(``modules``); ``train`` is a ``BasicRoutinizer``. ``mlp schema`` prints the JSON Schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from mlp.model import Model, NonlinearityKind
from mlp.routinizer import BasicRoutinizer


class Preprocessing(BaseModel):
    """Options shared by every data source, applied in this order: test split (when the
    source has none), validation split, shift augmentation of the training split,
    normalisation (training statistics)."""

    model_config = ConfigDict(extra="forbid")

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


class CsvSource(Preprocessing):
    source: Literal["csv"] = "csv"
    path: Path
    target: int | str = -1
    delimiter: str = ","
    task: Literal["auto", "classification", "regression"] = "auto"


class ImageFolderSource(Preprocessing):
    source: Literal["image_folder"] = "image_folder"
    root: Path
    normalize: Literal["zscore", "minmax"] | None = None


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


DataConfig = Annotated[
    SklearnSource | NpzSource | CsvSource | ImageFolderSource | SinSource,
    Field(discriminator="source"),
]


class MlpSpec(BaseModel):
    """Arguments of ``Model.mlp``; ``hidden`` widths take the input and output widths from
    the data (features; classes, or target columns for regression)."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[PositiveInt] | None = None
    layer_sizes: list[PositiveInt] | None = None
    nonlinearity: NonlinearityKind = "relu"
    dropout: float = Field(default=0.0, ge=0, lt=1)
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
    """A whole training run: where the data comes from, the network, the training."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    data: DataConfig
    model: MlpSpec | Model
    train: BasicRoutinizer = Field(default_factory=BasicRoutinizer)

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | None = None) -> RunConfig:
        """Read a JSON config, apply ``a.b=value`` overrides (values parsed as JSON when
        they are JSON, else taken as strings) and validate the result."""
        raw = json.loads(Path(path).read_text())
        for item in overrides or []:
            apply_override(raw, item)
        return cls.model_validate(raw)

    def build_model(self, n_features: int, n_outputs: int) -> Model:
        """The model of this config for data of ``n_features`` inputs and ``n_outputs``."""
        spec = self.model
        if isinstance(spec, Model):
            return spec
        sizes = spec.layer_sizes or [n_features, *spec.hidden, n_outputs]
        return Model.mlp(sizes, nonlinearity=spec.nonlinearity, dropout=spec.dropout,
                         init=spec.init, init_scale=spec.init_scale, seed=spec.seed,
                         dtype=spec.dtype)


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set ``raw[a][b] = value`` for ``item == "a.b=value"``."""
    if "=" not in item:
        raise ValueError(f"--set expects KEY.PATH=VALUE, found {item!r}")
    key, text = item.split("=", 1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ValueError(f"--set {key}: {part!r} is not an object in the config")
        node = child
    node[last] = value


def load_data(config: SklearnSource | NpzSource | CsvSource | ImageFolderSource | SinSource):
    """Load and preprocess the data a config describes (deterministic for a given config).

    Returns a ``preprocess.Data``.
    """
    from preprocess import Data

    if isinstance(config, SklearnSource):
        data = Data.from_sklearn(config.name, test_fraction=config.test_fraction,
                                 seed=config.split_seed)
    else:
        if isinstance(config, NpzSource):
            data = Data.from_npz(config.path, x_key=config.x_key, y_key=config.y_key)
        elif isinstance(config, CsvSource):
            data = Data.from_csv(config.path, target=config.target,
                                 delimiter=config.delimiter, task=config.task)
        elif isinstance(config, ImageFolderSource):
            data = Data.from_image_folder(config.root)
        else:
            data = Data.sin(n_train=config.n_train, n_val=config.n_val, noise=config.noise,
                            interval=config.interval, frequency=config.frequency,
                            seed=config.seed)
        if config.test_fraction is not None and data.X_test is None:
            data.split_test(config.test_fraction, stratify=config.stratify,
                            seed=config.split_seed)
    if config.validation_fraction is not None and data.X_val is None:
        data.split_validation(config.validation_fraction, stratify=config.stratify,
                              seed=config.split_seed)
    if config.augment_shift is not None:
        if data.image_shape is None:
            raise ValueError(f"augment_shift needs image data; the {config.source} source "
                             "has no image shape")
        data.augment_shift(data.image_shape, pixels=config.augment_shift)
    if config.normalize is not None:
        data.normalize(config.normalize)
    return data

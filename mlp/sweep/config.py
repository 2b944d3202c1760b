"""The sweep file: which run config to vary, how, and what to compare, validated by Pydantic.

A sweep is ``{"name", "base", "space", "search", "repeats", "metric", "direction",
"pruning"}``. ``base`` is a run config (inline, or the path of one, relative to the sweep
file); ``space`` maps dotted keys of the run config (``"train.lr"``, ``"model.hidden"``) to a
distribution: ``{"choice": [...]}``, ``{"uniform": [a, b]}``, ``{"log_uniform": [a, b]}``
or ``{"int": [a, b]}`` (both ends included). ``search`` is ``grid`` (every combination of
choices and integers), ``random`` or ``tpe``. Each configuration runs under ``repeats``
seeds (``train.seed`` and ``model.seed`` plus 0, 1, ...), and its value is the mean of the
metric over them. ``SweepConfig.model_json_schema()`` is the JSON Schema
(``mlp sweep --schema``).

``trial_curves: true`` draws each trial run folder's training curves; they are off by default,
since a picture can cost more than a small trial's training (the sweep's report is drawn
either way).

``check_space`` builds the run config at both ends of every range and at every choice, so a
value a field cannot take is refused before any trial starts.

An example (unknown fields are errors):

    {"name": "iris-tpe",
     "base": "../configs/iris.json",
     "space": {"model.hidden": {"choice": [[20], [50], [20, 20]]},
               "model.nonlinearity": {"choice": ["relu", "tanh"]},
               "train.lr": {"log_uniform": [0.0003, 0.03]},
               "train.batch_size": {"int": [4, 32]}},
     "search": {"kind": "tpe", "trials": 30, "seed": 0},
     "repeats": 2, "metric": "val_loss", "direction": "minimize",
     "pruning": {"kind": "median", "startup_trials": 3, "warmup_epochs": 5},
     "trial_curves": false}

- ``search``: ``grid`` is Optuna's ``GridSampler``; ``random`` and ``tpe`` run ``trials`` of
  them. The sampler is seeded from ``seed`` and the trial's number, so random points are the
  same whichever worker or machine draws them.
- ``metric``: ``val_loss``, ``val_accuracy``, ``train_loss``, ``train_accuracy`` (each run's
  value at its best epoch), ``test_loss`` or ``test_accuracy`` (the test split scored once, on
  ``best.h5``). ``direction`` defaults to maximising accuracies and minimising losses. The table
  shows mean ± sd over the repeats.
- ``pruning`` (optional): Optuna's median rule on the per-epoch metric. A pruned sweep runs each
  trial one epoch at a time (``epochs`` raised by one, ``run`` called again, the same arithmetic
  as one long run); a cosine schedule, whose learning rate depends on the total epochs, is
  refused with pruning.
- Refused before any trial, in one line with exit status 2: an unknown key, a value a field
  cannot take at either end of a range or at any choice (a negative learning rate, a string for
  an integer), an empty grid, a metric whose split the data lacks, a storage that cannot be
  reached. A sweep file whose space, base run, search, repeats or metric changed since the study
  began is refused, naming the difference (``space.train.lr.choice: was [0.03], now [0.01]``):
  give it a new name instead. Limits: a ``choice`` of at most 1000 values, a grid of at most
  100,000 points, ``int`` ends within ±2^62, a sweep file of at most 64 MiB.

What a sweep writes, in ``ckpt/<name>/``: ``study.journal`` (the Optuna study; none with
``--storage``), ``trial-NNNN/`` run folders (``trial-NNNN/repeat-K/`` with repeats), each with
its ``config.json``, ``last.h5`` and ``best.h5`` (and ``curves.png`` with ``trial_curves``), so
``mlp evaluate``, ``resume``, ``inspect`` and ``predict`` work on any trial; and the report of
``mlp.sweep.report``. A progress bar counts trials and shows the best value so far; the trials'
own bars are off. ``mlp sweep SWEEP.json --trials 40`` runs (or extends the sweep to) 40
configurations; ``--report`` rebuilds the report from the study alone.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import optuna
from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    Tag,
    ValidationError,
    model_validator,
)

from mlp.training.field_docs import Documented
from mlp.training.run_config import (
    SPEC_ONLY,
    FolderName,
    RunConfig,
    apply_override,
    read_json_object,
)

METRICS = ("val_loss", "val_accuracy", "train_loss", "train_accuracy", "test_loss",
           "test_accuracy")
Metric = Literal["val_loss", "val_accuracy", "train_loss", "train_accuracy", "test_loss",
                 "test_accuracy"]
SCALAR_TYPES = (bool, int, float, str, type(None))
#: values a choice may list (each is checked against the run config when the sweep starts)
MAX_CHOICES = 1000
#: points a grid search may have (Optuna's grid sampler lists them all)
MAX_GRID = 100_000
#: the largest end of an int range (Optuna's integers are 64-bit)
MAX_INT = 1 << 62


class Choice(Documented):
    """One of the listed values (any JSON: numbers, strings, lists such as hidden widths)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    choice: list[Any] = Field(min_length=1, max_length=MAX_CHOICES,
                              description="The values to choose from (at least one).")

    @property
    def encoded(self) -> bool:
        """Whether the values go to Optuna as JSON text (it only stores scalars)."""
        return not all(isinstance(v, SCALAR_TYPES) for v in self.choice)

    def ends(self) -> list[Any]:
        """The values ``check_space`` tries: every choice."""
        return list(self.choice)


class Uniform(Documented):
    """A float drawn uniformly from ``[a, b]``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    uniform: tuple[float, float] = Field(description="The range [a, b], a < b.")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.uniform[0] < self.uniform[1]:
            raise ValueError(f"uniform needs a < b, found {list(self.uniform)}")
        return self

    def ends(self) -> list[Any]:
        """The values ``check_space`` tries: both ends."""
        return list(self.uniform)


class LogUniform(Documented):
    """A float whose logarithm is uniform on ``[log a, log b]`` (``0 < a < b``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    log_uniform: tuple[float, float] = Field(description="The range [a, b], 0 < a < b.")

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        low, high = self.log_uniform
        if not 0 < low < high:
            raise ValueError(f"log_uniform needs 0 < a < b, found {[low, high]}")
        return self

    def ends(self) -> list[Any]:
        """The values ``check_space`` tries: both ends."""
        return list(self.log_uniform)


class IntRange(Documented):
    """An integer in ``[a, b]``, both ends included."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    int: tuple[builtins.int, builtins.int] = Field(
        description="The range [a, b], a <= b, both ends included.")

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if not self.int[0] <= self.int[1]:
            raise ValueError(f"int needs a <= b, found {list(self.int)}")
        if max(abs(v) for v in self.int) > MAX_INT:
            raise ValueError(f"int needs ends from -{MAX_INT} to {MAX_INT}, found "
                             f"{list(self.int)}")
        return self

    def ends(self) -> list[Any]:
        """The values ``check_space`` tries: both ends."""
        return list(self.int)

    def __len__(self) -> builtins.int:
        return self.int[1] - self.int[0] + 1


_KINDS: dict[str, type[Choice] | type[Uniform] | type[LogUniform] | type[IntRange]] = {
    "choice": Choice, "uniform": Uniform, "log_uniform": LogUniform, "int": IntRange}


def _kind(value: Any) -> str | None:
    """The distribution's one key (``choice``, ``uniform``, ...), so errors name one kind."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return next((k for k, cls in _KINDS.items() if isinstance(value, cls)), None)


Distribution = Annotated[
    Annotated[Choice, Tag("choice")] | Annotated[Uniform, Tag("uniform")]
    | Annotated[LogUniform, Tag("log_uniform")] | Annotated[IntRange, Tag("int")],
    Discriminator(_kind, custom_error_type="distribution",
                  custom_error_message="expected one of {\"choice\": [...]}, {\"uniform\": "
                                       "[a, b]}, {\"log_uniform\": [a, b]}, {\"int\": [a, b]}"),
]


class Search(Documented):
    """How configurations are picked: ``grid`` (all), ``random`` or ``tpe`` (``trials`` of
    them, reproducible from ``seed`` with one worker)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["grid", "random", "tpe"] = Field(
        default="grid", description="grid: every combination of choices and integers; "
        "random: independent draws; tpe: Optuna's TPE sampler.")
    trials: PositiveInt | None = Field(
        default=None, description="Configurations to run (needed by random and tpe; at most "
        "the grid's size for grid). None: the whole grid.")
    seed: int = Field(default=0, description="Seed of the sampler.")


class MedianPruning(Documented):
    """Stop a trial whose per-epoch metric is worse than the median of earlier trials at the
    same epoch (Optuna's ``MedianPruner``), after ``startup_trials`` finished trials and
    ``warmup_epochs`` epochs of the trial."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["median"] = Field(default="median",
                                    description="The pruner: Optuna's median pruner.")
    startup_trials: NonNegativeInt = Field(
        default=3, description="Finished trials before any trial is pruned.")
    warmup_epochs: NonNegativeInt = Field(
        default=1, description="Epochs of a trial before it may be pruned.")


class SweepConfig(Documented):
    """A whole sweep: the base run, the space searched, and the comparison made.

    ``mlp sweep --schema`` prints this model's JSON Schema.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: FolderName = Field(description="The sweep's name: its folder under the checkpoint "
                             "root and the Optuna study's name.")
    base: RunConfig | str = Field(description="A run config, or the path of one (relative to "
                                              "the sweep file).")
    space: dict[str, Distribution] = Field(
        default_factory=dict, description="Dotted run-config keys (train.lr, model.hidden) "
        "mapped to a distribution: {\"choice\": [...]}, {\"uniform\": [a, b]}, "
        "{\"log_uniform\": [a, b]} or {\"int\": [a, b]}.")
    search: Search = Field(default_factory=Search,
                           description="How configurations are picked.")
    repeats: PositiveInt = Field(
        default=1, description="Seeds each configuration runs under (train.seed and "
        "model.seed plus 0, 1, ...); its value is the metric's mean over them.")
    metric: Metric = Field(default="val_loss", description="What the sweep compares: "
                           "val_, train_ or test_ loss or accuracy.")
    direction: Literal["minimize", "maximize"] | None = Field(
        default=None, description="Whether a lower or higher metric is better. None: "
        "maximize accuracies, minimize losses.")
    pruning: MedianPruning | None = Field(
        default=None, description="Stop unpromising trials early. None: no pruning.")
    trial_curves: bool = Field(
        default=False, description="Draw the training curves into each trial's run folder "
        "(the report's picture of every run is drawn either way).")
    #: the file ``base`` was read from (None when the sweep file holds it)
    _base_path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _search_fits_space(self) -> SweepConfig:
        if self.search.kind == "grid":
            if not self.space:
                raise ValueError("the grid is empty: 'space' has no keys")
            for key, dist in self.space.items():
                if isinstance(dist, Uniform | LogUniform):
                    raise ValueError(f"a grid takes only choice and int distributions; "
                                     f"space[{key!r}] is {dist.model_dump_json()}")
            if self.grid_size() > MAX_GRID:
                sizes = ", ".join(f"{key}: {_count(dist)}" for key, dist in self.space.items())
                raise ValueError(f"the grid has {self.grid_size()} points ({sizes}), more than "
                                 f"the {MAX_GRID} a grid sweep may have; use a random or tpe "
                                 "search with 'trials'")
        elif self.search.trials is None:
            raise ValueError(f"search kind {self.search.kind!r} needs 'trials'")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> SweepConfig:
        """Read and validate a sweep file.

        A ``base`` given as a path is read (relative to the sweep file's folder) and
        validated as a run config; a full model spec is validated without drawing weights.

        Parameters
        ----------
        path : str or Path
            The sweep file (a JSON object).

        Returns
        -------
        SweepConfig

        Raises
        ------
        ConfigError
            The file (or the base's) cannot be read as a JSON object.
        pydantic.ValidationError
            A value the sweep (or the base run config) cannot take.
        """
        path = Path(path)
        config = cls.model_validate(read_json_object(path, "sweep", '"name", "base", "space"'),
                                    context=SPEC_ONLY)  # no weights drawn for a full spec
        if isinstance(config.base, str):
            base_path = Path(config.base)
            if not base_path.is_absolute():
                base_path = path.parent / base_path
            config.base = RunConfig.from_file(base_path)
            config._base_path = base_path
        return config

    @property
    def base_path(self) -> Path | None:
        """The file the base run config was read from (None when it is inline)."""
        return self._base_path

    @property
    def run_config(self) -> RunConfig:
        """The base run config (``ValueError`` while ``base`` is still a path)."""
        if not isinstance(self.base, RunConfig):
            raise ValueError("the sweep's base is still a path; read it with "
                             "SweepConfig.from_file")
        return self.base

    @property
    def goal(self) -> Literal["minimize", "maximize"]:
        """``direction``, or by default: maximize accuracies, minimize losses."""
        if self.direction is not None:
            return self.direction
        return "maximize" if self.metric.endswith("accuracy") else "minimize"

    @property
    def epoch_metric(self) -> str:
        """The History column followed epoch by epoch (a test metric follows its validation
        counterpart; the test split is scored once, on the best weights)."""
        return "val_" + self.metric[5:] if self.metric.startswith("test_") else self.metric

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every key as Optuna stores it (``GridSampler``'s search space)."""
        return {key: _values(dist) for key, dist in self.space.items()}

    def grid_size(self) -> int:
        """The number of points of the grid, counted without listing them."""
        return math.prod(_count(dist) for dist in self.space.values())

    def n_trials(self, override: int | None = None) -> int:
        """How many configurations the sweep runs.

        Parameters
        ----------
        override : int, optional
            ``--trials``; else ``search.trials``.

        Returns
        -------
        int
            At most the grid's size for a grid (the whole grid when neither is given).
        """
        wanted = override or self.search.trials
        if self.search.kind == "grid":
            return min(wanted or self.grid_size(), self.grid_size())
        return int(cast(int, wanted))  # a random or tpe search has trials (validated)

    def fingerprint(self) -> dict[str, Any]:
        """What must not change between runs of one sweep (stored with the study)."""
        return {"space": {k: v.model_dump(mode="json") for k, v in self.space.items()},
                "base": _base_raw(self.run_config),
                "search": {"kind": self.search.kind, "seed": self.search.seed},
                "repeats": self.repeats, "metric": self.metric, "direction": self.goal,
                "pruning": None if self.pruning is None else self.pruning.model_dump()}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's parameters, drawn from ``space``.

        Parameters
        ----------
        trial : optuna.Trial
            The trial that suggests the values.

        Returns
        -------
        dict
            Dotted key -> value (decoded: a JSON-text choice becomes its value again).
        """
        params: dict[str, Any] = {}
        for key, dist in self.space.items():
            if isinstance(dist, Choice):
                options = _values(dist)
                value = trial.suggest_categorical(key, options)
                params[key] = json.loads(value) if dist.encoded else value
            elif isinstance(dist, Uniform):
                params[key] = trial.suggest_float(key, *dist.uniform)
            elif isinstance(dist, LogUniform):
                params[key] = trial.suggest_float(key, *dist.log_uniform, log=True)
            else:
                params[key] = trial.suggest_int(key, *dist.int)
        return params

    def trial_config(self, params: dict[str, Any], repeat: int, folder: Path,
                     number: int) -> RunConfig:
        """The run config of one repeat of one trial.

        ``base`` with ``params`` set, seeds shifted by ``repeat``, checkpoints in
        ``folder``, the progress bar off; without a ``train.loss`` in the base or the
        params, the loss is left for the trial's data to choose (``RunConfig.loss_for``),
        as ``mlp train`` does.

        Parameters
        ----------
        params : dict
            Dotted key -> value.
        repeat : int
            The repeat, from 0: added to ``train.seed`` and ``model.seed``.
        folder : Path
            The trial's run folder.
        number : int
            The trial's number, in the run's name.

        Returns
        -------
        RunConfig
        """
        raw = _base_raw(self.run_config)
        if "loss" not in self.run_config.train.model_fields_set:
            del raw["train"]["loss"]  # chosen for the data, as mlp train does (loss_for)
        for key, value in params.items():
            apply_override(raw, f"{key}={json.dumps(value)}")
        if repeat:
            for section in ("train", "model"):
                raw[section]["seed"] = raw[section].get("seed", 0) + repeat
        raw["name"] = f"{self.name}.trial-{number:04d}" + (f".r{repeat}" if repeat else "")
        raw["train"].update(checkpoint_dir=str(folder), progress=False, dynamic_show=False)
        return RunConfig.model_validate(raw)

    def check_space(self) -> None:
        """Build the run config at both ends of every range and at every choice.

        The other keys are at their first value, so a value a field cannot take is refused
        before any trial starts.

        Raises
        ------
        ValueError
            Naming the first key and value a field cannot take, or an unknown key, or
            arrays in the base's model (a trial's config is the base's JSON, which holds
            none), or pruning with a cosine schedule.
        """
        modules = getattr(self.run_config.model, "modules", [])
        given = [f"model.modules[{i}].{name}" for i, module in enumerate(modules)
                 for name in (*module.parameter_shapes(), *module.buffer_shapes())
                 if getattr(module, name, None) is not None]
        if given:
            raise ValueError(f"base: a sweep's trials are built from the base's JSON, which "
                             f"holds no arrays, and {', '.join(given[:3])} would be dropped; "
                             "leave the arrays out of the base")
        first = {key: dist.ends()[0] for key, dist in self.space.items()}
        for key, dist in self.space.items():
            for value in dist.ends():
                params = {**first, key: value}
                try:
                    config = self.trial_config(params, 0, Path("."), 0)
                except ValidationError as exc:
                    raise ValueError(_explain(key, value, dist, exc)) from None
                except ValueError as exc:
                    raise ValueError(f"space[{key!r}]: {exc}") from None
                if self.pruning is not None and config.train.schedule.kind == "cosine":
                    raise ValueError("pruning runs each trial one epoch at a time, which a "
                                     "cosine schedule (its lr depends on the total epochs) "
                                     "does not allow; drop 'pruning' or the cosine schedule")


def _count(dist: Distribution) -> int:
    """How many values a choice or an int range has (``len`` without listing them)."""
    # only grids count their points, and a grid has only choices and int ranges (validated)
    return len(dist.choice) if isinstance(dist, Choice) else len(cast(IntRange, dist))


def _values(dist: Distribution) -> list[Any]:
    if isinstance(dist, Choice):
        return [json.dumps(v) for v in dist.choice] if dist.encoded else list(dist.choice)
    if isinstance(dist, IntRange):
        return list(range(dist.int[0], dist.int[1] + 1))
    raise ValueError(f"{dist.model_dump_json()} has no finite list of values")


def _base_raw(base: RunConfig) -> dict[str, Any]:
    return copy.deepcopy(base.model_dump(mode="json"))


def _explain(key: str, value: Any, dist: Distribution, exc: ValidationError) -> str:
    error = exc.errors()[0]
    # union members appear in the location as class names; the user's key has none
    where = ".".join(str(p) for p in error["loc"]
                     if not any(c in str(p) for c in "[(") and not str(p)[:1].isupper())
    if error["type"] == "extra_forbidden":
        return f"space: unknown key {key!r} (the run config has no field {where!r})"
    return (f"space[{key!r}] = {dist.model_dump_json()}: the value {json.dumps(value)} is "
            f"not valid for {where or key}: {error['msg']}")


def describe_changes(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> list[str]:
    """Differences between two sweep fingerprints, one line each.

    Parameters
    ----------
    old, new : dict
        Fingerprints (``SweepConfig.fingerprint``).
    limit : int, default 4
        The most lines returned.

    Returns
    -------
    list of str
        ``"space.train.lr: was X, now Y"``, ``"... added (...)"``, ``"... removed (was ...)"``.

    Examples
    --------
    >>> describe_changes({"repeats": 1}, {"repeats": 2})
    ['repeats: was 1, now 2']
    """
    changes: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in itertools.chain(a, (k for k in b if k not in a)):
                where = f"{path}.{key}" if path else key
                if key not in b:
                    changes.append(f"{where} removed (was {json.dumps(a[key])})")
                elif key not in a:
                    changes.append(f"{where} added ({json.dumps(b[key])})")
                else:
                    walk(a[key], b[key], where)
        elif a != b:
            changes.append(f"{path}: was {json.dumps(a)}, now {json.dumps(b)}")

    walk(old, new, "")
    return changes[:limit]

"""``compare(runs)``: two or more runs side by side.

The hyperparameters that differ between the runs (the run folders' ``config.json`` when
every run has one, else each checkpoint's model spec and ``TrainingConfig``), flattened to
dotted keys (``train.lr``, ``model.hidden``), each run's best epoch and numbers, and one
figure of their curves overlaid. In a notebook the result shows as an HTML table and its
``figure`` as a picture; ``mlp compare`` prints the table and writes the figure as a PNG.
matplotlib is imported only when the figure is first asked for.

The numbers per run: best epoch, best validation loss and accuracy (the training loss when a run
had no validation data), epochs and seconds; ``.to_dict()`` gives them as plain values.
``mlp compare RUN RUN... [--out compare.png] [--json]`` is the command-line form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlp import display
from mlp.errors import MLPError
from mlp.storage.run_folder import RunFolder
from mlp.training.checkpoint import Checkpoint, load_checkpoint
from mlp.training.inspect import best_epoch_metrics

#: the fewest runs a comparison takes
MIN_RUNS = 2
#: settings that say where a run was written, not how it was trained
NOT_HYPERPARAMETERS = ("train.checkpoint_dir",)
#: the size in inches of one panel of the figure
PANEL_SIZE = (5.0, 3.5)


class CompareError(MLPError, ValueError):
    """Runs that cannot be compared (fewer than two)."""


@dataclass
class ComparedRun:
    """One run of a comparison.

    Parameters
    ----------
    name : str
        The run's label (its folder's name).
    checkpoint : Checkpoint
        The checkpoint read (the run folder's ``last.h5``).
    hyperparameters : dict of str to Any
        Its settings flattened to dotted keys (``train.lr``).
    best : dict of str to Any, default {}
        The History row of its best epoch.
    by : str, default "val"
        ``"val"`` when the run had validation data, else ``"train"``: which loss judged it.
    """

    name: str
    checkpoint: Checkpoint
    hyperparameters: dict[str, Any]
    best: dict[str, Any] = field(default_factory=dict)
    by: str = "val"

    def numbers(self) -> dict[str, Any]:
        """The best epoch and its loss and accuracy (by ``by``), epochs run and seconds.

        Returns
        -------
        dict
            ``{"best_epoch", "best_by", "loss", "accuracy", "epochs", "seconds"}``.
        """
        history = self.checkpoint.history
        return {"best_epoch": self.best.get("epoch"),
                "best_by": f"{self.by}_loss",
                "loss": self.best.get(f"{self.by}_loss"),
                "accuracy": self.best.get(f"{self.by}_accuracy"),
                "epochs": len(history),
                "seconds": history.total_seconds}


class Comparison:
    """Runs side by side, made by ``compare``.

    ``differing`` maps each hyperparameter that differs to its value in each run (None
    where a run does not have it). Displays as a table (text, or HTML in a notebook);
    ``figure`` overlays their curves; ``to_dict()`` is the whole comparison as JSON-ready
    values.

    Parameters
    ----------
    runs : list of ComparedRun
        The runs, in the order given.
    """

    def __init__(self, runs: list[ComparedRun]) -> None:
        self.runs = runs
        keys = dict.fromkeys(key for run in runs for key in run.hyperparameters)
        self.differing = {
            key: [run.hyperparameters.get(key) for run in runs] for key in keys
            if len({json.dumps(run.hyperparameters.get(key), sort_keys=True)
                    for run in runs}) > 1}

    # ------------------------------------------------------------------ the table
    def _metric_names(self) -> tuple[str, str]:
        kinds = {run.by for run in self.runs}
        kind = f"{kinds.pop()} " if len(kinds) == 1 else ""
        return f"best {kind}loss", f"best {kind}accuracy"

    def _rows(self) -> list[list[Any]]:
        loss, accuracy = self._metric_names()
        numbers = [run.numbers() for run in self.runs]
        rows: list[list[Any]] = [[key, *(_cell(value) for value in values)]
                                 for key, values in self.differing.items()]
        rows.append(["epochs", *(f"{n['epochs']:,}" for n in numbers)])
        rows.append(["best epoch", *(n["best_epoch"] for n in numbers)])
        rows.append([loss, *(n["loss"] for n in numbers)])
        if any(n["accuracy"] is not None for n in numbers):
            rows.append([accuracy, *(n["accuracy"] for n in numbers)])
        rows.append(["seconds", *(float(f"{n['seconds']:.3g}") for n in numbers)])
        return rows

    def _headline(self) -> str:
        differing = display.plural(len(self.differing), "differing hyperparameter")
        return f"Comparison({display.plural(len(self.runs), 'run')}, {differing})"

    def table(self) -> str:
        """The table as aligned text: a row per differing hyperparameter, then the best
        numbers; a column per run."""
        return display.text_table(["", *(run.name for run in self.runs)], self._rows())

    def __repr__(self) -> str:
        return f"{self._headline()}: {', '.join(run.name for run in self.runs)}"

    def _repr_html_(self) -> str:
        return display.html_table(["", *(run.name for run in self.runs)], self._rows(),
                                  caption=self._headline(),
                                  note="curves: .figure; every number: .to_dict()")

    def to_dict(self) -> dict[str, Any]:
        """``{"runs": [{"name", "path", "best_epoch", "best_by", "loss", "accuracy",
        "epochs", "seconds"}, ...], "differing": {key: [value per run]}}``."""
        return {"runs": [{"name": run.name, "path": str(run.checkpoint.path), **run.numbers()}
                         for run in self.runs],
                "differing": self.differing}

    # ----------------------------------------------------------------- the figure
    @cached_property
    def figure(self) -> Any:
        """The runs' curves overlaid (an ``InlineFigure``): the loss each run was judged by
        (validation, else training) and, for classification, its accuracy; one colour per
        run, labelled with its name."""
        from matplotlib.ticker import MaxNLocator

        from mlp.plotting.figures import plain_log_axis
        from mlp.plotting.inline import InlineFigure

        panels = ["loss"]
        if any(run.checkpoint.is_classification for run in self.runs):
            panels.append("accuracy")
        fig = InlineFigure(figsize=(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1]),
                           layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=True):
            for index, run in enumerate(self.runs):
                history = run.checkpoint.history
                values = getattr(history, f"{run.by}_{panel}")
                points = [(e, v) for e, v in zip(history.epoch, values, strict=True)
                          if v is not None and not math.isnan(v)]
                if points:
                    ax.plot(*zip(*points, strict=True), color=f"C{index % 10}",
                            label=run.name, marker="." if len(points) < 20 else None)
            kinds = {run.by for run in self.runs}
            kind = "validation " if kinds == {"val"} else "training " if kinds == {"train"} else ""
            ax.set_title(f"{kind}{panel}")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if panel == "loss" and all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
                ax.set_yscale("log")
                plain_log_axis(ax.yaxis)
        axes[0].legend(fontsize="small")
        return fig

    def save_figure(self, path: str | Path) -> Path:
        """Write ``figure`` as a PNG, atomically.

        Parameters
        ----------
        path : str or Path
            The PNG file to write.

        Returns
        -------
        Path
            ``path``.
        """
        import io

        from mlp.plotting.curves_content import PNG_DPI
        from mlp.storage import atomic

        stream = io.BytesIO()
        self.figure.savefig(stream, format="png", dpi=PNG_DPI)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic.write_bytes(path, stream.getvalue())


def compare(runs: Iterable[str | Path]) -> Comparison:
    """Two or more runs side by side.

    The hyperparameters that differ between the runs (the run folders' ``config.json``
    when every run has one, else each checkpoint's model spec and ``TrainingConfig``),
    flattened to dotted keys, each run's best epoch and numbers, and a figure of their
    curves overlaid.

    Parameters
    ----------
    runs : iterable of str or Path
        Run folders (their ``last.h5`` is read, which holds the whole history) or
        checkpoint files. Each is labelled with its folder's name.

    Returns
    -------
    Comparison
        The differing hyperparameters, each run's best numbers, and ``figure``.

    Raises
    ------
    CompareError
        Fewer than two runs.
    CheckpointError
        A run's checkpoint cannot be read.

    Examples
    --------
    >>> import mlp
    >>> comparison = mlp.compare(["ckpt/lr-0.01", "ckpt/lr-0.1"])  # doctest: +SKIP
    >>> comparison.differing  # doctest: +SKIP
    {'train.lr': [0.01, 0.1]}
    """
    paths = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(run) for run in runs]
    if len(paths) < MIN_RUNS:
        raise CompareError(f"compare needs {MIN_RUNS} or more runs (run folders or "
                           f"checkpoint files), found {len(paths)}")
    checkpoints = [load_checkpoint(RunFolder.checkpoint_of(path, "last")) for path in paths]
    folders = [RunFolder.of(checkpoint.path) for checkpoint in checkpoints]
    if all(folder.config.is_file() for folder in folders):
        settings = [_config_settings(folder) for folder in folders]
    else:
        settings = [{"model": json.loads(checkpoint.model.model_dump_json()),
                     "train": checkpoint.config.model_dump(mode="json")}
                    for checkpoint in checkpoints]
    names = [folder.name for folder in folders]
    if len(set(names)) < len(names):
        names = [f"{folder.name}/{checkpoint.path.name}"
                 for folder, checkpoint in zip(folders, checkpoints, strict=True)]
    compared = []
    for name, checkpoint, setting in zip(names, checkpoints, settings, strict=True):
        best = best_epoch_metrics(checkpoint)
        by = "val" if best.get("val_loss") is not None else "train"
        flat = {key: value for key, value in flatten(setting).items()
                if key not in NOT_HYPERPARAMETERS}
        compared.append(ComparedRun(name, checkpoint, flat, best, by))
    return Comparison(compared)


def _config_settings(folder: RunFolder) -> dict[str, Any]:
    """A run folder's config, without its name (each run is labelled by its folder)."""
    from mlp.training.run_config import (
        read_json_object,  # it loads the trainer, which loads matplotlib
    )

    config = read_json_object(folder.config)
    config.pop("name", None)
    return config


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and lists of dicts) as one dict of dotted keys.

    Lists of plain values are kept whole; items of lists holding dicts or lists are keyed
    by their index.

    Parameters
    ----------
    value : Any
        A JSON-like value.
    prefix : str, default ""
        The key of ``value`` itself.

    Returns
    -------
    dict of str to Any

    Examples
    --------
    >>> flatten({"train": {"lr": 0.1}, "model": {"hidden": [8]}})
    {'train.lr': 0.1, 'model.hidden': [8]}
    """
    items: Iterable[tuple[str, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _cell(value: Any) -> str:
    """A hyperparameter's value in a table cell (``-`` where a run does not have it)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value)

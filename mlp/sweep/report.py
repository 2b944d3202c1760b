"""A sweep's report, rebuilt from its Optuna study alone: ``results.csv`` (a row per run),
``results.md`` (the comparison table, best first, mean ± sd over repeats), ``curves.png``
(every run's per-epoch metric, the best trial highlighted) and ``params.png`` (the metric
against each hyperparameter, and parameter importance when there are enough trials).

Everything comes from the study: the sweep file's fingerprint in the study's user
attributes, each trial's parameters, state and value, and each repeat's summary and curve in
the trial's user attributes, so ``mlp sweep SWEEP.json --report`` needs no run folder.

``results.csv`` has a row per run: number, repeat, state, parameters, metric at the best epoch,
best epoch, epochs run, seconds, folder, note. In ``curves.png`` every run's per-epoch metric is
grey, the best trial red and pruned runs dashed. ``params.png`` shows a dot per repeat and a
diamond per mean, with Optuna's fANOVA parameter importance once there are 8 complete trials and
two parameters. The report is written as soon as the last trial ends.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from mlp import display
from mlp.storage import atomic, run_folder
from mlp.sweep.study import ERROR_ATTR, FINGERPRINT_ATTR, RUNS_ATTR, retried_from

if TYPE_CHECKING:  # matplotlib loads when a picture is drawn, not in a sweep's workers
    from matplotlib.figure import Figure

log = logging.getLogger("mlp")
MIN_IMPORTANCE_TRIALS = 8
BEST_COLOR = "tab:red"
OTHER_COLOR = "0.6"
_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAIL: 2,
                TrialState.RUNNING: 3, TrialState.WAITING: 4}
_STATE_ORDER_NAMES = [state.name for state in _STATE_ORDER]


@dataclass
class TrialResult:
    """One trial as the report shows it.

    Parameters
    ----------
    number : int
        The trial's number in the study.
    state : str
        Optuna's state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``).
    params : dict
        Dotted run-config key -> value.
    runs : list of dict
        One record per repeat (``value``, best epoch, epochs, seconds, run folder...).
    note : str
        Where it was pruned or why it failed, the trial that retried it, how its runs
        resumed, or the trial it retries.
    """

    number: int
    state: str
    params: dict[str, Any]
    runs: list[dict[str, Any]]
    note: str

    @property
    def values(self) -> list[float]:
        """The metric of each repeat that has one."""
        return [r["value"] for r in self.runs if r.get("value") is not None]

    @property
    def mean(self) -> float | None:
        """The mean of ``values`` (None without any)."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        """The standard deviation of ``values`` (None with fewer than two)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def shown_value(self) -> str:
        """The metric as the tables show it: the mean, ± the sd over two repeats or more."""
        value = "" if self.mean is None else f"{self.mean:.4g}"
        return value + ("" if self.sd is None else f" ± {self.sd:.2g}")


@dataclass
class SweepResults:
    """The sweep's fingerprint (metric, direction, space) and its trials.

    Parameters
    ----------
    name : str
        The sweep's name.
    sweep : dict
        Its fingerprint (``SweepConfig.fingerprint``).
    trials : list of TrialResult
        Every trial of the study.
    wall_seconds : float
        From the first trial's start to the last one's end.
    """

    name: str
    sweep: dict[str, Any]
    trials: list[TrialResult]
    wall_seconds: float

    @property
    def metric(self) -> str:
        """The metric compared (``val_loss``...)."""
        return self.sweep["metric"]

    @property
    def maximize(self) -> bool:
        """Whether a higher metric is better."""
        return self.sweep["direction"] == "maximize"

    @property
    def keys(self) -> list[str]:
        """The dotted keys of the space, in the sweep file's order."""
        return list(self.sweep["space"])

    def ranked(self) -> list[TrialResult]:
        """Complete trials best first, then pruned (best first), failed, unfinished."""
        sign = -1.0 if self.maximize else 1.0
        return sorted(self.trials, key=lambda t: (
            _STATE_ORDER.get(TrialState[t.state], 5),
            sign * t.mean if t.mean is not None else float("inf"), t.number))

    def best(self) -> TrialResult | None:
        """The best complete trial, or None without one.

        Returns
        -------
        TrialResult or None
        """
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].state == "COMPLETE" else None

    def table(self, rows: int | None = None) -> tuple[list[str], list[list[str]]]:
        """The comparison table, best first.

        Parameters
        ----------
        rows : int, optional
            The rows wanted (all when None).

        Returns
        -------
        header : list of str
            Rank, trial, each parameter, the metric, state.
        body : list of list of str
            The first ``rows`` rows; the metric is the mean ± sd over repeats.
        """
        header = ["rank", "trial", *self.keys, self.metric, "state"]
        body = []
        for rank, trial in enumerate(self.ranked()[:rows], start=1):
            body.append([str(rank), str(trial.number),
                         *[_text(trial.params.get(k, "")) for k in self.keys],
                         trial.shown_value(), trial.state.lower()])
        return header, body

    def _headline(self) -> str:
        states = [t.state for t in self.trials]
        counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in _STATE_ORDER_NAMES
                           if states.count(s))
        return (f"SweepResults({self.name!r}: {len(self.trials)} trials ({counts or 'none'}), "
                f"{self.sweep['direction']} {self.metric}, {self.wall_seconds:.1f} s)")

    def __repr__(self) -> str:
        """The counts and the best three configurations as a text table."""
        header, rows = self.table(3)
        if not rows:
            return self._headline()
        return self._headline() + "\n" + display.text_table(header, rows)

    def _repr_html_(self) -> str:
        """The ten best configurations as an HTML table, for notebooks."""
        header, rows = self.table(10)
        left = len(self.trials) - len(rows)
        return display.html_table(header, rows, caption=self._headline(),
                                  note=f"{left} more in results.md" if left else "")


def collect(study: optuna.Study) -> SweepResults:
    """Read the sweep's results from its study.

    Parameters
    ----------
    study : optuna.Study

    Returns
    -------
    SweepResults
    """
    trials = study.get_trials(deepcopy=False)
    retries = {retried_from(t): t.number for t in trials if retried_from(t) is not None}
    results = []
    for trial in trials:
        params = {k: _decoded(v) for k, v in trial.params.items()}
        runs = list(trial.user_attrs.get(RUNS_ATTR, []))
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            note = f"pruned at epoch {max(trial.intermediate_values)}"
        elif ERROR_ATTR in trial.user_attrs:
            note = trial.user_attrs[ERROR_ATTR]
        elif trial.number in retries:
            note = f"worker lost; retried as trial {retries[trial.number]}"
        else:
            note = "; ".join(sorted({r["started"] for r in runs if r["started"] != "fresh"}))
        if retried_from(trial) is not None:
            if runs and not note:  # the retried trial's folder was not on this machine
                note = "restarted with the same seeds"
            note = f"retry of trial {retried_from(trial)}" + (f"; {note}" if note else "")
        results.append(TrialResult(trial.number, trial.state.name, params, runs, note))
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    return SweepResults(study.study_name, study.user_attrs[FINGERPRINT_ATTR], results, wall)


def _decoded(value: Any) -> Any:
    """A choice stored as JSON text (lists such as hidden widths) back to its value."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "-".join(str(v) for v in value) if all(isinstance(v, int) for v in value) \
            else json.dumps(value)
    return str(value)


def write_report(study: optuna.Study, folder: Path) -> list[Path]:
    """Write the four report files (``results.csv``, ``results.md``, ``curves.png``,
    ``params.png``).

    Parameters
    ----------
    study : optuna.Study
    folder : Path
        The sweep folder.

    Returns
    -------
    list of Path
        The files written.
    """
    results = collect(study)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_atomic_text(folder / "results.csv", results_csv(results)),
             _atomic_text(folder / "results.md", results_markdown(results, study))]
    paths.append(_atomic_figure(folder / run_folder.CURVES, curves_figure(results)))
    paths.append(_atomic_figure(folder / "params.png", params_figure(results, study)))
    return paths


def results_csv(results: SweepResults) -> str:
    """The text of ``results.csv``: a row per run (a trial's repeat).

    Parameters
    ----------
    results : SweepResults

    Returns
    -------
    str
        Number, repeat, state, parameters, metric at the best epoch, best epoch, epochs run,
        seconds, run folder, note.
    """
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["number", "repeat", "state", *results.keys, results.metric, "best_epoch",
                     "epochs", "seconds", "folder", "note"])
    for trial in sorted(results.trials, key=lambda t: t.number):
        params = [json.dumps(trial.params[k]) if isinstance(trial.params.get(k), list)
                  else trial.params.get(k, "") for k in results.keys]
        for run in trial.runs or [{}]:
            writer.writerow([trial.number, run.get("repeat", ""), trial.state, *params,
                             run.get("value", ""), run.get("best_epoch", ""),
                             run.get("epochs", ""),
                             f"{run['seconds']:.3f}" if "seconds" in run else "",
                             run.get("folder", ""), trial.note])
    return stream.getvalue()


def results_markdown(results: SweepResults, study: optuna.Study | None = None) -> str:
    """The text of ``results.md``: the comparison table, best first.

    A configuration's metric is its mean ± sd over repeats (sd needs two repeats or more).

    Parameters
    ----------
    results : SweepResults
    study : optuna.Study, optional
        For the line of parameter importances under the table; without it, no such line.

    Returns
    -------
    str
        Markdown.
    """
    sweep = results.sweep
    states = [t.state for t in results.trials]
    done = states.count("COMPLETE")
    lines = [f"# Sweep `{results.name}`", "",
             f"{sweep['search']['kind']} search; metric `{results.metric}` "
             f"({sweep['direction']}, at each run's best epoch); {sweep['repeats']} repeat(s) "
             f"per configuration; {done} complete, {states.count('PRUNED')} pruned, "
             f"{states.count('FAIL')} failed; wall time {results.wall_seconds:.1f} s.", ""]
    header = ["rank", "trial", *[f"`{k}`" for k in results.keys],
              f"{results.metric} (mean ± sd)" if sweep["repeats"] > 1 else results.metric,
              "best epoch", "epochs", "train s", "state", "note"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, trial in enumerate(results.ranked(), start=1):
        runs = trial.runs
        cells = [str(rank), str(trial.number),
                 *[_text(trial.params.get(k, "")) for k in results.keys], trial.shown_value(),
                 ", ".join(str(r["best_epoch"]) for r in runs),
                 ", ".join(str(r["epochs"]) for r in runs),
                 f"{sum(r['seconds'] for r in runs):.2f}" if runs else "",
                 trial.state.lower(), trial.note]
        lines.append("| " + " | ".join(cells) + " |")
    importances = parameter_importance(results, study)
    if importances:
        lines += ["", "Parameter importance (Optuna's fANOVA over the complete trials): "
                  + ", ".join(f"`{k}` {v:.2f}" for k, v in importances.items()) + "."]
    return "\n".join(lines) + "\n"


def parameter_importance(results: SweepResults, study: optuna.Study | None
                         ) -> dict[str, float]:
    """Optuna's parameter importances.

    Parameters
    ----------
    results : SweepResults
    study : optuna.Study or None

    Returns
    -------
    dict of str to float
        With enough complete trials and two parameters or more; empty otherwise.
    """
    complete = sum(t.state == "COMPLETE" for t in results.trials)
    if study is None or complete < MIN_IMPORTANCE_TRIALS or len(results.keys) < 2:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError) as exc:  # e.g. a parameter that never varied
        log.info("no parameter importance: %s", exc)
        return {}


def curves_figure(results: SweepResults) -> Figure:
    """Every run's per-epoch metric in grey (dashed when pruned), the best trial's in red.

    Parameters
    ----------
    results : SweepResults

    Returns
    -------
    matplotlib.figure.Figure
        The picture of ``curves.png``.
    """
    from mlp.plotting.figures import plain_log_axis
    from mlp.plotting.inline import InlineFigure

    fig = InlineFigure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    column = results.metric if not results.metric.startswith("test_") \
        else "val_" + results.metric[5:]
    best = results.best()
    for trial in results.trials:
        if trial is best:
            continue
        for run in trial.runs:
            epochs, values = _curve(run["curve"])
            ax.plot(epochs, values, color=OTHER_COLOR, lw=0.8, alpha=0.7,
                    ls="--" if trial.state == "PRUNED" else "-")
    if best is not None:
        label = ", ".join(f"{k}={_text(v)}" for k, v in best.params.items())
        for i, run in enumerate(best.runs):
            epochs, values = _curve(run["curve"])
            ax.plot(epochs, values, color=BEST_COLOR, lw=2,
                    label=f"best: trial {best.number} ({label})" if i == 0 else None)
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("epoch")
    ax.set_ylabel(column)
    if "loss" in column and _spans_decades(results):
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
    # an explicit height: no measuring of the top ticks (there are none) at every draw
    ax.set_title(f"{results.name}: {column} of every run (grey), best highlighted", y=1.0)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.9)
    return fig


def _curve(curve: list[float | None]) -> tuple[list[int], list[float]]:
    pairs = [(e, v) for e, v in enumerate(curve, start=1) if v is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _spans_decades(results: SweepResults) -> bool:
    values = [v for t in results.trials for r in t.runs for v in r["curve"] if v is not None]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 20


def params_figure(results: SweepResults, study: optuna.Study | None = None) -> Figure:
    """The metric against each hyperparameter.

    A dot per repeat, a diamond per trial's mean, and a bar chart of parameter importance when
    there are enough trials.

    Parameters
    ----------
    results : SweepResults
    study : optuna.Study, optional
        For the panel of parameter importances; without it, no such panel.

    Returns
    -------
    matplotlib.figure.Figure
        The picture of ``params.png``.
    """
    from mlp.plotting.figures import plain_log_axis
    from mlp.plotting.inline import InlineFigure

    importances = parameter_importance(results, study)
    keys = results.keys
    panels = len(keys) + (1 if importances else 0)
    columns = min(panels, 3)
    rows = -(-panels // columns)
    fig = InlineFigure(figsize=(4.2 * columns, 3.4 * rows))
    space = results.sweep["space"]
    shown = [t for t in results.trials if t.state in ("COMPLETE", "PRUNED") and t.runs]
    for index, key in enumerate(keys):
        ax = fig.add_subplot(rows, columns, index + 1)
        spec = space[key]
        numeric = "choice" not in spec or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in spec["choice"])
        labels = [_text(v) for v in spec.get("choice", [])]
        dots: tuple[list, list, list] = ([], [], [])  # x, y, colour: one scatter call each
        means: tuple[list, list, list] = ([], [], [])
        for trial in shown:
            value = trial.params.get(key)
            x = value if numeric else labels.index(_text(value))
            color = OTHER_COLOR if trial.state == "PRUNED" else "tab:blue"
            for y in trial.values:
                for column, item in zip(dots, (x, y, color), strict=True):
                    column.append(item)
            if trial.mean is not None:
                for column, item in zip(means, (x, trial.mean, color), strict=True):
                    column.append(item)
        if dots[0]:
            ax.scatter(dots[0], dots[1], s=12, c=dots[2], alpha=0.6)
        if means[0]:
            ax.scatter(means[0], means[1], marker="D", s=36, c=means[2], edgecolors="black",
                       linewidths=0.5)
        if not numeric:
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize="small")
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif "log_uniform" in spec or ("choice" in spec and _log_spaced(spec["choice"])):
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis, minor_labels=False)  # minor labels would overlap
            if "choice" in spec:
                ax.set_xticks(spec["choice"], labels)
        if "loss" in results.metric and _spans_decades(results):
            ax.set_yscale("log")
            plain_log_axis(ax.yaxis)
        ax.set_xlabel(key)
        ax.set_ylabel(results.metric)
        ax.grid(alpha=0.3)
    if importances:
        ax = fig.add_subplot(rows, columns, len(keys) + 1)
        names = list(importances)[::-1]
        ax.barh(range(len(names)), [importances[n] for n in names], color="tab:green")
        for row, name in enumerate(names):  # inside the axes: long keys are not cut off
            ax.text(0.01, row, f"{name}  {importances[name]:.2f}", va="center",
                    transform=ax.get_yaxis_transform(), fontsize="small")
        ax.set_yticks([])
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance (fANOVA)")
    fig.suptitle(f"{results.name}: {results.metric} against each hyperparameter "
                 "(dots: repeats, diamonds: means, grey: pruned)", fontsize="medium")
    # fixed margins: tight_layout's text measuring would cost more than the whole report
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.16 / rows, top=1 - 0.12 / rows,
                        wspace=0.35, hspace=0.55)
    return fig


def _log_spaced(values: list[Any]) -> bool:
    numbers = [v for v in values if isinstance(v, int | float) and v > 0]
    return len(numbers) == len(values) >= 3 and max(numbers) / min(numbers) >= 10


def _atomic_text(path: Path, text: str) -> Path:
    return atomic.write_text(path, text)


def _atomic_figure(path: Path, fig: Figure) -> Path:
    stream = io.BytesIO()
    fig.savefig(stream, format="png", dpi=100)
    return atomic.write_bytes(path, stream.getvalue())

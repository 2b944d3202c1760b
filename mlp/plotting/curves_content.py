"""What a run's curves picture shows, decided once: ``mlp.plotting.curves.curves_figure``
draws it with matplotlib for every place the picture appears (a run folder's ``curves.png``,
the notebook's live picture, a live window, users' own figures).

The panels and the series on each, whether an axis is logarithmic, the fixed range of a
constant learning rate, the best epoch, the legend's words, the margins, and the labels of a
log axis. Only ``matplotlib.ticker`` is imported (pure computations, no figure, no backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.ticker import LogFormatter

from mlp.history import History

TRAIN_COLOR = "tab:blue"
"""Colour of every training curve (and of the model's curve in ``plot_fit``)."""
VAL_COLOR = "tab:orange"
"""Colour of every validation curve (and of the training points in ``plot_fit``)."""
LR_COLOR = "tab:purple"
"""Colour of the learning-rate curve."""
BEST_COLOR = "tab:green"
"""Colour of the best-epoch mark on the curves."""
STOP_COLOR = "tab:red"
"""Colour of the early-stopping mark on the curves."""
LOG_SCALE_MIN_RATIO = 10.0
"""A loss or learning-rate axis is logarithmic only when its largest value is more than this
many times its smallest (all positive): over less than a decade a log axis shows one or two
tick labels, so a linear one reads better."""
PNG_DPI = 100
"""Pixels per inch of every PNG written."""
CURVES_PANEL_SIZE = (4.6, 4.0)
"""Width and height in inches of one panel of the curves figure."""
LEGEND_PANELS = ("loss", "accuracy")
"""The panels that carry a legend (the learning-rate panel has one curve, named by its
title)."""


class Curve(NamedTuple):
    """One series of a panel.

    Parameters
    ----------
    label : str
        Its legend entry (``"train loss"``).
    colour : str
        A matplotlib colour (``TRAIN_COLOR``, ``VAL_COLOR``, ``LR_COLOR``).
    epochs : numpy.ndarray
        ``(N,)`` int64, the epochs of the finite values.
    values : numpy.ndarray
        ``(N,)`` float64, the finite values drawn.
    """

    label: str
    colour: str
    epochs: np.ndarray
    values: np.ndarray


class Panel(NamedTuple):
    """One axes of the picture.

    Parameters
    ----------
    name : str
        Its title and y label: ``"loss"``, ``"accuracy"`` or ``"learning rate"``.
    curves : list of Curve
        The series drawn on it (none when no value is finite).
    log : bool
        A logarithmic y axis.
    ylim : tuple of float or None
        Fixed y limits; None fits them to the data.
    """

    name: str
    curves: list[Curve]
    log: bool
    ylim: tuple[float, float] | None

    @property
    def legend(self) -> bool:
        """Whether the panel carries a legend (``LEGEND_PANELS``)."""
        return self.name in LEGEND_PANELS


class Best(NamedTuple):
    """The best epoch of a run.

    Parameters
    ----------
    epoch : int
        The epoch.
    value : float
        Its loss on ``split``.
    split : str
        The split it is judged on: ``"val"``, or ``"train"`` without validation data.
    """

    epoch: int
    value: float
    split: str

    @property
    def label(self) -> str:
        """The legend entry of the best-epoch star."""
        return f"best: epoch {self.epoch} ({self.split} loss {self.value:.4g})"


def series(epochs: Sequence[int], values: Sequence[float | None]) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """The points of a History column whose value is a finite number.

    Parameters
    ----------
    epochs : sequence of int
        ``History.epoch``.
    values : sequence of float or None
        A column of the same length; None, NaN and infinities are skipped.

    Returns
    -------
    tuple of numpy.ndarray
        The epochs ``(N,)`` int64 and the values ``(N,)`` float64 kept.
    """
    numbers = np.array(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(numbers)
    return np.asarray(epochs, dtype=np.int64).reshape(-1)[finite], numbers[finite]


def log_scale(values: np.ndarray) -> bool:
    """Whether an axis showing ``values`` is logarithmic.

    Parameters
    ----------
    values : numpy.ndarray
        The values drawn on the axis.

    Returns
    -------
    bool
        True when all are positive and the largest is more than ``LOG_SCALE_MIN_RATIO`` times
        the smallest.
    """
    return bool(values.size and values.min() > 0
                and values.max() > LOG_SCALE_MIN_RATIO * values.min())


def panels(history: History) -> list[Panel]:
    """The panels of the curves picture of ``history``.

    A constant learning rate is drawn on ``0..2 * rate`` rather than matplotlib's +-4% band
    around it.

    Parameters
    ----------
    history : History
        The run's columns.

    Returns
    -------
    list of Panel
        In order: loss (always), accuracy (when some accuracy is finite), learning rate
        (when some rate is).

    Examples
    --------
    >>> history = History()
    >>> history.append(epoch=1, train_loss=0.5, val_loss=None, train_accuracy=None,
    ...                val_accuracy=None, lr=1e-3, seconds=0.1)
    >>> [panel.name for panel in panels(history)]
    ['loss', 'learning rate']
    """
    found = []
    for name, metric in (("loss", "loss"), ("accuracy", "accuracy")):
        curves = [Curve(f"{split} {metric}", colour,
                        *series(history.epoch, getattr(history, f"{split}_{metric}")))
                  for split, colour in (("train", TRAIN_COLOR), ("val", VAL_COLOR))]
        curves = [curve for curve in curves if curve.values.size]
        if curves or name == "loss":
            drawn = np.concatenate([curve.values for curve in curves] or [np.zeros(0)])
            found.append(Panel(name, curves, name == "loss" and log_scale(drawn), None))
    lr_epochs, lr = series(history.epoch, history.lr)
    if lr.size:
        constant = lr.min() == lr.max() > 0
        found.append(Panel("learning rate", [Curve("learning rate", LR_COLOR, lr_epochs, lr)],
                           log_scale(lr), (0.0, 2 * float(lr[0])) if constant else None))
    return found


def best(history: History) -> Best | None:
    """The best epoch of ``history``, marked on the curves.

    Parameters
    ----------
    history : History
        The run's columns; its losses are searched.

    Returns
    -------
    Best or None
        The lowest finite validation loss (``History.best_epoch``), or without validation
        data the lowest training loss, the earliest epoch on a tie; None when no loss is
        finite.
    """
    for split, losses in (("val", history.val_loss), ("train", history.train_loss)):
        epochs, values = series(history.epoch, losses)
        if values.size:
            lowest = values == values.min()
            return Best(int(epochs[lowest].min()), float(values.min()), split)
    return None


def stop_label(epoch: int) -> str:
    """The legend entry of the early stop.

    Parameters
    ----------
    epoch : int
        The epoch early stopping ended the run at.

    Returns
    -------
    str
        ``"stopped early (epoch N)"``.
    """
    return f"stopped early (epoch {epoch})"


def margins(panel_count: int, titled: bool) -> dict[str, float]:
    """The subplot parameters of the curves figure.

    Fixed, wide enough for ``0.0003`` tick labels, since measuring every text (as
    ``tight_layout`` does) is most of the cost of a matplotlib layout.

    Parameters
    ----------
    panel_count : int
        The number of panels side by side.
    titled : bool
        Whether the figure has a title (the axes then leave more room above).

    Returns
    -------
    dict of str to float
        ``left``, ``right``, ``bottom``, ``top`` (fractions of the figure) and ``wspace``
        (a fraction of an axes' width), for ``Figure.subplots_adjust``.
    """
    return {"left": 0.22 / panel_count + 0.02, "right": 0.98, "bottom": 0.14,
            "top": 0.84 if titled else 0.9, "wspace": 0.45}


class PlainLogFormatter(LogFormatter):
    """Tick labels of a log axis as plain numbers (``0.02``, ``1``, ``3e-05``).

    Only the ticks that ``LogFormatter`` would label are labelled. Matplotlib's default writes
    ``10^-2`` with mathtext, whose parsing is about a third of the time it takes to draw a
    run's curves. Constructed as ``matplotlib.ticker.LogFormatter``.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        """The label of the tick at ``x`` (empty when it is left unlabelled)."""
        return f"{x:g}" if super().__call__(x, pos) else ""


def log_formatters(minor_labels: bool = True) -> tuple[PlainLogFormatter,
                                                       PlainLogFormatter | None]:
    """The major and minor tick formatters of a log axis.

    Parameters
    ----------
    minor_labels : bool
        Label some minor ticks too when the axis spans under two decades (all of them under
        0.4), so that it never shows only two numbers.

    Returns
    -------
    tuple
        The major formatter (the decades) and the minor one, or None for no minor labels.
    """
    minor = (PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4))
             if minor_labels else None)
    return PlainLogFormatter(), minor

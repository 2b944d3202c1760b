"""A run's curves picture drawn by matplotlib: the Figure (``curves_figure``), its PNG bytes
(``curves_png``) and the run folder's ``curves.png`` (``save_curves``).

What the picture shows (panels, colours, the best-epoch star, the early stop, titles) is
decided in ``mlp.plotting.curves_content``; this module draws it with the object API: a
``matplotlib.figure.Figure`` on an Agg canvas, no pyplot state, nothing registered or left
open. When the picture is drawn is the caller's choice: the routinizer draws ``curves.png`` at
the end of a run and at the checkpoint save cadence, never per epoch, because one drawing
costs 0.1-0.3 s (most of it text layout and tick artists) where an epoch can cost a
millisecond.
"""

from __future__ import annotations

import io
import threading
import weakref
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from mlp.history import History
from mlp.plotting.curves_content import (
    BEST_COLOR,
    CURVES_PANEL_SIZE,
    PNG_DPI,
    STOP_COLOR,
    best,
    log_formatters,
    margins,
    panels,
    stop_label,
)
from mlp.plotting.inline import InlineFigure
from mlp.storage import atomic

PNG_COMPRESS_LEVEL = 1
"""zlib level of the curves PNG: level 1 encodes a three-panel picture in about 4 ms where
matplotlib's default (6) takes about 18 ms, for a file a third larger."""
TICKS = 5
"""Most intervals between the labelled ticks of an epoch axis or a linear axis: every tick
is a handful of matplotlib artists, the most of a drawing's cost (matplotlib's default, up
to ten, also crowds a 460-pixel panel)."""
SPARE_FIGURES = 2
"""Figures ``curves_png`` keeps for later drawings in this process (a live display, the
cadence's and the end's drawings, the next run): each holds a few megabytes of pixels."""
_SPARE: list[Figure] = []
_SPARE_LOCK = threading.Lock()
_DRAWN: weakref.WeakKeyDictionary[Figure, tuple[str, ...]] = weakref.WeakKeyDictionary()
"""The panels each figure drawn by ``curves_figure`` holds, so a redraw can keep its axes."""
TITLE_Y = 1.0
"""An axes title's height given explicitly: left to itself matplotlib measures the bounding
boxes of the top ticks at every draw to lift the title clear of them (a fifth of the
drawing time of a curves figure), and these axes have no top ticks."""


def plain_log_axis(axis: Axis, minor_labels: bool = True) -> None:
    """Label a log-scaled axis with plain numbers (``0.02``, ``1``, ``3e-05``).

    The decades are labelled, and with ``minor_labels`` some minor ticks too when the axis
    spans under two decades (all of them under 0.4), so that it never shows only two numbers
    (``curves_content.log_formatters``).

    Parameters
    ----------
    axis : matplotlib.axis.Axis
        The log-scaled axis, e.g. ``ax.yaxis`` after ``ax.set_yscale("log")``.
    minor_labels : bool
        Label some minor ticks on a narrow axis; False labels the decades only.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> ax.set_yscale("log")
    >>> plain_log_axis(ax.yaxis)
    """
    major, minor = log_formatters(minor_labels)
    axis.set_major_formatter(major)
    axis.set_minor_formatter(minor if minor is not None else NullFormatter())


def curves_size(history: History) -> tuple[float, float]:
    """The curves figure's size in inches.

    Parameters
    ----------
    history : History
        The run's columns; each panel of ``curves_content.panels(history)`` is one
        ``CURVES_PANEL_SIZE``.

    Returns
    -------
    tuple of float
        ``(width, height)``: ``CURVES_PANEL_SIZE`` wide per panel, one panel high.
    """
    return CURVES_PANEL_SIZE[0] * len(panels(history)), CURVES_PANEL_SIZE[1]


def curves_figure(history: History, fig: Figure | None = None, *, title: str | None = None,
                  stopped_early_at: int | None = None) -> Figure:
    """Loss, accuracy (classification) and learning rate against epoch, as a Figure.

    One axes per panel of ``curves_content.panels(history)``, in the order loss, accuracy
    (only when some accuracy is finite), learning rate (only when ``history.lr`` holds
    values). The best epoch (``curves_content.best``: ``History.best_epoch``, or the lowest
    training loss without validation) is a star on the loss curve and a dotted vertical line
    on every panel.

    Parameters
    ----------
    history : History
        The run's columns; ``None`` and non-finite entries (no validation data, regression
        accuracy, a diverged epoch) are skipped. The loss and learning-rate axes are
        logarithmic when the values are positive and span more than ``LOG_SCALE_MIN_RATIO``,
        linear otherwise; a constant learning rate is drawn on ``0..2 * rate``.
    fig : Figure, optional
        A figure to redraw into (live redraws): cleared, or when it holds this function's
        picture of the same panels already, its axes kept and their contents replaced
        (several times cheaper to draw); a new ``InlineFigure`` of ``curves_size(history)``
        otherwise.
    title : str, optional
        The figure's title, normally the run's name (its folder).
    stopped_early_at : int, optional
        The epoch at which early stopping ended the run: a dashed vertical line on every
        panel, labelled in the loss legend.

    Returns
    -------
    Figure
        ``fig``, or the new figure, drawn into.

    Examples
    --------
    >>> from mlp.history import History
    >>> history = History()
    >>> for epoch in (1, 2, 3):
    ...     history.append(epoch=epoch, train_loss=1 / epoch, val_loss=1.2 / epoch,
    ...                    train_accuracy=0.5, val_accuracy=0.6, lr=1e-3, seconds=0.1)
    >>> [ax.get_title() for ax in curves_figure(history, title="run").axes]
    ['loss', 'accuracy', 'learning rate']
    """
    fig = fig if fig is not None else InlineFigure(figsize=curves_size(history))
    shown = panels(history)
    axes = _panel_axes(fig, [panel.name for panel in shown])
    for ax, panel in zip(axes, shown, strict=True):
        for curve in panel.curves:
            ax.plot(curve.epochs, curve.values, color=curve.colour, label=curve.label,
                    linewidth=2, marker="o" if len(curve.values) == 1 else None)
        if ax.get_yscale() != ("log" if panel.log else "linear"):
            ax.set_yscale("log" if panel.log else "linear")
        if panel.log:
            plain_log_axis(ax.yaxis)
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=TICKS))
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        else:
            ax.set_autoscaley_on(True)
        ax.set(xlabel="epoch", ylabel=panel.name)
        ax.set_title(panel.name, y=TITLE_Y)
    loss_ax = axes[0]
    marked = best(history)
    if marked is not None:
        loss_ax.plot([marked.epoch], [marked.value], linestyle="none", marker="*",
                     markersize=14, color=BEST_COLOR, markeredgecolor="black", zorder=5,
                     label=marked.label)
        for ax in axes:
            ax.axvline(marked.epoch, color=BEST_COLOR, linestyle=":", linewidth=1.5,
                       label="_best epoch")
    if stopped_early_at is not None:
        for ax in axes:
            ax.axvline(stopped_early_at, color=STOP_COLOR, linestyle="--", linewidth=1.5,
                       label=(stop_label(stopped_early_at) if ax is loss_ax
                              else "_stopped early"))
    for ax, panel in zip(axes, shown, strict=True):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=TICKS, integer=True, steps=[1, 2, 5, 10]))
        if panel.legend:
            ax.legend(fontsize="small")
    if title or fig.get_suptitle():
        fig.suptitle(title or "")
    fig.subplots_adjust(**margins(len(axes), bool(title)))
    _DRAWN[fig] = tuple(panel.name for panel in shown)
    return fig


def _panel_axes(fig: Figure, names: list[str]) -> list[Axes]:
    """The axes to draw the panels ``names`` into: the figure's own when it holds the curves
    of the same panels already (a live redraw: the curves, marks and legends are removed and
    the axes kept, with their ticks, which are most of the cost of a new axes), new ones in
    the cleared figure otherwise."""
    if _DRAWN.get(fig) == tuple(names) and len(fig.axes) == len(names):
        for ax in fig.axes:
            for line in list(ax.lines):
                line.remove()
            ax.relim()  # the data limits of the removed curves go with them
        return list(fig.axes)
    fig.clear()
    return list(fig.subplots(1, len(names), squeeze=False)[0])


def agg_figure(size: tuple[float, float] | None = None) -> Figure:
    """A new ``Figure`` on an Agg canvas of its own: no pyplot, no backend looked up.

    Parameters
    ----------
    size : tuple of float, optional
        ``(width, height)`` in inches; matplotlib's default size otherwise.

    Returns
    -------
    Figure
        A figure whose ``savefig`` and ``canvas.draw`` render with Agg.
    """
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The PNG bytes of ``fig`` at ``PNG_DPI``.

    Parameters
    ----------
    fig : Figure
        The figure to draw; its size in inches times ``PNG_DPI`` is the picture's size in
        pixels. A figure without a canvas of its own (``Figure()``) is drawn by Agg.

    Returns
    -------
    bytes
        An RGBA PNG, compressed at ``PNG_COMPRESS_LEVEL``.
    """
    stream = io.BytesIO()
    fig.savefig(stream, format="png", dpi=PNG_DPI,
                pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return stream.getvalue()


def curves_png(history: History, *, title: str | None = None,
               stopped_early_at: int | None = None, fig: Figure | None = None) -> bytes:
    """The PNG bytes of ``curves_figure(history, ...)``.

    Parameters
    ----------
    history : History
        The run's columns, at least one epoch (ValueError otherwise).
    title, stopped_early_at
        As ``curves_figure``.
    fig : Figure, optional
        A figure to redraw into; it is resized to ``curves_size(history)``. By default one
        of the ``SPARE_FIGURES`` figures an earlier drawing in this process left (its axes,
        when they hold the same panels, are reused: a third cheaper), or a new one.

    Returns
    -------
    bytes
        A PNG of ``curves_size(history)`` inches at ``PNG_DPI``: 460 x 400 pixels a panel.
    """
    if not len(history):
        raise ValueError("the curves of an empty history cannot be drawn: it has no epoch")
    if fig is not None:
        fig.set_size_inches(curves_size(history))
        return figure_png(curves_figure(history, fig, title=title,
                                        stopped_early_at=stopped_early_at))
    with _SPARE_LOCK:
        spare = _SPARE.pop() if _SPARE else agg_figure()
    try:
        return curves_png(history, title=title, stopped_early_at=stopped_early_at, fig=spare)
    finally:
        with _SPARE_LOCK:
            if len(_SPARE) < SPARE_FIGURES:
                _SPARE.append(spare)


def save_curves(history: History, path: str | Path, *, title: str | None = None,
                stopped_early_at: int | None = None) -> Path:
    """Write ``curves_png(history, ...)`` to ``path`` atomically.

    The file is written through ``mlp.storage.atomic``: a temporary file beside it, created
    0666 less the umask, fsynced and renamed, removed when anything fails, so a reader sees
    the previous picture or the new one, never half of one. The folder is created.

    Parameters
    ----------
    history : History
        The run's columns, at least one epoch.
    path : str or Path
        Where the PNG goes, normally ``RunFolder(...).curves``.
    title, stopped_early_at
        As ``curves_figure``.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from mlp.history import History
    >>> history = History()
    >>> history.append(epoch=1, train_loss=0.5, val_loss=None, train_accuracy=None,
    ...                val_accuracy=None, lr=1e-3, seconds=0.1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_curves(history, Path(folder) / "curves.png").stat().st_size > 0
    True
    """
    payload = curves_png(history, title=title, stopped_early_at=stopped_early_at)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_bytes(path, payload)

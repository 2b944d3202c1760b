"""Training shown in a Jupyter kernel: one progress display and one curves picture, each
updated in place, instead of a terminal's bar and window.

A kernel is recognised without importing IPython: only when IPython is already loaded (as it
is in every kernel) and its shell has a kernel (a terminal IPython has none, and keeps the
tqdm bar). Each display is created once with ``display_id=True`` and then changed through its
handle (``update_display_data`` messages, which a frontend applies to the output already
shown), so a run of any length leaves one progress line and one picture in the cell's output.
The progress line is an ``ipywidgets.HTML`` widget when ipywidgets is importable (updated by
widget messages) and a plain HTML display otherwise; at the end it becomes plain HTML either
way, so that a saved or converted notebook shows the final line without widget state. The
picture is matplotlib's (``mlp.plotting.curves``), printed to PNG by Agg. Both are throttled
by wall time: the progress line at most ``PROGRESS_SECONDS`` apart, the picture at most every
``FIGURE_SECONDS`` and never more than ``FIGURE_SHARE`` of the run's time (a drawing is due
when the drawings so far and one more like the last fit in that share of the time since the
display began), whatever ``plot_every`` says; the last epoch is always shown.
"""

from __future__ import annotations

import base64
import html
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from mlp.history import History

PROGRESS_SECONDS = 0.2
"""Least wall time between two updates of the progress line."""
FIGURE_SECONDS = 0.3
"""Least wall time between two drawings of the live curves."""
FIGURE_SHARE = 0.05
"""Largest share of the wall time the live curves may take, the last epoch's drawing aside
(``Throttle``)."""

Display = Callable[..., Any]
"""``IPython.display.display``'s signature: ``display(bundle, raw=True, display_id=True)``
returns a handle with ``update(bundle, raw=True)``."""


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (ipykernel's shell).

    Found without importing IPython when it is not loaded already.

    Returns
    -------
    bool
        True in a kernel; False in a script, a terminal IPython or a test.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _ipython_display() -> Display:
    from IPython.display import display  # loaded already: in_kernel() said so

    return display


class Throttle:
    """Says when something may be shown again, so that showing it takes a bounded share of
    the wall time.

    A showing is due once ``least`` seconds have passed since the last one began, and when
    the time spent showing so far, plus one more showing as long as the last (``first``
    seconds before any), is at most ``share`` of the time since the throttle was made.

    Parameters
    ----------
    least : float
        The least number of seconds between the starts of two showings.
    share : float
        The largest share of the wall time the showings may take (1 leaves only ``least``).
    first : float
        What the first showing is expected to cost; 0 makes it due at once.

    Examples
    --------
    >>> throttle = Throttle(0.3, share=0.05)
    >>> throttle.due()
    True
    """

    def __init__(self, least: float, share: float = 1.0, first: float = 0.0) -> None:
        self.least, self.share = least, share
        self.began = time.monotonic()
        self.spent = self.next = 0.0
        self.last = first

    def due(self) -> bool:
        """Whether the next showing may happen now.

        Returns
        -------
        bool
            True when the least wait is over and one more showing fits in the share.
        """
        now = time.monotonic()
        return now >= self.next and self.spent + self.last <= self.share * (now - self.began)

    def shown(self, started: float) -> None:
        """Note a showing that began at ``started`` and ended now.

        Parameters
        ----------
        started : float
            ``time.monotonic()`` when the showing began.
        """
        self.last = time.monotonic() - started
        self.spent += self.last
        self.next = started + self.least


class NotebookProgress:
    """One progress line for epochs ``start..total`` of a run: a bar, the epoch, the last
    losses and accuracies, the time spent and the time left.

    Parameters
    ----------
    start, total : int
        The epochs done when the run starts, and the last epoch.
    display : callable, optional
        ``IPython.display.display`` by default (another function of its signature shows
        the same messages elsewhere, as the bench does).
    widget : bool, optional
        Show an ``ipywidgets.HTML`` widget; by default when ipywidgets is importable.
    """

    def __init__(self, start: int, total: int, display: Display | None = None,
                 widget: bool | None = None) -> None:
        self.start, self.total = start, total
        self.display = display if display is not None else _ipython_display()
        self.throttle = Throttle(PROGRESS_SECONDS)
        self.started = time.monotonic()
        self.row: dict[str, Any] | None = None
        self.widget = _html_widget() if widget is None or widget else None
        if widget and self.widget is None:
            raise ImportError("the progress widget needs ipywidgets")
        bundle = self._bundle(done=False)
        if self.widget is not None:
            self.widget.value = bundle["text/html"]
            self.handle = self.display(self.widget, display_id=True)
        else:
            self.handle = self.display(bundle, raw=True, display_id=True)

    def epoch(self, row: dict[str, Any]) -> None:
        """Note a finished epoch; shown when the throttle allows or when it is the last.

        Parameters
        ----------
        row : dict
            The epoch's History row (``epoch``, ``train_loss``, ``val_loss``, ...).
        """
        self.row = row
        if row["epoch"] >= self.total or self.throttle.due():
            self._show(done=False)

    def close(self) -> None:
        """Show the final line, as plain HTML (a widget is closed after it is replaced)."""
        bundle = self._bundle(done=True)
        self.handle.update(bundle, raw=True)
        if self.widget is not None:
            self.widget.close()
            self.widget = None

    def _show(self, done: bool) -> None:
        started = time.monotonic()
        bundle = self._bundle(done)
        if self.widget is not None:
            self.widget.value = bundle["text/html"]
        else:
            self.handle.update(bundle, raw=True)
        self.throttle.shown(started)

    def _bundle(self, done: bool) -> dict[str, str]:
        """The line as ``text/plain`` and ``text/html``."""
        row = self.row
        epoch = self.start if row is None else row["epoch"]
        elapsed = time.monotonic() - self.started
        parts = [f"epoch {epoch}/{self.total}"]
        if row is not None:
            parts += [f"{name} {value}" for name, value in row_scores(row).items()]
        if done:
            parts.append(f"{tqdm.format_interval(elapsed)} in all")
        else:
            parts.append(f"{tqdm.format_interval(elapsed)} elapsed")
            if epoch > self.start:
                left = elapsed / (epoch - self.start) * (self.total - epoch)
                parts.append(f"{tqdm.format_interval(left)} left")
        text = "  ".join(parts)
        bar = (f'<progress value="{epoch}" max="{self.total}" '
               'style="width:12em;vertical-align:middle"></progress>')
        line = " &middot; ".join(html.escape(part) for part in parts)
        return {"text/plain": text,
                "text/html": f'<div class="mlp-progress" style="font-family:monospace">'
                             f"{bar} {line}</div>"}


def row_scores(row: dict[str, Any]) -> dict[str, str]:
    """The losses and accuracies of a History row, formatted, None ones left out.

    The notebook's progress line shows them, and the terminal bar
    (``mlp.training.progress``) all but ``acc``.

    Parameters
    ----------
    row : dict
        A History row: ``train_loss``, and ``val_loss``, ``train_accuracy``,
        ``val_accuracy`` when not None.

    Returns
    -------
    dict of str to str
        ``loss``, ``val_loss``, ``acc``, ``val_acc`` as present, formatted.

    Examples
    --------
    >>> row_scores({"train_loss": 0.41234, "val_loss": None, "train_accuracy": 0.9})
    {'loss': '0.4123', 'acc': '0.9000'}
    """
    shown = {"loss": f"{row['train_loss']:.4g}"}
    if row.get("val_loss") is not None:
        shown["val_loss"] = f"{row['val_loss']:.4g}"
    if row.get("train_accuracy") is not None:
        shown["acc"] = f"{row['train_accuracy']:.4f}"
    if row.get("val_accuracy") is not None:
        shown["val_acc"] = f"{row['val_accuracy']:.4f}"
    return shown


def _html_widget() -> Any:
    """An empty ``ipywidgets.HTML``, or None when ipywidgets cannot be imported."""
    try:
        from ipywidgets import HTML
    except ImportError:
        return None
    return HTML()


class NotebookCurves:
    """The live curves of a run as one picture in the cell's output, redrawn in place.

    Each drawing is ``mlp.plotting.curves.curves_png``: the matplotlib figure of
    ``curves_figure`` printed to PNG bytes by Agg,
    sent in an ``image/png`` bundle, first with ``display(..., display_id=True)``, then
    through the handle's ``update``. Drawings are throttled (``FIGURE_SECONDS`` apart at
    least, at most ``FIGURE_SHARE`` of the wall time); the final one always happens.

    Parameters
    ----------
    every : int
        Redraw when the last epoch is a multiple of ``every`` (and the throttle allows).
    title : str, optional
        The picture's title, normally the run's name.
    display : callable, optional
        ``IPython.display.display`` by default.
    """

    def __init__(self, every: int = 1, title: str | None = None,
                 display: Display | None = None) -> None:
        self.every, self.title = every, title
        self.display = display if display is not None else _ipython_display()
        self.throttle = Throttle(FIGURE_SECONDS, FIGURE_SHARE)
        self.handle: Any = None
        self.drawn: tuple[int, int | None] | None = None  # the last picture's epoch, mark

    def update(self, history: History, final: bool = False,
               stopped_early_at: int | None = None) -> None:
        """Redraw if the last epoch is due and the throttle allows (always when ``final``).

        Parameters
        ----------
        history, final, stopped_early_at
            As ``LivePlot.update`` (``mlp.plotting.figures``) passes them on; an epoch drawn
            already is not drawn again.
        """
        if not len(history):
            return
        if not final and (history.epoch[-1] % self.every or not self.throttle.due()):
            return
        drawn = (history.epoch[-1], stopped_early_at)
        if drawn == self.drawn:  # the final drawing of an epoch shown already
            return
        from mlp.plotting.curves import curves_png  # matplotlib loads only to draw

        started = time.monotonic()
        png = curves_png(history, title=self.title, stopped_early_at=stopped_early_at)
        bundle = {"image/png": base64.b64encode(png).decode("ascii"),
                  "text/plain": f"<training curves, epoch {history.epoch[-1]}>"}
        if self.handle is None:
            self.handle = self.display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
        self.throttle.shown(started)
        self.drawn = drawn

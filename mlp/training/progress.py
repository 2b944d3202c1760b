"""What a person sees while a run trains: a progress bar on a terminal, one progress line
updated in place in a Jupyter kernel (``plotting.notebook``), one plain line per epoch otherwise,
log lines that never break into the bar, and the run's curves: the run folder's
``curves.png`` drawn at the end of a run and after the checkpoint saves of the cadence (those
taking at most ``CURVES_SHARE`` of the wall time), and the live plot when asked for.

On a terminal (standard error is a TTY) a tqdm bar counts epochs and shows the last losses;
console log lines (the root logger's and the "mlp" logger's) are written through the bar
(``logging_redirect_tqdm``), and the bar ends at the last epoch done (early stopping
included). Elsewhere (a pipe, a file, CI) each
``log_every``-th epoch is one log line: epoch, losses, accuracies, lr and seconds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlp.history import History
from mlp.plotting.notebook import FIGURE_SHARE, NotebookProgress, Throttle, in_kernel, row_scores

if TYPE_CHECKING:  # tqdm.auto (asyncio with it) loads when a bar is shown
    from tqdm.auto import tqdm

log = logging.getLogger("mlp")

CURVES_SHARE = FIGURE_SHARE
"""Largest share of the wall time the run folder's drawings by the save cadence may take
(``plotting.notebook.Throttle``): a cadence of a save every epoch redraws ``curves.png`` only
as often as that allows; the default cadence, 30 s, is never slowed."""
FIRST_CURVES_SECONDS = 0.3
"""What the first drawing of a process is expected to cost (loading matplotlib's figure and
Agg modules, a new figure): with a save every epoch, the cadence's first picture waits until
it fits in ``CURVES_SHARE`` (6 s into the run), not the first save."""


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One epoch's log line.

    Parameters
    ----------
    row : dict
        The epoch's History row.
    epochs : int
        The run's total epochs.

    Returns
    -------
    str
        ``epoch 3/20  loss 0.412  val_loss 0.398  val_acc 0.8812  lr 0.001  1.2 s``.
    """
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['train_loss']:.4g}"]
    if row.get("val_loss") is not None:
        parts.append(f"val_loss {row['val_loss']:.4g}")
    if row.get("train_accuracy") is not None:
        parts.append(f"acc {row['train_accuracy']:.4f}")
    if row.get("val_accuracy") is not None:
        parts.append(f"val_acc {row['val_accuracy']:.4f}")
    parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.2f} s"]
    return "  ".join(parts)


class Progress:
    """The display of one ``run`` (see the module docstring); a context manager.

    Parameters
    ----------
    start : int
        The epoch the run starts from.
    total : int
        The epoch it ends at.
    enabled : bool, default True
        False shows nothing (the live plot aside).
    log_every : int, default 1
        Epochs between two log lines when the output is not a terminal.
    live_plot : LivePlot, optional
        Redrawn after each epoch.
    stream : file, optional
        Where the bar goes; standard error by default.
    """

    def __init__(self, start: int, total: int, enabled: bool = True, log_every: int = 1,
                 live_plot: Any = None, stream: Any = None) -> None:
        self.start, self.total, self.enabled, self.log_every = start, total, enabled, log_every
        self.live_plot = live_plot
        self.stream = sys.stderr if stream is None else stream
        self.bar: tqdm | None = None
        self.notebook: NotebookProgress | None = None
        # the run folder's drawings by the cadence
        self.curves = Throttle(0.0, CURVES_SHARE, first=FIRST_CURVES_SECONDS)
        self._stack = contextlib.ExitStack()

    def _is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self) -> Progress:
        if self.enabled and in_kernel():
            self.notebook = NotebookProgress(self.start, self.total)
            self._stack.callback(_best_effort, "the progress display", self.notebook.close)
        elif self.enabled and self._is_terminal():
            from tqdm.auto import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = self._stack.enter_context(
                tqdm(total=self.total, initial=self.start, unit="epoch", dynamic_ncols=True,
                     file=self.stream))
            self._stack.enter_context(logging_redirect_tqdm(loggers=_console_loggers()))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        self.bar = self.notebook = None

    def epoch(self, row: dict[str, Any], history: History) -> None:
        """Show one finished epoch.

        Parameters
        ----------
        row : dict
            The epoch's History row.
        history : History
            The run's History (for the live plot).
        """
        if self.bar is not None:
            self.bar.set_postfix(_postfix(row), refresh=False)
            self.bar.update(row["epoch"] - self.bar.n)
        elif self.notebook is not None:
            _best_effort("the progress display", self.notebook.epoch, row)
        elif self.enabled and (row["epoch"] % self.log_every == 0 or row["epoch"] == self.total):
            log.info("%s", epoch_line(row, self.total))
        if self.live_plot is not None:
            _best_effort("the live plot", self.live_plot.update, history)

    def saved_curves(self, history: History, path: Path, name: str | None) -> None:
        """Redraw the run folder's ``curves.png`` after a save by the cadence, unless one more
        drawing would take the drawings past ``CURVES_SHARE`` of the wall time, or the live
        plot writes that file on its own updates. A failure is a warning."""
        if (self.live_plot is not None and self.live_plot.draws_file) or not self.curves.due():
            return
        started = time.monotonic()
        _best_effort(f"{path}", self._save_curves, history, path, name, None)
        self.curves.shown(started)

    def final_curves(self, history: History, path: Path | None, state: Any,
                     name: str | None) -> None:
        """Write the run's ``curves.png``, or close the live plot, which writes it.

        A failure is a warning, never an exception that replaces another.

        Parameters
        ----------
        history : History
        path : Path or None
            The run folder's ``curves.png``; None (no run folder) only redraws the live
            plot's last epoch.
        state : RunState
            Marks the epoch early stopping ended at.
        name : str or None
            The run's name, the figure's title.
        """
        stopped = history.epoch[-1] if state.stopped_early and len(history) else None
        if path is None:
            if self.live_plot is not None:
                _best_effort("the live plot", lambda: self.live_plot.update(
                    history, final=True, stopped_early_at=stopped))
            return
        if self.live_plot is not None:
            _best_effort("the live plot", lambda: self.live_plot.close(
                history, stopped_early_at=stopped))
            return
        _best_effort(f"{path}", self._save_curves, history, path, name, stopped)

    @staticmethod
    def _save_curves(history: History, path: Path, name: str | None,
                     stopped_early_at: int | None) -> None:
        from mlp.plotting.curves import save_curves  # matplotlib loads only to draw

        save_curves(history, path, title=name, stopped_early_at=stopped_early_at)


def _console_loggers() -> list[logging.Logger]:
    """The loggers whose console handlers print the library's lines: the root logger (where
    ``logging.basicConfig`` puts its handler; "mlp" propagates to it) and "mlp" itself when
    it has a console handler of its own. Redirecting only "mlp" would add a bar-aware handler
    beside root's, and every line would be printed twice, once into the bar."""
    def on_console(handler: logging.Handler) -> bool:
        return (isinstance(handler, logging.StreamHandler)
                and getattr(handler, "stream", None) in (sys.stdout, sys.stderr))

    loggers: list[logging.Logger] = [logging.root]
    if any(on_console(handler) for handler in log.handlers):
        loggers.append(log)
    return loggers


def _best_effort(what: str, function: Any, *args: Any) -> None:
    """``function(*args)``; a failure is logged as a warning (a picture never fails a run)."""
    try:
        function(*args)
    except Exception as exc:  # a picture must never fail a run
        log.warning("could not write %s: %s: %s", what, type(exc).__name__, exc)


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    shown = {name: text for name, text in row_scores(row).items() if name != "acc"}
    shown["lr"] = f"{row['lr']:.3g}"
    return shown

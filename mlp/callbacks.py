"""Callbacks: small hooks that observe a run (``run(model, data, callbacks=[...])``).

A callback's hooks are called at the start of ``run``, after each epoch with the epoch's
History row, and at the end. ``on_epoch_end`` may return True (or raise ``StopTraining``)
to stop after that epoch. Callbacks observe: they are not part of the checkpointed state,
so a resumed run is bit-identical whatever callbacks it had. An exception inside a callback
stops training, with the last completed epoch saved, as ``CallbackError`` naming it.
``CsvLogger`` writes a run folder's ``history.csv`` and ``TensorBoardLogger`` its TensorBoard
scalars (``train.tensorboard: true``); both are callbacks like any other.

``history.csv`` has one row per epoch (``epoch, train_loss, val_loss, train_accuracy,
val_accuracy, lr, seconds``; empty cells where there is no value), appended as the run goes: a
row reaches the file at most a second after its epoch ended, and every row when the run ends,
however it ends. A resumed run continues it: at the start of each run the file is checked
against the checkpoint's history and rebuilt from it when they differ (after a crash between two
saves), so there is never a duplicate or missing row. The TensorBoard scalars (the
``tensorboard`` extra: tensorboardX, no TensorFlow) are ``loss/train``, ``loss/val``,
``accuracy/train``, ``accuracy/val``, ``lr`` and ``seconds_per_epoch``, step = epoch, in the run
folder's ``tensorboard/`` (``tensorboard --logdir ckpt/``); a resumed run purges events past the
checkpoint's epoch.
"""

from __future__ import annotations

import csv
import io
import operator
import time
from pathlib import Path
from typing import Any

from mlp.errors import MLPError
from mlp.history import HISTORY_COLUMNS, History
from mlp.storage import atomic
from mlp.storage.regular_files import read_regular


class StopTraining(Exception):  # noqa: N818 (a request, not an error)
    """Raised by a callback to stop training after the current epoch."""


class CallbackError(MLPError):
    """A callback raised an exception; training stopped after saving the last epoch."""


class Callback:
    """Base class of the hooks that observe a run: every hook does nothing until overridden.

    Pass instances to ``BasicRoutinizer.run(model, data, callbacks=[...])``; ``routinizer``
    is the ``BasicRoutinizer`` running, ``row`` the epoch's History row (``epoch``,
    ``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``, ``lr``,
    ``seconds``; None where a value does not apply).

    Examples
    --------
    Log each epoch with the standard ``logging`` module, to whatever handler the user set up:

    >>> import logging
    >>> from mlp import Callback
    >>> class LogEpochs(Callback):
    ...     def __init__(self, logger: logging.Logger) -> None:
    ...         self.logger = logger
    ...     def on_epoch_end(self, routinizer, row):
    ...         self.logger.info("epoch %d: train loss %.4f", row["epoch"], row["train_loss"])
    >>> callback = LogEpochs(logging.getLogger("my_runs"))

    and train with ``routinizer.run(model, data, callbacks=[callback])``.
    """

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        """Called once per ``run``, before the first epoch of it."""

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> bool | None:
        """Called after each epoch with its History row; True stops training."""
        return None

    def on_train_end(self, routinizer: Any, model: Any) -> None:
        """Called once per ``run`` after the last epoch (and the last save) of it."""


def _format(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


_ROW = operator.itemgetter(*HISTORY_COLUMNS)  #: a History row's values in column order
_MAX_HISTORY_BYTES = 1 << 30  #: a history file larger than this is rebuilt, not read


class CsvLogger(Callback):
    """Appends one row per epoch to ``path`` (columns of ``History``), written to the file at
    most ``flush_seconds`` after its epoch ended (default 1 s) and always when the run ends.

    At the start of a run the file is made to match the run's history (rebuilt from it when
    the file is missing or holds other rows, as after a crash between two saves), so a resumed
    run continues it with no duplicate and no missing row. Rows are held back for up to a
    second because a write per epoch is most of what this file costs a short run of many
    epochs; a process killed in that second loses only rows that its checkpoint does not hold
    either, and the next run rebuilds them.
    """

    def __init__(self, path: str | Path, flush_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self._handle: Any = None  # opened at the first write, kept open for the run
        self._pending: list[tuple[Any, ...]] = []  # rows not yet written
        self._flushed = time.monotonic()

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        history: History = routinizer.history
        expected = [list(HISTORY_COLUMNS)] + [
            [_format(getattr(history, c)[i]) for c in HISTORY_COLUMNS] for i in range(len(history))]
        try:  # a FIFO or a device in its place is not read (and is replaced below)
            text = read_regular(self.path, MLPError, _MAX_HISTORY_BYTES, "history file")
            found = list(csv.reader(io.StringIO(text.decode("utf-8"), newline="")))
        except (MLPError, OSError, UnicodeDecodeError, csv.Error):
            found = None
        self._flushed = time.monotonic()
        if found != expected:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(expected)
            atomic.write_text(self.path, text.getvalue())

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        self._pending.append(_ROW(row))
        now = time.monotonic()
        if now - self._flushed >= self.flush_seconds:
            self._write()
            self._flushed = now

    def _write(self) -> None:
        """Append the rows held back (csv writes None as "", the floats as ``repr``, as
        ``on_train_begin`` does) and flush them to the file."""
        if not self._pending:
            return
        if self._handle is None:
            self._handle = self.path.open("a", newline="", encoding="utf-8")
        csv.writer(self._handle, lineterminator="\n").writerows(self._pending)
        self._handle.flush()
        self._pending.clear()

    def on_train_end(self, routinizer: Any, model: Any) -> None:
        self.close()

    def close(self) -> None:
        """Write what is held back and close the file (the trainer calls it however the run
        ends)."""
        try:
            self._write()
        finally:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


#: the History columns written as TensorBoard scalars, under these tags
_TENSORBOARD_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val",
                     "train_accuracy": "accuracy/train", "val_accuracy": "accuracy/val",
                     "lr": "lr", "seconds": "seconds_per_epoch"}


class TensorBoardLogger(Callback):
    """Each epoch's losses, accuracies, learning rate and seconds as TensorBoard scalar events
    in ``folder`` (step = epoch), written with tensorboardX (the ``tensorboard`` extra), no
    TensorFlow needed. A resumed run purges events past the checkpoint's epoch, so a crash
    between two saves leaves no duplicate steps."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.writer: Any = None

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        try:
            from tensorboardX import SummaryWriter  # an optional extra, loaded when asked for
        except ImportError as exc:
            raise MLPError("train.tensorboard needs tensorboardX: pip install "
                           "'mlp-routinizer[tensorboard]'") from exc
        done = routinizer.state.epoch
        self.writer = SummaryWriter(logdir=str(self.folder),
                                    purge_step=done + 1 if done else None)

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        for column, tag in _TENSORBOARD_TAGS.items():
            if row.get(column) is not None:
                self.writer.add_scalar(tag, row[column], row["epoch"])
        self.writer.flush()

    def on_train_end(self, routinizer: Any, model: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the event file (the trainer calls it however the run ends)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

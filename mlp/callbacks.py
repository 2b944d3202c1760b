"""Callbacks: small hooks that observe a run (``run(model, data, callbacks=[...])``).

A callback's hooks are called at the start of ``run``, after each epoch with the epoch's
History row, and at the end. ``on_epoch_end`` may return True (or raise ``StopTraining``)
to stop after that epoch. Callbacks observe: they are not part of the checkpointed state,
so a resumed run is bit-identical whatever callbacks it had. An exception inside a callback
stops training, with the last completed epoch saved, as ``CallbackError`` naming it.
``CsvLogger`` writes a run folder's ``history.csv`` and ``TensorBoardLogger`` its TensorBoard
scalars (``train.tensorboard: true``); both are callbacks like any other.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mlp import atomic
from mlp.errors import MLPError
from mlp.history import HISTORY_COLUMNS, History


class StopTraining(Exception):  # noqa: N818 (a request, not an error)
    """Raised by a callback to stop training after the current epoch."""


class CallbackError(MLPError):
    """A callback raised an exception; training stopped after saving the last epoch."""


class Callback:
    """Base class: every hook does nothing. ``routinizer`` is the ``BasicRoutinizer``."""

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


class CsvLogger(Callback):
    """Appends one row per epoch to ``path`` (columns of ``History``), flushed each epoch.

    At the start of a run the file is made to match the run's history (rebuilt from it when
    the file is missing or holds other rows, as after a crash between two saves), so a resumed
    run continues it with no duplicate and no missing row.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: Any = None  # kept open for the run: one write and flush an epoch

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        history: History = routinizer.history
        expected = [list(HISTORY_COLUMNS)] + [
            [_format(getattr(history, c)[i]) for c in HISTORY_COLUMNS] for i in range(len(history))]
        try:
            with self.path.open(newline="", encoding="utf-8") as handle:
                found = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error):
            found = None
        if found != expected:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(expected)
            atomic.write_text(self.path, text.getvalue())

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = self.path.open("a", newline="", encoding="utf-8")
        csv.writer(self._handle, lineterminator="\n").writerow(
            [_format(row[c]) for c in HISTORY_COLUMNS])
        self._handle.flush()

    def on_train_end(self, routinizer: Any, model: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (the trainer calls it however the run ends)."""
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

"""SIGINT and SIGTERM during training: noted, never acted on half way.

``DeferredSignals`` replaces the two handlers for the duration of a ``with`` block (in the
main thread; elsewhere it does nothing): a signal only sets ``received``. The trainer checks
it between batches, writes the last completed epoch's checkpoint and raises
``TrainingInterrupted``, so a save is never cut half way and a signal that lands during a save
is acted on right after it. A second signal of the same kind while the first is handled is
taken as insistence and raises ``KeyboardInterrupt`` at once.

What a person sees: the batch loop stops, the last completed epoch is saved (a signal that lands
during a save waits for the rename), ``curves.png`` is drawn, and one line says ``interrupted
after epoch N of M; continue with: mlp resume <folder>``. The command's exit status is 130 for
SIGINT and 143 for SIGTERM; no temporary file is left, and the resumed run ends bit-identical to
one never interrupted. From Python the same stop raises ``TrainingInterrupted`` (a
``KeyboardInterrupt``). SIGINT and SIGTERM, the only signals handled, exist on Windows too.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM after saving the last completed epoch.

    ``signum`` is the signal, ``epoch`` and ``epochs`` where the run stands, ``folder`` the
    run folder (None without checkpoints) and ``resume`` the call that continues the run
    (``RunFolder.resume_command``; ``mlp resume FOLDER`` when not given); ``exit_code`` is
    128 + ``signum`` (130, 143)."""

    def __init__(self, signum: int, epoch: int, epochs: int, folder: Path | None,
                 resume: str | None = None) -> None:
        self.signum, self.epoch, self.epochs, self.folder = signum, epoch, epochs, folder
        text = f"interrupted after epoch {epoch} of {epochs}"
        if folder is not None:
            self.resume = resume or f"mlp resume {folder}"
            text += f"; continue with: {self.resume}"
            if epoch == 0 and self.resume.startswith("mlp resume"):  # from config.json
                text += " (no epoch was saved, so it starts over from epoch 0)"
        else:
            self.resume = None
        super().__init__(text)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


class DeferredSignals:
    """Notes SIGINT/SIGTERM in ``received`` (the signal number, 0 for none) while active."""

    def __init__(self) -> None:
        self.received = 0
        self._previous: dict[int, Any] = {}

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.received == signum:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

"""The journal file of a sweep's study, checked before Optuna reads it.

Optuna's journal is one JSON record a line, appended under its lock. A process killed in
the middle of an append, or a disk that fills during one, leaves a last line cut short;
Optuna skips it while reading, then appends the next record right after it, which makes
a line that is not JSON, and from then on every read of the study fails with a bare
``JSONDecodeError``. ``repair_journal`` cuts such a torn last line off (under the journal's
lock, with a one-line warning naming the file), and refuses a journal damaged anywhere
else, naming the file and the line.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from mlp.errors import MLPError

try:  # Optuna >= 4.0
    from optuna.storages.journal import JournalFileSymlinkLock
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import JournalFileSymlinkLock

log = logging.getLogger("mlp")


class JournalDamaged(MLPError):
    """A study journal with a line that is not a record (other than a torn last line)."""


def repair_journal(path: Path) -> None:
    """Check a study journal, removing a torn last line.

    Nothing to do when there is none. Holds the lock Optuna's journal backend appends under
    (its default ``JournalFileSymlinkLock``), so that no record is being appended meanwhile.

    Parameters
    ----------
    path : Path
        The journal file.

    Raises
    ------
    JournalDamaged
        Naming the file and the first line that is not a JSON record.
    """
    if not path.is_file():
        return
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        _repair(path)
    finally:
        lock.release()


def _repair(path: Path) -> None:
    whole = 0  # bytes up to the end of the last complete line
    with open(path, "rb") as journal:
        for number, line in enumerate(journal, start=1):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise JournalDamaged(
                    f"{path}: line {number} is not a study record ({_short(exc)}); the "
                    "study cannot be read: move the file away to start the sweep over")\
                    from None
            if not isinstance(record, dict):
                raise JournalDamaged(f"{path}: line {number} is not a study record (a JSON "
                                     f"{type(record).__name__}); move the file away to "
                                     "start the sweep over")
            whole += len(line)
    torn = path.stat().st_size - whole
    if torn > 0:
        os.truncate(path, whole)
        log.warning("%s: removed a torn last line (%d bytes, cut short by an interrupted "
                    "write); the study continues from the records before it", path, torn)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 100 else text[:97] + "..."

"""``ProcessLock``: an exclusive lock between the processes of one machine, on a file.

The lock is filelock's ``FileLock``, which takes the platform's own lock: ``flock`` where the
``fcntl`` module exists (Linux, macOS, the BSDs) and ``LockFileEx`` on Windows. The operating
system releases either when the holder's process ends, however it ends (SIGKILL included),
so such a lock is never left behind.

Where neither exists (no ``fcntl`` on a platform that is not Windows), filelock falls back to
its soft lock, and so does this module: the lock file is created exclusively (``O_EXCL``),
holds the holder's process id and host name, and is removed on release. A second process is
refused just the same. A holder killed before it released leaves the file behind; the next
process that asks for the lock reads the process id in it and, when no such process runs on
this host, removes the file and takes the lock. A soft lock left by a process of another host
(a folder shared over the network) is never taken over: remove the lock file once that
process has gone. The two kinds do not see each other, so the processes that share a folder
must all be of one platform, as those of one machine are.

The holder's process id is also written to a file beside the lock (``<lock>.pid``) once the
lock is taken, and removed before it is released, so that a refused process can say who holds
the lock on every platform: Windows does not let another process read a locked file, and
filelock's native locks do not keep what is written in the lock file.

Platforms: the library is tested on Linux and the package metadata claims no more, but it makes
no POSIX-only call: its locks go through filelock, the data-path guard uses
``os.set_blocking``, and SIGINT and SIGTERM exist on Windows too (``tests/test_portable.py``
runs the library with the POSIX-only modules and calls taken away).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

with warnings.catch_warnings():  # the soft fallback is documented above, not news at import
    warnings.filterwarnings("ignore", message="only soft file lock is available")
    import filelock

POLL_SECONDS = 0.01  #: how often a blocking ``acquire`` tries again while the lock is held


class ProcessLock:
    """An exclusive lock on ``path`` (created when missing, its folder must exist), held by
    this process from ``acquire`` to ``release`` or to its end; not re-entrant."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.holder_file = self.path.with_name(self.path.name + ".pid")
        self._lock = filelock.FileLock(str(self.path))

    def __repr__(self) -> str:
        return f"ProcessLock({str(self.path)!r})"

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock: wait for it (``blocking``), or return False at once when another
        process holds it. True once taken."""
        # filelock 3.x removes a dead holder's soft lock in one attempt and takes the lock in
        # the next: a try that must not wait makes two
        for _ in range(1 if blocking else 2):
            with contextlib.suppress(filelock.Timeout):
                self._lock.acquire(blocking=blocking, poll_interval=POLL_SECONDS)
                break
        else:
            return False
        with contextlib.suppress(OSError):  # only a refused process's message would miss it
            self.holder_file.write_text(f"{os.getpid()}\n", encoding="ascii")
        return True

    def release(self) -> None:
        """Give the lock up (its holder file first, so that it never names the next holder)."""
        with contextlib.suppress(OSError):  # Windows: a refused process is reading it
            self.holder_file.unlink(missing_ok=True)
        self._lock.release()

    def holder(self) -> int | None:
        """The process id of the lock's holder, None when not known."""
        try:
            text = self.holder_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

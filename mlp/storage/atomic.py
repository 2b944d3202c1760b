"""Files replaced atomically: written beside their target under a temporary name, fsynced,
renamed over it, and the folder fsynced, so a reader sees the old file or the new one and a
crash leaves at most a temporary file, which the next locked writer of the folder removes.

Temporary names are ``.<target name>.<8 random hex digits>.tmp``. Files are created with
mode 0666 less the umask (0644 usually), like any file a program writes.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


def temp_path(path: Path) -> Path:
    """The temporary name a write of ``path`` uses (matches ``TEMP_PATTERN``).

    Parameters
    ----------
    path : Path
        The file to be written.

    Returns
    -------
    Path
        A hidden name beside it, ``.<name>.<8 hex digits>.tmp``.
    """
    return path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"


def write_bytes(path: str | Path, payload: bytes) -> Path:
    """Put ``payload`` at ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        The file written.
    payload : bytes
        Its contents.

    Returns
    -------
    Path
        ``path``, its contents replaced.

    Raises
    ------
    OSError
        When it cannot (``ENOSPC`` for a full disk); then ``path`` is unchanged and no
        temporary file is left.
    """
    path = Path(path)
    temp = temp_path(path)
    # O_BINARY: Windows would write "\n" as "\r\n" in text mode (the flag exists only there)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                if written == 0:  # pragma: no cover - os.write raises ENOSPC instead
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(temp))
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``write_bytes`` of ``text`` in UTF-8.

    Parameters
    ----------
    path : str or Path
        The file written, as ``write_bytes`` writes it.
    text : str
        Its contents, encoded in UTF-8.

    Returns
    -------
    Path
        ``path``.
    """
    return write_bytes(path, text.encode("utf-8"))


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX only: Windows cannot open folders).

    Parameters
    ----------
    folder : Path
        The folder the rename happened in.
    """
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path) -> None:
    """Remove the temporary files of earlier interrupted writes in ``folder``.

    Call it only while holding the folder's lock: another writer's live temporary file looks
    the same.

    Parameters
    ----------
    folder : Path
        The folder cleaned.
    """
    for entry in folder.iterdir():
        if TEMP_PATTERN.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)

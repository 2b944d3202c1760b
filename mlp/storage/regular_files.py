"""Opening an input file that must be a regular file, without ever blocking on one that is not.

A data path may name a FIFO (whose ``open`` blocks until a writer comes), a device such as
``/dev/zero`` (an endless stream) or a socket. Every reader of user inputs opens through
``open_regular``: the file is opened with ``O_NONBLOCK`` (so opening a FIFO returns at once),
``fstat`` of the open descriptor (not of the name, which could be swapped in between) must say
it is a regular file, and only then is the descriptor handed over as a binary file object in
blocking mode (``os.set_blocking``, no ``fcntl`` module needed). Anything else is the caller's
error class naming the path and what it is. Windows has no ``O_NONBLOCK`` and no FIFO at a
path (its named pipes live in a namespace of their own); there the file is opened as it is,
and the same ``fstat`` check refuses devices (``NUL``, ``CON``) before anything is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from mlp.errors import MLPError

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  #: POSIX only
#: Windows opens files in text mode without ``O_BINARY``; elsewhere files are bytes anyway
_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What ``st_mode`` says a file is, in words (``"a regular file"``, ``"a FIFO ..."``).

    Parameters
    ----------
    mode : int
        A ``st_mode``.

    Returns
    -------
    str
    """
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path, error: type[MLPError]) -> BinaryIO:
    """``path`` opened for binary reading, once it is known to be a regular file.

    Parameters
    ----------
    path : str or Path
        The file.
    error : type of MLPError
        The error raised (``DataError``, ``CheckpointError``, ...), naming the path.

    Returns
    -------
    BinaryIO
        The open file.

    Raises
    ------
    MLPError
        ``error``, when the path does not exist, cannot be opened, or is not a regular file
        (FIFOs, devices, sockets, folders).
    """
    path = Path(path)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError as exc:
        raise error(f"{path}: no such input file") from exc
    except OSError as exc:
        raise error(f"{path}: cannot be opened ({exc.strerror or exc})") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path}: expected a regular file, found {kind_of(mode)}; "
                        "streams and devices are not read as data")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path, error: type[MLPError]) -> int:
    """The size in bytes of ``path`` after ``open_regular``'s checks (the file is closed again).

    For readers such as HDF5 that open the path themselves.

    Parameters
    ----------
    path, error
        The file and the error class, as ``open_regular`` takes them.

    Returns
    -------
    int
        The size in bytes.
    """
    with open_regular(path, error) as handle:
        return os.fstat(handle.fileno()).st_size


def read_regular(path: str | Path, error: type[MLPError], max_bytes: int, what: str) -> bytes:
    """The bytes of ``path`` after ``open_regular``'s checks, at most ``max_bytes`` of them.

    Parameters
    ----------
    path, error
        As ``open_regular``.
    max_bytes : int
        The largest file read.
    what : str
        The kind of file, for the message (``"history file"``).

    Returns
    -------
    bytes
        The contents.

    Raises
    ------
    MLPError
        ``error``, as ``open_regular`` raises it, or for a file larger than ``max_bytes``
        (also when it grew while being read).
    """
    with open_regular(path, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise error(f"{path}: a {what} of {size} bytes, more than the {max_bytes} bytes "
                        f"a {what} may have")
        data = handle.read(size + 1)  # a buffer of the file's size, not of the limit
        if len(data) > size:  # grown since: the rest, up to the limit
            data += handle.read(max_bytes - len(data) + 1)
        if len(data) > max_bytes:
            raise error(f"{path}: a {what} of more than {max_bytes} bytes (it grew while "
                        "being read)")
        return data


def check_output(path: str | Path, error: type[MLPError]) -> None:
    """Refuse an output path that exists and is not a regular file.

    An output written there would block on a FIFO, or go to a device, instead of becoming a
    file.

    Parameters
    ----------
    path : str or Path
        The output path.
    error : type of MLPError
        The error raised (``DataError``, ``CheckpointError``, ...), naming the path.

    Raises
    ------
    MLPError
        ``error``, for such a path or one that cannot be examined.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise error(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(mode):
        raise error(f"{path}: expected a regular file or a new name to write, found "
                    f"{kind_of(mode)}")

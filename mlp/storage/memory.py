"""How much memory a request may take, checked before the allocation is made.

A config, a data file or a checkpoint can ask for any size (``model.hidden=[100000000]``,
an ``.npz`` member declaring gigabytes in a few bytes). ``check_bytes`` compares such a
request with what this process can still get (the memory the system reports as available,
and the room left under an address-space limit set with ``ulimit -v``) and refuses it as a
``ResourceError`` naming who asked; ``allocating`` turns a ``MemoryError`` or
``OverflowError`` that happens all the same into that error.

Too much is one line, ``ResourceError: ... needs 9.6 GB of memory, more than the 3.03 GB
available``, exit 2. Other limits on what an input may ask for: a model has at most 2048
modules (2047 ``hidden`` widths); a CSV class label at most 1024 characters
(``data.max_label_chars``); a config or sweep file at most 64 MiB; ``MLP_KERNEL_THREADS`` at most
max(64, 8 × cores). Configs, sweep files, journals, export targets and history files must be
regular files: a FIFO or a device is refused, never waited on. Non-finite hyperparameters
(``Infinity``, ``NaN``) are refused when a config is read; a full model spec's ``weight`` and
``bias`` are the initial weights (both or neither). ``mlp predict`` reads and predicts 65,536
rows at a time and prints one line per input, non-printable characters in labels escaped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlp.errors import ResourceError

try:  # POSIX only: where it is missing there is no address-space limit to respect
    import resource
except ImportError:
    resource = None  # type: ignore[assignment]

_MEMINFO = Path("/proc/meminfo")
_STATUS = Path("/proc/self/status")


def _meminfo_kib(path: Path, key: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes() -> int | None:
    """Bytes this process can still allocate: the system's available memory, lowered to the
    room left under ``RLIMIT_AS`` when one is set; None when neither can be known."""
    found: list[int] = []
    available = _meminfo_kib(_MEMINFO, "MemAvailable")
    if available is None and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1024
    if available is not None:
        found.append(available * 1024)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS) if resource else (None, None)
    if resource and soft != resource.RLIM_INFINITY:
        used = _meminfo_kib(_STATUS, "VmSize")
        found.append(max(0, soft - (used or 0) * 1024))
    return min(found) if found else None


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


def check_bytes(nbytes: int, what: str) -> None:
    """``ResourceError`` when ``nbytes`` (what ``what`` asks for, e.g. ``"model.hidden: the
    weights"``) exceed the memory this process can still get."""
    room = available_bytes()
    if room is not None and nbytes > room:
        raise ResourceError(f"{what} needs {_size(nbytes)} of memory, more than the "
                            f"{_size(room)} available")


@contextlib.contextmanager
def allocating(what: str) -> Iterator[None]:
    """Run the block, turning a ``MemoryError`` or ``OverflowError`` (a size past what
    NumPy or the machine can hold) into a ``ResourceError`` naming ``what`` asked."""
    try:
        yield
    except ResourceError:
        raise
    except MemoryError as exc:
        raise ResourceError(f"{what}: out of memory ({exc or 'no detail'})") from exc
    except OverflowError as exc:
        raise ResourceError(f"{what}: a size too large to hold ({exc})") from exc

"""OpenBLAS's idle worker threads, made to sleep soon after each matrix product.

OpenBLAS (the BLAS of NumPy's wheels) runs a matrix product on the calling thread and
``cores - 1`` workers. After its share a worker does not sleep: it spins, holding its core, for
``2**OPENBLAS_THREAD_TIMEOUT`` TSC ticks (28 unless set: about 0.1 s here), a value OpenBLAS reads
once, when NumPy loads it. A training step runs half a millisecond or less of other work between
products, so during training a worker never sleeps: it spins through every gap, and the cores
look fully busy to the scheduler. Whatever else wants a core then preempts one of our two
threads, and a product whose other half waits for a preempted thread waits a whole time slice
(OpenBLAS's own waits spin too). Measured on two shared cores (``scripts/bench.py``'s
docstring): the worker burns as much CPU time as the main thread, and W1 epochs of one process
differ up to twofold from another's.

``settle`` shortens that spin to ``2**SPIN_EXPONENT`` ticks (about 25 µs: long enough to bridge
products that follow one another, short enough to sleep through the step) by re-reading the
setting (``openblas_read_env``) and restarting the workers (``blas_thread_shutdown_``, as
OpenBLAS does after a fork; the next product starts them again). It does so once per process,
from the main thread (restarting workers while another thread is inside a product would hang
it), and only where NumPy's OpenBLAS runs its own pthreads (not OpenMP) and exports those
functions; a timeout already at or below ``SPIN_EXPONENT`` is kept. Products are split over the
same threads the same way, so every result is the same bit for bit.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

__all__ = ["SPIN_EXPONENT", "settle"]

#: idle OpenBLAS workers spin 2**SPIN_EXPONENT TSC ticks after a product, then sleep
SPIN_EXPONENT = 16

_SYMBOLS = ("openblas_thread_timeout", "openblas_read_env", "blas_thread_shutdown_")
#: ``openblas_get_parallel`` under the names builds give it (scipy-openblas prefixes, ILP64)
_PARALLEL = ("openblas_get_parallel", "openblas_get_parallel64_", "scipy_openblas_get_parallel",
             "scipy_openblas_get_parallel64_")
_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
_lock = threading.Lock()
_result: list[int | None] = []  #: what settle found, once it ran


def _numpy_openblas() -> ctypes.CDLL | None:
    """NumPy's OpenBLAS, opened again by the path it is mapped from (the same library, not a
    second copy), when it exports what ``settle`` calls; None elsewhere (no ``/proc``, another
    BLAS, or more than one OpenBLAS and none of them NumPy's own)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if "openblas" in line}
    except OSError:
        return None
    paths = {path for path in paths if path.startswith("/")}
    numpy_home = Path(np.__file__).parent
    own = {path for path in paths if Path(path).parent.name in (numpy_home.name + ".libs",
                                                                 ".dylibs")}
    chosen = own or (paths if len(paths) == 1 else set())
    if len(chosen) != 1:
        return None
    try:
        library = ctypes.CDLL(chosen.pop())
    except OSError:
        return None
    if not all(hasattr(library, name) for name in _SYMBOLS):
        return None
    parallel = next((getattr(library, name) for name in _PARALLEL if hasattr(library, name)),
                    None)
    if parallel is None or parallel() != 1:  # 1: its own pthreads (OpenMP's spin is not its)
        return None
    return library


def _timeout(library: ctypes.CDLL) -> int:
    """OpenBLAS's idle-spin exponent as it read it (0: unset, its default 28)."""
    return int(library.openblas_thread_timeout())


def _settle() -> int | None:
    library = _numpy_openblas()
    if library is None:
        return None
    current = _timeout(library)
    if 1 <= current <= SPIN_EXPONENT:
        return max(current, 4)  # OpenBLAS raises values below 4 to 4
    previous = os.environ.get(_VARIABLE)
    os.environ[_VARIABLE] = str(SPIN_EXPONENT)
    try:
        library.openblas_read_env()
        library.blas_thread_shutdown_()
        np.dot(np.ones((256, 256)), np.ones((256, 256)))  # start the workers with the new value
    finally:
        if previous is None:
            del os.environ[_VARIABLE]
        else:
            os.environ[_VARIABLE] = previous
    return _timeout(library) or None


def settle() -> int | None:
    """Make NumPy's OpenBLAS workers sleep ``2**SPIN_EXPONENT`` ticks after a product (see the
    module docstring); returns the spin exponent in force, or None when it is not known to be
    short (another BLAS, or called from a thread other than the main one before the main
    thread did it)."""
    if _result or threading.current_thread() is not threading.main_thread():
        return _result[0] if _result else None
    with _lock:
        if not _result:
            _result.append(_settle())
    return _result[0]

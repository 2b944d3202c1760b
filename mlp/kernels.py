"""Compiled one-pass kernels for the training hot path, with NumPy as the fallback.

An optimizer step written with NumPy ufuncs is 3 to 14 passes over every parameter, the
ReLU backward is two passes over the activations, and the ReLU forward ``np.maximum(x, 0)``
is one pass that NumPy 2 does not vectorise (a scalar operand of ``maximum`` misses its
SIMD loop: 78 µs against 12 µs compiled for a 128x512 float32 batch). When
`numba <https://numba.pydata.org>`_ is installed (the ``fast`` extra:
``pip install "mlp-routinizer[fast]"``) these are compiled into one loop each, which LLVM
vectorises.

The compiled kernels perform exactly the floating-point operations of the NumPy rules in
``mlp.optim`` and ``mlp.layers``, in the same order and precision, without contraction into
fused multiply-adds and without fast-math; so both paths give bit-identical results and a
run may be resumed with or without numba. Tests check this bit for bit.

The backend is chosen once, from the environment variable ``MLP_KERNELS``:

- ``auto`` (the default): numba when it can be imported, else NumPy;
- ``numba``: numba, and an error if it is missing;
- ``numpy``: always the NumPy path.

``set_backend`` changes it at run time. Kernels are compiled on first use per dtype (about a
second each) and cached on disk by numba, so later processes load them in milliseconds.

An optimizer step over a large network (``_SPLIT_MIN`` elements or more) can be split into
contiguous chunks run by several threads; every element is updated alone, so the result is
the same bit for bit. It pays only when the cores are free: OpenBLAS's idle workers spin
for 2**28 cycles after each matrix product unless ``OPENBLAS_THREAD_TIMEOUT`` (read when
NumPy loads OpenBLAS) says otherwise, and a spinning worker takes the second core from the
split. ``MLP_KERNEL_THREADS`` (or ``set_threads``) chooses the count:

- ``auto`` (the default): two threads when there are two cores or more and
  ``OPENBLAS_THREAD_TIMEOUT`` is set from 1 to 16 (idle workers sleep within 2**16 cycles);
  otherwise one;
- a positive integer: that many threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from mlp.errors import MLPError

__all__ = ["Backend", "backend", "relu_backward", "relu_forward", "set_backend", "set_threads",
           "threads", "update", "warm_up"]

Backend = Literal["auto", "numba", "numpy"]

_state: dict[str, Any] = {"choice": None, "numba": None, "compiled": {}, "threads": None,
                          "pool": None, "pool_key": None}
_RELU_MIN = 1 << 14  #: elements below which NumPy's ReLU passes beat a call into a kernel
_SPLIT_MIN = 1 << 16  #: elements below which a step stays on one thread (the hand-off costs more)
_ALIGN = 16  #: chunk edges fall on multiples of 16 elements (whole 64-byte cache lines in float32)
_MAX_SPIN_EXPONENT = 16  #: OPENBLAS_THREAD_TIMEOUT at or below which idle workers sleep quickly


def set_backend(choice: Backend) -> str:
    """Select the kernels: ``"auto"``, ``"numba"`` or ``"numpy"``; returns the backend in
    force (``"numba"`` or ``"numpy"``). Raises ``MLPError`` for ``"numba"`` without numba."""
    if choice not in ("auto", "numba", "numpy"):
        raise MLPError(f"MLP_KERNELS / set_backend: expected 'auto', 'numba' or 'numpy', "
                       f"found {choice!r}")
    numba = None
    if choice != "numpy":
        try:
            import numba
        except ImportError as exc:
            if choice == "numba":
                raise MLPError("the numba kernels were requested but numba cannot be "
                               f"imported ({exc}); install the 'fast' extra") from exc
    _state.update(choice=choice, numba=numba, compiled={})
    return backend()


def backend() -> str:
    """The backend in force: ``"numba"`` or ``"numpy"``."""
    if _state["choice"] is None:
        set_backend(os.environ.get("MLP_KERNELS", "auto"))  # type: ignore[arg-type]
    return "numpy" if _state["numba"] is None else "numba"


def set_threads(choice: int | str = "auto") -> int:
    """Threads for one optimizer step: a positive integer or ``"auto"`` (see the module
    docstring); returns the count in force. Raises ``MLPError`` for anything else."""
    if choice == "auto":
        count = _auto_threads(os.environ, _cores())
    else:
        text = str(choice).strip()
        if isinstance(choice, bool) or not text.isdigit() or int(text) < 1:
            raise MLPError(f"MLP_KERNEL_THREADS / set_threads: expected 'auto' or a positive "
                           f"integer, found {choice!r}")
        count = int(text)
    _state["threads"] = count
    return count


def threads() -> int:
    """The number of threads an optimizer step uses (``MLP_KERNEL_THREADS`` at first use)."""
    if _state["threads"] is None:
        set_threads(os.environ.get("MLP_KERNEL_THREADS", "auto"))
    return _state["threads"]


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _auto_threads(environ: Mapping[str, str], cores: int) -> int:
    """Two threads on two cores or more when OpenBLAS's idle workers sleep quickly, else one.
    (OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` 0 as unset, the default 28.)"""
    timeout = environ.get("OPENBLAS_THREAD_TIMEOUT", "").strip()
    if cores < 2 or not timeout.isdigit() or not 1 <= int(timeout) <= _MAX_SPIN_EXPONENT:
        return 1
    return 2


def _launch(kernel: Callable[..., None], arrays: Sequence[np.ndarray],
            scalars: Sequence[Any]) -> None:
    """``kernel(*arrays, *scalars)``, the arrays cut into one contiguous chunk per thread."""
    count, size = threads(), arrays[0].size
    if count == 1 or size < _SPLIT_MIN:
        kernel(*arrays, *scalars)
        return
    edges = [size * k // count // _ALIGN * _ALIGN for k in range(count)] + [size]
    key = (os.getpid(), count - 1)  # a forked child has the pool object but not its threads
    if _state["pool_key"] != key:
        if _state["pool"] is not None and _state["pool_key"][0] == key[0]:
            _state["pool"].shutdown(wait=False)  # the count changed: retire the old workers
        _state.update(pool=ThreadPoolExecutor(count - 1, thread_name_prefix="mlp-kernels"),
                      pool_key=key)
    chunks = [[a[lo:hi] for a in arrays] for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    futures = [_state["pool"].submit(kernel, *chunk, *scalars) for chunk in chunks[1:]]
    try:
        kernel(*chunks[0], *scalars)  # the compiled kernels release the GIL
    finally:
        for future in futures:
            future.result()


def _kernel(name: str) -> Callable[..., None] | None:
    """The compiled kernel ``name``, or None on the NumPy backend."""
    compiled = _state["compiled"]
    source = _SOURCES[name]
    kernel = compiled.get(source)
    if kernel is None:
        if backend() == "numpy":
            return None
        # error_model="numpy": no zero-division checks, which would stop vectorisation
        kernel = compiled[source] = _state["numba"].njit(
            source, cache=True, nogil=True, error_model="numpy", fastmath=False)
    return kernel


def _flat(array: np.ndarray) -> np.ndarray | None:
    """A 1-D view of a C-contiguous float32/float64 array, else None (NumPy handles it)."""
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        return None
    if not array.flags.c_contiguous:
        return None
    return array.reshape(-1)


def update(name: str, param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, *,
           lr: float, momentum: float, alpha: float, beta1: float, beta2: float, eps: float,
           weight_decay: float, step_size: float = 0.0, bias_correction2_sqrt: float = 1.0
           ) -> bool:
    """Apply optimizer ``name`` in one compiled pass (split over ``threads()`` threads for a
    large network); False (nothing done) when the NumPy path must do it (NumPy backend, or
    arrays that are not contiguous floats of one dtype).
    Adam and AdamW take ``step_size`` and ``bias_correction2_sqrt`` from
    ``mlp.optim.adam_scalars``."""
    kernel = _kernel(name)
    if kernel is None:
        return False
    arrays = [_flat(a) for a in (param, grad, m, v)]
    dtypes = {a.dtype for a in (param, grad, m, v)}
    if any(a is None for a in arrays) or len(dtypes) != 1:
        return False
    p, g, m1, v1 = arrays
    if not (p.size == g.size == m1.size == v1.size):
        return False
    c = param.dtype.type  # Python floats become the arrays' dtype, as NumPy's scalars do
    wd = float(weight_decay)
    if name == "sgd":
        _launch(kernel, (p, g), (c(lr), c(wd), wd != 0.0))
    elif name in ("momentum", "nesterov"):
        _launch(kernel, (p, g, m1), (c(lr), c(momentum), c(lr * momentum), c(wd), wd != 0.0,
                                     name == "nesterov"))
    elif name == "rmsprop":
        _launch(kernel, (p, g, v1), (c(lr), c(alpha), c(1.0 - alpha), c(eps), c(wd),
                                     wd != 0.0, lr != 0.0))
    else:  # adam, adamw
        coupled = name == "adam" and wd != 0.0
        decoupled = name == "adamw" and wd != 0.0
        _launch(kernel, (p, g, m1, v1), (c(beta1), c(beta2), c(1.0 - beta2),
                                         c(bias_correction2_sqrt), c(eps), c(step_size), c(wd),
                                         coupled, c(1.0 - lr * wd), decoupled))
    return True


def relu_forward(x: np.ndarray, out: np.ndarray) -> bool:
    """``out = np.maximum(x, 0)`` in one compiled pass (NaN kept, -0.0 and negatives to +0.0,
    as NumPy does); False when NumPy must or is faster (fewer than ``_RELU_MIN`` elements)."""
    if x.size < _RELU_MIN:
        return False
    kernel = _kernel("relu_forward")
    if kernel is None or x.dtype != out.dtype:
        return False
    flat = [_flat(a) for a in (x, out)]
    if any(a is None for a in flat):
        return False
    kernel(*flat, x.dtype.type(0))
    return True


def relu_backward(grad_out: np.ndarray, output: np.ndarray, grad_in: np.ndarray) -> bool:
    """``grad_in = grad_out * (output > 0)`` in one compiled pass; False when NumPy must or
    is faster (fewer than ``_RELU_MIN`` elements)."""
    if grad_out.size < _RELU_MIN:
        return False
    kernel = _kernel("relu_backward")
    if kernel is None or not (grad_out.dtype == output.dtype == grad_in.dtype):
        return False
    flat = [_flat(a) for a in (grad_out, output, grad_in)]
    if any(a is None for a in flat):
        return False
    c = grad_out.dtype.type
    kernel(*flat, c(0), c(1))  # NumPy multiplies by the mask cast to 1.0 and 0.0
    return True


def warm_up(dtype: str | np.dtype = "float32", optimizers: tuple[str, ...] | None = None
            ) -> str:
    """Compile (or load from numba's cache) the kernels of ``optimizers`` (default: all)
    and the ReLU forward and backward for ``dtype`` now, so that the first training step
    does not pay for it; returns the backend in force. Does nothing on the NumPy backend."""
    if backend() == "numba":
        one = np.ones(1, dtype=dtype)
        for name in optimizers if optimizers is not None else _OPTIMIZERS:
            update(name, one.copy(), one.copy(), one.copy(), one.copy(), lr=0.0,
                   momentum=0.0, alpha=0.0, beta1=0.0, beta2=0.0, eps=1.0, weight_decay=0.0)
        zero = one.dtype.type(0)  # the kernels themselves: the wrappers skip arrays this small
        _kernel("relu_forward")(one, one.copy(), zero)
        _kernel("relu_backward")(one, one, one.copy(), zero, one.dtype.type(1))
    return backend()


# --------------------------------------------------------------------------- sources
# Each loop mirrors a NumPy rule operation by operation; see mlp.optim for the formulas.
# Boolean flags are loop-invariant, so LLVM unswitches them out of the vectorised loop.

def _sgd(p, g, lr, wd, coupled):  # pragma: no cover - compiled
    for i in range(p.size):
        gi = p[i] * wd + g[i] if coupled else g[i]
        p[i] = p[i] - gi * lr


def _momentum(p, g, buf, lr, mom, lr_mom, wd, coupled, nesterov):  # pragma: no cover
    for i in range(p.size):
        gi = p[i] * wd + g[i] if coupled else g[i]
        b = buf[i] * mom + gi
        buf[i] = b
        if nesterov:
            p[i] = (p[i] - gi * lr) - b * lr_mom
        else:
            p[i] = p[i] - b * lr


def _rmsprop(p, g, sq, lr, alpha, one_minus_alpha, eps, wd, coupled, moves):  # pragma: no cover
    for i in range(p.size):
        gi = p[i] * wd + g[i] if coupled else g[i]
        s = sq[i] * alpha + (gi * gi) * one_minus_alpha
        sq[i] = s
        d = np.sqrt(s) + eps
        if not coupled:
            p[i] = p[i] - (g[i] / d) * lr
        elif moves:  # param = (param * (d/lr - wd) - grad) / (d/lr - wd + wd)
            e = d / lr - wd
            p[i] = (p[i] * e - g[i]) / (e + wd)


def _adam(p, g, m, v, beta1, beta2, one_minus_beta2, bc2_sqrt, eps, step_size, wd, coupled,
          decay, decoupled):  # pragma: no cover - compiled
    for i in range(p.size):
        pi = p[i] * decay if decoupled else p[i]
        gi = pi * wd + g[i] if coupled else g[i]
        mi = (m[i] - gi) * beta1 + gi
        m[i] = mi
        vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
        v[i] = vi
        p[i] = pi - (mi / (np.sqrt(vi) / bc2_sqrt + eps)) * step_size


def _relu_forward(x, out, zero):  # pragma: no cover - compiled
    for i in range(x.size):
        xi = x[i]
        out[i] = zero if xi <= zero else xi  # NaN compares false and passes through


def _relu_backward(grad_out, output, grad_in, zero, one):  # pragma: no cover - compiled
    for i in range(grad_out.size):
        grad_in[i] = grad_out[i] * (one if output[i] > zero else zero)


_SOURCES = {"sgd": _sgd, "momentum": _momentum, "nesterov": _momentum, "rmsprop": _rmsprop,
            "adam": _adam, "adamw": _adam, "relu_forward": _relu_forward,
            "relu_backward": _relu_backward}
_OPTIMIZERS = tuple(name for name in _SOURCES if not name.startswith("relu_"))

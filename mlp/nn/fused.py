"""Compiled one-pass kernels for the training hot path, with NumPy as the fallback.

An optimizer step written with NumPy ufuncs is 3 to 14 passes over every parameter, the
ReLU backward is two passes over the activations, and the ReLU forward ``np.maximum(x, 0)``
is one pass that NumPy 2 does not vectorise (a scalar operand of ``maximum`` misses its
SIMD loop: 78 µs against 12 µs compiled for a 128x512 float32 batch). When
`numba <https://numba.pydata.org>`_ is installed (the ``fast`` extra:
``pip install "mlp-routinizer[fast]"``) these are compiled into one loop each, which LLVM
vectorises. Small batches pay for each NumPy call instead (about a microsecond each), so
passes that follow one another are fused: a Layer's bias add with the ReLU after it, that
ReLU's backward with the Layer's bias gradient, and softmax cross entropy against class
indices (row maximum and shift, then row sums, then the gradient, with the count of
correct rows on the way) around NumPy's own ``exp`` and ``log``.

The compiled kernels perform exactly the floating-point operations of the NumPy rules in
``mlp.optim.rules``, ``mlp.nn.layers`` and ``mlp.nn.losses``, in the same order and precision
(sums in NumPy's order), without contraction into fused multiply-adds and without fast-math; so both
paths give bit-identical results and a run may be resumed with or without numba. Tests
check this bit for bit.

A ``Kernels`` object holds the choices for one trainer (its ``Optimizer`` owns it and
passes it to the modules and the loss while training):

- ``backend``: ``"auto"`` (numba when it can be imported, else NumPy; settled when first
  asked, not when the object is made, so numba loads only when kernels are wanted: a trainer
  asks before its first epoch, and keeps a network of fewer than 4096 parameters on NumPy
  unless numba is imported already, as loading numba and its cached kernels, 0.5 s and more,
  costs such a run more than they save it), ``"numba"`` (an error if it is missing) or
  ``"numpy"``; by default the environment variable ``MLP_KERNELS``, else ``auto``.

Kernels are compiled on first use per dtype (about a second each) and cached on disk by
numba, so later processes load them in milliseconds; within a process the compiled functions
are memoised (``functools.cache``: the same source always compiles to the same function).

An optimizer step over a large network (``_SPLIT_MIN`` elements or more) can be split into
contiguous chunks run by several threads; every element is updated alone, so the result is
the same bit for bit. It pays only when the cores are free: OpenBLAS's idle workers spin
for 2**28 cycles after each matrix product unless told otherwise, and a spinning worker takes
the second core from the split. Making a ``Kernels`` tells them otherwise
(``mlp.nn.blas_workers.settle``: they sleep after 2**16 cycles), once per process.

- ``threads``: ``"auto"`` (two threads when there are two cores or more and OpenBLAS's idle
  workers sleep within 2**16 cycles, by ``settle`` or by ``OPENBLAS_THREAD_TIMEOUT`` set from
  1 to 16; otherwise one) or a positive integer; by default ``MLP_KERNEL_THREADS``, else
  ``auto``.

In practice: set ``OPENBLAS_THREAD_TIMEOUT=4`` (any value from 1 to 16) in the environment
before Python starts, as ``make bench`` does (``OPENBLAS_THREAD_TIMEOUT=4 mlp train
my_config.json``); the step then runs on two threads by itself. On the README's machine this
took a W1 epoch from 1.08 to 1.04 of the matrix-product bound (``scripts/bench.py``).
"""

from __future__ import annotations

import functools
import operator
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol, cast

import numpy as np

from mlp.errors import MLPError
from mlp.nn import blas_workers

__all__ = ["Backend", "CompiledRule", "Kernels", "compile_loop"]

Backend = Literal["auto", "numba", "numpy"]


class CompiledRule(Protocol):
    """What ``Kernels.update`` reads of an update rule (``mlp.optim.rules.UpdateRule`` has it): the
    name, the state buffers, the hyperparameters its constants depend on, the loop to compile,
    the functions that make its constants (per learning rate, and per step) and which of
    ``(param, grad, *state)`` the loop takes (None: all, in order)."""

    # read-only members: a frozen dataclass's fields satisfy them
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> tuple[str, ...]: ...
    @property
    def hyperparameters(self) -> tuple[str, ...]: ...
    @property
    def kernel(self) -> Callable[..., None] | None: ...
    @property
    def constants(self) -> Callable[..., tuple[Any, ...]] | None: ...
    @property
    def step_constants(self) -> Callable[..., tuple[Any, ...]] | None: ...
    @property
    def kernel_arrays(self) -> tuple[int, ...] | None: ...

#: parameters of a network below which "auto" keeps to NumPy while numba is not imported:
#: loading numba and a cached kernel takes 0.5 s or more, and the kernels save such a network
#: little (a 4-16-3 net, batch 16: nothing; 1-30-20-1, full batch: 30 us a step; 64-64-10,
#: batch 32, 4810 parameters: 80 us a step, 10,000 steps to repay the load)
_AUTO_MIN_PARAMETERS = 1 << 12
_RELU_MIN = 1 << 14  #: elements below which NumPy's ReLU passes beat a call into a kernel
_SPLIT_MIN = 1 << 16  #: elements below which a step stays on one thread (the hand-off costs more)
_ALIGN = 16  #: chunk edges fall on multiples of 16 elements (whole 64-byte cache lines in float32)
_MAX_SPIN_EXPONENT = blas_workers.SPIN_EXPONENT  #: spins at or below this count as quick sleep
_PAIRWISE_BLOCK = 128  #: NumPy sums up to this many elements with eight running sums


@functools.cache
def _numba() -> Any:
    """The numba module, or None when it cannot be imported (asked once per process)."""
    try:
        import numba
    except ImportError:
        return None
    return numba


@functools.cache
def compile_loop(source: Callable[..., Any]) -> Callable[..., Any]:
    """``source`` (a Python loop over arrays) compiled by numba, which must be importable;
    compiled once per function and process, and cached on disk by numba."""
    # error_model="numpy": no zero-division checks, which would stop vectorisation
    return _numba().njit(source, cache=True, nogil=True, error_model="numpy", fastmath=False)


def _compiled(name: str) -> Callable[..., None]:
    """The compiled kernel ``name`` of this module's own loops."""
    return compile_loop(_SOURCES[name])


def _resolve_backend(choice: str) -> str:
    if choice not in ("auto", "numba", "numpy"):
        raise MLPError(f"MLP_KERNELS / Kernels(backend=...): expected 'auto', 'numba' or "
                       f"'numpy', found {choice!r}")
    if choice == "numpy":
        return "numpy"
    if _numba() is None:
        if choice == "numba":
            raise MLPError("the numba kernels were requested but numba cannot be imported; "
                           "install the 'fast' extra")
        return "numpy"
    return "numba"


def _resolve_threads(choice: int | str, spin_exponent: int | None) -> int:
    if choice == "auto":
        return _auto_threads(spin_exponent, _cores())
    text = str(choice).strip()
    if isinstance(choice, bool) or not text.isdigit() or not 1 <= len(text.lstrip("0")) <= 6:
        raise MLPError(f"MLP_KERNEL_THREADS / Kernels(threads=...): expected 'auto' or a "
                       f"positive integer below a million, found {text[:20]!r}")
    most = max(MIN_THREAD_LIMIT, 8 * _cores())  # past this, threads only cost memory
    if int(text) > most:
        raise MLPError(f"MLP_KERNEL_THREADS / Kernels(threads=...): expected at most {most} "
                       f"threads ({MIN_THREAD_LIMIT}, or 8 per core of this machine), found "
                       f"{int(text)}")
    return int(text)


#: thread counts up to this are taken on any machine
MIN_THREAD_LIMIT = 64


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _spin_exponent(environ: Mapping[str, str]) -> int | None:
    """How long OpenBLAS's idle workers spin (log2 of TSC ticks): what ``settle`` set or found,
    else ``OPENBLAS_THREAD_TIMEOUT`` as OpenBLAS reads it (0 or unset: its default 28); None
    when unknown."""
    settled = blas_workers.settle()
    if settled is not None:
        return settled
    timeout = environ.get("OPENBLAS_THREAD_TIMEOUT", "").strip()
    if not timeout.isdigit():
        return None
    return int(timeout) or 28


def _auto_threads(spin_exponent: int | None, cores: int) -> int:
    """Two threads on two cores or more when OpenBLAS's idle workers sleep quickly (within
    ``2**_MAX_SPIN_EXPONENT`` ticks), else one."""
    if cores < 2 or spin_exponent is None or not 1 <= spin_exponent <= _MAX_SPIN_EXPONENT:
        return 1
    return 2


class PreparedUpdate:
    """One update rule's compiled pass over the same flat arrays, step after step
    (``Kernels.prepare``): the rule's constants are made once per learning rate and values of
    the hyperparameters it names, the per-step ones (Adam's bias corrections) at each call."""

    __slots__ = ("_constants", "_key", "arrays", "dtype", "hyperparameters", "kernel",
                 "kernels", "rule")

    def __init__(self, kernels: Kernels, rule: CompiledRule, arrays: tuple[np.ndarray, ...]
                 ) -> None:
        self.kernels, self.rule, self.arrays = kernels, rule, arrays
        self.dtype = arrays[0].dtype.type
        self.kernel = compile_loop(rule.kernel)
        self.hyperparameters = (operator.attrgetter(*rule.hyperparameters)
                                if rule.hyperparameters else _no_values)
        self._key: tuple[Any, ...] | None = None
        self._constants: tuple[Any, ...] = ()

    def __call__(self, step: int, lr: float, hp: Any) -> None:
        """One update with learning rate ``lr`` at 1-based ``step``, hyperparameters ``hp``."""
        rule, lr = self.rule, float(lr)
        key = (lr, self.hyperparameters(hp))
        if key != self._key:
            self._constants = (rule.constants(self.dtype, lr, hp)
                               if rule.constants is not None else ())
            self._key = key
        constants = self._constants
        if rule.step_constants is not None:
            constants = rule.step_constants(self.dtype, constants, step, lr, hp)
        self.kernels._launch(self.kernel, self.arrays, constants)


def _no_values(hp: Any) -> tuple[()]:
    return ()


class Kernels:
    """The compiled kernels one trainer uses: a backend and a thread count (see the module
    docstring), and the worker threads of a split step, started on first need."""

    def __init__(self, backend: Backend | None = None, threads: int | str | None = None) -> None:
        self._choice = backend if backend is not None else os.environ.get("MLP_KERNELS", "auto")
        # "auto" is settled when first asked: importing numba takes 0.2 s or more
        self._backend = None if self._choice == "auto" else _resolve_backend(self._choice)
        spin_exponent = _spin_exponent(os.environ)  # idle BLAS workers sleep from now on
        self.threads = _resolve_threads(
            threads if threads is not None else os.environ.get("MLP_KERNEL_THREADS", "auto"),
            spin_exponent)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._forget()

    @property
    def backend(self) -> str:
        """``"numba"`` or ``"numpy"``: with ``"auto"``, chosen (and numba imported) when first
        asked, which a trainer does before its first epoch (``fit_to``, ``warm_up``)."""
        if self._backend is None:
            self._backend = _resolve_backend(self._choice)
        return self._backend

    def fit_to(self, n_parameters: int) -> None:
        """Settle ``"auto"`` on NumPy for a network of ``n_parameters`` below
        ``_AUTO_MIN_PARAMETERS`` while numba is not imported (so a small run never loads it);
        otherwise leave it to be settled when first asked. Results are the same bit for bit.

        Parameters
        ----------
        n_parameters
            The trainable parameters of the network about to be trained.
        """
        if self._choice != "auto" or self._backend == "numba":
            return
        small = n_parameters < _AUTO_MIN_PARAMETERS and "numba" not in sys.modules
        self._backend = "numpy" if small else None

    def _forget(self) -> None:
        """Drop what the kernels remember of the last arrays they were given: a trainer passes
        the same buffers batch after batch, so the checks of the first call stand for later
        calls with the very same arrays (arrays are never reshaped in place here)."""
        self._prepared: tuple[Any, ...] = ()  # the last update's rule and arrays, then its pass
        self._last_bias_relu: tuple[Any, ...] = ()
        self._last_relu_backward_bias: tuple[Any, ...] = ()
        self._last_cross_entropy: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"Kernels(backend={self._backend or self._choice!r}, threads={self.threads})"

    def __getstate__(self) -> dict[str, Any]:  # threads do not cross processes
        return {"backend": self._backend or self._choice, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        blas_workers.settle()  # a new process (joblib, a sweep worker) has its own OpenBLAS
        self._choice, self.threads = state["backend"], state["threads"]
        self._backend = None if self._choice == "auto" else self._choice
        self._pool, self._pool_pid = None, None
        self._forget()

    def close(self) -> None:
        """Stop the worker threads of split steps (started again when needed)."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.shutdown(wait=False)
        self._pool = self._pool_pid = None

    def _kernel(self, name: str) -> Callable[..., None] | None:
        return None if self.backend == "numpy" else _compiled(name)

    def _launch(self, kernel: Callable[..., None], arrays: Sequence[np.ndarray],
                scalars: Sequence[Any]) -> None:
        """``kernel(*arrays, *scalars)``, the arrays cut into one contiguous chunk per thread."""
        count, size = self.threads, arrays[0].size
        if count == 1 or size < _SPLIT_MIN:
            kernel(*arrays, *scalars)
            return
        edges = [size * k // count // _ALIGN * _ALIGN for k in range(count)] + [size]
        if self._pool is None or self._pool_pid != os.getpid():  # a fork has no threads
            self._pool = ThreadPoolExecutor(count - 1, thread_name_prefix="mlp-kernels")
            self._pool_pid = os.getpid()
        chunks = [[a[lo:hi] for a in arrays]
                  for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        futures = [self._pool.submit(kernel, *chunk, *scalars) for chunk in chunks[1:]]
        try:
            kernel(*chunks[0], *scalars)  # the compiled kernels release the GIL
        finally:
            for future in futures:
                future.result()

    def prepare(self, rule: CompiledRule, param: np.ndarray, grad: np.ndarray,
                state: Sequence[np.ndarray]) -> PreparedUpdate | None:
        """Update ``rule`` (``mlp.optim.rules.UpdateRule``) as one compiled pass over these very
        arrays, checked and cut to 1-D once, to be called step after step (the trainer's
        optimizer keeps it); None when the NumPy rule must do the updates (NumPy backend, a
        rule without a loop, or arrays that are not contiguous floats of one dtype and size)."""
        if self.backend == "numpy" or rule.kernel is None:
            return None
        arrays = self._flat_arrays(param, grad, *state)
        if arrays is None:
            return None
        if rule.kernel_arrays is not None:
            arrays = tuple(arrays[k] for k in rule.kernel_arrays)
        return PreparedUpdate(self, rule, arrays)

    def update(self, rule: CompiledRule, param: np.ndarray, grad: np.ndarray,
               state: Sequence[np.ndarray], *, step: int, lr: float, hp: Any) -> bool:
        """Apply update ``rule`` in one compiled pass (split over ``threads`` threads for a
        large network; ``prepare``); False (nothing done) when the NumPy rule must do it."""
        sources = (rule, param, grad, *state)
        kept = self._prepared
        if len(kept) != len(sources) + 1 or not all(
                k is a for k, a in zip(kept, sources, strict=False)):
            kept = self._prepared = (*sources, self.prepare(rule, param, grad, state))
        prepared = kept[-1]
        if prepared is None:
            return False
        prepared(step, lr, hp)
        return True

    @staticmethod
    def _flat_arrays(*arrays: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """1-D views of the arrays of a step, or None when a kernel cannot take them (not
        contiguous floats of one dtype and size); checked once per prepared pass."""
        dtype = arrays[0].dtype
        if any(a.dtype != dtype for a in arrays):
            return None
        found = tuple(_flat(a) for a in arrays)
        if any(a is None for a in found):
            return None
        flats = cast(tuple[np.ndarray, ...], found)
        if len({a.size for a in flats}) != 1:
            return None
        return flats

    def relu_forward(self, x: np.ndarray, out: np.ndarray) -> bool:
        """``out = np.maximum(x, 0)`` in one compiled pass (NaN kept, -0.0 and negatives to +0.0,
        as NumPy does); False when NumPy must or is faster (fewer than ``_RELU_MIN`` elements)."""
        return self._elementwise("relu_forward", (x, out), x.dtype.type(0))

    def relu_backward(self, grad_out: np.ndarray, output: np.ndarray,
                      grad_in: np.ndarray) -> bool:
        """``grad_in = grad_out * (output > 0)`` in one compiled pass; False when NumPy must or
        is faster (fewer than ``_RELU_MIN`` elements)."""
        c = grad_out.dtype.type  # NumPy multiplies by the mask cast to 1.0 and 0.0
        return self._elementwise("relu_backward", (grad_out, output, grad_in), c(0), c(1))

    def _elementwise(self, name: str, arrays: tuple[np.ndarray, ...], *scalars: Any) -> bool:
        """The compiled loop ``name`` over ``_flat_arrays(*arrays)`` and ``scalars``; False
        (nothing done) for fewer than ``_RELU_MIN`` elements, without the kernel, or for arrays
        it cannot take."""
        if arrays[0].size < _RELU_MIN:
            return False
        kernel = self._kernel(name)
        flat = None if kernel is None else self._flat_arrays(*arrays)
        if kernel is None or flat is None:
            return False
        kernel(*flat, *scalars)
        return True

    def bias_relu(self, z: np.ndarray, bias: np.ndarray, out: np.ndarray) -> bool:
        """A Layer's bias and the ReLU after it in one compiled pass: ``z += bias`` (``z``
        keeps the pre-activations, as the Layer's output) and ``out = np.maximum(z, 0)``;
        False (nothing done) on the NumPy backend or for arrays the kernel cannot take."""
        last = self._last_bias_relu  # a trainer passes the same buffers batch after batch
        if last and last[0] is z and last[1] is bias and last[2] is out:
            last[3](z, bias, out, last[4])
            return True
        kernel = self._kernel("bias_relu")
        if kernel is None or not (_rows(z, out) and _row_vector(bias, z)):
            return False
        self._last_bias_relu = (z, bias, out, kernel, z.dtype.type(0))
        kernel(z, bias, out, z.dtype.type(0))
        return True

    def relu_backward_bias(self, grad_out: np.ndarray, output: np.ndarray, grad_in: np.ndarray,
                           grad_bias: np.ndarray) -> bool:
        """The ReLU backward and the bias gradient of the Layer before it in one compiled pass:
        ``grad_in = grad_out * (output > 0)`` and ``grad_bias = grad_in.sum(axis=0)``, summed
        as NumPy sums along the first axis (each row added in turn to +0.0); False when NumPy
        must do it."""
        last = self._last_relu_backward_bias
        if (last and last[0] is grad_out and last[1] is output and last[2] is grad_in
                and last[3] is grad_bias):
            last[4](grad_out, output, grad_in, grad_bias, last[5], last[6])
            return True
        kernel = self._kernel("relu_backward_bias")
        if kernel is None or grad_out.shape[0] == 0 or not (
                _rows(grad_out, output, grad_in) and _row_vector(grad_bias, grad_out)):
            return False
        c = grad_out.dtype.type
        self._last_relu_backward_bias = (grad_out, output, grad_in, grad_bias, kernel, c(0),
                                         c(1))
        kernel(grad_out, output, grad_in, grad_bias, c(0), c(1))
        return True

    def cross_entropy(self, logits: np.ndarray, target: np.ndarray, probs: np.ndarray,
                      row: np.ndarray, lse: np.ndarray, shifted_true: np.ndarray,
                      divide: bool) -> int | None:
        """Softmax cross entropy against class indices, with the operations of
        ``Loss._cross_entropy`` in their order and precision: ``probs`` becomes the gradient
        ``softmax(logits) - onehot(target)`` (divided by ``N`` when ``divide``), ``lse`` the
        per-sample losses in float64; returns how many rows' first maximum is the target
        (``argmax == target``). Three compiled passes; ``exp`` and ``log`` stay NumPy's, so
        both paths round alike, and a row's sum follows NumPy's pairwise order (a plain loop
        below 8 classes, eight running sums up to 128). None (nothing done) on the NumPy
        backend, beyond 128 classes, or for arrays the kernels cannot take."""
        last = self._last_cross_entropy
        if not (last and last[0] is logits and last[1] is probs and last[2] is row
                and last[3] is lse and last[4] is shifted_true):
            if self.backend == "numpy":
                return None
            n, c = logits.shape
            dtype = logits.dtype
            if not (2 <= c <= _PAIRWISE_BLOCK and n and _rows(logits, probs)
                    and row.shape == shifted_true.shape == lse.shape == (n,)
                    and row.dtype == shifted_true.dtype == dtype
                    and lse.dtype == np.float64):
                return None
            last = self._last_cross_entropy = (
                logits, probs, row, lse, shifted_true, _compiled("ce_shift"),
                _compiled("ce_sums"), _compiled("ce_grad"), dtype.type(1), dtype.type(n))
        if target.shape != lse.shape or target.dtype.kind not in "iu":
            return None
        correct = last[5](logits, target, probs, shifted_true)
        np.exp(probs, out=probs)
        last[6](probs, row, lse)
        np.log(lse, out=lse)
        last[7](probs, row, target, lse, shifted_true, last[8], last[9], divide)
        return int(correct)

    def warm_up(self, dtype: str | np.dtype = "float32", rules: Sequence[CompiledRule] = (),
                hp: Any = None) -> str:
        """Compile (or load from numba's cache) the loops of the update ``rules`` (with the
        configuration ``hp``) and the ReLU and cross-entropy kernels for ``dtype`` now, so
        that the first training step does not pay for it; returns the backend in force.
        Does nothing on the NumPy backend."""
        if self.backend == "numba":
            one = np.ones(1, dtype=dtype)
            for rule in rules:
                self.update(rule, one.copy(), one.copy(), [one.copy() for _ in rule.state],
                            step=1, lr=0.0, hp=hp)
            zero = one.dtype.type(0)  # the kernels themselves: the wrappers skip arrays this small
            _compiled("relu_forward")(one, one.copy(), zero)
            _compiled("relu_backward")(one, one, one.copy(), zero, one.dtype.type(1))
            self.bias_relu(np.ones((1, 1), dtype), one.copy(), np.ones((1, 1), dtype))
            self.relu_backward_bias(np.ones((1, 1), dtype), np.ones((1, 1), dtype),
                                    np.ones((1, 1), dtype), one.copy())
            logits = np.zeros((1, 2), dtype)
            self.cross_entropy(logits, np.zeros(1, np.intp), logits.copy(), one.copy(),
                               np.ones(1), np.ones(1, dtype), True)
        return self.backend


def _rows(*arrays: np.ndarray) -> bool:
    """Whether ``arrays`` are C-contiguous 2-D float32/float64 arrays of one shape and dtype."""
    first = arrays[0]
    shape, dtype = first.shape, first.dtype
    if len(shape) != 2 or dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return False
    for a in arrays:
        if a.shape != shape or a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True


def _row_vector(vector: np.ndarray, rows: np.ndarray) -> bool:
    """Whether ``vector`` is a contiguous ``(D,)`` array of the dtype of ``rows (N, D)``."""
    return (vector.shape == rows.shape[1:] and vector.dtype == rows.dtype
            and vector.flags.c_contiguous)


def _flat(array: np.ndarray) -> np.ndarray | None:
    """A 1-D view of a C-contiguous float32/float64 array, else None (NumPy handles it)."""
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        return None
    if not array.flags.c_contiguous:
        return None
    return array if array.ndim == 1 else array.reshape(-1)


# --------------------------------------------------------------------------- sources
# Each loop mirrors a NumPy pass of mlp.nn.layers or mlp.nn.losses operation by operation (the
# update rules' loops live with their NumPy rules, in mlp.optim.rules).

def _relu_forward(x, out, zero):  # pragma: no cover - compiled
    for i in range(x.size):
        xi = x[i]
        out[i] = zero if xi <= zero else xi  # NaN compares false and passes through


def _relu_backward(grad_out, output, grad_in, zero, one):  # pragma: no cover - compiled
    for i in range(grad_out.size):
        grad_in[i] = grad_out[i] * (one if output[i] > zero else zero)


def _bias_relu(z, bias, out, zero):  # pragma: no cover - compiled
    n, d = z.shape
    for i in range(n):
        for j in range(d):
            v = z[i, j] + bias[j]
            z[i, j] = v
            out[i, j] = zero if v <= zero else v  # NaN compares false and passes through


def _relu_backward_bias(grad_out, output, grad_in, grad_bias, zero, one):  # pragma: no cover
    n, d = grad_out.shape
    for j in range(d):  # NumPy's sum along axis 0 adds the first row to +0.0 (-0.0 becomes +0.0)
        g = grad_out[0, j] * (one if output[0, j] > zero else zero)
        grad_in[0, j] = g
        grad_bias[j] = zero + g
    for i in range(1, n):
        for j in range(d):
            g = grad_out[i, j] * (one if output[i, j] > zero else zero)
            grad_in[i, j] = g
            grad_bias[j] += g


def _ce_shift(logits, target, probs, shifted_true):  # pragma: no cover - compiled
    n, c = logits.shape
    correct = 0
    for i in range(n):
        top = logits[i, 0]
        first = 0
        for j in range(1, c):
            v = logits[i, j]
            if v > top:
                top = v
                first = j
            elif v != v:  # NaN propagates, as np.maximum does
                top = v
        for j in range(c):
            probs[i, j] = logits[i, j] - top
        shifted_true[i] = probs[i, target[i]]
        if first == target[i]:
            correct += 1
    return correct


def _ce_sums(probs, row, lse):  # pragma: no cover - compiled
    n, c = probs.shape
    for i in range(n):
        if c < 8:
            s = probs[i, 0]
            for j in range(1, c):
                s += probs[i, j]
        else:  # NumPy's pairwise_sum for 8 to 128 elements
            r0, r1, r2, r3 = probs[i, 0], probs[i, 1], probs[i, 2], probs[i, 3]
            r4, r5, r6, r7 = probs[i, 4], probs[i, 5], probs[i, 6], probs[i, 7]
            j = 8
            while j < c - c % 8:
                r0 += probs[i, j]
                r1 += probs[i, j + 1]
                r2 += probs[i, j + 2]
                r3 += probs[i, j + 3]
                r4 += probs[i, j + 4]
                r5 += probs[i, j + 5]
                r6 += probs[i, j + 6]
                r7 += probs[i, j + 7]
                j += 8
            s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while j < c:
                s += probs[i, j]
                j += 1
        row[i] = s
        lse[i] = s


def _ce_grad(probs, row, target, lse, shifted_true, one, count, divide):  # pragma: no cover
    n, c = probs.shape
    for i in range(n):
        total = row[i]
        t = target[i]
        for j in range(c):
            v = probs[i, j] / total
            if j == t:
                v = v - one
            if divide:
                v = v / count
            probs[i, j] = v
        lse[i] = lse[i] - shifted_true[i]  # float64, as NumPy's mixed subtraction


_SOURCES = {"relu_forward": _relu_forward,
            "relu_backward": _relu_backward, "bias_relu": _bias_relu,
            "relu_backward_bias": _relu_backward_bias, "ce_shift": _ce_shift,
            "ce_sums": _ce_sums, "ce_grad": _ce_grad}

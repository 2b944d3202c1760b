"""Sparse inputs: SciPy CSR matrices as features, without a dense copy of the data set.

SciPy is optional (it comes with scikit-learn): nothing here imports it. A sparse matrix can
only exist once ``scipy.sparse`` has been imported by whoever made it, so ``is_sparse``
asks ``scipy.sparse.issparse`` only when that module is already loaded, and the library
runs without SciPy installed.

The first ``Layer`` of a model meets the inputs, and only there do they need sparse
products: ``forward_product`` (``x @ weight``, ``(B, D) @ (D, H)``) and ``weight_gradient``
(``x.T @ grad_out``, ``(D, B) @ (B, H)``), both into the layer's own buffers. With numba
(the ``fast`` extra; ``MLP_KERNELS=numpy`` turns it off) they are compiled loops over the
stored entries that allocate nothing; otherwise SciPy's products, whose results are copied
into the buffers. Both walk the entries in SciPy's order (row by row, each row's entries in
stored order, ``out[i] += value * weight[j]`` as SciPy's ``csr_matvecs``/``csc_matvecs``),
so they give the same bits. The cost is that of the stored entries, ``nnz * H``, plus
``D * H`` to zero the weight gradient, which a dense optimizer step over the ``D * H``
weights pays anyway.

The rest are what ``Data``, ``Normalizer`` and ``Model.check_input`` need of a CSR matrix:
validation (finite stored values), a dtype change, row keys for the content-keyed
validation split, fingerprint bytes, and column statistics for scaling without centring.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mlp.errors import DataError


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a SciPy sparse matrix or array (False when SciPy is not loaded).

    Parameters
    ----------
    x : Any
        Any value.

    Returns
    -------
    bool
    """
    module = sys.modules.get("scipy.sparse")
    return module is not None and module.issparse(x)


def as_csr(x: Any) -> Any:
    """A sparse ``x`` in CSR format; anything else unchanged.

    CSC and the other formats are converted; a CSR is kept as it is, with sorted indices and
    no duplicate entries.

    Parameters
    ----------
    x : Any
        A sparse matrix, or anything else.

    Returns
    -------
    Any
        The CSR matrix, or ``x``.
    """
    if not is_sparse(x):
        return x
    csr = x.tocsr()
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def features(x: Any, name: str) -> Any:
    """A sparse feature matrix ``x (N, D)`` as a checked CSR of a floating dtype.

    Integers and booleans become float32; the matrix must be 2-D, with at least one
    feature, and finite stored values.

    Parameters
    ----------
    x : scipy.sparse matrix
        The features, ``(N, D)``.
    name : str
        What ``x`` is, for the messages.

    Returns
    -------
    scipy.sparse.csr_matrix

    Raises
    ------
    DataError
        Naming ``name``.
    """
    x = as_csr(x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise DataError(f"{name} must be (N, features) with at least 1 feature, found a "
                        f"sparse matrix of shape {x.shape}")
    if x.dtype.kind in "iub":
        x = x.astype(np.float32)
    elif x.dtype.kind != "f":
        raise DataError(f"{name} must be numeric (float, int or bool), found a sparse matrix "
                        f"of dtype {x.dtype}")
    check_finite(x, name)
    return x


def check_finite(x: Any, name: str) -> None:
    """Refuse a CSR ``x`` with a stored value that is NaN or infinite.

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix.
    name : str
        What ``x`` is, for the message.

    Raises
    ------
    DataError
        Counting the NaN and infinite values.
    """
    bad = ~np.isfinite(x.data)
    if bad.any():
        raise DataError(f"{name} must be finite, found {int(np.isnan(x.data).sum())} NaN and "
                        f"{int(np.isinf(x.data).sum())} inf stored value(s) in a sparse "
                        f"matrix of shape {x.shape}")


def check_input(x: Any, n_features: int, dtype: str) -> Any:
    """A model's sparse input: CSR ``(N, n_features)`` in ``dtype``, finite.

    Parameters
    ----------
    x : scipy.sparse matrix
        The inputs.
    n_features : int
        The model's input width.
    dtype : str
        The model's dtype.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``x`` as the model's ``Layer`` multiplies it (``forward_product``).

    Raises
    ------
    DataError
        Naming what was expected and what was found.
    """
    x = as_csr(x)
    if x.shape[1] != n_features:
        raise DataError(f"inputs must have {n_features} features, found {x.shape[1]}")
    if x.dtype.kind not in "fiub":
        raise DataError(f"inputs must be numeric, found sparse dtype {x.dtype}")
    if x.dtype != dtype:
        x = x.astype(dtype)
    check_finite(x, "inputs")
    return x


def astype(x: Any, dtype: np.dtype) -> Any:
    """The CSR ``x`` with its values in ``dtype`` (the index arrays are shared).

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix.
    dtype : numpy.dtype
        The dtype of the values.

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    return x.astype(dtype)


def row_keys(x: Any, y: np.ndarray) -> np.ndarray:
    """One 32-byte key per row: equal rows with equal targets get equal keys.

    The key is the SHA-256 of the row's stored column indices and values and of its target
    bytes. The CSR must be canonical (``as_csr``).

    Parameters
    ----------
    x : scipy.sparse matrix
        A canonical CSR matrix, ``(N, D)``.
    y : numpy.ndarray
        The targets, ``(N, ...)``.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` of a 32-byte void dtype.
    """
    n = x.shape[0]
    targets = np.ascontiguousarray(y).reshape(n, -1).view(np.uint8).reshape(n, -1)
    indices = x.indices.astype(np.int64)
    keys = np.empty((n, 32), dtype=np.uint8)
    for row in range(n):
        start, stop = x.indptr[row], x.indptr[row + 1]
        digest = hashlib.sha256(indices[start:stop].tobytes())
        digest.update(x.data[start:stop].tobytes())
        digest.update(targets[row].tobytes())
        keys[row] = np.frombuffer(digest.digest(), dtype=np.uint8)
    return keys.view(np.dtype((np.void, 32)))[:, 0]


def fingerprint_arrays(x: Any) -> tuple[np.ndarray, ...]:
    """The arrays that define the CSR ``x``: its values, column indices and row pointers.

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix.

    Returns
    -------
    tuple of numpy.ndarray
        ``(data, indices, indptr)``.
    """
    return x.data, x.indices, x.indptr


def column_moments(x: Any, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The (weighted) mean and population standard deviation of each column of a CSR matrix.

    In float64, zeros included: the deviation is summed over the stored values and
    ``mass - stored weight`` implicit zeros (two passes, no dense copy).

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix, ``(N, D)``.
    weight : numpy.ndarray or None
        Sample weights, ``(N,)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean, deviation)``, each ``(D,)``.
    """
    n, width = x.shape
    counts = np.diff(x.indptr)
    values = x.data.astype(np.float64)
    if weight is None:
        entry_weight, mass = np.ones(values.shape[0]), float(n)
    else:
        entry_weight, mass = np.repeat(weight, counts), float(weight.sum())
    mean = np.bincount(x.indices, entry_weight * values, width) / mass
    stored = np.bincount(x.indices, entry_weight, width)
    deviations = entry_weight * np.square(values - mean[x.indices])
    squares: np.ndarray = np.bincount(x.indices, deviations, width)
    squares += (mass - stored) * np.square(mean)
    return mean, np.sqrt(np.maximum(squares, 0.0) / mass)


def divide_columns(x: Any, scale: np.ndarray) -> Any:
    """A new CSR ``x / scale``, each column divided by its ``scale``, in ``x``'s dtype.

    The stored values change, the zeros stay zeros.

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix, ``(N, D)``.
    scale : numpy.ndarray
        The divisors, ``(D,)``.

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    out = x.copy()
    out.data /= scale.astype(out.dtype, copy=False)[out.indices]
    return out


def row_batches(x: Any, order: np.ndarray | None, size: int) -> Iterator[Any]:
    """CSR batches of ``size`` rows; a batch never densifies.

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR matrix, ``(N, D)``.
    order : numpy.ndarray or None
        The row order: ``x[order[k:k + size]]`` (new matrices of the rows' entries), or
        contiguous row slices when None.
    size : int
        The rows per batch.

    Yields
    ------
    scipy.sparse.csr_matrix
    """
    for start in range(0, x.shape[0], size):
        yield x[start:start + size] if order is None else x[order[start:start + size]]


# ------------------------------------------------------------------ products
def forward_product(x: Any, weight: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = x @ weight`` for a CSR batch.

    Parameters
    ----------
    x : scipy.sparse matrix
        A CSR batch, ``(B, D)``.
    weight : numpy.ndarray
        ``(D, H)``, of ``out``'s dtype.
    out : numpy.ndarray
        ``(B, H)``, overwritten.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    return _product("forward", x, weight, out, transposed=False)


def weight_gradient(x: Any, grad_out: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = x.T @ grad_out`` for a CSR batch, the product ``forward_product`` transposes.

    Parameters
    ----------
    x : scipy.sparse matrix
        The batch ``forward_product`` took, ``(B, D)``.
    grad_out : numpy.ndarray
        The gradient of its product, ``(B, H)``.
    out : numpy.ndarray
        ``(D, H)``, overwritten and returned.
    """
    return _product("gradient", x, grad_out, out, transposed=True)


def _product(kernel: str, x: Any, dense: np.ndarray, out: np.ndarray,
             transposed: bool) -> np.ndarray:
    """``out = x @ dense`` (``x.T @ dense`` when ``transposed``) by the compiled loop
    ``kernel``, or SciPy's product without numba."""
    loop = _kernel(kernel)
    if loop is None:
        np.copyto(out, (x.T if transposed else x) @ dense)
    else:
        loop(x.indptr, x.indices, x.data, dense, out)
    return out


def _forward_loop(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                  weight: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    width = out.shape[1]
    for row in range(out.shape[0]):
        for k in range(width):
            out[row, k] = 0
        for entry in range(indptr[row], indptr[row + 1]):
            column, value = indices[entry], data[entry]
            for k in range(width):
                out[row, k] += value * weight[column, k]


def _gradient_loop(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                   grad_out: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    out[:] = 0
    width = out.shape[1]
    for row in range(grad_out.shape[0]):
        for entry in range(indptr[row], indptr[row + 1]):
            column, value = indices[entry], data[entry]
            for k in range(width):
                out[column, k] += value * grad_out[row, k]


_LOOPS: dict[str, Callable[..., None]] = {"forward": _forward_loop,
                                          "gradient": _gradient_loop}


@functools.cache
def _compiled(name: str) -> Callable[..., None] | None:
    """The numba-compiled loop ``name``, or None without numba (asked once per process)."""
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(_LOOPS[name], cache=True, nogil=True, error_model="numpy")


def _kernel(name: str) -> Callable[..., None] | None:
    """The compiled loop ``name`` unless ``MLP_KERNELS=numpy`` asks for NumPy/SciPy alone."""
    if os.environ.get("MLP_KERNELS", "auto") == "numpy":
        return None
    return _compiled(name)

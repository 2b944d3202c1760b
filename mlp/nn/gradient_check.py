"""Check analytic gradients against central finite differences in float64.

The error reported is CS231n's ``rel_error`` taken entry by entry,
``max(|a - n| / max(1e-8, |a| + |n|))`` for analytic ``a`` and numeric ``n``, less what the
finite differences cannot resolve: a central difference ``(L(p + eps) - L(p - eps)) / (2 eps)``
is only known to about ``spacing(L) / (2 eps)`` (the rounding of the two losses), so a
difference within ``RESOLUTION_ULPS`` of that step counts as none. A gradient that is truly
zero (the bias of a Layer before a BatchNorm, which the normalisation cancels) then reads 0,
not the ratio of two rounding errors.

``gradcheck(model, loss, X, y)`` checks every parameter and the input, whatever the input's
memory layout. Buffers are restored around every evaluation, so running statistics do not move,
and a wrong or mis-shaped gradient is reported with the index of its module and the name of its
parameter: the check to run on a module of one's own.
"""

from __future__ import annotations

import numpy as np

from mlp.nn.losses import Loss
from mlp.nn.model import Model

#: the floor of the relative error's denominator (CS231n's ``rel_error``)
FLOOR = 1e-8
#: the rounding a central difference is allowed, in units of ``spacing(L) / (2 eps)``
RESOLUTION_ULPS = 16


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = FLOOR,
                   allowance: float = 0.0) -> float:
    """The largest relative error between the entries of two arrays of one shape.

    ``max(max(|a - b| - allowance, 0) / max(floor, |a| + |b|))``; with the defaults this is
    CS231n's ``rel_error``. The floor keeps entries that are both (nearly) zero from
    dividing noise by noise; ``allowance`` is an absolute difference that counts as none
    (``gradcheck`` passes the resolution of its finite differences).

    Parameters
    ----------
    a, b : array_like
        The two arrays (any shape, the same for both).
    floor : float
        The smallest denominator.
    allowance : float
        The absolute difference that is not counted.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    excess = np.maximum(np.abs(a - b) - allowance, 0.0)
    return float(np.max(excess / np.maximum(floor, np.abs(a) + np.abs(b))))


def gradcheck(
    model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, eps: float = 1e-6, seed: int = 0,
    *, errors: dict[str, float] | None = None,
) -> float:
    """The largest relative error between back-propagated and finite-difference gradients.

    Works on a float64 copy of ``model`` (the model itself is not changed), in training mode.
    Every parameter of every module and the input ``X`` are perturbed by ``+-eps`` one entry
    at a time (in place, whatever the memory layout of ``X``) and
    ``(L(p + eps) - L(p - eps)) / (2 eps)`` is compared with the analytic gradient by
    ``relative_error`` (see the module docstring: CS231n's ``rel_error`` less the rounding of
    the finite differences). Dropout masks are held fixed by drawing them from a fresh
    ``Generator(seed)`` at every evaluation, and buffers (running statistics) are put back
    after every evaluation, so the finite differences do not move them. A module whose
    backward returns a gradient of the wrong shape raises ``GradientShapeError`` naming the
    module and the parameter.

    Parameters
    ----------
    model : Model
        The network to check.
    loss : Loss
        The loss on its outputs.
    X : array of shape (N, in_features)
        The inputs (any memory layout).
    y : array of shape (N,) or (N, out_features)
        The targets, as ``loss`` takes them.
    eps : float
        The step of the central differences.
    seed : int
        The seed of the generator the dropout masks are drawn from.
    errors : dict, optional
        Receives each array's error, under ``"input"`` and the ``state_dict()`` names.

    Returns
    -------
    float
        The largest error over all arrays (below 1e-7 for a correct backward).
    """
    net = model.astype("float64")
    x = np.array(X, dtype=np.float64)
    target = np.asarray(y)
    if target.dtype.kind == "f":
        target = target.astype(np.float64)
    parameter_keys = {key for key, _, _ in net.named_parameters()}
    buffers = {key: array for key, array in net.state_dict().items()
               if key not in parameter_keys}
    kept = {key: array.copy() for key, array in buffers.items()}

    def evaluate() -> float:
        out = net.forward(x, train=True, rng=np.random.default_rng(seed), validate=False)
        value = loss.forward(out, target)
        for key, array in buffers.items():
            np.copyto(array, kept[key])
        return value

    allowance = RESOLUTION_ULPS * float(np.spacing(abs(evaluate()))) / (2 * eps)
    grad_x = net.backward(loss.backward().copy(), check=True).copy()
    analytic = [("input", x, grad_x)]
    analytic += [(key, value, grad.copy()) for key, value, grad in net.named_parameters()]

    worst = 0.0
    for name, array, grad in analytic:
        numeric = np.empty_like(array)
        for index in np.ndindex(array.shape):  # the array itself, whatever its layout
            original = array[index]
            array[index] = original + eps
            plus = evaluate()
            array[index] = original - eps
            minus = evaluate()
            array[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        error = relative_error(grad, numeric, allowance=allowance)
        if errors is not None:
            errors[name] = error
        worst = max(worst, error)
    return worst

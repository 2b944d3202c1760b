"""Check analytic gradients against central finite differences in float64."""

from __future__ import annotations

import numpy as np

from mlp.losses import Loss
from mlp.model import Model


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||a - n|| / max(||a|| + ||n||, 1e-300)``, the relative error of two gradient arrays."""
    scale = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return float(np.linalg.norm(analytic - numeric)) / max(scale, 1e-300)


def gradcheck(
    model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, eps: float = 1e-6, seed: int = 0,
    *, errors: dict[str, float] | None = None,
) -> float:
    """The maximum relative error between back-propagated and finite-difference gradients.

    Works on a float64 copy of ``model`` (the model itself is not changed), in training mode.
    Every parameter of every module and the input ``X (N, in)`` are perturbed by ``+-eps``
    one entry at a time and ``(L(p + eps) - L(p - eps)) / (2 eps)`` is compared with the
    analytic gradient; the error of an array is ``||a - n|| / (||a|| + ||n||)`` and the
    largest over all arrays is returned (``errors``, when given, receives each array's,
    under ``"input"`` and the ``state_dict()`` names). Dropout masks are held fixed by
    drawing them from a fresh ``Generator(seed)`` at every evaluation, and buffers (running
    statistics) are put back after every evaluation, so the finite differences do not move
    them. A module whose backward returns a gradient of the wrong shape raises
    ``GradientShapeError`` naming the module and the parameter.
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

    evaluate()
    grad_x = net.backward(loss.backward().copy(), check=True).copy()
    analytic = [("input", x, grad_x)]
    analytic += [(key, value, grad.copy()) for key, value, grad in net.named_parameters()]

    worst = 0.0
    for name, array, grad in analytic:
        numeric = np.empty_like(array)
        flat, flat_numeric = array.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = evaluate()
            flat[i] = original - eps
            minus = evaluate()
            flat[i] = original
            flat_numeric[i] = (plus - minus) / (2 * eps)
        error = _relative_error(grad, numeric)
        if errors is not None:
            errors[name] = error
        worst = max(worst, error)
    return worst

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
    model: Model, loss: Loss, X: np.ndarray, y: np.ndarray, eps: float = 1e-6, seed: int = 0
) -> float:
    """The maximum relative error between back-propagated and finite-difference gradients.

    Works on a float64 copy of ``model`` (the model itself is not changed). Every weight, every
    bias and the input ``X (N, in)`` are perturbed by ``+-eps`` one entry at a time and
    ``(L(p + eps) - L(p - eps)) / (2 eps)`` is compared with the analytic gradient; the error
    of an array is ``||a - n|| / (||a|| + ||n||)`` and the largest over all arrays is returned.
    Dropout masks are held fixed by drawing them from a fresh ``Generator(seed)`` at every
    evaluation.
    """
    net = model.astype("float64")
    x = np.array(X, dtype=np.float64)
    target = np.asarray(y)
    if target.dtype.kind == "f":
        target = target.astype(np.float64)

    def evaluate() -> float:
        out = net.forward(x, train=True, rng=np.random.default_rng(seed), validate=False)
        return loss.forward(out, target)

    evaluate()
    grad_x = net.backward(loss.backward().copy()).copy()
    analytic = [(x, grad_x)]
    for layer in net.layers:
        analytic.append((layer.weight, layer.grad_weight.copy()))
        analytic.append((layer.bias, layer.grad_bias.copy()))

    worst = 0.0
    for array, grad in analytic:
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
        worst = max(worst, _relative_error(grad, numeric))
    return worst

"""Optimizer update rules over one parameter array, as PyTorch defines them.

Each rule updates ``param`` and its moment buffers in place and allocates nothing: every
temporary lives in ``scratch`` (an array shaped like ``param``, clobbered), and all arithmetic
goes through ufuncs with ``out=``. The gradient passed in is never modified. Hyperparameters
are Python floats, so float32 parameters stay float32 (no upcasting) and float64 stay float64.

The formulas are those of ``torch.optim.SGD`` (dampening 0, coupled weight decay),
``torch.optim.RMSprop`` (not centred, no momentum, eps outside the square root),
``torch.optim.Adam`` (bias-corrected, eps outside the square root, coupled weight decay) and
``torch.optim.AdamW`` (decoupled weight decay); ``clip_grad_norm`` is ``clip_grad_norm_``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlp.kernels import Kernels

__all__ = [
    "OPTIMIZERS",
    "Hyperparameters",
    "adam",
    "adam_scalars",
    "adamw",
    "apply_update",
    "clip_grad_norm",
    "momentum",
    "rmsprop",
    "sgd",
]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def _decayed(param: np.ndarray, grad: np.ndarray, weight_decay: float,
             scratch: np.ndarray) -> np.ndarray:
    """``g = grad + weight_decay*param``: ``grad`` itself when the decay is 0, else ``scratch``."""
    if weight_decay == 0.0:
        return grad
    np.multiply(param, weight_decay, out=scratch)
    np.add(scratch, grad, out=scratch)
    return scratch


def sgd(param: np.ndarray, grad: np.ndarray, *, lr: float, weight_decay: float = 0.0,
        scratch: np.ndarray) -> None:
    """Plain SGD (``torch.optim.SGD`` with momentum 0)::

        g = grad + weight_decay * param
        param -= lr * g
    """
    g = _decayed(param, grad, weight_decay, scratch)
    np.multiply(g, lr, out=scratch)
    np.subtract(param, scratch, out=param)


def momentum(param: np.ndarray, grad: np.ndarray, buf: np.ndarray, *, lr: float,
             momentum: float, weight_decay: float = 0.0, nesterov: bool = False,
             scratch: np.ndarray) -> None:
    """SGD with momentum (``torch.optim.SGD``, dampening 0)::

        g = grad + weight_decay * param
        buf = momentum * buf + g            (buf starts at zeros: PyTorch's first-step clone)
        g = g + momentum * buf  if nesterov  else  g = buf
        param -= lr * g

    The Nesterov step is applied as ``param -= lr*g`` then ``param -= lr*momentum*buf`` so
    that one scratch array suffices.
    """
    g = _decayed(param, grad, weight_decay, scratch)
    np.multiply(buf, momentum, out=buf)
    np.add(buf, g, out=buf)
    if nesterov:
        np.multiply(g, lr, out=scratch)
        np.subtract(param, scratch, out=param)
        np.multiply(buf, lr * momentum, out=scratch)
    else:
        np.multiply(buf, lr, out=scratch)
    np.subtract(param, scratch, out=param)


def rmsprop(param: np.ndarray, grad: np.ndarray, sq: np.ndarray, *, lr: float, alpha: float,
            eps: float, weight_decay: float = 0.0, scratch: np.ndarray) -> None:
    """RMSprop (``torch.optim.RMSprop``, not centred, momentum 0)::

        g = grad + weight_decay * param
        sq = alpha * sq + (1 - alpha) * g**2
        param -= lr * g / (sqrt(sq) + eps)

    With weight decay, ``g`` is needed again after ``scratch`` holds the denominator
    ``d = sqrt(sq) + eps``, so the last line is evaluated in the equivalent form
    ``param = (param * (d/lr - weight_decay) - grad) / (d/lr)`` (``lr == 0`` leaves
    ``param`` as it is).
    """
    g = _decayed(param, grad, weight_decay, scratch)
    np.square(g, out=scratch)
    np.multiply(sq, alpha, out=sq)
    np.multiply(scratch, 1.0 - alpha, out=scratch)
    np.add(sq, scratch, out=sq)
    np.sqrt(sq, out=scratch)
    np.add(scratch, eps, out=scratch)
    if weight_decay == 0.0:
        np.divide(grad, scratch, out=scratch)
        np.multiply(scratch, lr, out=scratch)
        np.subtract(param, scratch, out=param)
    elif lr != 0.0:
        np.divide(scratch, lr, out=scratch)
        np.subtract(scratch, weight_decay, out=scratch)
        np.multiply(param, scratch, out=param)
        np.subtract(param, grad, out=param)
        np.add(scratch, weight_decay, out=scratch)
        np.divide(param, scratch, out=param)


def adam_scalars(step: int, lr: float, beta1: float, beta2: float) -> tuple[float, float]:
    """Adam's step size ``lr / (1 - beta1**step)`` and ``sqrt(1 - beta2**step)``, in Python
    floats (shared by the NumPy rule and the compiled kernel); ``step`` counts from 1."""
    if step < 1:
        raise ValueError(f"Adam's step counts from 1, got {step}")
    return lr / (1.0 - beta1**step), math.sqrt(1.0 - beta2**step)


def adam(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int,
         lr: float, beta1: float, beta2: float, eps: float, weight_decay: float = 0.0,
         scratch: np.ndarray) -> None:
    """Adam (``torch.optim.Adam``, amsgrad off), ``step`` counting from 1::

        g = grad + weight_decay * param
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    ``m`` is updated as ``(m - g) * beta1 + g``, which equals the first line and needs no
    temporary.
    """
    step_size, bias_correction2_sqrt = adam_scalars(step, lr, beta1, beta2)
    g = _decayed(param, grad, weight_decay, scratch)
    np.subtract(m, g, out=m)
    np.multiply(m, beta1, out=m)
    np.add(m, g, out=m)
    np.square(g, out=scratch)
    np.multiply(v, beta2, out=v)
    np.multiply(scratch, 1.0 - beta2, out=scratch)
    np.add(v, scratch, out=v)
    np.sqrt(v, out=scratch)
    np.divide(scratch, bias_correction2_sqrt, out=scratch)
    np.add(scratch, eps, out=scratch)
    np.divide(m, scratch, out=scratch)
    np.multiply(scratch, step_size, out=scratch)
    np.subtract(param, scratch, out=param)


def adamw(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int,
          lr: float, beta1: float, beta2: float, eps: float, weight_decay: float = 0.0,
          scratch: np.ndarray) -> None:
    """AdamW (``torch.optim.AdamW``, amsgrad off): decoupled weight decay, then Adam::

        param *= 1 - lr * weight_decay
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)
    """
    if weight_decay != 0.0:
        np.multiply(param, 1.0 - lr * weight_decay, out=param)
    adam(param, grad, m, v, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
         scratch=scratch)


def clip_grad_norm(grads: list[np.ndarray], max_norm: float | None) -> float:
    """The global L2 norm of ``grads``, clipping them in place as ``clip_grad_norm_``.

    ``total = sqrt(sum over arrays of sum(g**2))``, accumulated in float64 array by array
    (nothing is concatenated). If ``max_norm`` is not None and ``total > max_norm``, every
    gradient is scaled in place by ``max_norm / (total + 1e-6)``. Returns ``total``, the norm
    before clipping.
    """
    squares = 0.0
    for g in grads:
        flat = g.reshape(-1)
        if g.dtype == np.float64:
            squares += float(np.dot(flat, flat))
        else:
            squares += float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    total = math.sqrt(squares)
    if max_norm is not None and total > max_norm:
        coef = max_norm / (total + 1e-6)
        for g in grads:
            np.multiply(g, coef, out=g)
    return total


@dataclass
class Hyperparameters:
    """The optimizer hyperparameters ``apply_update`` reads (a ``TrainingConfig`` has the
    same names and may stand in for it)."""

    lr: float
    momentum: float = 0.9
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


def apply_update(name: str, param: np.ndarray, grad: np.ndarray, m: np.ndarray,
                 v: np.ndarray, *, step: int, hp: Hyperparameters, scratch: np.ndarray,
                 lr: float | None = None, kernels: Kernels | None = None) -> None:
    """One in-place update of ``param`` by optimizer ``name`` (one of ``OPTIMIZERS``).

    ``m`` is the velocity of ``momentum``/``nesterov``, ``v`` the square average of
    ``rmsprop``, both are used by ``adam``/``adamw``; a buffer a rule does not use is left
    untouched. ``step`` is the 1-based update count (used by Adam's bias corrections);
    ``lr`` (by default ``hp.lr``) is this step's learning rate. With ``kernels`` on numba
    (``mlp.kernels``) the rule runs as one compiled pass that gives the same bits as the
    NumPy functions above, which run otherwise.
    """
    lr, wd = float(hp.lr if lr is None else lr), float(hp.weight_decay)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    beta1, beta2 = float(hp.beta1), float(hp.beta2)
    step_size, bias_correction2_sqrt = (adam_scalars(step, lr, beta1, beta2)
                                        if name in ("adam", "adamw") else (0.0, 1.0))
    if kernels is not None and kernels.update(
            name, param, grad, m, v, lr=lr, momentum=float(hp.momentum), alpha=float(hp.alpha),
            beta1=beta1, beta2=beta2, eps=float(hp.eps), weight_decay=wd, step_size=step_size,
            bias_correction2_sqrt=bias_correction2_sqrt):
        return  # one compiled pass, bit-identical to the NumPy rules below
    if name == "sgd":
        sgd(param, grad, lr=lr, weight_decay=wd, scratch=scratch)
    elif name in ("momentum", "nesterov"):
        momentum(param, grad, m, lr=lr, momentum=float(hp.momentum), weight_decay=wd,
                 nesterov=name == "nesterov", scratch=scratch)
    elif name == "rmsprop":
        rmsprop(param, grad, v, lr=lr, alpha=float(hp.alpha), eps=float(hp.eps),
                weight_decay=wd, scratch=scratch)
    elif name in ("adam", "adamw"):
        rule = adam if name == "adam" else adamw
        rule(param, grad, m, v, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=float(hp.eps),
             weight_decay=wd, scratch=scratch)

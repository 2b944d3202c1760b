"""Optimizer update rules over one parameter array, as PyTorch defines them.

Each rule updates ``param`` and its moment buffers in place and allocates nothing: every
temporary lives in ``scratch`` (an array shaped like ``param``, clobbered), and all arithmetic
goes through ufuncs with ``out=``. The gradient passed in is never modified. Hyperparameters
are Python floats, so float32 parameters stay float32 (no upcasting) and float64 stay float64.

The formulas are those of ``torch.optim.SGD`` (dampening 0, coupled weight decay),
``torch.optim.RMSprop`` (not centred, no momentum, eps outside the square root),
``torch.optim.Adam`` (bias-corrected, eps outside the square root, coupled weight decay) and
``torch.optim.AdamW`` (decoupled weight decay), ``torch.optim.Adam(amsgrad=True)``;
``clip_grad_norm`` is ``clip_grad_norm_``.

Each rule is registered as one ``UpdateRule`` record in ``UPDATE_RULES`` (the names the
``optimizer`` field accepts): its NumPy rule, the state buffers it keeps (each shaped like
the parameters, starting at zeros, owned by the ``Optimizer``), the configuration fields it
reads, and optionally a loop that ``mlp.nn.fused`` compiles with numba, with the scalars it
takes. The loops perform exactly the floating-point operations of the NumPy rules, in the
same order and precision, so both paths give the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from mlp.nn.fused import Kernels
from mlp.registry import Registry

__all__ = [
    "UPDATE_RULES",
    "Hyperparameters",
    "UpdateRule",
    "adam",
    "adam_scalars",
    "apply_update",
    "clip_grad_norm",
    "register_update_rule",
    "rmsprop",
    "sgd",
]


def _decayed(param: np.ndarray, grad: np.ndarray, weight_decay: float,
             scratch: np.ndarray) -> np.ndarray:
    """``g = grad + weight_decay*param``: ``grad`` itself when the decay is 0, else ``scratch``."""
    if weight_decay == 0.0:
        return grad
    np.multiply(param, weight_decay, out=scratch)
    np.add(scratch, grad, out=scratch)
    return scratch


def sgd(param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None = None, *, lr: float,
        momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
        scratch: np.ndarray) -> None:
    """SGD, with momentum when given its buffer (``torch.optim.SGD``, dampening 0)::

        g = grad + weight_decay * param
        buf = momentum * buf + g            (buf starts at zeros: PyTorch's first-step clone)
        g = g + momentum * buf  if nesterov  else  g = buf
        param -= lr * g

    Without ``buf`` (plain SGD) the second and third lines are skipped. The Nesterov step is
    applied as ``param -= lr*g`` then ``param -= lr*momentum*buf`` so that one scratch array
    suffices.

    Parameters
    ----------
    param, grad : numpy.ndarray
        The parameters (updated in place) and their gradient, one shape.
    buf : numpy.ndarray, optional
        The momentum buffer, shaped like ``param`` (updated in place); None for plain SGD.
    lr, momentum, weight_decay : float
        The learning rate, the momentum factor and the coupled weight decay.
    nesterov : bool
        Nesterov momentum.
    scratch : numpy.ndarray
        A work array shaped like ``param`` (clobbered).
    """
    g = _decayed(param, grad, weight_decay, scratch)
    if buf is None:
        np.multiply(g, lr, out=scratch)
    else:
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

    Parameters
    ----------
    param, grad : numpy.ndarray
        The parameters (updated in place) and their gradient, one shape.
    sq : numpy.ndarray
        The running mean of the squared gradients, shaped like ``param`` (updated in place).
    lr, alpha, eps, weight_decay : float
        The learning rate, the decay of ``sq``, the term added to the denominator and the
        coupled weight decay.
    scratch : numpy.ndarray
        A work array shaped like ``param`` (clobbered).
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
    """Adam's step size ``lr / (1 - beta1**step)`` and ``sqrt(1 - beta2**step)``.

    In Python floats, shared by the NumPy rule and the compiled kernel.

    Parameters
    ----------
    step : int
        The 1-based update count.
    lr, beta1, beta2 : float
        The learning rate and the moments' decays (``Hyperparameters``).

    Returns
    -------
    tuple of float
        ``(step_size, bias_correction2_sqrt)``.

    Raises
    ------
    ValueError
        For a step below 1.

    Examples
    --------
    >>> from mlp.optim import adam_scalars
    >>> adam_scalars(1, 0.1, 0.5, 0.75)
    (0.2, 0.5)
    """
    if step < 1:
        raise ValueError(f"Adam's step counts from 1, got {step}")
    return lr / (1.0 - beta1**step), math.sqrt(1.0 - beta2**step)


def adam(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray,
         v_max: np.ndarray | None = None, *, step: int, lr: float, beta1: float, beta2: float,
         eps: float, weight_decay: float = 0.0, decoupled: bool = False, amsgrad: bool = False,
         scratch: np.ndarray) -> None:
    """Adam (``torch.optim.Adam``), AdamW (``decoupled``, ``torch.optim.AdamW``) and AMSGrad
    (``amsgrad``, ``torch.optim.Adam(amsgrad=True)``), ``step`` counting from 1::

        param *= 1 - lr * weight_decay         if decoupled (then g = grad)
        g = grad + weight_decay * param        otherwise
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                  if amsgrad (then v_max stands for v below)
        param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    ``m`` is updated as ``(m - g) * beta1 + g``, which equals the first line and needs no
    temporary.

    Parameters
    ----------
    param, grad : numpy.ndarray
        The parameters (updated in place) and their gradient, one shape.
    m, v : numpy.ndarray
        The first and second moments, shaped like ``param`` (updated in place).
    v_max : numpy.ndarray, optional
        AMSGrad's largest second moment so far (updated in place); needed with ``amsgrad``.
    step : int
        The 1-based update count (the bias corrections).
    lr, beta1, beta2, eps, weight_decay : float
        Adam's hyperparameters; the weight decay is coupled unless ``decoupled``.
    decoupled, amsgrad : bool
        AdamW's decoupled weight decay; AMSGrad's maximum of the second moments.
    scratch : numpy.ndarray
        A work array shaped like ``param`` (clobbered).
    """
    if amsgrad and v_max is None:
        raise ValueError("adam(amsgrad=True) needs the v_max buffer")
    step_size, bias_correction2_sqrt = adam_scalars(step, lr, beta1, beta2)
    if decoupled:
        if weight_decay != 0.0:
            np.multiply(param, 1.0 - lr * weight_decay, out=param)
        g = grad
    else:
        g = _decayed(param, grad, weight_decay, scratch)
    np.subtract(m, g, out=m)
    np.multiply(m, beta1, out=m)
    np.add(m, g, out=m)
    np.square(g, out=scratch)
    np.multiply(v, beta2, out=v)
    np.multiply(scratch, 1.0 - beta2, out=scratch)
    np.add(v, scratch, out=v)
    if amsgrad:
        v_max = cast(np.ndarray, v_max)  # given whenever amsgrad is
        np.maximum(v_max, v, out=v_max)
        v = v_max
    np.sqrt(v, out=scratch)
    np.divide(scratch, bias_correction2_sqrt, out=scratch)
    np.add(scratch, eps, out=scratch)
    np.divide(m, scratch, out=scratch)
    np.multiply(scratch, step_size, out=scratch)
    np.subtract(param, scratch, out=param)


def clip_grad_norm(grads: list[np.ndarray], max_norm: float | None) -> float:
    """The global L2 norm of ``grads``, clipping them in place as ``clip_grad_norm_``.

    ``total = sqrt(sum over arrays of sum(g**2))``, accumulated in float64 array by array
    (nothing is concatenated). If ``max_norm`` is not None and ``total > max_norm``, every
    gradient is scaled in place by ``max_norm / (total + 1e-6)``.

    Parameters
    ----------
    grads : list of numpy.ndarray
        The gradients, scaled in place.
    max_norm : float or None
        The largest norm kept (None: no clipping).

    Returns
    -------
    float
        ``total``, the norm before clipping.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.optim import clip_grad_norm
    >>> grads = [np.array([3.0]), np.array([4.0])]
    >>> clip_grad_norm(grads, None)
    5.0
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
    """The optimizer hyperparameters the rules read.

    A ``TrainingConfig`` has the same names and may stand in for it.

    Parameters
    ----------
    lr : float
        The learning rate.
    momentum : float
        SGD's momentum factor.
    alpha : float
        RMSprop's decay of the squared gradients.
    beta1 : float
        Adam's decay of the first moment.
    beta2 : float
        Adam's decay of the second moment.
    eps : float
        Added to the denominators of RMSprop and Adam.
    weight_decay : float
        The weight decay (coupled, or decoupled for AdamW).
    """

    lr: float
    momentum: float = 0.9
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass(frozen=True)
class UpdateRule:
    """One update rule, as the ``Optimizer`` and the compiled kernels use it.

    A buffer of the same name is shared with another rule, so switching between rules that
    keep ``m`` continues it.

    Parameters
    ----------
    name : str
        The name the ``optimizer`` field accepts.
    update : callable
        ``update(param, grad, state, *, step, lr, hp, scratch)``, the NumPy rule over flat
        arrays (``state`` the tuple of this rule's buffers, in the order of ``state``; ``hp``
        the configuration; ``scratch`` a work array shaped like ``param``).
    state : tuple of str
        The buffers the rule keeps, saved in checkpoints under those names.
    hyperparameters : tuple of str
        The configuration fields the rule reads.
    kernel : callable, optional
        ``kernel(param, grad, *state, *scalars)``, a loop over the elements that
        ``mlp.nn.fused`` compiles.
    constants : callable, optional
        ``constants(c, lr, hp)``, the kernel's scalars for one learning rate (``c`` converts a
        Python float to the arrays' dtype).
    step_constants : callable, optional
        ``step_constants(c, constants, step, lr, hp)``, those of one step.
    kernel_arrays : tuple of int, optional
        The loop's array arguments as positions in ``(param, grad, *state)`` (a loop shared
        by rules that keep fewer buffers takes another array in the place of a missing one,
        which it then leaves alone); by default all of them in that order.
    """

    name: str
    update: Callable[..., None]
    state: tuple[str, ...] = ()
    hyperparameters: tuple[str, ...] = ("weight_decay",)
    kernel: Callable[..., None] | None = field(default=None, compare=False)
    constants: Callable[..., tuple[Any, ...]] | None = None
    step_constants: Callable[..., tuple[Any, ...]] | None = None
    kernel_arrays: tuple[int, ...] | None = None


UPDATE_RULES: Registry[UpdateRule] = Registry(
    "optimizer", "mlp.optimizers", "calling mlp.optim.rules.register_update_rule(UpdateRule(...))")


def register_update_rule(rule: UpdateRule) -> UpdateRule:
    """Register ``rule`` under ``rule.name``: the ``optimizer`` field then accepts that name.

    Parameters
    ----------
    rule : UpdateRule
        The rule.

    Returns
    -------
    UpdateRule
        ``rule``.

    Raises
    ------
    RegistryError
        If another rule has the name.
    """
    return UPDATE_RULES.register(rule.name, rule)


def apply_update(name: str | UpdateRule, param: np.ndarray, grad: np.ndarray,
                 *state: np.ndarray, step: int, hp: Any, scratch: np.ndarray,
                 lr: float | None = None, kernels: Kernels | None = None) -> None:
    """One in-place update of ``param`` by the rule ``name``.

    ``step`` is the 1-based update count (Adam's bias corrections). With ``kernels`` on
    numba (``mlp.nn.fused``) a rule with a loop runs as one compiled pass that gives the same
    bits as its NumPy rule, which runs otherwise.

    Parameters
    ----------
    name : str or UpdateRule
        A registered name, or a rule.
    param : numpy.ndarray
        The parameters, updated in place.
    grad : numpy.ndarray
        Their gradient (not modified).
    *state : numpy.ndarray
        The rule's state buffers, in the order of ``UpdateRule.state``.
    step : int
        The 1-based update count.
    hp : Hyperparameters or TrainingConfig
        The hyperparameters the rule reads.
    scratch : numpy.ndarray
        A work array shaped like ``param``, clobbered.
    lr : float, optional
        This step's learning rate (by default ``hp.lr``).
    kernels : mlp.nn.fused.Kernels, optional
        The compiled kernels.

    Raises
    ------
    ValueError
        When the number of state buffers is not the rule's.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.optim import Hyperparameters, apply_update
    >>> param = np.array([1.0, 2.0])
    >>> apply_update("sgd", param, np.array([1.0, 1.0]), step=1, hp=Hyperparameters(lr=0.5),
    ...              scratch=np.empty(2))
    >>> param
    array([0.5, 1.5])
    """
    rule = name if isinstance(name, UpdateRule) else UPDATE_RULES.get(name)
    if len(state) != len(rule.state):
        raise ValueError(f"optimizer {rule.name!r} keeps {len(rule.state)} state buffer(s) "
                         f"{rule.state}, found {len(state)}")
    lr = float(hp.lr if lr is None else lr)
    if kernels is not None and kernels.update(rule, param, grad, state, step=step, lr=lr,
                                              hp=hp):
        return  # one compiled pass, bit-identical to the NumPy rule
    rule.update(param, grad, state, step=step, lr=lr, hp=hp, scratch=scratch)


# ------------------------------------------------------------------ the records
def _numpy_update(function: Callable[..., None], hyperparameters: tuple[str, ...],
                  stepped: bool = False, **options: Any) -> Callable[..., None]:
    """The ``UpdateRule.update`` calling the rule ``function`` with the configuration's
    ``hyperparameters`` by name (as floats), the ``step`` when ``stepped``, and ``options``.

    Parameters
    ----------
    function : callable
        A rule of this module, ``function(param, grad, *state, lr=, scratch=, ...)``.
    hyperparameters : tuple of str
        The configuration fields it takes, under the same names.
    stepped : bool
        Whether it takes the 1-based ``step``.
    **options
        Its flags (``nesterov``, ``decoupled``, ``amsgrad``).
    """
    def update(param: np.ndarray, grad: np.ndarray, state: Sequence[np.ndarray], *,
               step: int, lr: float, hp: Any, scratch: np.ndarray) -> None:
        values = {name: float(getattr(hp, name)) for name in hyperparameters}
        if stepped:
            values["step"] = step
        function(param, grad, *state, lr=lr, scratch=scratch, **values, **options)
    return update


def _sgd_constants(momentum: bool, nesterov: bool) -> Callable[..., tuple[Any, ...]]:
    """``_sgd_loop``'s scalars (plain SGD when not ``momentum``)."""
    def constants(c: Callable[[float], Any], lr: float, hp: Any) -> tuple[Any, ...]:
        wd, mom = float(hp.weight_decay), float(hp.momentum) if momentum else 0.0
        return c(lr), c(mom), c(lr * mom), c(wd), wd != 0.0, momentum, nesterov
    return constants


def _rmsprop_constants(c: Callable[[float], Any], lr: float, hp: Any) -> tuple[Any, ...]:
    wd, alpha = float(hp.weight_decay), float(hp.alpha)
    return c(lr), c(alpha), c(1.0 - alpha), c(float(hp.eps)), c(wd), wd != 0.0, lr != 0.0


def _adam_constants(decoupled: bool, amsgrad: bool) -> Callable[..., tuple[Any, ...]]:
    """``_adam_loop``'s scalars but the two that change every step."""
    def constants(c: Callable[[float], Any], lr: float, hp: Any) -> tuple[Any, ...]:
        wd, beta2 = float(hp.weight_decay), float(hp.beta2)
        return (c(float(hp.beta1)), c(beta2), c(1.0 - beta2), c(float(hp.eps)), c(wd),
                not decoupled and wd != 0.0, c(1.0 - lr * wd), decoupled and wd != 0.0,
                amsgrad)
    return constants


def _adam_step_constants(c: Callable[[float], Any], constants: tuple[Any, ...], step: int,
                         lr: float, hp: Any) -> tuple[Any, ...]:
    """The step's scalars in the loop's order: the bias corrections go in between."""
    step_size, bias_correction2_sqrt = adam_scalars(step, lr, float(hp.beta1),
                                                    float(hp.beta2))
    b1, b2, one_minus_b2, eps, *rest = constants
    return (b1, b2, one_minus_b2, c(bias_correction2_sqrt), eps, c(step_size), *rest)


# Each loop mirrors its NumPy rule operation by operation (see the rules above); a rule's
# missing buffer is given as another array the loop then never touches (``kernel_arrays``).
# Boolean flags are loop-invariant, so LLVM unswitches them out of the vectorised loop.
def _sgd_loop(p, g, buf, lr, mom, lr_mom, wd, coupled, momentum,
              nesterov):  # pragma: no cover - compiled
    for i in range(p.size):
        gi = p[i] * wd + g[i] if coupled else g[i]
        if not momentum:
            p[i] = p[i] - gi * lr
        else:
            b = buf[i] * mom + gi
            buf[i] = b
            if nesterov:
                p[i] = (p[i] - gi * lr) - b * lr_mom
            else:
                p[i] = p[i] - b * lr


def _rmsprop_loop(p, g, sq, lr, alpha, one_minus_alpha, eps, wd, coupled,
                  moves):  # pragma: no cover - compiled
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


def _adam_loop(p, g, m, v, v_max, beta1, beta2, one_minus_beta2, bc2_sqrt, eps, step_size,
               wd, coupled, decay, decoupled, amsgrad):  # pragma: no cover - compiled
    for i in range(p.size):
        pi = p[i] * decay if decoupled else p[i]
        gi = pi * wd + g[i] if coupled else g[i]
        mi = (m[i] - gi) * beta1 + gi
        m[i] = mi
        vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
        v[i] = vi
        if amsgrad:
            top = v_max[i]
            if vi > top or vi != vi:  # np.maximum propagates NaN
                top = vi
            v_max[i] = top
            vi = top
        p[i] = pi - (mi / (np.sqrt(vi) / bc2_sqrt + eps)) * step_size


def _adam_rule(name: str, decoupled: bool = False, amsgrad: bool = False) -> UpdateRule:
    """The record of Adam with its flags (``adam``)."""
    fields = ("beta1", "beta2", "eps", "weight_decay")
    return UpdateRule(name, _numpy_update(adam, fields, True, decoupled=decoupled,
                                          amsgrad=amsgrad),
                      ("m", "v", "v_max") if amsgrad else ("m", "v"), fields, _adam_loop,
                      _adam_constants(decoupled, amsgrad), _adam_step_constants,
                      None if amsgrad else (0, 1, 2, 3, 3))


def _sgd_rule(name: str, momentum: bool = False, nesterov: bool = False) -> UpdateRule:
    """The record of SGD with its flags (``sgd``)."""
    fields = ("momentum", "weight_decay") if momentum else ("weight_decay",)
    return UpdateRule(name, _numpy_update(sgd, fields, nesterov=nesterov),
                      ("m",) if momentum else (), fields,
                      _sgd_loop, _sgd_constants(momentum, nesterov), None,
                      None if momentum else (0, 1, 1))


for _rule in (
    _sgd_rule("sgd"), _sgd_rule("momentum", momentum=True),
    _sgd_rule("nesterov", momentum=True, nesterov=True),
    UpdateRule("rmsprop", _numpy_update(rmsprop, ("alpha", "eps", "weight_decay")), ("v",),
               ("alpha", "eps", "weight_decay"), _rmsprop_loop, _rmsprop_constants),
    _adam_rule("adam"), _adam_rule("adamw", decoupled=True),
    _adam_rule("amsgrad", amsgrad=True),
):
    register_update_rule(_rule)

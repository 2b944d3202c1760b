"""Writing your own module, loss and update rule: a Swish activation, the Huber loss and the
Lion optimizer, registered from outside the library.

Import this file before a config or checkpoint that names them is read: ``import
custom_modules`` in a script, or ``mlp train scripts/configs/custom.json --plugin
scripts/custom_modules.py`` on the command line. ``scripts/train_custom.py`` trains, checks,
saves, resumes and exports them.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PrivateAttr

from mlp import Context, Loss, Module
from mlp.optim.rules import UpdateRule, register_update_rule


class Swish(Module, type="swish"):
    """``y = x * sigmoid(beta x)``; ``dy/dx = s + beta x s (1 - s)`` with ``s = sigmoid(beta x)``
    (Ramachandran et al., 2017). Keeps ``x`` and ``s`` for backward."""

    beta: float = Field(default=1.0, gt=0)

    _saved: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        s = 0.5 * (1.0 + np.tanh(0.5 * self.beta * x))  # sigmoid without overflow
        self._saved = (x, s) if ctx.train else None
        return x * s

    def backward(self, grad: np.ndarray, ctx: Context) -> np.ndarray:
        x, s = self._saved
        return grad * (s + self.beta * x * s * (1.0 - s))

    def to_onnx(self, graph, x: str) -> str:
        scaled = graph.op("Mul", [x, graph.scalar(self.beta)])
        return graph.op("Mul", [x, graph.op("Sigmoid", [scaled])])


class Huber(Loss, kind="huber"):
    """``torch.nn.HuberLoss``: ``0.5 d^2`` where ``|d| <= delta``, else
    ``delta (|d| - 0.5 delta)``, with ``d = pred - target``, averaged over a sample's outputs."""

    delta: float = Field(default=1.0, gt=0)

    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = pred - target.reshape(pred.shape)
        small = np.abs(d) <= self.delta
        terms = np.where(small, 0.5 * d * d, self.delta * (np.abs(d) - 0.5 * self.delta))
        grad = np.clip(d, -self.delta, self.delta) / pred.shape[1]
        return terms.mean(axis=1, dtype=np.float64), grad.astype(pred.dtype)


def lion(param, grad, state, *, step, lr, hp, scratch) -> None:
    """Lion (Chen et al., 2023), with decoupled weight decay::

        c = beta1 * m + (1 - beta1) * grad
        param = param * (1 - lr * weight_decay) - lr * sign(c)
        m = beta2 * m + (1 - beta2) * grad
    """
    (m,) = state
    np.multiply(m, hp.beta1, out=scratch)
    scratch += (1.0 - hp.beta1) * grad
    np.sign(scratch, out=scratch)
    param *= 1.0 - lr * hp.weight_decay
    scratch *= lr
    param -= scratch
    m *= hp.beta2
    m += (1.0 - hp.beta2) * grad


register_update_rule(UpdateRule("lion", lion, state=("m",),
                                hyperparameters=("beta1", "beta2", "weight_decay")))

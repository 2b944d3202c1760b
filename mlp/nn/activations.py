"""The activations of ``Nonlinearity``: one class per kind, each the only place its
derivative is written.

An activation's ``forward(x, out, work, kernels)`` fills ``out`` and returns what its
backward needs; ``backward(grad, saved, grad_in, work, kernels)`` fills ``grad_in``. ``work``
is a function giving named work arrays (reused across batches in training). Hyperparameters
(the leaky ReLU's slope) are attributes of the activation object that ``Nonlinearity``
builds. ``to_onnx(graph, x)`` writes the evaluation-mode nodes (``mlp.export``'s graph
builder), ``monitor`` says which diagnostic applies to the units before it (``"dead"`` for
ReLU, ``"saturated"`` for sigmoid and tanh, with ``edge``, the |pre-activation| beyond
which an output is within 1% of its limits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from mlp.nn.fused import Kernels

Work = Callable[[str, tuple[int, ...], Any], np.ndarray]

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
#: the first ONNX opset with a ``Gelu`` operator (and its ``approximate="tanh"``)
GELU_OPSET = 20


class Activation:
    """One activation kind (see the module docstring)."""

    kind: ClassVar[str]
    monitor: ClassVar[str | None] = None
    edge: ClassVar[float] = math.nan
    onnx_op: ClassVar[str | None] = None
    #: the name of the ``torch.nn`` module computing the same
    torch_class: ClassVar[str]

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        raise NotImplementedError

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        raise NotImplementedError

    def forward_with_bias(self, x: np.ndarray, bias: np.ndarray, out: np.ndarray, work: Work,
                          kernels: Kernels | None) -> Any:
        """``forward`` of ``x + bias``, the bias of the Layer before added to ``x`` in place
        (``x`` then holds that Layer's output); a kind with a compiled pass for both
        overrides it.

        Parameters
        ----------
        x : numpy.ndarray
            The Layer's product ``(N, D)`` before its bias (changed in place).
        bias : numpy.ndarray
            The Layer's bias ``(D,)``.
        out : numpy.ndarray
            The activations ``(N, D)``, filled.
        work : callable
            Named work arrays.
        kernels : Kernels, optional
            The compiled kernels, if any.
        """
        np.add(x, bias, out=x)
        return self.forward(x, out, work, kernels)

    def backward_with_bias(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray,
                           grad_bias: np.ndarray, work: Work, kernels: Kernels | None) -> bool:
        """``backward``, and the bias gradient of the Layer before (``grad_bias =
        grad_in.sum(axis=0)``) when a compiled pass computes both (True); else only
        ``backward`` (False: the Layer sums its bias gradient itself).

        Parameters
        ----------
        grad, grad_in : numpy.ndarray
            The gradient with respect to the output, and the one with respect to the input
            (filled), ``(N, D)``.
        saved : object
            What ``forward`` returned.
        grad_bias : numpy.ndarray
            The Layer's bias gradient ``(D,)``, filled when True is returned.
        work : callable
            Named work arrays.
        kernels : Kernels, optional
            The compiled kernels, if any.
        """
        self.backward(grad, saved, grad_in, work, kernels)
        return False

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op(self.onnx_op, [x])

    def to_torch(self, nn: Any) -> Any:
        """PyTorch's module of this activation (``nn`` is ``torch.nn``)."""
        return getattr(nn, self.torch_class)()

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """The settings of this kind (``{}`` when none) when ``module`` is its PyTorch module,
        else None; ``ValueError`` for settings this kind does not compute."""
        return {} if type(module) is getattr(nn, cls.torch_class) else None


class ReLU(Activation):
    """``max(x, 0)``; derivative 1 where the output is positive, else 0."""

    kind = "relu"
    torch_class = "ReLU"
    monitor = "dead"
    onnx_op = "Relu"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        if kernels is None or not kernels.relu_forward(x, out):
            np.maximum(x, 0, out=out)
        return out

    def forward_with_bias(self, x: np.ndarray, bias: np.ndarray, out: np.ndarray, work: Work,
                          kernels: Kernels | None) -> Any:
        if kernels is not None and kernels.bias_relu(x, bias, out):  # the same bits
            return out
        return super().forward_with_bias(x, bias, out, work, kernels)

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        """``grad_in = grad * (output > 0)``: the derivative, which the compiled passes
        (``mlp.nn.fused``) compute with the same bits."""
        if kernels is None or not kernels.relu_backward(grad, saved, grad_in):
            mask = work("mask", grad.shape, np.bool_)
            np.greater(saved, 0, out=mask)
            np.multiply(grad, mask, out=grad_in)

    def backward_with_bias(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray,
                           grad_bias: np.ndarray, work: Work, kernels: Kernels | None) -> bool:
        if kernels is not None and kernels.relu_backward_bias(grad, saved, grad_in, grad_bias):
            return True
        return super().backward_with_bias(grad, saved, grad_in, grad_bias, work, kernels)


class LeakyReLU(Activation):
    """``x`` where positive, else ``negative_slope * x``."""

    kind = "leaky_relu"
    torch_class = "LeakyReLU"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        mask = work("mask", x.shape, np.bool_)
        np.greater(x, 0, out=mask)
        np.multiply(x, self.negative_slope, out=out)
        np.copyto(out, x, where=mask)
        return mask

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        np.multiply(grad, self.negative_slope, out=grad_in)
        np.copyto(grad_in, grad, where=saved)

    def to_onnx(self, graph: Any, x: str) -> str:
        slope = float(self.negative_slope)
        if graph.dtype == np.float32:
            return graph.op("LeakyRelu", [x], alpha=slope)
        # onnxruntime's CPU provider has no double LeakyRelu: the same formula in three ops
        positive = graph.op("Greater", [x, graph.scalar(0.0)])
        return graph.op("Where", [positive, x, graph.op("Mul", [x, graph.scalar(slope)])])

    def to_torch(self, nn: Any) -> Any:
        return nn.LeakyReLU(self.negative_slope)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        return ({"negative_slope": module.negative_slope} if type(module) is nn.LeakyReLU
                else None)


class Sigmoid(Activation):
    """``(1 + tanh(x/2)) / 2``, which cannot overflow; derivative ``s (1 - s)``."""

    kind = "sigmoid"
    torch_class = "Sigmoid"
    monitor = "saturated"
    edge = math.log(99.0)  # sigmoid(z) < 0.01 or > 0.99  <=>  |z| > log(99)
    onnx_op = "Sigmoid"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        np.multiply(x, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1
        out *= 0.5
        return out

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        np.subtract(1, saved, out=grad_in)
        grad_in *= saved
        grad_in *= grad


class Tanh(Activation):
    """``tanh(x)``; derivative ``1 - tanh(x)^2``."""

    kind = "tanh"
    torch_class = "Tanh"
    monitor = "saturated"
    edge = math.atanh(0.99)
    onnx_op = "Tanh"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        np.tanh(x, out=out)
        return out

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        np.multiply(saved, saved, out=grad_in)
        np.subtract(1, grad_in, out=grad_in)
        grad_in *= grad


class GELU(Activation):
    """The tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    kind = "gelu"
    torch_class = "GELU"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        t = work("t", x.shape, x.dtype)
        np.multiply(x, x, out=t)
        t *= _GELU_A
        t += 1
        t *= x
        t *= _GELU_C
        np.tanh(t, out=t)
        np.add(t, 1, out=out)
        out *= x
        out *= 0.5
        return x, t

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        x, t = saved
        # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
        scratch = work("scratch", x.shape, x.dtype)
        np.multiply(x, x, out=scratch)
        scratch *= 3 * _GELU_A
        scratch += 1
        scratch *= _GELU_C * 0.5
        scratch *= x
        np.multiply(t, t, out=grad_in)
        np.subtract(1, grad_in, out=grad_in)
        grad_in *= scratch
        grad_in += 0.5
        np.multiply(t, 0.5, out=scratch)
        grad_in += scratch
        grad_in *= grad

    def to_onnx(self, graph: Any, x: str) -> str:
        """The ``Gelu`` operator only in float32: onnxruntime's double ``Gelu`` agrees with
        the formula to about 3e-9 only."""
        if graph.opset >= GELU_OPSET and graph.dtype == np.float32:
            return graph.op("Gelu", [x], approximate="tanh")
        cube = graph.op("Mul", [graph.op("Mul", [x, x]), x])
        inner = graph.op("Add", [x, graph.op("Mul", [cube, graph.scalar(_GELU_A)])])
        t = graph.op("Tanh", [graph.op("Mul", [inner, graph.scalar(_GELU_C)])])
        half_x = graph.op("Mul", [x, graph.scalar(0.5)])
        return graph.op("Mul", [half_x, graph.op("Add", [t, graph.scalar(1.0)])])

    def to_torch(self, nn: Any) -> Any:
        return nn.GELU(approximate="tanh")

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        if type(module) is not nn.GELU:
            return None
        if module.approximate != "tanh":
            raise ValueError(f"GELU(approximate={module.approximate!r}) is not computed here: "
                             "the gelu kind is the tanh approximation, GELU(approximate='tanh')")
        return {}


class Softmax(Activation):
    """Softmax over each row, shifted by the row maximum; the backward is the
    Jacobian-vector product ``s * (g - sum(g * s))``."""

    kind = "softmax"
    torch_class = "Softmax"

    def forward(self, x: np.ndarray, out: np.ndarray, work: Work,
                kernels: Kernels | None) -> Any:
        np.subtract(x, x.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def backward(self, grad: np.ndarray, saved: Any, grad_in: np.ndarray, work: Work,
                 kernels: Kernels | None) -> None:
        np.multiply(grad, saved, out=grad_in)
        dot = grad_in.sum(axis=1, keepdims=True)
        np.subtract(grad, dot, out=grad_in)
        grad_in *= saved

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Softmax", [x], axis=-1)

    def to_torch(self, nn: Any) -> Any:
        return nn.Softmax(dim=1)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        if type(module) is not nn.Softmax:
            return None
        if module.dim not in (1, -1):
            raise ValueError(f"Softmax(dim={module.dim}) is not computed here: the softmax "
                             "kind is over each row, Softmax(dim=1)")
        return {}


class Identity(Activation):
    """The identity (``Nonlinearity`` passes arrays through without calling it)."""

    kind = "identity"
    torch_class = "Identity"
    onnx_op = "Identity"


#: every activation kind, in the order the JSON Schema and the command line list them
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.kind: cls for cls in (ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, Identity)}

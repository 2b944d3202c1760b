"""The built-in modules of a network: ``Layer`` (affine), ``Nonlinearity`` and
``DropoutLayer``, each written on the ``Module`` protocol (``mlp.nn.module``).

Samples are rows: ``x`` is ``(N, features)``. In training mode outputs and gradients are
written into buffers the module owns and reuses from batch to batch (one set per batch
size), so a returned array is valid until the next call of the same method. In evaluation
mode fresh arrays are returned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from pydantic import Field, PositiveInt, PrivateAttr, model_validator

from mlp.arrays import Array1, Array2, array_field
from mlp.nn import sparse
from mlp.nn.activations import ACTIVATIONS, Activation
from mlp.nn.module import EVAL, Context, Module, as_context
from mlp.nn.scratch import private

if TYPE_CHECKING:  # the kinds are ACTIVATIONS' keys, a Literal built at import time
    ActivationKind = str
else:
    ActivationKind = Literal[tuple(ACTIVATIONS)]
InitKind = Literal["he", "xavier", "normal", "uniform"]


class Layer(Module, type="layer"):
    """Affine layer ``y = x @ weight + bias``; ``weight`` is ``(in, out)``, ``bias`` ``(out,)``.

    ``init`` draws the weights: ``he`` N(0, 2/in), ``xavier`` N(0, 2/(in+out)), ``normal``
    N(0, init_scale^2), ``uniform`` U(-1/sqrt(in), 1/sqrt(in)) for weights and biases
    (PyTorch's default); the first three start with zero biases. For ``he``, ``xavier``
    and ``uniform`` an ``init_scale`` multiplies the scale (a gain).
    """

    in_features: PositiveInt = Field(description="The width of the inputs, ``in``.")
    out_features: PositiveInt = Field(description="The width of the outputs, ``out``.")
    init: InitKind = Field(default="he", description=(
        "How the weights are drawn: he N(0, 2/in), xavier N(0, 2/(in+out)), normal "
        "N(0, init_scale^2), uniform U(-1/sqrt(in), 1/sqrt(in)) for weights and biases "
        "(PyTorch's default); the first three start with zero biases."))
    init_scale: float | None = Field(default=None, gt=0, description=(
        "The standard deviation for init 'normal' (required there); for the other inits a "
        "gain multiplying their scale (none: 1)."))

    weight: Array2 | None = array_field("The weights, (in, out); drawn when missing.")
    bias: Array1 | None = array_field("The biases, (out,); drawn when missing.")
    grad_weight: Array2 | None = array_field("The gradient of the weights, (in, out).")
    grad_bias: Array1 | None = array_field("The gradient of the biases, (out,).")

    _input: np.ndarray | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Layer:
        if self.init == "normal" and self.init_scale is None:
            raise ValueError("init='normal' needs init_scale (the standard deviation)")
        self.check_arrays()
        return self

    def input_features(self) -> int:
        return self.in_features

    # the optimizer's moments of this layer's parameters (it owns them; zeros before any)
    @property
    def m_weight(self) -> np.ndarray:
        return self._moment("m", "weight")

    @property
    def v_weight(self) -> np.ndarray:
        return self._moment("v", "weight")

    @property
    def m_bias(self) -> np.ndarray:
        return self._moment("m", "bias")

    @property
    def v_bias(self) -> np.ndarray:
        return self._moment("v", "bias")

    def _moment(self, buffer: str, name: str) -> np.ndarray:
        found = self.optimizer_state(buffer, name)
        return np.zeros_like(getattr(self, name)) if found is None else found

    def output_features(self, width: int | None) -> int:
        return self.out_features

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.in_features, self.out_features), "bias": (self.out_features,)}

    def init_parameters(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        fan_in, fan_out = self.in_features, self.out_features
        gain = 1.0 if self.init_scale is None else self.init_scale
        shape = (fan_in, fan_out)
        if self.init == "he":
            weight = rng.normal(0.0, gain * math.sqrt(2.0 / fan_in), shape)
            bias = np.zeros(fan_out)
        elif self.init == "xavier":
            weight = rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), shape)
            bias = np.zeros(fan_out)
        elif self.init == "normal":
            weight = rng.normal(0.0, gain, shape)  # gain is init_scale (required here)
            bias = np.zeros(fan_out)
        else:
            bound = gain / math.sqrt(fan_in)
            weight = rng.uniform(-bound, bound, shape)
            bias = rng.uniform(-bound, bound, fan_out)
        return {"weight": weight, "bias": bias}

    def describe(self) -> str:
        return f"Layer({self.in_features}->{self.out_features}, {self.init})"

    def forward(self, x: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """``x @ weight + bias``, ``(N, in) -> (N, out)``; in training ``x`` is kept for backward.

        Parameters
        ----------
        x : numpy.ndarray or scipy.sparse.csr_matrix
            The inputs; a CSR matrix is multiplied by ``mlp.nn.sparse``'s product.
        ctx, **call
            The pass (``Module.forward``), or ``train=``, ``rng=``, ``kernels=`` in its place
            (``mlp.nn.module.as_context``).
        """
        if call or ctx.__class__ is not Context:
            ctx = as_context(ctx, **call)
        return self._affine(x, ctx, add_bias=True)

    def _affine(self, x: np.ndarray, ctx: Context, add_bias: bool) -> np.ndarray:
        if self.weight is None:
            self._initialize_for(x)
        # set by now; a typed assignment, not typing.cast: no call on the per-batch path
        weight: np.ndarray = self.weight  # type: ignore[assignment]
        state = private(self)
        if not ctx.train:
            state["_input"] = None
            return x @ weight + self.bias
        state["_input"] = x
        out = self._buffer("out", (x.shape[0], self.out_features), weight.dtype)
        if type(x) is not np.ndarray and sparse.is_sparse(x):  # CSR: mlp.nn.sparse's product
            sparse.forward_product(x, weight, out)
        else:
            np.matmul(x, weight, out=out)
        if add_bias:
            out += self.bias
        return out

    def backward(self, grad: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray | None:
        """Fill ``grad_weight = x.T @ g`` and ``grad_bias = sum(g)``; return ``g @ weight.T``.

        Parameters
        ----------
        grad : numpy.ndarray
            ``g``, the gradient of the outputs, ``(N, out)``.
        ctx, **call
            As ``forward``; with ``ctx.input_grad`` false, ``g @ weight.T`` is skipped (None).

        Raises
        ------
        RuntimeError
            When no ``x`` was kept: the last forward was not in training mode.
        """
        if call:
            ctx = as_context(ctx, **call)
        return self._backward(grad, ctx, bias_done=False)

    def _backward(self, grad: np.ndarray, ctx: Context, bias_done: bool) -> np.ndarray | None:
        x = private(self)["_input"]
        if x is None:
            raise RuntimeError("Layer.backward needs a forward in training mode first")
        weight: np.ndarray = self.weight  # type: ignore[assignment]  # set by forward
        grad_weight: np.ndarray = self.grad_weight  # type: ignore[assignment]
        if type(x) is not np.ndarray and sparse.is_sparse(x):  # CSR: mlp.nn.sparse's product
            sparse.weight_gradient(x, grad, grad_weight)
        else:
            np.matmul(x.T, grad, out=grad_weight)
        if not bias_done:  # np.sum's own reduction, without its Python wrapper
            np.add.reduce(grad, axis=0, out=self.grad_bias)
        if not ctx.input_grad:
            return None
        grad_in = self._buffer("grad_in", x.shape, weight.dtype)
        return np.matmul(grad, weight.T, out=grad_in)

    def fuse(self, following: Module) -> Any:
        """A Layer and the ReLU after it run as one step (``BiasReLU``).

        Parameters
        ----------
        following : Module
            The module after this Layer.

        Returns
        -------
        BiasReLU or None
            The fused step when ``following`` is a ReLU ``Nonlinearity``, else None.
        """
        if isinstance(following, Nonlinearity) and following.kind == "relu":
            return BiasReLU(self, following)
        return None

    def to_torch(self, nn: Any) -> Any:
        return nn.Linear(self.in_features, self.out_features)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """``nn.Linear`` with a bias (PyTorch's own initialisation is ``uniform``'s).

        Parameters
        ----------
        module, nn
            A PyTorch module (this class stands for an ``nn.Linear``) and ``torch.nn``.

        Raises
        ------
        ValueError
            For a ``Linear`` without a bias.
        """
        if type(module) is not nn.Linear:
            return None
        if module.bias is None:
            raise ValueError("a Linear without a bias has no Layer counterpart")
        return {"in_features": module.in_features, "out_features": module.out_features,
                "init": "uniform"}

    def torch_state(self) -> dict[str, np.ndarray]:
        """``weight`` as ``nn.Linear`` keeps it, ``(out, in)``."""
        return {"weight": np.ascontiguousarray(cast(np.ndarray, self.weight).T),
                "bias": cast(np.ndarray, self.bias)}

    def from_torch_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"weight": np.ascontiguousarray(state["weight"].T), "bias": state["bias"]}

    def to_onnx(self, graph: Any, x: str) -> str:
        weight = graph.constant("weight", self.weight)
        return graph.op("Add", [graph.op("MatMul", [x, weight]),
                                graph.constant("bias", self.bias)])


class Nonlinearity(Module, type="nonlinearity"):
    """Elementwise (or, for ``softmax``, row-wise) activation; ``kind`` is one of
    ``mlp.nn.activations.ACTIVATIONS``: ``relu`` max(x, 0); ``leaky_relu`` x if x > 0 else
    slope*x; ``sigmoid`` (1 + tanh(x/2))/2, which cannot overflow; ``tanh``; ``gelu`` with
    the tanh approximation; ``softmax`` over each row; ``identity``."""

    kind: ActivationKind = Field(default="relu", description=(
        "The activation: relu, leaky_relu, sigmoid, tanh, gelu (tanh approximation), "
        "softmax (over each row) or identity."))
    negative_slope: float = Field(default=0.01, description=(
        "The slope of leaky_relu below zero (other kinds ignore it)."))

    _activation: Activation | None = PrivateAttr(default=None)
    _saved: Any = PrivateAttr(default=None)

    def describe(self) -> str:
        return f"Nonlinearity({self.kind})"

    @property
    def activation(self) -> Activation:
        """The activation object of ``kind`` (made once)."""
        state = private(self)
        found = state["_activation"]
        if found is None or found.kind != self.kind or \
                found.negative_slope != self.negative_slope:
            found = state["_activation"] = ACTIVATIONS[self.kind](self.negative_slope)
        return found

    def _work(self, train: bool) -> Any:
        if train:
            return self._buffer
        return lambda name, shape, dtype: np.empty(shape, dtype)

    def forward(self, x: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """The activation of each input, ``(N, D) -> (N, D)``; in training what its backward
        needs is kept.

        Parameters
        ----------
        x : numpy.ndarray
            The pre-activations (``kind``'s input).
        ctx, **call
            The pass (``Module.forward``); the kernels, when given, compute it.
        """
        if call or ctx.__class__ is not Context:
            ctx = as_context(ctx, **call)
        return self._forward(x, ctx, None)

    def _forward(self, x: np.ndarray, ctx: Context, bias: np.ndarray | None) -> np.ndarray:
        """The forward pass; ``bias (D,)``, the bias of the Layer before, still to be added to
        ``x`` in place (``Activation.forward_with_bias``)."""
        if self.kind == "identity":
            return x if bias is None else np.add(x, bias, out=x)
        train = ctx.train
        out = self._buffer("out", x.shape, x.dtype) if train else np.empty_like(x)
        work = self._work(train)
        if bias is None:
            saved = self.activation.forward(x, out, work, ctx.kernels)
        else:
            saved = self.activation.forward_with_bias(x, bias, out, work, ctx.kernels)
        private(self)["_saved"] = saved if train else None
        return out

    def backward(self, grad: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """The gradient of the pre-activations, ``(N, D)``: ``grad`` times ``kind``'s derivative.

        Parameters
        ----------
        grad : numpy.ndarray
            The gradient of the activations, ``(N, D)``.
        ctx, **call
            As ``forward``.

        Raises
        ------
        RuntimeError
            Unless the last forward, in training mode, kept what the derivative needs.
        """
        if call:
            ctx = as_context(ctx, **call)
        return self._backward(grad, ctx, None)[0]

    def _backward(self, grad: np.ndarray, ctx: Context,
                  grad_bias: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """The gradient with respect to the input, and whether ``grad_bias (D,)``, the bias
        gradient of the Layer before, was filled on the way (``backward_with_bias``)."""
        if self.kind == "identity":
            return grad, False
        saved = private(self)["_saved"]
        if saved is None:
            raise RuntimeError("Nonlinearity.backward needs a forward in training mode first")
        grad_in = self._buffer("grad_in", grad.shape, grad.dtype)
        if grad_bias is None:
            self.activation.backward(grad, saved, grad_in, self._buffer, ctx.kernels)
            return grad_in, False
        return grad_in, self.activation.backward_with_bias(grad, saved, grad_in, grad_bias,
                                                           self._buffer, ctx.kernels)

    def activation_stats(self, pre: np.ndarray) -> tuple[str, float, float]:
        """``(kind, dead, saturated)``: the fractions of dead or saturated units (diagnostics).

        Dead units for ReLU (never positive in the batch), saturated inputs for sigmoid and
        tanh (beyond the activation's ``edge``); NaN where a statistic does not apply.

        Parameters
        ----------
        pre : numpy.ndarray
            The batch of pre-activations the fractions are taken over.
        """
        watch = self.activation.monitor
        dead = saturated = math.nan
        if watch == "dead":
            dead = 1.0 - float(np.count_nonzero((pre > 0).any(axis=0))) / pre.shape[1]
        elif watch == "saturated":
            saturated = float(np.count_nonzero(np.abs(pre) > self.activation.edge)) / pre.size
        return self.kind, dead, saturated

    def to_onnx(self, graph: Any, x: str) -> str:
        return self.activation.to_onnx(graph, x)

    def to_torch(self, nn: Any) -> Any:
        return self.activation.to_torch(nn)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """The activation kind whose PyTorch module ``module`` is, with its settings.

        Parameters
        ----------
        module, nn
            A PyTorch module, looked for among the kinds' ``torch_class``, and ``torch.nn``.

        Raises
        ------
        ValueError
            For an activation with settings its kind does not compute.
        """
        for kind, activation in ACTIVATIONS.items():
            settings = activation.from_torch(module, nn)
            if settings is not None:
                return {"kind": kind, **settings}
        return None


class BiasReLU:
    """A fused step: a Layer and the ReLU after it. In training with kernels, the Layer's
    bias is added inside the compiled ReLU and the ReLU's backward sums the bias gradient;
    NumPy takes over with the same bits where the kernels cannot, and evaluation runs the
    two modules as they are."""

    __slots__ = ("layer", "modules", "relu")

    def __init__(self, layer: Layer, relu: Nonlinearity) -> None:
        self.layer, self.relu = layer, relu
        self.modules = (layer, relu)

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        if not ctx.train or ctx.kernels is None:
            return self.relu.forward(self.layer.forward(x, ctx), ctx)
        return self.relu._forward(self.layer._affine(x, ctx, add_bias=False), ctx,
                                  self.layer.bias)

    def backward(self, grad: np.ndarray, ctx: Context) -> np.ndarray | None:
        grad_in, bias_done = self.relu._backward(
            grad, ctx, self.layer.grad_bias if ctx.kernels is not None else None)
        return self.layer._backward(grad_in, ctx, bias_done)


class DropoutLayer(Module, type="dropout"):
    """Inverted dropout: in training, zero each input with probability ``p`` and scale the
    rest by ``1/(1-p)``; the identity in evaluation. The mask is drawn from the context's
    generator, so a run is reproducible from that generator's state.
    """

    p: float = Field(default=0.5, ge=0.0, lt=1.0, description=(
        "The probability of zeroing each input in training (the rest scaled by 1/(1-p))."))

    _mask: np.ndarray | None = PrivateAttr(default=None)

    def describe(self) -> str:
        return f"Dropout(p={self.p:g})"

    def forward(self, x: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """``(N, D) -> (N, D)``; draws ``N*D`` uniforms from ``ctx.rng`` when training.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs; returned as they are in evaluation or with ``p`` zero.
        ctx, **call
            The pass (``Module.forward``); training needs its generator.

        Raises
        ------
        ValueError
            In training without the context's generator.
        """
        if call or ctx.__class__ is not Context:
            ctx = as_context(ctx, **call)
        state = private(self)
        if not ctx.train or self.p == 0.0:
            state["_mask"] = None
            return x
        rng = ctx.rng
        if rng is None:
            raise ValueError("DropoutLayer.forward in training needs the context's rng "
                             "(a numpy Generator)")
        uniforms = self._buffer("uniforms", x.shape, x.dtype)
        rng.random(out=uniforms, dtype=x.dtype)
        mask = self._buffer("mask", x.shape, np.bool_)
        np.greater_equal(uniforms, self.p, out=mask)
        out = self._buffer("out", x.shape, x.dtype)
        np.multiply(x, mask, out=out)
        out *= 1.0 / (1.0 - self.p)
        state["_mask"] = mask
        return out

    def backward(self, grad: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """``grad * mask / (1 - p)``; the identity when the forward pass was.

        Parameters
        ----------
        grad : numpy.ndarray
            The gradient of the outputs, masked as the forward masked the inputs.
        ctx, **call
            As ``forward`` (neither changes the result).
        """
        if call:
            ctx = as_context(ctx, **call)
        mask = private(self)["_mask"]
        if mask is None:
            return grad
        grad_in = self._buffer("grad_in", grad.shape, grad.dtype)
        np.multiply(grad, mask, out=grad_in)
        grad_in *= 1.0 / (1.0 - self.p)
        return grad_in

    def to_onnx(self, graph: Any, x: str) -> str:
        return x  # the identity at inference: no node

    def to_torch(self, nn: Any) -> Any:
        return nn.Dropout(self.p)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        return {"p": module.p} if type(module) is nn.Dropout else None

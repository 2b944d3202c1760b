"""The modules of a network: ``Layer`` (affine), ``Nonlinearity`` and ``DropoutLayer``.

Each module is a Pydantic model whose fields are its hyperparameters. ``forward(x, train)``
returns the output and, when ``train`` is true, keeps what ``backward`` needs;
``backward(grad_out)`` returns the gradient with respect to the input. Samples are rows:
``x`` is ``(N, features)``.

In training mode outputs and gradients are written into buffers the module owns and reuses
from batch to batch (one set per batch size), so a returned array is valid until the next
call of the same method. In evaluation mode (``train=False``) fresh arrays are returned.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, model_validator

from mlp import sparse
from mlp.arrays import Array1, Array2, array_field
from mlp.kernels import Kernels
from mlp.workspace import Buffers, private, same_fields

_MAX_CACHED_SHAPES = 8
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
#: every array a Layer holds, in the order checkpoints store them
PARAMETER_ARRAYS = ("weight", "bias", "grad_weight", "grad_bias", "m_weight", "v_weight",
                    "m_bias", "v_bias")


class Module(BaseModel):
    """Base of every module: validated hyperparameters plus reusable work buffers."""

    model_config = ConfigDict(extra="forbid")

    _buffers: Buffers = PrivateAttr(default_factory=lambda: Buffers(_MAX_CACHED_SHAPES * 4))

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A work array of ``shape`` kept across calls (uninitialised contents)."""
        return private(self)["_buffers"].get(name, shape, dtype)

    def _forget(self) -> None:
        """Drop the work buffers (for example after a change of dtype)."""
        private(self)["_buffers"].clear()

    def __eq__(self, other: object) -> bool:
        """The same kind of module with the same hyperparameters and arrays (bit for bit, in
        the same dtype). What a forward pass kept for backward, and the work buffers, do not
        count (Pydantic's own comparison would compare those arrays and fail on them)."""
        if type(other) is not type(self):
            return NotImplemented
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]


class Layer(Module):
    """Affine layer ``y = x @ weight + bias``; ``weight`` is ``(in, out)``, ``bias`` ``(out,)``.

    ``init`` draws the weights: ``he`` N(0, 2/in), ``xavier`` N(0, 2/(in+out)), ``normal``
    N(0, init_scale^2), ``uniform`` U(-1/sqrt(in), 1/sqrt(in)) for weights and biases
    (PyTorch's default); the first three start with zero biases. For ``he``, ``xavier``
    and ``uniform`` an ``init_scale`` multiplies the scale (a gain). The optimizer moments
    ``m_*`` and ``v_*`` start at zero.
    """

    type: Literal["layer"] = "layer"
    in_features: PositiveInt
    out_features: PositiveInt
    init: Literal["he", "xavier", "normal", "uniform"] = "he"
    init_scale: float | None = Field(default=None, gt=0)

    weight: Array2 | None = array_field()
    bias: Array1 | None = array_field()
    grad_weight: Array2 | None = array_field()
    grad_bias: Array1 | None = array_field()
    m_weight: Array2 | None = array_field()
    v_weight: Array2 | None = array_field()
    m_bias: Array1 | None = array_field()
    v_bias: Array1 | None = array_field()

    _input: np.ndarray | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Layer:
        if self.init == "normal" and self.init_scale is None:
            raise ValueError("init='normal' needs init_scale (the standard deviation)")
        shapes = {
            "weight": (self.in_features, self.out_features),
            "grad_weight": (self.in_features, self.out_features),
            "m_weight": (self.in_features, self.out_features),
            "v_weight": (self.in_features, self.out_features),
            "bias": (self.out_features,),
            "grad_bias": (self.out_features,),
            "m_bias": (self.out_features,),
            "v_bias": (self.out_features,),
        }
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, found {value.shape}")
        return self

    @property
    def initialized(self) -> bool:
        return self.weight is not None and self.bias is not None

    def initialize(self, rng: np.random.Generator, dtype: str | np.dtype = "float32") -> None:
        """Draw ``weight`` and ``bias`` from ``rng`` (in float64, then cast) and zero the rest."""
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
            weight = rng.normal(0.0, self.init_scale, shape)
            bias = np.zeros(fan_out)
        else:
            bound = gain / math.sqrt(fan_in)
            weight = rng.uniform(-bound, bound, shape)
            bias = rng.uniform(-bound, bound, fan_out)
        self.weight = weight.astype(dtype)
        self.bias = bias.astype(dtype)
        self.zero_state()

    def zero_state(self) -> None:
        """Zero the gradients and optimizer moments (allocating them in the weights' dtype)."""
        for name in ("grad_weight", "m_weight", "v_weight"):
            setattr(self, name, np.zeros_like(self.weight))
        for name in ("grad_bias", "m_bias", "v_bias"):
            setattr(self, name, np.zeros_like(self.bias))

    def cast(self, dtype: str | np.dtype) -> None:
        """Convert every array to ``dtype`` in place (no copy when it already matches)."""
        for name in PARAMETER_ARRAYS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.ascontiguousarray(value, dtype=dtype))
        self._forget()

    def forward(self, x: np.ndarray, train: bool = False, add_bias: bool = True) -> np.ndarray:
        """``(N, in) -> (N, out)``; keeps ``x`` for backward when ``train``. In training,
        ``add_bias=False`` leaves the bias to the ReLU that follows (``Nonlinearity.forward``
        with ``bias``), which adds it in the same pass."""
        if not self.initialized:
            self.initialize(np.random.default_rng(0), self.weight_dtype(x))
        state = private(self)
        if not train:
            state["_input"] = None
            return x @ self.weight + self.bias
        state["_input"] = x
        out = self._buffer("out", (x.shape[0], self.out_features), self.weight.dtype)
        if sparse.is_sparse(x):  # CSR inputs: a product over the stored entries (mlp.sparse)
            sparse.forward_product(x, self.weight, out)
        else:
            np.matmul(x, self.weight, out=out)
        if add_bias:
            out += self.bias
        return out

    @staticmethod
    def weight_dtype(x: np.ndarray) -> np.dtype:
        return x.dtype if x.dtype.kind == "f" else np.dtype("float32")

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True,
                 bias_done: bool = False) -> np.ndarray | None:
        """Fill ``grad_weight = x.T @ g`` and ``grad_bias = sum(g)`` (unless ``bias_done``:
        the ReLU after this layer filled it); return ``g @ weight.T``."""
        x = private(self)["_input"]
        if x is None:
            raise RuntimeError("Layer.backward needs a forward(x, train=True) first")
        if sparse.is_sparse(x):  # CSR inputs: a product over the stored entries (mlp.sparse)
            sparse.weight_gradient(x, grad_out, self.grad_weight)
        else:
            np.matmul(x.T, grad_out, out=self.grad_weight)
        if not bias_done:  # np.sum's own reduction, without its Python wrapper
            np.add.reduce(grad_out, axis=0, out=self.grad_bias)
        if not need_input_grad:
            return None
        grad_in = self._buffer("grad_in", x.shape, self.weight.dtype)
        return np.matmul(grad_out, self.weight.T, out=grad_in)

    @property
    def n_parameters(self) -> int:
        return self.in_features * self.out_features + self.out_features



class Nonlinearity(Module):
    """Elementwise (or, for ``softmax``, row-wise) activation.

    ``relu`` max(x, 0); ``leaky_relu`` x if x > 0 else slope*x; ``sigmoid``
    (1 + tanh(x/2))/2, which cannot overflow; ``tanh``; ``gelu`` with the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))); ``softmax`` over each row, shifted by
    the row maximum, whose backward is the Jacobian-vector product
    ``s * (g - sum(g * s))``; ``identity``.
    """

    type: Literal["nonlinearity"] = "nonlinearity"
    kind: Literal["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "identity"] = "relu"
    negative_slope: float = 0.01

    _saved: np.ndarray | None = PrivateAttr(default=None)
    _aux: np.ndarray | None = PrivateAttr(default=None)

    def forward(self, x: np.ndarray, train: bool = False,
                kernels: Kernels | None = None, bias: np.ndarray | None = None) -> np.ndarray:
        """``(N, D) -> (N, D)``; keeps the output (or input) for backward when ``train``.
        ``kernels`` (the trainer's) may run the ReLU as one compiled pass. ``bias (D,)``: the
        bias of the Layer before, still to be added to ``x`` in place (a compiled ReLU adds
        it in its own pass)."""
        kind = self.kind
        if kind == "identity":
            return x if bias is None else np.add(x, bias, out=x)
        out = self._buffer("out", x.shape, x.dtype) if train else np.empty_like(x)
        fused = (kind == "relu" and bias is not None and kernels is not None
                 and kernels.bias_relu(x, bias, out))
        if bias is not None and not fused:
            np.add(x, bias, out=x)
        if kind == "relu":
            if not fused and (kernels is None or not kernels.relu_forward(x, out)):
                np.maximum(x, 0, out=out)
            saved = out
        elif kind == "leaky_relu":
            mask = self._buffer("mask", x.shape, np.bool_) if train else np.empty(x.shape, bool)
            np.greater(x, 0, out=mask)
            np.multiply(x, self.negative_slope, out=out)
            np.copyto(out, x, where=mask)
            saved = mask
        elif kind == "sigmoid":
            np.multiply(x, 0.5, out=out)
            np.tanh(out, out=out)
            out += 1
            out *= 0.5
            saved = out
        elif kind == "tanh":
            np.tanh(x, out=out)
            saved = out
        elif kind == "gelu":
            t = self._buffer("t", x.shape, x.dtype) if train else np.empty_like(x)
            np.multiply(x, x, out=t)
            t *= _GELU_A
            t += 1
            t *= x
            t *= _GELU_C
            np.tanh(t, out=t)
            np.add(t, 1, out=out)
            out *= x
            out *= 0.5
            saved = x
            private(self)["_aux"] = t if train else None
        else:
            np.subtract(x, x.max(axis=1, keepdims=True), out=out)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
            saved = out
        private(self)["_saved"] = saved if train else None
        return out

    def backward_with_bias(self, grad_out: np.ndarray, grad_bias: np.ndarray,
                           kernels: Kernels) -> np.ndarray | None:
        """``backward`` of a ReLU that also fills ``grad_bias``, the bias gradient of the
        Layer before it (the column sums of the returned gradient), in one compiled pass;
        None (nothing done) when the kernels cannot."""
        saved = private(self)["_saved"]
        if self.kind != "relu" or saved is None:
            return None
        grad_in = self._buffer("grad_in", grad_out.shape, grad_out.dtype)
        if not kernels.relu_backward_bias(grad_out, saved, grad_in, grad_bias):
            return None
        return grad_in

    def backward(self, grad_out: np.ndarray, kernels: Kernels | None = None) -> np.ndarray:
        """Gradient with respect to the input, ``(N, D)``."""
        if self.kind == "identity":
            return grad_out
        saved = private(self)["_saved"]
        if saved is None:
            raise RuntimeError("Nonlinearity.backward needs a forward(x, train=True) first")
        grad_in = self._buffer("grad_in", grad_out.shape, grad_out.dtype)
        kind = self.kind
        if kind == "relu":
            if kernels is None or not kernels.relu_backward(grad_out, saved, grad_in):
                mask = self._buffer("mask", grad_out.shape, np.bool_)
                np.greater(saved, 0, out=mask)
                np.multiply(grad_out, mask, out=grad_in)
        elif kind == "leaky_relu":
            np.multiply(grad_out, self.negative_slope, out=grad_in)
            np.copyto(grad_in, grad_out, where=saved)
        elif kind == "sigmoid":
            np.subtract(1, saved, out=grad_in)
            grad_in *= saved
            grad_in *= grad_out
        elif kind == "tanh":
            np.multiply(saved, saved, out=grad_in)
            np.subtract(1, grad_in, out=grad_in)
            grad_in *= grad_out
        elif kind == "gelu":
            x, t = saved, private(self)["_aux"]
            # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
            scratch = self._buffer("scratch", x.shape, x.dtype)
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
            grad_in *= grad_out
        else:
            np.multiply(grad_out, saved, out=grad_in)
            dot = grad_in.sum(axis=1, keepdims=True)
            np.subtract(grad_out, dot, out=grad_in)
            grad_in *= saved
        return grad_in


class DropoutLayer(Module):
    """Inverted dropout: in training, zero each input with probability ``p`` and scale the
    rest by ``1/(1-p)``; the identity in evaluation. The mask is drawn from the generator
    passed to ``forward``, so a run is reproducible from that generator's state.
    """

    type: Literal["dropout"] = "dropout"
    p: float = Field(default=0.5, ge=0.0, lt=1.0)

    _mask: np.ndarray | None = PrivateAttr(default=None)

    def forward(
        self, x: np.ndarray, train: bool = False, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """``(N, D) -> (N, D)``; draws ``N*D`` uniforms from ``rng`` when training."""
        state = private(self)
        if not train or self.p == 0.0:
            state["_mask"] = None
            return x
        if rng is None:
            raise ValueError("DropoutLayer.forward(train=True) needs rng (a numpy Generator)")
        uniforms = self._buffer("uniforms", x.shape, x.dtype)
        rng.random(out=uniforms, dtype=x.dtype)
        mask = self._buffer("mask", x.shape, np.bool_)
        np.greater_equal(uniforms, self.p, out=mask)
        out = self._buffer("out", x.shape, x.dtype)
        np.multiply(x, mask, out=out)
        out *= 1.0 / (1.0 - self.p)
        state["_mask"] = mask
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """``grad * mask / (1 - p)``; the identity when the forward pass was."""
        mask = private(self)["_mask"]
        if mask is None:
            return grad_out
        grad_in = self._buffer("grad_in", grad_out.shape, grad_out.dtype)
        np.multiply(grad_out, mask, out=grad_in)
        grad_in *= 1.0 / (1.0 - self.p)
        return grad_in

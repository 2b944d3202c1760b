"""Normalisation modules: ``BatchNorm1d`` and ``LayerNorm``, as PyTorch defines them.

Both normalise ``x (N, D)`` to ``xhat`` with a biased variance and then apply a trained
scale ``weight (D,)`` (starting at ones) and shift ``bias (D,)`` (zeros):
``y = xhat * weight + bias``.

- ``BatchNorm1d`` normalises each feature over the batch in training, and keeps running
  statistics (buffers ``running_mean``, ``running_var``) updated as
  ``running = (1 - momentum) * running + momentum * batch`` with the unbiased batch
  variance, as ``torch.nn.BatchNorm1d``; in evaluation it normalises with them.
- ``LayerNorm`` normalises each sample over its features, the same in training and
  evaluation (``torch.nn.LayerNorm(D)``); it has no buffers.

Backward (training mode, ``g`` the gradient of ``y``, means over the normalised axis):
``grad_bias = sum_N g``, ``grad_weight = sum_N g * xhat`` and
``dx = invstd * (gw - mean(gw) - xhat * mean(gw * xhat))`` with ``gw = g * weight``.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from pydantic import Field, PositiveInt, PrivateAttr, model_validator

from mlp.arrays import Array1, array_field
from mlp.errors import DataError
from mlp.nn.module import EVAL, Context, Module, as_context
from mlp.nn.scratch import private


class _Normalization(Module):
    """What both normalisations share: the affine ``weight`` and ``bias`` over ``D``
    features, and the backward through ``xhat``."""

    eps: float = Field(default=1e-5, gt=0, description=(
        "Added to the variance before its square root."))

    weight: Array1 | None = array_field("The trained scale, (D,); ones when missing.")
    bias: Array1 | None = array_field("The trained shift, (D,); zeros when missing.")
    grad_weight: Array1 | None = array_field("The gradient of the scale, (D,).")
    grad_bias: Array1 | None = array_field("The gradient of the shift, (D,).")

    _xhat: np.ndarray | None = PrivateAttr(default=None)
    _invstd: np.ndarray | None = PrivateAttr(default=None)
    #: the axis the statistics are taken over: 0, the batch (BatchNorm1d); 1, the features
    _axis: ClassVar[int]

    @property
    def features(self) -> int:
        raise NotImplementedError

    @model_validator(mode="after")
    def _check(self) -> Any:
        self.check_arrays()
        return self

    def input_features(self) -> int:
        return self.features

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.features,), "bias": (self.features,)}

    def init_parameters(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"weight": np.ones(self.features), "bias": np.zeros(self.features)}

    def _affine(self, xhat: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(xhat, cast(np.ndarray, self.weight), out=out)
        out += self.bias
        return out

    def _backward_affine(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill the parameter gradients; return ``(gw, xhat)``, ``gw = g * weight``."""
        xhat = private(self)["_xhat"]
        if xhat is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward in training "
                               "mode first")
        np.add.reduce(grad, axis=0, out=self.grad_bias)
        gw = self._buffer("gw", grad.shape, grad.dtype)
        np.multiply(grad, xhat, out=gw)
        np.add.reduce(gw, axis=0, out=self.grad_weight)
        np.multiply(grad, cast(np.ndarray, self.weight), out=gw)
        return gw, xhat


    def backward(self, grad: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray | None:
        """Fill ``grad_weight`` and ``grad_bias``; return ``dx`` (see the module docstring).

        Parameters
        ----------
        grad : numpy.ndarray
            The gradient of the normalised outputs, ``(N, D)``.
        ctx, **call
            As ``forward``; with ``ctx.input_grad`` false only the parameters' gradients.

        Raises
        ------
        RuntimeError
            When the last forward, not in training mode, kept no ``xhat``.
        """
        if call:
            ctx = as_context(ctx, **call)
        gw, xhat = self._backward_affine(grad)
        if not ctx.input_grad:
            return None
        axis, count = self._axis, grad.shape[self._axis]
        # the means over the axis, kept as a column (D,) or a row (N, 1) that broadcasts
        mean = (self._buffer("column", (grad.shape[1],), grad.dtype) if axis == 0
                else self._buffer("row", (grad.shape[0], 1), grad.dtype))
        sums = mean if axis == 0 else mean[:, 0]
        grad_in = self._buffer("grad_in", grad.shape, grad.dtype)
        np.multiply(gw, xhat, out=grad_in)
        np.add.reduce(grad_in, axis=axis, out=sums)
        mean /= count
        np.multiply(xhat, mean, out=grad_in)  # xhat * mean(gw * xhat)
        np.add.reduce(gw, axis=axis, out=sums)
        mean /= count
        np.subtract(gw, grad_in, out=grad_in)
        grad_in -= mean
        grad_in *= private(self)["_invstd"]
        return grad_in


class BatchNorm1d(_Normalization, type="batch_norm"):
    """``torch.nn.BatchNorm1d(num_features, eps, momentum)`` on ``(N, num_features)``
    inputs (see the module docstring). Training needs batches of two samples or more."""

    _axis: ClassVar[int] = 0

    num_features: PositiveInt = Field(description="The width of the inputs, D.")
    momentum: float = Field(default=0.1, ge=0.0, le=1.0, description=(
        "The weight of each training batch in the running statistics: running = "
        "(1 - momentum) * running + momentum * batch."))

    running_mean: Array1 | None = array_field(
        "The running mean used in evaluation, (D,); zeros when missing.")
    running_var: Array1 | None = array_field(
        "The running unbiased variance used in evaluation, (D,); ones when missing.")

    @property
    def features(self) -> int:
        return self.num_features

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"running_mean": (self.num_features,), "running_var": (self.num_features,)}

    def init_buffers(self) -> dict[str, np.ndarray]:
        return {"running_mean": np.zeros(self.num_features),
                "running_var": np.ones(self.num_features)}

    def describe(self) -> str:
        return f"BatchNorm1d({self.num_features}, momentum={self.momentum:g})"

    def forward(self, x: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """``(N, D) -> (N, D)`` with batch statistics in training, the running ones in evaluation.

        In training the running statistics are updated (see the module docstring).

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, ``(N, num_features)``.
        ctx, **call
            The pass (``Module.forward``): training or evaluation picks the statistics.

        Raises
        ------
        DataError
            In training, for a batch of one sample.
        """
        if call or ctx.__class__ is not Context:
            ctx = as_context(ctx, **call)
        if self.weight is None:
            self._initialize_for(x)
        n, d = x.shape
        state = private(self)
        if not ctx.train:
            state["_xhat"] = None
            running_var = cast(np.ndarray, self.running_var)
            invstd = 1.0 / np.sqrt(running_var + self.eps)
            return self._affine((x - self.running_mean) * invstd, np.empty_like(x))
        if n < 2:
            raise DataError(f"BatchNorm1d needs at least 2 samples per batch in training, "
                            f"found {n}; choose a batch_size that leaves no batch of one")
        dtype = x.dtype
        mean, var = self._buffer("mean", (d,), dtype), self._buffer("var", (d,), dtype)
        invstd = self._buffer("invstd", (d,), dtype)
        xhat = self._buffer("xhat", x.shape, dtype)
        np.add.reduce(x, axis=0, out=mean)
        mean /= n
        np.subtract(x, mean, out=xhat)
        out = self._buffer("out", x.shape, dtype)
        np.multiply(xhat, xhat, out=out)
        np.add.reduce(out, axis=0, out=var)
        var /= n
        np.add(var, self.eps, out=invstd)
        np.sqrt(invstd, out=invstd)
        np.divide(1.0, invstd, out=invstd)
        xhat *= invstd
        keep = 1.0 - self.momentum
        running_mean = cast(np.ndarray, self.running_mean)
        running_var = cast(np.ndarray, self.running_var)
        running_mean *= keep
        mean *= self.momentum
        running_mean += mean
        running_var *= keep
        var *= self.momentum * n / (n - 1)  # the unbiased variance, as PyTorch keeps it
        running_var += var
        state["_xhat"], state["_invstd"] = xhat, invstd
        return self._affine(xhat, out)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("BatchNormalization",
                        [x, graph.constant("bn_scale", self.weight),
                         graph.constant("bn_bias", self.bias),
                         graph.constant("bn_mean", self.running_mean),
                         graph.constant("bn_var", self.running_var)],
                        epsilon=float(self.eps))

    def to_torch(self, nn: Any) -> Any:
        return nn.BatchNorm1d(self.num_features, eps=self.eps, momentum=self.momentum)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """``nn.BatchNorm1d`` with its affine parameters, running statistics and a momentum.

        A cumulative average (``momentum=None``) is not kept here.

        Parameters
        ----------
        module, nn
            The PyTorch module to read, and ``torch.nn``; a ``BatchNorm1d`` has a counterpart.

        Raises
        ------
        ValueError
            For a ``BatchNorm1d`` without affine parameters, running statistics or a momentum.
        """
        if type(module) is not nn.BatchNorm1d:
            return None
        if (module.weight is None or module.bias is None or module.running_mean is None
                or module.momentum is None):
            raise ValueError("BatchNorm1d needs a weight, a bias, running statistics and a "
                             f"momentum here, found affine={module.affine}, track_running_"
                             f"stats={module.track_running_stats}, momentum={module.momentum}")
        return {"num_features": module.num_features, "eps": module.eps,
                "momentum": module.momentum}

    def torch_state(self) -> dict[str, np.ndarray]:
        """The arrays and ``num_batches_tracked``, which PyTorch uses only without a
        momentum: this module does not count batches, and gives 0."""
        return {**super().torch_state(), "num_batches_tracked": np.zeros((), np.int64)}


class LayerNorm(_Normalization, type="layer_norm"):
    """``torch.nn.LayerNorm(normalized_shape, eps)`` over the last axis of ``(N,
    normalized_shape)`` inputs (see the module docstring)."""

    _axis: ClassVar[int] = 1

    normalized_shape: PositiveInt = Field(description=(
        "The width of the inputs, D (the last axis, normalised per sample)."))

    @property
    def features(self) -> int:
        return self.normalized_shape

    def describe(self) -> str:
        return f"LayerNorm({self.normalized_shape})"

    def forward(self, x: np.ndarray, ctx: Context = EVAL, **call: Any) -> np.ndarray:
        """``(N, D) -> (N, D)``, each row normalised over its ``D`` features.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, ``(N, normalized_shape)``.
        ctx, **call
            The pass (``Module.forward``); in training the statistics are kept for backward.
        """
        if call or ctx.__class__ is not Context:
            ctx = as_context(ctx, **call)
        if self.weight is None:
            self._initialize_for(x)
        n, d = x.shape
        train, dtype = ctx.train, x.dtype
        work = self._buffer if train else (lambda name, shape, dtype: np.empty(shape, dtype))
        mean, invstd = work("mean", (n, 1), dtype), work("invstd", (n, 1), dtype)
        xhat, out = work("xhat", x.shape, dtype), work("out", x.shape, dtype)
        np.add.reduce(x, axis=1, out=mean[:, 0])
        mean /= d
        np.subtract(x, mean, out=xhat)
        np.multiply(xhat, xhat, out=out)
        np.add.reduce(out, axis=1, out=invstd[:, 0])
        invstd /= d
        invstd += self.eps
        np.sqrt(invstd, out=invstd)
        np.divide(1.0, invstd, out=invstd)
        xhat *= invstd
        state = private(self)
        state["_xhat"], state["_invstd"] = (xhat, invstd) if train else (None, None)
        return self._affine(xhat, out)

    def to_onnx(self, graph: Any, x: str) -> str:
        if graph.opset < 17:
            raise NotImplementedError("LayerNorm needs ONNX opset 17 or later "
                                      "(LayerNormalization)")
        return graph.op("LayerNormalization",
                        [x, graph.constant("ln_scale", self.weight),
                         graph.constant("ln_bias", self.bias)],
                        axis=-1, epsilon=float(self.eps))

    def to_torch(self, nn: Any) -> Any:
        return nn.LayerNorm(self.normalized_shape, eps=self.eps)

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """``nn.LayerNorm`` over the last axis, with its weight and bias.

        Parameters
        ----------
        module, nn
            A PyTorch ``nn.LayerNorm`` this class stands for (or another module), ``torch.nn``.

        Raises
        ------
        ValueError
            For a ``LayerNorm`` over more than one axis or without a weight or a bias.
        """
        if type(module) is not nn.LayerNorm:
            return None
        if len(module.normalized_shape) != 1 or module.weight is None or module.bias is None:
            raise ValueError("LayerNorm needs one normalised axis, a weight and a bias here, "
                             f"found normalized_shape={tuple(module.normalized_shape)}, "
                             f"weight={module.weight is not None}, bias={module.bias is not None}")
        return {"normalized_shape": module.normalized_shape[0], "eps": module.eps}

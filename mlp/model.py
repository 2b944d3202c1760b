"""``Model``: a validated sequence of modules, JSON-describable and seeded.

``model.model_dump_json()`` is the whole architecture (no arrays) and
``Model.model_validate_json(text)`` rebuilds it; with the same ``seed`` the initial weights
are bit-identical. Arrays supplied with the modules (as when a checkpoint is loaded) are used
as they are, cast to ``dtype``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from mlp import sparse
from mlp.arrays import all_finite
from mlp.errors import DataError
from mlp.kernels import Kernels
from mlp.layers import PARAMETER_ARRAYS, DropoutLayer, Layer, Nonlinearity

ModuleSpec = Annotated[Layer | Nonlinearity | DropoutLayer, Field(discriminator="type")]
NonlinearityKind = Literal["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "identity"]
_EVAL_CHUNK = 8192


class Model(BaseModel):
    """A feed-forward network: ``modules`` applied in order to ``(N, in_features)`` inputs."""

    model_config = ConfigDict(extra="forbid")

    modules: list[ModuleSpec] = Field(min_length=1)
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _check_and_initialise(self, info: ValidationInfo) -> Model:
        """Check the layers connect, then draw or cast the arrays (not under a validation
        context with ``spec_only``: reading a config validates a spec without weights)."""
        layers = self.layers
        if not layers:
            raise ValueError("a Model needs at least one Layer")
        for prev, nxt in zip(layers, layers[1:], strict=False):
            if prev.out_features != nxt.in_features:
                raise ValueError(
                    f"consecutive layers do not connect: out_features={prev.out_features} "
                    f"is followed by in_features={nxt.in_features}"
                )
        if info.context and info.context.get("spec_only"):
            return self
        rng = np.random.default_rng(self.seed)
        for layer in layers:
            if layer.initialized:
                layer.cast(self.dtype)
                if layer.grad_weight is None:
                    layer.zero_state()
            else:
                layer.initialize(rng, self.dtype)
        return self

    @classmethod
    def mlp(
        cls,
        layer_sizes: Sequence[int],
        nonlinearity: NonlinearityKind = "relu",
        dropout: float = 0.0,
        init: Literal["he", "xavier", "normal", "uniform"] = "he",
        init_scale: float | None = None,
        seed: int = 0,
        dtype: Literal["float32", "float64"] = "float32",
    ) -> Model:
        """Layer / Nonlinearity (/ Dropout when ``dropout > 0``) per hidden layer; the last
        layer is bare. ``layer_sizes`` is ``[in, hidden..., out]``."""
        if len(layer_sizes) < 2:
            raise ValueError(f"layer_sizes needs at least [in, out], found {list(layer_sizes)}")
        modules: list = []
        pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
        for i, (n_in, n_out) in enumerate(pairs):
            modules.append(Layer(in_features=n_in, out_features=n_out, init=init,
                                 init_scale=init_scale))
            if i < len(pairs) - 1:
                modules.append(Nonlinearity(kind=nonlinearity))
                if dropout > 0:
                    modules.append(DropoutLayer(p=dropout))
        return cls(modules=modules, seed=seed, dtype=dtype)

    @property
    def layers(self) -> list[Layer]:
        return [m for m in self.modules if isinstance(m, Layer)]

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def n_parameters(self) -> int:
        return sum(layer.n_parameters for layer in self.layers)

    def named_arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        """``("<module index>/<array name>", array)`` for every array every layer holds."""
        for index, module in enumerate(self.modules):
            if isinstance(module, Layer):
                for name in PARAMETER_ARRAYS:
                    yield f"{index}/{name}", getattr(module, name)

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a C-contiguous ``(N, in_features)`` array of the model's dtype.

        Raises ``DataError`` for a wrong number of dimensions, a wrong width, or NaN/inf.
        A SciPy sparse ``x`` is returned as CSR of the model's dtype (``mlp.sparse``).
        """
        if sparse.is_sparse(x):
            return sparse.check_input(x, self.in_features, self.dtype)
        x = np.asarray(x)
        if x.ndim != 2:
            raise DataError(f"inputs must be 2-D (N, {self.in_features}), found {x.ndim}-D "
                            f"shape {x.shape}")
        if x.shape[1] != self.in_features:
            raise DataError(f"inputs must have {self.in_features} features, found {x.shape[1]}")
        if x.dtype.kind not in "fiub":
            raise DataError(f"inputs must be numeric, found dtype {x.dtype}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if not all_finite(x):
            bad = int(x.size - np.isfinite(x).sum())
            raise DataError(f"inputs must be finite, found {bad} NaN or inf value(s)")
        return x

    def forward(
        self,
        x: np.ndarray,
        train: bool = False,
        rng: np.random.Generator | None = None,
        *,
        validate: bool = True,
        kernels: Kernels | None = None,
    ) -> np.ndarray:
        """Outputs ``(N, out_features)``. With ``train`` the modules keep what backward needs
        and write into reused buffers; ``rng`` drives dropout. ``validate=False`` skips the
        input checks (the trainer validated its data once); ``kernels`` (the trainer's) may
        run the ReLU compiled."""
        if validate:
            x = self.check_input(x)
        modules = self.modules
        bias = None  # a Layer's bias left to the ReLU after it (one compiled pass)
        for index, module in enumerate(modules):
            if isinstance(module, DropoutLayer):
                x = module.forward(x, train=train, rng=rng)
            elif isinstance(module, Nonlinearity):
                x = module.forward(x, train=train, kernels=kernels, bias=bias)
                bias = None
            else:
                fuse = (train and kernels is not None and index + 1 < len(modules)
                        and isinstance(modules[index + 1], Nonlinearity)
                        and modules[index + 1].kind == "relu")
                x = module.forward(x, train=train, add_bias=not fuse)
                bias = module.bias if fuse else None
        return x

    def backward(self, grad: np.ndarray, input_grad: bool = True,
                 kernels: Kernels | None = None) -> np.ndarray | None:
        """Back-propagate ``dL/doutput``, filling every layer's gradients; returns ``dL/dx``
        (or None when ``input_grad`` is false, which skips the first layer's input product)."""
        modules = self.modules
        first = 0
        if not input_grad:  # the first Layer: its input gradient is not wanted
            while first < len(modules) and not isinstance(modules[first], Layer):
                first += 1
        bias_done = False  # the ReLU after a Layer filled the Layer's bias gradient
        for index in range(len(modules) - 1, first - 1, -1):
            module = modules[index]
            if isinstance(module, Layer):
                need = input_grad or index != first
                grad = (module.backward(grad, need_input_grad=need, bias_done=True) if bias_done
                        else module.backward(grad, need_input_grad=need))
                bias_done = False
            elif isinstance(module, Nonlinearity):
                before = modules[index - 1] if index > first else None
                fused = (module.backward_with_bias(grad, before.grad_bias, kernels)
                         if kernels is not None and isinstance(before, Layer) else None)
                bias_done = fused is not None
                grad = fused if bias_done else module.backward(grad, kernels=kernels)
            else:
                grad = module.backward(grad)
        return grad

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-mode outputs, computed in chunks to bound memory."""
        x = self.check_input(x)
        if x.shape[0] <= _EVAL_CHUNK:
            return self.forward(x, validate=False)
        out = np.empty((x.shape[0], self.out_features), dtype=self.dtype)
        for start in range(0, x.shape[0], _EVAL_CHUNK):
            out[start:start + _EVAL_CHUNK] = self.forward(x[start:start + _EVAL_CHUNK],
                                                          validate=False)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices ``(N,)``: the argmax of the outputs (``output > 0`` for one output)."""
        logits = self.predict_logits(x)
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).astype(np.int64)
        return logits.argmax(axis=1)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, C)``: softmax of the outputs (sigmoid for one output)."""
        logits = self.predict_logits(x)
        if logits.shape[1] == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def summary(self) -> str:
        """A table of modules, output shapes and parameter counts, with the total."""
        rows = [("#", "module", "output", "parameters")]
        width = self.in_features
        for index, module in enumerate(self.modules):
            if isinstance(module, Layer):
                width = module.out_features
                name = f"Layer({module.in_features}->{module.out_features}, {module.init})"
                params = f"{module.n_parameters:,}"
            elif isinstance(module, Nonlinearity):
                name, params = f"Nonlinearity({module.kind})", "0"
            else:
                name, params = f"Dropout(p={module.p:g})", "0"
            rows.append((str(index), name, f"(N, {width})", params))
        rows.append(("", "total", "", f"{self.n_parameters:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines) + f"\n(dtype {self.dtype}, seed {self.seed})"

    def copy(self) -> Model:
        """An independent copy with copied arrays."""
        return self.astype(self.dtype)

    def astype(self, dtype: Literal["float32", "float64"]) -> Model:
        """A copy whose arrays are converted to ``dtype`` (always copied)."""
        modules = []
        for module in self.modules:
            spec = module.model_dump()
            if isinstance(module, Layer):
                for name in PARAMETER_ARRAYS:
                    spec[name] = np.array(getattr(module, name), dtype=dtype)
            modules.append(spec)
        return Model(modules=modules, seed=self.seed, dtype=dtype)

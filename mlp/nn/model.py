"""``Model``: a validated sequence of modules, JSON-describable and seeded.

``model.model_dump_json()`` is the whole architecture (no arrays) and
``Model.model_validate_json(text)`` rebuilds it; with the same ``seed`` the initial weights
are bit-identical. ``modules`` takes any registered module (``mlp.nn.module``), by instance or
by spec (``{"type": ..., ...}``). Arrays supplied with the modules (as when a checkpoint is
loaded) are used as they are, cast to ``dtype``.

The model is the one owner of the layout of its arrays: ``state_dict()`` names every
parameter and buffer ``"<module index>/<name>"``, in module order and, within a module, in
the order the module lists them (parameters first). Checkpoints, the trainer's snapshots
and best weights, ``copy`` and ``astype`` all go through it.

Equality is by content: ``rebuilt == model`` compares the fields and arrays of every module bit
for bit (models, modules and losses alike), not what a forward pass kept. ``Model.mlp(sizes,
nonlinearity, dropout, init, normalization="batch"|"layer"|None, ...)`` builds the usual stack:
for each hidden layer a Layer, then the normalisation, then the nonlinearity and dropout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlp import display
from mlp.arrays import all_finite
from mlp.errors import DataError, MLPError
from mlp.nn import sparse
from mlp.nn.fused import Kernels
from mlp.nn.layers import ActivationKind, DropoutLayer, InitKind, Layer, Nonlinearity
from mlp.nn.losses import Loss
from mlp.nn.module import EVAL, Context, Module
from mlp.nn.normalization import BatchNorm1d, LayerNorm
from mlp.nn.scratch import private, same_fields
from mlp.registry import RegisteredField
from mlp.storage.memory import allocating, check_bytes

ModuleSpec = Annotated[Module, RegisteredField(Module)]
#: modules a model may have (a 500-layer network with normalisation, nonlinearity and
#: dropout fits), so that validating, saving and summarising what a spec or a checkpoint
#: asks for stays within seconds (saving takes some milliseconds per module)
MAX_MODULES = 2048
#: the activation kinds (the former name, kept for configs and callers)
NonlinearityKind = ActivationKind
Normalization = Literal["batch", "layer"]
_NORMALIZATIONS: dict[str, Callable[[int], Module]] = {
    "batch": lambda width: BatchNorm1d(num_features=width),
    "layer": lambda width: LayerNorm(normalized_shape=width),
}
_EVAL_CHUNK = 8192


class GradientShapeError(MLPError, ValueError):
    """A module's backward returned an array of the wrong shape (names the module)."""


class _Plan:
    """The steps a pass runs: each module, or two modules one of them fuses with the next
    (``Module.fuse``); ``first`` is the first step that holds parameters."""

    __slots__ = ("contexts", "first", "indices", "key", "shapes", "steps")

    def __init__(self, modules: Sequence[Module]) -> None:
        self.key = tuple(id(m) for m in modules)
        self.steps: list[Any] = []
        self.indices: list[int] = []
        index = 0
        while index < len(modules):
            module = modules[index]
            fused = module.fuse(modules[index + 1]) if index + 1 < len(modules) else None
            self.steps.append(fused if fused is not None else module)
            self.indices.append(index)
            index += 2 if fused is not None else 1
        self.first = next((k for k, step in enumerate(self.steps)
                           if any(m.parameter_shapes() for m in getattr(step, "modules",
                                                                        (step,)))),
                          len(self.steps))
        self.shapes: list[tuple[int, ...]] = [()] * len(self.steps)
        #: the last Context of each kind of pass, reused while its parts are the same
        self.contexts: dict[str, Context] = {}

    def context(self, kind: str, train: bool, rng: Any, kernels: Any,
                input_grad: bool = True) -> Context:
        """A ``Context(train, rng, kernels, input_grad)``: the one of the last pass of
        ``kind`` when it has the same parts (a trainer makes thousands of identical ones)."""
        ctx = self.contexts.get(kind)
        if (ctx is None or ctx.train is not train or ctx.rng is not rng
                or ctx.kernels is not kernels or ctx.input_grad is not input_grad):
            ctx = self.contexts[kind] = Context(train, rng, kernels, input_grad)
        return ctx


class Model(BaseModel):
    """A feed-forward network: ``modules`` applied in order to ``(N, in_features)`` inputs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    modules: list[ModuleSpec] = Field(min_length=1, max_length=MAX_MODULES, description=(
        "The modules in the order they apply, each a JSON object with its 'type'."))
    seed: int = Field(default=0, ge=0, description=(
        "The seed of the generator the parameters are drawn from."))
    dtype: Literal["float32", "float64"] = Field(default="float32", description=(
        "The floating dtype of the parameters, buffers and computations."))

    _plan: _Plan | None = PrivateAttr(default=None)

    @field_validator("modules", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any) -> Any:
        """Count the modules before validating any (a checkpoint can list millions)."""
        if isinstance(value, list | tuple) and len(value) > MAX_MODULES:
            raise ValueError(f"expected at most {MAX_MODULES} modules, found {len(value)}")
        return value

    def __eq__(self, other: object) -> bool:
        """The same modules (hyperparameters and arrays, bit for bit), seed and dtype; the
        plan of a pass and the modules' work memory do not count."""
        if type(other) is not type(self):
            return NotImplemented
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _check_and_initialise(self, info: ValidationInfo) -> Model:
        """Check the widths connect, then draw or cast the arrays (not under a validation
        context with ``spec_only``: reading a config validates a spec without weights)."""
        self._widths()
        if info.context and info.context.get("spec_only"):
            return self
        sizes = [math.prod(shape) for module in self.modules for shape in
                 (*module.parameter_shapes().values(), *module.buffer_shapes().values())]
        what = f"a model of {sum(sizes)} parameters and buffers"
        # the arrays and their gradients, and the float64 draw of the largest one
        check_bytes(2 * np.dtype(self.dtype).itemsize * sum(sizes) + 8 * max(sizes, default=0),
                    what)
        rng = np.random.default_rng(self.seed)
        with allocating(what):
            for index, module in enumerate(self.modules):
                module.initialize(rng, self.dtype, index)
        return self

    def widths(self) -> list[int | None]:
        """The output width after each module (None before the first module that fixes it)."""
        return self._widths()

    def _widths(self) -> list[int | None]:
        """The width after each module, checking each module's required input width."""
        width: int | None = None
        widths = []
        fixed = False
        for index, module in enumerate(self.modules):
            need = module.input_features()
            if need is not None:
                if width is not None and need != width:
                    raise ValueError(f"consecutive layers do not connect: out_features={width} "
                                     f"is followed by in_features={need} (module {index}, "
                                     f"{module.describe()})")
                fixed = True
            width = module.output_features(need if width is None else width)
            widths.append(width)
        if not fixed:
            raise ValueError("a Model needs at least one Layer (a module that fixes the "
                             "input width)")
        return widths

    @classmethod
    def mlp(
        cls,
        layer_sizes: Sequence[int],
        nonlinearity: NonlinearityKind = "relu",
        dropout: float = 0.0,
        init: InitKind = "he",
        init_scale: float | None = None,
        seed: int = 0,
        dtype: Literal["float32", "float64"] = "float32",
        normalization: Normalization | None = None,
    ) -> Model:
        """A multilayer perceptron: Layer, normalisation, Nonlinearity, Dropout per hidden layer.

        The last layer is bare. ``normalization`` puts a ``BatchNorm1d`` (``"batch"``) or
        ``LayerNorm`` (``"layer"``) after each hidden Layer, before its nonlinearity; a
        ``DropoutLayer`` follows each hidden nonlinearity when ``dropout > 0``.

        Parameters
        ----------
        layer_sizes : sequence of int
            ``[in, hidden..., out]``, at least two widths.
        nonlinearity : str
            The activation after each hidden layer (a kind of ``mlp.nn.activations.ACTIVATIONS``).
        dropout : float
            The dropout probability after each hidden activation (0: no DropoutLayer).
        init : {"he", "xavier", "normal", "uniform"}
            How each Layer draws its weights.
        init_scale : float, optional
            ``normal``'s standard deviation, or a gain for the other inits.
        seed : int
            The seed of the generator the parameters are drawn from.
        dtype : {"float32", "float64"}
            The dtype of the arrays and computations.
        normalization : {"batch", "layer"}, optional
            The normalisation after each hidden Layer (none by default).

        Returns
        -------
        Model
            The model, its parameters drawn.

        Examples
        --------
        >>> import numpy as np
        >>> from mlp import Model
        >>> model = Model.mlp([4, 8, 3], seed=0)
        >>> model.widths()
        [8, 8, 3]
        >>> model.predict_proba(np.zeros((2, 4))).shape
        (2, 3)
        """
        return cls(modules=cls.mlp_modules(layer_sizes, nonlinearity, dropout, init,
                                           init_scale, normalization),
                   seed=seed, dtype=dtype)

    @staticmethod
    def mlp_modules(layer_sizes: Sequence[int], nonlinearity: NonlinearityKind = "relu",
                    dropout: float = 0.0, init: InitKind = "he",
                    init_scale: float | None = None,
                    normalization: Normalization | None = None) -> list[Module]:
        """The modules ``Model.mlp`` builds (no arrays drawn).

        Parameters
        ----------
        layer_sizes, nonlinearity, dropout, init, init_scale, normalization
            As ``Model.mlp`` takes them.

        Returns
        -------
        list of Module
            The modules in order.

        Raises
        ------
        ValueError
            For fewer than two widths or an unknown normalisation.
        """
        if len(layer_sizes) < 2:
            raise ValueError(f"layer_sizes needs at least [in, out], found {list(layer_sizes)}")
        if normalization is not None and normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(_NORMALIZATIONS)} or "
                             f"None, found {normalization!r}")
        if normalization is not None and len(layer_sizes) < 3:
            raise ValueError(f"normalization={normalization!r} goes after hidden layers, and "
                             f"layer_sizes {list(layer_sizes)} has none; add a hidden width "
                             "or set normalization to None")
        modules: list[Module] = []
        pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
        for i, (n_in, n_out) in enumerate(pairs):
            modules.append(Layer(in_features=n_in, out_features=n_out, init=init,
                                 init_scale=init_scale))
            if i < len(pairs) - 1:
                if normalization is not None:
                    modules.append(_NORMALIZATIONS[normalization](n_out))
                modules.append(Nonlinearity(kind=nonlinearity))
                if dropout > 0:
                    modules.append(DropoutLayer(p=dropout))
        return modules

    # ----------------------------------------------------------------- shape
    @property
    def in_features(self) -> int:
        return next(n for m in self.modules if (n := m.input_features()) is not None)

    @property
    def out_features(self) -> int:
        return cast(int, self._widths()[-1])  # the first Layer fixes the width

    def layer_indices(self) -> list[int]:
        """The indices of the modules that set the width (the layers of an MLP)."""
        return [i for i, m in enumerate(self.modules) if m.output_features(None) is not None]

    @property
    def layers(self) -> list[Module]:
        """The modules that set the width, in order (``layer_indices``)."""
        return [self.modules[i] for i in self.layer_indices()]

    @property
    def n_parameters(self) -> int:
        return sum(module.n_parameters for module in self.modules)

    # ---------------------------------------------------------------- arrays
    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Every trainable parameter with its name and gradient, in layout order.

        The arrays themselves (not copies): writing into ``value`` changes the model, and
        ``gradient`` holds what the last ``backward`` computed (zeros before any).

        Yields
        ------
        name : str
            ``"<module index>/<parameter name>"`` (``"0/weight"``, ``"0/bias"``, ...), as
            ``state_dict()`` and ``loss_and_grads`` name it.
        value : ndarray
            The parameter (``(in, out)`` for a Layer's weight, ``(out,)`` for a bias).
        gradient : ndarray
            Its gradient, of the same shape.
        """
        for index, module in enumerate(self.modules):
            for name, (value, grad) in module.parameters().items():
                yield f"{index}/{name}", value, grad

    def state_dict(self, copy: bool = False) -> dict[str, np.ndarray]:
        """Every parameter, then every buffer, module by module.

        Parameters
        ----------
        copy : bool
            Return copies rather than the arrays themselves.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{"<index>/<name>": array}``, for example ``"0/weight"``.
        """
        state: dict[str, np.ndarray] = {}
        for index, module in enumerate(self.modules):
            arrays = {name: value for name, (value, _) in module.parameters().items()}
            arrays.update(module.buffers())
            for name, value in arrays.items():
                state[f"{index}/{name}"] = value.copy() if copy else value
        return state

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"<index>/<name>": shape}`` of ``state_dict()``, known from the spec alone."""
        return {f"{index}/{name}": shape for index, module in enumerate(self.modules)
                for name, shape in {**module.parameter_shapes(),
                                    **module.buffer_shapes()}.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy ``state`` into the model's arrays, in place.

        In place, so views an optimizer holds stay valid.

        Parameters
        ----------
        state : mapping of str to numpy.ndarray
            Arrays named as ``state_dict()`` names them.

        Raises
        ------
        ValueError
            Naming missing, unexpected or mis-shaped entries.
        """
        mine = self.state_dict()
        missing = sorted(set(mine) - set(state))
        unexpected = sorted(set(state) - set(mine))
        if missing or unexpected:
            raise ValueError(f"the state does not fit this model: missing {missing or 'none'}, "
                             f"unexpected {unexpected or 'none'}")
        for key, target in mine.items():
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(f"state entry {key!r} has shape {value.shape}, the model's "
                                 f"{target.shape}")
        for key, target in mine.items():
            np.copyto(target, state[key], casting="same_kind")

    def bind_optimizer_state(self, state: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Show an optimizer's state through each module's ``optimizer_state(buffer, name)``.

        Entries of no module here are ignored.

        Parameters
        ----------
        state : mapping of str to mapping of str to numpy.ndarray
            ``{buffer: {"<index>/<name>": array}}``, as ``Optimizer.state_dict()`` and
            checkpoints give it.
        """
        modules = self.modules
        for buffer, arrays in state.items():
            for key, array in arrays.items():
                index, _, name = key.partition("/")
                if index.isdigit() and int(index) < len(modules):
                    modules[int(index)].bind_optimizer_state(buffer, name, array)

    def named_arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` of ``state_dict()``."""
        yield from self.state_dict().items()

    # ------------------------------------------------------------- the passes
    def check_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a C-contiguous ``(N, in_features)`` array of the model's dtype.

        A SciPy sparse ``x`` is returned as CSR of the model's dtype (``mlp.nn.sparse``).

        Parameters
        ----------
        x : array_like or scipy.sparse matrix
            The inputs, ``(N, in_features)``.

        Returns
        -------
        numpy.ndarray or scipy.sparse.csr_matrix
            The checked inputs.

        Raises
        ------
        DataError
            For a wrong number of dimensions, a wrong width, a non-numeric dtype, or NaN/inf.
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

    def _steps(self) -> _Plan:
        plan = private(self)["_plan"]
        modules = self.modules
        if plan is None or plan.key != tuple(map(id, modules)):
            plan = private(self)["_plan"] = _Plan(modules)
        return plan

    def forward(
        self,
        x: np.ndarray,
        train: bool = False,
        rng: np.random.Generator | None = None,
        *,
        validate: bool = True,
        kernels: Kernels | None = None,
    ) -> np.ndarray:
        """The outputs ``(N, out_features)`` of ``x``.

        With ``train`` the modules keep what backward needs and write into reused buffers.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, ``(N, in_features)``.
        train : bool
            Training mode (dropout active, batch statistics, kept activations).
        rng : numpy.random.Generator, optional
            The generator dropout draws from.
        validate : bool
            Check the inputs (``check_input``); False when the trainer validated its data once.
        kernels : mlp.nn.fused.Kernels, optional
            The trainer's kernels, which may run fused, compiled passes.

        Returns
        -------
        numpy.ndarray
            The outputs; in training a work array the next pass overwrites.
        """
        if validate:
            x = self.check_input(x)
        plan = self._steps()
        ctx = plan.context("forward", bool(train), rng, kernels)
        shapes = plan.shapes
        for k, step in enumerate(plan.steps):
            shapes[k] = x.shape
            x = step.forward(x, ctx)
        return x

    def backward(self, grad: np.ndarray, input_grad: bool = True,
                 kernels: Kernels | None = None, *, check: bool = False) -> np.ndarray | None:
        """Back-propagate ``dL/doutput``, filling every parameter's gradient.

        Parameters
        ----------
        grad : numpy.ndarray
            The gradient of the loss with respect to the outputs, ``(N, out_features)``.
        input_grad : bool
            Return ``dL/dx``; False skips the modules before the first one with parameters and
            that one's input gradient.
        kernels : mlp.nn.fused.Kernels, optional
            The trainer's kernels.
        check : bool
            Verify each module's returned gradient and parameter gradients against their shapes.

        Returns
        -------
        numpy.ndarray or None
            ``dL/dx``, ``(N, in_features)``; None when ``input_grad`` is false.

        Raises
        ------
        GradientShapeError
            With ``check``, naming the module whose gradient has the wrong shape.
        """
        plan = self._steps()
        ctx = plan.context("backward", True, None, kernels)
        first = 0 if input_grad else plan.first
        first_ctx = ctx if input_grad else plan.context("first", True, None, kernels, False)
        for k in range(len(plan.steps) - 1, first - 1, -1):
            step = plan.steps[k]
            grad = step.backward(grad, first_ctx if k == first else ctx)
            if check:
                self._check_gradient(plan, k, grad, need=input_grad or k != first)
        return grad

    def _check_gradient(self, plan: _Plan, k: int, grad: np.ndarray | None,
                        need: bool) -> None:
        index = plan.indices[k]
        module = self.modules[index]
        expected = plan.shapes[k]
        if need and (not isinstance(grad, np.ndarray) or grad.shape != expected):
            found = grad.shape if isinstance(grad, np.ndarray) else type(grad).__name__
            raise GradientShapeError(f"module {index} ({module.describe()}): backward returned "
                                     f"a gradient of shape {found}, its input was {expected}")
        step_modules = getattr(plan.steps[k], "modules", (module,))
        for offset, part in enumerate(step_modules):
            for name, (value, gradient) in part.parameters().items():
                if gradient is None or gradient.shape != value.shape:
                    held = None if gradient is None else gradient.shape
                    raise GradientShapeError(
                        f"module {index + offset} ({part.describe()}): grad_{name} has shape "
                        f"{held}, parameter {name} has {value.shape}")

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray,  # noqa: N803 (X, the convention)
                       loss: Loss | str = "cross_entropy", *,
                       sample_weight: np.ndarray | None = None,
                       rng: np.random.Generator | None = None
                       ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss of one batch and the gradient of every parameter, from one forward and
        one backward pass in training mode (CS231n's ``loss, grads = model.loss(X, y)``).

        A training pass, as the trainer's: BatchNorm layers normalise with the batch and
        update their running statistics, dropout draws its masks from ``rng``
        (``default_rng(0)`` when not given); the parameters themselves are not changed.

        Parameters
        ----------
        X : array of shape (N, in_features)
            The inputs.
        y : array of shape (N,) or (N, out_features)
            The targets, as ``loss`` takes them (class indices for ``cross_entropy``).
        loss : Loss or str
            A ``Loss``, or its kind (``"cross_entropy"``, ``"mse"``, ...).
        sample_weight : array of shape (N,), optional
            Weights of the per-sample losses (a weighted mean).
        rng : numpy.random.Generator, optional
            The generator of the dropout masks.

        Returns
        -------
        loss : float
            The mean loss of the batch.
        grads : dict of str to array
            A copy of each parameter's gradient, named as ``named_parameters()`` and
            ``state_dict()`` name it (``"0/weight"``, ``"0/bias"``, ...).
        """
        # Loss.__new__ builds the registered class of kind= (the plugin's __init__ lacks it)
        criterion = Loss(kind=loss) if isinstance(loss, str) else loss  # type: ignore[call-arg]
        rng = np.random.default_rng(0) if rng is None else rng
        value = criterion.forward(self.forward(X, train=True, rng=rng), np.asarray(y),
                                  sample_weight)
        self.backward(criterion.backward(), input_grad=False)
        return value, {key: grad.copy() for key, _, grad in self.named_parameters()}

    def forward_modules(self, x: np.ndarray, stop: int | None = None,
                        observe: Callable[[int, Module, np.ndarray], None] | None = None
                        ) -> np.ndarray:
        """Evaluation-mode outputs of ``modules[:stop]`` for checked inputs ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs already checked (``check_input``), ``(N, in_features)``.
        stop : int, optional
            The index of the first module not applied (None: all of them).
        observe : callable, optional
            ``observe(index, module, output)``, called after each module (diagnostics, hidden
            representations).

        Returns
        -------
        numpy.ndarray
            The output of the last module applied.
        """
        for index, module in enumerate(self.modules[:stop]):
            x = module.forward(x, EVAL)
            if observe is not None:
                observe(index, module, x)
        return x

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-mode outputs, computed in chunks to bound memory.

        Parameters
        ----------
        x : array_like
            The inputs, ``(N, in_features)``.

        Returns
        -------
        numpy.ndarray
            The outputs, ``(N, out_features)``.

        Raises
        ------
        DataError
            For inputs ``check_input`` refuses.
        """
        x = self.check_input(x)
        if x.shape[0] <= _EVAL_CHUNK:
            return self.forward(x, validate=False)
        out = np.empty((x.shape[0], self.out_features), dtype=self.dtype)
        for start in range(0, x.shape[0], _EVAL_CHUNK):
            out[start:start + _EVAL_CHUNK] = self.forward(x[start:start + _EVAL_CHUNK],
                                                          validate=False)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices ``(N,)``: the argmax of the outputs (``output > 0`` for one output).

        Parameters
        ----------
        x : array_like
            The inputs, run through ``predict_logits``.

        Returns
        -------
        numpy.ndarray
            Integer class indices, ``(N,)``.
        """
        logits = self.predict_logits(x)
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).astype(np.int64)
        return logits.argmax(axis=1)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, C)``: softmax of the outputs (sigmoid for one output).

        Parameters
        ----------
        x : array_like
            The inputs whose ``predict_logits`` outputs are turned into probabilities.

        Returns
        -------
        numpy.ndarray
            ``(N, C)``, rows summing to 1; two columns for one output.
        """
        logits = self.predict_logits(x)
        if logits.shape[1] == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    # ---------------------------------------------------------------- reading
    def summary(self) -> str:
        """A table of modules, output shapes and parameter counts, with the total."""
        rows = [("#", "module", "output", "parameters"), *self._summary_rows(),
                ("", "total", "", f"{self.n_parameters:,}")]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines) + f"\n(dtype {self.dtype}, seed {self.seed})"

    def _summary_rows(self) -> list[tuple[str, str, str, str]]:
        return [(str(index), module.describe(), f"(N, {width})", f"{module.n_parameters:,}")
                for index, (module, width) in enumerate(zip(self.modules, self._widths(),
                                                            strict=True))]

    def describe(self) -> str:
        """One line: the widths from input to output, the number of modules and of
        parameters, the dtype and the seed (``Model(4->8->3, 3 modules, 67 parameters,
        float32, seed 0)``)."""
        widths = self._widths()
        path = "->".join(str(w) for w in [self.in_features, *(widths[i] for i in
                                                                self.layer_indices())])
        return (f"Model({path}, {display.plural(len(self.modules), 'module')}, "
                f"{display.plural(self.n_parameters, 'parameter')}, {self.dtype}, "
                f"seed {self.seed})")

    def __repr__(self) -> str:
        """``describe()`` and the modules, on at most four lines (``summary()`` is the
        table, ``str(model)`` too); no array's contents."""
        return self.describe() + "\n" + display.wrapped(
            ", ".join(module.describe() for module in self.modules))

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """``summary()`` as an HTML table, for notebooks."""
        return display.html_table(("#", "module", "output", "parameters"),
                                  self._summary_rows(), caption=self.describe(),
                                  note=f"total {self.n_parameters:,} parameters")

    def to_torch(self) -> Any:
        """This model as a ``torch.nn.Sequential`` of PyTorch's modules (``nn.torch_bridge``)."""
        from mlp.nn.torch_bridge import to_torch  # torch is optional: imported when asked for
        return to_torch(self)

    @classmethod
    def from_torch(cls, sequential: Any, seed: int = 0) -> Model:
        """The model a ``torch.nn.Sequential`` of PyTorch's modules is (``mlp.nn.torch_bridge``).

        Parameters
        ----------
        sequential, seed
            As ``mlp.nn.torch_bridge.from_torch`` takes them.

        Returns
        -------
        Model
            A model of this class, holding the network's arrays.

        Raises
        ------
        TorchConversionError
            For a network with no counterpart here (``mlp.nn.torch_bridge``).
        """
        from mlp.nn.torch_bridge import from_torch
        return from_torch(cls, sequential, seed)

    def save_safetensors(self, path: str | Path) -> Path:
        """Write the arrays, as PyTorch names them, and the spec to a safetensors file, atomically.

        See ``mlp.nn.safetensors_file``.

        Parameters
        ----------
        path : str or Path
            The file to write.

        Returns
        -------
        Path
            The path written.
        """
        from mlp.nn.safetensors_file import save
        return save(self, path)

    @classmethod
    def load_safetensors(cls, path: str | Path) -> Model:
        """The model a ``save_safetensors`` file holds (``mlp.nn.safetensors_file``).

        Parameters
        ----------
        path : str or Path
            The file to read.

        Returns
        -------
        Model
            A model of this class, holding the file's arrays.

        Raises
        ------
        CheckpointError
            For a file that is not one ``save_safetensors`` wrote.
        """
        from mlp.nn.safetensors_file import load
        return load(cls, path)

    # pydantic's deprecated BaseModel.copy takes include/exclude/update; this one copies arrays
    def copy(self) -> Model:  # type: ignore[override]
        """An independent copy with copied arrays."""
        return self.astype(self.dtype)

    def astype(self, dtype: Literal["float32", "float64"]) -> Model:
        """A copy whose parameters and buffers are converted to ``dtype`` (always copied).

        Parameters
        ----------
        dtype : {"float32", "float64"}
            The dtype of the copy.

        Returns
        -------
        Model
            The copy.
        """
        state = self.state_dict()
        modules = []
        for index, module in enumerate(self.modules):
            spec = module.model_dump()
            for name in {**module.parameter_shapes(), **module.buffer_shapes()}:
                spec[name] = np.array(state[f"{index}/{name}"], dtype=dtype)
            modules.append(spec)
        return Model(modules=modules, seed=self.seed, dtype=dtype)

"""``Module``: what every part of a network is, and ``Context``: what a pass tells it.

A module is a Pydantic model whose fields are its hyperparameters (the JSON spec), registered
under its ``type`` by the class keyword: ``class Swish(Module, type="swish")``. It holds its
arrays as fields declared with ``mlp.arrays.array_field()`` (excluded from the JSON):

- a trainable parameter ``name`` and its gradient ``grad_<name>``, listed by
  ``parameter_shapes()`` (``{"weight": (in, out), "bias": (out,)}``);
- buffers, saved but not trained (running statistics), listed by ``buffer_shapes()``.

``forward(x, ctx)`` maps ``(N, in)`` to ``(N, out)`` and, when ``ctx.train``, keeps what
``backward`` needs; ``backward(grad, ctx)`` writes (not adds) every parameter's gradient and
returns the gradient with respect to the input (None when ``ctx.input_grad`` is false and
the module skips it). The model owns the order of the modules and the layout of all their
arrays (``Model.state_dict()``); an ``Optimizer`` may replace a parameter and its gradient
with views of its flat buffers (``bind_parameter``), so a module must write into its
arrays in place rather than replace them.

Optional: ``input_features()`` and ``output_features(width)`` when the module fixes or changes the
width (default: any width, kept); ``init_parameters(rng)`` drawing the parameters;
``describe()``, the line of ``Model.summary()``; ``activation_stats(pre)`` for an activation
(diagnostics); ``to_onnx(graph, x)``, the ONNX nodes of
evaluation mode (see ``mlp.export``); ``to_torch(nn)``, ``from_torch(module, nn)``,
``torch_state()`` and ``from_torch_state(state)``, its PyTorch counterpart and that one's
array layout (see ``mlp.nn.torch_bridge``); ``fuse(following)``, a step that runs this module and
the next one together (the trainer's fused passes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike
from pydantic import ConfigDict, PrivateAttr, model_validator

from mlp.nn.scratch import Buffers, private, same_fields
from mlp.registry import Registry, Tagged

if TYPE_CHECKING:
    from mlp.nn.fused import Kernels

_MAX_CACHED_SHAPES = 8

MODULES: Registry[type[Module]] = Registry(
    "module type", "mlp.modules", 'defining it as "class Name(Module, type=\'name\')"',
    builtins=("mlp.nn.layers", "mlp.nn.normalization"))


class Context:
    """What one pass tells the modules.

    Training or evaluation, the run's generator (the only source of randomness in
    training), the trainer's compiled kernels (or None), and whether the gradient with
    respect to the input is wanted.

    Parameters
    ----------
    train : bool
        Training mode: modules keep what ``backward`` needs, dropout draws its mask.
    rng : numpy.random.Generator, optional
        The run's generator (dropout's draws); None in evaluation.
    kernels : mlp.nn.fused.Kernels, optional
        The trainer's compiled kernels, or None for NumPy alone.
    input_grad : bool
        Whether ``backward`` returns the gradient with respect to the input.

    Examples
    --------
    >>> from mlp.nn.module import Context
    >>> Context(train=True)
    Context(train=True, rng=None, kernels=None, input_grad=True)
    """

    __slots__ = ("input_grad", "kernels", "rng", "train")

    def __init__(self, train: bool = False, rng: np.random.Generator | None = None,
                 kernels: Kernels | None = None, input_grad: bool = True) -> None:
        self.train, self.rng, self.kernels, self.input_grad = train, rng, kernels, input_grad

    def without_input_grad(self) -> Context:
        """This context with ``input_grad`` false (the first module with parameters needs none).

        Returns
        -------
        Context
            A new context; the same mode, generator and kernels.
        """
        return Context(self.train, self.rng, self.kernels, input_grad=False)

    def __repr__(self) -> str:
        return (f"Context(train={self.train}, rng={'set' if self.rng else None}, "
                f"kernels={self.kernels!r}, input_grad={self.input_grad})")


#: evaluation mode, no generator, no kernels
EVAL = Context()


def as_context(ctx: Context | bool = EVAL, train: bool | None = None,
               rng: np.random.Generator | None = None,
               kernels: Kernels | None = None) -> Context:
    """The Context of a call written as the library's modules took it before the protocol.

    ``forward(x, train=True, rng=rng, kernels=k)`` or ``forward(x, True)``; a Context (with
    no keywords) passes through.

    Parameters
    ----------
    ctx : Context or bool
        A Context, or the former positional ``train``.
    train : bool, optional
        Training mode.
    rng : numpy.random.Generator, optional
        The generator.
    kernels : mlp.nn.fused.Kernels, optional
        The kernels.

    Returns
    -------
    Context
    """
    if isinstance(ctx, Context):
        if train is None and rng is None and kernels is None:
            return ctx
        return Context(ctx.train if train is None else bool(train),
                       ctx.rng if rng is None else rng,
                       ctx.kernels if kernels is None else kernels, ctx.input_grad)
    return Context(bool(ctx) if train is None else bool(train), rng, kernels)


class Module(Tagged):
    """Base of every module (see the module docstring for the protocol)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    tag_key: ClassVar[str] = "type"
    registry: ClassVar[Registry[Any]] = MODULES

    _buffers: Buffers = PrivateAttr(default_factory=lambda: Buffers(_MAX_CACHED_SHAPES * 4))
    #: views of an optimizer's state buffers for this module's parameters, to read
    _optimizer_state: dict[tuple[str, str], np.ndarray] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _set_up_supplied(self) -> Module:
        """A module built with its parameters supplied is set up at once, as a Model sets
        up its modules: gradients at zero and buffers at their starting values (those not
        supplied), in the parameters' floating dtype (float32 for others). Built without
        them, it draws them at its first forward or when a Model initialises it."""
        supplied = [value for name in self.parameter_shapes()
                    if (value := getattr(self, name, None)) is not None]
        if supplied:
            dtype = supplied[0].dtype
            self.initialize(np.random.default_rng(0),
                            dtype if dtype.kind == "f" else np.dtype("float32"))
        return self

    # ----------------------------------------------------------- the protocol
    def input_features(self) -> int | None:
        """The input width this module requires (None: any)."""
        return None

    def output_features(self, width: int | None) -> int | None:
        """The output width for inputs of ``width`` features (by default the same).

        Parameters
        ----------
        width : int or None
            The input width (None: not yet fixed by a module before this one).

        Returns
        -------
        int or None
            The width of the outputs.
        """
        return width

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` of the trainable parameters, in their layout order."""
        return {}

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` of the saved, untrained arrays."""
        return {}

    def init_parameters(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Fresh parameters drawn from ``rng``; zeros by default.

        Called in module order with the model's generator. The arrays are float64 and cast by
        the caller.

        Parameters
        ----------
        rng : numpy.random.Generator
            The model's generator.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{name: array}`` of the shapes ``parameter_shapes()`` declares.
        """
        return {name: np.zeros(shape) for name, shape in self.parameter_shapes().items()}

    def init_buffers(self) -> dict[str, np.ndarray]:
        """The buffers' starting values (float64); zeros by default."""
        return {name: np.zeros(shape) for name, shape in self.buffer_shapes().items()}

    def forward(self, x: np.ndarray, ctx: Context = EVAL) -> np.ndarray:
        """Map ``x (N, in)`` to ``(N, out)``; in training, keep what ``backward`` needs.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs, ``(N, in)``.
        ctx : Context
            Training or evaluation, the generator and the kernels (default: evaluation).

        Returns
        -------
        numpy.ndarray
            The outputs, ``(N, out)``; may be a work array the next call overwrites.

        Raises
        ------
        NotImplementedError
            On a module class that does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define forward(x, ctx)")

    def backward(self, grad: np.ndarray, ctx: Context = EVAL) -> np.ndarray | None:
        """Write (not add) every parameter's gradient; return the gradient of the input.

        Parameters
        ----------
        grad : numpy.ndarray
            The gradient of the loss with respect to the outputs, ``(N, out)``.
        ctx : Context
            The context of the pass; ``ctx.input_grad`` false lets a module skip the input's
            gradient.

        Returns
        -------
        numpy.ndarray or None
            The gradient with respect to the inputs, ``(N, in)``; None when it was not wanted.

        Raises
        ------
        NotImplementedError
            On a module class that does not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward(grad, ctx)")

    def describe(self) -> str:
        """The module's line in ``Model.summary()``."""
        fields = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items()
                           if k != self.tag_key)
        return f"{type(self).__name__}({fields})"

    def activation_stats(self, pre: np.ndarray) -> tuple[str, float, float] | None:
        """For an activation: the fractions of dead and saturated units (diagnostics).

        Parameters
        ----------
        pre : numpy.ndarray
            The pre-activations feeding this module, ``(N, D)``.

        Returns
        -------
        tuple of (str, float, float) or None
            ``(name, dead, saturated)`` fractions (NaN where one does not apply); None by
            default, for a module that is not an activation.
        """
        return None

    def fuse(self, following: Module) -> Any:
        """A step running this module and ``following`` in one pass, or None (default).

        Parameters
        ----------
        following : Module
            The module after this one in the model.

        Returns
        -------
        object or None
            An object with ``forward(x, ctx)``, ``backward(grad, ctx)`` and ``modules``; None
            when the two run apart.
        """
        return None

    def to_onnx(self, graph: Any, x: str) -> str:
        """Append this module's evaluation-mode nodes to ``graph`` and return their output's name.

        Parameters
        ----------
        graph : object
            The graph being built by ``mlp.export`` (``constant``, ``scalar`` and ``op`` add
            to it).
        x : str
            The name of this module's input in the graph.

        Returns
        -------
        str
            The name of this module's output.

        Raises
        ------
        NotImplementedError
            For a module without ONNX nodes.
        """
        raise NotImplementedError(f"{type(self).__name__} has no ONNX export (define "
                                  "to_onnx(graph, x) on it)")

    def to_torch(self, nn: Any) -> Any:
        """This module as PyTorch's own module, built from ``nn``.

        ``nn`` is ``torch.nn``, passed in so that no module imports torch;
        ``mlp.nn.torch_bridge`` then loads ``torch_state()`` into it.

        Parameters
        ----------
        nn : module
            ``torch.nn``.

        Returns
        -------
        torch.nn.Module
            The PyTorch counterpart, its parameters not yet loaded.

        Raises
        ------
        NotImplementedError
            For a module without a PyTorch counterpart.
        """
        raise NotImplementedError(f"{type(self).__name__} has no PyTorch counterpart (define "
                                  "to_torch(nn) on it)")

    @classmethod
    def from_torch(cls, module: Any, nn: Any) -> dict[str, Any] | None:
        """The hyperparameters of this class standing for the PyTorch ``module``.

        Parameters
        ----------
        module : torch.nn.Module
            A module of a PyTorch network.
        nn : module
            ``torch.nn``.

        Returns
        -------
        dict or None
            A spec without ``type``; None when this class does not stand for ``module`` (the
            default).

        Raises
        ------
        ValueError
            For a module of its kind with settings this class cannot take.
        """
        return None

    def torch_state(self) -> dict[str, np.ndarray]:
        """The arrays under PyTorch's names and layout (``to_torch()``'s state dict, as
        NumPy arrays); by default the parameters and buffers as they are."""
        return {**{name: value for name, (value, _) in self.parameters().items()},
                **self.buffers()}

    def from_torch_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """This module's parameters and buffers from a PyTorch state dict.

        By default the arrays are taken as they are.

        Parameters
        ----------
        state : dict of str to numpy.ndarray
            Arrays under ``torch_state()``'s names and layout.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{name: array}`` in this module's layout.
        """
        return {name: state[name] for name in {**self.parameter_shapes(),
                                               **self.buffer_shapes()}}

    @property
    def type(self) -> str:
        """The registered name of this module's class."""
        return self.tag

    # ------------------------------------------------- arrays, for the model
    def parameters(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{name: (value, gradient)}`` of the trainable parameters (the arrays themselves)."""
        return {name: (getattr(self, name), getattr(self, "grad_" + name))
                for name in self.parameter_shapes()}

    def buffers(self) -> dict[str, np.ndarray]:
        """``{name: array}`` of the buffers (the arrays themselves)."""
        return {name: getattr(self, name) for name in self.buffer_shapes()}

    @property
    def n_parameters(self) -> int:
        return int(sum(int(np.prod(shape)) for shape in self.parameter_shapes().values()))

    def initialize(self, rng: np.random.Generator, dtype: str | np.dtype = "float32",
                   index: int | None = None) -> None:
        """Give the module its arrays in ``dtype``.

        The supplied arrays are cast, or the parameters drawn from ``rng`` and the buffers set
        to their starting values; gradients start at zero.

        Parameters
        ----------
        rng : numpy.random.Generator
            The generator the parameters are drawn from.
        dtype : str or numpy.dtype
            The floating dtype of the arrays.
        index : int, optional
            The module's place in a model, which names it in errors.

        Raises
        ------
        ValueError
            When only some of the parameters are supplied, or one has another shape.
        """
        where = type(self).__name__ if index is None else f"module {index} ({self.describe()})"
        shapes = self.parameter_shapes()
        supplied = {name: getattr(self, name, None) for name in shapes}
        given = [name for name, value in supplied.items() if value is not None]
        if given and len(given) != len(shapes):
            raise ValueError(f"{where}: parameters {sorted(set(shapes) - set(given))} are "
                             f"missing beside {given}")
        drawn = self.init_parameters(rng) if not given else supplied
        for name in shapes:
            value = np.ascontiguousarray(drawn[name], dtype=dtype)
            grad = getattr(self, "grad_" + name, None)
            if grad is None or grad.shape != value.shape:
                grad = np.zeros_like(value)
            else:
                grad = np.ascontiguousarray(grad, dtype=dtype)
            self.bind_parameter(name, value, grad)
        starting = None
        for name in self.buffer_shapes():
            buffer = getattr(self, name, None)
            if buffer is None:
                starting = self.init_buffers() if starting is None else starting
                buffer = starting[name]
            self.set_array(name, np.ascontiguousarray(buffer, dtype=dtype))
        self.check_arrays()
        self._forget()

    @property
    def initialized(self) -> bool:
        """Whether every parameter and buffer is held."""
        return all(getattr(self, name, None) is not None
                   for name in {**self.parameter_shapes(), **self.buffer_shapes()})

    def _initialize_for(self, x: np.ndarray) -> None:
        """A module used on its own, outside a Model: its arrays drawn from
        ``default_rng(0)`` in ``x``'s floating dtype (float32 for other inputs)."""
        self.initialize(np.random.default_rng(0),
                        x.dtype if x.dtype.kind == "f" else np.dtype("float32"))

    def bind_parameter(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        """Hold ``value`` and ``grad`` as parameter ``name`` and its gradient.

        Parameters
        ----------
        name : str
            A name of ``parameter_shapes()``.
        value : numpy.ndarray
            The parameter, for example a view of an optimizer's flat buffer.
        grad : numpy.ndarray
            Its gradient, of the same shape.
        """
        setattr(self, name, value)
        setattr(self, "grad_" + name, grad)

    def bind_optimizer_state(self, buffer: str, name: str, view: np.ndarray) -> None:
        """Let ``optimizer_state(buffer, name)`` show ``view``; the optimizer keeps owning it.

        Parameters
        ----------
        buffer : str
            The optimizer's state buffer (``m``, ``v``, ...).
        name : str
            The parameter it belongs to.
        view : numpy.ndarray
            The state of that parameter, for example the moment ``m`` of ``weight``.
        """
        private(self)["_optimizer_state"][buffer, name] = view

    def optimizer_state(self, buffer: str, name: str) -> np.ndarray | None:
        """The state an optimizer keeps for parameter ``name``.

        As last bound by the optimizer packing the model or by the checkpoint it came from.

        Parameters
        ----------
        buffer : str
            The optimizer's state buffer (``m``, ``v``, ...).
        name : str
            The parameter.

        Returns
        -------
        numpy.ndarray or None
            The state; None when there is none.
        """
        return private(self)["_optimizer_state"].get((buffer, name))

    def set_array(self, name: str, value: np.ndarray) -> None:
        """Hold ``value`` as parameter or buffer ``name``.

        Parameters
        ----------
        name : str
            A name of ``parameter_shapes()`` or ``buffer_shapes()``.
        value : numpy.ndarray
            The array, held as it is.
        """
        setattr(self, name, value)

    def check_arrays(self) -> None:
        """``ValueError`` when a supplied array has another shape than the module declares."""
        for name, shape in {**self.parameter_shapes(), **self.buffer_shapes()}.items():
            for key in (name, "grad_" + name):
                value = getattr(self, key, None)
                if value is not None and value.shape != shape:
                    raise ValueError(f"{type(self).__name__}.{key} must have shape {shape}, "
                                     f"found {value.shape}")

    # --------------------------------------------------------------- helpers
    def _buffer(self, name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
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

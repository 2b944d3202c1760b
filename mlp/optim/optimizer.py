"""``Optimizer``: a model's parameters and gradients in two flat buffers, the update rule's
state buffers beside them, and the step.

The flat layout is ``Model.named_parameters()``'s order (module by module, each module's
parameters in the order it lists them: ``w0, b0, w1, b1, ...`` for an MLP); ``views`` cuts any
flat array of that layout into named views. The update rule (``mlp.optim.rules.UPDATE_RULES``,
looked up by the configuration's ``optimizer``, again whenever it changes) names the state
buffers it keeps; each is one flat array of the layout, made (zeros) when a rule first needs it, and
kept by name, so the Optimizer owns every moment and any further state a rule declares.

Aliasing contract: once an ``Optimizer`` packs a model, every module's parameter and its
gradient are C-contiguous views into ``param`` and ``grad`` (bound with
``Module.bind_parameter``). Backward passes write the gradients straight into the flat
gradient through those views, so a step is one elementwise update of the whole network and
``clip_grad_norm`` is one dot product. Whoever replaces a module's array breaks the views;
``is_packing`` tells, and the trainer then packs again, carrying the state over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlp.nn.fused import Kernels
from mlp.nn.model import Model
from mlp.optim import rules as optim


class Optimizer:
    """The packed parameters of ``model`` and the update rule of ``config`` over them.

    Building it packs the model: every parameter and gradient becomes a view of the flat
    ``param`` and ``grad`` (see the module docstring), so after ``model.backward(...)`` one
    ``step`` updates the whole network in place, as PyTorch's ``optimizer.step()``. The
    update rule's formulas are PyTorch's (``mlp.optim.rules``): SGD with momentum keeps
    ``b = momentum * b + g`` and steps ``p -= lr * b``; weight decay is added to the
    gradient (``g + weight_decay * p``), AdamW's is decoupled. ``config`` is read at every
    step (so a changed ``weight_decay`` or ``optimizer`` between two runs takes effect
    without rebuilding anything).

    Parameters
    ----------
    model : Model
        The network whose parameters are updated (packed when the optimizer is built).
    config : TrainingConfig or BasicRoutinizer
        The hyperparameters of the update: ``optimizer`` (``"sgd"``, ``"momentum"``,
        ``"nesterov"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``, ...), ``momentum``,
        ``alpha``, ``beta1``, ``beta2``, ``eps``, ``weight_decay``, ``grad_clip``.
    kernels : Kernels, optional
        Compiled one-pass update rules (bit-identical to NumPy's), used when available.

    Attributes
    ----------
    param, grad : ndarray of shape (n_parameters,)
        The flat parameters and gradients, in ``Model.named_parameters()`` order.
    keys : list of str
        The parameters' names (``"0/weight"``, ...), as ``named_parameters()`` gives them.
    state : dict of str to ndarray
        The update rule's flat state buffers by name (``"m"``, ``"v"``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp import Model, Optimizer, TrainingConfig
    >>> model = Model.mlp([2, 4, 2], seed=0)
    >>> X, y = np.ones((3, 2)), np.array([0, 1, 1])
    >>> opt = Optimizer(model, TrainingConfig(optimizer="momentum", momentum=0.9))
    >>> loss, _ = model.loss_and_grads(X, y)   # fills every gradient
    >>> opt.step(step=1, lr=0.01)              # updates every parameter in place
    """

    def __init__(self, model: Model, config: Any, kernels: Kernels | None = None) -> None:
        entries = [(module, name, value, grad) for module in model.modules
                   for name, (value, grad) in module.parameters().items()]
        if not entries:
            raise ValueError("the model has no trainable parameters")
        dtype = entries[0][2].dtype
        self.keys = [key for key, _, _ in model.named_parameters()]
        self.shapes = [value.shape for _, _, value, _ in entries]
        total = int(sum(value.size for _, _, value, _ in entries))
        self.param, self.grad, self.scratch = (np.empty(total, dtype) for _ in range(3))
        for (module, name, value, grad), p, g in zip(entries, self.views(self.param).values(),
                                                     self.views(self.grad).values(),
                                                     strict=True):
            p[...] = value
            g[...] = grad
            module.bind_parameter(name, p, g)
        self.model = model
        self.config = config
        self.kernels = kernels if kernels is not None else Kernels()
        self.state: dict[str, np.ndarray] = {}
        #: (optimizer name, its rule, its state buffers, the kernels, the rule's compiled pass
        #: over the buffers or None), found at the first step of a rule
        self._update: tuple[Any, ...] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (estimators go to joblib workers): the rule found for the step is left
        out (its functions may be closures) and found again at the next step."""
        return {**self.__dict__, "_update": None}

    # ---------------------------------------------------------------- layout
    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """``{"<index>/<name>": view}`` of a flat array of the layout.

        Parameters
        ----------
        flat : numpy.ndarray
            A flat array of as many elements as the model has parameters.

        Returns
        -------
        dict of str to numpy.ndarray
            Views into ``flat``, shaped as the parameters.

        Raises
        ------
        ValueError
            For a flat array of another size.
        """
        if flat.size != self.param.size:
            raise ValueError(f"a flat array of {flat.size} elements does not hold the "
                             f"{self.param.size} parameters of this model")
        views, offset = {}, 0
        for key, shape in zip(self.keys, self.shapes, strict=True):
            size = int(np.prod(shape))
            views[key] = flat[offset:offset + size].reshape(shape)
            offset += size
        return views

    def is_packing(self, model: Model) -> bool:
        """Whether ``model`` is the model packed here and still holds views into the buffers.

        Parameters
        ----------
        model : Model
            A model.

        Returns
        -------
        bool
            True when its parameters and gradients are views of this optimizer's buffers.
        """
        return model is self.model and [k for k, _, _ in model.named_parameters()] == \
            self.keys and all(value.base is self.param and grad.base is self.grad
                              for _, value, grad in model.named_parameters())

    # ------------------------------------------------------------------ state
    @property
    def rule(self) -> optim.UpdateRule:
        return optim.UPDATE_RULES.get(self.config.optimizer)

    def buffer(self, name: str) -> np.ndarray:
        """The flat state buffer ``name`` (zeros when first asked for).

        Parameters
        ----------
        name : str
            A state buffer of the rule (``m``, ``v``, ...).

        Returns
        -------
        numpy.ndarray
            The flat buffer; the model's ``optimizer_state`` shows its views.
        """
        found = self.state.get(name)
        if found is None:
            found = self.state[name] = np.zeros_like(self.param)
            self.model.bind_optimizer_state({name: self.views(found)})  # optimizer_state()
        return found

    def state_dict(self) -> dict[str, dict[str, np.ndarray]]:
        """``{buffer: {"<index>/<name>": view}}`` of every state buffer kept."""
        return {name: self.views(flat) for name, flat in self.state.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Set the state buffers from ``state``, named as ``state_dict`` names them.

        Parameters
        ----------
        state : mapping of str to mapping of str to numpy.ndarray
            ``{buffer: {"<index>/<name>": array}}``.

        Raises
        ------
        ValueError
            Naming entries that are missing, unexpected or mis-shaped.
        """
        for name, arrays in state.items():
            missing = sorted(set(self.keys) - set(arrays))
            unexpected = sorted(set(arrays) - set(self.keys))
            if missing or unexpected:
                raise ValueError(f"optimizer state {name!r} does not fit the model: missing "
                                 f"{missing or 'none'}, unexpected {unexpected or 'none'}")
            views = self.views(self.buffer(name))
            for key, view in views.items():
                value = np.asarray(arrays[key])
                if value.shape != view.shape:
                    raise ValueError(f"optimizer state {name}/{key} has shape {value.shape}, "
                                     f"the parameter {view.shape}")
                np.copyto(view, value, casting="same_kind")

    # ------------------------------------------------------------------- step
    def step(self, step: int, lr: float) -> None:
        """Clip the flat gradient (``grad_clip``) and apply one update to every parameter.

        Parameters
        ----------
        step : int
            The 1-based count of updates so far, this one included (Adam's bias
            corrections).
        lr : float
            The learning rate of this update.
        """
        config = self.config
        update = self._update
        if update is None or update[0] != config.optimizer or update[3] is not self.kernels:
            rule = optim.UPDATE_RULES.get(config.optimizer)  # buffers are never replaced
            buffers = tuple(self.buffer(name) for name in rule.state)
            prepared = (None if self.kernels is None
                        else self.kernels.prepare(rule, self.param, self.grad, buffers))
            update = self._update = (config.optimizer, rule, buffers, self.kernels, prepared)
        if config.grad_clip is not None:
            optim.clip_grad_norm([self.grad], config.grad_clip)
        if update[4] is not None:  # one compiled pass, bit-identical to the NumPy rule
            update[4](step, lr, config)
        else:
            optim.apply_update(update[1], self.param, self.grad, *update[2], step=step, lr=lr,
                               hp=config, scratch=self.scratch)

    def parameters_finite(self) -> bool:
        """Whether every parameter is finite, without allocating: ``param * 0`` is 0 for
        finite values and NaN for infinite or NaN ones, so its sum says it."""
        np.multiply(self.param, 0, out=self.scratch)
        return bool(np.isfinite(self.scratch.sum()))

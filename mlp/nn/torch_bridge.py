"""A model as PyTorch's own modules and back: ``Model.to_torch()`` and ``Model.from_torch()``.

``to_torch`` gives a ``torch.nn.Sequential`` of one PyTorch module per module of the model,
each built by that module's ``to_torch(nn)`` hook (``mlp.nn.module``) and holding its arrays as
``torch_state()`` lays them out, in the model's dtype: a ``Layer`` as ``nn.Linear`` (weight
``(out, in)``), each activation as its ``nn`` module (``ReLU``, ``LeakyReLU(negative_slope)``,
``Sigmoid``, ``Tanh``, ``GELU(approximate="tanh")``, ``Softmax(dim=1)``, ``Identity``),
``DropoutLayer`` as ``nn.Dropout(p)``, ``BatchNorm1d`` and ``LayerNorm`` as PyTorch's with
their eps, momentum and running statistics. The Sequential is in training mode, as every new
PyTorch module is: call ``.eval()`` before predicting with it.

``from_torch`` asks every registered module class (``Module.from_torch(module, nn)``) which one
stands for each entry of the Sequential, and reads its arrays from the entry's state dict. A
module that none stands for, or one with settings ours do not compute, is refused with
``TorchConversionError`` naming it. PyTorch is imported here only, when these are called
(an optional dependency: ``pip install torch``).

Outputs agree to float precision, and a training batch gives the same gradients
(``tests/test_torch_bridge.py``). A module of a user's own converts by defining ``to_torch(nn)``
and ``from_torch(module, nn)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlp.errors import MLPError
from mlp.nn.module import MODULES, Module

if TYPE_CHECKING:
    from mlp.nn.model import Model

#: the PyTorch floating dtypes a model takes, by their name in a model's ``dtype``
_DTYPES = ("float32", "float64")


class TorchConversionError(MLPError, TypeError):
    """A module or a network that has no counterpart on the other side (names it)."""


def _torch() -> Any:
    try:
        import torch  # an optional dependency, imported when a conversion is asked for
    except ImportError as exc:
        raise ImportError(f"converting to or from PyTorch needs the torch package ({exc}): "
                          "pip install torch") from exc
    return torch


def to_torch(model: Model) -> Any:
    """``model`` as a ``torch.nn.Sequential`` of PyTorch's modules holding copies of its
    arrays in its dtype (see the module docstring).

    Parameters
    ----------
    model : Model
        The model to convert; it is not changed.
    """
    torch = _torch()
    dtype = getattr(torch, model.dtype)
    parts = []
    for index, module in enumerate(model.modules):
        try:
            part = module.to_torch(torch.nn)
        except NotImplementedError as exc:
            raise TorchConversionError(f"module {index} ({module.describe()}) cannot be "
                                       f"converted to PyTorch: {exc}") from None
        part = part.to(dtype)
        state = {name: torch.from_numpy(np.array(value))
                 for name, value in module.torch_state().items()}
        try:
            part.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise TorchConversionError(f"module {index} ({module.describe()}): its PyTorch "
                                       "counterpart does not take its torch_state(): "
                                       f"{_one_line(exc)}") from None
        parts.append(part)
    return torch.nn.Sequential(*parts)


def modules_from_torch(sequential: Any) -> tuple[list[dict[str, Any]], str]:
    """The module specs (with their arrays) and the dtype of a model equal to
    ``sequential``, a ``torch.nn.Sequential`` of modules a registered class stands for.

    Parameters
    ----------
    sequential : torch.nn.Sequential
        The network; its parameters and buffers are copied, all of one floating dtype
        (float32 or float64).
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(sequential, nn.Sequential):
        raise TorchConversionError(f"expected a torch.nn.Sequential, found "
                                   f"{type(sequential).__module__}.{type(sequential).__name__}")
    dtypes = {str(p.dtype).removeprefix("torch.") for p in sequential.parameters()}
    if len(dtypes) != 1 or not dtypes <= set(_DTYPES):
        raise TorchConversionError(f"expected the parameters in one dtype of {_DTYPES}, found "
                                   f"{sorted(dtypes) or 'no parameters'}")
    dtype = dtypes.pop()
    specs = []
    for index, part in enumerate(sequential):
        name = f"entry {index} ({type(part).__name__})"
        cls, settings = _class_for(part, nn, name)
        spec = {"type": cls.tag, **settings}
        try:
            module = cls.model_validate(settings)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise TorchConversionError(f"{name}: its settings do not fit {cls.__name__}: "
                                       f"{_one_line(exc)}") from None
        state = {key: value.detach().cpu().numpy()
                 for key, value in part.state_dict().items()}
        try:
            arrays = module.from_torch_state(state)
        except KeyError as exc:
            raise TorchConversionError(f"{name}: its state has no entry {exc}") from None
        spec.update({key: np.array(value, dtype=dtype) for key, value in arrays.items()})
        specs.append(spec)
    return specs, dtype


def _class_for(part: Any, nn: Any, name: str) -> tuple[type[Module], dict[str, Any]]:
    """The registered class standing for the PyTorch module ``part``, and its settings."""
    for registered in MODULES.names():
        cls = MODULES.get(registered)
        try:
            settings = cls.from_torch(part, nn)
        except ValueError as exc:
            raise TorchConversionError(f"{name}: {_one_line(exc)}") from None
        if settings is not None:
            return cls, settings
    raise TorchConversionError(f"{name} has no counterpart among the registered modules "
                               f"({', '.join(MODULES.names())}); a registered Module class "
                               "stands for it by defining from_torch(module, nn)")


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).strip().splitlines())


def from_torch(cls: type[Model], sequential: Any, seed: int = 0) -> Model:
    """A ``cls`` (a Model class) equal to ``sequential`` (see ``modules_from_torch``)."""
    specs, dtype = modules_from_torch(sequential)
    try:
        return cls(modules=specs, seed=seed, dtype=dtype)
    except ValueError as exc:
        raise TorchConversionError(f"the Sequential is not a model here: "
                                   f"{_one_line(exc)}") from None

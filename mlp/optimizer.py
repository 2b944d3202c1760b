"""``Optimizer``: a network's parameters, gradients and moments in four flat buffers, and
the update rule that steps them.

The flat layout is every Layer's ``weight`` then ``bias``, in module order: ``w0, b0, w1,
b1, ...``. This module is the only one that knows it: ``layer_views`` cuts any flat array of
that layout into per-layer ``(weight, bias)`` views, ``flatten`` goes the other way, and
checkpoints and the trainer's best-weights copy use them.

Aliasing contract: once an ``Optimizer`` packs a model, each Layer's ``weight``, ``bias``,
``grad_*``, ``m_*`` and ``v_*`` are C-contiguous views into ``param``, ``grad``, ``m`` and
``v`` (the design keeps them on the layers, where checkpoints and users look for them).
Backward passes write the gradients straight into the flat gradient through those views,
so a step is one elementwise update of the whole network and ``clip_grad_norm`` is one dot
product. Whoever replaces a layer's array (``Layer.cast``, ``Layer.initialize``) breaks the
views; ``is_packing`` tells, and the trainer then packs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from mlp import optim
from mlp.kernels import Kernels
from mlp.layers import Layer

_KINDS = (("weight", "bias"), ("grad_weight", "grad_bias"), ("m_weight", "m_bias"),
          ("v_weight", "v_bias"))


class Hyperparameters(Protocol):
    """What a step reads of its configuration (a ``TrainingConfig`` is one)."""

    optimizer: str
    momentum: float
    alpha: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    grad_clip: float | None


def layer_views(flat: np.ndarray, layers: Sequence[Layer]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(weight (in, out), bias (out,)), ...]``: views of ``flat`` in the layout."""
    views, offset = [], 0
    for layer in layers:
        shapes = (layer.in_features, layer.out_features), (layer.out_features,)
        pair = []
        for shape in shapes:
            size = int(np.prod(shape))
            pair.append(flat[offset:offset + size].reshape(shape))
            offset += size
        views.append((pair[0], pair[1]))
    if offset != flat.size:
        raise ValueError(f"a flat array of {flat.size} elements does not hold the "
                         f"{offset} parameters of these layers")
    return views


def flatten(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The flat array of per-layer ``(weight, bias)`` pairs (the inverse of ``layer_views``)."""
    return np.concatenate([a.reshape(-1) for pair in pairs for a in pair])


def size(layers: Sequence[Layer]) -> int:
    """The number of parameters in the layout of ``layers``."""
    return int(sum(layer.n_parameters for layer in layers))


class Optimizer:
    """The packed parameters of ``layers`` and the update rule of ``config`` over them.

    ``config`` is read at every step (so a changed ``weight_decay`` or ``momentum`` between
    two runs takes effect without rebuilding anything); the learning rate comes from the
    schedule, epoch by epoch. ``kernels`` runs the compiled one-pass rules when available.
    """

    def __init__(self, layers: Sequence[Layer], config: Hyperparameters,
                 kernels: Kernels | None = None) -> None:
        dtype = layers[0].weight.dtype
        total = size(layers)
        self.param, self.grad, self.m, self.v = (np.empty(total, dtype) for _ in range(4))
        self.scratch = np.empty(total, dtype)
        for flat, names in zip((self.param, self.grad, self.m, self.v), _KINDS, strict=True):
            for layer, pair in zip(layers, layer_views(flat, layers), strict=True):
                for name, view in zip(names, pair, strict=True):
                    view[...] = getattr(layer, name)
                    setattr(layer, name, view)
        self.layers = list(layers)
        self.config = config
        self.kernels = kernels if kernels is not None else Kernels()

    def is_packing(self, layers: Sequence[Layer]) -> bool:
        """Whether ``layers`` are these layers and still hold views into these buffers."""
        return (len(layers) == len(self.layers)
                and all(mine is layer for mine, layer in zip(self.layers, layers, strict=True))
                and all(layer.weight.base is self.param and layer.grad_weight.base is self.grad
                        and layer.m_weight.base is self.m and layer.v_weight.base is self.v
                        for layer in layers))

    def step(self, step: int, lr: float) -> None:
        """Clip the flat gradient (``grad_clip``) and apply one update with ``lr``; ``step``
        is the 1-based update count (Adam's bias corrections)."""
        config = self.config
        if config.grad_clip is not None:
            optim.clip_grad_norm([self.grad], config.grad_clip)
        optim.apply_update(config.optimizer, self.param, self.grad, self.m, self.v, step=step,
                           lr=lr, hp=config, scratch=self.scratch, kernels=self.kernels)

    def parameters_finite(self) -> bool:
        """Whether every weight and bias is finite, without allocating: ``param * 0`` is 0
        for finite values and NaN for infinite or NaN ones, so its sum says it."""
        np.multiply(self.param, 0, out=self.scratch)
        return bool(np.isfinite(self.scratch.sum()))

    def load_parameters(self, flat: np.ndarray) -> None:
        """Set every weight and bias from a flat array of the layout (``RunState.best``)."""
        np.copyto(self.param, flat)

"""``FlatParameters``: every layer's parameters, gradients and moments in four flat buffers.

The trainer packs a model once per ``run``: each layer's ``weight``/``bias`` (and
``grad_*``, ``m_*``, ``v_*``) become C-contiguous views into one flat array of each kind,
in the order ``w0, b0, w1, b1, ...``. Backward passes write the gradients straight into
the flat gradient through those views, so an optimizer step is one elementwise update of
the whole network instead of one per array, and ``clip_grad_norm`` is one dot product.
"""

from __future__ import annotations

import numpy as np

from mlp import optim
from mlp.layers import Layer

_KINDS = (("weight", "bias"), ("grad_weight", "grad_bias"), ("m_weight", "m_bias"),
          ("v_weight", "v_bias"))


class FlatParameters:
    """The packed parameters of ``layers``; see the module docstring."""

    def __init__(self, layers: list[Layer]) -> None:
        dtype = layers[0].weight.dtype
        total = int(sum(layer.weight.size + layer.bias.size for layer in layers))
        self.param, self.grad, self.m, self.v = (np.empty(total, dtype) for _ in range(4))
        self.scratch = np.empty(total, dtype)
        for flat, names in zip((self.param, self.grad, self.m, self.v), _KINDS, strict=True):
            offset = 0
            for layer in layers:
                for name in names:
                    current = getattr(layer, name)
                    view = flat[offset:offset + current.size].reshape(current.shape)
                    view[...] = current
                    setattr(layer, name, view)
                    offset += current.size
        self.layers = list(layers)

    def is_packing(self, layers: list[Layer]) -> bool:
        """Whether ``layers`` are these layers and still hold views into these buffers."""
        return (len(layers) == len(self.layers)
                and all(mine is layer for mine, layer in zip(self.layers, layers, strict=True))
                and all(layer.weight.base is self.param and layer.grad_weight.base is self.grad
                        and layer.m_weight.base is self.m and layer.v_weight.base is self.v
                        for layer in layers))

    def clip(self, max_norm: float) -> float:
        """Global-norm clipping of the flat gradient (``clip_grad_norm_``)."""
        return optim.clip_grad_norm([self.grad], max_norm)

    def update(self, name: str, step: int, hp: optim.Hyperparameters) -> None:
        """One optimizer step over every parameter of the network."""
        optim.apply_update(name, self.param, self.grad, self.m, self.v, step=step, hp=hp,
                           scratch=self.scratch)

"""``FlatParameters``: every layer's parameters, gradients and moments in four flat buffers.

The trainer packs a model once per ``run``: each layer's ``weight``/``bias`` (and
``grad_*``, ``m_*``, ``v_*``) become C-contiguous views into one flat array of each kind,
in the order ``w0, b0, w1, b1, ...``. Backward passes write the gradients straight into
the flat gradient through those views, so an optimizer step is one elementwise update of
the whole network instead of one per array, and ``clip_grad_norm`` is one dot product.

The update is split into slices that are processed by a small pool of threads (NumPy's
ufuncs release the GIL), so both cores of a machine work on it; the rules are elementwise,
so the result is the same bit for bit however the slices are cut.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlp import optim
from mlp.layers import Layer

_KINDS = (("weight", "bias"), ("grad_weight", "grad_bias"), ("m_weight", "m_bias"),
          ("v_weight", "v_bias"))
#: slices smaller than this are not worth a thread hand-off
_MIN_SLICE = 1 << 16
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 4)),
                                   thread_name_prefix="mlp-optim")
    return _POOL


class FlatParameters:
    """The packed parameters of ``layers``; see the module docstring."""

    def __init__(self, layers: list[Layer]) -> None:
        dtype = layers[0].weight.dtype
        sizes = [a.size for layer in layers for a in (layer.weight, layer.bias)]
        total = int(sum(sizes))
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
        self.layers = layers
        workers = _pool()._max_workers
        n_slices = max(1, min(workers, total // _MIN_SLICE))
        bounds = np.linspace(0, total, n_slices + 1).astype(int)
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def is_packing(self, layers: list[Layer]) -> bool:
        """Whether ``layers`` still hold views into these buffers (same order)."""
        return layers == self.layers and all(
            layer.weight.base is self.param and layer.grad_weight.base is self.grad
            for layer in layers)

    @property
    def size(self) -> int:
        return int(self.param.shape[0])

    def clip(self, max_norm: float) -> float:
        """Global-norm clipping of the flat gradient (``clip_grad_norm_``)."""
        return optim.clip_grad_norm([self.grad], max_norm)

    def update(self, name: str, step: int, hp: optim.Hyperparameters) -> None:
        """One optimizer step over every parameter, slices in parallel."""
        if len(self.slices) == 1:
            optim.apply_update(name, self.param, self.grad, self.m, self.v, step=step, hp=hp,
                               scratch=self.scratch)
            return
        futures = [
            _pool().submit(optim.apply_update, name, self.param[s], self.grad[s], self.m[s],
                           self.v[s], step=step, hp=hp, scratch=self.scratch[s])
            for s in self.slices
        ]
        for future in futures:
            future.result()

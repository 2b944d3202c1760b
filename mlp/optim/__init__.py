"""Update rules (SGD, momentum, Nesterov, RMSprop, Adam, AdamW and the registered ones), the
Optimizer that applies them to a Model's parameters, and learning-rate schedules.

Modules:

- ``rules``: the update rules (PyTorch's formulas) as ``UpdateRule`` records and their registry
  (``register_update_rule``), gradient clipping; this package re-exports their names.
- ``optimizer``: ``Optimizer``: ``model.parameters()`` packed into flat parameter and gradient
  buffers, and every state buffer a rule declares.
- ``schedules``: learning-rate schedules (``constant``, ``step``, ``cosine``, ``plateau``) and
  their checkpointed ``ScheduleState``.

Tested by: ``tests/test_optim.py`` (every step against numbers computed from PyTorch's published
formulas, and against ``torch.optim`` itself when PyTorch is importable),
``tests/test_schedules.py`` (schedules against PyTorch's closed forms; validation and JSON round
trips), ``tests/test_kernels.py`` (the compiled steps bit for bit against these rules).

May import: the base modules of ``mlp``, ``mlp.storage`` and ``mlp.nn``."""

from mlp.optim.rules import (
    UPDATE_RULES,
    Hyperparameters,
    UpdateRule,
    adam,
    adam_scalars,
    apply_update,
    clip_grad_norm,
    register_update_rule,
    rmsprop,
    sgd,
)

__all__ = ["UPDATE_RULES", "Hyperparameters", "UpdateRule", "adam", "adam_scalars",
           "apply_update", "clip_grad_norm", "register_update_rule", "rmsprop", "sgd"]

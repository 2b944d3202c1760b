"""Update rules (SGD, momentum, Nesterov, RMSprop, Adam, AdamW and the registered ones), the
Optimizer that applies them to a Model's parameters, and learning-rate schedules.

May import: the base modules of ``mlp``, ``mlp.storage`` and ``mlp.nn``.
"""

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

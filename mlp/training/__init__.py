"""Training: ``BasicRoutinizer`` and its hyperparameters, the run state, checkpoints, the run config
(model + training + data), progress, diagnostics, inspection and comparison of runs.

May import: the base modules of ``mlp``, ``mlp.storage``, ``mlp.nn``, ``mlp.optim``,
``mlp.plotting``, ``mlp.export``, ``mlp.callbacks`` and ``preprocess``.
"""

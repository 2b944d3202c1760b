"""mlp-routinizer: a NumPy multilayer perceptron with validated modules, one trainer and
exact, resumable HDF5 checkpoints.

The public names below are imported when first used (PEP 562), so ``import mlp`` and
``mlp --help`` do not load h5py or matplotlib, and ``import preprocess`` does not load the
trainer or the checkpoint format.

How the code is laid out
------------------------
Dependencies run one way, lowest first; a unit imports only the units below it:

    version, errors, arrays, display, signals
    < mlp (this file), registry
    < mlp.storage < mlp.nn
    < mlp.optim, history, preprocess, export
    < mlp.plotting, callbacks
    < mlp.training
    < mlp.sweep, mlp.sklearn
    < mlp.cli < __main__

``tests/test_architecture.py`` builds the import graph from the source and fails on a cycle,
on an upward import, on a module importing its own package's ``__init__``, on h5py outside
``mlp.storage.hdf5`` and ``mlp.training.checkpoint``, on a run-folder file name spelled outside
``mlp.storage.run_folder``, and on code outside the module, loss and update-rule classes that
tells them apart by kind.

Sub-packages (each ``__init__`` lists its modules and the tests that cover them):

- ``mlp.storage``: files: atomic writes, regular-file checks, locks, HDF5 rules, the run
  folder, output paths, memory checks.
- ``mlp.nn``: the network: the module protocol, layers, activations, normalisation, losses,
  ``Model``, the fused kernels, sparse inputs, the input normaliser, gradient checks, the bridge
  to PyTorch, safetensors files.
- ``mlp.optim``: update rules, the ``Optimizer``, learning-rate schedules.
- ``mlp.plotting``: figures, the notebook's live display, the run folder's ``curves.png``.
- ``mlp.training``: ``BasicRoutinizer``, its hyperparameters and run state, checkpoints, the run
  config, progress, diagnostics, inspection and comparison of runs.
- ``mlp.sweep``: hyperparameter sweeps with Optuna.
- ``mlp.sklearn``: the scikit-learn estimators.
- ``mlp.cli``: the ``mlp`` command.
- ``preprocess`` (beside ``mlp``): ``Data``, loaders, data files, training from disk.

Top-level modules:

- ``mlp.version``: the version string, read by the package metadata and the file formats.
- ``mlp.errors``: the typed errors (``MLPError``, ``DataError``, ``CheckpointError``,
  ``TrainingDiverged``, ...).
- ``mlp.arrays``: the validated array type of Pydantic fields (``array_field``); blockwise
  finiteness checks.
- ``mlp.display``: how objects show themselves: short text tables and small escaped HTML tables.
- ``mlp.signals``: SIGINT and SIGTERM deferred until a save is done; ``TrainingInterrupted``.
- ``mlp.registry``: ``Registry`` (names to classes, entry points, ``--plugin`` imports) and
  ``Tagged``, the base that registers a class by its keyword.
- ``mlp.history``: ``History``, the per-epoch columns of a run.
- ``mlp.callbacks``: ``Callback``, ``StopTraining``, ``CsvLogger`` (``history.csv``),
  ``TensorBoardLogger``.
- ``mlp.export``: the ONNX exporter; ``ExportError``.
- ``mlp.__main__``: ``python -m mlp``.

Tested by: ``tests/test_architecture.py`` (the import graph and the owners above),
``tests/test_reprs.py`` (every object's display: a few lines or a small table, never an array's
contents), ``tests/test_callbacks.py`` (callbacks, ``history.csv``, TensorBoard scalars),
``tests/test_export.py`` (ONNX files in onnxruntime against ``predict`` and ``predict_proba`` for
every nonlinearity, both dtypes, batches of 1, 7 and 1000, integer and string labels, one-output,
multilabel and regression models),
``tests/test_signals.py`` (SIGINT and SIGTERM to a real ``mlp train``), ``tests/test_readme.py``
(the README's examples and import paths); tests that span packages are listed in
``tests/conftest.py``.

Coming from CS231n
------------------
The library follows PyTorch's conventions; where CS231n's assignment 2 differs:

- Weights are ``(in, out)``, ``y = x @ W + b``, as in CS231n's ``affine_forward``.
  ``init="normal", init_scale=weight_scale`` draws the course's ``weight_scale * randn`` with
  zero biases. A module works on its own as inside a ``Model``: ``Layer(in_features=2,
  out_features=3, weight=w, bias=b).forward(x, train=True)``, then ``.backward(dout)`` fills
  ``grad_weight`` and ``grad_bias``; ``BatchNorm1d`` and ``LayerNorm`` likewise.
- Loss and gradients: CS231n's ``loss, grads = model.loss(X, y)`` is ``loss, grads =
  model.loss_and_grads(X, y)``, the gradients named ``"0/weight"``, ``"0/bias"``,
  ``"2/weight"``, ... (module index, then parameter) as ``model.named_parameters()`` and
  ``state_dict()`` name them. ``mlp.relative_error`` is the course's ``rel_error``;
  ``gradcheck(model, loss, X, y)`` checks every parameter and the input, whatever the input's
  memory layout, and reports the relative error less what centred differences cannot resolve,
  so a zero gradient (a bias before a batch norm) reads 0.
- Momentum: CS231n keeps a velocity ``v = mu*v - lr*dw; w += v``; we keep PyTorch's buffer
  ``b = mu*b + g; w -= lr*b``. The steps are the same (``b = -v/lr``) for a constant learning
  rate.
- RMSprop / Adam: ``alpha`` is CS231n's ``decay_rate`` and the state ``"v"`` its ``cache``;
  Adam's ``step`` is CS231n's ``t`` after its increment; ``eps`` is outside the square root in
  both.
- Dropout ``p`` is the probability of dropping a unit (PyTorch); CS231n's ``p`` is the
  probability of keeping it: ``DropoutLayer(p=0.25)`` is CS231n's ``p=0.75``. Both are inverted
  dropout, the identity at evaluation.
- BatchNorm ``momentum``: ours is ``running = (1 - momentum)*running + momentum*batch`` with
  ``momentum=0.1`` and the unbiased batch variance (PyTorch); CS231n's is ``running =
  momentum*running + (1 - momentum)*batch`` with 0.9 and the biased variance: use
  ``momentum = 1 - cs231n_momentum``. ``eps`` is 1e-5 in both.
- Weight decay versus ``reg``: CS231n adds ``0.5*reg*sum(W**2)`` to the loss.
  ``weight_decay=reg`` gives the same step on weights, but also decays biases (PyTorch's default
  parameter group), and the recorded loss has no penalty term; with ``adamw`` the decay is
  decoupled.
- ``mlp.Optimizer`` is public, the routinizer's own: ``opt = Optimizer(model,
  TrainingConfig(optimizer="momentum", momentum=0.9))``, then after each
  ``model.loss_and_grads(X, y)`` one ``opt.step(step=t, lr=0.01)`` updates every parameter in
  place, as PyTorch's ``optimizer.step()``.
- The built-in modules still take the calls of release 0.1.0 (``layer.forward(x, train=True)``,
  ``dropout.forward(x, train=True, rng=rng)``), and a Layer's ``m_weight``, ``v_weight``,
  ``m_bias``, ``v_bias`` show the moments the optimizer keeps for it (zeros before any step;
  from a checkpoint, its saved ones).

``tests/test_course.py`` checks this API the way the assignment checks its own layers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlp.version import __version__

_EXPORTS = {
    "BasicRoutinizer": "mlp.training.routinizer",
    "BatchNorm1d": "mlp.nn.normalization",
    "Callback": "mlp.callbacks",
    "Context": "mlp.nn.module",
    "LayerNorm": "mlp.nn.normalization",
    "Module": "mlp.nn.module",
    "UpdateRule": "mlp.optim.rules",
    "register_update_rule": "mlp.optim.rules",
    "Checkpoint": "mlp.training.checkpoint",
    "CheckpointError": "mlp.errors",
    "DataError": "mlp.errors",
    "DropoutLayer": "mlp.nn.layers",
    "History": "mlp.history",
    "Layer": "mlp.nn.layers",
    "Loss": "mlp.nn.losses",
    "MLPError": "mlp.errors",
    "Model": "mlp.nn.model",
    "Nonlinearity": "mlp.nn.layers",
    "Optimizer": "mlp.optim.optimizer",
    "RunFolder": "mlp.storage.run_folder",
    "RunFolderTaken": "mlp.storage.run_folder",
    "RunState": "mlp.training.run_state",
    "TrainingConfig": "mlp.training.hyperparameters",
    "TrainingDiverged": "mlp.errors",
    "TrainingInterrupted": "mlp.signals",
    "gradcheck": "mlp.nn.gradient_check",
    "relative_error": "mlp.nn.gradient_check",
    "load_checkpoint": "mlp.training.checkpoint",
    "compare": "mlp.training.compare",
}

__all__ = [
    "BasicRoutinizer",
    "BatchNorm1d",
    "Callback",
    "Context",
    "LayerNorm",
    "Module",
    "UpdateRule",
    "register_update_rule",
    "Checkpoint",
    "CheckpointError",
    "DataError",
    "DropoutLayer",
    "History",
    "Layer",
    "Loss",
    "MLPError",
    "Model",
    "Nonlinearity",
    "Optimizer",
    "RunFolder",
    "RunFolderTaken",
    "RunState",
    "TrainingConfig",
    "TrainingDiverged",
    "TrainingInterrupted",
    "gradcheck",
    "relative_error",
    "load_checkpoint",
    "compare",
    "__version__",
]

if TYPE_CHECKING:
    from mlp.callbacks import Callback
    from mlp.errors import CheckpointError, DataError, MLPError, TrainingDiverged
    from mlp.history import History
    from mlp.nn.gradient_check import gradcheck, relative_error
    from mlp.nn.layers import DropoutLayer, Layer, Nonlinearity
    from mlp.nn.losses import Loss
    from mlp.nn.model import Model
    from mlp.nn.module import Context, Module
    from mlp.nn.normalization import BatchNorm1d, LayerNorm
    from mlp.optim.optimizer import Optimizer
    from mlp.optim.rules import UpdateRule, register_update_rule
    from mlp.signals import TrainingInterrupted
    from mlp.storage.run_folder import RunFolder, RunFolderTaken
    from mlp.training.checkpoint import Checkpoint, load_checkpoint
    from mlp.training.compare import compare
    from mlp.training.hyperparameters import TrainingConfig
    from mlp.training.routinizer import BasicRoutinizer
    from mlp.training.run_state import RunState


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

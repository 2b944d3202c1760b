"""mlp-routinizer: a NumPy multilayer perceptron with validated modules, one trainer and
exact, resumable HDF5 checkpoints.

The public names below are imported when first used (PEP 562), so ``import mlp`` and
``mlp --help`` do not load h5py or matplotlib, and ``import preprocess`` does not load the
trainer or the checkpoint format.
"""

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

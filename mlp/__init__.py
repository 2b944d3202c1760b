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
    "BasicRoutinizer": "mlp.routinizer",
    "BatchNorm1d": "mlp.normalization",
    "Callback": "mlp.callbacks",
    "Context": "mlp.module",
    "LayerNorm": "mlp.normalization",
    "Module": "mlp.module",
    "UpdateRule": "mlp.optim",
    "register_update_rule": "mlp.optim",
    "Checkpoint": "mlp.checkpoint",
    "CheckpointError": "mlp.errors",
    "DataError": "mlp.errors",
    "DropoutLayer": "mlp.layers",
    "History": "mlp.history",
    "Layer": "mlp.layers",
    "Loss": "mlp.losses",
    "MLPError": "mlp.errors",
    "Model": "mlp.model",
    "Nonlinearity": "mlp.layers",
    "Optimizer": "mlp.optimizer",
    "RunFolder": "mlp.run_folder",
    "RunFolderTaken": "mlp.run_folder",
    "RunState": "mlp.run_state",
    "TrainingConfig": "mlp.training_config",
    "TrainingDiverged": "mlp.errors",
    "TrainingInterrupted": "mlp.signals",
    "gradcheck": "mlp.gradcheck",
    "relative_error": "mlp.gradcheck",
    "load_checkpoint": "mlp.checkpoint",
    "compare": "mlp.comparison",
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
    from mlp.checkpoint import Checkpoint, load_checkpoint
    from mlp.comparison import compare
    from mlp.errors import CheckpointError, DataError, MLPError, TrainingDiverged
    from mlp.gradcheck import gradcheck, relative_error
    from mlp.history import History
    from mlp.layers import DropoutLayer, Layer, Nonlinearity
    from mlp.losses import Loss
    from mlp.model import Model
    from mlp.module import Context, Module
    from mlp.normalization import BatchNorm1d, LayerNorm
    from mlp.optim import UpdateRule, register_update_rule
    from mlp.optimizer import Optimizer
    from mlp.routinizer import BasicRoutinizer
    from mlp.run_folder import RunFolder, RunFolderTaken
    from mlp.run_state import RunState
    from mlp.signals import TrainingInterrupted
    from mlp.training_config import TrainingConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

"""mlp-routinizer: a NumPy multilayer perceptron with validated modules, one trainer and
exact, resumable HDF5 checkpoints."""

from mlp.errors import CheckpointError, DataError, MLPError, TrainingDiverged
from mlp.gradcheck import gradcheck
from mlp.layers import DropoutLayer, Layer, Nonlinearity
from mlp.losses import Loss
from mlp.model import Model

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DropoutLayer",
    "Layer",
    "Loss",
    "MLPError",
    "Model",
    "Nonlinearity",
    "TrainingDiverged",
    "gradcheck",
]

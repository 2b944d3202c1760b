"""mlp-routinizer: a NumPy multilayer perceptron with validated modules, one trainer and
exact, resumable HDF5 checkpoints."""

__version__ = "0.1.0"

from mlp.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from mlp.errors import CheckpointError, DataError, MLPError, TrainingDiverged  # noqa: E402
from mlp.gradcheck import gradcheck  # noqa: E402
from mlp.history import History  # noqa: E402
from mlp.layers import DropoutLayer, Layer, Nonlinearity  # noqa: E402
from mlp.losses import Loss  # noqa: E402
from mlp.model import Model  # noqa: E402
from mlp.routinizer import BasicRoutinizer  # noqa: E402

__all__ = [
    "BasicRoutinizer",
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
    "TrainingDiverged",
    "gradcheck",
    "load_checkpoint",
]

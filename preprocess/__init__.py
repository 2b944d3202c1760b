"""Data for mlp-routinizer: loading, splitting, normalising, augmenting, batching, storing.

``Normalizer`` belongs to a saved model's predict path (``mlp.nn.input_normalizer``) and is
re-exported here, where the data that fit it live.
"""

from mlp.nn.input_normalizer import Normalizer
from preprocess.data import Data

__all__ = ["Data", "Normalizer"]

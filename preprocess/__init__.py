"""Data for mlp-routinizer: loading, splitting, normalising, augmenting, batching, storing."""

from preprocess.data import Data
from preprocess.normalizer import Normalizer

__all__ = ["Data", "Normalizer"]

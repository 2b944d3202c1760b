"""Data for mlp-routinizer: loading, splitting, normalising, augmenting, batching, storing."""

from preprocess.data import Data, Normalizer

__all__ = ["Data", "Normalizer"]

"""Typed errors of the library.

Bad specs and configs raise ``pydantic.ValidationError``; everything else that a user can get
wrong has its own class here, each message naming what was expected and what was found.
"""

from __future__ import annotations


class MLPError(Exception):
    """Base class of every error this library raises on purpose."""


class DataError(MLPError, ValueError):
    """Input data of the wrong shape, type or content (names expected and found)."""


class CheckpointError(MLPError):
    """A checkpoint file that cannot be trusted: not HDF5, truncated, corrupt, wrong format."""


class TrainingDiverged(MLPError, FloatingPointError, ValueError):
    """The loss became NaN or infinite; the message names the epoch and the step. Also a
    ``ValueError``, the class scikit-learn's users catch when a fit cannot proceed."""


class ResourceError(MLPError, MemoryError):
    """A size asked for (by a config, a data file, a checkpoint or the environment) that this
    machine cannot hold, or that passes a limit; the message names who asked and how much.
    Also a ``MemoryError``, the class code that catches allocation failures expects."""

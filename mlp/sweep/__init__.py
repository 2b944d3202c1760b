"""Sweeps: a search over run configs with Optuna (the sweep file, the study and its storage, trials,
workers, the journal and the report).

May import: everything of ``mlp`` below the command line, and ``preprocess``.
"""

from mlp.sweep.config import SweepConfig

__all__ = ["SweepConfig"]

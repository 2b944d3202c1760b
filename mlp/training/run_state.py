"""``RunState``: everything about a run that changes as it trains, in one object.

The counters (epoch, step), the one random generator of the run (shuffling, dropout masks),
the schedule's state, the ``History``, the best weights so far (a copy of the model's
``state_dict()``, parameters and buffers) and the stop rules (early stopping, target loss).
The JSON fields are what checkpoints store as the ``state`` attribute; the history and the
best weights are stored as datasets beside it, and the generator as ``rng_state``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal, cast

import numpy as np
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from mlp.history import History
from mlp.optim.schedules import ScheduleState
from mlp.training.field_docs import Documented


class RunState(Documented):
    """Where a run stands: counters, generator, schedule, history, best weights, stop rules.

    ``best_loss`` is the lowest monitored loss so far (the validation loss, or the training
    loss without validation data) and ``best_epoch`` the 1-based epoch that reached it;
    ``improved_epoch`` is the last epoch whose loss was below the best before it by more
    than the ``min_delta`` of ``end_epoch`` (the epoch early stopping counts its patience
    from; None in runs saved before it existed, which count from ``best_epoch``, the same
    epoch when ``min_delta`` is 0). The JSON fields are the checkpoint's ``state``
    attribute; the history and best weights are stored beside it as datasets.

    Examples
    --------
    >>> from mlp import RunState
    >>> state = RunState(monitor="train_loss")
    >>> row = {"train_accuracy": None, "val_loss": None, "val_accuracy": None, "lr": 0.01,
    ...        "seconds": 1.0}
    >>> state.record({**row, "epoch": 1, "train_loss": 0.5})
    True
    >>> state.record({**row, "epoch": 2, "train_loss": 0.6}), state.best_epoch
    (False, 1)
    >>> state.should_stop_early(patience=1)
    True
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epoch: int = Field(default=0, ge=0, description="Epochs completed.")
    step: int = Field(default=0, ge=0, description="Optimizer steps taken (mini-batches).")
    best_loss: float | None = Field(
        default=None, description="The lowest monitored loss so far (None before the first "
        "epoch).")
    best_epoch: int | None = Field(default=None, ge=1,
                                   description="The 1-based epoch that reached best_loss.")
    improved_epoch: int | None = Field(
        default=None, ge=1, description="The last epoch that improved on the best by more "
        "than min_delta: where early stopping counts its patience from.")
    monitor: Literal["val_loss", "train_loss"] = Field(
        default="val_loss", description="The History column the best weights and the stop "
        "rules follow (train_loss without validation data).")
    rng_state: dict[str, Any] | None = Field(
        default=None, description="The state of the run's PCG64 generator after the last "
        "epoch (None: start from the seed).")
    schedule: ScheduleState = Field(default_factory=ScheduleState,
                                    description="The learning-rate schedule's own state.")
    data_fingerprint: dict[str, Any] | None = Field(
        default=None, description="Shape, dtype and SHA-256 of the training data, so a "
        "continued run can tell other data.")
    stopped_early: bool = Field(default=False,
                                description="Whether a stop rule ended the run.")
    run_id: str | None = Field(
        default=None, description="Who the run is: drawn when a run starts, kept by its "
        "checkpoints and resumes, so a run folder tells its own run from another one (None "
        "in runs saved before it existed).")
    history: History = Field(default_factory=History, exclude=True,
                             description="One row per epoch (stored as datasets, not JSON).")

    _rng: np.random.Generator | None = PrivateAttr(default=None)
    _best: dict[str, np.ndarray] | None = PrivateAttr(default=None)

    @classmethod
    def start(cls) -> RunState:
        """The state of a run that starts now, with a fresh ``run_id``."""
        return cls(run_id=uuid.uuid4().hex)

    @field_validator("rng_state")
    @classmethod
    def _a_generator_state(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The state must be one NumPy's PCG64 accepts (the generator of ``default_rng``)."""
        if value is None:
            return None
        if value.get("bit_generator") != "PCG64":
            raise ValueError(f"expected the state of a PCG64 generator, found bit_generator "
                             f"{value.get('bit_generator')!r}")
        try:
            # the stubs type the setter as the TypedDict the getter returns; the setter takes
            # any dict and validates it, which is the check wanted here
            np.random.PCG64().state = value  # type: ignore[assignment]
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"not a valid PCG64 state ({exc})") from exc
        return value

    def __eq__(self, other: object) -> bool:
        """Same fields, history and best weights (the generator follows ``rng_state``)."""
        if not isinstance(other, RunState):
            return NotImplemented
        mine, theirs = self._best, other._best
        if mine is None or theirs is None:
            same_best = mine is None and theirs is None
        else:
            same_best = mine.keys() == theirs.keys() and all(
                np.array_equal(mine[k], theirs[k]) for k in mine)
        return (self.model_dump() == other.model_dump() and self.history == other.history
                and same_best)

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ generator
    def generator(self, seed: int) -> np.random.Generator:
        """The run's one generator (shuffling, dropout masks, augmentation).

        Parameters
        ----------
        seed : int
            Seeds the generator at the start of a run; a state from a checkpoint continues
            from ``rng_state`` instead.

        Returns
        -------
        numpy.random.Generator
            The same generator on every call.
        """
        if self._rng is None:
            self._rng = np.random.default_rng(seed)
            if self.rng_state is not None:
                self._rng.bit_generator.state = self.rng_state
        return self._rng

    # ---------------------------------------------------------------------- epochs
    def end_epoch(self, row: dict[str, Any], arrays: Mapping[str, np.ndarray],
                  min_delta: float = 0.0) -> bool:
        """Record one epoch and keep the best weights when it improved.

        ``record`` and ``keep_best`` together; the trainer calls those two itself, copying
        the best weights its own way.

        Parameters
        ----------
        row : dict
            The epoch's History row (``epoch``, ``train_loss``, ``val_loss``, ...).
        arrays : mapping of str to ndarray
            The model's ``state_dict()``, copied when the epoch is the best so far.
        min_delta : float, default 0.0
            How much lower than the best a loss must be to count for early stopping.

        Returns
        -------
        bool
            Whether the monitored loss is the lowest so far.
        """
        improved = self.record(row, min_delta)
        if improved:
            self.keep_best(arrays)
        return improved

    def record(self, row: dict[str, Any], min_delta: float = 0.0) -> bool:
        """Record one epoch's History row, its counters and the generator's state.

        A loss lower than the best before it by more than ``min_delta`` also becomes
        ``improved_epoch`` (scikit-learn's ``tol`` rule: tiny gains do not reset the
        patience, but the lowest loss still gives the best weights).

        Parameters
        ----------
        row : dict
            The epoch's History row; ``row["epoch"]`` and ``row[monitor]`` are read.
        min_delta : float, default 0.0
            How much lower than the best a loss must be to count for early stopping.

        Returns
        -------
        bool
            Whether the monitored loss is the lowest so far (the caller then keeps the best
            weights).
        """
        self.history.append(**row)
        self.epoch = row["epoch"]
        if self._rng is not None:
            # a dict (typed Mapping by the stubs)
            self.rng_state = cast(dict[str, Any], self._rng.bit_generator.state)
        monitored = row[self.monitor]
        improved = self.best_loss is None or monitored < self.best_loss
        if self.best_loss is None or monitored < self.best_loss - min_delta:
            self.improved_epoch = row["epoch"]
        if improved:
            self.best_loss, self.best_epoch = monitored, row["epoch"]
        return improved

    def keep_best(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep a copy of ``arrays`` as the best weights.

        Parameters
        ----------
        arrays : mapping of str to ndarray
            The model's ``state_dict()``; copied into the arrays already kept when their
            names, shapes and dtypes fit, else copied anew.
        """
        kept = self._best
        if kept is None or kept.keys() != arrays.keys() or any(
                kept[k].shape != a.shape or kept[k].dtype != a.dtype
                for k, a in arrays.items()):
            self._best = {k: a.copy() for k, a in arrays.items()}
        else:
            for k, a in arrays.items():
                np.copyto(kept[k], a)

    @property
    def best(self) -> dict[str, np.ndarray] | None:
        """The copy of the model's ``state_dict()`` at the best epoch so far (None before
        the first epoch)."""
        return self._best

    @best.setter
    def best(self, arrays: Mapping[str, np.ndarray] | None) -> None:
        self._best = None if arrays is None else dict(arrays)

    # ------------------------------------------------------------------ stop rules
    @property
    def patience_from(self) -> int | None:
        """The epoch early stopping counts from: ``improved_epoch`` (``best_epoch`` in runs
        saved before it was recorded)."""
        return self.best_epoch if self.improved_epoch is None else self.improved_epoch

    def should_stop_early(self, patience: int | None) -> bool:
        """Whether early stopping ends the run now.

        Parameters
        ----------
        patience : int or None
            Epochs allowed since the last epoch that improved by more than ``min_delta``
            (``patience_from``); None never stops.

        Returns
        -------
        bool
        """
        start = self.patience_from
        if patience is None or start is None:
            return False
        return self.epoch - start >= patience

    def reached(self, target_loss: float | None) -> bool:
        """Whether the last epoch's monitored loss is at or below ``target_loss``.

        Parameters
        ----------
        target_loss : float or None
            The loss to reach; None is never reached.

        Returns
        -------
        bool
        """
        if target_loss is None or not len(self.history):
            return False
        return getattr(self.history, self.monitor)[-1] <= target_loss

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
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mlp.history import History
from mlp.optim.schedules import ScheduleState


class RunState(BaseModel):
    """Where a run stands (see the module docstring). ``best_loss`` is the lowest monitored
    loss so far (the validation loss, or the training loss without validation data) and
    ``best_epoch`` the 1-based epoch that reached it; ``improved_epoch`` is the last epoch
    whose loss was below the best before it by more than the ``min_delta`` of ``end_epoch``
    (the epoch early stopping counts its patience from; None in runs saved before it
    existed, which count from ``best_epoch``, the same epoch when ``min_delta`` is 0)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epoch: int = Field(default=0, ge=0)
    step: int = Field(default=0, ge=0)
    best_loss: float | None = None
    best_epoch: int | None = Field(default=None, ge=1)
    improved_epoch: int | None = Field(default=None, ge=1)
    monitor: Literal["val_loss", "train_loss"] = "val_loss"
    rng_state: dict[str, Any] | None = None
    schedule: ScheduleState = Field(default_factory=ScheduleState)
    data_fingerprint: dict[str, Any] | None = None
    stopped_early: bool = False
    #: who the run is: drawn when a run starts, kept by its checkpoints and resumes, so a
    #: run folder tells its own run from another one (None in runs saved before it existed)
    run_id: str | None = None
    history: History = Field(default_factory=History, exclude=True)

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
        """The run's generator: seeded with ``seed`` at the start of a run, or continuing
        from ``rng_state`` when the state came from a checkpoint."""
        if self._rng is None:
            self._rng = np.random.default_rng(seed)
            if self.rng_state is not None:
                self._rng.bit_generator.state = self.rng_state
        return self._rng

    # ---------------------------------------------------------------------- epochs
    def end_epoch(self, row: dict[str, Any], arrays: Mapping[str, np.ndarray],
                  min_delta: float = 0.0) -> bool:
        """Record one epoch's History ``row`` and, when its monitored loss is the lowest so
        far, a copy of ``arrays`` (the model's ``state_dict()``); returns whether it improved
        (``record`` and ``keep_best``; the trainer calls those two itself, copying the
        best weights its own way)."""
        improved = self.record(row, min_delta)
        if improved:
            self.keep_best(arrays)
        return improved

    def record(self, row: dict[str, Any], min_delta: float = 0.0) -> bool:
        """Record one epoch's History ``row``, its counters and the generator's state; returns
        whether its monitored loss is the lowest so far (the caller then keeps the best
        weights). A loss lower than the best before it by more than ``min_delta`` also becomes
        ``improved_epoch`` (scikit-learn's ``tol`` rule: tiny gains do not reset the
        patience, but the lowest loss still gives the best weights)."""
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
        """Keep a copy of ``arrays`` as the best weights (into the arrays already kept when
        they fit)."""
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
        """Whether ``patience`` epochs have passed since the last epoch that improved by
        more than ``min_delta`` (``patience_from``)."""
        start = self.patience_from
        if patience is None or start is None:
            return False
        return self.epoch - start >= patience

    def reached(self, target_loss: float | None) -> bool:
        """Whether the last epoch's monitored loss is at or below ``target_loss``."""
        if target_loss is None or not len(self.history):
            return False
        return getattr(self.history, self.monitor)[-1] <= target_loss

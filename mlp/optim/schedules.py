"""Learning-rate schedules: validated Pydantic models, a discriminated union on ``kind``.

Every schedule answers ``lr_for_epoch(epoch, base_lr, epochs, state)``, the learning rate of
0-based ``epoch``, and ``end_epoch(state, val_loss)``, called after each epoch with that
epoch's validation loss. Only ``plateau`` keeps state; it lives in a ``ScheduleState`` that
the trainer saves (as JSON) in its checkpoints, so the schedules themselves are pure config.
The semantics are PyTorch's ``StepLR``, ``CosineAnnealingLR`` (closed form, ``T_max`` =
``epochs``) and ``ReduceLROnPlateau`` (mode ``min``, relative threshold, cooldown 0).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "PlateauSchedule",
    "Schedule",
    "ScheduleState",
    "StepSchedule",
]


class ScheduleState(BaseModel):
    """The mutable state of a schedule: ``plateau``'s current lr, best validation loss so far
    and count of epochs without improvement (``None`` = not yet set)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    lr: float | None = Field(default=None, description="plateau's current learning rate.")
    best: float | None = Field(default=None, description=(
        "The lowest validation loss so far."))
    bad_epochs: int = Field(default=0, ge=0, description=(
        "The epochs in a row without improvement."))


class _BaseSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def lr_for_epoch(self, epoch: int, base_lr: float, epochs: int,
                     state: ScheduleState) -> float:
        """The learning rate of ``epoch``, by the formula of the schedule's class docstring.

        Parameters
        ----------
        epoch : int
            The 0-based epoch about to be trained.
        base_lr : float
            The run's learning rate, ``lr``.
        epochs : int
            The epochs of the run.
        state : ScheduleState
            The schedule's mutable state, kept in checkpoints.

        Returns
        -------
        float
            The learning rate of ``epoch``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define lr_for_epoch")

    def end_epoch(self, state: ScheduleState, val_loss: float | None) -> None:
        """Observe the epoch's validation loss; nothing to do for a stateless schedule.

        Parameters
        ----------
        state : ScheduleState
            The schedule's mutable state, kept in checkpoints.
        val_loss : float or None
            The epoch's validation loss (None without a validation split).
        """

    def depends_on_epochs(self) -> bool:
        """Whether the learning rates change with the run's ``epochs`` (so a resume that
        raises ``epochs`` changes the rates still to come)."""
        return False


class ConstantSchedule(_BaseSchedule):
    """``lr = base_lr`` every epoch."""

    kind: Literal["constant"] = Field(default="constant", description=(
        "The schedule: constant keeps the base learning rate."))

    def lr_for_epoch(self, epoch: int, base_lr: float, epochs: int,
                     state: ScheduleState) -> float:
        return base_lr


class StepSchedule(_BaseSchedule):
    """``StepLR``: ``lr = base_lr * gamma ** (epoch // step_size)``."""

    kind: Literal["step"] = Field(default="step", description=(
        "The schedule: step multiplies the rate by gamma every step_size epochs."))
    step_size: int = Field(ge=1, description="The epochs between two reductions.")
    gamma: float = Field(gt=0.0, le=1.0, description="The factor of each reduction.")

    def lr_for_epoch(self, epoch: int, base_lr: float, epochs: int,
                     state: ScheduleState) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineSchedule(_BaseSchedule):
    """``CosineAnnealingLR`` with ``T_max = t_max`` (by default the run's ``epochs``), in
    closed form: ``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / T_max)) / 2``.

    With ``t_max`` unset the curve stretches with ``epochs``: a run resumed with more epochs
    follows a different curve from then on than it would have. Set ``t_max`` to fix it.

    Examples
    --------
    >>> from mlp.optim.schedules import CosineSchedule, ScheduleState
    >>> CosineSchedule(t_max=4).lr_for_epoch(2, 0.1, 10, ScheduleState())
    0.05
    """

    kind: Literal["cosine"] = Field(default="cosine", description=(
        "The schedule: cosine anneals the rate from the base to min_lr over t_max epochs."))
    min_lr: float = Field(default=0.0, ge=0.0, allow_inf_nan=False, description=(
        "The learning rate at epoch t_max."))
    t_max: int | None = Field(default=None, ge=1, strict=True, description=(
        "The epochs of the half cosine (none: the run's epochs, so the curve stretches "
        "when a resume raises epochs)."))

    def lr_for_epoch(self, epoch: int, base_lr: float, epochs: int,
                     state: ScheduleState) -> float:
        t_max = epochs if self.t_max is None else self.t_max
        return self.min_lr + (base_lr - self.min_lr) * (1.0 + math.cos(math.pi * epoch
                                                                       / t_max)) / 2.0

    def depends_on_epochs(self) -> bool:
        return self.t_max is None


class PlateauSchedule(_BaseSchedule):
    """``ReduceLROnPlateau`` (mode ``min``, relative threshold, cooldown 0).

    An epoch improves iff ``val_loss < best * (1 - threshold)``, ``best`` being the lowest
    loss so far (infinite at first, so the first finite loss improves; NaN never does);
    after more than ``patience`` epochs in a row without improvement the lr becomes
    ``max(lr * factor, min_lr)`` and the count restarts. The lr is ``state.lr``, set to
    ``base_lr`` on first use.
    """

    kind: Literal["plateau"] = Field(default="plateau", description=(
        "The schedule: plateau multiplies the rate by factor when the validation loss stops "
        "improving."))
    factor: float = Field(default=0.1, gt=0.0, lt=1.0, description=(
        "The factor of each reduction."))
    patience: int = Field(default=10, ge=0, description=(
        "The epochs in a row without improvement that are tolerated; one more reduces "
        "the rate."))
    min_lr: float = Field(default=0.0, ge=0.0, allow_inf_nan=False, description=(
        "The lowest learning rate a reduction gives."))
    threshold: float = Field(default=1e-4, ge=0.0, allow_inf_nan=False, description=(
        "The relative improvement that counts: val_loss < best * (1 - threshold)."))

    def lr_for_epoch(self, epoch: int, base_lr: float, epochs: int,
                     state: ScheduleState) -> float:
        if state.lr is None:
            state.lr = base_lr
        return state.lr

    def end_epoch(self, state: ScheduleState, val_loss: float | None) -> None:
        """Count the epoch as an improvement or not, reducing ``state.lr`` after too many bad ones.

        The lr is reduced after more than ``patience`` bad epochs in a row, and only once
        ``lr_for_epoch`` has set ``state.lr``.

        Parameters
        ----------
        state : ScheduleState
            Updated in place: ``best``, ``bad_epochs`` and ``lr``.
        val_loss : float or None
            Compared with ``state.best * (1 - threshold)``; None (no validation split) changes
            nothing.
        """
        if val_loss is None:
            return
        best = math.inf if state.best is None else state.best
        if val_loss < best * (1.0 - self.threshold):
            state.best = val_loss
            state.bad_epochs = 0
            return
        state.bad_epochs += 1
        if state.bad_epochs > self.patience:
            if state.lr is not None:
                state.lr = max(state.lr * self.factor, self.min_lr)
            state.bad_epochs = 0


Schedule = Annotated[
    ConstantSchedule | StepSchedule | CosineSchedule | PlateauSchedule,
    Field(discriminator="kind"),
]

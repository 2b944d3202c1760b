"""``TrainingConfig``: every training hyperparameter, validated on construction and on
every assignment.

``BasicRoutinizer`` is a ``TrainingConfig`` that can also train; its JSON is this model's
JSON. Non-finite numbers are refused everywhere (``lr = inf`` would break the run's own
checkpoints), integers are strict (``epochs = true`` is not one epoch), and ``seed`` must be
a non-negative integer, as NumPy's generators require.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlp import display
from mlp.nn.losses import Loss
from mlp.optim.rules import UPDATE_RULES
from mlp.optim.schedules import ConstantSchedule, Schedule
from mlp.registry import RegisteredField, RegisteredName
from mlp.training.field_docs import Documented

#: the name of a registered update rule (``mlp.optim.rules.UPDATE_RULES``)
OptimizerName = Annotated[str, RegisteredName(UPDATE_RULES)]
#: a registered loss, or its kind
LossSpec = Annotated[Loss, RegisteredField(Loss)]
#: a strict positive integer: JSON ``true`` or ``2.0`` is not accepted as a count
Count = Annotated[int, Field(gt=0, strict=True)]


class TrainingConfig(Documented):
    """The hyperparameters of a training run, validated on construction and assignment.

    Optimizers follow PyTorch's definitions (see ``mlp.optim.rules``) and update weights and
    biases alike; ``weight_decay`` is coupled (added to the gradient) for all but ``adamw``;
    ``grad_clip`` rescales all gradients together when their global L2 norm exceeds it
    (``clip_grad_norm_``). ``early_stopping`` is a patience in epochs on the validation loss
    (the training loss when there is no validation split) and restores the best weights;
    an epoch counts as an improvement for it only when its loss is lower than the best so
    far by more than ``min_delta`` (the best weights are those of the lowest loss);
    ``target_loss`` stops once that loss is at or below it. ``checkpoint_dir`` is the run
    folder (None: no checkpoints); ``save_every_epochs`` and ``save_every_seconds`` set how
    often its checkpoints are written (whichever comes first; both None: only at the end,
    which always gets a save); ``log_every`` how often an epoch line is logged when the
    output is not a terminal; ``tensorboard`` writes TensorBoard scalars into the run folder;
    ``diagnostics`` records per-layer statistics in the History and warns about dead units,
    collapsed predictions, vanishing gradients, bad learning rates and stalled losses
    (``mlp.training.diagnostics``). A bad value raises ``pydantic.ValidationError``.

    Examples
    --------
    >>> from mlp import TrainingConfig
    >>> config = TrainingConfig(epochs=30, lr=0.01, loss="mse")
    >>> config
    TrainingConfig(epochs=30, lr=0.01, loss=MSELoss())
    >>> sorted(config.non_default_fields())
    ['epochs', 'loss', 'lr']
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    epochs: Count = Field(
        default=10, description="Epochs to train (passes over the training split); raising it "
        "and calling run again continues the run.")
    batch_size: Count | None = Field(
        default=32, description="Rows of a mini-batch; None trains on the full batch.")
    lr: float = Field(default=1e-3, gt=0, description="Learning rate (the schedule's start).")
    optimizer: OptimizerName = Field(
        default="adam", description="Name of a registered update rule (mlp.optim.rules): sgd, "
        "momentum, nesterov, rmsprop, adam, adamw, amsgrad, or a plug-in's.")
    momentum: float = Field(
        default=0.9, ge=0.0, lt=1.0,
        description="Momentum of momentum and nesterov (PyTorch's, dampening 0).")
    alpha: float = Field(default=0.99, ge=0.0, lt=1.0,
                         description="RMSprop's smoothing constant of the squared gradients.")
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0,
                         description="Adam's decay rate of the first moment.")
    beta2: float = Field(default=0.999, ge=0.0, lt=1.0,
                         description="Adam's decay rate of the second moment.")
    eps: float = Field(default=1e-8, gt=0, description="Added to the denominator of RMSprop "
                       "and Adam, outside the square root.")
    weight_decay: float = Field(
        default=0.0, ge=0.0, description="L2 penalty, added to the gradient (coupled) for "
        "every rule but adamw, which decays the weights directly (decoupled).")
    grad_clip: float | None = Field(
        default=None, gt=0, description="Largest global L2 norm of all gradients together; a "
        "larger one is scaled down to it (clip_grad_norm_). None: no clipping.")
    loss: LossSpec = Field(
        default_factory=Loss, description="The loss, an object with a kind (or the kind "
        "alone): mse, mae, bce, cross_entropy, or a registered one.")
    schedule: Schedule = Field(
        default_factory=ConstantSchedule, description="How the learning rate changes with "
        "the epochs, chosen by kind: constant, step, cosine or plateau.")
    early_stopping: Count | None = Field(
        default=None, description="Patience in epochs: stop when the monitored loss (the "
        "validation loss, else the training loss) has not improved for that many epochs, and "
        "restore the best weights. None: no early stopping.")
    min_delta: float = Field(
        default=0.0, ge=0.0, description="How much lower than the best so far a loss must be "
        "to count as an improvement for early stopping.")
    target_loss: float | None = Field(
        default=None, description="Stop once the monitored loss is at or below this. None: "
        "no target.")
    shuffle: bool = Field(default=True,
                          description="Shuffle the training rows before every epoch.")
    seed: int = Field(
        default=0, ge=0, strict=True, description="Seed of the run's one generator "
        "(shuffling, dropout masks, augmentation); a non-negative integer.")
    checkpoint_dir: Path | None = Field(
        default=None, description="The run folder (last.h5, best.h5, history.csv, "
        "curves.png). None: no checkpoints.")
    save_every_epochs: Count | None = Field(
        default=None, description="Write the checkpoints every this many epochs (or by "
        "save_every_seconds, whichever comes first; a run always saves at its end).")
    save_every_seconds: float | None = Field(
        default=30.0, ge=0, description="Write the checkpoints once this many seconds have "
        "passed since the last save, checked after each epoch. None: only by "
        "save_every_epochs; both None: only at the end.")
    dynamic_show: bool = Field(
        default=False, description="Draw the training curves as the run goes (a window, or "
        "a notebook figure updated in place).")
    plot_every: Count = Field(
        default=1, description="Epochs between two drawings of the live curves.")
    progress: bool = Field(
        default=True, description="Show progress: a bar on a terminal or in a notebook, log "
        "lines otherwise.")
    log_every: Count = Field(
        default=1, description="Epochs between two log lines when the output is not a "
        "terminal (the last epoch is always logged).")
    tensorboard: bool = Field(
        default=False, description="Write TensorBoard scalars into the run folder.")
    diagnostics: bool = Field(
        default=False, description="Record per-layer statistics in the History and warn "
        "about dead units, collapsed predictions, vanishing or exploding gradients, bad "
        "learning rates and stalled losses (mlp.training.diagnostics).")

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_from_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    # ---------------------------------------------------------------- reading
    def non_default_fields(self) -> dict[str, tuple[Any, Any]]:
        """The fields whose value differs from the default.

        Returns
        -------
        dict of str to tuple
            Field name -> ``(value, default)``, in field order; a value of another type
            than its default (``1`` for ``1.0``) counts as different.
        """
        changed = {}
        for name, info in type(self).model_fields.items():
            value, default = getattr(self, name), info.get_default(call_default_factory=True)
            if value != default or type(value) is not type(default):
                changed[name] = (value, default)
        return changed

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        """Only what differs from the defaults (``BasicRoutinizer(epochs=30, lr=0.01)``), so
        the repr, ``str`` and messages that embed them stay short; the JSON has every field."""
        for name, (value, _) in self.non_default_fields().items():
            yield name, str(value) if isinstance(value, Path) else value

    def _repr_html_(self) -> str:
        """The fields that differ from the defaults as an HTML table, for notebooks."""
        changed = self.non_default_fields()
        return display.html_table(
            ("field", "value", "default"),
            [(name, _shown(value), _shown(default))
             for name, (value, default) in changed.items()],
            caption=f"{type(self).__name__}: "
                    + (f"{display.plural(len(changed), 'field')} differ from the defaults"
                       if changed else "every field at its default"),
            note="every field: model_dump_json()")


def _shown(value: Any) -> str:
    """A field's value as its JSON reads (a loss or schedule as its fields)."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return "None" if value is None else str(value)

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

#: the name of a registered update rule (``mlp.optim.rules.UPDATE_RULES``)
OptimizerName = Annotated[str, RegisteredName(UPDATE_RULES)]
#: a registered loss, or its kind
LossSpec = Annotated[Loss, RegisteredField(Loss)]
#: a strict positive integer: JSON ``true`` or ``2.0`` is not accepted as a count
Count = Annotated[int, Field(gt=0, strict=True)]


class TrainingConfig(BaseModel):
    """The hyperparameters of a training run.

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
    (``mlp.training.diagnostics``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    epochs: Count = 10
    batch_size: Count | None = 32
    lr: float = Field(default=1e-3, gt=0)
    optimizer: OptimizerName = "adam"
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    alpha: float = Field(default=0.99, ge=0.0, lt=1.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.999, ge=0.0, lt=1.0)
    eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip: float | None = Field(default=None, gt=0)
    loss: LossSpec = Field(default_factory=Loss)
    schedule: Schedule = Field(default_factory=ConstantSchedule)
    early_stopping: Count | None = None
    min_delta: float = Field(default=0.0, ge=0.0)
    target_loss: float | None = None
    shuffle: bool = True
    seed: int = Field(default=0, ge=0, strict=True)
    checkpoint_dir: Path | None = None
    save_every_epochs: Count | None = None
    save_every_seconds: float | None = Field(default=30.0, ge=0)
    dynamic_show: bool = False
    plot_every: Count = 1
    progress: bool = True
    log_every: Count = 1
    tensorboard: bool = False
    diagnostics: bool = False

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_from_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    # ---------------------------------------------------------------- reading
    def non_default_fields(self) -> dict[str, tuple[Any, Any]]:
        """The fields whose value differs from the default: name -> (value, default)."""
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

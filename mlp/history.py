"""``History``: what a run measured, one entry per epoch (as Keras' ``fit`` returns)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class History(BaseModel):
    """Per-epoch columns. ``epoch`` counts from 1 and keeps counting across resumes;
    ``val_*`` are None without validation data and ``*_accuracy`` None for regression;
    ``seconds`` is the wall time of each epoch; ``diagnostics`` holds the per-layer columns
    of ``mlp.diagnostics`` when they were recorded."""

    model_config = ConfigDict(extra="forbid")

    epoch: list[int] = Field(default_factory=list)
    train_loss: list[float] = Field(default_factory=list)
    val_loss: list[float | None] = Field(default_factory=list)
    train_accuracy: list[float | None] = Field(default_factory=list)
    val_accuracy: list[float | None] = Field(default_factory=list)
    lr: list[float] = Field(default_factory=list)
    seconds: list[float] = Field(default_factory=list)
    #: per-layer statistics when training with ``diagnostics=True`` (``mlp.diagnostics``):
    #: ``"layer<k>.<stat>"``, ``"steps"``, ``"predicted_share"``, ``"collapsed_class"`` -> one
    #: value per epoch (NaN for epochs trained without diagnostics)
    diagnostics: dict[str, list[float]] = Field(default_factory=dict)
    #: the diagnostic warnings given so far: condition -> the logged line
    diagnostic_warnings: dict[str, str] = Field(default_factory=dict)

    @field_validator("diagnostics", mode="before")
    @classmethod
    def _null_is_nan(cls, value: Any) -> Any:
        """JSON writes NaN as null; read it back as NaN."""
        if isinstance(value, dict):
            return {name: [math.nan if v is None else v for v in values]
                    if isinstance(values, list) else values for name, values in value.items()}
        return value

    def append(self, **row: float | int | None) -> None:
        """Add one epoch; every column must be given."""
        missing = set(HISTORY_COLUMNS) - set(row)
        if missing:
            raise ValueError(f"History.append needs {sorted(missing)}")
        for name in HISTORY_COLUMNS:
            getattr(self, name).append(row[name])

    def prefix(self, epochs: int) -> History:
        """A copy holding the first ``epochs`` epochs (the warnings given so far stay)."""
        columns = {name: getattr(self, name)[:epochs] for name in HISTORY_COLUMNS}
        return History(**columns,
                       diagnostics={k: v[:epochs] for k, v in self.diagnostics.items()},
                       diagnostic_warnings=dict(self.diagnostic_warnings))

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def best_epoch(self) -> int | None:
        """The epoch of the lowest validation loss (None without validation data)."""
        scored = [(v, e) for v, e in zip(self.val_loss, self.epoch, strict=True) if v is not None]
        return min(scored)[1] if scored else None


HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr",
                   "seconds")

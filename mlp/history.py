"""``History``: what a run measured, one entry per epoch (as Keras' ``fit`` returns)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlp import display

if TYPE_CHECKING:
    import pandas as pd


class History(BaseModel):
    """Per-epoch columns. ``epoch`` counts from 1 and keeps counting across resumes;
    ``val_*`` are None without validation data and ``*_accuracy`` None for regression;
    ``seconds`` is the wall time of each epoch; ``diagnostics`` holds the per-layer columns
    of ``mlp.training.diagnostics`` when they were recorded."""

    model_config = ConfigDict(extra="forbid")

    epoch: list[int] = Field(default_factory=list, description=(
        "The epoch of each row, counting from 1 across resumes."))
    train_loss: list[float] = Field(default_factory=list, description=(
        "The mean training loss of each epoch."))
    val_loss: list[float | None] = Field(default_factory=list, description=(
        "The validation loss after each epoch (None without validation data)."))
    train_accuracy: list[float | None] = Field(default_factory=list, description=(
        "The training accuracy of each epoch (None for regression)."))
    val_accuracy: list[float | None] = Field(default_factory=list, description=(
        "The validation accuracy after each epoch (None without validation data or for "
        "regression)."))
    lr: list[float] = Field(default_factory=list, description=(
        "The learning rate of each epoch."))
    seconds: list[float] = Field(default_factory=list, description=(
        "The wall time of each epoch, in seconds."))
    diagnostics: dict[str, list[float]] = Field(default_factory=dict, description=(
        "Per-layer statistics when training with diagnostics=True "
        "(mlp.training.diagnostics): 'layer<k>.<stat>', 'steps', 'predicted_share', "
        "'collapsed_class' -> one value per epoch (NaN for epochs trained without "
        "diagnostics)."))
    diagnostic_warnings: dict[str, str] = Field(default_factory=dict, description=(
        "The diagnostic warnings given so far: condition -> the logged line."))

    @field_validator("diagnostics", mode="before")
    @classmethod
    def _null_is_nan(cls, value: Any) -> Any:
        """JSON writes NaN as null; read it back as NaN."""
        if isinstance(value, dict):
            return {name: [math.nan if v is None else v for v in values]
                    if isinstance(values, list) else values for name, values in value.items()}
        return value

    def append(self, **row: float | int | None) -> None:
        """Add one epoch; every column must be given.

        Parameters
        ----------
        **row : float or int or None
            One value per column of ``HISTORY_COLUMNS`` (``epoch``, ``train_loss``, ...).

        Raises
        ------
        ValueError
            Naming the columns missing.

        Examples
        --------
        >>> from mlp import History
        >>> history = History()
        >>> history.append(epoch=1, train_loss=0.5, val_loss=None, train_accuracy=None,
        ...                val_accuracy=None, lr=0.1, seconds=0.2)
        >>> len(history), history.train_loss
        (1, [0.5])
        """
        missing = set(HISTORY_COLUMNS) - set(row)
        if missing:
            raise ValueError(f"History.append needs {sorted(missing)}")
        for name in HISTORY_COLUMNS:
            getattr(self, name).append(row[name])

    def prefix(self, epochs: int) -> History:
        """A copy holding the first ``epochs`` epochs (the warnings given so far stay).

        Parameters
        ----------
        epochs : int
            The number of rows kept.

        Returns
        -------
        History
            The copy.
        """
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

    # ---------------------------------------------------------------- reading
    def to_dict(self) -> dict[str, list[Any]]:
        """Every per-epoch column, name -> list (copies): the columns of ``HISTORY_COLUMNS``
        (None where a value does not apply), then the diagnostics' columns."""
        columns: dict[str, list[Any]] = {name: list(getattr(self, name))
                                         for name in HISTORY_COLUMNS}
        columns.update((name, list(values)) for name, values in self.diagnostics.items())
        return columns

    def to_frame(self) -> pd.DataFrame:
        """A pandas ``DataFrame``, one row per epoch indexed by ``epoch``, a column per
        entry of ``to_dict()`` (None as NaN). Needs pandas (``ImportError`` naming it
        otherwise)."""
        try:
            import pandas as pd  # optional: only this method needs it
        except ImportError as exc:
            raise ImportError("History.to_frame needs pandas, which is not installed: "
                              "pip install pandas (History.to_dict() needs nothing)",
                              name="pandas") from exc
        columns = self.to_dict()
        epochs = columns.pop("epoch")
        return pd.DataFrame({name: pd.array([math.nan if v is None else v for v in values],
                                            dtype="float64")
                             for name, values in columns.items()},
                            index=pd.Index(epochs, name="epoch", dtype="int64"))

    def _shown_rows(self) -> tuple[list[str], list[list[Any]], str]:
        """The columns that hold values, the rows of the best and the last epoch, and what
        "best" means."""
        best_epoch, best_by = self.best_epoch(), "val_loss"
        if best_epoch is None:
            best_epoch = min(zip(self.train_loss, self.epoch, strict=True))[1]
            best_by = "train_loss"
        best = self.epoch.index(best_epoch)
        names = [name for name in ("train_loss", "val_loss", "train_accuracy",
                                   "val_accuracy", "lr")
                 if any(v is not None for v in getattr(self, name))]
        indices = {"best": best, "last": len(self) - 1}
        if best == len(self) - 1:
            indices = {"best, last": best}
        rows = [[label, self.epoch[i], *(getattr(self, name)[i] for name in names)]
                for label, i in indices.items()]
        return ["", "epoch", *names], rows, best_by

    def _headline(self, best_by: str) -> str:
        extra = f", {display.plural(len(self.diagnostics), 'diagnostic column')}" \
            if self.diagnostics else ""
        return (f"History({display.plural(len(self), 'epoch')}, {self.total_seconds:.3g} s, "
                f"best by lowest {best_by}{extra})")

    def __repr__(self) -> str:
        """The number of epochs and the numbers of the best and the last one, on at most
        four lines, whatever the length of the run (``to_frame()`` has every epoch)."""
        if not len(self):
            return "History(no epochs)"
        header, rows, best_by = self._shown_rows()
        return self._headline(best_by) + "\n" + display.text_table(header, rows)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """The best and the last epoch as an HTML table, for notebooks."""
        if not len(self):
            return display.html_table((), [], caption="History(no epochs)")
        header, rows, best_by = self._shown_rows()
        return display.html_table(header, rows, caption=self._headline(best_by),
                                  note="every epoch: to_frame(), to_dict()")


HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr",
                   "seconds")

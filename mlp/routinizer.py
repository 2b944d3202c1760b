"""``BasicRoutinizer``: owns every training hyperparameter and runs the training loop.

``run(model, data)`` trains ``model`` on ``data`` (a ``preprocess.Data``) for ``epochs``
epochs of mini-batches, evaluating on the validation split after each epoch, keeping the
best weights, writing checkpoints, and returning a ``History``. The routinizer keeps the
training state (epoch and step counters, the generator, the schedule, the best weights), so
raising ``epochs`` and calling ``run`` again continues the same run; ``resume(path)``
rebuilds both from a checkpoint and continues bit-identically.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    field_validator,
)
from tqdm.auto import tqdm

from mlp import kernels, optim
from mlp.diagnostics import Diagnostics
from mlp.errors import CheckpointError, DataError, TrainingDiverged
from mlp.history import History
from mlp.losses import Loss
from mlp.model import Model
from mlp.parameters import FlatParameters
from mlp.schedules import ConstantSchedule, Schedule, ScheduleState

if TYPE_CHECKING:
    from preprocess import Data

log = logging.getLogger("mlp")


class TrainingState(BaseModel):
    """Where a run stands; saved as JSON in every checkpoint."""

    model_config = ConfigDict(extra="forbid")

    epoch: int = 0
    step: int = 0
    best_loss: float | None = None
    best_epoch: int | None = None
    monitor: Literal["val_loss", "train_loss"] = "val_loss"
    rng_state: dict[str, Any] | None = None
    schedule: ScheduleState = Field(default_factory=ScheduleState)
    data_fingerprint: dict[str, Any] | None = None
    stopped_early: bool = False


class BasicRoutinizer(BaseModel):
    """Every training hyperparameter, validated; ``run`` trains a model with them.

    Optimizers follow PyTorch's definitions (see ``mlp.optim``) and update weights and
    biases alike; ``weight_decay`` is coupled (added to the gradient) for all but
    ``adamw``; ``grad_clip`` rescales all gradients together when their global L2 norm
    exceeds it (``clip_grad_norm_``). ``early_stopping`` is a patience in epochs on the
    validation loss (the training loss when there is no validation split) and restores the
    best weights; ``target_loss`` stops once that loss is at or below it. ``diagnostics``
    records per-layer statistics in the History and warns about dead units, collapsed
    predictions, vanishing gradients, bad learning rates and stalled losses
    (``mlp.diagnostics``).
    """

    model_config = ConfigDict(extra="forbid")

    epochs: PositiveInt = 10
    batch_size: PositiveInt | None = 32
    lr: PositiveFloat = 1e-3
    optimizer: Literal["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"] = "adam"
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    alpha: float = Field(default=0.99, ge=0.0, lt=1.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.999, ge=0.0, lt=1.0)
    eps: PositiveFloat = 1e-8
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip: PositiveFloat | None = None
    loss: Loss = Field(default_factory=Loss)
    schedule: Schedule = Field(default_factory=ConstantSchedule)
    early_stopping: PositiveInt | None = None
    target_loss: float | None = None
    shuffle: bool = True
    seed: int = 0
    checkpoint_dir: Path | None = None
    dynamic_show: bool = False
    plot_every: PositiveInt = 1
    progress: bool = True
    diagnostics: bool = False

    _state: TrainingState = PrivateAttr(default_factory=TrainingState)
    _history: History = PrivateAttr(default_factory=History)
    _rng: np.random.Generator | None = PrivateAttr(default=None)
    _best: list[np.ndarray] | None = PrivateAttr(default=None)
    _model: Model | None = PrivateAttr(default=None)
    _allow_data_change: bool = PrivateAttr(default=False)
    _flat: FlatParameters | None = PrivateAttr(default=None)
    _diagnostics: Diagnostics | None = PrivateAttr(default=None)

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_from_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> TrainingState:
        return self._state

    @property
    def history(self) -> History:
        return self._history

    @property
    def rng(self) -> np.random.Generator:
        """The one generator of the run: shuffling and dropout masks (state checkpointed)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    @property
    def best_arrays(self) -> list[np.ndarray] | None:
        """Copies of the best weights and biases so far (``[w0, b0, w1, b1, ...]``)."""
        return self._best

    def restore(self, model: Model, state: TrainingState, history: History,
                best: list[np.ndarray] | None, allow_data_change: bool = False) -> None:
        """Adopt a saved training state (used by checkpoint loading; see ``resume``)."""
        self._state, self._history, self._best, self._model = state, history, best, model
        self._rng = np.random.default_rng(self.seed)
        if state.rng_state is not None:
            self._rng.bit_generator.state = state.rng_state
        self._allow_data_change = allow_data_change

    @classmethod
    def resume(cls, path: str | Path, allow_data_change: bool = False
               ) -> tuple[BasicRoutinizer, Model]:
        """Rebuild the routinizer and model of a checkpoint (a ``.h5`` file or a run folder,
        whose ``last.h5`` is used). Raise ``epochs`` and call ``run`` to continue."""
        from mlp.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(path)
        routinizer = checkpoint.routinizer
        routinizer.restore(checkpoint.model, checkpoint.state, checkpoint.history,
                           checkpoint.best_arrays, allow_data_change)
        return routinizer, checkpoint.model

    # --------------------------------------------------------------- training
    def run(self, model: Model, data: Data) -> History:
        """Train ``model`` on ``data`` until ``epochs`` epochs are done; return the History."""
        if self._model is not model:
            self._start_fresh(model)
        state = self._state
        train = data.astype(model.dtype)
        self._check_data(model, train)
        if self.checkpoint_dir is not None:
            self._check_fingerprint(data)
        is_classification = self.loss.is_classification
        has_val = train.X_val is not None
        state.monitor = "val_loss" if has_val else "train_loss"
        if state.epoch >= self.epochs:
            log.info("nothing to do: %d of %d epochs are done", state.epoch, self.epochs)
            return self._history

        flat = self._packed(model)
        kernels.warm_up(model.dtype, (self.optimizer,))  # compiled before the clock starts
        hp = optim.Hyperparameters(lr=self.lr, momentum=self.momentum, alpha=self.alpha,
                                   beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                                   weight_decay=self.weight_decay)
        rng, loss = self.rng, self.loss
        batch_size = self.batch_size
        order_rng = rng if self.shuffle else None
        live = self._live_plot()
        diagnostics = self._diagnostics = self._start_diagnostics(model, train)
        bar = tqdm(range(state.epoch, self.epochs), initial=state.epoch, total=self.epochs,
                   disable=not self.progress, unit="epoch", dynamic_ncols=True)
        target_reached = False
        # overflow on the way to a NaN/inf loss is reported as TrainingDiverged, not warned
        quiet = contextlib.ExitStack()
        quiet.enter_context(np.errstate(over="ignore", invalid="ignore"))
        try:
            for epoch in bar:
                lr = self.schedule.lr_for_epoch(epoch, self.lr, self.epochs, state.schedule)
                hp.lr = lr
                started = time.perf_counter()
                total_loss, correct, seen = 0.0, 0, 0
                for X_batch, y_batch in train.batches(batch_size, order_rng):
                    out = model.forward(X_batch, train=True, rng=rng, validate=False)
                    value = loss.forward(out, y_batch)
                    if not math.isfinite(value):
                        raise TrainingDiverged(
                            f"loss became {value} at epoch {epoch + 1}, step {state.step + 1} "
                            f"(lr {lr:g}); lower lr or set grad_clip"
                        )
                    if is_classification:
                        correct += _count_correct(out, y_batch)
                    model.backward(loss.backward(), input_grad=False)
                    state.step += 1
                    if self.grad_clip is not None:
                        flat.clip(self.grad_clip)
                    flat.update(self.optimizer, state.step, hp)
                    if diagnostics is not None:
                        diagnostics.after_update()
                    n = X_batch.shape[0]
                    total_loss += value * n
                    seen += n
                row = self._end_epoch(model, train, epoch, lr, total_loss / seen,
                                      correct / seen if is_classification else None,
                                      time.perf_counter() - started, has_val)
                bar.set_postfix(_postfix(row), refresh=False)
                if live is not None:
                    live.update(self._history)
                if self._should_stop_early():
                    log.info("early stopping after epoch %d: no improvement for %d epochs",
                             epoch + 1, self.early_stopping)
                    state.stopped_early = True
                    break
                monitored = row["val_loss"] if has_val else row["train_loss"]
                if self.target_loss is not None and monitored <= self.target_loss:
                    log.info("target loss %g reached at epoch %d (%s %.6g)", self.target_loss,
                             epoch + 1, state.monitor, monitored)
                    target_reached = True
                    break
        finally:
            quiet.close()
            bar.close()
            if live is not None:
                live.close(self._history)
            self._final_curves()
        if self.target_loss is not None and not target_reached:
            log.info("target loss %g was never reached (best %s %.6g)", self.target_loss,
                     state.monitor, state.best_loss)
        if state.stopped_early and self._best is not None:
            self._load_best(model)
        return self._history

    def evaluate(self, model: Model, X: np.ndarray, y: np.ndarray) -> dict[str, float | int]:
        """``{"loss", "accuracy" (classification only), "n"}`` of ``model`` on ``(X, y)``."""
        outputs = model.predict_logits(X)
        y = np.asarray(y)
        if y.dtype.kind == "f":
            y = y.astype(outputs.dtype, copy=False)
        if outputs.shape[0] != y.shape[0]:
            raise DataError(f"evaluate needs as many targets as inputs: {outputs.shape[0]} "
                            f"inputs, found {y.shape[0]} targets")
        result: dict[str, float | int] = {"loss": self.loss.forward(outputs, y)}
        if self.loss.is_classification:
            result["accuracy"] = _count_correct(outputs, y) / max(len(y), 1)
        result["n"] = int(y.shape[0])
        return result

    # ---------------------------------------------------------------- helpers
    def _start_fresh(self, model: Model) -> None:
        self._state, self._history, self._best = TrainingState(), History(), None
        self._rng = np.random.default_rng(self.seed)
        self._model = model

    def _packed(self, model: Model) -> FlatParameters:
        """The model's parameters packed into flat buffers (packed once, kept across runs)."""
        layers = model.layers
        if self._flat is None or not self._flat.is_packing(layers):
            self._flat = FlatParameters(layers)
        return self._flat

    def _check_data(self, model: Model, data: Data) -> None:
        if data.n_features != model.in_features:
            raise DataError(f"the model takes {model.in_features} features, "
                            f"the data has {data.n_features}")
        if self.loss.kind == "cross_entropy":
            if data.task != "classification":
                raise DataError(f"cross_entropy needs classification data, found {data.task}")
            if data.n_classes > model.out_features:
                raise DataError(f"the data has {data.n_classes} classes, the model's last "
                                f"layer has {model.out_features} outputs")
        elif self.loss.kind in ("mse", "mae") and data.task != "regression":
            raise DataError(f"{self.loss.kind} needs regression data (2-D float targets), "
                            f"found {data.task}")

    def _check_fingerprint(self, data: Data) -> None:
        fingerprint = data.fingerprint()
        saved = self._state.data_fingerprint
        if saved is not None and saved != fingerprint and not self._allow_data_change:
            raise CheckpointError(
                "the training data differ from the data this run was trained on "
                f"(checkpoint: shape {saved.get('shape')}, sha256 {saved.get('sha256', '')[:12]}; "
                f"now: shape {fingerprint['shape']}, sha256 {fingerprint['sha256'][:12]}); "
                "pass allow_data_change=True (--allow-data-change) to continue anyway"
            )
        self._state.data_fingerprint = fingerprint

    def _end_epoch(self, model: Model, data: Data, epoch: int, lr: float, train_loss: float,
                   train_accuracy: float | None, seconds: float, has_val: bool
                   ) -> dict[str, Any]:
        state = self._state
        val_loss = val_accuracy = None
        if has_val:
            scores = self.evaluate(model, data.X_val, data.y_val)
            val_loss, val_accuracy = scores["loss"], scores.get("accuracy")
            if not math.isfinite(val_loss):
                raise TrainingDiverged(f"validation loss became {val_loss} at epoch {epoch + 1}")
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
               "train_accuracy": train_accuracy, "val_accuracy": val_accuracy, "lr": lr,
               "seconds": seconds}
        self._history.append(**row)
        if self._diagnostics is not None:
            self._diagnostics.end_epoch(model, data, row)
        self.schedule.end_epoch(state.schedule, val_loss)
        state.epoch = epoch + 1
        state.rng_state = self.rng.bit_generator.state
        monitored = val_loss if has_val else train_loss
        improved = state.best_loss is None or monitored < state.best_loss
        if improved:
            state.best_loss, state.best_epoch = monitored, epoch + 1
            self._keep_best(model)
        self._write_checkpoints(model, data, improved)
        return row

    def _start_diagnostics(self, model: Model, data: Data) -> Diagnostics | None:
        """The recorder of ``mlp.diagnostics`` for this run, when ``diagnostics`` is on."""
        if not self.diagnostics:
            return None
        recorder = Diagnostics(self._history, classification=self.loss.is_classification,
                               lr=self.lr, optimizer=self.optimizer)
        recorder.start(model, data)
        return recorder

    def _keep_best(self, model: Model) -> None:
        arrays = [a for layer in model.layers for a in (layer.weight, layer.bias)]
        if self._best is None:
            self._best = [a.copy() for a in arrays]
        else:
            for kept, current in zip(self._best, arrays, strict=True):
                np.copyto(kept, current)

    def _load_best(self, model: Model) -> None:
        arrays = [a for layer in model.layers for a in (layer.weight, layer.bias)]
        for current, kept in zip(arrays, self._best, strict=True):
            np.copyto(current, kept)
        log.info("restored the best weights (epoch %s, %s %.6g)", self._state.best_epoch,
                 self._state.monitor, self._state.best_loss)

    def _should_stop_early(self) -> bool:
        state = self._state
        if self.early_stopping is None or state.best_epoch is None:
            return False
        return state.epoch - state.best_epoch >= self.early_stopping

    def _write_checkpoints(self, model: Model, data: Data, improved: bool) -> None:
        """Write ``last.h5`` (and ``best.h5`` on improvement) under ``checkpoint_dir``."""
        if self.checkpoint_dir is None:
            return
        from mlp.checkpoint import save_checkpoint

        folder = Path(self.checkpoint_dir)
        save_checkpoint(folder / "last.h5", model, self, data)
        if improved:
            save_checkpoint(folder / "best.h5", model, self, data)

    def _curves_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / "curves.png"

    def _live_plot(self) -> Any:
        """A live figure when ``dynamic_show`` (a PNG under a non-interactive backend)."""
        if not self.dynamic_show:
            return None
        from mlp.plotting import LivePlot

        return LivePlot(self._curves_path(), every=self.plot_every)

    def _final_curves(self) -> None:
        """Without a live figure, a run folder still gets its ``curves.png`` at the end."""
        path = self._curves_path()
        if path is not None and not self.dynamic_show and len(self._history):
            from mlp.plotting import save_curves

            save_curves(self._history, path)


def _count_correct(outputs: np.ndarray, y: np.ndarray) -> int:
    """How many rows' argmax (``output > 0`` for one output) equals the label."""
    if y.ndim == 2 and outputs.shape[1] > 1:
        y = y.argmax(axis=1)
    if outputs.shape[1] == 1:
        return int(np.count_nonzero((outputs[:, 0] > 0) == (y.reshape(-1) > 0.5)))
    return int(np.count_nonzero(outputs.argmax(axis=1) == y))


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    shown = {"loss": f"{row['train_loss']:.4g}"}
    if row["val_loss"] is not None:
        shown["val_loss"] = f"{row['val_loss']:.4g}"
    if row["val_accuracy"] is not None:
        shown["val_acc"] = f"{row['val_accuracy']:.4f}"
    shown["lr"] = f"{row['lr']:.3g}"
    return shown

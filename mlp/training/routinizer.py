"""``BasicRoutinizer``: a ``TrainingConfig`` that trains.

``run(model, data)`` trains ``model`` on ``data`` (a ``preprocess.Data``) for ``epochs``
epochs of mini-batches, evaluating on the validation split after each epoch, keeping the
best weights, writing checkpoints into its run folder, and returning the ``History``. What
changes as a run goes lives in one ``RunState`` (``state``); the parameters and optimizer
moments live in the ``Optimizer``'s flat buffers. Raising ``epochs`` and calling ``run``
again continues the same run; ``resume(path)`` rebuilds both from a checkpoint and continues
bit-identically.

While a run folder is being written, its lock is held; saves follow the cadence
(``save_every_epochs`` / ``save_every_seconds``) and always happen at the end, on early stop
or target loss, on divergence and on SIGINT/SIGTERM, which end the run after the save with
``TrainingInterrupted``.

The save cadence: ``save_every_seconds`` (default 30) and ``save_every_epochs`` (default none)
set how often ``last.h5`` and ``best.h5`` are written, whichever comes first (both ``None``: only
at the end). In between, the last and the best epoch are kept in memory: the snapshot is a copy
of the flat parameters and optimizer buffers into arrays kept for the run, a few microseconds an
epoch. A resume continues bit-identically from whatever ``last.h5`` holds, even an epoch older
than the one the process had reached when it was killed. A save that fails (a full disk
included) raises ``CheckpointError`` naming the file and the reason, removes its temporary file
and leaves the previous checkpoint as it was; the run in memory still describes its own
weights, so calling ``run`` again once there is room continues it. Weights are checked finite
before every save; a diverged run saves its last good epoch and raises ``TrainingDiverged``.
The run folder's ``curves.png`` (matplotlib, ``mlp.plotting.curves``) follows the same cadence:
drawn after the saves of the cadence (those drawings at most 5% of the wall time) and at the
end of every ``run`` call, however it ends, never once per epoch.

Resuming is exact on two conditions. The learning rates must not depend on ``epochs``:
``constant``, ``step`` and ``plateau`` schedules, or ``cosine`` with ``t_max``. A ``cosine``
schedule without ``t_max`` spans ``epochs``, so raising ``epochs`` stretches the rates still to
come and the run differs from one long run (``mlp resume`` prints a line saying so). And the
first segment must have run its epochs out, or been interrupted: a run that stopped early, or at
``target_loss``, continues from its last epoch's weights (not the restored best ones) and stops
after the next epoch unless the monitored loss improves. ``resume`` reads and writes the folder
it is given, from any working directory; the ``checkpoint_dir`` stored in a checkpoint is
information, never where anything is written.

Callbacks only observe: they are not part of the checkpointed state, so a resumed run is
bit-identical with or without them. An exception inside a callback stops training with the last
completed epoch saved, as ``CallbackError`` naming the callback and its hook.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import PrivateAttr

from mlp.callbacks import Callback, CallbackError, CsvLogger, StopTraining, TensorBoardLogger
from mlp.errors import CheckpointError, DataError, TrainingDiverged
from mlp.history import History
from mlp.nn.fused import Kernels
from mlp.nn.model import Model
from mlp.optim.optimizer import Optimizer
from mlp.optim.schedules import ScheduleState
from mlp.signals import DeferredSignals, TrainingInterrupted
from mlp.storage import atomic
from mlp.storage.memory import check_bytes
from mlp.storage.run_folder import RunFolder
from mlp.training.checkpoint import DataFacts, check_saveable, load_checkpoint, save_checkpoint
from mlp.training.diagnostics import Diagnostics
from mlp.training.hyperparameters import TrainingConfig
from mlp.training.progress import Progress
from mlp.training.run_state import RunState
from preprocess import Data

log = logging.getLogger("mlp")

#: the former name of ``RunState`` (its JSON is unchanged)
TrainingState = RunState

__all__ = ["BasicRoutinizer", "TrainingInterrupted", "TrainingState"]


class _Arrays:
    """A copy of a packed model's ``state_dict()`` (and, ``with_state``, of its optimizer's
    state buffers), kept from epoch to epoch: the flat parameters in one array, so that a
    copy is a few ``copyto``. ``arrays`` is the copy in ``state_dict()`` order (views of the
    kept arrays, the same dict every time); ``state`` the optimizer's flat buffers."""

    def __init__(self, optimizer: Optimizer, model: Model, with_state: bool = False) -> None:
        self.optimizer = optimizer
        self.param = np.empty_like(optimizer.param)
        self.state = ({name: np.empty_like(flat) for name, flat in optimizer.state.items()}
                      if with_state else {})
        self.with_state = with_state
        #: (source, copy) of the flat arrays, which an optimizer never replaces
        self.flats = [(optimizer.param, self.param),
                      *((optimizer.state[name], copy) for name, copy in self.state.items())]
        #: (state_dict key, module, name) of every buffer, fixed for the model's spec
        self.sources = [(f"{index}/{name}", module, name)
                        for index, module in enumerate(model.modules)
                        for name in module.buffer_shapes()]
        self.buffers = {key: getattr(module, name).copy() for key, module, name in self.sources}
        params = optimizer.views(self.param)
        self.arrays = {key: params[key] if key in params else self.buffers[key]
                       for key in model.state_shapes()}

    def fits(self, optimizer: Optimizer) -> bool:
        """Whether this copy is of ``optimizer`` as it is (the same state buffers)."""
        return optimizer is self.optimizer and (
            not self.with_state or optimizer.state.keys() == self.state.keys())

    def take(self) -> dict[str, np.ndarray]:
        """Copy the arrays as they are now; returns ``arrays``."""
        for source, copy in self.flats:
            np.copyto(copy, source)
        for key, module, name in self.sources:
            np.copyto(self.buffers[key], getattr(module, name))
        return self.arrays


class _Snapshot:
    """The parameters, buffers, optimizer state and state JSON of one completed epoch, so that
    a checkpoint of that epoch can be written later (by the cadence, or on an interrupt).
    Taken every epoch, so it is a few copies into arrays kept from epoch to epoch."""

    def __init__(self) -> None:
        self.copy: _Arrays | None = None
        self.kept: tuple[dict[str, Any], dict[str, Any]] = {}, {}
        self.epoch = 0

    def take(self, optimizer: Optimizer, model: Model, state: RunState) -> None:
        if self.copy is None or not self.copy.fits(optimizer):
            self.copy = _Arrays(optimizer, model, with_state=True)
        self.copy.take()
        # the fields as they are (``model_copy`` costs more than the copies above): the
        # counters are immutable, the generator state is a new dict each epoch, and the
        # schedule's fields are copied
        self.kept = dict(state.__dict__), dict(state.schedule.__dict__)
        self.epoch = state.epoch

    def arrays(self) -> dict[str, np.ndarray]:
        """The model's ``state_dict()`` as it was at this epoch (views of the copies)."""
        return cast(_Arrays, self.copy).arrays  # a snapshot is saved after it was taken

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        """The optimizer's state buffers as they were at this epoch, by parameter name."""
        copy = cast(_Arrays, self.copy)
        return {name: copy.optimizer.views(flat) for name, flat in copy.state.items()}

    def state(self, current: RunState) -> RunState:
        """The run state as it was at this epoch (its history is a prefix of the current)."""
        fields, schedule = self.kept
        state = RunState.model_construct(**{
            **fields, "schedule": ScheduleState.model_construct(**schedule),
            "history": current.history.prefix(self.epoch)})
        state.best = current.best
        return state


class BasicRoutinizer(TrainingConfig):
    """Every training hyperparameter (the fields of ``TrainingConfig``), and ``run``.

    ``run(model, data)`` trains for ``epochs`` epochs of mini-batches, evaluates on the
    validation split after each, keeps the best weights, writes checkpoints into
    ``checkpoint_dir`` and returns the ``History``. What changes as a run goes is one
    ``RunState`` (``state``); raising ``epochs`` and calling ``run`` again continues the
    same run, and ``resume(path)`` rebuilds a run from its checkpoint and continues it
    bit-identically. Its JSON (``model_dump_json()``) is the ``TrainingConfig``'s.

    Examples
    --------
    >>> from mlp import BasicRoutinizer, Model
    >>> from preprocess import Data
    >>> data = Data.sin(n_train=64, n_val=32, seed=0)
    >>> model = Model.mlp([1, 16, 1], nonlinearity="tanh", seed=0)
    >>> routinizer = BasicRoutinizer(epochs=5, lr=0.01, loss="mse", progress=False)
    >>> history = routinizer.run(model, data)
    >>> len(history), routinizer.state.epoch
    (5, 5)
    >>> routinizer.epochs = 8  # continue the same run
    >>> len(routinizer.run(model, data))
    8
    """

    _state: RunState = PrivateAttr(default_factory=RunState)
    _model: Model | None = PrivateAttr(default=None)
    _optimizer: Optimizer | None = PrivateAttr(default=None)
    _kernels: Kernels | None = PrivateAttr(default=None)
    _allow_data_change: bool = PrivateAttr(default=False)
    _pending_optimizer_state: dict[str, dict[str, np.ndarray]] | None = PrivateAttr(default=None)
    _diagnostics: Diagnostics | None = PrivateAttr(default=None)
    _best_copy: _Arrays | None = PrivateAttr(default=None)
    #: (resolved run folder, run id) of the folder known to hold this run (or to be free
    #: for it): ``run`` reads the folder's checkpoint only when this changes
    _claimed: tuple[Path, str | None] | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> RunState:
        """The run's state: counters, generator, schedule state, history, best weights."""
        return self._state

    @property
    def history(self) -> History:
        """The run's History: one row per epoch (losses, accuracies, lr, seconds)."""
        return self._state.history

    @property
    def rng(self) -> np.random.Generator:
        """The one generator of the run: shuffling and dropout masks (state checkpointed)."""
        return self._state.generator(self.seed)

    @property
    def best_arrays(self) -> list[np.ndarray] | None:
        """The best epoch's arrays so far in ``state_dict()`` order (``[w0, b0, w1, b1,
        ...]`` for an MLP), or None."""
        if self._state.best is None:
            return None
        return list(self._state.best.values())

    @property
    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]] | None:
        """The update rule's state buffers (``Optimizer.state_dict()``) of the model being
        trained, or those waiting to be loaded after a ``restore``; None before training."""
        if self._optimizer is not None:
            return self._optimizer.state_dict()
        return self._pending_optimizer_state

    @property
    def kernels(self) -> Kernels:
        """The compiled kernels this trainer uses (``MLP_KERNELS``/``MLP_KERNEL_THREADS``
        by default; ``use_kernels`` chooses others)."""
        if self._kernels is None:
            self._kernels = Kernels()
        return self._kernels

    def use_kernels(self, kernels: Kernels) -> None:
        """Train with ``kernels`` from now on (results are bit-identical either way).

        Parameters
        ----------
        kernels : Kernels
            The compiled (or NumPy) kernels to use (``mlp.nn.fused.Kernels``).
        """
        self._kernels = kernels
        if self._optimizer is not None:
            self._optimizer.kernels = kernels

    def restore(self, model: Model, state: RunState, history: History | None = None,
                best: list[np.ndarray] | dict[str, np.ndarray] | None = None,
                allow_data_change: bool = False,
                optimizer_state: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        """Adopt a saved run state for ``model``, to continue it; see ``resume``.

        Parameters
        ----------
        model : Model
            The model the state belongs to (its weights as saved).
        state : RunState
            Counters, generator state, schedule state, best loss.
        history : History, optional
            Replaces the state's own history when given.
        best : list of ndarray or dict of str to ndarray, optional
            The best weights, a ``state_dict()`` or its arrays in order; replaces the
            state's own when given.
        allow_data_change : bool, default False
            Let ``run`` continue on data whose fingerprint differs from the run's.
        optimizer_state : dict, optional
            The update rule's state buffers to continue from (``Optimizer.state_dict()``).
        """
        if history is not None:
            state.history = history
        if isinstance(best, list):
            best = dict(zip(model.state_shapes(), best, strict=True))
        if best is not None:
            state.best = best
        state._rng = None  # the generator continues from state.rng_state
        self._state, self._model, self._optimizer = state, model, None
        self._pending_optimizer_state = optimizer_state
        if optimizer_state:
            model.bind_optimizer_state(optimizer_state)  # until an Optimizer takes them over
        self._allow_data_change = allow_data_change

    @classmethod
    def resume(cls, path: str | Path, allow_data_change: bool = False
               ) -> tuple[BasicRoutinizer, Model]:
        """Rebuild the routinizer and model of a checkpoint, to continue the run.

        The hyperparameters, model weights and optimizer moments, counters, history,
        best-so-far and generator state are restored. The run folder is the one given (or
        holding the file), whatever the checkpoint says. Raise ``epochs`` and call ``run``
        to continue; the result is bit-identical to a run that was never interrupted.

        Parameters
        ----------
        path : str or Path
            A checkpoint file (``.h5``), or a run folder whose ``last.h5`` is used.
        allow_data_change : bool, default False
            Let ``run`` continue on data that differs from the data the run was trained on
            (otherwise refused with ``DataError``).

        Returns
        -------
        routinizer : BasicRoutinizer
            The run's routinizer, its ``checkpoint_dir`` the run folder.
        model : Model
            The model with the checkpoint's weights.

        Raises
        ------
        CheckpointError
            The file is missing, not a checkpoint, or damaged.

        Examples
        --------
        >>> routinizer, model = BasicRoutinizer.resume("ckpt/digits")  # doctest: +SKIP
        >>> routinizer.epochs += 10  # doctest: +SKIP
        >>> history = routinizer.run(model, data)  # doctest: +SKIP
        """
        checkpoint = load_checkpoint(path)
        routinizer = cls.model_validate_json(checkpoint.config.model_dump_json())
        folder = RunFolder.of(checkpoint.path)
        routinizer.checkpoint_dir = folder.path
        routinizer.restore(checkpoint.model, checkpoint.state, allow_data_change=allow_data_change,
                           optimizer_state=checkpoint.optimizer_state)
        routinizer._claimed = folder.path.resolve(), checkpoint.state.run_id
        return routinizer, checkpoint.model

    # --------------------------------------------------------------- training
    def run(self, model: Model, data: Data | tuple[Any, Any], callbacks: Sequence[Callback] = (),
            *, validation: tuple[Any, Any] | None = None, curves: bool = True,
            overwrite: bool = False) -> History:
        """Train ``model`` on ``data`` until ``epochs`` epochs are done; return the History.

        After each epoch the validation split (if any) is evaluated and the epoch's row
        recorded; the best weights (lowest validation loss, or training loss without
        validation data) are kept, and the run folder's checkpoints are written by the
        cadence and always at the end, on early stop, on divergence and on SIGINT/SIGTERM.
        Called again (with ``epochs`` raised) on the same model, it continues the run.

        Parameters
        ----------
        model : Model
            The network to train, in place.
        data : Data or tuple of array_like
            A ``preprocess.Data``, or arrays ``(X, y)`` as Keras' ``fit`` takes them,
            wrapped into a ``Data`` (its task detected from ``y``: regression for 2-D float
            targets, classification otherwise).
        callbacks : sequence of Callback, default ()
            Observers of the run (``mlp.callbacks``); they are not part of its state.
        validation : tuple of array_like, optional
            ``(X_val, y_val)`` when ``data`` is given as arrays.
        curves : bool, default True
            Draw the run folder's ``curves.png`` at the end of this call (also when it stops
            early, diverges or is interrupted) and after each save by the cadence, never per
            epoch; False draws none (for callers that continue the run epoch by epoch and
            draw it once themselves, or not at all).
        overwrite : bool, default False
            Remove the files of another run found in ``checkpoint_dir`` first. The run's own
            folder is continued without it: this routinizer and model again, or what
            ``resume`` returned (the run id kept in the checkpoints tells the run apart).

        Returns
        -------
        History
            Every epoch of the run so far.

        Raises
        ------
        RunFolderTaken
            ``checkpoint_dir`` holds another run and ``overwrite`` is False.
        DataError
            The data does not fit the model, or differs from the data the run was trained
            on.
        TrainingDiverged
            The loss became NaN or infinite (the last good epoch is saved).
        TrainingInterrupted
            SIGINT or SIGTERM arrived; the run was saved first.
        CallbackError
            A callback raised; the error names it and its hook.
        """
        data = _as_data(data, validation)
        if self._model is not model:
            self._start_fresh(model)
        state = self._state
        train = data.astype(model.dtype)
        self._check_data(model, train)
        folder = None if self.checkpoint_dir is None else RunFolder(self.checkpoint_dir)
        if folder is not None:
            self._check_fingerprint(data)
        state.monitor = "val_loss" if train.X_val is not None else "train_loss"
        check_bytes(self._training_bytes(model, train), "training this model on these batches")
        if state.epoch >= self.epochs:
            log.info("nothing to do: %d of %d epochs are done", state.epoch, self.epochs)
            return state.history
        if folder is None:
            if self.tensorboard:
                log.warning("train.tensorboard needs a run folder (checkpoint_dir); no events "
                            "are written")
            return self._train(model, train, None, list(callbacks), curves)
        if state.epoch == 0:  # before the first epoch, not at the first save (later
            check_saveable(model, self, train, state)  # segments have saved these already)
        with folder.locked():
            self._claim(folder, overwrite)
            atomic.remove_stale_temps(folder.path)
            loggers: list[CsvLogger | TensorBoardLogger] = [CsvLogger(folder.history_csv)]
            if self.tensorboard:
                loggers.append(TensorBoardLogger(folder.tensorboard))
            try:
                return self._train(model, train, folder, [*loggers, *callbacks], curves)
            finally:
                for logger in loggers:
                    logger.close()

    def _train(self, model: Model, train: Data, folder: RunFolder | None,
               callbacks: list[Callback], curves: bool = True) -> History:
        """The epoch loop: train, record, save by the cadence, show, stop when a rule says."""
        state = self._state
        signals, outcome = DeferredSignals(), "done"
        # a Ctrl-C while the kernels load (seconds, the first time) is noted like one during
        # training, and acted on at the first batch: raised there, a KeyboardInterrupt inside
        # an extension's import could make Python end by SIGINT whatever exit status followed
        with signals:
            optimizer = self._packed(model)
            optimizer.kernels.fit_to(model.n_parameters)  # a small network: NumPy, no numba
            optimizer.kernels.warm_up(model.dtype, (optimizer.rule,), self)  # before the clock
            self._diagnostics = self._start_diagnostics(model, train)
            writer = _Writer(self, model, train, folder, optimizer)
        progress = Progress(state.epoch, self.epochs, enabled=self.progress,
                            log_every=self.log_every, live_plot=self._live_plot(folder))
        state.stopped_early = False  # a new segment: only its own early stop counts
        # overflow on the way to a NaN/inf loss is reported as TrainingDiverged
        failure: TrainingDiverged | CallbackError | None = None
        with signals, np.errstate(over="ignore", invalid="ignore"), progress:
            _call(callbacks, "on_train_begin", self, model)
            try:
                for epoch in range(state.epoch, self.epochs):
                    lr = self.schedule.lr_for_epoch(epoch, self.lr, self.epochs, state.schedule)
                    started = time.perf_counter()
                    scores = self._epoch(model, train, optimizer, epoch, lr, signals)
                    if scores is None:
                        outcome = "interrupted"
                        break
                    row, improved = self._end_epoch(model, train, optimizer, epoch, lr, *scores,
                                                    time.perf_counter() - started)
                    saved = writer.end_epoch(improved)
                    progress.epoch(row, state.history)
                    if saved and curves and epoch + 1 < self.epochs:  # the cadence's picture
                        writer.curves(progress, final=False)  # (the last epoch's: at the end)
                    if self._should_stop(callbacks, row):
                        writer.restate()  # the last snapshot learns why the run stopped
                        outcome = "stopped"
                        break
            except (TrainingDiverged, CallbackError) as exc:
                writer.finish(reason=type(exc).__name__)  # the last good epoch stays on disk
                failure = exc
            else:
                writer.finish()
                if signals.received:  # noted during the last epoch or its save: still acted on
                    outcome = "interrupted"
                _call(callbacks, "on_train_end", self, model)
        if curves:  # at the end, however the run ended (early stop, divergence, a signal)
            writer.curves(progress)
        if failure is not None:
            raise failure
        if outcome == "interrupted":
            raise TrainingInterrupted(signals.received, state.epoch, self.epochs,
                                      None if folder is None else folder.path,
                                      None if folder is None else folder.resume_command())
        if self.target_loss is not None and outcome != "stopped":
            log.info("target loss %g was never reached (best %s %.6g)", self.target_loss,
                     state.monitor, state.best_loss)
        if state.stopped_early and state.best is not None:
            model.load_state_dict(state.best)
            log.info("restored the best weights (epoch %s, %s %.6g)", state.best_epoch,
                     state.monitor, state.best_loss)
        return state.history

    def _epoch(self, model: Model, train: Data, optimizer: Optimizer, epoch: int, lr: float,
               signals: DeferredSignals) -> tuple[float, float | None] | None:
        """One epoch of mini-batches: ``(train loss, train accuracy)`` (the loss weighted by
        the sample weights, the accuracy None for regression), or None when a signal came."""
        state, loss, kernels = self._state, self.loss, optimizer.kernels
        diagnostics = self._diagnostics
        rng = state.generator(self.seed)
        is_classification = loss.is_classification
        total_loss, correct, seen = 0.0, 0, 0
        mass: float = 0  # the sum of the sample weights (the row count without weights)
        step = state.step  # counted here and stored on every way out (a Pydantic field)
        try:
            for X_batch, y_batch, w_batch in train.weighted_batches(
                    self.batch_size, rng if self.shuffle else None):
                if signals.received:
                    return None
                out = model.forward(X_batch, train=True, rng=rng, validate=False,
                                    kernels=kernels)
                value = loss.forward(out, y_batch, w_batch, validate=False,  # _check_data did
                                     kernels=kernels)
                if not math.isfinite(value):
                    raise TrainingDiverged(f"loss became {value} at epoch {epoch + 1}, step "
                                           f"{step + 1} (lr {lr:g}); lower lr or set grad_clip")
                if is_classification:
                    correct += loss.correct(out, y_batch)
                model.backward(loss.backward(), input_grad=False, kernels=kernels)
                step += 1
                optimizer.step(step, lr)
                if diagnostics is not None:
                    diagnostics.after_update()
                n = X_batch.shape[0]
                weight = n if w_batch is None else float(w_batch.sum())
                total_loss += value * weight
                seen += n
                mass += weight
        finally:
            state.step = step
        if signals.received:
            return None
        return total_loss / mass, correct / seen if is_classification else None

    def _should_stop(self, callbacks: Sequence[Callback], row: dict[str, Any]) -> bool:
        """Whether a callback, early stopping or the target loss ends the run after ``row``."""
        state, epoch = self._state, row["epoch"]
        if _call(callbacks, "on_epoch_end", self, row):
            log.info("stopped by a callback after epoch %d", epoch)
            return True
        if state.should_stop_early(self.early_stopping):
            log.info("early stopping after epoch %d: no improvement for %d epochs", epoch,
                     self.early_stopping)
            state.stopped_early = True
            return True
        if state.reached(self.target_loss):
            log.info("target loss %g reached at epoch %d (%s %.6g)", self.target_loss, epoch,
                     state.monitor, row[state.monitor])
            return True
        return False

    def evaluate(self, model: Model, X: np.ndarray, y: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> dict[str, float | int]:
        """The loss (and accuracy) of ``model`` on ``(X, y)``, with this routinizer's loss.

        Parameters
        ----------
        model : Model
            The network to evaluate (in inference mode: no dropout, running statistics).
        X : ndarray
            Inputs ``(N, features)``, already normalised as the model was trained.
        y : ndarray
            Targets: class indices ``(N,)`` (or probabilities ``(N, C)``) for
            classification, ``(N, outputs)`` for regression.
        sample_weight : ndarray, optional
            Weights ``(N,)`` of the samples in the loss.

        Returns
        -------
        dict
            ``{"loss", "accuracy" (classification only), "n"}``.
        """
        return self.loss.evaluate(model.predict_logits(X), y, sample_weight)

    # ---------------------------------------------------------------- helpers
    def _start_fresh(self, model: Model) -> None:
        self._state, self._model, self._optimizer = RunState.start(), model, None
        self._pending_optimizer_state = None

    def _claim(self, folder: RunFolder, overwrite: bool) -> None:
        """Refuse (or, ``overwrite``, clear) a run folder holding another run than this one:
        its last checkpoint (best when there is no last) names another run id, or cannot
        be read. A folder with no checkpoint yet (the ``config.json`` of ``mlp train``)
        holds nothing to lose."""
        key = folder.path.resolve(), self._state.run_id
        if self._claimed == key:
            return

        def ours() -> bool:
            saved = next((p for p in (folder.last, folder.best) if p.is_file()), None)
            if saved is None:
                return True
            try:
                return load_checkpoint(saved).state.run_id == self._state.run_id
            except CheckpointError:
                return False

        folder.claim(overwrite, ours)
        self._claimed = key

    def _training_bytes(self, model: Model, train: Data) -> int:
        """About what training allocates beside the model's own arrays: the packed
        parameters, gradients and scratch, the update rule's state (two buffers at most) and
        the best and last snapshots (7 copies of the parameters), and a pass's activations
        and their gradients (about 4 arrays of ``(rows, width)`` per module, for a batch or
        a block of evaluation rows, ``Model.predict``'s 8192 at most)."""
        batch = len(train) if self.batch_size is None else min(self.batch_size, len(train))
        rows = max(batch, min(len(train), 8192))
        widths = sum(width or 0 for width in model.widths())
        return np.dtype(model.dtype).itemsize * (7 * model.n_parameters + 4 * rows * widths)

    def _packed(self, model: Model) -> Optimizer:
        """The model's parameters packed into flat buffers (packed once, kept across runs;
        packed again, with the update rule's state carried over, when an array was
        replaced)."""
        previous = self._optimizer
        if previous is not None and previous.is_packing(model):
            return previous
        optimizer = Optimizer(model, self, self.kernels)
        carried = (previous.state_dict() if previous is not None
                   else self._pending_optimizer_state)
        if carried:
            try:
                optimizer.load_state_dict(carried)
            except ValueError as exc:
                raise CheckpointError(f"the optimizer state does not fit the model: {exc}") \
                    from exc
        self._optimizer, self._pending_optimizer_state = optimizer, None
        return optimizer

    def _check_data(self, model: Model, data: Data) -> None:
        if data.n_features != model.in_features:
            raise DataError(f"the model takes {model.in_features} features, "
                            f"the data has {data.n_features}")
        self.loss.check_data(data, model.out_features)

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

    def _end_epoch(self, model: Model, data: Data, optimizer: Optimizer, epoch: int,
                   lr: float, train_loss: float, train_accuracy: float | None,
                   seconds: float) -> tuple[dict[str, Any], bool]:
        """Validate, record the epoch's History row and keep the best weights; returns the
        row and whether the monitored loss improved."""
        state = self._state
        val_loss = val_accuracy = None
        if data.X_val is not None:
            scores = self.evaluate(model, data.X_val, cast(np.ndarray, data.y_val), data.w_val)
            val_loss, val_accuracy = scores["loss"], scores.get("accuracy")
            if not math.isfinite(val_loss):
                raise TrainingDiverged(f"validation loss became {val_loss} at epoch {epoch + 1}")
        if not optimizer.parameters_finite():  # no NaN weights ever reach a checkpoint
            raise TrainingDiverged(f"the weights became NaN or infinite at epoch {epoch + 1} "
                                   f"(lr {lr:g}); lower lr or set grad_clip")
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
               "train_accuracy": train_accuracy, "val_accuracy": val_accuracy, "lr": lr,
               "seconds": seconds}
        self.schedule.end_epoch(state.schedule, val_loss)
        improved = state.record(row, self.min_delta)
        if improved:  # the best weights: one copy of the flat parameters (and the buffers)
            if self._best_copy is None or not self._best_copy.fits(optimizer):
                self._best_copy = _Arrays(optimizer, model)
            state.best = self._best_copy.take()
        if self._diagnostics is not None:  # before the epoch's snapshot is taken
            self._diagnostics.end_epoch(model, data, row)
        return row, improved

    def _start_diagnostics(self, model: Model, data: Data) -> Diagnostics | None:
        """The recorder of ``diagnostics`` for this run, when ``diagnostics`` is on (the
        model must be packed: it keeps views of the layers' weights and gradients)."""
        if not self.diagnostics:
            return None
        recorder = Diagnostics(self._state.history, classification=self.loss.is_classification,
                               lr=self.lr, optimizer=self.optimizer)
        recorder.start(model, data)
        return recorder

    def _live_plot(self, folder: RunFolder | None) -> Any:
        """A live figure when ``dynamic_show`` (a PNG under a non-interactive backend)."""
        if not self.dynamic_show:
            return None
        from mlp.plotting.figures import LivePlot  # matplotlib loads only when a figure is wanted

        if folder is None:
            return LivePlot(None, every=self.plot_every)
        return LivePlot(folder.curves, every=self.plot_every, title=folder.name)


class _Writer:
    """Writes a run folder's checkpoints by the cadence: ``last.h5`` from the last completed
    epoch, ``best.h5`` from the best epoch (both kept as in-memory snapshots between saves;
    while the last epoch is the best, its snapshot stands for both)."""

    def __init__(self, routinizer: BasicRoutinizer, model: Model, data: DataFacts,
                 folder: RunFolder | None, optimizer: Optimizer) -> None:
        self.routinizer, self.model, self.data, self.folder = routinizer, model, data, folder
        self.optimizer = optimizer
        self.last_saved = time.monotonic()
        self.epochs_since = 0
        self.saved_epoch = routinizer.state.epoch
        if folder is not None:
            self.last, self.best = _Snapshot(), _Snapshot()
            #: a best epoch not yet written; whether the last snapshot is that epoch
            self.best_pending = self.best_is_last = False

    def end_epoch(self, improved: bool) -> bool:
        """Snapshot the epoch just done and save when the cadence says; True when it saved."""
        if self.folder is None:
            return False
        state = self.routinizer.state
        self._keep_best_apart()
        self.last.take(self.optimizer, self.model, state)
        if improved:  # the last snapshot is the best one until the next epoch
            self.best_is_last = self.best_pending = True
        self.epochs_since += 1
        every_epochs = self.routinizer.save_every_epochs
        every_seconds = self.routinizer.save_every_seconds
        if ((every_epochs is not None and self.epochs_since >= every_epochs)
                or (every_seconds is not None
                    and time.monotonic() - self.last_saved >= every_seconds)):
            self.save()
            return True
        return False

    def _keep_best_apart(self) -> None:
        """Before the last snapshot is taken again: when it holds the best epoch, it becomes
        the best snapshot (the two swap, nothing is copied)."""
        if self.best_is_last:
            self.best, self.last = self.last, self.best
            self.best_is_last = False

    def restate(self) -> None:
        """Take the last epoch's snapshot again after a stop rule changed the state (the
        checkpoint then records ``stopped_early``), to be saved at the end."""
        if self.folder is not None:
            self._keep_best_apart()
            self.last.take(self.optimizer, self.model, self.routinizer.state)
            self.saved_epoch = min(self.saved_epoch, self.last.epoch - 1)

    def save(self) -> None:
        """Write ``last.h5`` (and a pending ``best.h5``) from the snapshots."""
        state = self.routinizer.state
        folder = cast(RunFolder, self.folder)  # the writer saves only into a run folder
        last_due = self.last.epoch > self.saved_epoch
        if self.best_pending:
            best = self.last if self.best_is_last else self.best
            both = best is self.last and last_due  # one file, built once, at both paths
            save_checkpoint(folder.best, self.model, self.routinizer, self.data,
                            best.state(state), arrays=best.arrays(),
                            optimizer_state=best.optimizer_state(),
                            copies=[folder.last] if both else [])
            self.best_pending = False
            if both:
                self.saved_epoch, last_due = self.last.epoch, False
        if last_due:
            save_checkpoint(folder.last, self.model, self.routinizer, self.data,
                            self.last.state(state), arrays=self.last.arrays(),
                            optimizer_state=self.last.optimizer_state())
            self.saved_epoch = self.last.epoch
        self.last_saved, self.epochs_since = time.monotonic(), 0

    def finish(self, reason: str | None = None) -> None:
        """The save that always happens when a run ends (normally, or for ``reason``)."""
        if self.folder is None:
            return
        self.save()
        if reason is not None:
            log.info("saved epoch %d to %s before stopping for %s", self.saved_epoch,
                     self.folder.last, reason)

    def curves(self, progress: Progress, final: bool = True) -> None:
        """The run folder's ``curves.png`` (and the live plot's last drawing when ``final``),
        best effort: a warning, never an exception. Not ``final``: after a save by the
        cadence, redrawn unless the last drawing is too recent (``Progress.saved_curves``)."""
        history, folder = self.routinizer.history, self.folder
        if not len(history):
            return
        if not final:
            if folder is not None:
                progress.saved_curves(history, folder.curves, folder.name)
            return
        progress.final_curves(history, None if folder is None else folder.curves,
                              self.routinizer.state, None if folder is None else folder.name)


def _as_data(data: Data | tuple[Any, Any], validation: tuple[Any, Any] | None) -> Data:
    """``data`` as a ``Data``: arrays ``(X, y)`` and ``validation`` ``(X_val, y_val)``
    wrapped; a ``Data`` as it is (it carries its own validation split)."""
    pairs = {"data": data, "validation": validation}
    for name, pair in pairs.items():
        if isinstance(pair, (tuple, list)) and len(pair) != 2:
            raise DataError(f"{name} must be a pair (X, y) of arrays, found {len(pair)} items")
    if isinstance(data, (tuple, list)):
        X_val, y_val = (None, None) if validation is None else validation
        return Data(data[0], data[1], X_val=X_val, y_val=y_val)
    if validation is not None:
        raise DataError("validation=(X_val, y_val) goes with data given as arrays (X, y); a "
                        "Data carries its own validation split (Data(..., X_val=, y_val=))")
    return data


def _call(callbacks: Sequence[Callback], hook: str, routinizer: BasicRoutinizer,
          *args: Any) -> bool:
    """Call ``hook`` on every callback; True when one asked to stop. A callback's exception
    becomes ``CallbackError`` naming it."""
    stop = False
    for callback in callbacks:
        try:
            if getattr(callback, hook)(routinizer, *args):
                stop = True
        except StopTraining:
            stop = True
        except Exception as exc:
            raise CallbackError(f"callback {type(callback).__name__}.{hook} failed: "
                                f"{type(exc).__name__}: {exc}") from exc
    return stop

"""Running a sweep: the workers' loop and one trial.

A trial is one configuration run under ``repeats`` seeds; each repeat is an ordinary run
folder (``ckpt/<sweep>/trial-NNNN/``, or ``trial-NNNN/repeat-K/`` with repeats) holding the
full run config, so ``mlp evaluate``, ``resume``, ``inspect`` and ``predict`` work on it.
Its ``curves.png`` is drawn only when the sweep file asks (``trial_curves``); the sweep's
report draws every run's curve in one picture either way.
A retried trial takes over the folder of the trial it retries (renamed to its own number)
and continues each repeat from its ``last.h5``, which ends bit-identical to a run that was
never interrupted; without a reachable folder it restarts with the same seeds.

With pruning the repeats advance one epoch at a time (``epochs`` raised by one, ``run``
called again: the same arithmetic as one long ``run``), the mean metric is reported to
Optuna after every epoch, and the median rule may stop the trial.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mlp.errors import CheckpointError, MLPError
from mlp.nn.model import Model
from mlp.storage.run_folder import RunFolder
from mlp.sweep.config import SweepConfig
from mlp.sweep.study import (
    ERROR_ATTR,
    RUNS_ATTR,
    Heartbeat,
    claim_lock,
    counts,
    fail_dead_trials,
    hold_trial_lock,
    make_sampler,
    quiet_optuna,
    retried_from,
    trial_id,
    trial_seed,
)
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer
from mlp.training.run_config import RunConfig, load_data
from mlp.training.startup import startup_probes

log = logging.getLogger("mlp")


@dataclass
class RepeatRun:
    """One repeat of a trial: its run folder, config, data, routinizer and model.

    Parameters
    ----------
    repeat : int
        The repeat, from 0.
    folder : Path
        Its run folder.
    config : RunConfig
        Its run config (``SweepConfig.trial_config``).
    data : Data
        Its data.
    routinizer : BasicRoutinizer
    model : Model
    started : str, default "fresh"
        ``"fresh"``, or ``"resumed at epoch N"`` when it continued from its checkpoint.
    """

    repeat: int
    folder: Path
    config: RunConfig
    data: Any
    routinizer: BasicRoutinizer
    model: Model
    started: str = "fresh"
    epochs: int = field(init=False)

    def __post_init__(self) -> None:
        self.epochs = self.config.train.epochs  # the routinizer's own is raised step by step

    @property
    def done(self) -> bool:
        """Trained to its epochs, or stopped early, or at its target loss."""
        routinizer, state = self.routinizer, self.routinizer.state
        if state.epoch >= self.epochs or state.stopped_early:
            return True
        history = routinizer.history
        if routinizer.target_loss is None or not len(history):
            return False
        monitored = history.val_loss[-1] if state.monitor == "val_loss" else history.train_loss[-1]
        return monitored is not None and monitored <= routinizer.target_loss

    def draw_curves(self) -> None:
        """The run folder's ``curves.png``, best effort (a warning if it cannot be drawn)."""
        history, state = self.routinizer.history, self.routinizer.state
        if not len(history):
            return
        try:
            from mlp.plotting.curves import save_curves  # matplotlib loads only to draw

            save_curves(history, RunFolder(self.folder).curves, title=self.folder.name,
                        stopped_early_at=history.epoch[-1] if state.stopped_early else None)
        except Exception as exc:  # a picture never fails a trial
            log.warning("trial run %s: could not draw its curves (%s)", self.folder, exc)

    def advance(self, epochs: int, curves: bool = True) -> None:
        """Train until ``epochs`` epochs (at most the config's) are done.

        Parameters
        ----------
        epochs : int
        curves : bool, default True
            False draws no ``curves.png`` (``draw_curves`` draws it when asked).
        """
        self.routinizer.epochs = min(epochs, self.epochs)
        self.routinizer.run(self.model, self.data, startup_probes(), curves=curves)


class Worker:
    """Takes trials from the study until the sweep has all it needs, and runs them.

    Parameters
    ----------
    config : SweepConfig
    folder : Path
        The sweep folder.
    study : optuna.Study
    storage : optuna.storages.BaseStorage
    n_trials : int
        The configurations the sweep runs.
    data : Data, optional
        The base run's data when the caller has loaded it already.
    """

    def __init__(self, config: SweepConfig, folder: Path, study: optuna.Study,
                 storage: optuna.storages.BaseStorage, n_trials: int,
                 data: Any = None) -> None:
        self.config, self.folder, self.study, self.storage = config, folder, study, storage
        self.n_trials = n_trials
        self._data: dict[str, Any] = {}
        if data is not None:
            self._data[config.run_config.data.model_dump_json()] = data
        self.trial_seconds = 0.0  # whole trials, as this worker ran them
        self.training_seconds = 0.0  # inside the routinizers' runs (checkpoints included)

    def work(self, on_trial: Any = None) -> int:
        """Run trials until none is left to run.

        Parameters
        ----------
        on_trial : callable, optional
            Called after each trial this worker finishes (a progress bar's update).

        Returns
        -------
        int
            How many trials this worker ran.
        """
        ran = 0
        while True:
            with contextlib.ExitStack() as running:
                with claim_lock(self.storage, self.folder, self.config.name):
                    dead = fail_dead_trials(self.study, self.storage, self.folder)
                    if dead:
                        log.info("trials %s lost their worker; queued again", dead)
                    if not self._more_to_do():
                        return ran
                    number = len(self.study.get_trials(deepcopy=False))
                    self.study.sampler = make_sampler(self.config,
                                                      trial_seed(self.config, number))
                    with quiet_optuna():
                        trial = self.study.ask()
                    # the trial lock and the first heartbeat under the claim lock: a running
                    # trial without them has lost its worker (fail_dead_trials)
                    running.callback(hold_trial_lock(self.folder, trial.number).release)
                    identifier = trial_id(self.study, self.storage, trial.number)
                    running.enter_context(Heartbeat(self.storage, identifier))
                started = time.perf_counter()
                self._run(trial, identifier)
                self.trial_seconds += time.perf_counter() - started
            ran += 1
            if on_trial is not None:
                on_trial()

    def _more_to_do(self) -> bool:
        trials = self.study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        return sum(counts(t) for t in trials) < self.n_trials

    # ---------------------------------------------------------------- one trial
    def _run(self, trial: optuna.Trial, identifier: int) -> None:
        config = self.config
        params = config.suggest(trial)
        frozen = self.storage.get_trial(identifier)
        folder = self.folder / f"trial-{trial.number:04d}"
        previous = retried_from(frozen)
        if previous is not None:
            old = self.folder / f"trial-{previous:04d}"
            if old.exists() and not folder.exists():
                os.replace(old, folder)  # the retry continues in the retried trial's folder
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            runs = [self._repeat(params, r, folder, trial.number) for r in range(config.repeats)]
            started = time.perf_counter()
            pruned = self._train(trial, runs)
            self.training_seconds += time.perf_counter() - started
            summaries = [self._summary(run) for run in runs]
        except MLPError as exc:
            log.warning("trial %d failed: %s", trial.number, exc)
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}")
            self.study.tell(trial, state=TrialState.FAIL)
            return
        trial.set_user_attr(RUNS_ATTR, summaries)
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, statistics.fmean(s["value"] for s in summaries))

    def _repeat(self, params: dict[str, Any], repeat: int, trial_folder: Path,
                number: int) -> RepeatRun:
        folder = trial_folder if self.config.repeats == 1 else trial_folder / f"repeat-{repeat}"
        run_config = self.config.trial_config(params, repeat, folder, number)
        data = self._load(run_config)
        run_config.loss_for(data.task)  # a base without train.loss means what it does in train
        run_folder = RunFolder(folder)
        run_folder.write_config(run_config.model_dump_json(indent=2) + "\n")
        if run_folder.last.exists():
            try:
                routinizer, model = BasicRoutinizer.resume(folder)
            except CheckpointError as exc:
                log.warning("trial %d: %s; restarting with the same seed", number, exc)
                run_folder.clear_run()  # the broken run's files go; the restart's config stays
                run_folder.write_config(run_config.model_dump_json(indent=2) + "\n")
            else:
                routinizer.checkpoint_dir = folder  # the folder as it is named now
                routinizer.progress = routinizer.dynamic_show = False
                return RepeatRun(repeat, folder, run_config, data, routinizer, model,
                                 started=f"resumed at epoch {routinizer.state.epoch}")
        model = run_config.build_model(data.n_features, data.n_outputs)
        return RepeatRun(repeat, folder, run_config, data, run_config.train, model)

    def _load(self, run_config: RunConfig) -> Any:
        key = run_config.data.model_dump_json()
        if key not in self._data:
            self._data[key] = load_data(run_config.data)
        return self._data[key]

    def _train(self, trial: optuna.Trial, runs: list[RepeatRun]) -> bool:
        """Train every repeat; with pruning, step them together and report the mean
        per-epoch metric after each epoch; True when pruned. (Without pruning the curves go
        to the study once, with the trial's result, instead of one write per epoch.)"""
        epochs = max(run.epochs for run in runs)
        curves = self.config.trial_curves
        if self.config.pruning is None:
            for run in runs:
                if not run.done:
                    run.advance(epochs, curves=curves)
            return False
        try:  # each run's curves.png drawn once at the end, not once per stepped epoch
            for epoch in range(1, epochs + 1):
                for run in runs:
                    if not run.done and run.routinizer.state.epoch < epoch:
                        run.advance(epoch, curves=False)
                value = self._epoch_value(runs, epoch)
                if value is None:
                    return False
                trial.report(value, epoch)
                if trial.should_prune():
                    log.info("trial %d pruned at epoch %d", trial.number, epoch)
                    return True
            return False
        finally:
            if curves:
                for run in runs:
                    run.draw_curves()

    def _epoch_value(self, runs: list[RepeatRun], epoch: int) -> float | None:
        """The mean over repeats of the per-epoch metric at ``epoch`` (None when no repeat
        got that far)."""
        column = self.config.epoch_metric
        values = []
        for run in runs:
            series = getattr(run.routinizer.history, column)
            if len(series) >= epoch and series[epoch - 1] is not None:
                values.append(float(series[epoch - 1]))
        return statistics.fmean(values) if values else None

    def _summary(self, run: RepeatRun) -> dict[str, Any]:
        """The repeat's result: metric at its best epoch, epochs run, seconds, folder, curve."""
        config, history = self.config, run.routinizer.history
        curve = [None if v is None else float(v) for v in getattr(history, config.epoch_metric)]
        if not history.epoch or all(v is None for v in curve):
            raise MLPError(f"the run recorded no {config.epoch_metric} (does the data have "
                           f"that split?)")
        if config.metric.startswith("test_"):
            best = load_checkpoint(RunFolder(run.folder).checkpoint("best"))
            scores = run.routinizer.evaluate(best.model, run.data.X_test, run.data.y_test)
            value = float(scores["accuracy" if config.metric.endswith("accuracy") else "loss"])
            best_epoch = run.routinizer.state.best_epoch
        else:
            pick = max if config.goal == "maximize" else min
            value, best_epoch = pick((v, e) for v, e in zip(curve, history.epoch, strict=True)
                                     if v is not None)
            best_epoch = int(best_epoch)
        return {"repeat": run.repeat, "seed": run.config.train.seed, "value": value,
                "best_epoch": best_epoch, "epochs": len(history),
                "seconds": history.total_seconds, "folder": str(run.folder),
                "started": run.started, "curve": curve}

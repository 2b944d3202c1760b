"""A run folder's ``curves.png``: matplotlib's picture of the run, drawn at the end of a run
(however it ends) and after the checkpoint saves of the cadence, never once per epoch; a
sweep's trials draw theirs only when the sweep file asks."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

import mlp.plotting.curves as curves
import mlp.training.progress as progress
from mlp import BasicRoutinizer, Callback, Model, TrainingDiverged
from mlp.history import History
from mlp.signals import TrainingInterrupted
from mlp.training.checkpoint import load_checkpoint
from preprocess import Data

PANEL_PIXELS = (460, 400)  # one panel of CURVES_PANEL_SIZE at PNG_DPI


@pytest.fixture
def drawings(monkeypatch) -> list[dict[str, Any]]:
    """Every drawing of a run folder's picture: its last epoch, the marks and the panels."""
    drawn: list[dict[str, Any]] = []
    real_figure = curves.curves_figure

    def recorded_figure(history, fig=None, **marks):
        fig = real_figure(history, fig, **marks)
        drawn.append({"epoch": history.epoch[-1], **marks,
                      "panels": [ax.get_title() for ax in fig.axes]})
        return fig

    monkeypatch.setattr(curves, "curves_figure", recorded_figure)
    return drawn


def _classification(tmp_path: Path, **train: Any) -> tuple[BasicRoutinizer, Model, Data]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    settings = {"epochs": 6, "batch_size": 32, "seed": 0, "progress": False,
                "checkpoint_dir": tmp_path / "run", **train}
    return (BasicRoutinizer(**settings), Model.mlp([6, 8, 3], seed=0),
            Data(X[:120], y[:120], X[120:], y[120:]))


def _regression(tmp_path: Path, **train: Any) -> tuple[BasicRoutinizer, Model, Data]:
    settings = {"epochs": 4, "batch_size": 16, "loss": "mse", "seed": 0, "progress": False,
                "checkpoint_dir": tmp_path / "run", **train}
    return (BasicRoutinizer(**settings), Model.mlp([1, 8, 1], nonlinearity="tanh", seed=0),
            Data.sin(48, 16, noise=0.05, seed=0))


def _size(path: Path) -> tuple[int, int]:
    """Width and height in pixels of the PNG at ``path``, to the nearest ten: matplotlib before
    3.9 truncates a size of 919.99... pixels (inches times dpi in binary floats) to 919."""
    height, width = matplotlib.image.imread(path).shape[:2]
    return round(width, -1), round(height, -1)


def test_a_classification_run_ends_with_one_picture_of_loss_accuracy_and_learning_rate(
        tmp_path, drawings):
    routinizer, model, data = _classification(tmp_path)  # default cadence: 30 s
    routinizer.run(model, data)
    path = tmp_path / "run" / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _size(path) == (3 * PANEL_PIXELS[0], PANEL_PIXELS[1])
    assert drawings == [{"epoch": 6, "title": "run", "stopped_early_at": None,
                         "panels": ["loss", "accuracy", "learning rate"]}]


def test_a_regression_run_has_no_accuracy_panel(tmp_path, drawings):
    routinizer, model, data = _regression(tmp_path)
    routinizer.run(model, data)
    assert _size(tmp_path / "run" / "curves.png") == (2 * PANEL_PIXELS[0], PANEL_PIXELS[1])
    assert [d["panels"] for d in drawings] == [["loss", "learning rate"]]


def test_the_picture_follows_the_save_cadence_not_the_epochs(tmp_path, drawings, monkeypatch):
    monkeypatch.setattr(progress, "CURVES_SHARE", float("inf"))  # no wait after a drawing
    routinizer, model, data = _classification(tmp_path, epochs=12, save_every_epochs=4,
                                              save_every_seconds=None)
    routinizer.run(model, data)
    assert [d["epoch"] for d in drawings] == [4, 8, 12]  # two saves, then the end
    routinizer.epochs = 14  # a second segment: drawn at its end only
    routinizer.run(model, data)
    assert [d["epoch"] for d in drawings] == [4, 8, 12, 14]


def test_curves_false_draws_nothing_even_with_a_save_every_epoch(tmp_path, drawings):
    routinizer, model, data = _classification(tmp_path, epochs=3, save_every_epochs=1,
                                              save_every_seconds=None)
    routinizer.run(model, data, curves=False)
    assert drawings == [] and not (tmp_path / "run" / "curves.png").exists()
    assert load_checkpoint(tmp_path / "run" / "last.h5").state.epoch == 3


def test_an_early_stop_is_marked_on_the_last_picture(tmp_path, drawings):
    # no update reaches the float32 weights: the validation loss never improves after epoch 1
    routinizer, model, data = _classification(tmp_path, epochs=20, lr=1e-30,
                                              early_stopping=2)
    routinizer.run(model, data)
    assert [(d["epoch"], d["stopped_early_at"]) for d in drawings] == [(3, 3)]
    assert (tmp_path / "run" / "curves.png").exists()


class _Diverge(Callback):
    """Raises the learning rate to a value that diverges after epoch 2."""

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        if row["epoch"] == 2:
            routinizer.lr = 1e12


def test_a_diverged_run_keeps_its_folder_and_gets_its_picture(tmp_path, drawings):
    routinizer, model, data = _regression(tmp_path, epochs=50, optimizer="sgd")
    with pytest.raises(TrainingDiverged):
        routinizer.run(model, data, callbacks=[_Diverge()])
    assert load_checkpoint(tmp_path / "run" / "last.h5").state.epoch == 2
    assert [d["epoch"] for d in drawings] == [2]  # the last good epoch
    assert (tmp_path / "run" / "curves.png").exists()


class _Interrupt(Callback):
    """Sends this process a real SIGINT after epoch 2."""

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        if row["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_run_gets_its_picture_of_the_saved_epochs(tmp_path, drawings):
    routinizer, model, data = _classification(tmp_path, epochs=10)
    with pytest.raises(TrainingInterrupted):
        routinizer.run(model, data, callbacks=[_Interrupt()])
    saved = load_checkpoint(tmp_path / "run" / "last.h5").state.epoch
    assert saved < 10 and [d["epoch"] for d in drawings] == [saved]
    assert (tmp_path / "run" / "curves.png").exists()


@pytest.mark.parametrize("trial_curves", [False, True])
def test_sweep_trials_draw_their_curves_only_when_asked(tmp_path, trial_curves):
    pytest.importorskip("optuna")
    from mlp.cli.commands import main

    sweep = {"name": "sw", "trial_curves": trial_curves,
             "base": {"name": "base", "data": {"source": "sin", "n_train": 32, "n_val": 32},
                      "model": {"hidden": [4], "nonlinearity": "tanh"},
                      "train": {"loss": "mse", "epochs": 2, "batch_size": 16}},
             "space": {"train.lr": {"choice": [0.03, 0.003]}}}
    path = tmp_path / "sw.json"
    path.write_text(json.dumps(sweep))
    assert main(["-q", "sweep", str(path), "--ckpt-root", str(tmp_path)]) == 0
    trials = sorted((tmp_path / "sw").glob("trial-*"))
    assert len(trials) == 2 and all((t / "last.h5").exists() for t in trials)
    assert [(t / "curves.png").exists() for t in trials] == [trial_curves] * 2
    assert (tmp_path / "sw" / "curves.png").stat().st_size > 1000  # the report, always


def _history(epochs: int, classification: bool = True) -> History:
    history = History()
    for epoch in range(1, epochs + 1):
        history.append(epoch=epoch, train_loss=2 / epoch, val_loss=2.1 / epoch + 0.02,
                       train_accuracy=1 - 1 / epoch if classification else None,
                       val_accuracy=1 - 1.1 / epoch if classification else None,
                       lr=1e-3 * 0.8**epoch, seconds=0.01)
    return history


def test_a_redraw_into_a_kept_figure_is_the_picture_of_a_new_one():
    kept = curves.agg_figure()  # its axes are reused while the panels stay the same
    # linear, then log loss axes; one point, then many; two panels, then three again
    for epochs, classification in ((1, True), (3, True), (12, True), (12, False), (40, True)):
        history = _history(epochs, classification)
        marks = {"title": "run", "stopped_early_at": epochs}
        redrawn = curves.curves_png(history, **marks, fig=kept)
        new = curves.curves_png(history, **marks, fig=curves.agg_figure())
        np.testing.assert_array_equal(matplotlib.image.imread(io.BytesIO(redrawn)),
                                      matplotlib.image.imread(io.BytesIO(new)))
        assert curves.curves_png(history, **marks) == redrawn  # a spare figure, the same

"""Figures under Agg: curves with both series, live plots, fits, confusion matrix, first layer."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import mlp.plotting as plotting
from mlp.errors import DataError
from mlp.history import History
from mlp.model import Model
from mlp.plotting import (
    TRAIN_COLOR,
    VAL_COLOR,
    LivePlot,
    confusion_matrix,
    curves_figure,
    plot_confusion_matrix,
    plot_first_layer,
    plot_fit,
    save_curves,
)


def _history(epochs: int, classification: bool = True, validation: bool = True,
             first: int = 1) -> History:
    history = History()
    for e in range(first, first + epochs):
        history.append(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e if validation else None,
                       train_accuracy=1 - 0.5 / e if classification else None,
                       val_accuracy=(1 - 0.6 / e) if classification and validation else None,
                       lr=1e-3, seconds=0.1)
    return history


def _colour_pixels(path: Path, colour: str) -> int:
    """How many pixels of the PNG at ``path`` are ``colour`` (within rounding)."""
    image = matplotlib.image.imread(path)[..., :3]
    return int((np.abs(image - np.array(to_rgb(colour))).sum(axis=-1) < 0.05).sum())


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


# curves -------------------------------------------------------------------------------------

def test_saved_curves_are_a_png_showing_train_and_val(tmp_path):
    path = save_curves(_history(5), tmp_path / "c.png")
    assert path == tmp_path / "c.png"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert _colour_pixels(path, TRAIN_COLOR) > 20
    assert _colour_pixels(path, VAL_COLOR) > 20
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def test_curves_without_validation_draw_only_the_train_series(tmp_path):
    history = _history(4, validation=False)
    fig = curves_figure(history)
    assert [_labels(ax) for ax in fig.axes] == [["train loss"], ["train accuracy"]]
    path = save_curves(history, tmp_path / "c.png")
    assert _colour_pixels(path, TRAIN_COLOR) > 20
    assert _colour_pixels(path, VAL_COLOR) == 0


def test_classification_has_loss_and_accuracy_axes_regression_one():
    fig = curves_figure(_history(3))
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [_labels(ax) for ax in fig.axes] == [["train loss", "val loss"],
                                                ["train accuracy", "val accuracy"]]
    regression = curves_figure(_history(3, classification=False))
    assert [ax.get_title() for ax in regression.axes] == ["loss"]


def test_loss_axis_is_log_only_when_every_loss_is_positive():
    assert curves_figure(_history(3)).axes[0].get_yscale() == "log"
    history = _history(3)
    history.train_loss[-1] = 0.0
    assert curves_figure(history).axes[0].get_yscale() == "linear"


def test_curves_redraw_into_a_given_figure():
    fig = Figure()
    assert curves_figure(_history(2), fig) is fig and len(fig.axes) == 2
    assert curves_figure(_history(2, classification=False), fig) is fig
    assert len(fig.axes) == 1 and _labels(fig.axes[0]) == ["train loss", "val loss"]


def test_failed_write_keeps_the_previous_png_and_no_temporary(tmp_path, monkeypatch):
    path = save_curves(_history(2), tmp_path / "c.png")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        save_curves(_history(6), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def test_failed_rename_removes_the_temporary(tmp_path):
    (tmp_path / "c.png").mkdir()  # a folder where the PNG should go: the rename fails
    with pytest.raises(OSError):
        save_curves(_history(2), tmp_path / "c.png")
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_pngs_get_the_mode_of_a_new_file_under_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = save_curves(_history(2), tmp_path / "c.png")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# live plot ----------------------------------------------------------------------------------

def test_live_plot_under_agg_writes_on_multiples_of_every_and_on_close(tmp_path):
    path = tmp_path / "live.png"
    live = LivePlot(path, every=3)
    for epochs in (1, 2):
        live.update(_history(epochs))
        assert not path.exists()
    live.update(_history(3))
    assert path.exists()
    path.unlink()
    live.update(_history(4))
    assert not path.exists()
    live.close(_history(4))
    assert _colour_pixels(path, TRAIN_COLOR) > 20 and _colour_pixels(path, VAL_COLOR) > 20


def test_live_plot_counts_epochs_not_rows_after_a_resume(tmp_path):
    path = tmp_path / "live.png"
    live = LivePlot(path, every=2)
    live.update(_history(1, first=4))  # one row, epoch 4: due
    assert path.exists()
    path.unlink()
    live.update(_history(2, first=4))  # epoch 5: not due
    assert not path.exists()
    live.update(_history(2, first=4), final=True)
    assert path.exists()


def test_live_plot_without_path_under_agg_does_nothing_but_log(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    live = LivePlot(None, every=1)
    with caplog.at_level(logging.DEBUG, logger="mlp"):
        live.update(_history(2))
        live.close(_history(2))
    assert list(tmp_path.iterdir()) == []
    assert "no path was given" in caplog.text


def test_live_plot_rejects_non_positive_every():
    with pytest.raises(ValueError, match="positive number of epochs, found 0"):
        LivePlot(None, every=0)


def test_backend_detection(monkeypatch):
    assert not plotting._interactive_backend()  # conftest selects Agg
    for name, interactive in (("TkAgg", True), ("qtagg", True), ("pdf", False),
                              ("module://no_such_backend", False)):
        monkeypatch.setattr(matplotlib, "get_backend", lambda name=name: name)
        assert plotting._interactive_backend() is interactive, name


def test_live_plot_without_a_display_falls_back_to_the_file(tmp_path, monkeypatch, caplog):
    import matplotlib.pyplot as plt

    def no_display(*args, **kwargs):
        raise RuntimeError("no display name and no $DISPLAY")

    monkeypatch.setattr(plotting, "_interactive_backend", lambda: True)
    monkeypatch.setattr(plt, "figure", no_display)
    path = tmp_path / "live.png"
    live = LivePlot(path, every=1)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        live.update(_history(1))
    assert path.exists() and "window unavailable" in caplog.text
    path.unlink()
    live.close(_history(2))
    assert path.exists()


# fit ----------------------------------------------------------------------------------------

def test_plot_fit_of_a_model_writes_points_truth_and_curve(tmp_path):
    model = Model.mlp([1, 5, 1], dtype="float64")
    x = np.linspace(0, 1, 8).reshape(-1, 1)
    path = tmp_path / "fit.png"
    fig = plot_fit(model, x, np.sin(x), truth=np.sin, path=path)
    assert _labels(fig.axes[0]) == ["truth", "model"]
    model_line = fig.axes[0].get_lines()[1]
    grid = model_line.get_xdata()
    assert grid[0] == 0.0 and grid[-1] == 1.0  # the grid spans the training points
    np.testing.assert_allclose(model_line.get_ydata(),
                               model.forward(grid.reshape(-1, 1))[:, 0])
    assert _colour_pixels(path, TRAIN_COLOR) > 20 and _colour_pixels(path, VAL_COLOR) > 20


def test_plot_fit_accepts_predictions_truth_values_and_an_axes():
    x = np.linspace(-1, 1, 50)
    ax = Figure().subplots()
    fig = plot_fit(x**2 + 0.1, truth=x**2, x=x, ax=ax)
    assert fig is ax.figure
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), x**2)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), x**2 + 0.1)


def test_plot_fit_errors_name_what_is_missing():
    with pytest.raises(DataError, match="predictions but no x"):
        plot_fit(np.zeros(10))
    with pytest.raises(DataError, match=r"one value per grid point \(5\), found shape \(5, 2\)"):
        plot_fit(Model.mlp([1, 2]), x=np.linspace(0, 1, 5))


# confusion matrix ---------------------------------------------------------------------------

def test_confusion_matrix_against_hand_count():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix([1], [1], n_classes=3),
                                  [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(DataError, match=r"labels must be in 0..1, found 2"):
        confusion_matrix([0, 2], [0, 1], n_classes=2)
    with pytest.raises(DataError, match="same length, found 2 and 3"):
        confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(DataError, match="integer class indices"):
        confusion_matrix([0.5, 1.0], [0, 1])


def test_plot_confusion_matrix_names_classes_and_annotates(tmp_path):
    path = tmp_path / "cm.png"
    fig = plot_confusion_matrix([0, 1, 1, 1], [0, 1, 0, 0], classes=np.array(["a", "b"]),
                                path=path)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.texts] == ["1", "0", "2", "1"]
    assert matplotlib.image.imread(path).ndim == 3
    normalized = plot_confusion_matrix([0, 1, 1, 1], [0, 1, 0, 0], normalize=True)
    assert [t.get_text() for t in normalized.axes[0].texts] == ["1.00", "0.00", "0.67", "0.33"]


# first layer --------------------------------------------------------------------------------

def test_first_layer_shape_error_names_expected_and_found():
    with pytest.raises(DataError, match=r"\(4, 4\) needs 16 inputs, the first layer has 4"):
        plot_first_layer(Model.mlp([4, 3, 2]), (4, 4))


def test_first_layer_draws_each_units_weights_as_an_image(tmp_path):
    model = Model.mlp([12, 6, 2])
    fig = plot_first_layer(model, (3, 4), path=tmp_path / "w.png")
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(images) == 6  # 3 x 2 grid, all used
    np.testing.assert_array_equal(images[5], model.layers[0].weight[:, 5].reshape(3, 4))
    assert (tmp_path / "w.png").exists()
    limited = plot_first_layer(model, (3, 4), max_units=5)
    assert sum(bool(ax.images) for ax in limited.axes) == 5

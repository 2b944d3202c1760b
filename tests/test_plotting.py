"""Figures under Agg: what each one draws (axes, labels, scales, data, marks), live plots,
fits, confusion matrices, first-layer weights, and how PNGs are written."""

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

import mlp.plotting.figures as plotting
from mlp.errors import DataError
from mlp.history import History
from mlp.nn.model import Model
from mlp.plotting.figures import (
    BEST_COLOR,
    LR_COLOR,
    STOP_COLOR,
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
             first: int = 1, lr: float = 1e-3) -> History:
    history = History()
    for e in range(first, first + epochs):
        history.append(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e if validation else None,
                       train_accuracy=1 - 0.5 / e if classification else None,
                       val_accuracy=(1 - 0.6 / e) if classification and validation else None,
                       lr=lr, seconds=0.1)
    return history


def _rows(train_loss: list[float], val_loss: list[float] | None = None,
          lr: list[float] | None = None) -> History:
    """A regression history with the given columns (epochs 1..n)."""
    history = History()
    for index, loss in enumerate(train_loss):
        history.append(epoch=index + 1, train_loss=loss,
                       val_loss=None if val_loss is None else val_loss[index],
                       train_accuracy=None, val_accuracy=None,
                       lr=1e-3 if lr is None else lr[index], seconds=0.1)
    return history


def _colour_pixels(path: Path, colour: str) -> int:
    """How many pixels of the PNG at ``path`` are ``colour`` (within rounding)."""
    image = matplotlib.image.imread(path)[..., :3]
    return int((np.abs(image - np.array(to_rgb(colour))).sum(axis=-1) < 0.05).sum())


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def _curve_labels(ax) -> list[str]:
    """The labels of the data curves (not the best-epoch and early-stop marks)."""
    return [label for label in _labels(ax) if not label.startswith(("_", "best", "stopped"))]


def _vertical_lines(ax, colour: str) -> list[float]:
    """The x of every vertical line of ``colour`` in ``ax``."""
    return [float(line.get_xdata()[0]) for line in ax.get_lines()
            if to_rgb(line.get_color()) == to_rgb(colour) and len(set(line.get_xdata())) == 1
            and line.get_linestyle() != "None"]


def _tick_labels(ax) -> list[str]:
    """The y tick labels shown inside the axis' range (major and minor), after a layout."""
    ax.figure.draw_without_rendering()
    low, high = ax.get_ylim()
    return [t.get_text() for minor in (False, True) for t in ax.get_yticklabels(minor=minor)
            if t.get_text() and low <= t.get_position()[1] <= high]


# curves -------------------------------------------------------------------------------------

def test_saved_curves_are_a_png_showing_train_and_val(tmp_path):
    path = save_curves(_history(5), tmp_path / "c.png")
    assert path == tmp_path / "c.png"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert _colour_pixels(path, TRAIN_COLOR) > 20
    assert _colour_pixels(path, VAL_COLOR) > 20
    assert _colour_pixels(path, LR_COLOR) > 20
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def test_classification_has_loss_accuracy_and_lr_axes_regression_loss_and_lr():
    fig = curves_figure(_history(3))
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch"] * 3
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    assert [_curve_labels(ax) for ax in fig.axes] == [["train loss", "val loss"],
                                                      ["train accuracy", "val accuracy"],
                                                      ["learning rate"]]
    train, val = fig.axes[0].get_lines()[:2]
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(val.get_ydata(), [1.2, 0.6, 0.4])
    regression = curves_figure(_history(3, classification=False))
    assert [ax.get_title() for ax in regression.axes] == ["loss", "learning rate"]


def test_curves_without_validation_draw_only_the_train_series(tmp_path):
    history = _history(4, validation=False)
    fig = curves_figure(history)
    assert [_curve_labels(ax) for ax in fig.axes] == [["train loss"], ["train accuracy"],
                                                      ["learning rate"]]
    path = save_curves(history, tmp_path / "c.png")
    assert _colour_pixels(path, TRAIN_COLOR) > 20
    assert _colour_pixels(path, VAL_COLOR) == 0


def test_loss_axis_is_log_only_over_more_than_a_decade_of_positive_losses():
    narrow = curves_figure(_rows([2.3, 1.0, 0.7, 0.6, 0.55, 0.52]))  # digits with smoothing
    assert narrow.axes[0].get_yscale() == "linear"
    assert len(_tick_labels(narrow.axes[0])) >= 4
    wide = curves_figure(_rows([1.0 / e**1.5 for e in range(1, 11)]))  # 1.5 decades
    assert wide.axes[0].get_yscale() == "log"
    assert len(_tick_labels(wide.axes[0])) >= 4  # minor ticks labelled, not only 10^-1, 10^0
    with_zero = curves_figure(_rows([1.0, 0.01, 0.0]))
    assert with_zero.axes[0].get_yscale() == "linear"


def test_lr_panel_draws_the_schedule_on_a_log_axis_when_it_spans_decades():
    lr = [1e-2 * 0.5**e for e in range(8)]  # 1e-2 .. 7.8e-5
    ax = curves_figure(_rows([1.0] * 8, lr=lr)).axes[-1]
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), range(1, 9))
    np.testing.assert_allclose(line.get_ydata(), lr)
    assert to_rgb(line.get_color()) == to_rgb(LR_COLOR) and ax.get_yscale() == "log"
    constant = curves_figure(_rows([1.0, 0.9, 0.8])).axes[-1]
    assert constant.get_yscale() == "linear"
    np.testing.assert_allclose(constant.get_lines()[0].get_ydata(), [1e-3] * 3)


def test_best_epoch_and_early_stop_are_marked_on_every_panel():
    history = _history(6)
    history.val_loss[:] = [1.0, 0.7, 0.5, 0.6, 0.65, 0.7]  # best at epoch 3
    fig = curves_figure(history, stopped_early_at=6)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert _vertical_lines(ax, BEST_COLOR) == [3.0]
        assert _vertical_lines(ax, STOP_COLOR) == [6.0]
    star = next(line for line in fig.axes[0].get_lines() if line.get_marker() == "*")
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([3], [0.5])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["train loss", "val loss", "best: epoch 3 (val loss 0.5)",
                      "stopped early (epoch 6)"]
    assert not _vertical_lines(curves_figure(history).axes[0], STOP_COLOR)


def test_without_validation_the_best_epoch_is_the_lowest_train_loss():
    fig = curves_figure(_rows([1.0, 0.4, 0.3, 0.35]))
    assert _vertical_lines(fig.axes[0], BEST_COLOR) == [3.0]
    assert "best: epoch 3 (train loss 0.3)" in _labels(fig.axes[0])


def test_title_names_the_run_only_when_given(tmp_path):
    assert curves_figure(_history(2), title="digits-0007").get_suptitle() == "digits-0007"
    assert curves_figure(_history(2)).get_suptitle() == ""
    history = _history(4)
    history.val_loss[-1] = 1.0  # best at 3, stopped at 4
    path = save_curves(history, tmp_path / "c.png", title="run", stopped_early_at=4)
    assert _colour_pixels(path, STOP_COLOR) > 20 and _colour_pixels(path, BEST_COLOR) > 20


def test_curves_redraw_into_a_given_figure():
    fig = Figure()
    assert curves_figure(_history(2), fig, title="a") is fig and len(fig.axes) == 3
    assert curves_figure(_history(2, classification=False), fig) is fig
    assert len(fig.axes) == 2 and _curve_labels(fig.axes[0]) == ["train loss", "val loss"]
    assert fig.get_suptitle() == ""


# writing ------------------------------------------------------------------------------------

def test_failed_write_keeps_the_previous_png_and_no_temporary(tmp_path, monkeypatch):
    path = save_curves(_history(2), tmp_path / "c.png")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:  # the temporary file is written, its fsync fails
        patch.setattr(os, "fsync", broken)
        with pytest.raises(OSError, match="disk full"):
            save_curves(_history(6), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]
    figure = plot_confusion_matrix([0, 1], [0, 1], path=path)  # the PNG of a Figure
    before = path.read_bytes()
    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plotting._write(figure, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def _matplotlib_png(history: History, path: Path) -> Path:
    return plotting._write(curves_figure(history), path)


#: both ways a PNG is written: the curves (run folders) and any other figure
WRITERS = pytest.mark.parametrize("write", [save_curves, _matplotlib_png],
                                  ids=["curves", "figure"])


@WRITERS
def test_failed_rename_removes_the_temporary(tmp_path, write):
    (tmp_path / "c.png").mkdir()  # a folder where the PNG should go: the rename fails
    with pytest.raises(OSError):
        write(_history(2), tmp_path / "c.png")
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


@WRITERS
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_pngs_get_the_mode_of_a_new_file_under_the_umask(tmp_path, umask, mode, write):
    previous = os.umask(umask)
    try:
        path = write(_history(2), tmp_path / "c.png")
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


def test_live_plot_passes_the_title_and_the_early_stop_to_the_picture(tmp_path, monkeypatch):
    drawn: list[dict] = []
    real = plotting.save_curves  # what the live plot writes the file with (under Agg)

    def recording(history, path, **marks):
        drawn.append(marks)
        return real(history, path, **marks)

    monkeypatch.setattr(plotting, "save_curves", recording)
    path = tmp_path / "live.png"
    live = LivePlot(path, every=1, title="digits-3")
    live.update(_history(2))
    live.close(_history(3), stopped_early_at=3)
    assert drawn == [{"title": "digits-3", "stopped_early_at": None},
                     {"title": "digits-3", "stopped_early_at": 3}]
    assert _colour_pixels(path, STOP_COLOR) > 20


# fit ----------------------------------------------------------------------------------------

def test_plot_fit_of_a_model_writes_points_truth_and_curve(tmp_path):
    model = Model.mlp([1, 5, 1], dtype="float64")
    x = np.linspace(0, 1, 8).reshape(-1, 1)
    path = tmp_path / "fit.png"
    fig = plot_fit(model, x, np.sin(x), truth=np.sin, path=path)
    ax = fig.axes[0]
    assert _labels(ax) == ["truth", "model"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x", "y", "fit")
    model_line = ax.get_lines()[1]
    grid = model_line.get_xdata()
    assert grid[0] == 0.0 and grid[-1] == 1.0  # the grid spans the training points
    np.testing.assert_allclose(model_line.get_ydata(),
                               model.forward(grid.reshape(-1, 1))[:, 0])
    [points] = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([x[:, 0], np.sin(x[:, 0])]))
    assert _colour_pixels(path, TRAIN_COLOR) > 20 and _colour_pixels(path, VAL_COLOR) > 20


def test_plot_fit_draws_the_truth_above_the_model_in_its_own_style(tmp_path):
    x = np.linspace(-1, 1, 50)
    truth, model = plot_fit(x**2, truth=x**2, x=x).axes[0].get_lines()
    assert truth.get_zorder() > model.get_zorder()
    assert to_rgb(truth.get_color()) == (0.0, 0.0, 0.0) and truth.get_linestyle() == "--"
    assert model.get_linestyle() == "-" and model.get_linewidth() > truth.get_linewidth()
    # where the model equals the truth, the truth's black dashes still show in the PNG
    plot_fit(x**2, truth=x**2, x=x, path=tmp_path / "both.png")
    plot_fit(x**2, x=x, path=tmp_path / "model.png")
    assert (_colour_pixels(tmp_path / "both.png", "black")
            - _colour_pixels(tmp_path / "model.png", "black")) > 150


def test_plot_fit_draws_validation_points_and_spans_them():
    model = Model.mlp([1, 4, 1], dtype="float64")
    X_train, X_val = np.linspace(0, 1, 6), np.linspace(-0.5, 1.5, 11)
    fig = plot_fit(model, X_train, X_train**2, X_val=X_val.reshape(-1, 1), y_val=X_val**2)
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.collections] == ["validation points", "training points"]
    np.testing.assert_allclose(ax.collections[0].get_offsets(),
                               np.column_stack([X_val, X_val**2]))
    grid = ax.get_lines()[0].get_xdata()
    assert (grid[0], grid[-1]) == (-0.5, 1.5)  # the grid covers every point drawn
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["validation points", "model", "training points"]


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
    with pytest.raises(DataError, match="needs x, interval, X_train or X_val"):
        plot_fit(Model.mlp([1, 2, 1]))
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


def test_with_many_classes_zero_cells_are_blank():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 8, size=200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, (y_true + 1) % 8)
    matrix = confusion_matrix(y_true, y_pred, 8)
    for normalize in (False, True):
        ax = plot_confusion_matrix(y_true, y_pred, normalize=normalize).axes[0]
        cells = {(round(t.get_position()[1]), round(t.get_position()[0])) for t in ax.texts}
        assert cells == set(zip(*np.nonzero(matrix), strict=True))
        assert not any(t.get_text() in ("0", "0.00") for t in ax.texts)
    shown = plot_confusion_matrix(y_true, y_pred, hide_zeros=False).axes[0]
    assert len(shown.texts) == 64
    hidden = plot_confusion_matrix([0, 1, 1, 1], [0, 1, 0, 0], hide_zeros=True).axes[0]
    assert [t.get_text() for t in hidden.texts] == ["1", "2", "1"]


def test_a_fraction_too_small_for_two_decimals_is_not_written_as_zero():
    y_true = np.zeros(201, dtype=int)
    y_pred = np.r_[np.zeros(200, dtype=int), 1]
    ax = plot_confusion_matrix(y_true, y_pred, classes=["a", "b"], normalize=True).axes[0]
    assert [t.get_text() for t in ax.texts] == ["1.00", "<0.01", "0.00", "0.00"]


# first layer --------------------------------------------------------------------------------

def test_first_layer_shape_error_names_expected_and_found():
    with pytest.raises(DataError, match=r"\(4, 4\) needs 16 inputs, the first layer has 4"):
        plot_first_layer(Model.mlp([4, 3, 2]), (4, 4))


def test_first_layer_draws_each_units_weights_on_one_symmetric_scale():
    model = Model.mlp([12, 6, 2])
    weight = model.layers[0].weight
    fig = plot_first_layer(model, (3, 4))
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 6 and len(fig.axes) == 7  # 3 x 2 grid, all used, and a colour bar
    np.testing.assert_array_equal(tiles[5].images[0].get_array(), weight[:, 5].reshape(3, 4))
    limit = np.abs(weight).max()
    assert {tile.images[0].get_clim() for tile in tiles} == {(-limit, limit)}
    assert len({id(tile.images[0].norm) for tile in tiles}) == 1  # one shared norm
    colorbar = tiles[-1].images[0].colorbar
    assert colorbar is not None and colorbar.ax in fig.axes
    assert colorbar.ax.get_ylabel() == "weight" and colorbar.ax.get_ylim() == (-limit, limit)
    limited = plot_first_layer(model, (3, 4), max_units=5)
    images = [ax.images[0] for ax in limited.axes if ax.images]
    assert len(images) == 5
    limit = np.abs(weight[:, :5]).max()  # the scale covers the tiles drawn
    assert {image.get_clim() for image in images} == {(-limit, limit)}


def test_first_layer_png_has_no_wide_white_margin(tmp_path):
    path = tmp_path / "w.png"
    plot_first_layer(Model.mlp([64, 16, 10]), (8, 8), path=path)
    image = matplotlib.image.imread(path)[..., :3]
    ink = (image < 0.95).any(axis=-1)
    rows, columns = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    height, width = ink.shape
    assert rows[0] < 0.03 * height and rows[-1] > 0.97 * height
    assert columns[0] < 0.03 * width and columns[-1] > 0.97 * width

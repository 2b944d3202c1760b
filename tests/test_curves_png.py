"""The curves PNG drawn with Pillow (``mlp.plotting.curves_png``): its size per panel, which colours
it shows and where, its title, its axes' ticks against matplotlib's, awkward histories
(NaN, one epoch, 3000 epochs, empty) and how it is written."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from mlp.history import History
from mlp.plotting import curves_png
from mlp.plotting.curves_content import (
    BEST_COLOR,
    LR_COLOR,
    STOP_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    panels,
)
from mlp.plotting.curves_png import render_curves, write_curves
from mlp.plotting.figures import curves_figure

PANEL_WIDTH, HEIGHT = 460, 400


def _history(epochs: int, classification: bool = True, validation: bool = True,
             lr: float | None = 1e-3) -> History:
    history = History()
    for e in range(1, epochs + 1):
        history.append(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e if validation else None,
                       train_accuracy=1 - 0.5 / e if classification else None,
                       val_accuracy=(1 - 0.6 / e) if classification and validation else None,
                       lr=math.nan if lr is None else lr, seconds=0.1)
    return history


def _rows(train_loss: list[float], lr: list[float] | None = None) -> History:
    history = History()
    for index, loss in enumerate(train_loss):
        history.append(epoch=index + 1, train_loss=loss, val_loss=None, train_accuracy=None,
                       val_accuracy=None, lr=1e-3 if lr is None else lr[index], seconds=0.1)
    return history


def _pixels(png: bytes) -> np.ndarray:
    """The picture as ``(H, W, 3)`` floats in 0..1."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def _count(pixels: np.ndarray, colour: str) -> int:
    """How many pixels are ``colour`` (within rounding, as tests/test_plotting.py counts)."""
    return int((np.abs(pixels - np.array(to_rgb(colour))).sum(axis=-1) < 0.05).sum())


def _panel(pixels: np.ndarray, index: int) -> np.ndarray:
    return pixels[:, index * PANEL_WIDTH:(index + 1) * PANEL_WIDTH]


@pytest.mark.parametrize(("history", "count"), [(_history(5), 3),
                                                (_history(5, classification=False), 2),
                                                (_history(5, classification=False, lr=None), 1)])
def test_one_460_by_400_panel_per_panel_of_the_figure(history, count):
    pixels = _pixels(render_curves(history))
    assert pixels.shape == (HEIGHT, PANEL_WIDTH * count, 3)
    assert len(panels(history)) == count == len(curves_figure(history).axes)
    assert (pixels[0, 0] == 1).all() and (pixels[-1, -1] == 1).all()  # white background


def test_colours_appear_where_their_curves_and_marks_are_drawn():
    history = _history(8)
    history.val_loss[5] = 0.01  # best at epoch 6
    pixels = _pixels(render_curves(history, stopped_early_at=8))
    loss, accuracy, lr = (_panel(pixels, i) for i in range(3))
    for panel in (loss, accuracy):
        assert _count(panel, TRAIN_COLOR) > 100 and _count(panel, VAL_COLOR) > 100
        assert _count(panel, LR_COLOR) == 0
    assert _count(lr, LR_COLOR) > 100
    assert _count(lr, TRAIN_COLOR) == 0 and _count(lr, VAL_COLOR) == 0
    for panel in (loss, accuracy, lr):  # the best and stop lines cross every panel
        assert _count(panel, BEST_COLOR) > 20 and _count(panel, STOP_COLOR) > 20
    assert _count(loss, BEST_COLOR) > _count(accuracy, BEST_COLOR) + 30  # the stars


def test_no_validation_no_orange_no_early_stop_no_red():
    pixels = _pixels(render_curves(_history(6, validation=False)))
    assert _count(pixels, TRAIN_COLOR) > 100 and _count(pixels, BEST_COLOR) > 20
    assert _count(pixels, VAL_COLOR) == 0 and _count(pixels, STOP_COLOR) == 0
    without_lr = _pixels(render_curves(_history(6, lr=None)))
    assert _count(without_lr, LR_COLOR) == 0


def test_the_title_is_drawn_at_the_top_only_when_given():
    history = _history(4)
    plain, titled = (_pixels(render_curves(history, title=t)) for t in (None, "digits-0007"))
    top = slice(0, 16)  # above the panels' titles
    assert (plain[top] == 1).all()
    ink = (titled[top] < 0.5).any(axis=-1)
    assert ink.sum() > 40
    columns = np.nonzero(ink.any(axis=0))[0]  # centred on the picture
    assert abs((columns[0] + columns[-1]) / 2 - plain.shape[1] / 2) < 10
    assert not np.array_equal(_pixels(render_curves(history, title="digits-0008"))[top],
                              titled[top])


@pytest.mark.parametrize("history", [
    _rows([2.3, 1.0, 0.7, 0.6, 0.55, 0.52]),  # linear: under a decade
    _rows([1.0 / e**1.5 for e in range(1, 11)]),  # log with minor labels: 1.5 decades
    _rows([1.0 / e for e in range(1, 3001)]),  # log, decades only
    _rows([1.0, 0.01, 0.0]),  # a zero: linear
    _rows([1.0] * 8, lr=[1e-2 * 0.5**e for e in range(8)]),  # a flat loss, a log schedule
])
def test_ticks_and_labels_are_the_ones_matplotlib_shows(history):
    figure = curves_figure(history)
    figure.draw_without_rendering()
    for ax, panel in zip(figure.axes, panels(history), strict=True):
        values = np.concatenate([curve.values for curve in panel.curves])
        view = curves_png.axis_view(values.min(), values.max(), log=panel.log,
                                    fixed=panel.ylim)
        low, high = ax.get_ylim()
        shown = [t.get_text() for minor in (False, True) for t in ax.get_yticklabels(minor=minor)
                 if t.get_text() and low <= t.get_position()[1] <= high]
        assert [label for _, label in view.major + view.minor if label] == shown
        assert view.log == (ax.get_yscale() == "log")
    epochs = curves_png.axis_view(1, len(history), log=False, integer=True)
    low, high = figure.axes[0].get_xlim()
    assert [label for _, label in epochs.major] == [
        t.get_text() for t in figure.axes[0].get_xticklabels()
        if low <= t.get_position()[0] <= high]


def test_log_and_linear_loss_axes_draw_different_labels():
    linear = _pixels(render_curves(_rows([2.3, 1.0, 0.7, 0.6, 0.55, 0.52])))
    log = _pixels(render_curves(_rows([2.3, 1.0, 0.5, 0.2, 0.1, 0.05])))
    labels = slice(40, 350), slice(0, 100)  # left of the loss axes: tick labels, y label
    assert not np.array_equal(linear[labels], log[labels])


def test_non_finite_values_are_skipped():
    history = _history(10)
    history.val_loss[3] = math.nan
    history.train_loss[4] = math.inf
    history.train_accuracy[2] = math.nan
    history.lr[6] = -math.inf
    pixels = _pixels(render_curves(history, stopped_early_at=10))
    assert pixels.shape == (HEIGHT, 3 * PANEL_WIDTH, 3)
    assert _count(pixels, TRAIN_COLOR) > 100 and _count(pixels, VAL_COLOR) > 100
    everything = _history(3, classification=False)
    everything.train_loss[:] = [math.nan] * 3
    everything.val_loss[:] = [math.inf] * 3
    pixels = _pixels(render_curves(everything))  # no loss to draw, and no best epoch
    assert pixels.shape == (HEIGHT, 2 * PANEL_WIDTH, 3)
    assert _count(pixels, TRAIN_COLOR) == 0 and _count(pixels, BEST_COLOR) == 0


def test_one_epoch_is_a_dot_and_3000_epochs_a_curve():
    one = _pixels(render_curves(_history(1), stopped_early_at=1))
    assert one.shape == (HEIGHT, 3 * PANEL_WIDTH, 3)
    assert _count(_panel(one, 1), TRAIN_COLOR) > 20 and _count(_panel(one, 1), VAL_COLOR) > 20
    assert _count(_panel(one, 2), LR_COLOR) > 20
    long = _pixels(render_curves(_history(3000, classification=False), title="sin"))
    assert long.shape == (HEIGHT, 2 * PANEL_WIDTH, 3)
    assert _count(long, TRAIN_COLOR) > 300 and _count(long, VAL_COLOR) > 300


def test_an_empty_history_is_refused():
    with pytest.raises(ValueError, match="empty history"):
        render_curves(History())


def test_write_returns_the_path_and_leaves_no_temporary(tmp_path):
    path = write_curves(_history(3), tmp_path / "run" / "curves.png", title="run")
    assert path == tmp_path / "run" / "curves.png"
    assert path.read_bytes() == render_curves(_history(3), title="run")  # deterministic
    assert [p.name for p in path.parent.iterdir()] == ["curves.png"]


def test_the_renderer_loads_neither_pyplot_nor_a_figure_nor_a_backend():
    code = ("import sys, mlp.plotting.curves_png; print(sorted(m for m in sys.modules if m in "
            "('matplotlib.pyplot', 'matplotlib.figure', 'matplotlib.axes') "
            "or m.startswith('matplotlib.backends.backend_')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "[]"

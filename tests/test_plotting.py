"""Figures: curves with both series, live plots under Agg, confusion matrix, first layer."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from mlp import DataError, History, Model
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


def _history(epochs: int, classification: bool = True) -> History:
    history = History()
    for e in range(1, epochs + 1):
        history.append(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e,
                       train_accuracy=1 - 0.5 / e if classification else None,
                       val_accuracy=1 - 0.6 / e if classification else None, lr=1e-3,
                       seconds=0.1)
    return history


def _has_colour(path, colour) -> bool:
    image = matplotlib.image.imread(path)[..., :3]
    return (np.abs(image - np.array(to_rgb(colour))).sum(axis=-1) < 0.05).sum() > 20


def test_saved_curves_show_train_and_val(tmp_path):
    path = save_curves(_history(5), tmp_path / "c.png")
    assert _has_colour(path, TRAIN_COLOR) and _has_colour(path, VAL_COLOR)


def test_regression_history_has_one_axis():
    assert len(curves_figure(_history(3, classification=False)).axes) == 1
    assert len(curves_figure(_history(3)).axes) == 2


def test_live_plot_under_agg_writes_every_n_epochs_and_on_close(tmp_path):
    path = tmp_path / "live.png"
    live = LivePlot(path, every=3)
    live.update(_history(1))
    live.update(_history(2))
    assert not path.exists()
    live.update(_history(3))
    assert path.exists()
    path.unlink()
    live.close(_history(4))
    assert path.exists()


def test_confusion_matrix_counts():
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    fig = plot_confusion_matrix([0, 1, 1], [0, 1, 0], classes=np.array(["a", "b"]))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]


def test_first_layer_shape_error_names_both():
    with pytest.raises(DataError, match="needs 16 inputs, the first layer has 4"):
        plot_first_layer(Model.mlp([4, 3, 2]), (4, 4))
    assert len(plot_first_layer(Model.mlp([16, 6, 2]), (4, 4)).axes) == 6  # 3 x 2 grid


def test_plot_fit_writes_png(tmp_path):
    model = Model.mlp([1, 5, 1], dtype="float64")
    x = np.linspace(0, 1, 8).reshape(-1, 1)
    plot_fit(model, x, np.sin(x), truth=np.sin, path=tmp_path / "fit.png")
    assert matplotlib.image.imread(tmp_path / "fit.png").shape[0] > 100

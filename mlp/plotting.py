"""Figures: training curves (live or saved), 1-D regression fits, confusion matrices and
first-layer weights as images. Object-oriented matplotlib; figures a function creates for a
file are closed after writing."""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from mlp.errors import DataError
from mlp.history import History

log = logging.getLogger("mlp")
TRAIN_COLOR = "tab:blue"
VAL_COLOR = "tab:orange"
_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template",
                    "module://matplotlib_inline.backend_inline"}


def _write(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG atomically (temporary file in the same folder, then replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            fig.savefig(stream, format="png", dpi=100)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _series(epochs: list[int], values: list[float | None]) -> tuple[list[int], list[float]]:
    pairs = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _plot_pair(ax: Any, history: History, metric: str) -> None:
    """The train and val curves of ``metric`` ("loss" or "accuracy"), skipping Nones."""
    for split, colour in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
        x, y = _series(history.epoch, getattr(history, f"{split}_{metric}"))
        if y:
            ax.plot(x, y, color=colour, label=f"{split} {metric}", linewidth=2)


def curves_figure(history: History, fig: Figure | None = None) -> Figure:
    """Loss (train, val) and, for classification, accuracy (train, val) against epoch."""
    fig = fig if fig is not None else Figure(figsize=(10, 4))
    fig.clear()
    has_accuracy = any(a is not None for a in history.train_accuracy + history.val_accuracy)
    axes = fig.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    loss_ax = axes[0]
    _plot_pair(loss_ax, history, "loss")
    losses = [v for v in history.train_loss + history.val_loss if v is not None]
    if losses and min(losses) > 0:
        loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if has_accuracy:
        acc_ax = axes[1]
        _plot_pair(acc_ax, history, "accuracy")
        acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    return fig


def save_curves(history: History, path: str | Path) -> Path:
    """Write the curves of ``history`` to ``path`` as PNG."""
    return _write(curves_figure(history), path)


def _interactive() -> bool:
    return matplotlib.get_backend().lower() not in _NON_INTERACTIVE


class LivePlot:
    """Curves redrawn every ``every`` epochs: a non-blocking window on an interactive
    backend, and the PNG ``path`` (when given) in every case."""

    def __init__(self, path: str | Path | None, every: int = 1) -> None:
        self.path = None if path is None else Path(path)
        self.every = every
        self._figure: Any = None
        self._window = _interactive()

    def update(self, history: History, final: bool = False) -> None:
        if not len(history) or (not final and len(history) % self.every):
            return
        if self._window:
            try:
                self._draw_window(history)
            except Exception as exc:  # no display: fall back to the file
                log.debug("live plot window unavailable (%s); writing %s", exc, self.path)
                self._window = False
        if self.path is not None:
            save_curves(history, self.path)

    def _draw_window(self, history: History) -> None:
        import matplotlib.pyplot as plt

        if self._figure is None:
            self._figure = plt.figure(figsize=(10, 4))
            plt.show(block=False)
        curves_figure(history, self._figure)
        self._figure.canvas.draw_idle()
        plt.pause(0.001)

    def close(self, history: History) -> None:
        """Final redraw (and write), then close the window."""
        self.update(history, final=True)
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure)
            self._figure = None


def plot_fit(model: Any, x_train: np.ndarray | None = None, y_train: np.ndarray | None = None,
             truth: Callable[[np.ndarray], np.ndarray] | None = None,
             interval: tuple[float, float] = (0.0, 1.0), path: str | Path | None = None
             ) -> Figure:
    """A 1-D regression picture: training points, the true function and the model's curve.

    ``model`` is a ``Model`` (its ``predict_logits``) or a callable of ``(N, 1)`` inputs.
    """
    grid = np.linspace(interval[0], interval[1], 400).reshape(-1, 1)
    predict = getattr(model, "predict_logits", model)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    if truth is not None:
        ax.plot(grid[:, 0], np.asarray(truth(grid)).reshape(-1), color="black",
                linestyle="--", label="truth")
    ax.plot(grid[:, 0], np.asarray(predict(grid)).reshape(-1), color=TRAIN_COLOR,
            linewidth=2, label="model")
    if x_train is not None and y_train is not None:
        ax.scatter(np.ravel(x_train), np.ravel(y_train), color=VAL_COLOR, s=14,
                   label="training points", zorder=3)
    ax.set(xlabel="x", ylabel="y", title="fit")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        _write(fig, path)
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None
                     ) -> np.ndarray:
    """Counts ``(C, C)``: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if n_classes is None:
        n_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def plot_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                          classes: np.ndarray | None = None, path: str | Path | None = None,
                          normalize: bool = False) -> Figure:
    """The confusion matrix as an annotated image (rows true, columns predicted)."""
    n = None if classes is None else len(classes)
    matrix = confusion_matrix(y_true, y_pred, n).astype(float)
    if normalize:
        matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = [str(c) for c in (classes if classes is not None else range(matrix.shape[0]))]
    fig = Figure(figsize=(1.0 + 0.5 * len(names), 0.8 + 0.5 * len(names)))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}" if normalize else f"{int(value)}", ha="center",
                va="center", fontsize=8, color="white" if value > threshold else "black")
    fig.tight_layout()
    if path is not None:
        _write(fig, path)
    return fig


def plot_first_layer(model: Any, image_shape: tuple[int, int], path: str | Path | None = None,
                     max_units: int = 64) -> Figure:
    """Each first-layer unit's incoming weights as a grey image, in a grid."""
    weight = model.layers[0].weight
    if weight.shape[0] != math.prod(image_shape):
        raise DataError(f"image_shape {tuple(image_shape)} needs {math.prod(image_shape)} "
                        f"inputs, the first layer has {weight.shape[0]}")
    units = min(weight.shape[1], max_units)
    columns = math.ceil(math.sqrt(units))
    rows = math.ceil(units / columns)
    fig = Figure(figsize=(columns * 1.1, rows * 1.1))
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < units:
            ax.imshow(weight[:, index].reshape(image_shape), cmap="gray")
    fig.suptitle("first-layer weights")
    if path is not None:
        _write(fig, path)
    return fig

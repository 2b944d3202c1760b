"""Figures: training curves (live or saved), 1-D regression fits, confusion matrices and
first-layer weights as images.

Every figure is a ``matplotlib.figure.Figure`` built directly (object-oriented API, no
pyplot state), so nothing is registered with pyplot and nothing is left open; each is an
``InlineFigure``, which a Jupyter cell shows as a picture. Only ``LivePlot`` on an
interactive backend opens a pyplot window (a user asked for one), and ``LivePlot.close``
closes it. The training curves are drawn in ``mlp.plotting.curves`` (their names are
importable from here), from what ``mlp.plotting.curves_content`` decides they show. PNGs are
written atomically (a temporary file in the same folder, then renamed) with the permissions
of any new file (``0o666`` less the umask), as checkpoints are.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from mlp.errors import DataError
from mlp.history import History
from mlp.plotting.curves import (
    curves_figure,
    curves_png,
    curves_size,
    figure_png,
    plain_log_axis,
    save_curves,
)
from mlp.plotting.curves_content import (
    BEST_COLOR,
    LOG_SCALE_MIN_RATIO,
    LR_COLOR,
    STOP_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    PlainLogFormatter,
)
from mlp.plotting.inline import InlineFigure
from mlp.plotting.notebook import FIGURE_SHARE, NotebookCurves, Throttle, in_kernel
from mlp.storage import atomic

__all__ = ["BEST_COLOR", "LOG_SCALE_MIN_RATIO", "LR_COLOR", "STOP_COLOR", "TRAIN_COLOR",
           "VAL_COLOR", "LivePlot", "PlainLogFormatter", "confusion_matrix", "curves_figure",
           "curves_png", "plain_log_axis", "plot_confusion_matrix", "plot_first_layer",
           "plot_fit", "save_curves"]

log = logging.getLogger("mlp")

VAL_POINTS_COLOR = "0.7"
"""Colour (grey) of the validation points in ``plot_fit``."""
ZERO_CELLS_SHOWN_UP_TO = 5
"""``plot_confusion_matrix`` writes zero cells up to this many classes and leaves them blank
above it, so the mistakes stand out."""
FIT_GRID_POINTS = 400
"""Points of the grid ``plot_fit`` evaluates the model on when no ``x`` is given."""
FIRST_LAYER_TILE_INCHES = 0.9
"""Width in inches of one tile of ``plot_first_layer``."""


def _write(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (``storage.atomic``: a temporary file beside it,
    created 0666 less the umask, fsynced and renamed; removed when anything fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_bytes(path, figure_png(fig))


def _interactive_backend() -> bool:
    """Whether the current backend opens windows (False for Agg, PDF, SVG, inline, ...)."""
    name = matplotlib.get_backend()
    try:
        from matplotlib.backends import backend_registry
    except ImportError:  # matplotlib < 3.9 has the list in rcsetup instead
        from matplotlib.rcsetup import interactive_bk  # type: ignore[attr-defined]

        return name.lower() in {b.lower() for b in interactive_bk}
    try:
        return backend_registry.resolve_backend(name)[1] not in (None, "headless")
    except Exception:  # an unknown or unloadable backend cannot show a window
        return False


class LivePlot:
    """Training curves redrawn as a run goes, without ever blocking or raising for a display.

    In a Jupyter kernel one picture in the cell's output is redrawn in place
    (``notebook.NotebookCurves``: every ``every`` epochs, throttled by wall time, the last
    epoch always) and ``path`` (when given) is written at the end. Elsewhere, on an
    interactive backend one non-blocking pyplot window is redrawn every ``every`` epochs and
    ``path`` (when given) is written at the end; on a non-interactive backend (Agg, CI)
    ``path`` is written instead, every ``every`` epochs as long as the drawings take at most
    ``notebook.FIGURE_SHARE`` of the wall time (the last epoch always), and with no ``path``
    nothing is drawn. Without a display (or once the user closes the window) it falls back to
    writing ``path``.

    Parameters
    ----------
    path : str, Path or None
        Where the PNG goes (``<run>/curves.png`` for the routinizer).
    every : int
        Redraw when the last epoch (counted across resumes) is a multiple of ``every``.
    title : str, optional
        The figure's title (``curves_figure``), normally the run's name.

    Examples
    --------
    >>> live = LivePlot(None, every=5)  # under Agg without a path: draws nothing
    >>> live.draws_file
    False
    """

    def __init__(self, path: str | Path | None, every: int = 1, title: str | None = None
                 ) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of epochs, found {every}")
        self.path = None if path is None else Path(path)
        self.every = every
        self.title = title
        self._figure: Figure | None = None
        self._notebook = NotebookCurves(every, title) if in_kernel() else None
        self._window = self._notebook is None and _interactive_backend()
        self._file_throttle = Throttle(0.0, FIGURE_SHARE)

    @property
    def draws_file(self) -> bool:
        """Whether ``update`` writes ``path`` as the run goes (there is a path, and neither a
        window nor a notebook picture)."""
        return self.path is not None and self._notebook is None and not self._window

    def update(self, history: History, final: bool = False,
               stopped_early_at: int | None = None) -> None:
        """Redraw if the last epoch is due (always when ``final``).

        Parameters
        ----------
        history : History
            The run's columns so far; nothing is drawn while it is empty.
        final : bool
            The run's last drawing: drawn whatever ``every`` and the throttles say.
        stopped_early_at : int, optional
            The epoch early stopping ended the run at, passed to ``curves_figure``.
        """
        if not len(history) or (not final and history.epoch[-1] % self.every):
            return
        if self._notebook is not None:
            self._notebook.update(history, final, stopped_early_at)
            if final and self.path is not None:
                save_curves(history, self.path, title=self.title,
                            stopped_early_at=stopped_early_at)
            return
        if self._window and self._draw_window(history, stopped_early_at):
            if final and self.path is not None:
                save_curves(history, self.path, title=self.title,
                            stopped_early_at=stopped_early_at)
            return
        if self.path is None:
            log.debug("live plot: backend %s shows no window and no path was given; "
                      "epoch %d not drawn", matplotlib.get_backend(), history.epoch[-1])
            return
        if final or self._file_throttle.due():
            started = time.monotonic()
            save_curves(history, self.path, title=self.title, stopped_early_at=stopped_early_at)
            self._file_throttle.shown(started)

    def close(self, history: History, stopped_early_at: int | None = None) -> None:
        """The final redraw (and PNG), then close the window if one was opened.

        Parameters
        ----------
        history : History
            The run's columns.
        stopped_early_at : int, optional
            The epoch early stopping ended the run at, marked on the picture.
        """
        self.update(history, final=True, stopped_early_at=stopped_early_at)
        if self._figure is not None:
            try:
                import matplotlib.pyplot as plt

                plt.close(self._figure)
            except Exception as exc:  # closing a dead window must not fail a finished run
                log.debug("live plot: closing the window failed (%s)", exc)
            self._figure = None

    def _draw_window(self, history: History, stopped_early_at: int | None) -> bool:
        """Redraw the window (opening it the first time); False, and no more windows, when
        that is impossible or the user closed it."""
        try:
            import matplotlib.pyplot as plt

            if self._figure is None:
                self._figure = plt.figure(figsize=curves_size(history))
                plt.show(block=False)
            elif not plt.fignum_exists(self._figure.number):
                log.info("live plot window closed; writing %s instead", self.path)
                self._window = False
                return False
            curves_figure(history, self._figure, title=self.title,
                          stopped_early_at=stopped_early_at)
            self._figure.canvas.draw_idle()
            self._figure.canvas.flush_events()
            plt.pause(0.001)
            return True
        except Exception as exc:  # no display, missing GUI toolkit, ...
            log.warning("live plot window unavailable (%s); writing %s instead", exc,
                        self.path)
            self._window = False
            self._figure = None
            return False


def _grid_values(values: Any, grid: np.ndarray, what: str) -> np.ndarray:
    """``values`` evaluated on ``grid`` ``(N, 1)``: a model's ``forward``, a callable, or an
    array already computed there. Returns ``(N,)``; DataError when the size is not ``N``."""
    if hasattr(values, "forward"):
        out = values.forward(grid)
    elif callable(values):
        out = values(grid)
    else:
        out = values
    out = np.asarray(out, dtype=np.float64)
    if out.size != grid.shape[0]:
        raise DataError(f"{what} must give one value per grid point ({grid.shape[0]}), "
                        f"found shape {out.shape}")
    return out.reshape(-1)


def plot_fit(
    model_or_pred: Any,
    X_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    truth: Callable[[np.ndarray], np.ndarray] | np.ndarray | None = None,
    interval: tuple[float, float] | None = None,
    path: str | Path | None = None,
    ax: Axes | None = None,
    x: np.ndarray | None = None,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> Figure:
    """A 1-D regression picture: training and validation points, the true function and the
    model's curve.

    Parameters
    ----------
    model_or_pred : model, callable or array
        Anything with ``forward(X)`` (a ``Model``) or a callable, applied to the grid as
        ``(N, 1)`` and returning ``N`` values; or predictions already computed at ``x``.
        Drawn as a wide solid line.
    X_train, y_train : array, optional
        Training points ``(M,)`` or ``(M, 1)``, drawn as a scatter above every line.
    truth : callable or array, optional
        The true function (called on the ``(N, 1)`` grid) or its values at ``x``; a thin
        black dashed line drawn above the model's curve, so it stays visible where the
        two agree.
    interval : (low, high), optional
        The range of a ``FIT_GRID_POINTS``-point grid when ``x`` is not given; defaults to
        the range of the training and validation points.
    path : Path, optional
        Where to write the PNG.
    ax : Axes, optional
        Draw into this axes (and its figure) instead of a new figure.
    x : array, optional
        The grid ``(N,)`` or ``(N, 1)`` itself; required when predictions are passed.
    X_val, y_val : array, optional
        Validation points ``(K,)`` or ``(K, 1)``, grey dots wider than the model's curve
        and drawn below it, so a model that fits them runs through a grey band.

    Returns
    -------
    Figure
        The figure drawn into (``ax``'s root figure when ``ax`` is given).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 1, 16)
    >>> fig = plot_fit(np.sin, x, np.sin(x), interval=(0, 1))
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['model']
    """
    is_values = not (hasattr(model_or_pred, "forward") or callable(model_or_pred))
    points = [np.ravel(p) for p in (X_train, X_val) if p is not None]
    if x is not None:
        grid = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    elif is_values:
        raise DataError("plot_fit got predictions but no x: pass the grid they were computed at")
    else:
        if interval is None and not points:
            raise DataError("plot_fit needs x, interval, X_train or X_val to know where to "
                            "draw")
        low, high = interval if interval is not None else (min(np.min(p) for p in points),
                                                           max(np.max(p) for p in points))
        grid = np.linspace(float(low), float(high), FIT_GRID_POINTS).reshape(-1, 1)
    prediction = _grid_values(model_or_pred, grid, "the model")
    order = np.argsort(grid[:, 0], kind="stable")
    fig: Figure
    if ax is None:
        fig = InlineFigure(figsize=(6, 4))
        ax = fig.subplots()
    else:  # the root figure, also of an axes in a SubFigure
        fig = ax.figure if isinstance(ax.figure, Figure) else ax.figure.figure
    if X_val is not None and y_val is not None:
        ax.scatter(np.ravel(X_val), np.ravel(y_val), color=VAL_POINTS_COLOR, s=20,
                   label="validation points", zorder=1)
    if truth is not None:
        ax.plot(grid[order, 0], _grid_values(truth, grid, "truth")[order], color="black",
                linestyle=(0, (4, 3)), linewidth=1.3, label="truth", zorder=4)
    ax.plot(grid[order, 0], prediction[order], color=TRAIN_COLOR, linewidth=2.5,
            label="model", zorder=2)
    if X_train is not None and y_train is not None:
        ax.scatter(np.ravel(X_train), np.ravel(y_train), color=VAL_COLOR, s=16,
                   edgecolors="black", linewidths=0.4, label="training points", zorder=5)
    ax.set(xlabel="x", ylabel="y", title="fit")
    ax.legend()
    if path is not None:
        fig.tight_layout()
        _write(fig, path)
    return fig


def _labels(labels: Any, name: str) -> np.ndarray:
    """Class indices as a 1-D int64 array; DataError for other shapes, fractions, negatives."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D class indices, found shape {array.shape}")
    if array.size and (array.dtype.kind not in "iub"
                       and not (array.dtype.kind == "f" and np.all(array == np.round(array)))):
        raise DataError(f"{name} must be integer class indices, found dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise DataError(f"{name} must be class indices >= 0, found {array.min()}")
    return array


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """The confusion matrix of class indices, as scikit-learn's (rows true, columns predicted).

    Parameters
    ----------
    y_true, y_pred : array-like (N,)
        Class indices ``0..C-1`` (integers, or floats holding integers); other shapes,
        fractions and negatives are a DataError.
    n_classes : int, optional
        ``C``; the largest label + 1 by default. A label ``>= n_classes`` is a DataError.

    Returns
    -------
    numpy.ndarray
        Counts ``(C, C)`` int64: entry ``[i, j]`` is how many samples of true class ``i``
        were predicted as class ``j``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 0, 1]).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true and y_pred must have the same length, found {y_true.size} "
                        f"and {y_pred.size}")
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)))
    if n_classes is None:
        n_classes = largest + 1
    elif largest >= n_classes:
        raise DataError(f"labels must be in 0..{n_classes - 1}, found {largest}")
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def _cell_text(value: float, normalize: bool, hide_zeros: bool) -> str | None:
    """The annotation of one confusion-matrix cell; None leaves it blank."""
    if value == 0 and hide_zeros:
        return None
    if not normalize:
        return f"{int(value)}"
    return "<0.01" if 0 < value < 0.005 else f"{value:.2f}"


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    classes: Sequence[Any] | np.ndarray | None = None,
    path: str | Path | None = None,
    normalize: bool = False,
    hide_zeros: bool | None = None,
) -> Figure:
    """The confusion matrix as an annotated image (rows true, columns predicted).

    Parameters
    ----------
    y_true, y_pred : array (N,)
        Class indices ``0..C-1``.
    classes : sequence, optional
        Names of the ``C`` classes (``Data.classes``), shown on both axes; indices otherwise.
    path : Path, optional
        Where to write the PNG.
    normalize : bool
        Show each row as fractions of its true class (rows sum to 1) instead of counts; a
        fraction that is not zero but rounds to 0.00 is written ``<0.01``.
    hide_zeros : bool, optional
        Leave the cells that hold exactly zero blank; by default only with more than
        ``ZERO_CELLS_SHOWN_UP_TO`` classes.

    Returns
    -------
    Figure
        An ``InlineFigure`` with the matrix and its colour bar.
    """
    n_classes = None if classes is None else len(classes)
    matrix = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    if normalize:
        matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = [str(c) for c in (classes if classes is not None else range(matrix.shape[0]))]
    size = len(names)
    if hide_zeros is None:
        hide_zeros = size > ZERO_CELLS_SHOWN_UP_TO
    fig = InlineFigure(figsize=(1.5 + 0.5 * size, 1.2 + 0.5 * size))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(size), names, rotation=45, ha="right")
    ax.set_yticks(range(size), names)
    ax.set(xlabel="predicted", ylabel="true",
           title="confusion matrix" + (" (row fractions)" if normalize else ""))
    threshold = matrix.max() / 2 if matrix.size else 0.0
    for (i, j), value in np.ndenumerate(matrix):
        text = _cell_text(float(value), normalize, hide_zeros)
        if text is not None:
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if value > threshold else "black")
    fig.tight_layout()
    if path is not None:
        _write(fig, path)
    return fig


def plot_first_layer(
    model: Any,
    image_shape: tuple[int, int],
    path: str | Path | None = None,
    max_units: int = 64,
) -> Figure:
    """Each first-layer unit's incoming weights ``weight[:, j]`` as an image, in a grid.

    Every tile shares one colour scale, symmetric about zero (blue negative, white zero, red
    positive, limits +-max|weight| over the tiles drawn), shown by one colour bar, so tiles
    can be compared with each other.

    Parameters
    ----------
    model : Model
        Its ``layers[0].weight`` ``(in, out)`` is drawn, one image per column.
    image_shape : (height, width)
        The input images' shape; ``height * width`` must equal the layer's ``in_features``
        (DataError otherwise).
    path : Path, optional
        Where to write the PNG.
    max_units : int
        Draw at most the first ``max_units`` units, in a near-square grid.

    Returns
    -------
    Figure
        An ``InlineFigure`` with one tile per unit drawn and one colour bar.
    """
    if max_units < 1:
        raise ValueError(f"max_units must be positive, found {max_units}")
    layer = model.layers[0]
    expected = math.prod(image_shape)
    if layer.in_features != expected:
        raise DataError(f"image_shape {tuple(image_shape)} needs {expected} inputs, "
                        f"the first layer has {layer.in_features}")
    weight = np.asarray(layer.weight)
    units = min(weight.shape[1], max_units)
    limit = float(np.max(np.abs(weight[:, :units]))) or 1.0
    columns = math.ceil(math.sqrt(units))
    rows = math.ceil(units / columns)
    norm = Normalize(-limit, limit)  # one object: every tile and the colour bar share it
    tile_width = FIRST_LAYER_TILE_INCHES
    tile_height = tile_width * image_shape[0] / image_shape[1]
    fig = InlineFigure(figsize=(columns * tile_width + 1.2, rows * tile_height + 0.4),
                 layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        if index < units:
            image = ax.imshow(weight[:, index].reshape(image_shape), cmap="RdBu_r",
                              norm=norm)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.axis("off")
    fig.colorbar(image, ax=axes, label="weight", shrink=0.9)
    fig.suptitle(f"first-layer weights ({units} of {weight.shape[1]} units)")
    if path is not None:
        _write(fig, path)
    return fig

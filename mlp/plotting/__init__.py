"""Pictures: training curves, fits, confusion matrices, first-layer weights, inline figures for
notebooks and the notebook's live display.

Every picture is drawn by matplotlib: a ``Figure`` built with the object API on an Agg canvas
(no pyplot state); only ``LivePlot`` opens a pyplot window, on an interactive backend, when a
user asks for one. ``curves_content`` decides what a run's curves show, ``curves`` draws them,
``figures`` draws the rest, ``notebook`` shows progress and curves in a kernel. The names
below come from ``mlp.plotting.figures`` when first used, so the modules here that need no
picture (the notebook's progress line) do not load matplotlib.

Modules:

- ``figures``: matplotlib figures: fit, first-layer weights, confusion matrix; ``LivePlot``
  (live curves: a window, a notebook picture or a file). This package re-exports its public
  names, the curves' included.
- ``curves``: a run's curves picture: ``curves_figure``, its PNG bytes (``curves_png``) and a
  run folder's ``curves.png`` (``save_curves``), drawn on an Agg canvas; a redraw keeps the axes.
- ``curves_content``: what the curves picture shows, decided once: panels, series, best epoch,
  log axes, legend words, margins.
- ``inline``: ``InlineFigure``: a matplotlib Figure that shows as a picture as a notebook cell's
  value.
- ``notebook``: in a Jupyter kernel: one progress display and one curves picture, each updated
  in place, throttled to a share of the wall time.

Tested by: ``tests/test_plotting.py`` (what each figure draws under Agg: axes, labels, scales,
data, marks; live plots; how PNGs are written), ``tests/test_curves.py`` (a run folder's
``curves.png``: its size and panels, drawn at the end of a run however it ends and at the save
cadence, never per epoch; a redraw into a kept figure gives the same pixels; a sweep's trials
draw theirs only when asked), ``tests/test_notebook_display.py`` (every helper's figure
through IPython's display formatter; the progress line and live curves),
``tests/test_notebooks.py`` (the shipped notebooks in a real kernel: one progress display and
one picture per training cell, each updated in place, at most 3 images left, under 20 KB of
streamed text), ``tests/test_architecture.py`` (no module of ``mlp`` imports Pillow).

May import: the base modules of ``mlp`` (including ``history``), ``mlp.storage``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LivePlot", "confusion_matrix", "curves_figure", "curves_png", "plain_log_axis",
           "plot_confusion_matrix", "plot_first_layer", "plot_fit", "save_curves"]

if TYPE_CHECKING:
    from mlp.plotting.figures import (
        LivePlot,
        confusion_matrix,
        curves_figure,
        curves_png,
        plain_log_axis,
        plot_confusion_matrix,
        plot_first_layer,
        plot_fit,
        save_curves,
    )


def __getattr__(name: str) -> Any:
    """The public names of ``mlp.plotting.figures``, imported when first asked for."""
    if name not in __all__:
        raise AttributeError(f"module 'mlp.plotting' has no attribute {name!r}")
    from mlp.plotting import figures
    return getattr(figures, name)

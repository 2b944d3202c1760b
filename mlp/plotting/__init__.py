"""Pictures: training curves, fits, confusion matrices, first-layer weights, inline figures for
notebooks and the notebook's live display.

Every picture is drawn by matplotlib: a ``Figure`` built with the object API on an Agg canvas
(no pyplot state); only ``LivePlot`` opens a pyplot window, on an interactive backend, when a
user asks for one. ``curves_content`` decides what a run's curves show, ``curves`` draws them,
``figures`` draws the rest, ``notebook`` shows progress and curves in a kernel. The names
below come from ``mlp.plotting.figures`` when first used, so the modules here that need no
picture (the notebook's progress line) do not load matplotlib.

May import: the base modules of ``mlp`` (including ``history``), ``mlp.storage``.
"""

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

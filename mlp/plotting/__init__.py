"""Pictures: training curves, fits, confusion matrices, first-layer weights, inline figures for
notebooks and the notebook's live display.

Every picture is a matplotlib ``Figure`` built with the object API (no pyplot state). The names
below come from ``mlp.plotting.figures`` when first used, so the modules here that need no
picture (the notebook's progress line) do not load matplotlib.

Modules:

- ``figures``: matplotlib figures: curves (live window, users' figures), fit, first-layer
  weights, confusion matrix; ``save_curves``. This package re-exports its public names.
- ``inline``: ``InlineFigure``: a matplotlib Figure that shows as a picture as a notebook cell's
  value.
- ``notebook``: in a Jupyter kernel: one progress display and one curves picture, each updated
  in place.
- ``curves_content``: what the curves picture shows, decided once for both renderers: panels,
  series, best epoch, log axes, legend words, margins.
- ``curves_png``: a run folder's ``curves.png`` drawn with Pillow in milliseconds, the same
  picture as ``curves_figure`` (about 10 ms where matplotlib took 130-250 ms).
- ``png_canvas``: drawing with Pillow for it: text in DejaVu Sans, lines, dashes, the star, the
  PNG's palette.

Tested by: ``tests/test_plotting.py`` (what each figure draws under Agg: axes, labels, scales,
data, marks), ``tests/test_curves_png.py`` (the Pillow PNG's size per panel count, each colour
where it is drawn and nowhere else, tick labels equal to matplotlib's, NaN and inf, one epoch
and 3000; no pyplot, figure or backend imported), ``tests/test_notebook_display.py`` (every
helper's figure through IPython's display formatter; the progress line and live curves),
``tests/test_notebooks.py`` (the shipped notebooks in a real kernel: one progress display and
one picture per training cell, each updated in place, at most 3 images left, under 20 KB of
streamed text).

May import: the base modules of ``mlp`` (including ``history``), ``mlp.storage``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LivePlot", "confusion_matrix", "curves_figure", "plain_log_axis",
           "plot_confusion_matrix", "plot_first_layer", "plot_fit", "save_curves"]

if TYPE_CHECKING:
    from mlp.plotting.figures import (
        LivePlot,
        confusion_matrix,
        curves_figure,
        plain_log_axis,
        plot_confusion_matrix,
        plot_first_layer,
        plot_fit,
        save_curves,
    )


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'mlp.plotting' has no attribute {name!r}")
    from mlp.plotting import figures
    return getattr(figures, name)

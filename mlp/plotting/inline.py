"""``InlineFigure``: the matplotlib Figure every plotting helper returns, which shows as a
picture when it is the last expression of a Jupyter cell.

The helpers build their figures without pyplot (nothing registered, nothing left open), so
IPython's figure formatter, which the inline backend installs only once pyplot is imported,
may not be there; IPython then looks for a ``_repr_png_`` method, and this class has one.
Where that formatter is installed it takes precedence (it is registered for ``Figure`` and so
matches this subclass), and the picture follows the user's inline settings. In a script
nothing changes: ``savefig`` and ``show`` are matplotlib's.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from mlp.plotting.curves_content import PNG_DPI


class InlineFigure(Figure):
    """A ``matplotlib.figure.Figure`` that IPython displays as a picture.

    The picture is a PNG of ``PNG_DPI`` dots per inch, cropped to what is drawn (as the
    inline backend crops). Constructed as ``Figure`` (``InlineFigure(figsize=(6, 4))``).

    Examples
    --------
    >>> fig = InlineFigure(figsize=(2, 2))
    >>> fig._repr_png_()[:4] == b"\\x89PNG"
    True
    """

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes, for IPython's display."""
        stream = io.BytesIO()
        self.savefig(stream, format="png", dpi=PNG_DPI, bbox_inches="tight")
        return stream.getvalue()

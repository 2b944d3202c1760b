"""A run's curves straight to PNG with Pillow: the picture of ``mlp.plotting.figures.curves_figure``
(panels, curves, marks and legends as ``mlp.plotting.curves_content`` decides them) in about ten
milliseconds, where building and saving the matplotlib Figure costs 150-300, most of it text
layout and tick artists. This is what writes a run folder's ``curves.png``.

Sizes follow matplotlib's defaults at ``PNG_DPI`` (10 pt text, 12 pt titles, 2 pt curves,
the same margins), tick positions come from ``matplotlib.ticker``'s locators and their labels
from its formatters (pure computations: neither pyplot nor a figure nor a backend is
imported). The inside of each axes is drawn at ``SUPERSAMPLE`` times the size and each block
of pixels averaged, which smooths the lines Pillow draws without anti-aliasing; frames and
ticks lie on whole pixels and need none, and text is drawn last at the output size (the
drawing itself is ``mlp.plotting.png_canvas``). The PNG is a palette image (``png_canvas.palette``),
which Pillow encodes several times faster than an RGB one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.ticker import AutoLocator, LogLocator, MaxNLocator, ScalarFormatter
from PIL import Image, ImageDraw

from mlp.history import History
from mlp.plotting.curves_content import (
    BEST_COLOR,
    CURVES_PANEL_SIZE,
    PNG_DPI,
    STOP_COLOR,
    Best,
    Panel,
    best,
    log_formatters,
    margins,
    panels,
    stop_label,
)
from mlp.plotting.png_canvas import (
    BLACK,
    CURVE_POINTS,
    DASHED,
    DOT_POINTS,
    DOTTED,
    GRID,
    LABEL_PAD_POINTS,
    LEGEND_EDGE,
    LEGEND_POINTS,
    MAJOR_TICK_POINTS,
    MARK_POINTS,
    MINOR_TICK_POINTS,
    PIXELS_PER_POINT,
    POINT,
    SPINE_POINTS,
    SUPERSAMPLE,
    TEXT_POINTS,
    TICK_PAD_POINTS,
    TITLE_PAD_POINTS,
    TITLE_POINTS,
    WHITE,
    Canvas,
    colour_rgb,
    dashes,
    dot,
    draw_star,
    line_width,
    palette,
    polyline,
    snap,
    text_size,
)
from mlp.storage import atomic

PNG_COMPRESS_LEVEL = 1
"""zlib level of the PNG: for three panels 1 takes 1.5 ms and writes 28 kB, 6 takes 4 ms for
18 kB (an RGB PNG would take 11 ms for 44 kB)."""
MARGIN = 0.05
"""Space left beyond the data on each side of an axis, as matplotlib's ``axes.margins``."""
LEGEND_FADE = [round(255 - 0.2 * (255 - v)) for v in range(256)] * 3
"""What shows through the legend's white face at matplotlib's ``framealpha=0.8``."""
LEGEND_LOCATIONS = ((1, 1), (0, 1), (0, 0), (1, 0), (1, 0.5), (0, 0.5), (0.5, 0), (0.5, 1),
                    (0.5, 0.5))
"""Legend anchors (fractions of the free space, from the left and from the bottom) in the
order matplotlib's ``loc="best"`` tries them; the first least covered one wins."""


def write_curves(history: History, path: str | Path, *, title: str | None = None,
                 stopped_early_at: int | None = None) -> Path:
    """Write ``render_curves(history, ...)`` at ``path`` atomically (``mlp.storage.atomic``: a
    temporary file beside it, created 0666 less the umask, fsynced and renamed; removed
    when anything fails), creating its folder; returns the path."""
    payload = render_curves(history, title=title, stopped_early_at=stopped_early_at)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_bytes(path, payload)


def render_curves(history: History, *, title: str | None = None,
                  stopped_early_at: int | None = None) -> bytes:
    """The PNG bytes of the curves picture: one 460 x 400 pixel panel (``CURVES_PANEL_SIZE``
    at ``PNG_DPI``) per ``curves_content.panels(history)``, the best epoch and
    ``stopped_early_at`` marked as ``curves_figure`` marks them, ``title`` at the top.
    Non-finite values are skipped; an empty history is a ValueError."""
    if not len(history):
        raise ValueError("the curves of an empty history cannot be drawn: it has no epoch")
    shown = panels(history)
    marked = best(history)
    panel_width, height = (round(side * PNG_DPI) for side in CURVES_PANEL_SIZE)
    canvas = Canvas(panel_width * len(shown), height)
    epochs = [*history.epoch, *([marked.epoch] if marked else []),
              *([stopped_early_at] if stopped_early_at is not None else [])]
    xlim = axis_view(min(epochs), max(epochs), log=False, integer=True)
    for index, (box, panel) in enumerate(zip(_boxes(len(shown), height, bool(title)), shown,
                                             strict=True)):
        _draw_panel(canvas, box, panel, xlim, marked, stopped_early_at, first=index == 0)
    if title:
        canvas.text(canvas.width / 2, 0.02 * height, title, TITLE_POINTS, "center", "top")
    stream = io.BytesIO()
    picture = canvas.finish().quantize(palette=palette(), dither=Image.Dither.NONE)
    picture.save(stream, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return stream.getvalue()


class _Box(NamedTuple):
    """An axes' place in the picture, in output pixels (right and bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int


def _boxes(count: int, height: int, titled: bool) -> list[_Box]:
    """The axes of ``count`` panels, placed by ``curves_content.margins`` as matplotlib's
    ``subplots_adjust`` places them."""
    width = round(CURVES_PANEL_SIZE[0] * PNG_DPI) * count
    at = margins(count, titled)
    span = (at["right"] - at["left"]) * width
    axes_width = span / (count + (count - 1) * at["wspace"])
    top, bottom = round((1 - at["top"]) * height), round((1 - at["bottom"]) * height)
    boxes = []
    for index in range(count):
        left = at["left"] * width + index * axes_width * (1 + at["wspace"])
        boxes.append(_Box(round(left), top, round(left + axes_width), bottom))
    return boxes


class AxisView(NamedTuple):
    """One axis' view: its ends (log10 of them on a log axis), whether it is logarithmic,
    and the ticks with their labels (minor ticks unlabelled unless the formatter says)."""

    low: float
    high: float
    log: bool
    major: list[tuple[float, str]]
    minor: list[tuple[float, str]]

    def fraction(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` fall between the low (0) and the high end (1)."""
        values = np.log10(values) if self.log else values
        return (values - self.low) / (self.high - self.low)


def axis_view(low: float, high: float, *, log: bool, integer: bool = False,
              fixed: tuple[float, float] | None = None) -> AxisView:
    """The view of data spanning ``low..high`` with ``MARGIN`` beyond each end (or exactly
    ``fixed``), and its ticks and labels, the ones matplotlib shows for the same data:
    ``MaxNLocator(integer=True)`` for epochs, ``AutoLocator`` and plain numbers on a linear
    axis, ``LogLocator`` and ``PlainLogFormatter`` on a log one. A single epoch gets a unit
    either side (matplotlib would tick it in fractions)."""
    if fixed is not None:
        low, high = fixed
    else:
        if log:
            low, high = math.log10(low), math.log10(high)
        if high - low <= 1e-12 * max(abs(low), abs(high), 1e-300):
            if integer:  # one epoch: a unit either side
                low, high = low - 1, high + 1
            else:  # a flat curve: 5% of its value either side, as matplotlib's nonsingular
                spread = 0.05 * abs(low) if low else 0.05
                low, high = low - spread, high + spread
        pad = MARGIN * (high - low)
        low, high = low - pad, high + pad
    if log:
        view = (10**low, 10**high)
        major_formatter, minor_formatter = log_formatters()
        ticks = (_labelled(LogLocator().tick_values(*view), view, major_formatter),
                 _labelled(LogLocator(subs="auto").tick_values(*view), view, minor_formatter))
        return AxisView(low, high, True, *ticks)
    locator = MaxNLocator(integer=True) if integer else AutoLocator()
    # useMathText given: left None, ScalarFormatter loads font_manager to look the font up
    formatter = ScalarFormatter(useOffset=False, useMathText=False)
    formatter.set_scientific(False)
    return AxisView(low, high, False, _labelled(locator.tick_values(low, high), (low, high),
                                               formatter), [])


def _labelled(locations: Sequence[float], view: tuple[float, float], formatter
              ) -> list[tuple[float, str]]:
    """The ``locations`` inside ``view`` with ``formatter``'s label of each."""
    low, high = view
    slack = 1e-9 * (high - low)
    inside = [float(x) for x in locations if low - slack <= x <= high + slack]
    formatter.create_dummy_axis()
    formatter.axis.set_view_interval(low, high)
    return list(zip(inside, formatter.format_ticks(inside), strict=True))


def _draw_panel(canvas: Canvas, box: _Box, panel: Panel, xlim: AxisView, marked: Best | None,
                stopped_early_at: int | None, first: bool) -> None:
    """One axes: its inside drawn at ``SUPERSAMPLE`` times the size (grid, curves, the
    best-epoch and early-stop lines, on the ``first``, the loss panel, the star too, and the
    legend, naming the star and the stop on the first), reduced into ``canvas``, then its
    frame, ticks, labels and title. Nothing needs clipping: the views leave ``MARGIN``
    beyond the data, wider than half a line or a marker."""
    values = np.concatenate([curve.values for curve in panel.curves] or [np.zeros(0)])
    ylim = (axis_view(float(values.min()), float(values.max()), log=panel.log, fixed=panel.ylim)
            if values.size else axis_view(0.0, 1.0, log=False, fixed=(0.0, 1.0)))
    width = (box.right - box.left) * SUPERSAMPLE
    height = (box.bottom - box.top) * SUPERSAMPLE
    plot = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(plot)

    def place(epochs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Points ``(N, 2)`` in drawing pixels."""
        return np.column_stack([xlim.fraction(epochs.astype(np.float64)) * width,
                                (1 - ylim.fraction(ys.astype(np.float64))) * height])

    line = line_width(SPINE_POINTS)
    for x, _ in xlim.major:
        column = snap(float(xlim.fraction(np.float64(x))) * width, line)
        draw.rectangle((column, 0, column + line - 1, height - 1), fill=GRID)
    for y, _ in ylim.major:
        row = snap((1 - float(ylim.fraction(np.float64(y)))) * height, line)
        draw.rectangle((0, row, width - 1, row + line - 1), fill=GRID)
    paths = []
    for curve in panel.curves:
        points = place(curve.epochs, curve.values)
        paths.append(points)
        polyline(draw, points, colour_rgb(curve.colour))
    marks = [(marked.epoch, BEST_COLOR, DOTTED)] if marked else []
    if stopped_early_at is not None:
        marks.append((stopped_early_at, STOP_COLOR, DASHED))
    mark_width = line_width(MARK_POINTS)
    for epoch, colour, pattern in marks:
        column = snap(float(xlim.fraction(np.float64(epoch))) * width, mark_width)
        dashes(plot, column, height, 0, mark_width, colour_rgb(colour), pattern, vertical=True)
        paths.append(np.array([[column, 0], [column, height]], dtype=np.float64))
    star = None
    if first and marked is not None:
        star = place(np.array([marked.epoch]), np.array([marked.value]))
        draw_star(draw, star[0])
    if panel.legend:
        entries = [(curve.label, curve.colour, "dot" if len(curve.values) == 1 else "line")
                   for curve in panel.curves]
        if first and marked is not None:
            entries.append((marked.label, BEST_COLOR, "star"))
        if first and stopped_early_at is not None:
            entries.append((stop_label(stopped_early_at), STOP_COLOR, "dashed"))
        vertices = np.concatenate([*paths[:len(panel.curves)],
                                   *([star] if star is not None else []), np.zeros((0, 2))])
        _legend(canvas, plot, box, entries, vertices, paths)
    canvas.image.paste(plot.reduce(SUPERSAMPLE), (box.left, box.top))
    _frame(canvas, box, xlim, ylim, panel.name)
    canvas.text((box.left + box.right) / 2, box.top - TITLE_PAD_POINTS * PIXELS_PER_POINT,
                panel.name, TITLE_POINTS, "center", "baseline")


def _frame(canvas: Canvas, box: _Box, xlim: AxisView, ylim: AxisView, name: str) -> None:
    """The spines just outside ``box``, outward ticks (on the grid lines' pixels) and their
    labels, and the axis labels (the y label turned, beside the widest tick label), in
    output pixels."""
    draw = canvas.draw
    line = line_width(SPINE_POINTS) // SUPERSAMPLE
    left, top, right, bottom = box
    draw.rectangle((left - line, top - line, right + line - 1, bottom + line - 1),
                   outline=BLACK, width=line)
    major = round(MAJOR_TICK_POINTS * PIXELS_PER_POINT)
    minor = round(MINOR_TICK_POINTS * PIXELS_PER_POINT)
    pad = TICK_PAD_POINTS * PIXELS_PER_POINT
    for x, label in xlim.major:
        column = left + snap(float(xlim.fraction(np.float64(x))) * (right - left) * SUPERSAMPLE,
                              line * SUPERSAMPLE) // SUPERSAMPLE
        draw.rectangle((column, bottom + line, column + line - 1, bottom + line + major - 1),
                       fill=BLACK)
        canvas.text(column + line / 2, bottom + line + major + pad, label, TEXT_POINTS,
                    "center", "top")
    label_width = 0.0
    for ticks, length in ((ylim.major, major), (ylim.minor, minor)):
        for y, label in ticks:
            row = top + snap((1 - float(ylim.fraction(np.float64(y)))) * (bottom - top)
                              * SUPERSAMPLE, line * SUPERSAMPLE) // SUPERSAMPLE
            draw.rectangle((left - line - length, row, left - line - 1, row + line - 1),
                           fill=BLACK)
            if label:
                canvas.text(left - line - major - pad, row + line / 2, label, TEXT_POINTS,
                            "right", "center")
                label_width = max(label_width, text_size(label, TEXT_POINTS)[0])
    _, text_height = text_size("0", TEXT_POINTS)
    label_pad = LABEL_PAD_POINTS * PIXELS_PER_POINT
    canvas.text((left + right) / 2, bottom + line + major + pad + text_height + label_pad,
                "epoch", TEXT_POINTS, "center", "top")
    canvas.text(left - line - major - pad - label_width - label_pad, (top + bottom) / 2, name,
                TEXT_POINTS, "right", "center", rotated=True)


def _legend(canvas: Canvas, plot: Image.Image, box: _Box, entries: list[tuple[str, str, str]],
            vertices: np.ndarray, paths: list[np.ndarray]) -> None:
    """Matplotlib's ``legend(fontsize="small")``: a faded white box with a grey edge, one
    row per entry (its handle, ``"line"``, ``"dot"``, ``"star"`` or ``"dashed"``, then its
    label), placed as ``loc="best"`` places it: at the first of ``LEGEND_LOCATIONS`` that
    covers the fewest ``vertices`` plus crossed ``paths``. The box and handles are drawn
    on ``plot``, the inside of ``box`` (drawing pixels), the labels on ``canvas``."""
    if not entries:
        return
    s = SUPERSAMPLE
    size = LEGEND_POINTS * POINT / s
    row = text_size("0", LEGEND_POINTS)[1]
    handle, border, spacing = 2.0 * size, 0.4 * size, 0.5 * size
    text_width = max(text_size(label, LEGEND_POINTS)[0] for label, _, _ in entries)
    width = 2 * border + handle + 0.8 * size + text_width
    height = 2 * border + len(entries) * row + (len(entries) - 1) * spacing
    axes_width, axes_height = box.right - box.left, box.bottom - box.top
    free_x, free_y = axes_width - width - size, axes_height - height - size
    candidates = np.array([(0.5 * size + across * free_x, 0.5 * size + (1 - up) * free_y)
                           for across, up in LEGEND_LOCATIONS])
    boxes = np.column_stack([candidates, candidates + (width, height)])
    badness = _inside(vertices / s, boxes).sum(axis=1)
    for path in paths:
        badness += _crosses(path / s, boxes)
    left, top = candidates[int(np.argmin(badness))]  # the first of the least covered
    corners = tuple(round(v * s) for v in (left, top, left + width, top + height))
    plot.paste(plot.crop(corners).point(LEGEND_FADE), corners[:2])
    draw = ImageDraw.Draw(plot)
    draw.rounded_rectangle(corners, radius=round(0.2 * size * s), outline=LEGEND_EDGE,
                           width=line_width(SPINE_POINTS))
    curve_width, mark_width = line_width(CURVE_POINTS), line_width(MARK_POINTS)
    for index, (label, colour, kind) in enumerate(entries):
        middle = top + border + index * (row + spacing) + row / 2
        start, end = (left + border) * s, (left + border + handle) * s
        rgb = colour_rgb(colour)
        if kind in ("line", "dot"):
            y = snap(middle * s, curve_width)
            draw.rectangle((start, y, end, y + curve_width - 1), fill=rgb)
        if kind == "dot":
            dot(draw, ((start + end) / 2, middle * s), DOT_POINTS * POINT / 2, rgb)
        elif kind == "star":
            draw_star(draw, np.array([(start + end) / 2, middle * s]))
        elif kind == "dashed":
            y = snap(middle * s, mark_width)
            dashes(plot, y, start, end, mark_width, rgb, DASHED, vertical=False)
        canvas.text(box.left + left + border + handle + 0.8 * size, box.top + middle, label,
                    LEGEND_POINTS, "left", "center")


def _crosses(path: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which ``boxes`` ``(B, 4)`` the polyline ``path`` ``(N, 2)`` passes through, as
    ``(B,)``: a segment does where the stretches of it inside the box's x and y ranges
    overlap (Liang-Barsky clipping)."""
    if len(path) == 1:
        return _inside(path, boxes).any(axis=1)
    start, delta = path[None, :-1], np.diff(path, axis=0)[None]
    enter = np.zeros((len(boxes), len(path) - 1))
    leave = np.ones_like(enter)
    for axis in (0, 1):
        low, high = boxes[:, axis, None], boxes[:, axis + 2, None]
        origin, step = start[..., axis], delta[..., axis]
        within = (origin >= low) & (origin <= high)
        with np.errstate(divide="ignore", invalid="ignore"):
            first, second = (low - origin) / step, (high - origin) / step
        flat = step == 0  # parallel to this axis: inside its range throughout, or never
        enter = np.maximum(enter, np.where(flat, np.where(within, -np.inf, np.inf),
                                           np.minimum(first, second)))
        leave = np.minimum(leave, np.where(flat, np.where(within, np.inf, -np.inf),
                                           np.maximum(first, second)))
    return (enter <= leave).any(axis=1)


def _inside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which ``points`` ``(N, 2)`` lie in which ``boxes`` ``(B, 4)``, as ``(B, N)``."""
    x, y = points[None, :, 0], points[None, :, 1]
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

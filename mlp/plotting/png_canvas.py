"""Drawing on a Pillow picture for ``curves_png``: text in matplotlib's DejaVu Sans (each
size loaded once per process, each text rendered once and kept), lines, dots, dashes and the
best-epoch star at ``SUPERSAMPLE`` times the output size (reduced afterwards, which
anti-aliases them), and the palette the PNG is encoded with. Sizes are matplotlib's defaults
in points at ``PNG_DPI``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image, ImageDraw, ImageFont

from mlp.plotting.curves_content import (
    BEST_COLOR,
    LR_COLOR,
    PNG_DPI,
    STOP_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
)

SUPERSAMPLE = 2
"""The picture is drawn at this many times its size, then reduced (anti-aliasing)."""
FONT_FILE = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
PIXELS_PER_POINT = PNG_DPI / 72
"""Output pixels per typographic point."""
POINT = PIXELS_PER_POINT * SUPERSAMPLE
"""Drawing pixels (inside the axes, drawn at ``SUPERSAMPLE`` times the size) per point."""
TEXT_POINTS, TITLE_POINTS, LEGEND_POINTS = 10.0, 12.0, 10.0 * 0.833
"""Matplotlib's sizes: tick labels and axis labels, titles, ``fontsize="small"`` legends."""
CURVE_POINTS, MARK_POINTS, SPINE_POINTS = 2.0, 1.5, 0.8
"""Line widths: the curves, the best-epoch and early-stop lines, axes frames and ticks."""
MAJOR_TICK_POINTS, MINOR_TICK_POINTS, TICK_PAD_POINTS, LABEL_PAD_POINTS = 3.5, 2.0, 3.5, 4.0
TITLE_PAD_POINTS = 6.0
DOT_POINTS, STAR_POINTS = 6.0, 14.0
"""Marker sizes: the dot of a one-epoch curve and the best-epoch star."""
DOTTED, DASHED = (1.0, 1.65), (3.7, 1.6)
"""On and off lengths, in line widths, of ``":"`` and ``"--"`` lines."""
ROUND_JOIN_DEGREES = 20.0
"""A curve's vertex gets a round join (matplotlib's) where it turns by more than this; the
notch a plain join leaves at a gentler turn is under a drawing pixel."""
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
GRID = (231, 231, 231)
"""``ax.grid(alpha=0.3)``: matplotlib's grey #b0b0b0 at 30% over white."""
LEGEND_EDGE = (214, 214, 214)


@functools.cache
def load_font(points: float) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``points``, in output pixels, loaded once per process."""
    return ImageFont.truetype(str(FONT_FILE), points * PNG_DPI / 72)


@functools.lru_cache(maxsize=512)
def text_mask(text: str, points: float, rotated: bool) -> tuple[Image.Image, int, int, float]:
    """``text`` rendered once as a mask (turned a quarter counter-clockwise when
    ``rotated``), its ink's offset from the pen's left end on the baseline, and its
    advance."""
    font = load_font(points)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font, anchor="ls")
    if rotated:
        mask = mask.transpose(Image.Transpose.ROTATE_90)
    return mask, left, top, font.getlength(text)


def text_size(text: str, points: float) -> tuple[float, float]:
    """The advance and the font's line height (ascent and descent) of ``text``."""
    ascent, descent = load_font(points).getmetrics()
    return text_mask(text, points, False)[3], ascent + descent


@functools.cache
def colour_rgb(colour: str) -> tuple[int, int, int]:
    red, green, blue = to_rgb(colour)
    return round(red * 255), round(green * 255), round(blue * 255)


@functools.cache
def palette() -> Image.Image:
    """The PNG's colours: white, the grid's and the legend edge's greys, a ramp from black
    to nearly white, ramps from nearly white to each colour of the picture, and from the
    best-epoch green to black (the star's edge): anti-aliasing blends a colour with what is
    behind it, white mostly. Mapping onto them and encoding take a quarter of the time of
    encoding an RGB picture.

    Pillow maps a colour to the entry nearest to it with the two low bits of each channel
    cleared, so no entry other than white lies near (252, 252, 252): the lightest blends
    become white, and white stays white."""
    colours = [WHITE, GRID, LEGEND_EDGE]
    colours += [(level, level, level) for level in np.linspace(0, 246, 48).round().astype(int)]
    for colour in (TRAIN_COLOR, VAL_COLOR, LR_COLOR, BEST_COLOR, STOP_COLOR):
        colours += [tuple(round(255 + (v - 255) * share) for v in colour_rgb(colour))
                    for share in np.linspace(0.12, 1.0, 36)]
    colours += [tuple(round(v * share) for v in colour_rgb(BEST_COLOR))
                for share in np.linspace(0.1, 0.9, 8)]
    palette = Image.new("P", (1, 1))
    palette.putpalette([int(v) for colour in dict.fromkeys(colours) for v in colour])
    return palette


def line_width(points: float) -> int:
    """A line width in drawing pixels, at least one output pixel, in whole output pixels so
    that it stays one solid colour after the reduction."""
    return max(1, round(points * POINT / SUPERSAMPLE)) * SUPERSAMPLE


class Canvas:
    """The picture being drawn, in output pixels: the frames and ticks, which lie on whole
    pixels, drawn on it directly, each axes' inside pasted in (drawn at ``SUPERSAMPLE``
    times the size and reduced: the curves, marks and legend), and the text queued and
    drawn last, on top (the font is anti-aliased already)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.image = Image.new("RGB", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self._texts: list[tuple[float, float, str, float, str, str, bool]] = []

    def text(self, x: float, y: float, text: str, points: float, across: str, down: str,
             rotated: bool = False) -> None:
        """Black ``text`` placed by its pen: ``across`` "left", "center" or "right" of
        ``x``; ``down`` "top", "center", "baseline" of ``y`` (the font's ascent and descent,
        not the ink, so that a row of labels lines up). Rotated text is placed by its ink:
        centred on ``y``, its right side at ``x``."""
        self._texts.append((x, y, text, points, across, down, rotated))

    def finish(self) -> Image.Image:
        """The output picture, the text drawn."""
        image = self.image
        for x, y, text, points, across, down, rotated in self._texts:
            mask, left, top, advance = text_mask(text, points, rotated)
            if rotated:
                corner = (round(x) - mask.width, round(y - mask.height / 2))
            else:
                ascent, descent = load_font(points).getmetrics()
                pen = x - {"left": 0, "center": advance / 2, "right": advance}[across]
                baseline = y + {"top": ascent, "center": (ascent - descent) / 2,
                                "baseline": 0}[down]
                corner = (round(pen + left), round(baseline + top))
            image.paste(BLACK, (*corner, corner[0] + mask.width, corner[1] + mask.height),
                        mask)
        return image


def snap(position: float, width: int) -> int:
    """The first drawing column (or row) of a line ``width`` wide centred near
    ``position``, on an output pixel's edge."""
    return round((position - width / 2) / SUPERSAMPLE) * SUPERSAMPLE


def polyline(draw: ImageDraw.ImageDraw, points: np.ndarray, colour: tuple[int, int, int]
              ) -> None:
    """A curve ``CURVE_POINTS`` wide, or a dot for a single point. Vertices closer than half
    a line width along the curve are merged first (a 3000-epoch curve is a few hundred
    visible segments), and only the vertices where the curve turns by more than
    ``ROUND_JOIN_DEGREES`` get a round join: Pillow's own joins cost a Python loop per
    vertex."""
    width = CURVE_POINTS * POINT
    if len(points) == 1:
        dot(draw, points[0], DOT_POINTS * POINT / 2, colour)
        return
    length = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    bucket = np.floor(length / (width / 2))
    keep = np.concatenate([[True], bucket[1:] != bucket[:-1]])
    keep[-1] = True
    points = points[keep]
    draw.line(points.ravel().tolist(), fill=colour, width=round(width))
    if len(points) > 2:
        heading = np.arctan2(*np.diff(points, axis=0).T[::-1])
        turn = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
        for x, y in points[1:-1][turn > np.radians(ROUND_JOIN_DEGREES)]:
            dot(draw, (x, y), width / 2, colour)


def dot(draw: ImageDraw.ImageDraw, centre: Sequence[float], radius: float,
         colour: tuple[int, int, int]) -> None:
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)


def dashes(plot: Image.Image, across: int, start: float, end: float, width: int,
            colour: tuple[int, int, int], pattern: tuple[float, float], vertical: bool
            ) -> None:
    """A line ``width`` wide from its first column (vertical) or row ``across``, running from
    ``start`` towards ``end`` (drawing pixels), as dashes of ``pattern`` line widths rounded
    to whole output pixels, so that each dash stays one solid colour; a dash first."""
    origin = round(start / SUPERSAMPLE) * SUPERSAMPLE
    length = round(abs(end - origin))
    mask = dash_mask(length, width, pattern, vertical, end < start)
    low = origin if end >= start else origin - length
    plot.paste(colour, (across, low) if vertical else (low, across), mask)


@functools.lru_cache(maxsize=64)
def dash_mask(length: int, width: int, pattern: tuple[float, float], vertical: bool,
               backwards: bool) -> Image.Image:
    """The dashes of ``dashes`` as a mask, made once per length and pattern."""
    on, off = (max(1, round(part * MARK_POINTS * POINT / SUPERSAMPLE)) * SUPERSAMPLE
               for part in pattern)
    lit = np.zeros(length, dtype=np.uint8)
    for offset in range(0, length, on + off):
        lit[offset:offset + on] = 255
    lit = lit[::-1] if backwards else lit
    block = np.repeat(lit[:, None], width, axis=1) if vertical else np.repeat(
        lit[None, :], width, axis=0)
    return Image.fromarray(np.ascontiguousarray(block), mode="L")


def draw_star(draw: ImageDraw.ImageDraw, centre: np.ndarray) -> None:
    """The best-epoch star: matplotlib's ``"*"`` marker, green with a black edge."""
    outer = STAR_POINTS * POINT / 2
    radii = np.tile([outer, outer * 0.381966], 5)
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    corners = np.column_stack([centre[0] + radii * np.cos(angles),
                               centre[1] - radii * np.sin(angles)])
    draw.polygon(corners.ravel().tolist(), fill=colour_rgb(BEST_COLOR), outline=BLACK,
                 width=max(1, round(POINT)))

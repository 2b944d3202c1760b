"""How the library's objects show themselves: a few lines of text, and a small HTML table.

Every object a user displays (``Model``, ``History``, ``Checkpoint``, ``TrainingConfig``,
``Data``, a sweep's results) has a ``__repr__`` of at most a few lines and, where a table
reads better, a ``_repr_html_`` that Jupyter shows instead. Both are built from what the
object knows (counts, shapes, names, a few numbers), never from an array's contents, so a
display stays short whatever the size of the run. The HTML is one ``<table>`` with every
cell escaped and no stylesheet, so it reads the same in any notebook front end.

What each shows: a ``Model`` its widths, modules and parameter count (``print(model)`` gives the
full summary table); a ``History`` its number of epochs and the numbers of its best and last
epochs (``history.to_frame()`` gives every epoch as a pandas DataFrame, ``history.to_dict()`` as
plain lists); a loaded ``Checkpoint`` its path, model, epoch and best epoch; a
``BasicRoutinizer`` or ``TrainingConfig`` only the settings that differ from the defaults; a
``Data`` its task, classes, features, split sizes and normaliser; a sweep's ``results`` its best
configurations.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

#: the widest line of a text display
WIDTH = 100
#: the most rows an HTML table shows (the rest are counted in a last row)
MAX_ROWS = 40


def number(value: Any, digits: int = 5) -> str:
    """``value`` for a display.

    Floats to ``digits`` significant digits, None as an empty string, anything else as
    ``str`` (counts are given as ``f"{n:,}"`` by their callers).

    Parameters
    ----------
    value : Any
        The value shown.
    digits : int
        Significant digits of a float.

    Returns
    -------
    str

    Examples
    --------
    >>> from mlp.display import number
    >>> number(2 / 3), number(None), number(7)
    ('0.66667', '', '7')
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def wrapped(text: str, indent: str = "  ", lines: int = 3) -> str:
    """``text`` wrapped to ``WIDTH`` characters under ``indent``, cut to ``lines`` lines.

    The last line ends in `` ...`` when something was left out.

    Parameters
    ----------
    text : str
        The text.
    indent : str
        The prefix of every line.
    lines : int
        The most lines kept.

    Returns
    -------
    str
    """
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                                   max_lines=lines, placeholder=" ..."))


def text_table(header: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "  ") -> str:
    """``rows`` as aligned text columns under ``header``.

    Cells go through ``number``; text is left-aligned, numbers right-aligned.

    Parameters
    ----------
    header : sequence of str
        The column names.
    rows : iterable of sequence
        The rows.
    indent : str
        The prefix of every line.

    Returns
    -------
    str
    """
    cells = [list(header)] + [[number(value) for value in row] for row in rows]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(header))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(indent + "  ".join(
        cell.rjust(width) if right else cell.ljust(width)
        for cell, width, right in zip(row, widths, numeric, strict=True)).rstrip()
        for row in cells)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "",
               note: str = "") -> str:
    """``rows`` as an HTML table under ``header``, with a ``caption`` above and a ``note`` below.

    Plain text; every cell is escaped; numbers right-aligned. At most ``MAX_ROWS`` rows are
    shown, and the others counted.

    Parameters
    ----------
    header : sequence of str
        The column names (none: no header row).
    rows : sequence of sequence
        The rows.
    caption : str
        The text above.
    note : str
        The text below.

    Returns
    -------
    str
    """
    shown = [[number(value) for value in row] for row in rows[:MAX_ROWS]]
    columns = max((len(row) for row in shown), default=len(header))
    numeric = [bool(header) and all(_is_number(row[i]) for row in shown)
               for i in range(columns)]
    parts = ["<table>"]
    if caption:
        parts.append(f'<caption style="text-align:left">{html.escape(caption)}</caption>')
    if header:
        parts.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                     + "</tr>")
    for row in shown:
        parts.append("<tr>" + "".join(
            f'<td style="text-align:{"right" if right else "left"}">{html.escape(cell)}</td>'
            for cell, right in zip(row, numeric, strict=True)) + "</tr>")
    if len(rows) > len(shown):
        note = f"... {len(rows) - len(shown)} more row(s)" + (f"; {note}" if note else "")
    if note:
        parts.append(f'<tr><td colspan="{max(columns, 1)}" style="text-align:left">'
                     f"<small>{html.escape(note)}</small></td></tr>")
    parts.append("</table>")
    return "\n".join(parts)


def html_fields(pairs: Sequence[tuple[str, Any]], caption: str = "", note: str = "") -> str:
    """``(name, value)`` pairs as a two-column HTML table, left-aligned.

    ``html_table`` without a header.

    Parameters
    ----------
    pairs : sequence of tuple of (str, Any)
        The fields.
    caption, note : str
        As ``html_table`` shows them.

    Returns
    -------
    str
    """
    return html_table((), [(name, value) for name, value in pairs], caption, note)


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is one.

    Parameters
    ----------
    count : int
        The count, written with thousands separators.
    noun : str
        The singular noun.

    Returns
    -------
    str

    Examples
    --------
    >>> from mlp.display import plural
    >>> plural(1, "module"), plural(1234, "epoch"), plural(10, "class")
    ('1 module', '1,234 epochs', '10 classes')
    """
    suffix = "" if count == 1 else "es" if noun.endswith("s") else "s"
    return f"{count:,} {noun}{suffix}"


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return text == ""
    return True

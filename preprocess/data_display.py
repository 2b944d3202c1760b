"""How a ``Data`` shows itself: its task, splits, shapes and normaliser, never its values.

``describe(data)`` is the one line of ``repr(data)`` and ``html(data)`` the table a notebook
shows (a row per split with the shapes and dtypes of its arrays).
"""

from __future__ import annotations

from typing import Any

from mlp import display

SPLITS = ("train", "val", "test")


def _shape(array: Any) -> str:
    return "" if array is None else f"{tuple(array.shape)} {array.dtype}"


def _task(data: Any) -> str:
    if data.task == "classification":
        return f"classification, {display.plural(data.n_classes, 'class')}"
    return f"regression, {display.plural(data.n_outputs, 'output')}"


def _inputs(data: Any) -> str:
    text = display.plural(data.n_features, "feature")
    if data.image_shape is not None:
        text += f" (images {data.image_shape[0]}x{data.image_shape[1]})"
    method = None if data.normalizer is None else data.normalizer.method
    return text + (", raw" if method is None else f", normalised ({method})")


def _extras(data: Any) -> list[str]:
    extras = []
    if data.n_original_train is not None:
        extras.append(f"train holds {data.n_original_train:,} samples and their shifted "
                      "copies")
    weighted = [s for s in ("train", "val") if getattr(data, f"w_{s}") is not None]
    if weighted:
        extras.append(f"sample weights in {', '.join(weighted)}")
    if data.disk is not None:
        extras.append(f"train read in place from {data.disk.path}")
    return extras


def describe(data: Any) -> str:
    """One line about a Data: the task, the inputs, the size of each split and what else holds.

    Parameters
    ----------
    data : Data
        The Data whose ``__repr__`` this is.

    Returns
    -------
    str
        One line.
    """
    sizes = ", ".join(f"{split} {getattr(data, f'X_{split}').shape[0]:,}" for split in SPLITS
                      if getattr(data, f"X_{split}") is not None)
    return "; ".join([f"Data({_task(data)}", _inputs(data), sizes, *_extras(data)]) + ")"


def html(data: Any) -> str:
    """A Data as an HTML table, for notebooks.

    A row per split (samples, ``X``, ``y`` and weights: shape and dtype) under the task and
    the inputs.

    Parameters
    ----------
    data : Data
        The Data whose ``_repr_html_`` this is.

    Returns
    -------
    str
        A ``<table>`` element.
    """
    rows = [(split, f"{getattr(data, f'X_{split}').shape[0]:,}",
             _shape(getattr(data, f"X_{split}")), _shape(getattr(data, f"y_{split}")),
             _shape(getattr(data, f"w_{split}", None)))
            for split in SPLITS if getattr(data, f"X_{split}") is not None]
    return display.html_table(("split", "samples", "X", "y", "weights"), rows,
                              caption=f"Data: {_task(data)}; {_inputs(data)}",
                              note="; ".join(_extras(data)))

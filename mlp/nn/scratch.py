"""Work state of the validated objects: reusable arrays, and the one way to reach private
Pydantic state on the training hot path.

Pydantic keeps private attributes (``PrivateAttr``) in the dict ``__pydantic_private__`` and
routes each read of ``self._name`` through a Python-level ``__getattr__``, which costs about
a microsecond: tens of reads per batch add up on small networks. ``private(obj)`` returns
that dict, so a module reads ``private(self)["_input"]``; this function is the only place
that knows where Pydantic keeps it.

Work state is not part of an object's value: ``same_fields`` compares two models by their
fields alone (arrays bit for bit), the equality of the modules, the loss and the normaliser.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from pydantic import BaseModel


def private(obj: BaseModel) -> dict[str, Any]:
    """The private attributes of ``obj`` by name (``"_input"``), read and written directly.

    Parameters
    ----------
    obj : pydantic.BaseModel
        A model that declares private attributes.

    Returns
    -------
    dict of str to Any
        Its ``__pydantic_private__``, the dict itself.
    """
    # typed Optional, but a dict on every model that declares private attributes
    return obj.__pydantic_private__  # type: ignore[return-value]


class Buffers:
    """Arrays kept across calls, one per ``(name, shape, dtype)``.

    So a training step writes into the memory of the previous one; at most ``limit`` are
    kept (the oldest set is dropped when batch shapes keep changing).

    Parameters
    ----------
    limit : int
        The number of arrays kept.
    """

    __slots__ = ("arrays", "limit")

    def __init__(self, limit: int = 32) -> None:
        self.arrays: dict[tuple[Hashable, tuple[int, ...], DTypeLike], np.ndarray] = {}
        self.limit = limit

    def get(self, name: Hashable, shape: tuple[int, ...], dtype: DTypeLike,
            fill: Callable[[np.ndarray], object] | None = None) -> np.ndarray:
        """The work array ``name`` of ``shape`` and ``dtype``.

        Its contents are uninitialised, or filled once by ``fill(array)`` when it is made (a
        constant the caller keeps).

        Parameters
        ----------
        name : Hashable
            The array's name.
        shape : tuple of int
            Its shape.
        dtype : numpy.dtype or type
            Its dtype.
        fill : callable, optional
            Called with the array when it is made.

        Returns
        -------
        numpy.ndarray
        """
        key = (name, shape, dtype)
        array = self.arrays.get(key)
        if array is None:
            if len(self.arrays) >= self.limit:
                self.arrays.clear()
            array = self.arrays[key] = np.empty(shape, dtype=dtype)
            if fill is not None:
                fill(array)
        return array

    def clear(self) -> None:
        """Drop every array kept."""
        self.arrays.clear()


def same_fields(a: BaseModel, b: BaseModel) -> bool:
    """Whether two models of one class have equal fields, arrays compared bit for bit.

    Shape, dtype and bytes: the equality of models whose private state is work memory.

    Parameters
    ----------
    a, b : pydantic.BaseModel
        Two models of one class.

    Returns
    -------
    bool
    """
    for name in type(a).model_fields:
        mine, theirs = getattr(a, name), getattr(b, name)
        if isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray):
            if not (isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray)
                    and mine.shape == theirs.shape and mine.dtype == theirs.dtype
                    and mine.tobytes() == theirs.tobytes()):
                return False
        elif mine != theirs:
            return False
    return True

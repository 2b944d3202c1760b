"""A validated NumPy array field for Pydantic models.

``Array(ndim)`` is an annotated ``numpy.ndarray`` type: lists and tuples are converted to
float64 arrays, arrays must already have a floating dtype, and the number of dimensions is
checked. Array fields are numbers, not architecture: declare them with :func:`array_field`,
which excludes them from ``model_dump``/``model_dump_json`` and from ``repr``.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


class _NDArray:
    """Pydantic metadata validating a floating ``numpy.ndarray`` of ``ndim`` dimensions."""

    def __init__(self, ndim: int | None) -> None:
        self.ndim = ndim

    def validate(self, value: Any) -> np.ndarray:
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise ValueError("expected a list of numbers (nested as deep as the array's "
                                 f"dimensions, each level of one length), found {exc}") \
                    from None
        if not isinstance(value, np.ndarray):
            raise ValueError(f"expected a numpy array or a list, found {type(value).__name__}")
        if value.dtype.kind != "f":
            raise ValueError(f"expected a floating dtype, found {value.dtype}")
        if self.ndim is not None and value.ndim != self.ndim:
            raise ValueError(f"expected {self.ndim} dimension(s), found {value.ndim}")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda a: a.tolist(), when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "array", "description": f"{self.ndim}-D floating array"}


def Array(ndim: int | None = None) -> Any:  # noqa: N802 (reads as a type)
    """The annotated array type with ``ndim`` dimensions (any when None).

    Parameters
    ----------
    ndim : int, optional
        The number of dimensions a value must have.

    Returns
    -------
    type
        ``Annotated[numpy.ndarray, ...]`` for a Pydantic field.
    """
    return Annotated[np.ndarray, _NDArray(ndim)]


Array1 = Array(1)
Array2 = Array(2)


_FINITE_BLOCK = 1 << 18  #: elements per block of all_finite: a 256 KiB boolean scratch


def all_finite(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is finite (integers and booleans always are).

    Checked in blocks of rows into one small scratch array, so validating a large data set
    needs no boolean temporary of the data's size (``np.isfinite(X).all()`` needs one).

    Parameters
    ----------
    array : numpy.ndarray
        The array checked.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.arrays import all_finite
    >>> all_finite(np.array([1.0, np.inf])), all_finite(np.arange(3))
    (False, True)
    """
    if array.dtype.kind in "iub":
        return True
    if array.ndim == 0 or array.size == 0:
        return bool(np.isfinite(array).all())
    rows = max(1, _FINITE_BLOCK // max(1, array[0].size))
    scratch = np.empty((min(rows, array.shape[0]), *array.shape[1:]), dtype=np.bool_)
    for start in range(0, array.shape[0], rows):
        block = array[start:start + rows]
        flags = scratch[:block.shape[0]]
        np.isfinite(block, out=flags)
        if not flags.all():
            return False
    return True


def array_field(description: str | None = None) -> Any:
    """A ``Field`` for an optional array: default None, excluded from dumps and repr.

    Parameters
    ----------
    description : str, optional
        What the array holds and its shape (the field's description in the JSON Schema).

    Returns
    -------
    pydantic.fields.FieldInfo
        The field to assign in a model's class body.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> from mlp.arrays import Array1, array_field
    >>> class Scale(BaseModel):
    ...     factor: Array1 | None = array_field("the factor of each feature, (D,)")
    >>> Scale(factor=[1.0, 2.0]).model_dump()
    {}
    """
    return Field(default=None, exclude=True, repr=False, description=description)

"""``Documented``: a Pydantic model whose docstring lists its fields as numpydoc Parameters.

A field's description is written once, beside the field (``Field(description=...)``): the
JSON Schema (``mlp schema``) shows it under the field, and ``Documented`` appends it to the
class docstring as a ``Parameters`` section (type and default from the field), so ``help()``,
the API reference and numpydoc see every constructor argument. The JSON Schema's description
of the model is the prose of its docstring as written, before any section (the fields carry
their own descriptions, and examples belong to the API reference).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

#: the numpydoc sections that come after Parameters; the generated section goes before them
_LATER_SECTIONS = ("Returns", "Yields", "Raises", "Warns", "See Also", "Notes", "References",
                   "Examples", "Attributes", "Methods")


def _first_section(lines: list[str], names: tuple[str, ...]) -> int | None:
    """The index of the first line that is one of the section headings ``names`` (a
    heading is underlined with dashes on the next line), or None."""
    for index, line in enumerate(lines[:-1]):
        underline = lines[index + 1].strip()
        if line.strip() in names and underline and set(underline) == {"-"}:
            return index
    return None


def _prose(doc: str) -> str:
    """The summary and paragraphs of a docstring, before its first section."""
    lines = doc.splitlines()
    end = _first_section(lines, ("Parameters", "Other Parameters", *_LATER_SECTIONS))
    return "\n".join(lines[:end]).rstrip()


def _schema_description(schema: dict[str, Any], cls: type[Any]) -> None:
    """The JSON Schema's description of a model: the prose of its docstring as written."""
    prose = _prose(getattr(cls, "_written_doc", None) or "")
    if prose:
        schema["description"] = prose
    else:
        schema.pop("description", None)


class Documented(BaseModel):
    """A model whose docstring gains a ``Parameters`` section written from its fields."""

    model_config = ConfigDict(json_schema_extra=_schema_description)

    #: the class docstring as written, before the Parameters section was added
    _written_doc: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        written = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
        cls._written_doc = written
        cls.__doc__ = with_parameters(written, parameters_section(cls))


def with_parameters(doc: str, section: str) -> str:
    """A docstring with a section inserted where numpydoc puts Parameters.

    Parameters
    ----------
    doc : str
        A docstring, cleaned (``inspect.cleandoc``).
    section : str
        The section's text, heading and underline included.

    Returns
    -------
    str
        ``doc`` with ``section`` before its first section that follows Parameters
        (Returns, Raises, Notes, Examples, ...), or at its end.
    """
    lines = doc.splitlines()
    index = _first_section(lines, _LATER_SECTIONS)
    if index is not None:
        return "\n".join([*lines[:index], section, "", *lines[index:]])
    return f"{doc}\n\n{section}" if doc else section


def parameters_section(cls: type[BaseModel]) -> str:
    """The numpydoc ``Parameters`` section of a model's fields.

    Parameters
    ----------
    cls : type of BaseModel
        The model.

    Returns
    -------
    str
        One entry per field: its name, type and default, and its description indented
        under it.
    """
    lines = ["Parameters", "----------"]
    for name, info in cls.model_fields.items():
        lines.append(f"{name} : {type_name(info.annotation)}{_default(info)}")
        lines.append(f"    {info.description or ''}".rstrip())
    return "\n".join(lines)


def _default(info: FieldInfo) -> str:
    """``, default VALUE``, or nothing for a required field (a model default as its JSON)."""
    if info.is_required():
        return ""
    value = info.get_default(call_default_factory=True)
    shown = value.model_dump_json() if isinstance(value, BaseModel) else repr(value)
    return f", default ``{shown}``"


def type_name(annotation: Any) -> str:
    """A field type as numpydoc writes it.

    Parameters
    ----------
    annotation : Any
        A field's annotation (``FieldInfo.annotation``).

    Returns
    -------
    str

    Examples
    --------
    >>> from typing import Literal
    >>> type_name(int | None), type_name(Literal["a", "b"]), type_name(list[int])
    ('int or None', "{'a', 'b'}", 'list[int]')
    """
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "{" + ", ".join(repr(value) for value in typing.get_args(annotation)) + "}"
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))

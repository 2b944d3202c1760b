"""Registries: the one place where the names in files meet the classes that run.

A spec, a run config or a checkpoint names a module by its ``type``, a loss by its ``kind``
and an update rule by its ``optimizer`` name. Each of those names is looked up in a
``Registry``; the lists of names that validation, the JSON Schema and the command line show
are the registry's own (``Registry.names()``), so adding a class adds its name everywhere.

A class is registered in one of three ways, and a file can trigger none of them:

1. by defining it with its name as a class keyword (``class Swish(Module, type="swish")``,
   ``class Huber(Loss, kind="huber")``) or, for an update rule, ``register_update_rule(...)``,
   in code that runs before the file is read;
2. by an installed package, through an entry point in the group ``mlp.modules``,
   ``mlp.losses`` or ``mlp.optimizers`` (each entry point names a Python module, which is
   imported when the registry is first asked for a name it does not know);
3. on the command line, ``--plugin MODULE`` (a module name or a ``.py`` file), imported
   before the config is read.

A name that is not registered is an error naming it, the names that are, and those three
ways (``UnknownName``, a ``ValueError``, so Pydantic reports it as a ``ValidationError``).
Two different classes under one name is ``RegistryError`` when the second is defined; a
class defined again under its own name (the same module and qualified name: a reloaded
module, a notebook cell run twice) replaces the first.

``--plugin`` may be repeated and is also read from ``$MLP_PLUGINS`` (names separated by
``:``); ``mlp sweep`` passes the plugins on to its worker processes. On the command line, a file
naming an unregistered type is refused in one line with exit status 2.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from mlp.errors import MLPError

log = logging.getLogger("mlp")

T = TypeVar("T")


class RegistryError(MLPError, TypeError):
    """Two different classes registered under one name, or a name that is not a name."""


class UnknownName(MLPError, ValueError):
    """A file or call named something no registry knows (the message says how to register)."""


class PluginError(MLPError, ImportError):
    """A ``--plugin`` module that cannot be found or fails while it is imported."""


class Registry(Generic[T]):
    """Named entries of one kind (``what``: "module type"), found under the entry-point
    ``group``; ``how`` is the phrase that shows how code registers one."""

    def __init__(self, what: str, group: str, how: str, builtins: tuple[str, ...] = ()) -> None:
        self.what, self.group, self.how = what, group, how
        self._entries: dict[str, T] = {}
        self._entry_points_loaded = False
        #: the library's modules that register the built-in entries, imported before any
        #: other entry is added, so a built-in name always belongs to the built-in class
        self._builtins, self._builtins_loaded = builtins, not builtins

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for module in self._builtins:
                importlib.import_module(module)

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; ``RegistryError`` when another one holds it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise RegistryError(f"a {self.what} must be a Python identifier, found {name!r}")
        if not getattr(entry, "__module__", "").startswith("mlp."):
            self._load_builtins()
        held = self._entries.get(name)
        if held is not None and held is not entry and _origin(held) != _origin(entry):
            raise RegistryError(f"{self.what} {name!r} is already registered by "
                                f"{_origin(held)}; {_origin(entry)} cannot register it too "
                                "(choose another name)")
        self._entries[name] = entry
        return entry

    def get(self, name: Any) -> T:
        """The entry registered as ``name``; ``UnknownName`` (saying how to register) if none."""
        self._load_builtins()
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None and not self._entry_points_loaded:
            self.load_entry_points()
            entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise UnknownName(
                f"unknown {self.what} {name!r}; registered: {', '.join(self.names())}. "
                f"Register it by {self.how} in code that runs first, through an entry point "
                f"of group {self.group!r} in an installed package, or with --plugin MODULE "
                "on the command line")
        return entry

    def names(self) -> tuple[str, ...]:
        """Every registered name, in the order of registration (entry points included)."""
        self._load_builtins()
        if not self._entry_points_loaded:
            self.load_entry_points()
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def load_entry_points(self) -> None:
        """Import the modules that installed packages name in this registry's group (once;
        a module that fails to import is logged and skipped)."""
        self._entry_points_loaded = True
        for point in importlib.metadata.entry_points(group=self.group):
            try:
                point.load()
            except Exception as exc:  # an installed plugin must not break the library
                log.warning("entry point %r of group %r failed to load: %s: %s", point.name,
                            self.group, type(exc).__name__, exc)


def _origin(entry: object) -> str:
    name = getattr(entry, "__qualname__", None) or type(entry).__qualname__
    module = getattr(entry, "__module__", None) or type(entry).__module__
    return f"{module}.{name}"


class Tagged(BaseModel):
    """Base of Pydantic classes told apart by a tag (``type`` for modules, ``kind`` for
    losses) that registers each subclass under the tag it is defined with.

    The tag is a class attribute, not a field: it is written first in every dump, and a
    dumped tag must match the class when the dump is read back.
    """

    #: the name of the tag in JSON (set by each family's base class)
    tag_key: ClassVar[str] = "type"
    #: the registry of the family (set by each family's base class)
    registry: ClassVar[Registry[Any]]
    #: this class's name in the registry ("" for a base class that is not registered)
    tag: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        name = kwargs.pop(cls.tag_key, None)
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.tag = name
            cls.registry.register(name, cls)

    @model_validator(mode="before")
    @classmethod
    def _drop_tag(cls, data: Any) -> Any:
        """Accept (and check) the tag in the data a dump produced."""
        key = cls.tag_key
        if isinstance(data, dict) and key in data:
            data = dict(data)
            found = data.pop(key)
            if found != cls.tag:
                raise ValueError(f"{key} {found!r} does not name {cls.__name__} ({key} "
                                 f"{cls.tag!r})")
        return data

    @model_serializer(mode="wrap")
    def _with_tag(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        return {self.tag_key: self.tag, **handler(self)}

    @classmethod
    def from_spec(cls, value: Any) -> Any:
        """An instance of the registered class a spec (a dict with the tag) names; an
        instance passes through, checked to be registered under its own tag."""
        if isinstance(value, cls):
            if not type(value).tag or cls.registry.get(type(value).tag) is not type(value):
                raise ValueError(f"{type(value).__name__} is not registered: define it with "
                                 f"a class keyword, {cls.registry.how}")
            return value
        if not isinstance(value, dict):
            raise ValueError(f"expected a {cls.__name__} or a JSON object with "
                             f"{cls.tag_key!r}, found {type(value).__name__}")
        if cls.tag_key not in value:
            raise ValueError(f"a {cls.__name__} spec needs {cls.tag_key!r}; one of "
                             f"{', '.join(cls.registry.names())}")
        return cls.registry.get(value[cls.tag_key]).model_validate(value)


class RegisteredField:
    """Pydantic metadata for a field holding any registered subclass of ``base``: specs are
    turned into instances of the class they name, dumps are each class's own, and the JSON
    Schema lists every class registered when the schema is made."""

    def __init__(self, base: type[Tagged]) -> None:
        self.base = base

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.base.from_spec,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value, info: value.model_dump(mode=info.mode, by_alias=info.by_alias),
                info_arg=True))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        choices = []
        key = self.base.tag_key
        for name in self.base.registry.names():
            cls = self.base.registry.get(name)
            one = cls.model_json_schema()
            one.pop("$defs", None)
            one["properties"] = {key: {"const": name}, **one.get("properties", {})}
            one["required"] = [key, *one.get("required", [])]
            choices.append(one)
        return {"oneOf": choices}


class RegisteredName:
    """Pydantic metadata for a string field that must be a name in ``registry``; its JSON
    Schema is the enum of the names registered when the schema is made."""

    def __init__(self, registry: Registry[Any]) -> None:
        self.registry = registry

    def _check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a {self.registry.what} (a string), found {value!r}")
        self.registry.get(value)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(str))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.registry.names())}


def import_plugin(name: str) -> None:
    """Import the user's plugin ``name``: a ``.py`` file, or a module importable from the
    current folder or the path; ``PluginError`` (one line) when it is missing or fails."""
    path = Path(name)
    try:
        if name.endswith(".py"):
            if not path.is_file():
                raise PluginError(f"--plugin {name}: no such file")
            module_name = f"mlp_plugin_{path.stem}"
            loaded = sys.modules.get(module_name)
            if loaded is not None and Path(loaded.__file__ or "").resolve() == path.resolve():
                return  # imported already: its classes stay the registered ones
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise PluginError(f"--plugin {name}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            importlib.import_module(name)
    except PluginError:
        raise
    except ModuleNotFoundError as exc:
        raise PluginError(f"--plugin {name}: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"--plugin {name} failed while it was imported: "
                          f"{type(exc).__name__}: {exc}") from exc

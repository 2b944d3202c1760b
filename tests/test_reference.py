"""The API reference: every documented name has a numpydoc docstring, and the reference builds.

The documented import paths are ``mlp.__all__``, ``mlp.sklearn``, ``mlp.plotting``,
``mlp.optim``, ``mlp.export``, ``mlp.callbacks``, ``mlp.signals`` and ``preprocess``. Each of
their public functions and classes, and each public method of those classes (the ones
the library defines, inherited ones included), has a docstring that ``numpydoc.docscrape``
parses, with a summary line and a Parameters section naming every parameter of its
signature (``self`` and ``cls`` aside; ``*args`` and ``**kwargs`` under either spelling).
A Pydantic model's constructor parameters are its fields: each has a description
(``Field(description=...)``, what ``mlp schema`` shows) or is named under the class's
Parameters or Attributes. ``scripts/docs.py``, what ``make docs`` runs, builds the HTML
reference with no warning.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
OURS = ("mlp", "preprocess")
DOCUMENTED = ("mlp", "mlp.sklearn", "mlp.plotting", "mlp.optim", "mlp.export", "mlp.callbacks",
              "mlp.signals", "preprocess")


def _ours(obj: Any) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] in OURS


def _public_names(module_name: str) -> Iterator[tuple[str, Any]]:
    """``(dotted name, object)`` of the module's public functions and classes: its
    ``__all__``, else the public names the module itself defines."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, value in vars(module).items()
                 if not name.startswith("_") and getattr(value, "__module__", None) == module_name]
    for name in names:
        value = getattr(module, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and _ours(value):
            yield f"{module_name}.{name}", value


def _targets() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module_name in DOCUMENTED:
        for _dotted, value in _public_names(module_name):
            found.setdefault(f"{value.__module__}.{value.__qualname__}", value)
    return dict(sorted(found.items()))


def _methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The public methods of ``cls`` the library defines (inherited ones included)."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        for owner in cls.__mro__:
            if name in vars(owner):
                raw = vars(owner)[name]
                break
        else:
            continue
        if not _ours(owner):
            continue
        function = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        if inspect.isfunction(function) and _ours(function):  # not Pydantic's model_post_init
            yield f"{owner.__module__}.{owner.__qualname__}.{name}", getattr(cls, name)


TARGETS = _targets()
METHODS = dict(sorted({name: method for cls in TARGETS.values() if inspect.isclass(cls)
                       for name, method in _methods(cls)}.items()))


def _parameters(function: Callable[..., Any]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    return [name for name, parameter in signature.parameters.items()
            if name not in ("self", "cls")]


def _documented(section: list[Any]) -> set[str]:
    """The parameter names a numpydoc section lists (``x, y : array`` names two)."""
    names: set[str] = set()
    for entry in section:
        for name in entry.name.split(","):
            names.add(name.strip().lstrip("*"))
    return names


def _parse(kind: type, obj: Any) -> Any:
    """The parsed docstring; a class's Attributes only as written (numpydoc would list
    its properties and slots there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns on a section it cannot read
        return kind(obj, config={"show_class_members": False})


def _check(obj: Any, own_doc: bool, parsed_as: type, named: Callable[[Any], set[str]],
           expected: Callable[[set[str]], list[str]]) -> list[str]:
    """The problems of ``obj``'s docstring: none, a parse failure, no summary line, or the
    ``expected`` names that the sections ``named`` reads do not list."""
    if not inspect.getdoc(obj) or not own_doc:
        return ["no docstring"]
    try:
        doc = _parse(parsed_as, obj)
    except Exception as exc:  # noqa: BLE001 (numpydoc raises ValueError or warns)
        return [f"numpydoc cannot parse it: {exc}"]
    problems = [] if doc["Summary"] else ["no summary line"]
    missing = expected(named(doc))
    if missing:
        problems.append(f"Parameters does not name {missing}")
    return problems


def _check_function(function: Callable[..., Any]) -> list[str]:
    return _check(function, True, FunctionDoc,
                  lambda doc: _documented(doc["Parameters"] + doc["Other Parameters"]),
                  lambda named: [name for name in _parameters(function) if name not in named])


def _check_class(cls: type) -> list[str]:
    def expected(named: set[str]) -> list[str]:
        if issubclass(cls, BaseModel):
            return [name for name, field in cls.model_fields.items()
                    if not field.description and name not in named]
        init = cls.__init__
        return [] if not _ours(init) else [
            name for name in _parameters(init) if name not in named]

    return _check(cls, cls.__doc__ is not None, ClassDoc, lambda doc: _documented(
        doc["Parameters"] + doc["Other Parameters"] + doc["Attributes"]), expected)


@pytest.mark.parametrize("name", list(TARGETS))
def test_public_name_has_a_numpydoc_docstring(name: str) -> None:
    obj = TARGETS[name]
    problems = _check_class(obj) if inspect.isclass(obj) else _check_function(obj)
    assert not problems, f"{name}: {'; '.join(problems)}"


@pytest.mark.parametrize("name", list(METHODS))
def test_public_method_has_a_numpydoc_docstring(name: str) -> None:
    problems = _check_function(METHODS[name])
    assert not problems, f"{name}: {'; '.join(problems)}"


def test_the_check_finds_an_undocumented_parameter() -> None:
    def documented(x: int, y: int) -> int:
        """Add.

        Parameters
        ----------
        x : int
            The first.
        """
        return x + y

    assert _check_function(documented) == ["Parameters does not name ['y']"]
    assert _check_function(lambda: None) == ["no docstring"]


def _modules() -> list[str]:
    names = []
    for package in OURS:
        root = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(root.__path__, package + ".")
                  if not any(part.startswith("_") for part in info.name.split("."))]
    return names


# the estimators' examples train a few epochs, which scikit-learn's convergence check notes
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("module_name", _modules())
def test_the_examples_run(module_name: str) -> None:
    """The doctest-style examples of the docstrings give what they show."""
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{module_name}: {result.failed} example(s) failed"


def test_the_reference_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("pdoc")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs.py"), str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "mlp" / "nn" / "model.html").is_file()
    assert (tmp_path / "preprocess.html").is_file()
    page = (tmp_path / "mlp" / "optim" / "rules.html").read_text(encoding="utf-8")
    assert "register_update_rule" in page


def test_a_warning_fails_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name in ``__all__`` that does not resolve is one of the warnings that fail it."""
    pytest.importorskip("pdoc")
    package = tmp_path / "src" / "broken_reference"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n__all__ = ["missing"]\n')
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    spec = importlib.util.spec_from_file_location("docs_script", ROOT / "scripts" / "docs.py")
    assert spec is not None and spec.loader is not None
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    found = docs.build(tmp_path / "out", ("broken_reference",))
    assert any("'missing' in broken_reference.__all__" in line for line in found), found

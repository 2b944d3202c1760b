"""Build the API reference of ``mlp`` and ``preprocess`` with pdoc, from the numpydoc docstrings.

    python scripts/docs.py build/docs

Every public module is documented, each once, the submodules of a package that lists its names
in ``__all__`` included (pdoc alone follows only the submodules named there). The names a package
loads on first use (``mlp.plotting``'s module ``__getattr__``) are loaded first, since pdoc reads
a module's ``__dict__``. Any warning raised while the modules are imported and rendered (a
module that fails to import, a name in ``__all__`` that does not resolve, a docstring pdoc
cannot read) fails the build: the exit status is 1 and the warnings are printed. One is not
a fault of ours and is left out: pdoc cannot resolve the postponed annotations of the
constructor ``typing.NamedTuple`` generates (its globals are not the module's), so it warns
for every NamedTuple of a module with ``from __future__ import annotations``. ``make docs``
runs this; tests/test_reference.py runs it into a temporary folder.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
import warnings
from pathlib import Path

PACKAGES = ("mlp", "preprocess")


def module_names(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Every public module of ``packages``, the packages first, then in walking order.

    Parameters
    ----------
    packages : tuple of str
        The top-level packages to walk.

    Returns
    -------
    list of str
        Dotted module names; a module with a leading underscore in any part is left out
        (``__main__`` included).
    """
    names: list[str] = []
    for package in packages:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


_NAMED_TUPLE_INIT = re.compile(r"Error parsing type annotation .* for (?P<cls>[\w.]+)\.__init__\.")


def _named_tuple_init(message: str) -> bool:
    """Whether ``message`` is pdoc's warning on a NamedTuple's generated constructor."""
    found = _NAMED_TUPLE_INIT.match(message)
    if found is None:
        return False
    module_name, _, name = found["cls"].rpartition(".")
    cls = getattr(sys.modules.get(module_name), name, None)
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _load_lazy_names(names: list[str]) -> None:
    """Put the names a module resolves in its ``__getattr__`` into its ``__dict__``."""
    for name in names:
        module = importlib.import_module(name)
        if "__getattr__" in vars(module):
            for public in getattr(module, "__all__", ()):
                setattr(module, public, getattr(module, public))


def build(output: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Write the HTML reference into ``output``; return the warnings raised meanwhile.

    Parameters
    ----------
    output : Path
        The folder to write (created when missing; files of an earlier build are replaced).
    packages : tuple of str
        The top-level packages documented.

    Returns
    -------
    list of str
        One line per warning, ``"Category: message"``; empty when the build is clean.
    """
    import pdoc.doc
    import pdoc.render

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # not printed by Python outside __main__, nor by pdoc's own command line (older pdoc
        # reads Pydantic's deprecated __fields__)
        warnings.simplefilter("ignore", DeprecationWarning)
        names = module_names(packages)
        _load_lazy_names(names)
        pdoc.render.configure(docformat="numpy", show_source=False)
        modules = {name: pdoc.doc.Module.from_name(name) for name in names}
        output.mkdir(parents=True, exist_ok=True)
        for name, module in modules.items():
            page = output / f"{name.replace('.', '/')}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(pdoc.render.html_module(module, modules), encoding="utf-8")
        (output / "index.html").write_text(pdoc.render.html_index(modules), encoding="utf-8")
        (output / "search.js").write_text(pdoc.render.search_index(modules), encoding="utf-8")
    return [f"{warning.category.__name__}: {warning.message}" for warning in caught
            if not _named_tuple_init(str(warning.message))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the folder to write the HTML into")
    found = build(parser.parse_args(argv).output)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"docs: {len(found)} warning(s); the reference must build without any",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

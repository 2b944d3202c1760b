"""The declared floors of the project's dependencies, for ``make test-floors``.

``python scripts/floors.py EXTRA...`` prints one ``name==version`` constraint per dependency
declared with a lower bound (``name>=version``) in ``pyproject.toml``, the core's and those of
each EXTRA, so the floors tested are exactly the floors declared. ``--python`` prints the path
of an interpreter of the declared minimum Python (``requires-python``), found on ``PATH`` or
among pyenv's versions, and exits 1 naming the version when there is none.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
FLOOR = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def constraints(extras: list[str]) -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    floors = {}
    for spec in specs:
        match = FLOOR.match(spec)
        if match:
            floors[match.group(1).lower()] = match.group(2)
    return [f"{name}=={version}" for name, version in sorted(floors.items())]


def python_floor() -> str:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    version = project["requires-python"].removeprefix(">=")
    candidates = [shutil.which(f"python{version}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(Path(root).glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return str(candidate)
    raise SystemExit(f"no Python {version} found (the declared minimum): install it, or "
                     f"run make test-floors PYTHON_FLOOR=/path/to/python{version}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--python"]:
        print(python_floor())
    else:
        print("\n".join(constraints(sys.argv[1:])))

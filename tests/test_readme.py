"""The README as a user meets it: short, set-up first, every Python example runs as written in a
fresh process, and every import path it names imports.

Each ```python block runs in a subprocess of its own, in an empty temporary folder, with this
checkout first on ``PYTHONPATH``. A block that needs an optional extra is skipped only when that
extra is not installed. The quick start's resume is checked bit for bit against one
uninterrupted run, as its text promises.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlp import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
MAX_LINES = 400

# what a block's text mentions -> the module that must be importable for it to run
EXTRA_NEEDS = {"sklearn": "sklearn", "onnxruntime": "onnxruntime", "to_onnx": "onnx",
               "to_torch": "torch", "from_torch": "torch", "safetensors": "safetensors",
               "optuna": "optuna"}
# entry-point group names the README spells like dotted paths; they name no module
ENTRY_POINT_GROUPS = {"mlp.modules", "mlp.losses", "mlp.optimizers"}


def _run(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=300)


def _resolve(path: str) -> object:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            value = getattr(value, name)
        return value
    raise ModuleNotFoundError(path)


def test_the_readme_is_at_most_400_lines():
    assert len(README.splitlines()) <= MAX_LINES


def test_set_up_comes_before_pip_install():
    first_install = README.index("pip install")
    assert README.index("make train") < first_install
    assert README.index("make test") < first_install


def test_the_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 4
    assert any("BasicRoutinizer.resume" in block for block in PYTHON_BLOCKS)


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_example_runs_as_written(index, tmp_path):
    code = PYTHON_BLOCKS[index]
    for mention, module in EXTRA_NEEDS.items():
        if mention in code and importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}, which is not installed")
    result = _run(code, tmp_path)
    assert result.returncode == 0, f"block {index}:\n{code}\n{result.stderr[-3000:]}"
    if "BasicRoutinizer.resume" in code:
        _check_resume_is_one_run(code, result.stdout, tmp_path)


def _check_resume_is_one_run(code: str, printed: str, folder: Path) -> None:
    """The quick start's two segments end with the bits of one run of the second's epochs."""
    assert "'n': 450" in printed
    assert re.search(r"^\[0 1 2 3 4\]$", printed, re.M)  # raw pixels in, the true labels out
    first = int(re.search(r"\bepochs=(\d+)", code).group(1))
    total = int(re.search(r"routinizer\.epochs = (\d+)", code).group(1))
    assert total > first
    straight = code.split("history = routinizer.run(model, data)")[0]
    assert straight.count(f"epochs={first}") == 1 and straight.count('"ckpt/digits"') == 1
    straight = (straight.replace(f"epochs={first}", f"epochs={total}")
                .replace('"ckpt/digits"', '"ckpt/straight"') + "routinizer.run(model, data)\n")
    result = _run(straight, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = load_checkpoint(folder / "ckpt" / "digits" / "last.h5")
    one_run = load_checkpoint(folder / "ckpt" / "straight" / "last.h5")
    assert resumed.state.epoch == one_run.state.epoch == total
    for (name, a), (_, b) in zip(resumed.model.named_arrays(), one_run.model.named_arrays(),
                                 strict=True):
        assert np.array_equal(a, b), name
    for column in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert getattr(resumed.history, column) == getattr(one_run.history, column), column
    assert resumed.state.rng_state == one_run.state.rng_state


def _from_imports() -> set[tuple[str, str]]:
    found = set()
    for module, names in re.findall(r"\bfrom ((?:mlp|preprocess)[\w.]*) import ([\w, ]+)",
                                    README):
        found |= {(module, name.strip()) for name in names.split(",") if name.strip()}
    return found


def _dotted_paths() -> set[str]:
    spans = re.findall(r"`([^`\n]+)`", README)
    paths = {m for span in spans for m in re.findall(r"^((?:mlp|preprocess)(?:\.\w+)+)", span)}
    return paths - ENTRY_POINT_GROUPS


def test_the_import_paths_the_readme_names_exist():
    imports = _from_imports()
    paths = _dotted_paths()
    # the documented entry points, so that a README that drops them fails here
    assert {("mlp", "BasicRoutinizer"), ("preprocess", "Data"), ("mlp.sklearn",
            "RoutinizerClassifier"), ("mlp.optim", "register_update_rule")} <= imports
    assert {"mlp.plotting.curves_figure", "mlp.export.ExportError",
            "mlp.signals.TrainingInterrupted", "mlp.arrays.array_field",
            "mlp.callbacks.StopTraining", "mlp.callbacks.Callback"} <= paths
    for module, name in sorted(imports):
        assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"
    for path in sorted(paths):
        _resolve(path)


def test_python_m_mlp_is_the_command_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "mlp", "--version"], env=env, text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"\d+\.\d+", result.stdout)


@pytest.mark.parametrize("package", ["mlp", "preprocess", *sorted(
    f"mlp.{path.parent.name}" for path in (ROOT / "mlp").glob("*/__init__.py"))])
def test_each_package_docstring_maps_its_modules(package):
    """The code map the README no longer holds: each package's docstring names every module in
    it (sub-packages for ``mlp``), so a module added or moved without its line fails here."""
    folder = ROOT.joinpath(*package.split("."))
    doc = importlib.import_module(package).__doc__
    names = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
    if package == "mlp":
        names = {f"mlp.{name}" for name in names} | {
            f"mlp.{path.parent.name}" for path in folder.glob("*/__init__.py")}
    missing = {name for name in names if f"``{name}``" not in doc}
    assert not missing, f"{package}'s docstring does not name {sorted(missing)}"
    assert "Tested by:" in doc
    assert "May import:" in doc or package in ("mlp", "preprocess")

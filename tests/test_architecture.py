"""The structure the design promises: imports run one way, each concern has one owner."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from mlp import BasicRoutinizer
from mlp.storage import run_folder

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mlp", "preprocess")


def _modules() -> dict[str, Path]:
    """Every module of the packages by dotted name, sub-packages included (``mlp.nn.layers``;
    a package's ``__init__`` under the package's own name)."""
    return {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"):
            path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _runtime_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``path`` imports when it runs, at any depth (inside functions
    too: an import placed there to dodge a cycle is still part of it); imports under
    ``if TYPE_CHECKING:`` never run and are left out."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    graph = {}
    for name, path in modules.items():
        imports = _runtime_imports(path, modules)
        # "from mlp.x import y" names the package too; keep it only when a name comes from it
        graph[name] = {m for m in imports if m != name and (m not in packages or not any(
            i.startswith(m + ".") for i in imports))}
    return graph


def test_the_import_graph_of_the_packages_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert len(graph) > 20  # the walk saw the packages


def test_no_module_imports_its_own_package_init():
    """A package's ``__init__`` may gather its modules' names; its modules never go through it
    (that would be a cycle hidden by the order of execution)."""
    graph = _graph()
    offenders = {name: sorted(m for m in imports if name.startswith(m + "."))
                 for name, imports in graph.items()}
    assert {k: v for k, v in offenders.items() if v} == {}


#: The layers of the house, lowest first. A unit is a sub-package of ``mlp`` (its modules
#: together), a module directly in ``mlp/``, or ``preprocess``; a unit imports only units of
#: lower layers, never one of its own layer or above.
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    # the base: errors, array fields, reprs, signals, the version; then the registries and the
    # package's front door (which imports its public names only when they are first used)
    {"mlp.version", "mlp.errors", "mlp.arrays", "mlp.display", "mlp.signals"},
    {"mlp", "mlp.registry"},
    {"mlp.storage"},  # files: atomic writes, HDF5, locks, the run folder's names
    {"mlp.nn"},  # the network: modules, losses, the Model, the fused step
    # update rules, a run's record, data sets, ONNX export
    {"mlp.optim", "mlp.history", "preprocess", "mlp.export"},
    {"mlp.plotting", "mlp.callbacks"},  # pictures; hooks into a run
    {"mlp.training"},  # the trainer, checkpoints, run configs
    {"mlp.sweep", "mlp.sklearn"},  # what is built on training
    {"mlp.cli"},  # the command line
    {"mlp.__main__"},  # python -m mlp
))


def _unit(module: str) -> str:
    if module.startswith("preprocess"):
        return "preprocess"
    parts = module.split(".")
    if len(parts) > 2 or (ROOT / "mlp" / parts[-1] / "__init__.py").is_file():
        return ".".join(parts[:2])
    return module


def test_every_unit_imports_only_the_layers_below_it():
    level = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    graph = _graph()
    units = {_unit(name) for name in graph}
    assert units == set(level), "every package and module of mlp/ has a layer"
    upward = sorted(f"{name} -> {target}" for name, imports in graph.items()
                    for target in imports if _unit(target) != _unit(name)
                    and level[_unit(target)] >= level[_unit(name)])
    assert upward == []


def test_at_most_twelve_modules_sit_directly_in_mlp():
    top = sorted(path.name for path in (ROOT / "mlp").glob("*.py"))
    assert len(top) <= 12, top
    for package in (ROOT / "mlp").iterdir():
        if package.is_dir() and package.name != "__pycache__":
            init = package / "__init__.py"
            assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), package


def test_h5py_is_imported_only_by_the_hdf5_and_checkpoint_modules():
    users = set()
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Import) and any(a.name == "h5py" for a in node.names)) or (
                    isinstance(node, ast.ImportFrom) and node.module == "h5py"):
                users.add(name)
    assert users == {"mlp.storage.hdf5", "mlp.training.checkpoint"}


def test_no_module_of_mlp_imports_pillow():
    """Every picture is matplotlib's (one renderer); Pillow stays a dependency of matplotlib
    and of the image loaders in ``preprocess``, never a second way to draw."""
    users = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            imported = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(module == "PIL" or module.startswith("PIL.") for module in imported):
                users.add(name)
    assert {name for name in users if name.split(".")[0] == "mlp"} == set()
    assert users  # the check sees imports: preprocess reads images with Pillow


def _string_constants(path: Path) -> list[str]:
    """Every string literal of ``path`` but its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    fragments = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                 for part in node.values}  # "trial-{n}.lock": pieces of other names
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings | fragments]


def test_run_folder_file_names_are_spelled_only_by_the_run_folder_module():
    names = (run_folder.CONFIG, run_folder.LAST, run_folder.BEST, run_folder.CURVES,
             run_folder.HISTORY_CSV, run_folder.LOCK, run_folder.DIAGNOSTICS,
             run_folder.TENSORBOARD)
    files = [*_modules().values(), *sorted((ROOT / "scripts").glob("*.py"))]
    def names_one(text: str) -> bool:  # the name itself, or a path or message ending in it
        return any(text == name or text.endswith(("/" + name, " " + name)) or
                   f" {name} " in text or f"/{name} " in text for name in names)

    spelled = {f"{path.relative_to(ROOT)}: {text!r}" for path in files
               if path.name != "run_folder.py"
               for text in _string_constants(path) if names_one(text)}
    assert spelled == set()


def test_importing_preprocess_runs_neither_the_trainer_nor_the_checkpoint_format():
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import preprocess"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "preprocess.data" in imported
    assert not {"mlp.training.checkpoint", "mlp.training.routinizer", "matplotlib"} & imported


def test_training_hyperparameters_are_validated_on_assignment():
    routinizer = BasicRoutinizer()
    for field, value in (("epochs", -5), ("optimizer", "nonsense"), ("lr", float("inf")),
                         ("epochs", True), ("seed", -1), ("batch_size", 2.5)):
        with pytest.raises(pydantic.ValidationError, match=field):
            setattr(routinizer, field, value)
    routinizer.epochs = 7
    assert routinizer.epochs == 7


#: the files where the module, loss and update-rule classes (and their records) live
_KIND_OWNERS = {"mlp.nn.layers", "mlp.nn.activations", "mlp.nn.normalization", "mlp.nn.module",
                "mlp.nn.losses", "mlp.optim.rules"}


def test_nothing_outside_the_classes_dispatches_on_a_module_loss_or_optimizer_kind():
    """No ``isinstance(m, Layer)`` and no comparison with a registered name (``type ==
    "layer"``, ``kind == "relu"``, ``optimizer == "adam"``) outside the files of the classes:
    code asks a module, a loss or a rule what it needs (the registries list the names)."""
    from mlp.nn.activations import ACTIVATIONS
    from mlp.nn.losses import LOSSES
    from mlp.nn.module import MODULES
    from mlp.optim.rules import UPDATE_RULES

    names = set(MODULES.names()) | set(ACTIVATIONS) | set(LOSSES.names()) | set(
        UPDATE_RULES.names())
    classes = {MODULES.get(n).__name__ for n in MODULES.names()} | {
        LOSSES.get(n).__name__ for n in LOSSES.names()} | {"BiasReLU"}
    offenders = []
    for name, path in _modules().items():
        if name in _KIND_OWNERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                spelled = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
                if any(c in spelled.replace("|", " ").replace(",", " ").split()
                       for c in classes):
                    offenders.append(f"{name}: {ast.unparse(node)}")
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    values = [side] + (list(side.elts) if isinstance(side, ast.Tuple | ast.Set
                                                                     | ast.List) else [])
                    if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                        offenders.append(f"{name}: {ast.unparse(node)}")
    assert offenders == []

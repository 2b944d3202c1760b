"""Start-up: nothing heavy is imported before it is needed.

Each test runs a fresh Python process (the test process has imported everything already) and
reads what ``mlp.training.startup``'s probe recorded when the first epoch started, or what
``sys.modules`` holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlp.storage import run_folder
from mlp.training.startup import STARTUP_VARIABLE, WATCHED

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "scripts" / "configs"
#: what a small run from a CSV file or the sin toy set has no use for before it trains
NOT_BEFORE_TRAINING = {"sklearn", "matplotlib", "numba", "scipy", "optuna", "pandas", "torch"}


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment of a child process, with the probe writing into ``tmp_path`` and the
    default kernels (a user's ``MLP_KERNELS`` would choose for them)."""
    env = {k: v for k, v in os.environ.items() if k != "MLP_KERNELS"}
    env[STARTUP_VARIABLE] = str(tmp_path / "startup.jsonl")
    return env


def _records(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "startup.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _python(code: str, tmp_path: Path) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_command_line_loads_nothing_heavy(tmp_path):
    loaded = _python(f"""
        import sys
        import mlp.cli
        print(" ".join(m for m in {WATCHED!r} if m in sys.modules))
        """, tmp_path)
    assert set(loaded.split()) & (NOT_BEFORE_TRAINING | {"h5py", "pydantic"}) == set()


@pytest.mark.parametrize("config", ["blobs.json", "sin.json"])
def test_a_small_run_from_the_command_line_trains_before_loading_anything_heavy(tmp_path,
                                                                               config):
    """``mlp train`` of the shipped CSV and sin configs: at the first epoch, numpy and
    pydantic are loaded, and none of scikit-learn, matplotlib, numba (nor scipy); the run
    then finishes with its checkpoints."""
    result = subprocess.run(
        [sys.executable, "-m", "mlp", "train", str(CONFIGS / config), "--set",
         "train.epochs=1", "--ckpt-root", str(tmp_path / "ckpt")],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (record,) = _records(tmp_path)
    assert {"numpy", "pydantic"} <= set(record["loaded"])
    assert set(record["loaded"]) & NOT_BEFORE_TRAINING == set()
    assert record["pid"] != os.getpid() and record["cpu"] > 0
    assert (tmp_path / "ckpt" / Path(config).stem / run_folder.LAST).is_file()


def test_a_run_without_a_run_folder_never_loads_h5py_numba_or_matplotlib(tmp_path):
    """Trained from Python without ``checkpoint_dir``, a small network's run loads neither
    the checkpoint library nor the compiled kernels nor the plotting library, before its
    first epoch or after its last."""
    out = _python(f"""
        import sys
        from pathlib import Path
        from mlp import BasicRoutinizer, Model
        from mlp.training.startup import StartupProbe
        from preprocess import Data

        data = Data.sin(n_train=64, n_val=64)
        model = Model.mlp([1, 30, 20, 1], nonlinearity="sigmoid", dtype="float64")
        routinizer = BasicRoutinizer(epochs=5, optimizer="adam", lr=0.01, loss="mse",
                                     progress=False)
        history = routinizer.run(model, data, [StartupProbe(Path("startup.jsonl"))])
        print(len(history), routinizer.kernels.backend,
              " ".join(m for m in {WATCHED!r} if m in sys.modules))
        """, tmp_path)
    epochs, backend, *loaded = out.split()
    assert (epochs, backend) == ("5", "numpy")
    assert "numpy" in loaded
    assert set(loaded) & (NOT_BEFORE_TRAINING | {"h5py"}) == set()
    (record,) = _records(tmp_path)
    assert set(record["loaded"]) & (NOT_BEFORE_TRAINING | {"h5py"}) == set()


@pytest.mark.parametrize(("sizes", "kernels", "backend"), [
    ([64, 64, 10], None, "numba"),  # 4810 parameters: worth loading numba for
    ([4, 16, 3], "numba", "numba"),  # asked for: loaded whatever the size
    ([4, 16, 3], None, "numpy"),  # 131 parameters: kept on NumPy
])
def test_auto_kernels_load_numba_for_a_network_worth_it(tmp_path, sizes, kernels, backend):
    """``Kernels("auto")`` loads numba to train a network of 4096 parameters or more, and
    any network when ``MLP_KERNELS=numba`` asks for it; a smaller one stays on NumPy."""
    pytest.importorskip("numba")
    choice = f"os.environ['MLP_KERNELS'] = {kernels!r}" if kernels else ""
    out = _python(f"""
        import os, sys
        {choice}
        import numpy as np
        from mlp import BasicRoutinizer, Model
        from preprocess import Data

        rng = np.random.default_rng(0)
        data = Data(rng.normal(size=(256, {sizes[0]})), rng.integers(0, {sizes[-1]}, 256))
        routinizer = BasicRoutinizer(epochs=1, batch_size=32, progress=False)
        routinizer.run(Model.mlp({sizes!r}), data)
        print(routinizer.kernels.backend, "numba" in sys.modules)
        """, tmp_path)
    assert out == f"{backend} {backend == 'numba'}"


def test_a_sweep_worker_trains_before_loading_matplotlib(tmp_path):
    """A sweep's worker process (``mlp sweep --worker``, as ``--workers N`` starts them)
    reaches the first epoch of its first trial with optuna loaded, and neither matplotlib
    nor scikit-learn nor numba; the sweep's trials all finish."""
    pytest.importorskip("optuna")
    base = json.loads((CONFIGS / "sin.json").read_text(encoding="utf-8"))
    base["train"].update(epochs=2, progress=False)
    sweep = {"name": "startup", "base": base,
             "space": {"train.lr": {"choice": [0.03, 0.01]}},
             "search": {"kind": "grid"}, "metric": "val_loss", "direction": "minimize"}
    (tmp_path / "sweep.json").write_text(json.dumps(sweep), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mlp", "-q", "sweep", "sweep.json", "--worker",
         "--ckpt-root", "ckpt"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first, *later = _records(tmp_path)
    assert len(later) >= 1  # a record per trial (segment)
    assert {"optuna", "numpy"} <= set(first["loaded"])
    assert set(first["loaded"]) & {"sklearn", "matplotlib", "numba", "scipy"} == set()
    assert sorted(p.name for p in (tmp_path / "ckpt" / "startup").glob("trial-*")) == [
        "trial-0000", "trial-0001"]

"""``mlp compare`` and ``mlp.compare``: three small real runs side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp.cli.commands import main
from mlp.storage.run_folder import RunFolder
from mlp.training.compare import CompareError

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Three runs of iris, four epochs each: ``base``, ``fast`` (another lr) and ``narrow``
    (another hidden layer)."""
    root = tmp_path_factory.mktemp("runs")
    config = root / "iris.json"
    config.write_text(json.dumps({
        "name": "base",
        "data": {"source": "sklearn", "name": "iris", "validation_fraction": 0.2},
        "model": {"hidden": [16]},
        "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "progress": False}}))
    for name, change in (("base", []), ("fast", ["train.lr=0.05"]),
                         ("narrow", ["model.hidden=[8]"])):
        sets = [arg for item in [f"name={name}", *change] for arg in ("--set", item)]
        assert main(["-q", "train", str(config), "--ckpt-root", str(root / "ckpt"),
                     *sets]) == 0
    return [root / "ckpt" / name for name in ("base", "fast", "narrow")]


def test_the_table_lists_the_differing_hyperparameters_and_each_runs_best_numbers(runs):
    comparison = mlp.compare(runs)
    assert comparison.differing == {"model.hidden": [[16], [16], [8]],
                                    "train.lr": [0.01, 0.05, 0.01]}
    table, page = comparison.table(), comparison._repr_html_()
    for run, summary in zip(runs, comparison.to_dict()["runs"], strict=True):
        history = mlp.load_checkpoint(RunFolder(run).last).history
        best = min(zip(history.val_loss, history.epoch, strict=True))[1]
        index = history.epoch.index(best)
        assert summary["name"] == run.name
        assert summary["best_epoch"] == best and summary["best_by"] == "val_loss"
        assert summary["loss"] == history.val_loss[index]
        assert summary["accuracy"] == history.val_accuracy[index]
        assert summary["epochs"] == len(history) == 4
        assert summary["seconds"] == history.total_seconds
        assert f"{summary['loss']:.5g}" in table and f"{summary['loss']:.5g}" in page
    for text in ("model.hidden", "train.lr", "best val loss", "best val accuracy", "narrow"):
        assert text in table and text in page
    assert "checkpoint_dir" not in table and "<table>" in page
    assert repr(comparison) == ("Comparison(3 runs, 2 differing hyperparameters): "
                                "base, fast, narrow")


def test_the_figure_has_one_line_per_run_in_each_panel(runs):
    figure = mlp.compare(runs).figure
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["validation loss", "validation accuracy"]
    for ax in figure.axes:
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["base", "fast", "narrow"]
        assert len({line.get_color() for line in lines}) == 3
    assert figure._repr_png_().startswith(PNG_SIGNATURE)


def test_without_configs_the_checkpoints_spec_and_training_config_are_compared(runs, tmp_path):
    copies = []
    for run in runs[:2]:
        (tmp_path / run.name).mkdir()
        copies.append(shutil.copy(RunFolder(run).last, tmp_path / run.name / "weights.h5"))
    comparison = mlp.compare(copies)
    assert comparison.differing == {"train.lr": [0.01, 0.05]}
    assert [run["name"] for run in comparison.to_dict()["runs"]] == ["base", "fast"]

    narrow = mlp.compare([copies[0], RunFolder(runs[2]).best])  # one run has no config
    assert set(narrow.differing) == {"model.modules.0.out_features",
                                     "model.modules.2.in_features"}


def test_the_command_prints_the_table_and_writes_the_png(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "train.lr" in out and "model.hidden" in out and "best val loss" in out
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG_SIGNATURE)

    assert main(["compare", str(runs[0]), str(runs[1]), "--json", "--out", "two.png"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["differing"] == {"train.lr": [0.01, 0.05]}
    assert [run["name"] for run in printed["runs"]] == ["base", "fast"]
    assert printed["figure"] == "two.png" and Path("two.png").stat().st_size > 0


@pytest.mark.parametrize("case, expected", [
    ("one run", "CompareError: compare needs 2 or more runs"),
    ("a config", "CheckpointError: "),
    ("no such path", "no such checkpoint file or run folder"),
    ("an empty folder", "CheckpointError: "),
    ("onto a run's file", "OutputClash: "),
])
def test_bad_input_is_refused_in_one_line(runs, tmp_path, capsys, case, expected):
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "out.png")
    arguments = {
        "one run": [str(runs[0]), "--out", out],
        "a config": [str(runs[0]), str(RunFolder(runs[0]).config), "--out", out],
        "no such path": [str(runs[0]), str(tmp_path / "missing"), "--out", out],
        "an empty folder": [str(runs[0]), str(tmp_path / "empty"), "--out", out],
        "onto a run's file": [*map(str, runs[:2]), "--out", str(RunFolder(runs[0]).best)],
    }[case]
    before = RunFolder(runs[0]).best.read_bytes()
    assert main(["compare", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mlp compare: ") and expected in captured.err
    assert captured.err.count("\n") == 1
    assert RunFolder(runs[0]).best.read_bytes() == before and not Path(out).exists()
    with pytest.raises(CompareError, match="found 1"):
        mlp.compare(runs[0])


def test_in_a_real_kernel_the_table_is_html_and_the_figure_a_picture(runs):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import mlp\ncomparison = mlp.compare({list(map(str, runs))})"
                                  "\ncomparison"),
        nbformat.v4.new_code_cell("comparison.figure"),
    ])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MPLBACKEND", None)  # the kernel's own (inline) backend, as a person has it
    env["MLP_KERNELS"] = "numpy"
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute(env=env)
    table, figure = (cell.outputs[-1] for cell in notebook.cells)
    assert table.output_type == figure.output_type == "execute_result"
    assert "<table>" in table.data["text/html"] and "train.lr" in table.data["text/html"]
    assert table.data["text/plain"].startswith("Comparison(3 runs, 2 differing")
    assert "image/png" in figure.data


def test_the_name_loads_neither_matplotlib_nor_the_trainer():
    code = ("import sys, mlp; mlp.compare; "
            "print(sorted({'matplotlib', 'mlp.training.routinizer'} & set(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_runs_without_validation_are_judged_by_training_loss(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))  # noqa: N806 (X, the convention)
    y = X @ np.array([[1.0], [2.0], [-1.0]])
    folders = []
    for name, lr in (("slow", 0.01), ("quick", 0.05)):
        folders.append(tmp_path / name)
        mlp.BasicRoutinizer(epochs=3, lr=lr, loss="mse", batch_size=16, progress=False,
                            checkpoint_dir=folders[-1]).run(mlp.Model.mlp([3, 8, 1], seed=0),
                                                            (X, y))
    comparison = mlp.compare(folders)
    assert comparison.differing == {"train.lr": [0.01, 0.05]}
    for folder, run in zip(folders, comparison.to_dict()["runs"], strict=True):
        history = mlp.load_checkpoint(RunFolder(folder).last).history
        best = min(zip(history.train_loss, history.epoch, strict=True))
        assert (run["loss"], run["best_epoch"], run["best_by"]) == (*best, "train_loss")
        assert run["accuracy"] is None
    assert "best train loss" in comparison.table() and "accuracy" not in comparison.table()
    assert [ax.get_title() for ax in comparison.figure.axes] == ["training loss"]
    assert len(comparison.figure.axes[0].get_lines()) == 2

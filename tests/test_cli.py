"""The ``mlp`` command: train, evaluate --json, predict, resume, inspect, runs, schema, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlp.cli.commands import main

pytest.importorskip("sklearn")


def _write_config(path: Path, **train) -> Path:
    config = {
        "name": "iris-cli",
        "data": {"source": "sklearn", "name": "iris", "validation_fraction": 0.2},
        "model": {"hidden": [16]},
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.01, "progress": False, **train},
    }
    path.write_text(json.dumps(config))
    return path


def test_train_evaluate_json_resume_inspect_runs(tmp_path, capsys):
    config = _write_config(tmp_path / "iris.json")
    root = tmp_path / "ckpt"
    assert main(["-q", "train", str(config), "--ckpt-root", str(root),
                 "--set", "train.lr=0.02", "--set", "model.hidden=[12]"]) == 0
    out = capsys.readouterr().out
    run = root / "iris-cli"
    assert "test accuracy" in out and str(run / "best.h5") in out
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["lr"] == 0.02 and saved["model"]["hidden"] == [12]

    assert main(["evaluate", str(run), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"loss", "accuracy", "n"} and scores["n"] == 38

    assert main(["-q", "resume", str(run), "--epochs", "5"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(run / "last.h5")]) == 0
    described = capsys.readouterr().out
    assert "mlp-checkpoint" in described or "format" in described
    assert main(["runs", str(root)]) == 0
    table = capsys.readouterr().out
    assert "iris-cli" in table and "5" in table


def test_predict_prints_labels(tmp_path, capsys):
    config = _write_config(tmp_path / "iris.json")
    assert main(["-q", "train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    capsys.readouterr()
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert main(["predict", str(tmp_path / "iris-cli"), str(inputs)]) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 2 and all(line in {"0", "1", "2"} for line in lines)


def test_predict_image_files_returns_folder_names(tmp_path, image_folder, capsys):
    config = {
        "name": "shapes",
        "data": {"source": "image_folder", "root": str(image_folder),
                 "validation_fraction": 0.25, "normalize": "zscore"},
        "model": {"hidden": [32]},
        "train": {"epochs": 15, "batch_size": 16, "lr": 0.003, "progress": False},
    }
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(config))
    assert main(["-q", "train", str(path), "--ckpt-root", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    files = [image_folder / "bar" / "0.png", image_folder / "ring" / "1.bmp",
             image_folder / "cross" / "2.png"]
    assert main(["predict", str(tmp_path / "ckpt" / "shapes"), *map(str, files)]) == 0
    assert capsys.readouterr().out.split() == ["bar", "ring", "cross"]


def test_schema_is_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"name", "data", "model", "train"} <= set(schema["properties"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "train.lr=-1"], "train.lr"),
        (["--set", "data.source=ftp"], "data"),
        (["--set", "model.hidden=[0]"], "model"),
    ],
)
def test_bad_config_exits_2_with_a_short_message(tmp_path, capsys, args, message):
    config = _write_config(tmp_path / "c.json")
    assert main(["train", str(config), "--ckpt-root", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 2


def test_missing_and_corrupt_files_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.json")]) == 2
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "CheckpointError" in err and "bad.h5" in err


def test_cli_resume_is_bit_identical_to_one_long_run(tmp_path, capsys):
    from mlp.training.checkpoint import load_checkpoint

    config = _write_config(tmp_path / "iris.json", epochs=6, optimizer="nesterov",
                           schedule={"kind": "step", "step_size": 2, "gamma": 0.5})
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["-q", "train", str(config), "--ckpt-root", str(straight)]) == 0
    assert main(["-q", "train", str(config), "--ckpt-root", str(split),
                 "--set", "train.epochs=3"]) == 0
    assert main(["-q", "resume", str(split / "iris-cli"), "--epochs", "6"]) == 0
    capsys.readouterr()
    a = load_checkpoint(straight / "iris-cli" / "last.h5")
    b = load_checkpoint(split / "iris-cli" / "last.h5")
    for (name, x), (_, y) in zip(a.model.named_arrays(), b.model.named_arrays(), strict=True):
        assert np.array_equal(x, y), name
    assert a.history.train_loss == b.history.train_loss
    assert a.history.epoch == b.history.epoch == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("name", ["..", "."])
def test_a_run_name_cannot_point_outside_the_checkpoint_root(tmp_path, capsys, name):
    config = _write_config(tmp_path / "c.json")
    root = tmp_path / "root" / "ckpt"
    assert main(["train", str(config), "--ckpt-root", str(root), "--set", f'name="{name}"']) == 2
    assert "name: value error, a name must name a folder of its own" in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


def test_python_dash_m_mlp_is_the_command(tmp_path):
    """``python -m mlp`` works where the ``mlp`` script is not on PATH (a notebook kernel)."""
    done = subprocess.run([sys.executable, "-m", "mlp", "--version"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("mlp-routinizer ")
    done = subprocess.run([sys.executable, "-m", "mlp", "train", "missing.json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_sweep_help_shows_no_internal_flags(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    shown = capsys.readouterr().out
    assert "--workers" in shown
    assert not any(flag in shown for flag in ("--worker ", "--data-file", "--parent"))

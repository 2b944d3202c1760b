"""The command line as a person meets it: the README's promises, readable errors, logs and
progress, predicting images and arrays, and the set-up commands (issue 13, points 1-16)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlp.cli.commands import _parser, main
from mlp.errors import DataError
from mlp.training.checkpoint import load_checkpoint
from mlp.training.inspect import stopped_early

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}


def _config(path: Path, name: str = "iris", data: dict | None = None, **train) -> Path:
    """A tiny run config: iris with a 20% validation split, 3 epochs, no bar."""
    config = {
        "name": name,
        "data": data or {"source": "sklearn", "name": "iris", "validation_fraction": 0.2},
        "model": {"hidden": [16]},
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.01, "progress": False, **train},
    }
    path.write_text(json.dumps(config))
    return path


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``mlp ARGS`` in a process of its own (stdout and stderr are pipes, not a terminal)."""
    return subprocess.run([sys.executable, "-m", "mlp.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=ENV, timeout=300)


def _main(*args: str) -> int:
    """``main(args)``, with argparse's exit (status 2 for a usage error) as the status."""
    try:
        return main(list(args))
    except SystemExit as exc:
        return int(exc.code)


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    """A 3-epoch iris run folder made by ``mlp train``."""
    root = tmp_path_factory.mktemp("iris")
    assert main(["-q", "train", str(_config(root / "iris.json")), "--ckpt-root",
                 str(root / "ckpt")]) == 0
    return root / "ckpt" / "iris"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A digits run (8x8 images, values 0..16) trained with one-pixel shifts."""
    root = tmp_path_factory.mktemp("digits")
    config = _config(root / "digits.json", name="digits",
                     data={"source": "sklearn", "name": "digits", "augment_shift": 1},
                     epochs=6, batch_size=64, lr=0.003)
    raw = json.loads(config.read_text())
    raw["model"]["hidden"] = [64]
    config.write_text(json.dumps(raw))
    assert main(["-q", "train", str(config), "--ckpt-root", str(root / "ckpt")]) == 0
    return root / "ckpt" / "digits"


# ------------------------------------------------------------------ 1. README promises
def _readme_block(heading: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_resume_says_in_one_line_when_a_cosine_schedule_stretches(tmp_path, caplog):
    caplog.set_level("INFO", logger="mlp")
    config = _config(tmp_path / "c.json", schedule={"kind": "cosine", "min_lr": 1e-4})
    assert _main("train", str(config), "--ckpt-root", str(tmp_path)) == 0
    caplog.clear()
    assert _main("resume", str(tmp_path / "iris"), "--epochs", "5") == 0
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("note:")]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "from 3 to 5 epochs" in notes[0] and "epoch 4 trains at lr" in notes[0]


def test_resume_of_a_cosine_with_t_max_is_bit_identical_and_silent(tmp_path, caplog):
    caplog.set_level("INFO", logger="mlp")
    schedule = {"kind": "cosine", "min_lr": 1e-4, "t_max": 5}
    config = _config(tmp_path / "c.json", schedule=schedule, epochs=5)
    assert _main("train", str(config), "--ckpt-root", str(tmp_path / "straight")) == 0
    assert _main("train", str(config), "--ckpt-root", str(tmp_path / "split"),
                 "--set", "train.epochs=2") == 0
    caplog.clear()
    assert _main("resume", str(tmp_path / "split" / "iris"), "--epochs", "5") == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("note:")]
    a = load_checkpoint(tmp_path / "straight" / "iris" / "last.h5")
    b = load_checkpoint(tmp_path / "split" / "iris" / "last.h5")
    for (name, x), (_, y) in zip(a.model.named_arrays(), b.model.named_arrays(), strict=True):
        assert np.array_equal(x, y), name
    assert a.history.lr == b.history.lr


def test_readme_command_line_names_only_options_that_exist():
    block = _readme_block("Command line", "sh")
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    for line in block.splitlines():
        words = line.split("#")[0].split()
        if len(words) < 2 or words[0] != "mlp":
            continue
        options = {w for w in words if w.startswith("-")}
        known = set(parser._option_string_actions)
        if words[1] in commands:
            known |= set(commands[words[1]]._option_string_actions)
        assert options <= known, line


# -------------------------------------------------------------------- 2. digit images
def _digit_pngs(folder: Path, count: int = 3) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The first ``count`` of scikit-learn's digits (0..16) as 0..255 grey PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        pixels = np.round(digits.images[i] * 255.0 / 16.0).astype(np.uint8)
        files.append(folder / f"{i}.png")
        Image.fromarray(pixels, mode="L").save(files[-1])
    return files, digits.images[:count], digits.target[:count]


def test_predict_digit_images_gives_their_true_labels(tmp_path, digits_run, capsys):
    files, images, labels = _digit_pngs(tmp_path / "images")
    assert load_checkpoint(digits_run / "best.h5").input_scale == 16.0
    assert main(["predict", str(digits_run), *map(str, files)]) == 0
    assert capsys.readouterr().out.split() == [str(label) for label in labels] == ["0", "1", "2"]
    np.save(tmp_path / "images.npy", images)  # (3, 8, 8) arrays on the training scale
    assert main(["predict", str(digits_run), str(tmp_path / "images.npy")]) == 0
    assert capsys.readouterr().out.split() == ["0", "1", "2"]
    assert main(["predict", str(digits_run), str(tmp_path / "images"), "--names"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{file}  {label}" for file, label in zip(files, labels, strict=True)]


def test_a_checkpoint_without_an_input_scale_refuses_images(tmp_path, capsys):
    from mlp import BasicRoutinizer, Model
    from preprocess import Data

    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 16, size=(60, 64)), np.repeat([0, 1, 2], 20)
    BasicRoutinizer(epochs=1, progress=False, checkpoint_dir=tmp_path / "run").run(
        Model.mlp([64, 8, 3]), Data(X, y))
    assert load_checkpoint(tmp_path / "run" / "last.h5").input_scale is None
    files, _, _ = _digit_pngs(tmp_path / "images", count=1)
    assert main(["predict", str(tmp_path / "run"), str(files[0])]) == 2
    err = capsys.readouterr().err
    assert "does not record how the images" in err and ".npy or .csv" in err
    assert "Traceback" not in err


# ---------------------------------------------------------- 3. regression from arrays
def _regression_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    np.savez(path, X=X, y=X @ np.array([1.0, 2.0, -1.0]) + 0.1 * rng.normal(size=40))
    return path


def test_npz_with_1d_float_targets_and_task_regression_trains_with_mse(tmp_path, capsys):
    _regression_npz(tmp_path / "reg.npz")
    config = _config(tmp_path / "reg.json", name="reg",
                     data={"source": "npz", "path": "reg.npz", "task": "regression"})
    assert main(["train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    assert "val loss" in capsys.readouterr().out
    checkpoint = load_checkpoint(tmp_path / "reg" / "best.h5")
    assert checkpoint.config.loss.kind == "mse" and checkpoint.model.out_features == 1
    assert main(["predict", str(tmp_path / "reg"), str(tmp_path / "reg.npz")]) == 2
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    assert main(["predict", str(tmp_path / "reg"), str(tmp_path / "x.npy")]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()]
    assert len(values) == 2 and all(np.isfinite(values))


def test_continuous_float_targets_without_task_say_so(tmp_path, capsys):
    _regression_npz(tmp_path / "reg.npz")
    config = _config(tmp_path / "reg.json", name="reg",
                     data={"source": "npz", "path": "reg.npz"})
    assert main(["train", str(config), "--ckpt-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "look like regression targets" in err and '"task": "regression"' in err
    assert not (tmp_path / "reg").exists()  # refused before the run folder was made


def test_a_source_with_a_fixed_task_refuses_another(tmp_path, capsys):
    config = _config(tmp_path / "c.json", data={"source": "sklearn", "name": "iris",
                                                "task": "regression"})
    assert main(["train", str(config), "--ckpt-root", str(tmp_path)]) == 2
    assert "data.task is 'regression'" in capsys.readouterr().err


# ------------------------------------------------------------- 4. train_images --shift
def test_train_images_augments_before_normalising(image_folder):
    import importlib.util

    from preprocess import Data

    spec = importlib.util.spec_from_file_location("train_images",
                                                  ROOT / "scripts" / "train_images.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = script.load_images(image_folder, shift=True)

    raw = Data.from_image_folder(image_folder).split_validation(0.1, seed=0)
    n = len(raw)
    raw.augment_shift(raw.image_shape, pixels=1)
    assert len(data) == 5 * n
    # the statistics are those of the augmented training split, whose shifted-in border
    # pixels were 0 (background) before normalising
    np.testing.assert_allclose(data.normalizer.offset, raw.X_train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.X_train, data.normalizer.apply(raw.X_train), rtol=1e-5)


# ------------------------------------------------------- 5. strict values, nothing written
@pytest.mark.parametrize("args", [["--epochs", "-5"], ["--epochs", "true"],
                                  ["--set", "train.seed=-1"], ["--set", "train.epochs=true"],
                                  ["--set", "train.epochs=-5"], ["--set", "train.epochs=2.0"]])
def test_a_bad_resume_value_is_refused_before_anything_is_written(iris_run, capsys, args):
    before = _snapshot(iris_run)
    assert _main("resume", str(iris_run), *args) == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err
    assert _snapshot(iris_run) == before


def test_resume_to_fewer_epochs_than_done_is_refused(iris_run, capsys):
    before = {k: v for k, v in _snapshot(iris_run).items() if k != ".lock"}
    assert _main("resume", str(iris_run), "--epochs", "2") == 2
    assert "3 epochs done; --epochs must be more than that" in capsys.readouterr().err
    assert {k: v for k, v in _snapshot(iris_run).items() if k != ".lock"} == before


@pytest.mark.parametrize("item, message", [
    ("train.seed=-1", "train.seed: input should be greater than or equal to 0 (found -1)"),
    ("train.epochs=true", "train.epochs: input should be a valid integer (found true)"),
])
def test_a_bad_train_value_is_refused_before_the_folder_is_made(tmp_path, capsys, item,
                                                                message):
    config = _config(tmp_path / "c.json")
    assert _main("train", str(config), "--ckpt-root", str(tmp_path / "ckpt"),
                 "--set", item) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists()


# ------------------------------------------------------------------ 6. no traceback
def test_a_config_holding_a_list_is_an_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "list.json"
    path.write_text("[]")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: expected a JSON object" in err and "found list" in err
    assert "Traceback" not in err


def test_malformed_json_names_the_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n "data": {,}}')
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not valid JSON" in err and "line 2 column 11" in err


def test_predict_into_a_pipe_that_closes_ends_quietly(iris_run, tmp_path):
    """``mlp predict ... | head -1`` with a real pipe: the reader leaves after one line."""
    inputs = tmp_path / "many.npy"
    np.save(inputs, np.tile([[5.1, 3.5, 1.4, 0.2]], (100_000, 1)))  # far more than a pipe holds
    predict = subprocess.Popen([sys.executable, "-m", "mlp.cli", "predict", str(iris_run),
                                str(inputs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=ENV)
    head = subprocess.Popen(["head", "-1"], stdin=predict.stdout, stdout=subprocess.PIPE)
    predict.stdout.close()  # head holds the only reading end
    out, _ = head.communicate(timeout=300)
    err = predict.stderr.read()
    predict.stderr.close()
    assert predict.wait(timeout=300) == 0
    assert err == b"" and len(out.splitlines()) == 1


# ------------------------------------------------------- 7. messages in config's words
def test_validation_lists_every_error_by_its_place_in_the_config(tmp_path, capsys):
    config = _config(tmp_path / "c.json")
    assert main(["train", str(config), "--set", "model.hiden=[3]", "--set", "train.lr=-1",
                 "--set", "train.epochs=0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "mlp train: invalid config, 3 errors:"
    assert "  model.hiden: extra inputs are not permitted (found [3])" in err
    assert "  train.lr: input should be greater than 0 (found -1)" in err
    assert "  train.epochs: input should be greater than 0 (found 0)" in err
    assert not any("function-after" in line or "MlpSpec" in line for line in err)


def test_a_full_model_spec_is_described_in_its_own_words(tmp_path, capsys):
    config = _config(tmp_path / "c.json")
    raw = json.loads(config.read_text())
    raw["model"] = {"modules": [{"type": "layer", "in_features": 4, "out_feature": 3}]}
    config.write_text(json.dumps(raw))
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "model.modules[0].out_feature: extra inputs are not permitted (found 3)" in err
    assert "model.hidden" not in err


def test_set_with_broken_json_is_an_error_not_a_string(tmp_path, capsys):
    config = _config(tmp_path / "c.json")
    assert main(["train", str(config), "--set", "model.hidden=[20,"]) == 2
    assert "--set model.hidden: '[20,' is not valid JSON" in capsys.readouterr().err


# ----------------------------------------------------------- 8. the right file named
def test_resume_of_a_missing_folder_names_it_and_makes_nothing(tmp_path, capsys):
    missing = tmp_path / "missing" / "dir"
    assert main(["resume", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such run folder" in err
    assert not (tmp_path / "missing").exists()


def test_resume_of_a_folder_without_a_checkpoint_starts_the_run_over(tmp_path, iris_run,
                                                                     capsys, caplog):
    """A run stopped before its first save holds only config.json: resume trains it from
    epoch 0 with the config's seeds, to the very weights of the run never stopped."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_bytes((iris_run / "config.json").read_bytes())
    assert main(["-q", "resume", str(folder)]) == 0
    assert "starting it over from epoch 0" in caplog.text
    again, first = load_checkpoint(folder / "last.h5"), load_checkpoint(iris_run / "last.h5")
    assert again.state.epoch == first.state.epoch == 3
    for (name, array), (_, expected) in zip(again.model.named_arrays(),
                                             first.model.named_arrays(), strict=True):
        assert np.array_equal(array, expected), name


@pytest.mark.parametrize("array, message", [
    (np.ones((2, 3)), "the model takes 4 features per sample, found 3"),
    (np.ones((0, 4)), "found an empty array of shape (0, 4)"),
    (np.ones((0,)), "found an empty array of shape (0,)"),
    (np.array(["a", "b", "c", "d"]), "expected numeric inputs, found dtype <U1"),
    (np.ones((2, 2, 2)), "found ndim 3 with shape (2, 2, 2)"),
])
def test_bad_predict_inputs_name_the_file(tmp_path, iris_run, capsys, array, message):
    path = tmp_path / "inputs.npy"
    np.save(path, array)
    assert main(["predict", str(iris_run), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"mlp predict: DataError: {path}: " in err and message in err


def test_predict_of_a_missing_file_names_it(tmp_path, iris_run, capsys):
    assert main(["predict", str(iris_run), str(tmp_path / "nope.npy")]) == 2
    assert f"{tmp_path / 'nope.npy'}: no such input file" in capsys.readouterr().err


# ------------------------------------------------------- 9./10. progress and log lines
def _in_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``mlp ARGS`` with standard error on a pseudo terminal 100 columns wide; returns
    the exit status and everything written to the terminal."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "mlp.cli", *args], cwd=cwd, env=ENV,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=300), b"".join(chunks).decode()


def _early_stopping_config(path: Path) -> Path:
    return _config(path, name="es", epochs=40, lr=0.05, early_stopping=2, progress=True)


def test_on_a_terminal_log_lines_print_above_the_bar_which_ends_at_the_last_epoch(tmp_path):
    config = _early_stopping_config(tmp_path / "es.json")
    status, screen = _in_a_terminal(["train", str(config), "--ckpt-root", "ckpt"], tmp_path)
    assert status == 0
    done = load_checkpoint(tmp_path / "ckpt" / "es" / "last.h5").state.epoch
    assert done < 40  # it stopped early
    # what each terminal line shows last: the text after its last carriage return
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in screen.split("\n")]
    stops = [line for line in screen.split("\n") if "early stopping after" in line]
    assert len(stops) == 1  # once, not also into the bar
    assert f"early stopping after epoch {done}: no improvement for 2 epochs" in shown
    assert any(line.startswith("restored the best weights") for line in shown)
    bars = re.findall(r"(\d+)/40 \[", screen)
    assert bars and int(bars[-1]) == done  # the bar ends at the last epoch done


def test_piped_output_is_one_plain_line_per_epoch(tmp_path):
    config = _config(tmp_path / "c.json", epochs=5, progress=True)
    result = _cli("train", str(config), "--ckpt-root", "ckpt", cwd=tmp_path)
    assert result.returncode == 0 and "\r" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line.split()[1] for line in lines] == [f"{e}/5" for e in range(1, 6)]
    for line in lines:
        assert re.fullmatch(r"epoch \d/5  loss \S+  val_loss \S+  acc \S+  val_acc \S+  "
                            r"lr \S+  \d+\.\d\d s", line), line
    assert "test accuracy" in result.stdout


def test_log_every_and_quiet_after_the_command(tmp_path, caplog, capsys):
    caplog.set_level("INFO", logger="mlp")
    config = _config(tmp_path / "c.json", epochs=5, progress=True)
    assert main(["train", str(config), "--ckpt-root", str(tmp_path), "--log-every", "2"]) == 0
    epochs = [r.getMessage().split()[1] for r in caplog.records
              if r.getMessage().startswith("epoch ")]
    assert epochs == ["2/5", "4/5", "5/5"]
    caplog.clear()
    assert main(["train", str(config), "--ckpt-root", str(tmp_path), "--overwrite", "-q"]) == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert "test accuracy" in capsys.readouterr().out
    assert _main("train", str(config), "--log-every", "0") == 2
    assert "--log-every: expected a number above 0, found 0" in capsys.readouterr().err


def test_progress_on_a_terminal_stream_counts_to_the_last_epoch():
    import io

    from mlp.history import History
    from mlp.training.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    history = History()
    with Progress(0, 10, stream=stream) as progress:
        assert progress.bar is not None
        for epoch in (1, 2, 3):
            row = {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": None,
                   "train_accuracy": None, "val_accuracy": None, "lr": 0.1, "seconds": 0.0}
            history.append(**row)
            progress.epoch(row, history)
    assert re.findall(r"(\d+)/10", stream.getvalue())[-1] == "3"


# -------------------------------------------------------------- 11. the command line
def test_version_and_quiet_after_the_command(capsys):
    from mlp.version import __version__

    assert _main("--version") == 0
    assert capsys.readouterr().out.strip() == f"mlp-routinizer {__version__}"
    assert _parser().parse_args(["schema", "-q"]).quiet is True
    assert _parser().parse_args(["-q", "schema"]).quiet is True


#: flags of the command's own making, hidden from --help
INTERNAL_FLAGS = {("sweep", "worker"), ("sweep", "data_file"), ("sweep", "parent")}


def test_help_has_no_markup_and_every_argument_has_help(capsys):
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in [("mlp", parser), *commands.items()]:
        for action in sub._actions:
            if (name, action.dest) in INTERNAL_FLAGS:  # how --workers starts its processes
                assert action.help == argparse.SUPPRESS
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
        for text in (sub.format_help(), sub.description or ""):
            assert "``" not in text and ":func:" not in text, name
    for name in ("", *commands):
        assert _main(*([name] if name else []), "--help") == 0
        assert "``" not in capsys.readouterr().out


def test_predict_proba_prints_one_row_of_probabilities_per_sample(iris_run, tmp_path, capsys):
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert main(["predict", str(iris_run), str(inputs), "--proba"]) == 0
    rows = [[float(v) for v in line.split()] for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(len(row) == 3 for row in rows)
    np.testing.assert_allclose([sum(row) for row in rows], 1.0, atol=1e-4)
    expected = load_checkpoint(iris_run / "best.h5").predict_proba(np.load(inputs))
    np.testing.assert_allclose(rows, expected, rtol=1e-5)


def test_checkpoint_predict_takes_one_1d_sample(iris_run):
    checkpoint = load_checkpoint(iris_run / "best.h5")
    sample = np.array([5.1, 3.5, 1.4, 0.2])
    assert checkpoint.predict(sample).shape == (1,)
    assert checkpoint.predict(sample)[0] == checkpoint.predict(sample[None, :])[0]
    assert checkpoint.predict_proba(sample).shape == (1, 3)


def test_an_image_model_takes_n_by_h_by_w_arrays(digits_run, tmp_path):
    from sklearn.datasets import load_digits

    from preprocess.loaders import read_inputs

    checkpoint = load_checkpoint(digits_run / "best.h5")
    images = load_digits().images[:20]
    np.save(tmp_path / "images.npy", images)
    X = read_inputs([tmp_path / "images.npy"], checkpoint.image_shape, 16.0, 64)
    assert X.shape == (20, 64) and np.array_equal(X, images.reshape(20, 64))
    np.save(tmp_path / "wrong.npy", images[:, :4, :])
    with pytest.raises(DataError, match=r"wrong.npy: .*or \(N, 8, 8\) images, found ndim 3"):
        read_inputs([tmp_path / "wrong.npy"], checkpoint.image_shape, 16.0, 64)


# ----------------------------------------------------------- 12. shorthands, defaults
def test_set_schedule_and_loss_by_kind(tmp_path, capsys):
    config = _config(tmp_path / "c.json")
    assert main(["train", str(config), "--ckpt-root", str(tmp_path),
                 "--set", "train.schedule=cosine", "--set", "train.optimizer=sgd"]) == 0
    saved = json.loads((tmp_path / "iris" / "config.json").read_text())
    assert saved["train"]["schedule"]["kind"] == "cosine"
    assert saved["train"]["optimizer"] == "sgd"
    assert saved["train"]["loss"]["kind"] == "cross_entropy"  # the default for classes
    capsys.readouterr()
    assert main(["train", str(config), "--ckpt-root", str(tmp_path / "b"),
                 "--set", "train.loss=mse"]) == 2
    assert "mse needs regression data" in capsys.readouterr().err


def test_a_regression_config_gets_mse_without_a_loss(tmp_path):
    config = _config(tmp_path / "sin.json", name="sin",
                     data={"source": "sin", "n_train": 32, "n_val": 16}, batch_size=None)
    assert main(["-q", "train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "sin" / "config.json").read_text())
    assert saved["train"]["loss"]["kind"] == "mse"
    assert load_checkpoint(tmp_path / "sin" / "last.h5").config.loss.kind == "mse"


# ------------------------------------------------------------------ 13. evaluate
def test_evaluate_without_a_test_split_says_to_use_val(tmp_path, capsys):
    config = _config(tmp_path / "sin.json", name="sin",
                     data={"source": "sin", "n_train": 32, "n_val": 16}, batch_size=None)
    assert main(["-q", "train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "sin")]) == 2
    err = capsys.readouterr().err
    assert "has no test split" in err and err.rstrip().endswith("use --split val")
    assert main(["evaluate", str(tmp_path / "sin"), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 16


def test_evaluate_split_train_scores_the_original_samples(digits_run, capsys):
    from preprocess import Data

    raw = Data.from_sklearn("digits", test_fraction=0.25, seed=0).split_validation(0.1)
    assert main(["evaluate", str(digits_run), "--split", "train", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == len(raw) == 1211  # not the 5 x 1211 shifted copies


# ------------------------------------------------------------ 14. after early stopping
def test_summary_and_runs_report_the_restored_best_epoch(tmp_path, capsys):
    config = _early_stopping_config(tmp_path / "es.json")
    raw = json.loads(config.read_text())
    raw["train"]["progress"] = False
    config.write_text(json.dumps(raw))
    assert main(["train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    last = load_checkpoint(tmp_path / "es" / "last.h5")
    state, history = last.state, last.history
    assert stopped_early(last) and state.best_epoch < state.epoch
    best = history.epoch.index(state.best_epoch)
    summary = out.splitlines()[0]
    assert summary.startswith(f"epochs: {state.epoch} (stopped early; restored epoch "
                              f"{state.best_epoch})")
    assert f"val loss: {history.val_loss[best]:.4g}" in summary
    assert f"val accuracy: {history.val_accuracy[best]:.4f}" in summary
    assert main(["runs", str(tmp_path)]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.split()[:5] == ["es", str(state.epoch), str(state.best_epoch),
                               f"{history.val_loss[best]:.4g}",
                               f"{history.val_accuracy[best]:.4f}"]
    assert row.endswith("(stopped early)")


def test_resuming_an_early_stopped_run_says_what_happens(tmp_path, caplog, capsys):
    caplog.set_level("INFO", logger="mlp")
    config = _early_stopping_config(tmp_path / "es.json")
    assert main(["-q", "train", str(config), "--ckpt-root", str(tmp_path)]) == 0
    done = load_checkpoint(tmp_path / "es" / "last.h5").state.epoch
    caplog.clear()
    capsys.readouterr()
    assert main(["-q", "resume", str(tmp_path / "es"), "--set",
                 "train.early_stopping=50"]) == 0
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("note:")]
    assert len(notes) == 1 and f"stopped early at epoch {done}" in notes[0]
    assert "stops after the next epoch" not in notes[0]  # the patience was raised
    resumed = load_checkpoint(tmp_path / "es" / "last.h5")
    assert resumed.state.epoch == 40 and not stopped_early(resumed)  # ran its epochs out
    assert capsys.readouterr().out.startswith("epochs: 40  ")


# --------------------------------------------------------------- 15. set-up commands
def test_make_train_runs_twice_in_a_row(tmp_path, monkeypatch, capsys):
    """The Makefile's ``train`` recipe (with 1 epoch) succeeds twice in the same folder."""
    recipe = (ROOT / "Makefile").read_text().split("\ntrain:", 1)[1].split("\n\n", 1)[0]
    (command,) = [line.strip() for line in recipe.splitlines() if "mlp train" in line]
    args = command.split("mlp ", 1)[1].split()
    assert "--overwrite" in args
    args[args.index("scripts/configs/digits.json")] = str(ROOT / "scripts/configs/digits.json")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["-q", *args, "--set", "train.epochs=1"]) == 0
        assert "test accuracy" in capsys.readouterr().out
    assert main(["-q", "train", str(ROOT / "scripts/configs/digits.json"),
                 "--set", "train.epochs=1"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_editable_install_is_one_path_entry():
    """pyproject says where the packages are, so setuptools' editable install is a plain
    ``.pth`` entry, not an import hook announced by a BuildBackendWarning."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"": "."}
    # every package and sub-package is listed, so a wheel leaves none behind
    found = {".".join(init.parent.relative_to(ROOT).parts) for top in ("mlp", "preprocess")
             for init in (ROOT / top).rglob("__init__.py")}
    assert set(config["packages"]) == found


# ------------------------------------------------------------------ 16. quick --help
def test_help_loads_neither_h5py_nor_matplotlib_nor_preprocess_nor_pydantic():
    code = "import sys; sys.argv = ['mlp', '--help']; from mlp.cli.commands import main; main()"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, env=ENV, check=True)
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "mlp.cli.commands" in imported
    assert not {"h5py", "matplotlib", "preprocess", "pydantic", "numpy"} & imported

"""Training diagnostics: the seed report's failure is named, healthy runs stay quiet, every
recorded statistic matches a direct NumPy computation, resume is exact, and ``mlp diagnose``
prints the table and draws ``diagnostics.png``."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import re
from pathlib import Path
from types import ModuleType

import h5py
import matplotlib.image
import numpy as np
import pytest

from mlp.cli.commands import main
from mlp.history import History
from mlp.nn.layers import Layer, Nonlinearity
from mlp.nn.losses import Loss
from mlp.nn.model import Model
from mlp.training.checkpoint import load_checkpoint
from mlp.training.diagnostics import LAYER_STATS, PROBE_SIZE, figure, probe
from mlp.training.routinizer import BasicRoutinizer
from mlp.training.run_config import RunConfig, load_data
from preprocess import Data

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
CONFIGS = SCRIPTS / "configs"


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: 28x28 "scanned characters" of 12 classes, raw pixels in [0, 1] (the seed report's kind)
character_images = _load_script("diagnose_seed").character_images


def seed_data(n_train: int = 300, n_val: int = 60) -> Data:
    X, y = character_images(n_train + n_val)
    return Data(X[:n_train], y[:n_train], X_val=X[n_train:], y_val=y[n_train:])


def blobs(n: int = 160, features: int = 10, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return Data(X, y).split_validation(0.25, seed=0)


def warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "mlp" and r.levelno == logging.WARNING]


# ------------------------------------------------------------------------------ warnings
def test_seed_report_failure_names_dead_units_and_collapsed_predictions(caplog):
    """784-128-64-32-12 ReLU, normal init with std 1.0, SGD lr 0.01 (seed report 000)."""
    data = seed_data()
    model = Model.mlp([784, 128, 64, 32, 12], init="normal", init_scale=1.0, seed=0)
    routinizer = BasicRoutinizer(epochs=3, batch_size=32, lr=0.01, optimizer="sgd",
                                 progress=False, diagnostics=True)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        history = routinizer.run(model, data)
    fired = history.diagnostic_warnings
    assert "dead_units.layer1" in fired and "collapsed_predictions" in fired
    dead = fired["dead_units.layer1"]
    assert dead.startswith("epoch 1: layer 1: ") and "of ReLU units are dead" in dead
    assert "784 inputs (init 'normal', init_scale 1)" in dead and "init='he'" in dead
    assert history.diagnostics["layer1.dead"][0] >= 0.9
    collapsed = fired["collapsed_predictions"]
    assert re.match(r"epoch [23]: (every|9\d% of the) validation samples? ha(s|ve) been "
                    r"predicted as class \d+ since epoch [12]: ", collapsed)
    assert history.val_accuracy[-1] < 0.2  # about 1/12, as the report found
    lines = warned(caplog)
    assert sorted(lines) == sorted(fired.values())  # each logged once, as recorded
    assert all("\n" not in line for line in lines)


def test_the_fix_he_init_trains_without_those_warnings(caplog):
    data = seed_data()
    model = Model.mlp([784, 128, 64, 32, 12], init="he", seed=0)
    routinizer = BasicRoutinizer(epochs=3, batch_size=32, lr=0.01, optimizer="sgd",
                                 progress=False, diagnostics=True)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        history = routinizer.run(model, data)
    assert history.diagnostic_warnings == {} and warned(caplog) == []
    assert max(history.diagnostics["layer1.dead"]) < 0.5
    assert history.val_accuracy[-1] > 2 / 12 and history.train_loss[-1] < history.train_loss[0]


def test_deep_sigmoid_network_warns_of_vanishing_gradients():
    model = Model.mlp([10] + [32] * 9 + [2], nonlinearity="sigmoid", init="xavier", seed=0)
    routinizer = BasicRoutinizer(epochs=1, batch_size=32, progress=False, diagnostics=True)
    history = routinizer.run(model, blobs())
    message = history.diagnostic_warnings["vanishing_gradients"]
    assert "layer 1's gradient norm is" in message and "of layer 10's" in message
    d = history.diagnostics
    assert d["layer1.grad_norm"][0] / d["layer10.grad_norm"][0] < 1e-3


def test_adam_with_lr_1_warns_that_the_updates_are_too_large():
    routinizer = BasicRoutinizer(epochs=1, batch_size=32, lr=1.0, optimizer="adam",
                                 progress=False, diagnostics=True)
    history = routinizer.run(Model.mlp([10, 32, 32, 2], seed=0), blobs())
    message = history.diagnostic_warnings["update_ratio_high"]
    assert "lr 1 (adam) is too high" in message and "about 1e-3" in message


def test_tiny_lr_warns_low_update_ratio_and_a_stalled_loss():
    routinizer = BasicRoutinizer(epochs=30, batch_size=8, lr=1e-7, optimizer="sgd",
                                 progress=False, diagnostics=True)
    history = routinizer.run(Model.mlp([10, 16, 2], seed=0), blobs(n=80))
    fired = history.diagnostic_warnings
    assert fired["update_ratio_low"].startswith("epoch 3: ")
    assert "lr 1e-07 (sgd) is too low" in fired["update_ratio_low"]
    # 8 updates an epoch: the loss is judged stalled once the epochs looked at hold 200
    assert fired["stalled_loss"].startswith("epoch 25: the training loss has stayed at")


def _shipped(name: str, epochs: int | None) -> tuple[BasicRoutinizer, Model, Data]:
    config = RunConfig.model_validate_json((CONFIGS / f"{name}.json").read_text())
    config.train.diagnostics, config.train.progress = True, False
    if epochs is not None:
        config.train.epochs = epochs
    data = load_data(config.data)
    return config.train, config.build_model(data.n_features, data.n_outputs), data


# digits is trained for a few of its 40 epochs (the rest takes half a minute); iris and sin
# for all theirs: sin's loss rests on a plateau around epoch 300 that is no stall
@pytest.mark.parametrize("name, epochs", [("digits", 4), ("iris", None), ("sin", None)])
def test_no_warning_on_the_shipped_configs(caplog, name, epochs):
    routinizer, model, data = _shipped(name, epochs)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        history = routinizer.run(model, data)
    assert history.diagnostic_warnings == {} and warned(caplog) == []
    assert len(history.diagnostics["layer1.grad_norm"]) == len(history)


def _small(seed: int = 0, n: int = 200) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return Data(X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)).split_validation(0.25, seed=0)


TRAINING_CASES = {  # tests/test_training.py's configurations (digits there: 25 epochs)
    "digits": (lambda: Data.from_sklearn("digits", test_fraction=0.25, seed=0)
               .augment_shift((8, 8)).normalize("zscore"),
               lambda: Model.mlp([64, 256, 10], dropout=0.2, seed=0),
               {"epochs": 3, "batch_size": 32, "lr": 1e-3, "weight_decay": 1e-4,
                "loss": {"kind": "cross_entropy", "label_smoothing": 0.1},
                "schedule": {"kind": "cosine", "min_lr": 1e-5}}),
    "early-stopping": (_small, lambda: Model.mlp([5, 64, 64, 2], seed=0),
                       {"epochs": 200, "batch_size": 8, "lr": 0.01, "early_stopping": 3}),
    "target-loss": (_small, lambda: Model.mlp([5, 16, 2]),
                    {"epochs": 100, "batch_size": 16, "lr": 0.01, "target_loss": 0.3}),
    "step-schedule": (_small, lambda: Model.mlp([5, 8, 2]),
                      {"epochs": 3, "batch_size": 32,
                       "schedule": {"kind": "step", "step_size": 1, "gamma": 0.5}}),
}


@pytest.mark.parametrize("case", list(TRAINING_CASES))
def test_no_warning_on_the_accuracy_tests_configurations(caplog, case):
    make_data, make_model, options = TRAINING_CASES[case]
    routinizer = BasicRoutinizer(progress=False, diagnostics=True, **options)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        history = routinizer.run(make_model(), make_data())
    assert history.diagnostic_warnings == {} and warned(caplog) == []


def test_image_folder_configuration_gives_no_warning(caplog, image_folder):
    data = Data.from_image_folder(image_folder).split_validation(0.25, seed=0)
    data.normalize("zscore")
    routinizer = BasicRoutinizer(epochs=20, batch_size=16, lr=3e-3, progress=False,
                                 diagnostics=True)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        history = routinizer.run(Model.mlp([144, 32, 3], seed=0), data)
    assert history.diagnostic_warnings == {} and warned(caplog) == []


# ---------------------------------------------------------------------------- statistics
def test_every_statistic_matches_a_direct_numpy_computation():
    """A float64 4-8-5-3 net (ReLU, sigmoid), large initial weights so that some units are
    dead and some saturated, trained for two epochs of plain SGD on four batches; the same
    training is replayed by hand."""
    rng = np.random.default_rng(5)
    X = np.abs(rng.normal(size=(20, 4))) * 2.0  # positive: units with negative weights die
    y = rng.integers(0, 3, 20)
    X_val, y_val = rng.normal(size=(9, 4)), rng.integers(0, 3, 9)
    data = Data(X, y, X_val=X_val, y_val=y_val)
    modules = [Layer(in_features=4, out_features=8, init="normal", init_scale=1.5),
               Nonlinearity(kind="relu"),
               Layer(in_features=8, out_features=5, init="normal", init_scale=2.0),
               Nonlinearity(kind="sigmoid"), Layer(in_features=5, out_features=3)]
    model = Model(modules=modules, seed=0, dtype="float64")
    replay = model.copy()
    lr, batch = 0.05, 5
    routinizer = BasicRoutinizer(epochs=2, batch_size=batch, lr=lr, optimizer="sgd",
                                 shuffle=False, progress=False, diagnostics=True)
    history = routinizer.run(model, data)
    d = history.diagnostics

    loss = Loss(kind="cross_entropy")
    layers = replay.layers
    for epoch in range(2):
        start = [layer.weight.copy() for layer in layers]
        norms = np.zeros(3)
        first_step = None
        for s in range(0, 20, batch):
            out = replay.forward(X[s:s + batch], train=True)
            loss.forward(out, y[s:s + batch])
            replay.backward(loss.backward())
            norms += [np.linalg.norm(layer.grad_weight) for layer in layers]
            for layer in layers:
                layer.weight -= lr * layer.grad_weight
                layer.bias -= lr * layer.grad_bias
            if first_step is None:
                first_step = [np.linalg.norm(layer.weight - w0) / np.linalg.norm(w0)
                              for layer, w0 in zip(layers, start, strict=True)]
        z1 = X @ layers[0].weight + layers[0].bias
        z2 = np.maximum(z1, 0) @ layers[1].weight + layers[1].bias
        a2 = 1 / (1 + np.exp(-z2))
        z3 = a2 @ layers[2].weight + layers[2].bias
        for k, (layer, z) in enumerate(zip(layers, (z1, z2, z3), strict=True), start=1):
            expect = {
                "weight_norm": np.linalg.norm(layer.weight),
                "grad_norm": norms[k - 1] / 4,
                "update_ratio": (np.linalg.norm(layer.weight - start[k - 1])
                                 / np.linalg.norm(start[k - 1])),
                "step_ratio": first_step[k - 1],
                "pre_mean": z.mean(), "pre_std": z.std(),
            }
            for stat, value in expect.items():
                assert d[f"layer{k}.{stat}"][epoch] == pytest.approx(value, rel=1e-9), stat
        assert d["layer1.dead"][epoch] == pytest.approx(np.mean(np.all(z1 <= 0, axis=0)))
        assert d["layer2.saturated"][epoch] == pytest.approx(
            np.mean((a2 < 0.01) | (a2 > 0.99)), abs=1e-12)
        assert math.isnan(d["layer1.saturated"][epoch]) and math.isnan(d["layer2.dead"][epoch])
        assert math.isnan(d["layer3.dead"][epoch]) and math.isnan(d["layer3.saturated"][epoch])
        predicted = replay.predict(X_val)
        top = np.bincount(predicted).argmax()
        assert d["predicted_share"][epoch] == pytest.approx(np.mean(predicted == top))
        assert d["steps"][epoch] == 4
    assert 0 < d["layer1.dead"][-1] < 1 and 0 < d["layer2.saturated"][-1] < 1  # both seen
    assert set(d) == {f"layer{k}.{s}" for k in (1, 2, 3) for s in LAYER_STATS} | {
        "collapsed_class", "predicted_share", "steps"}


def test_probe_batch_is_the_first_training_rows_and_draws_no_randomness():
    data = blobs(n=400)
    plain = BasicRoutinizer(epochs=2, progress=False)
    watched = BasicRoutinizer(epochs=2, progress=False, diagnostics=True)
    a, b = Model.mlp([10, 16, 2], seed=0), Model.mlp([10, 16, 2], seed=0)
    plain.run(a, data)
    history = watched.run(b, data)
    assert plain.rng.bit_generator.state == watched.rng.bit_generator.state
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a.named_arrays(),
                                                             b.named_arrays(), strict=True))
    probes, _ = probe(b, data.X_train[:PROBE_SIZE])
    assert probes[0].pre.shape == (PROBE_SIZE, 16)
    assert history.diagnostics["layer1.pre_std"][-1] == pytest.approx(probes[0].pre.std())


def test_off_by_default_records_and_saves_nothing(tmp_path):
    routinizer = BasicRoutinizer(epochs=2, progress=False, checkpoint_dir=tmp_path / "run")
    assert routinizer.diagnostics is False
    history = routinizer.run(Model.mlp([10, 8, 2]), blobs())
    assert history.diagnostics == {} and history.diagnostic_warnings == {}
    with h5py.File(tmp_path / "run" / "last.h5") as file:
        assert "diagnostics" not in file["history"]
        assert "diagnostic_warnings" not in file["history"].attrs


# -------------------------------------------------------------------------------- resume
def _train(folder: Path, epochs: int) -> tuple[BasicRoutinizer, Model]:
    model = Model.mlp([10, 16, 16, 2], dropout=0.1, seed=3)
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=16, lr=1.0, optimizer="adam",
                                 seed=11, progress=False, checkpoint_dir=folder,
                                 diagnostics=True)
    routinizer.run(model, blobs())
    return routinizer, model


def test_resume_with_diagnostics_is_bit_identical_and_does_not_repeat_warnings(tmp_path,
                                                                                caplog):
    straight, straight_model = _train(tmp_path / "straight", 6)
    first, _ = _train(tmp_path / "interrupted", 3)
    assert "update_ratio_high" in first.history.diagnostic_warnings  # fired at epoch 1

    routinizer, model = BasicRoutinizer.resume(tmp_path / "interrupted")
    assert routinizer.diagnostics
    routinizer.epochs = 6
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mlp"):
        routinizer.run(model, blobs())
    repeated = [m for m in warned(caplog) if m in first.history.diagnostic_warnings.values()]
    assert repeated == []
    for (_, expected), (_, array) in zip(straight_model.named_arrays(), model.named_arrays(),
                                         strict=True):
        assert np.array_equal(expected, array)
    resumed, uninterrupted = routinizer.history, straight.history
    assert resumed.diagnostics.keys() == uninterrupted.diagnostics.keys()
    for name, values in uninterrupted.diagnostics.items():
        assert np.array_equal(values, resumed.diagnostics[name], equal_nan=True), name
    assert resumed.diagnostic_warnings == uninterrupted.diagnostic_warnings
    loaded = load_checkpoint(tmp_path / "interrupted" / "last.h5").history
    assert loaded.diagnostic_warnings == uninterrupted.diagnostic_warnings
    for name, values in uninterrupted.diagnostics.items():
        assert np.array_equal(values, loaded.diagnostics[name], equal_nan=True), name


# ----------------------------------------------------------------------------------- CLI
def test_cli_train_diagnose_then_diagnose_prints_the_table_and_draws_the_figure(tmp_path,
                                                                                capsys):
    X, y = character_images(240)
    np.savez(tmp_path / "chars.npz", X=X, y=y)
    config = {"name": "seed", "data": {"source": "npz", "path": str(tmp_path / "chars.npz"),
                                       "validation_fraction": 0.2, "normalize": None},
              "model": {"hidden": [128, 64, 32], "init": "normal", "init_scale": 1.0},
              "train": {"epochs": 2, "batch_size": 32, "lr": 0.01, "optimizer": "sgd"}}
    (tmp_path / "seed.json").write_text(json.dumps(config))
    assert main(["-q", "train", str(tmp_path / "seed.json"), "--diagnose",
                 "--ckpt-root", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    run = tmp_path / "ckpt" / "seed"
    assert main(["diagnose", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("last.h5: epoch 2, 4 layers, probe batch of 192 training samples")
    header = out[1].split()
    assert header == ["layer", "module", "shape", "activation", "weight_norm", "grad_norm",
                      "update_ratio", "step_ratio", "dead", "saturated", "pre_mean", "pre_std"]
    rows = [line.split() for line in out[2:6]]
    assert [r[:4] for r in rows] == [["1", "Layer", "784x128", "relu"],
                                     ["2", "Layer", "128x64", "relu"],
                                     ["3", "Layer", "64x32", "relu"], ["4", "Layer", "32x12", "-"]]
    assert rows[0][8].endswith("%") and float(rows[0][8][:-1]) >= 90
    assert out[6] == "warnings:"
    assert any("layer 1:" in line and "ReLU units are dead" in line for line in out[7:])
    assert out[-1] == f"diagnostics.png: {run / 'diagnostics.png'}"
    image = matplotlib.image.imread(run / "diagnostics.png")
    assert image.shape[0] > 400 and image.shape[1] > 800 and image[..., :3].std() > 0.05

    checkpoint = load_checkpoint(run / "last.h5")
    data = load_data(RunConfig.model_validate_json((run / "config.json").read_text()).data)
    probes, _ = probe(checkpoint.model, data.X_train[:PROBE_SIZE])
    drawing = figure(checkpoint.history, probes, title="seed")
    titles = [axes.get_title() for axes in drawing.axes]
    assert titles[:3] == ["gradient norm (mean per step)", "update ratio ||dW||/||W|| per epoch",
                          "dead ReLU units (saturated for sigmoid/tanh)"]
    assert [t.split(" pre-activations")[0] for t in titles[3:]] == [f"layer {k}"
                                                                   for k in (1, 2, 3, 4)]
    assert titles[3].endswith("dead")
    assert [a.get_yscale() for a in drawing.axes[:2]] == ["log", "log"]
    assert all(a.get_xlabel() == "epoch" for a in drawing.axes[:3])
    assert len(drawing.axes[2].get_lines()) == 3  # the three ReLU layers
    assert drawing.get_suptitle() == "seed"


def test_cli_diagnose_of_a_run_without_diagnostics_says_how_to_record_them(tmp_path, capsys):
    config = {"name": "iris", "data": {"source": "sklearn", "name": "iris"},
              "model": {"hidden": [8]}, "train": {"epochs": 1, "batch_size": 16}}
    (tmp_path / "iris.json").write_text(json.dumps(config))
    assert main(["-q", "train", str(tmp_path / "iris.json"),
                 "--ckpt-root", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "ckpt" / "iris")]) == 0
    out = capsys.readouterr().out
    assert "train with --diagnose" in out and (tmp_path / "ckpt" / "iris" /
                                               "diagnostics.png").exists()
    assert main(["diagnose", str(tmp_path / "nowhere")]) == 2


def test_history_with_diagnostics_round_trips_through_json():
    routinizer = BasicRoutinizer(epochs=2, batch_size=32, progress=False, diagnostics=True)
    history = routinizer.run(Model.mlp([10, 8, 2]), blobs())
    assert math.isnan(history.diagnostics["layer2.dead"][0])  # no ReLU after the last layer
    again = History.model_validate_json(history.model_dump_json())
    assert again.diagnostics.keys() == history.diagnostics.keys()
    for name, values in history.diagnostics.items():
        assert np.array_equal(values, again.diagnostics[name], equal_nan=True), name

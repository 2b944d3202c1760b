"""BatchNorm1d and LayerNorm: the module protocol carrying state, checked against finite
differences, closed-form numbers and PyTorch, through training, checkpoints, resume, early
stopping, export and diagnostics."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from pydantic import ValidationError

from mlp import (
    BasicRoutinizer,
    BatchNorm1d,
    CheckpointError,
    Context,
    DataError,
    LayerNorm,
    Loss,
    Model,
    gradcheck,
    load_checkpoint,
)
from mlp.training.diagnostics import layer_table, probe
from mlp.training.run_config import RunConfig
from preprocess import Data

TRAIN = Context(train=True)


def blobs(n: int = 120, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * [1.0, 10.0, 0.1, 3.0, 1.0] + [0.0, 50.0, -2.0, 0.0, 5.0]
    y = (X[:, 0] + X[:, 3] / 3 > 0).astype(int) + (X[:, 4] > 5).astype(int)
    split = int(n * 0.75)
    return Data(X[:split], y[:split], X_val=X[split:], y_val=y[split:])


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_gradients_match_finite_differences_in_training_mode(normalization):
    model = Model.mlp([5, 7, 6, 3], normalization=normalization, nonlinearity="tanh",
                      dtype="float64", seed=2)
    before = {k: a.copy() for k, a in model.state_dict().items()}
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 5)) * 3 + 1, np.array([0, 1, 2, 0, 1, 2])
    errors: dict[str, float] = {}
    gradcheck(model, Loss(), X, y, errors=errors)
    assert {"input", "1/weight", "1/bias", "4/weight"} <= set(errors)
    if normalization == "batch":
        # the bias before a BatchNorm has no effect: both gradients are 0 up to rounding, so
        # their relative error is noise; the analytic one is checked to be 0 instead
        net = model.copy()
        loss = Loss()
        loss.forward(net.forward(X, train=True), y)
        net.backward(loss.backward())
        for index in (0, 3):  # the Layers before the two BatchNorms
            del errors[f"{index}/bias"]
            assert np.abs(net.modules[index].grad_bias).max() < 1e-12
    assert max(errors.values()) < 1e-6
    for key, array in model.state_dict().items():  # the model itself is untouched
        assert np.array_equal(array, before[key]), key


def test_batch_norm_matches_the_closed_form_and_updates_running_statistics():
    bn = BatchNorm1d(num_features=2, momentum=0.1, eps=1e-12)
    bn.initialize(np.random.default_rng(0), "float64")
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    out = bn.forward(x, TRAIN)
    np.testing.assert_allclose(out, [[-1.0, -1.0], [1.0, 1.0]])  # mean (2, 4), var (1, 4)
    np.testing.assert_allclose(bn.running_mean, [0.2, 0.4])  # 0.9 * 0 + 0.1 * mean
    np.testing.assert_allclose(bn.running_var, [1.1, 1.7])  # unbiased var (2, 8)
    grad = bn.backward(np.array([[1.0, 0.0], [0.0, 0.0]]), TRAIN)
    # d/dx of xhat_0 = (x_0 - mean) / std over two samples is 0 for a balanced gradient
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(bn.grad_weight, [-1.0, 0.0])
    np.testing.assert_allclose(bn.grad_bias, [1.0, 0.0])
    evaluated = bn.forward(np.array([[0.2, 0.4]]), Context())  # the running statistics
    np.testing.assert_allclose(evaluated, [[0.0, 0.0]], atol=1e-12)
    with pytest.raises(DataError, match="at least 2 samples per batch in training, found 1"):
        bn.forward(np.ones((1, 2)), TRAIN)


def test_layer_norm_matches_the_closed_form():
    ln = LayerNorm(normalized_shape=4, eps=1e-12)
    ln.initialize(np.random.default_rng(0), "float64")
    x = np.array([[1.0, 2.0, 3.0, 6.0]])  # mean 3, variance 3.5
    np.testing.assert_allclose(ln.forward(x, TRAIN), (x - 3.0) / np.sqrt(3.5))
    np.testing.assert_allclose(ln.forward(x, Context()), (x - 3.0) / np.sqrt(3.5))


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_forward_backward_and_running_statistics_match_pytorch(normalization):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    ours = (BatchNorm1d(num_features=6, momentum=0.2, eps=1e-4) if normalization == "batch"
            else LayerNorm(normalized_shape=6, eps=1e-4))
    ours.initialize(rng, "float64")
    ours.weight[...] = rng.uniform(0.5, 2.0, size=6)
    ours.bias[...] = rng.normal(size=6)
    theirs = (torch.nn.BatchNorm1d(6, momentum=0.2, eps=1e-4) if normalization == "batch"
              else torch.nn.LayerNorm(6, eps=1e-4)).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        theirs.bias.copy_(torch.from_numpy(ours.bias))
    for step in range(3):
        x = rng.normal(size=(9, 6)) * (step + 1) + step
        g = rng.normal(size=(9, 6))
        tx = torch.tensor(x, requires_grad=True)
        theirs.train()
        theirs.zero_grad()
        ty = theirs(tx)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(ours.forward(x, TRAIN), ty.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.backward(g, TRAIN), tx.grad.numpy(), rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.grad_weight, theirs.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.grad_bias, theirs.bias.grad.numpy(), rtol=1e-10)
    if normalization == "batch":
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    theirs.eval()
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(ours.forward(x, Context()),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_the_builder_places_a_normalisation_after_each_hidden_layer():
    model = Model.mlp([5, 8, 4, 3], normalization="batch", dropout=0.1)
    assert [m.type for m in model.modules] == ["layer", "batch_norm", "nonlinearity", "dropout",
                                               "layer", "batch_norm", "nonlinearity",
                                               "dropout", "layer"]
    assert [m.type for m in Model.mlp([5, 8, 3], normalization="layer").modules] == [
        "layer", "layer_norm", "nonlinearity", "layer"]
    with pytest.raises(ValueError, match="has none; add a hidden width"):
        Model.mlp([5, 3], normalization="batch")
    with pytest.raises(ValidationError, match="in_features=7"):
        Model(modules=[{"type": "layer", "in_features": 5, "out_features": 8},
                       {"type": "batch_norm", "num_features": 7}])
    config = RunConfig.model_validate({"name": "n", "data": {"source": "sin"},
                                       "model": {"hidden": [6], "normalization": "layer"}})
    assert [m.type for m in config.build_model(1, 1).modules][1] == "layer_norm"
    with pytest.raises(ValidationError, match="normalization"):
        RunConfig.model_validate({"name": "n", "data": {"source": "sin"},
                                  "model": {"hidden": [6], "normalization": "group"}})


def _train(folder, epochs, lr=0.01, **fields):
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=16, lr=lr, seed=1, progress=False,
                                 checkpoint_dir=folder, save_every_epochs=1, **fields)
    model = Model.mlp([5, 12, 3], normalization="batch", dropout=0.2, seed=3)
    routinizer.run(model, blobs())
    return routinizer, model


def test_resume_with_batch_norm_is_bit_exact_and_saves_the_buffers(tmp_path):
    _, straight = _train(tmp_path / "straight", 6)
    _train(tmp_path / "run", 3)
    saved = load_checkpoint(tmp_path / "run" / "last.h5")
    assert saved.model.modules[1].running_var.any()
    best = load_checkpoint(tmp_path / "run" / "best.h5")
    assert {"1/running_mean", "1/running_var"} <= set(best.state.best)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run")
    routinizer.epochs = 6
    routinizer.run(model, blobs())
    for (key, expected), (_, found) in zip(straight.named_arrays(), model.named_arrays(),
                                           strict=True):
        assert expected.tobytes() == found.tobytes(), key


def test_early_stopping_restores_the_buffers_with_the_weights(tmp_path):
    routinizer, model = _train(tmp_path / "es", 40, early_stopping=2, lr=0.2)
    state = routinizer.state
    assert state.stopped_early and state.best_epoch < state.epoch
    for key, array in model.state_dict().items():
        assert np.array_equal(array, state.best[key]), key
    on_disk = load_checkpoint(tmp_path / "es" / "best.h5").model
    assert np.array_equal(on_disk.modules[1].running_mean, model.modules[1].running_mean)


@pytest.mark.parametrize(("edit", "problem"), [
    ("delete", r"dataset 'model/1/running_var' is missing"),
    ("resize", r"dataset 'model/1/running_mean' has shape \(3,\), expected \(12,\)"),
])
def test_a_checkpoint_with_missing_or_misshaped_buffers_is_refused(tmp_path, edit, problem):
    _train(tmp_path / "run", 1)
    path = tmp_path / "run" / "last.h5"
    with h5py.File(path, "r+") as file:
        if edit == "delete":
            del file["model/1/running_var"]
        else:
            del file["model/1/running_mean"]
            file.create_dataset("model/1/running_mean", data=np.zeros(3, np.float32),
                                fletcher32=True)
    with pytest.raises(CheckpointError, match=problem):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_onnx_export_runs_in_onnxruntime(tmp_path, dtype, normalization):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    data = blobs().normalize()
    routinizer = BasicRoutinizer(epochs=3, batch_size=16, lr=0.01, seed=1, progress=False,
                                 checkpoint_dir=tmp_path / "run")
    routinizer.run(Model.mlp([5, 12, 3], normalization=normalization, dtype=dtype), data)
    checkpoint = load_checkpoint(tmp_path / "run" / "last.h5")
    path = checkpoint.to_onnx(tmp_path / "model.onnx")
    ops = [node.op_type for node in __import__("onnx").load(str(path)).graph.node]
    assert ("BatchNormalization" if normalization == "batch" else "LayerNormalization") in ops
    X = np.random.default_rng(5).normal(size=(11, 5)) * 5
    session = ort.InferenceSession(str(path))
    labels, probabilities = session.run(["label", "probabilities"], {"X": X.astype(dtype)})
    np.testing.assert_allclose(probabilities, checkpoint.predict_proba(X),
                               rtol=1e-5 if dtype == "float32" else 1e-10, atol=1e-6)
    assert np.array_equal(labels, checkpoint.predict(X))


def test_diagnostics_show_the_normalisations():
    model = Model.mlp([5, 12, 8, 3], normalization="batch")
    X = blobs().X_train
    probes, _ = probe(model, X)
    table = layer_table(model, BasicRoutinizer().history, probes).splitlines()
    assert [row.split()[1] for row in table[1:]] == ["Layer", "BatchNorm1d", "Layer",
                                                     "BatchNorm1d", "Layer"]
    assert [p.activation for p in probes] == [None, "relu", None, "relu", None]
    assert np.isfinite(probes[1].dead) and not np.isfinite(probes[0].dead)


def test_a_spec_file_with_normalisation_round_trips():
    model = Model.mlp([5, 6, 3], normalization="layer")
    spec = json.loads(model.model_dump_json())
    assert spec["modules"][1] == {"type": "layer_norm", "eps": 1e-5, "normalized_shape": 6}
    assert Model.model_validate(spec) == model


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # short fits
@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_the_estimators_take_a_normalisation_and_save_it(tmp_path, normalization):
    from mlp.sklearn.estimators import RoutinizerClassifier, RoutinizerRegressor

    data = blobs(200)
    kinds = {"batch": BatchNorm1d, "layer": LayerNorm}
    classifier = RoutinizerClassifier(hidden_layer_sizes=(12, 8), normalization=normalization,
                                      epochs=30, batch_size=20, lr=0.01, random_state=0)
    classifier.fit(data.X_train, data.y_train)
    assert [type(m) for m in classifier.model_.modules
            if isinstance(m, BatchNorm1d | LayerNorm)] == [kinds[normalization]] * 2
    assert classifier.score(data.X_val, data.y_val) > 0.8
    classifier.save(tmp_path / "classifier.h5")
    loaded = RoutinizerClassifier.load(tmp_path / "classifier.h5")
    assert loaded.normalization == normalization
    assert np.array_equal(loaded.predict_proba(data.X_val), classifier.predict_proba(data.X_val))
    regressor = RoutinizerRegressor(hidden_layer_sizes=(6,), normalization=normalization,
                                    epochs=3, batch_size=20, random_state=0)
    regressor.fit(data.X_train, data.X_train[:, 0])
    assert np.isfinite(regressor.predict(data.X_val)).all()
    with pytest.raises(ValueError, match="normalization"):
        RoutinizerRegressor(hidden_layer_sizes=(), normalization=normalization).fit(
            data.X_train, data.X_train[:, 0])


def test_a_sweep_chooses_the_normalisation(tmp_path):
    pytest.importorskip("optuna")
    from mlp.cli.commands import main

    sweep = {"name": "norm", "base": {
        "name": "base", "data": {"source": "sin", "n_train": 64, "n_val": 32, "seed": 0},
        "model": {"hidden": [8, 8], "nonlinearity": "tanh", "seed": 0},
        "train": {"loss": "mse", "epochs": 2, "batch_size": 16, "lr": 0.01}},
        "space": {"model.normalization": {"choice": [None, "batch", "layer"]}}}
    (tmp_path / "norm.json").write_text(json.dumps(sweep))
    assert main(["-q", "sweep", str(tmp_path / "norm.json"), "--ckpt-root",
                 str(tmp_path / "runs")]) == 0
    found = set()
    for folder in (tmp_path / "runs" / "norm").glob("trial-*"):
        modules = load_checkpoint(folder / "last.h5").model.modules
        found.add(tuple(m.type for m in modules))
    assert {types.count("batch_norm") for types in found} == {0, 2}
    assert {types.count("layer_norm") for types in found} == {0, 2} and len(found) == 3

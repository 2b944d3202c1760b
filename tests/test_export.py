"""ONNX export: onnxruntime gives what ``Checkpoint.predict``/``predict_proba`` give."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from mlp import BasicRoutinizer, Checkpoint, MLPError, Model, load_checkpoint  # noqa: E402
from mlp.cli.commands import main  # noqa: E402
from mlp.export import (  # noqa: E402
    DEFAULT_OPSET,
    ExportError,
    checkpoint_to_onnx_model,
    to_onnx,
)
from mlp.nn.module import EVAL, Module  # noqa: E402
from preprocess import Data  # noqa: E402

KINDS = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "identity"]
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
BATCHES = (1, 7, 1000)
D = 5


def _raw_inputs(n: int, seed: int) -> np.ndarray:
    """Raw features far from zero mean and unit scale, so the normaliser matters."""
    rng = np.random.default_rng(seed)
    return rng.normal(loc=[10.0, -3.0, 0.0, 100.0, 1.0], scale=[5.0, 0.5, 1.0, 30.0, 2.0],
                      size=(n, D))


def _trained(folder: Path, model: Model, data: Data, loss: str = "cross_entropy") -> Checkpoint:
    """Train ``model`` two epochs with checkpoints in ``folder``; the checkpoint as read back."""
    routinizer = BasicRoutinizer(epochs=2, batch_size=16, lr=0.01, loss=loss,
                                 checkpoint_dir=folder, progress=False)
    routinizer.run(model, data)
    return load_checkpoint(folder / "last.h5")


def _classifier_data(labels: np.ndarray, n: int = 80, seed: int = 0) -> Data:
    X = _raw_inputs(n, seed)
    y = labels[(X[:, 0] > 10).astype(int) + (X[:, 3] > 100).astype(int)]
    return Data(X, y).normalize()


def _session(path_or_proto: Path | onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    source = (str(path_or_proto) if isinstance(path_or_proto, Path)
              else path_or_proto.SerializeToString())
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _assert_classifier_matches(session: ort.InferenceSession, checkpoint: Checkpoint) -> None:
    dtype = checkpoint.model.dtype
    for n in BATCHES:
        X = _raw_inputs(n, seed=n).astype(dtype)
        label, probabilities = session.run(["label", "probabilities"], {"X": X})
        assert probabilities.dtype == np.dtype(dtype)
        expected = checkpoint.predict_proba(X)
        assert probabilities.shape == expected.shape
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=TOLERANCE[dtype])
        assert label.shape == (n,)
        assert label.tolist() == checkpoint.predict(X).tolist()


LABELS = {"int": np.array([3, 7, 42]), "str": np.array(["cat", "dog", "emu"])}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("labels", ["int", "str"])
def test_classifier_matches_library(tmp_path, kind, dtype, labels):
    # two hidden layers, and dropout (absent at inference) in the string-labelled models
    model = Model.mlp([D, 16, 8, 3], nonlinearity=kind, dtype=dtype,
                      dropout=0.2 if labels == "str" else 0.0, seed=1)
    checkpoint = _trained(tmp_path, model, _classifier_data(LABELS[labels]))
    assert checkpoint.normalizer is not None
    path = checkpoint.to_onnx(tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx"
    session = _session(path)
    _assert_classifier_matches(session, checkpoint)
    assert set(session.run(["label"], {"X": _raw_inputs(50, 9).astype(dtype)})[0].tolist()) \
        <= set(LABELS[labels].tolist())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_output_matches_predict(tmp_path, dtype):
    X = _raw_inputs(80, 0)
    y = np.stack([np.sin(X[:, 0]), X[:, 3] / 100.0], axis=1)
    model = Model.mlp([D, 16, 2], nonlinearity="tanh", dtype=dtype)
    checkpoint = _trained(tmp_path, model, Data(X, y).normalize(), loss="mse")
    session = _session(checkpoint.to_onnx(tmp_path / "model.onnx"))
    assert [o.name for o in session.get_outputs()] == ["output"]
    for n in BATCHES:
        inputs = _raw_inputs(n, seed=n).astype(dtype)
        (output,) = session.run(None, {"X": inputs})
        assert output.shape == (n, 2) and output.dtype == np.dtype(dtype)
        np.testing.assert_allclose(output, checkpoint.predict(inputs), rtol=0,
                                   atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_model_with_one_output(tmp_path, dtype):
    model = Model.mlp([D, 8, 1], nonlinearity="relu", dtype=dtype)
    data = _classifier_data(np.array(["no", "yes", "yes"]))
    checkpoint = _trained(tmp_path, model, data, loss="bce")
    assert checkpoint.classes.tolist() == ["no", "yes"]
    session = _session(checkpoint.to_onnx(tmp_path / "model.onnx"))
    _assert_classifier_matches(session, checkpoint)


def test_checkpoint_without_classes_labels_are_indices(tmp_path):
    model = Model.mlp([D, 8, 3], dtype="float64")
    trained = _trained(tmp_path, model, _classifier_data(LABELS["str"]))
    checkpoint = dataclasses.replace(trained, classes=None)
    session = _session(checkpoint_to_onnx_model(checkpoint))
    X = _raw_inputs(40, 3)
    label = session.run(["label"], {"X": X})[0]
    assert label.dtype == np.int64
    assert label.tolist() == checkpoint.predict(X).tolist()
    assert trained.classes[label].tolist() == trained.predict(X).tolist()


def test_graph_passes_the_checker_with_a_loadable_ir_version(tmp_path):
    model = Model.mlp([D, 8, 3], nonlinearity="gelu")
    checkpoint = _trained(tmp_path, model, _classifier_data(LABELS["int"]))
    proto = checkpoint_to_onnx_model(checkpoint)
    onnx.checker.check_model(proto, full_check=True)
    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets == {"": DEFAULT_OPSET}
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    (x,) = proto.graph.input
    dims = x.type.tensor_type.shape.dim
    assert x.name == "X" and dims[0].dim_param and dims[1].dim_value == D
    assert x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    ops = {node.op_type for node in proto.graph.node}
    assert {"Sub", "Div", "MatMul", "Add", "Gelu", "Softmax", "ArgMax", "Gather"} <= ops
    assert "ZipMap" not in ops and "Dropout" not in ops


def test_gelu_before_opset_20_is_the_same_formula(tmp_path):
    model = Model.mlp([D, 16, 3], nonlinearity="gelu")
    checkpoint = _trained(tmp_path, model, _classifier_data(LABELS["int"]))
    proto = checkpoint_to_onnx_model(checkpoint, opset=17)
    assert proto.opset_import[0].version == 17 and proto.ir_version == 8
    assert "Gelu" not in {node.op_type for node in proto.graph.node}
    _assert_classifier_matches(_session(proto), checkpoint)


class _NoExport(Module, type="test_no_export"):
    """A user's module without an ONNX hook."""

    def forward(self, x, ctx=EVAL):
        return x

    def backward(self, grad, ctx=EVAL):
        return grad


def test_a_module_without_an_onnx_hook_is_named(tmp_path):
    model = Model.mlp([D, 8, 3])
    checkpoint = _trained(tmp_path, model, _classifier_data(LABELS["int"]))
    checkpoint.model.modules[1] = _NoExport()
    with pytest.raises(ExportError, match=r"module 1 \(_NoExport\(\)\) cannot be exported: "
                                          r"_NoExport has no ONNX export") as caught:
        to_onnx(checkpoint, tmp_path / "model.onnx")
    assert isinstance(caught.value, MLPError)
    assert not (tmp_path / "model.onnx").exists()


def test_opset_out_of_range_is_refused(tmp_path):
    checkpoint = _trained(tmp_path, Model.mlp([D, 4, 3]), _classifier_data(LABELS["int"]))
    with pytest.raises(ExportError, match="opset must be between 13 and .*found 7"):
        checkpoint_to_onnx_model(checkpoint, opset=7)


def test_cli_exports_a_run_folder_from_best(tmp_path, capsys):
    X = _raw_inputs(120, 0)
    y = LABELS["str"][(X[:, 0] > 10).astype(int) + (X[:, 3] > 100).astype(int)]
    data = Data(X[:90], y[:90], X[90:], y[90:]).normalize()
    run = tmp_path / "run"
    routinizer = BasicRoutinizer(epochs=3, batch_size=16, lr=0.01, checkpoint_dir=run,
                                 progress=False)
    routinizer.run(Model.mlp([D, 8, 3]), data)
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), str(out), "--opset", "18"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 18
    _assert_classifier_matches(_session(out), load_checkpoint(run / "best.h5"))


def test_cli_without_onnx_says_which_extra(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    BasicRoutinizer(epochs=1, checkpoint_dir=run, progress=False).run(
        Model.mlp([D, 4, 3]), _classifier_data(LABELS["int"]))
    monkeypatch.setitem(sys.modules, "onnx", None)  # what an environment without it imports
    monkeypatch.delitem(sys.modules, "mlp.export")
    assert main(["export", str(run), str(tmp_path / "model.onnx")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "onnx" in error and "pip install 'mlp-routinizer[onnx]'" in error
    assert not (tmp_path / "model.onnx").exists()

"""Whole scikit-learn pipelines holding our estimators, converted with skl2onnx and run in
onnxruntime: labels equal, probabilities and regression outputs within 1e-5."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

from mlp.export import ExportError  # noqa: E402
from mlp.sklearn.estimators import (  # noqa: E402
    RoutinizerClassifier,
    RoutinizerRegressor,
    register_onnx_converters,
)

register_onnx_converters()  # whichever of skl2onnx and mlp.sklearn.estimators was imported first

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = [np.float32, np.float64]


def _data(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(loc=2.0, scale=[1.0, 5.0, 0.5, 3.0], size=(80, 4)).astype(dtype)
    codes = (X[:, 0] > 2).astype(int) + (X[:, 3] > 2)
    return X, codes


def _run(pipeline: object, X: np.ndarray, **options: object) -> list[np.ndarray]:
    onx = skl2onnx.to_onnx(pipeline, X[:1], options=options or None)
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _classifier(**params: object) -> RoutinizerClassifier:
    return RoutinizerClassifier(hidden_layer_sizes=(8,), epochs=10, random_state=0, **params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [np.array([3, 7, 11]), np.array(["ant", "bee", "cat"])])
def test_classifier_pipeline(dtype: type, labels: np.ndarray) -> None:
    X, codes = _data(dtype)
    pipeline = make_pipeline(StandardScaler(), _classifier()).fit(X, labels[codes])
    label, probabilities = _run(pipeline, X, zipmap=False)
    expected = pipeline.predict(X)
    assert label.tolist() == expected.tolist()
    assert len(set(expected.tolist())) > 1  # the comparison covers more than one class
    assert probabilities.dtype == dtype
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)


def test_classifier_zipmap_gives_a_dictionary_per_row() -> None:
    X, codes = _data(np.float32)
    pipeline = make_pipeline(StandardScaler(), _classifier()).fit(X, codes)
    label, rows = _run(pipeline, X)
    expected = pipeline.predict_proba(X)
    assert [sorted(row) for row in rows] == [[0, 1, 2]] * len(X)
    np.testing.assert_allclose([[row[c] for c in range(3)] for row in rows], expected,
                               atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_classifier_of_another_model_dtype(dtype: type) -> None:
    """Two boolean classes, and a model in the dtype the input is not: the graph casts in and
    out."""
    X, codes = _data(dtype)
    other = "float64" if dtype == np.float32 else "float32"
    estimator = _classifier(dtype=other, normalize=None)
    pipeline = make_pipeline(StandardScaler(), estimator).fit(X, codes > 0)
    label, probabilities = _run(pipeline, X, zipmap=False)
    assert estimator.model_.dtype == other
    assert label.tolist() == pipeline.predict(X).astype(np.int64).tolist()
    assert probabilities.dtype == dtype
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("two_targets", [False, True])
def test_regressor_pipeline(dtype: type, two_targets: bool) -> None:
    X, _ = _data(dtype)
    y = X @ np.array([1.0, -0.5, 2.0, 0.3])
    y = np.column_stack([y, -y]) if two_targets else y
    estimator = RoutinizerRegressor(hidden_layer_sizes=(8,), epochs=10, random_state=0)
    pipeline = make_pipeline(StandardScaler(), estimator).fit(X, y)
    (output,) = _run(pipeline, X)
    assert output.dtype == dtype
    expected = pipeline.predict(X).reshape(len(X), -1)
    np.testing.assert_allclose(output, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_transformer_in_front(dtype: type) -> None:
    X, codes = _data(dtype)
    front = ColumnTransformer([("z", StandardScaler(), [0, 1]), ("m", MinMaxScaler(), [2, 3])])
    pipeline = make_pipeline(front, _classifier()).fit(X, np.array(["x", "y", "z"])[codes])
    label, probabilities = _run(pipeline, X, zipmap=False)
    assert label.tolist() == pipeline.predict(X).tolist()
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)
    regressor = make_pipeline(front, RoutinizerRegressor(hidden_layer_sizes=(8,), epochs=5,
                                                         random_state=0))
    regressor.fit(X, X[:, 0] - X[:, 2])
    (output,) = _run(regressor, X)
    np.testing.assert_allclose(output.ravel(), regressor.predict(X), atol=1e-5, rtol=1e-5)


def test_multilabel_classifier_is_refused_in_one_line() -> None:
    X, codes = _data(np.float64)
    indicator = np.column_stack([codes > 0, codes > 1]).astype(int)
    pipeline = make_pipeline(StandardScaler(), _classifier()).fit(X, indicator)
    with pytest.raises(ExportError, match="multilabel") as info:
        skl2onnx.to_onnx(pipeline, X[:1])
    assert "\n" not in str(info.value)


REGISTRATION = """
import sys
import numpy as np
{imports}
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from mlp.sklearn.estimators import RoutinizerRegressor
X = np.random.default_rng(0).normal(size=(20, 3))
pipeline = make_pipeline(StandardScaler(), RoutinizerRegressor(hidden_layer_sizes=(4,),
                                                               epochs=2)).fit(X, X[:, 0])
try:
    skl2onnx.to_onnx(pipeline, X[:1])
    print("converted")
except Exception as exc:
    print(type(exc).__name__)
mlp.sklearn.estimators.register_onnx_converters()
skl2onnx.to_onnx(pipeline, X[:1])
print("converted")
"""


@pytest.mark.parametrize(("imports", "first"), [
    ("import skl2onnx\nimport mlp.sklearn.estimators", "converted"),
    ("import mlp.sklearn.estimators\nassert 'skl2onnx' not in sys.modules\nimport skl2onnx",
     "MissingShapeCalculator"),
])
def test_registration_on_import_or_explicit(imports: str, first: str) -> None:
    """Importing mlp.sklearn after skl2onnx registers the converters; before it, it does not
    import skl2onnx, and ``register_onnx_converters()`` does."""
    run = subprocess.run([sys.executable, "-W", "ignore", "-c",
                          REGISTRATION.format(imports=imports)],
                         capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split() == [first, "converted"]


def test_unfitted_estimator_is_refused() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="RoutinizerRegressor"):
        skl2onnx.to_onnx(RoutinizerRegressor(), np.zeros((1, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", [
    {"normalization": "batch", "nonlinearity": "gelu", "dropout": 0.1},
    {"normalization": "layer", "nonlinearity": "tanh"},
])
def test_every_module_kind_through_the_container(dtype: type, params: dict) -> None:
    """BatchNorm1d, LayerNorm, Dropout and the activations go through their own ONNX hooks
    into skl2onnx's graph; LayerNorm below opset 17 is refused naming the module."""
    X, codes = _data(dtype)
    estimator = RoutinizerClassifier(hidden_layer_sizes=(8, 6), epochs=5, random_state=0,
                                     **params)
    pipeline = make_pipeline(StandardScaler(), estimator).fit(X, codes)
    label, probabilities = _run(pipeline, X, zipmap=False)
    assert label.tolist() == pipeline.predict(X).tolist()
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), atol=1e-5)
    if params["normalization"] == "layer":
        with pytest.raises(ExportError, match=r"LayerNorm\(8\).*opset 17"):
            skl2onnx.to_onnx(pipeline, X[:1], target_opset=15)

"""The classifier on a multilabel indicator y: one sigmoid output per label."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier

from mlp.sklearn.estimators import RoutinizerClassifier
from mlp.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def labels():
    X, Y = make_multilabel_classification(n_samples=300, n_features=20, n_classes=5,
                                          random_state=0)
    return X[:200], Y[:200], X[200:], Y[200:]


def test_multilabel_fit_predict_and_score_as_mlpclassifier(labels):
    X, Y, X_test, Y_test = labels
    ours = RoutinizerClassifier(epochs=60, random_state=0).fit(X, Y)
    assert ours.model_.out_features == 5 and ours.routinizer_.loss.kind == "bce"
    assert np.array_equal(ours.classes_, np.arange(5))
    predicted = ours.predict(X_test)
    assert predicted.shape == Y_test.shape and predicted.dtype == Y_test.dtype
    probabilities = ours.predict_proba(X_test)
    logits = ours.model_.predict_logits(ours._inputs(X_test))
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-12)
    assert np.array_equal(predicted, (probabilities > 0.5).astype(int))
    np.testing.assert_allclose(ours.predict_log_proba(X_test), np.log(probabilities),
                               rtol=1e-9)
    assert ours.score(X_test, Y_test) == accuracy_score(Y_test, predicted)  # subset accuracy
    theirs = MLPClassifier(max_iter=60, random_state=0).fit(X, Y)
    assert ours.score(X_test, Y_test) > theirs.score(X_test, Y_test) - 0.1
    # the history's accuracy is the subset accuracy too
    train_logits = ours.model_.predict_logits(ours._inputs(X))
    assert 0 < ours.history_.train_accuracy[-1] <= 1
    assert accuracy_score(Y, (train_logits > 0).astype(int)) > 0.3


def test_multilabel_continues_exactly_and_round_trips_with_onnx(labels, tmp_path):
    X, Y, X_test, _ = labels
    params = {"hidden_layer_sizes": (16,), "random_state": 1, "batch_size": 32}
    once = RoutinizerClassifier(epochs=4, **params).fit(X, Y)
    partial = RoutinizerClassifier(**params)
    warm = RoutinizerClassifier(epochs=2, warm_start=True, **params)
    for _ in range(4):
        partial.partial_fit(X, Y)
    warm.fit(X, Y).fit(X, Y)
    for other in (partial, warm):
        for a, b in zip(once.model_.layers, other.model_.layers, strict=True):
            assert np.array_equal(a.weight, b.weight)
    path = once.save(tmp_path / "multilabel.h5")
    same = RoutinizerClassifier.load(path)
    assert np.array_equal(same.predict(X_test), once.predict(X_test))
    assert same.predict(X_test).dtype == once.predict(X_test).dtype
    checkpoint = load_checkpoint(path)  # the library's own reading of the file
    assert checkpoint.is_multilabel
    assert np.array_equal(checkpoint.predict(X_test), once.predict(X_test))
    np.testing.assert_allclose(checkpoint.predict_proba(X_test), once.predict_proba(X_test))
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx_path = checkpoint.to_onnx(tmp_path / "multilabel.onnx")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"],
                                       {"X": X_test.astype(np.float64)})
    assert np.array_equal(label, once.predict(X_test))
    np.testing.assert_allclose(probabilities, once.predict_proba(X_test), rtol=1e-12)


def test_multilabel_bad_inputs_name_what_was_expected(labels):
    X, Y, _, _ = labels
    three = Y.copy()
    three[0, 0] = 2
    with pytest.raises(ValueError, match=r"indicator of 0/1 values .* found values \[0, 1, 2\]"):
        RoutinizerClassifier(epochs=1).fit(X, three)
    with pytest.raises(ValueError, match="needs at least 2 label columns, found 1"):
        RoutinizerClassifier(epochs=1).fit(X, Y[:, :1])
    with pytest.raises(ValueError, match="class_weight has no meaning for a multilabel y"):
        RoutinizerClassifier(epochs=1, class_weight="balanced").fit(X, Y)
    with pytest.raises(ValueError, match="label_smoothing has no meaning for a multilabel y"):
        RoutinizerClassifier(epochs=1, label_smoothing=0.1).fit(X, Y)
    fitted = RoutinizerClassifier(epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="the 5 label columns of the first fit, found 4"):
        fitted.partial_fit(X, Y[:, :4])
    with pytest.raises(ValueError, match=r"must be a multilabel indicator like the first"):
        fitted.partial_fit(X, Y[:, 0])

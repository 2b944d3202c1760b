"""The scikit-learn estimators on sparse inputs: CSR and CSC, matrices and arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

from mlp.sklearn.estimators import RoutinizerClassifier, RoutinizerRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CONTAINERS = [sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array]


def _data(n: int = 160, d: int = 30, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    x = sp.random(n, d, density=0.2, format="csr", random_state=seed)
    y = (np.asarray(x[:, :5].sum(axis=1)).ravel() > 0.25).astype(int)
    return x, y


@pytest.mark.parametrize("container", CONTAINERS)
def test_a_sparse_fit_matches_the_dense_fit_of_the_same_matrix(container):
    x, y = _data()
    params = {"hidden_layer_sizes": (12,), "epochs": 6, "batch_size": 32, "random_state": 0,
              "normalize": None, "validation_fraction": 0.0}
    dense = RoutinizerClassifier(**params).fit(x.toarray(), y)
    sparse = RoutinizerClassifier(**params).fit(container(x), y)
    for a, b in zip(dense.model_.layers, sparse.model_.layers, strict=True):
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(container(x)),
                               dense.predict_proba(x.toarray()), rtol=1e-9)
    assert np.array_equal(sparse.predict(container(x)), dense.predict(x.toarray()))
    assert sparse.score(container(x), y) == dense.score(x.toarray(), y)
    np.testing.assert_allclose(sparse.activations(container(x), layer=1),
                               dense.activations(x.toarray(), layer=1), rtol=1e-9)
    more = RoutinizerClassifier(**params).fit(x.toarray(), y)
    more.partial_fit(container(x), y)  # dense then sparse inputs continue one run
    assert more.n_iter_total_ == 7


def test_sparse_inputs_are_scaled_without_centring():
    x, y = _data()
    fitted = RoutinizerClassifier(epochs=2, random_state=0, validation_fraction=0.0).fit(x, y)
    assert not fitted.normalizer_.offset.any()
    np.testing.assert_allclose(fitted.normalizer_.scale, x.toarray().std(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"expected normalize 'zscore' .* found 'minmax'"):
        RoutinizerClassifier(epochs=2, normalize="minmax").fit(x, y)


def test_sparse_regression_and_bad_sparse_inputs():
    x, y = _data()
    target = np.asarray(x.sum(axis=1)).ravel()
    regressor = RoutinizerRegressor(epochs=40, lr=0.01, random_state=0).fit(sp.csc_array(x),
                                                                            target)
    assert regressor.score(x, target) > 0.8
    bad = x.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RoutinizerClassifier(epochs=1).fit(bad, y)
    fitted = RoutinizerClassifier(epochs=1).fit(x, y)
    bad.data[0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        fitted.predict(bad)


def test_a_tfidf_pipeline_learns_generated_documents():
    rng = np.random.default_rng(0)
    topics = [[f"t{k}w{i}" for i in range(30)] for k in range(3)]
    common = [f"c{i}" for i in range(200)]
    labels = rng.integers(0, 3, 300)
    docs = [" ".join(rng.choice(topics[label], 4).tolist() + rng.choice(common, 20).tolist())
            for label in labels]
    scores = []
    for classifier in (RoutinizerClassifier(epochs=20, random_state=0),
                       MLPClassifier(max_iter=20, random_state=0)):
        pipe = make_pipeline(TfidfVectorizer(), classifier).fit(docs[:200], labels[:200])
        scores.append(pipe.score(docs[200:], labels[200:]))
    assert scores[0] > 0.8 and scores[0] >= scores[1] - 0.05, scores


@pytest.mark.parametrize("validation_fraction", [0.0, 0.2])
def test_sparse_sample_weights_equal_repeated_sparse_rows(validation_fraction):
    """The weighted z-score, the content-keyed split and the weighted loss on CSR rows."""
    x, y = _data(80)
    counts = np.random.default_rng(0).integers(0, 4, size=len(y))
    params = {"epochs": 20, "batch_size": None, "validation_fraction": validation_fraction,
              "random_state": 0, "lr": 0.01, "hidden_layer_sizes": (10,)}
    weighted = RoutinizerClassifier(**params).fit(x, y, sample_weight=counts)
    rows = np.random.default_rng(1).permutation(np.repeat(np.arange(len(y)), counts))
    repeated = RoutinizerClassifier(**params).fit(x[rows], y[rows])
    if validation_fraction:
        assert weighted.validation_loss_curve_ == pytest.approx(
            repeated.validation_loss_curve_, rel=1e-9)
    np.testing.assert_allclose(weighted.predict_proba(x), repeated.predict_proba(x),
                               rtol=1e-9, atol=1e-12)
    unweighted = RoutinizerClassifier(**params).fit(x, y)
    assert not np.allclose(unweighted.predict_proba(x), weighted.predict_proba(x))

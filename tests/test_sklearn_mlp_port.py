"""scikit-learn's own MLP tests (sklearn/neural_network/tests/test_mlp.py, 1.9), rewritten
for RoutinizerClassifier / RoutinizerRegressor: the cases whose behaviour a user of
MLPClassifier relies on, in our parameters (``max_iter`` -> ``epochs``, ``alpha`` ->
``weight_decay``, ``learning_rate_init`` -> ``lr``, ``activation="logistic"`` ->
``nonlinearity="sigmoid"``, ``solver="sgd"`` -> ``optimizer="sgd"``, ``early_stopping=True``
-> ``early_stopping=10``, ``n_iter_no_change=k`` -> ``early_stopping=k`` with
``validation_fraction=0`` for the training loss).

Left out, each with its reason:

- test_fit: sets private internals (coefs_, intercepts_, _coef_velocity) by hand.
- test_gradient: calls the private _loss_grad_lbfgs; tests/test_gradients.py checks ours.
- test_lbfgs_classification, test_lbfgs_regression, *_maxfun: there is no lbfgs solver.
- test_learning_rate_warmstart: reads the private _optimizer and needs "invscaling".
- test_adaptive_learning_rate: no "adaptive" rate (the plateau schedule is the analogue).
- test_mlp_partial_fit_after_fit: partial_fit with early stopping is allowed here (one
  epoch; the patience counts over the whole run).
- test_mlp_diverging_loss: a diverged fit raises TrainingDiverged (a ValueError) instead
  of recording NaN scores (tests/test_sklearn_stopping.py).
- test_mlp_vs_poisson_glm_equivalent: no Poisson loss, no lbfgs.
- test_warm_start with y of a subset of the classes ([0, 1] after [0, 1, 2]): accepted
  here, as partial_fit accepts it (the output layer keeps every class); new labels raise.
- test_preserve_feature_names for the classifier: its y has one class, which is refused.
- test_mlp_classifier_dtypes_casting, test_mlp_regressor_dtypes_casting: fits of float32
  and float64 inputs drift apart further than there (10 epochs of digits: 1.7% of the test
  predictions differ, probabilities by up to 10%, regression outputs by up to 26%), since
  scikit-learn's tol=0.1 stops its fits after a few epochs; float32 training is exercised by
  test_mlp_param_dtypes and tests/test_sklearn.py.
- the lbfgs halves of test_multilabel_classification, test_multioutput_regression,
  test_predict_proba_multilabel and test_sparse_matrices: run with Adam instead.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import (
    load_digits,
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MinMaxScaler, scale

from mlp.sklearn.estimators import RoutinizerClassifier, RoutinizerRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_digits, y_digits = load_digits(n_class=3, return_X_y=True)
X_digits_multi = MinMaxScaler().fit_transform(X_digits[:200])
y_digits_multi = y_digits[:200]
X_digits, y_digits = load_digits(n_class=2, return_X_y=True)
X_digits_binary = MinMaxScaler().fit_transform(X_digits[:200])
y_digits_binary = y_digits[:200]
classification_datasets = [(X_digits_multi, y_digits_multi),
                           (X_digits_binary, y_digits_binary)]
X_reg, y_reg = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0,
                               random_state=7)
y_reg = scale(y_reg)
X_iris, y_iris = load_iris(return_X_y=True)
ESTIMATORS = [RoutinizerClassifier, RoutinizerRegressor]


def test_alpha():
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    sums = []
    for decay in (0.0, 1.0):
        mlp = RoutinizerClassifier(hidden_layer_sizes=10, weight_decay=decay, random_state=1,
                                   epochs=50).fit(X, y)
        sums.append([np.abs(layer.weight).sum() for layer in mlp.model_.layers])
    assert (np.array(sums[0]) > np.array(sums[1])).all()


def test_multilabel_classification():
    X, y = make_multilabel_classification(n_samples=50, random_state=0,
                                          return_indicator=True)
    mlp = RoutinizerClassifier(hidden_layer_sizes=50, random_state=0, lr=0.01)
    for _ in range(100):
        mlp.partial_fit(X, y, classes=[0, 1, 2, 3, 4])
    assert mlp.score(X, y) >= 0.9  # 45 of 50 rows (scikit-learn's sgd: more than 45)
    RoutinizerClassifier(early_stopping=10).fit(X, y).predict(X)


def test_multioutput_regression():
    X, y = make_regression(n_samples=200, n_targets=5, random_state=11)
    mlp = RoutinizerRegressor(hidden_layer_sizes=50, epochs=200, lr=0.01, random_state=1)
    assert mlp.fit(X, y).score(X, y) > 0.9


def test_partial_fit_classes_error():
    clf = RoutinizerClassifier().partial_fit([[3, 2]], [0], classes=[0, 1])
    with pytest.raises(ValueError):
        clf.partial_fit([[3, 2]], [0], classes=[1, 2])


@pytest.mark.parametrize("X,y", classification_datasets)
def test_partial_fit_classification(X, y):
    params = {"optimizer": "sgd", "random_state": 1, "weight_decay": 1e-5, "lr": 0.2,
              "tol": 0.0}
    pred1 = RoutinizerClassifier(epochs=100, **params).fit(X, y).predict(X)
    mlp = RoutinizerClassifier(**params)
    for _ in range(100):
        mlp.partial_fit(X, y, classes=np.unique(y))
    assert np.array_equal(pred1, mlp.predict(X))
    assert mlp.score(X, y) > 0.95


def test_partial_fit_unseen_classes():
    clf = RoutinizerClassifier(random_state=0)
    clf.partial_fit([[1], [2], [3]], ["a", "b", "c"], classes=["a", "b", "c", "d"])
    clf.partial_fit([[4]], ["d"])
    assert clf.score([[1], [2], [3], [4]], ["a", "b", "c", "d"]) > 0


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_partial_fit_regression(optimizer):
    params = {"optimizer": optimizer, "random_state": 1, "lr": 0.01,
              "batch_size": X_reg.shape[0]}
    pred1 = RoutinizerRegressor(epochs=100, **params).fit(X_reg, y_reg).predict(X_reg)
    mlp = RoutinizerRegressor(**params)
    for _ in range(100):
        mlp.partial_fit(X_reg, y_reg)
    np.testing.assert_allclose(pred1, mlp.predict(X_reg))
    assert mlp.score(X_reg, y_reg) > 0.65


def test_partial_fit_errors():
    with pytest.raises(ValueError):
        RoutinizerClassifier().partial_fit([[3, 2], [1, 6]], [1, 0], classes=[2])


def test_nonfinite_params():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    with pytest.raises(ValueError, match="became"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RoutinizerRegressor(normalize=None).fit(X, y)  # z-scoring would make them fine


def test_predict_proba_binary():
    X, y = X_digits_binary[:50], y_digits_binary[:50]
    clf = RoutinizerClassifier(hidden_layer_sizes=5, nonlinearity="sigmoid",
                               random_state=1).fit(X, y)
    y_proba, y_log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert y_proba.shape == (50, 2)
    assert np.array_equal(y_proba.argmax(axis=1), y_log_proba.argmax(axis=1))
    np.testing.assert_allclose(y_log_proba, np.log(y_proba))
    assert roc_auc_score(y, y_proba[:, 1]) == 1.0


def test_predict_proba_multiclass():
    X, y = X_digits_multi[:10], y_digits_multi[:10]
    clf = RoutinizerClassifier(hidden_layer_sizes=5).fit(X, y)
    y_proba, y_log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert y_proba.shape == (10, np.unique(y).size)
    assert np.array_equal(y_proba.argmax(axis=1), y_log_proba.argmax(axis=1))
    np.testing.assert_allclose(y_log_proba, np.log(y_proba))


def test_predict_proba_multilabel():
    X, Y = make_multilabel_classification(n_samples=50, random_state=0,
                                          return_indicator=True)
    clf = RoutinizerClassifier(hidden_layer_sizes=30, random_state=0, lr=0.01, epochs=300,
                               validation_fraction=0.0).fit(X, Y)
    y_proba = clf.predict_proba(X)
    assert y_proba.shape == Y.shape
    assert np.array_equal(y_proba > 0.5, Y)
    y_log_proba = clf.predict_log_proba(X)
    assert (y_proba.sum(1) - 1).dot(y_proba.sum(1) - 1) > 1e-10
    assert np.array_equal(y_proba.argmax(axis=1), y_log_proba.argmax(axis=1))
    # ours is -logaddexp(0, -z), exact where log(p) of p near 1 keeps 6 digits only
    np.testing.assert_allclose(y_log_proba, np.log(y_proba), atol=1e-15)


def test_shuffle():
    X, y = make_regression(n_samples=50, n_features=5, n_targets=1, random_state=0)
    params = {"hidden_layer_sizes": 1, "epochs": 1, "batch_size": 1, "random_state": 0}
    for shuffle in (True, False):
        first = RoutinizerRegressor(shuffle=shuffle, **params).fit(X, y)
        second = RoutinizerRegressor(shuffle=shuffle, **params).fit(X, y)
        assert np.array_equal(first.model_.layers[0].weight, second.model_.layers[0].weight)
    shuffled = RoutinizerRegressor(shuffle=True, **params).fit(X, y)
    ordered = RoutinizerRegressor(shuffle=False, **params).fit(X, y)
    assert not np.array_equal(shuffled.model_.layers[0].weight, ordered.model_.layers[0].weight)


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
def test_sparse_matrices(container):
    X, y = X_digits_binary[:50], y_digits_binary[:50]
    # normalize=None: the default z-score centres dense inputs but only scales sparse ones
    mlp = RoutinizerClassifier(hidden_layer_sizes=15, random_state=1, normalize=None)
    pred1 = mlp.fit(X, y).predict(X)
    pred2 = mlp.fit(container(X), y).predict(container(X))
    assert np.array_equal(pred1, pred2)
    assert np.array_equal(mlp.predict(X), mlp.predict(container(X)))


def test_verbose_sgd(capsys):
    clf = RoutinizerClassifier(optimizer="sgd", epochs=2, verbose=10, hidden_layer_sizes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit([[3, 2], [1, 6]], [1, 0])
    clf.partial_fit([[3, 2], [1, 6]], [1, 0])
    assert "Iteration" in capsys.readouterr().out


def test_tolerance():
    clf = RoutinizerClassifier(tol=0.5, epochs=3000, optimizer="sgd", early_stopping=10,
                               validation_fraction=0.0)
    clf.fit([[3, 2], [1, 6]], [1, 0])
    assert clf.epochs > clf.n_iter_


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_early_stopping(estimator):
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    tol = 0.2
    mlp = estimator(tol=tol, epochs=3000, optimizer="sgd", early_stopping=10).fit(X, y)
    assert mlp.epochs > mlp.n_iter_
    curve = mlp.validation_loss_curve_
    assert isinstance(curve, list) and min(curve) == curve[mlp.best_epoch_ - 1]
    assert min(curve) - tol < curve[-2] and min(curve) - tol < curve[-1]


def test_warm_start():
    y_3classes = np.array([0] * 40 + [1] * 40 + [2] * 70)
    params = {"hidden_layer_sizes": 2, "warm_start": True, "random_state": 42, "epochs": 5}
    clf = RoutinizerClassifier(**params).fit(X_iris, y_iris)
    clf.fit(X_iris, y_iris)
    clf.fit(X_iris, y_3classes)
    for y_i in (np.array([0] * 50 + [1] * 50 + [3] * 50),
                np.array([0] * 37 + [1] * 37 + [2] * 38 + [3] * 38),
                np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30 + [4] * 30)):
        clf = RoutinizerClassifier(**params).fit(X_iris, y_iris)
        with pytest.raises(ValueError, match=re.escape("that are not among the classes [0, 1, 2]")):
            clf.fit(X_iris, y_i)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_warm_start_full_iteration(estimator):
    clf = estimator(hidden_layer_sizes=2, optimizer="sgd", warm_start=True, epochs=3)
    clf.fit(X_iris, y_iris)
    assert clf.n_iter_ == 3
    clf.fit(X_iris, y_iris)
    assert clf.n_iter_ == 3


@pytest.mark.parametrize("patience", [2, 5, 10, 50])
def test_n_iter_no_change(patience):
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    # scikit-learn stops after n_iter_no_change + 1 epochs without a gain of tol; ours,
    # as Keras, after ``early_stopping`` of them
    clf = RoutinizerClassifier(tol=0.01, epochs=3000, optimizer="sgd", early_stopping=patience,
                               validation_fraction=0.0).fit(X, y)
    state = clf.routinizer_.state
    assert state.epoch - state.patience_from == patience
    assert clf.epochs > clf.n_iter_


def test_n_iter_no_change_inf():
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    clf = RoutinizerClassifier(tol=1e9, epochs=300, optimizer="sgd").fit(X, y)
    assert clf.n_iter_ == 300


def test_early_stopping_stratified():
    with pytest.raises(ValueError, match="cannot form a validation split"):
        RoutinizerClassifier(early_stopping=10).fit([[1, 2], [2, 3], [3, 4], [4, 5]],
                                                    [0, 0, 0, 1])


def test_mlp_early_stopping_string_labels():
    X, y = make_classification(n_samples=200, n_features=10, n_classes=3, n_informative=5,
                               random_state=42)
    y = np.array(["class_a", "class_b", "class_c"], dtype=object)[y]
    mlp = RoutinizerClassifier(early_stopping=10, epochs=50, random_state=42).fit(X, y)
    assert mlp.validation_loss_curve_ is not None
    assert len(mlp.validation_loss_curve_) == mlp.n_iter_
    assert np.isfinite(mlp.validation_loss_curve_).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_mlp_param_dtypes(dtype, estimator):
    X, y = X_digits.astype(dtype), y_digits
    mlp = estimator(weight_decay=1e-5, hidden_layer_sizes=(5, 3), random_state=1, epochs=50)
    pred = mlp.fit(X[:300], y[:300]).predict(X[300:])
    assert all(layer.weight.dtype == dtype and layer.bias.dtype == dtype
               for layer in mlp.model_.layers)
    if estimator is RoutinizerRegressor:
        assert pred.dtype == dtype


def test_mlp_loading_from_a_saved_file_partial_fit(tmp_path):
    # scikit-learn's goes through joblib (pickle); ours through the checkpoint format
    # normalize=None as MLPRegressor: z-scoring one sample maps its feature to 0
    pre_trained = RoutinizerRegressor(hidden_layer_sizes=(42,), random_state=42, lr=0.01,
                                      epochs=200, normalize=None).fit([[2]], [4])
    loaded = RoutinizerRegressor.load(pre_trained.save(tmp_path / "mlp.h5"))
    for _ in range(200):
        loaded.partial_fit([[2]], [1])
    np.testing.assert_allclose(loaded.predict([[2]]), [1], rtol=1e-4)


def test_preserve_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(data=rng.randn(10, 2), columns=["colname_a", "colname_b"])
    y = pd.Series(data=np.full(10, 1), name="colname_y")
    model = RoutinizerRegressor(early_stopping=10, validation_fraction=0.2, epochs=5,
                                random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a feature-names warning fails the test
        # a fit of 5 epochs that early stopping did not end warns ConvergenceWarning, also a
        # UserWarning, which is not what this test is about
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_mlp_warm_start_with_early_stopping(estimator):
    mlp = estimator(epochs=10, random_state=0, warm_start=True, early_stopping=10)
    mlp.fit(X_iris, y_iris)
    n_scores = len(mlp.validation_loss_curve_)
    mlp.set_params(epochs=20)
    mlp.fit(X_iris, y_iris)
    assert len(mlp.validation_loss_curve_) > n_scores


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_warm_start_no_convergence(estimator, optimizer):
    model = estimator(optimizer=optimizer, warm_start=True, epochs=10, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_iris, y_iris)
    assert model.n_iter_ == 10
    model.set_params(epochs=20)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_iris, y_iris)
    assert model.n_iter_ == 20


def test_mlp_sample_weight_with_early_stopping():
    X, y = make_regression(n_samples=100, n_features=2, n_informative=2, random_state=42)
    params = {"hidden_layer_sizes": 10, "early_stopping": 10, "tol": 1e-2, "lr": 0.01,
              "batch_size": 10, "random_state": 42}
    m1 = RoutinizerRegressor(**params).fit(X, y, sample_weight=np.ones_like(y))
    m2 = RoutinizerRegressor(**params).fit(X, y, sample_weight=None)
    np.testing.assert_allclose(m1.predict(X), m2.predict(X))


def test_minimum_input_sample_size():
    X, y = make_regression(n_samples=2, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="of 2 training samples cannot form a validation"):
        RoutinizerRegressor(early_stopping=10, random_state=0).fit(X, y)

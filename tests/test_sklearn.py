"""The scikit-learn estimators: scikit-learn's own checks, its meta-estimators, exact
continuation, weights, persistence without pickle, and scikit-learn's input errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlp import CheckpointError, Model
from mlp.sklearn.estimators import EXPECTED_FAILED_CHECKS, RoutinizerClassifier, RoutinizerRegressor

#: fits of a few epochs are expected to end unconverged
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: the checks' estimators: the defaults but a smaller network and fewer, larger steps
FAST = {"epochs": 30, "hidden_layer_sizes": (16,), "lr": 0.003}


#: an expected failure that passes is an error (scikit-learn 1.7 and newer; 1.6 cannot say it)
STRICT = ({"xfail_strict": True}
          if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks(
    [RoutinizerClassifier(**FAST), RoutinizerRegressor(**FAST),
     RoutinizerClassifier(**FAST, validation_fraction=0.0),
     RoutinizerRegressor(**FAST, validation_fraction=0.0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS, **STRICT)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def _blobs(n: int = 120, seed: int = 0, features: int = 5):
    return make_classification(n_samples=n, n_features=features, n_informative=3,
                               n_redundant=0, n_classes=3, random_state=seed)


def test_pipeline_with_a_scaler(iris):
    X_train, X_test, y_train, y_test = iris
    pipe = make_pipeline(StandardScaler(), RoutinizerClassifier(normalize=None, epochs=40,
                                                                lr=0.01, random_state=0))
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.9
    assert pipe.predict_proba(X_test).shape == (X_test.shape[0], 3)


def test_grid_search_in_two_processes(iris):
    X_train, X_test, y_train, y_test = iris
    space = {"hidden_layer_sizes": [(8,), (32,)], "lr": [1e-2, 3e-2]}
    grid = GridSearchCV(RoutinizerClassifier(epochs=20, random_state=0), space, cv=3, n_jobs=2)
    grid.fit(X_train, y_train)
    assert set(grid.best_params_) == {"hidden_layer_sizes", "lr"}
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert grid.score(X_test, y_test) > 0.85
    # the same search in this process gives the same scores: fits are deterministic
    serial = GridSearchCV(RoutinizerClassifier(epochs=20, random_state=0), space, cv=3)
    serial.fit(X_train, y_train)
    assert np.array_equal(serial.cv_results_["mean_test_score"],
                          grid.cv_results_["mean_test_score"])


def test_cross_val_score(iris):
    X_train, _, y_train, _ = iris
    scores = cross_val_score(RoutinizerClassifier(epochs=40, lr=0.01, batch_size=16,
                                                  random_state=0), X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_clone_keeps_parameters_and_drops_the_fit(iris):
    X_train, _, y_train, _ = iris
    estimator = RoutinizerClassifier(hidden_layer_sizes=(7, 5), class_weight={0: 2.0},
                                     schedule={"kind": "step", "step_size": 2, "gamma": 0.5},
                                     epochs=3, random_state=4).fit(X_train, y_train)
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict(X_train)


def _arrays(model: Model) -> list[np.ndarray]:
    return [array for _, array in model.named_arrays()]


CONTINUATIONS = {
    "classifier": (RoutinizerClassifier, {"dropout": 0.2, "batch_size": 16}),
    "regressor": (RoutinizerRegressor, {"optimizer": "nesterov", "lr": 0.01, "batch_size": 20,
                                        "schedule": {"kind": "step", "step_size": 2,
                                                     "gamma": 0.5}}),
}


def _continuation_data(name: str):
    if name == "classifier":
        return _blobs()
    X, y = make_regression(n_samples=100, n_features=5, n_targets=2, random_state=0)
    return X, y / 100


@pytest.mark.parametrize("name", list(CONTINUATIONS))
def test_warm_start_and_partial_fit_continue_exactly(name):
    cls, options = CONTINUATIONS[name]
    X, y = _continuation_data(name)
    params = {"hidden_layer_sizes": (12, 8), "random_state": 3, **options}
    once = cls(epochs=5, **params).fit(X, y)
    warm = cls(epochs=1, warm_start=True, **params)
    partial = cls(**params)
    for _ in range(5):
        warm.fit(X, y)
        partial.partial_fit(X, y)
    for other in (warm, partial):
        # n_iter_ counts the last call's epochs (as scikit-learn's), n_iter_total_ the run's
        assert other.n_iter_ == 1 and other.n_iter_total_ == 5
        assert other.routinizer_.state.step == once.routinizer_.state.step
        for expected, array in zip(_arrays(once.model_), _arrays(other.model_), strict=True):
            assert np.array_equal(expected, array)  # weights, gradients and moments alike
        assert other.loss_curve_ == once.loss_curve_
        assert other.validation_loss_curve_ == once.validation_loss_curve_
    # without warm_start a second fit starts over
    again = cls(epochs=5, **params).fit(X, y).fit(X, y)
    assert again.n_iter_ == 5
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(once.model_), _arrays(again.model_),
                                                     strict=True))


def test_partial_fit_with_classes_missing_from_a_batch():
    X, y = _blobs()
    classifier = RoutinizerClassifier(epochs=1, random_state=0)
    classifier.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    classifier.partial_fit(X[y == 2], y[y == 2])
    assert classifier.classes_.tolist() == [0, 1, 2]
    assert classifier.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match=r"labels \[7\] that are not among the classes"):
        classifier.partial_fit(X[:3], np.array([0, 1, 7]))


def test_class_weight_helps_the_minority_class():
    X, y = make_classification(n_samples=600, n_features=6, n_informative=3, weights=[0.93],
                               flip_y=0.0, class_sep=0.6, random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                        random_state=0)
    params = {"epochs": 40, "random_state": 0, "hidden_layer_sizes": (16,)}
    plain = RoutinizerClassifier(**params).fit(X_train, y_train)
    balanced = RoutinizerClassifier(class_weight="balanced", **params).fit(X_train, y_train)
    plain_score = balanced_accuracy_score(y_test, plain.predict(X_test))
    balanced_score = balanced_accuracy_score(y_test, balanced.predict(X_test))
    assert balanced_score > plain_score + 0.05


@pytest.mark.parametrize("validation_fraction", [0.0, 0.2])
@pytest.mark.parametrize("cls", [RoutinizerClassifier, RoutinizerRegressor])
def test_sample_weight_equals_repeated_rows_full_batch(cls, validation_fraction):
    """Also with a validation split (chosen by content, so a weighted row and its copies are
    held out alike) and with the copies shuffled."""
    if cls is RoutinizerClassifier:
        X, y = _blobs(60)
    else:
        X, y = make_regression(n_samples=60, n_features=5, random_state=0)
        y = y / 100
    counts = np.random.default_rng(0).integers(0, 4, size=len(y))
    params = {"epochs": 30, "batch_size": None, "validation_fraction": validation_fraction,
              "random_state": 0, "lr": 0.01}
    weighted = cls(**params).fit(X, y, sample_weight=counts)
    rows = np.random.default_rng(1).permutation(np.repeat(np.arange(len(y)), counts))
    repeated = cls(**params).fit(X[rows], y[rows])
    if validation_fraction:
        assert weighted.validation_loss_curve_ == pytest.approx(
            repeated.validation_loss_curve_, rel=1e-9)
    method = "predict_proba" if cls is RoutinizerClassifier else "predict"
    assert np.allclose(getattr(weighted, method)(X), getattr(repeated, method)(X),
                       rtol=1e-9, atol=1e-12)
    assert not np.allclose(getattr(cls(**params).fit(X, y), method)(X),
                           getattr(weighted, method)(X))


@pytest.mark.parametrize("cls", [RoutinizerClassifier, RoutinizerRegressor])
def test_save_and_load_round_trip(tmp_path, cls):
    if cls is RoutinizerClassifier:
        X, y = _blobs()
        y = np.array(["ant", "bee", "cat"])[y]
    else:
        X, y = make_regression(n_samples=100, n_features=5, n_targets=2, random_state=0)
    params = {"epochs": 3, "random_state": 2, "hidden_layer_sizes": (9,), "warm_start": True}
    estimator = cls(**params).fit(X, y)
    path = estimator.save(tmp_path / "model.h5")
    loaded = cls.load(path)
    assert loaded.get_params() == estimator.get_params()
    assert np.array_equal(loaded.predict(X), estimator.predict(X))
    if cls is RoutinizerClassifier:
        assert np.array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
        assert loaded.classes_.tolist() == ["ant", "bee", "cat"]
    assert loaded.loss_curve_ == estimator.loss_curve_ and loaded.n_iter_ == 3
    # the loaded run continues exactly as the saved one would have
    loaded.fit(X, y)
    estimator.fit(X, y)
    assert np.array_equal(loaded.predict(X), estimator.predict(X))
    other = RoutinizerRegressor if cls is RoutinizerClassifier else RoutinizerClassifier
    with pytest.raises(CheckpointError, match=f"expected a saved {other.__name__}"):
        other.load(path)


def test_load_refuses_a_plain_checkpoint(tmp_path):
    from mlp import BasicRoutinizer
    from preprocess import Data

    X, y = _blobs()
    routinizer = BasicRoutinizer(epochs=1, progress=False, checkpoint_dir=tmp_path)
    routinizer.run(Model.mlp([5, 4, 3]), Data(X, y))
    with pytest.raises(CheckpointError, match="no 'sklearn_estimator' annotation"):
        RoutinizerClassifier.load(tmp_path / "last.h5")


def test_fitted_attributes_and_activations(iris):
    X_train, X_test, y_train, _ = iris
    classifier = RoutinizerClassifier(hidden_layer_sizes=(6, 4), nonlinearity="tanh",
                                      epochs=4, random_state=0).fit(X_train, y_train)
    assert classifier.n_features_in_ == 4 and classifier.n_iter_ == 4
    assert len(classifier.loss_curve_) == len(classifier.validation_loss_curve_) == 4
    assert classifier.history_.epoch == [1, 2, 3, 4]
    assert classifier.best_epoch_ in range(1, 5)
    log_proba = classifier.predict_log_proba(X_test)
    assert np.allclose(np.exp(log_proba), classifier.predict_proba(X_test))
    # layer k's output after its nonlinearity, from the normalised inputs
    layers = classifier.model_.layers
    x = classifier.normalizer_.apply(X_test)
    first = np.tanh(x @ layers[0].weight + layers[0].bias)
    second = np.tanh(first @ layers[1].weight + layers[1].bias)
    assert np.allclose(classifier.activations(X_test, layer=1), first)
    assert np.allclose(classifier.activations(X_test, layer=2), second)
    assert classifier.activations(X_test, layer=2).shape == (len(X_test), 4)
    logits = classifier.activations(X_test, layer=3)
    assert np.array_equal(logits.argmax(axis=1), np.searchsorted(classifier.classes_,
                                                                 classifier.predict(X_test)))
    with pytest.raises(ValueError, match="layer must be an integer from 1 to 3"):
        classifier.activations(X_test, layer=0)


def test_multi_output_regression():
    X, y = make_regression(n_samples=200, n_features=4, n_targets=3, noise=0.1, random_state=0)
    regressor = RoutinizerRegressor(epochs=150, lr=0.01, random_state=0).fit(X, y)
    assert regressor.predict(X).shape == (200, 3) and regressor.n_outputs_ == 3
    assert regressor.score(X, y) > 0.9
    one = RoutinizerRegressor(epochs=2, random_state=0).fit(X, y[:, 0])
    assert one.predict(X).shape == (200,)


def test_bad_inputs_give_scikit_learns_errors(iris):
    X_train, _, y_train, _ = iris
    classifier = RoutinizerClassifier(epochs=2, random_state=0)
    X_nan = X_train.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        classifier.fit(X_nan, y_train)
    classifier.fit(X_train, y_train)
    with pytest.raises(ValueError, match="X has 3 features, but RoutinizerClassifier is "
                                         "expecting 4 features"):
        classifier.predict(X_train[:, :3])
    with pytest.raises(ValueError, match="Unknown label type"):
        RoutinizerClassifier(epochs=2).fit(X_train, X_train[:, 0])
    with pytest.raises(ValueError, match="could not convert string to float"):
        RoutinizerRegressor(epochs=2).fit(X_train, np.array(["a", "b", "c"] * 35))
    with pytest.raises(ValueError, match="weight.*zero"):
        classifier.fit(X_train, y_train, sample_weight=np.zeros(len(y_train)))


def test_parameters_are_validated_at_fit_by_the_library(iris):
    X_train, _, y_train, _ = iris
    estimator = RoutinizerClassifier(lr=-1.0, optimizer="adagrad")  # stored, not checked
    assert estimator.get_params()["lr"] == -1.0
    with pytest.raises(ValidationError) as info:
        estimator.fit(X_train, y_train)
    assert {e["loc"][0] for e in info.value.errors()} == {"lr", "optimizer"}
    with pytest.raises(ValidationError, match="out_features"):
        RoutinizerClassifier(hidden_layer_sizes=(0,)).fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"validation_fraction must be a number in \[0, 1\), "
                                         "found 1.5"):
        RoutinizerClassifier(validation_fraction=1.5).fit(X_train, y_train)
    with pytest.raises(ValueError, match="loss must be one of 'mse', 'mae'"):
        RoutinizerRegressor(loss="bce").fit(X_train, y_train)


def test_float32_inputs_train_a_float32_model_and_float64_a_float64_one(iris):
    X_train, _, y_train, _ = iris
    assert RoutinizerClassifier(epochs=1).fit(X_train, y_train).model_.dtype == "float64"
    single = RoutinizerClassifier(epochs=1).fit(X_train.astype(np.float32), y_train)
    assert single.model_.dtype == "float32"
    assert RoutinizerClassifier(epochs=1, dtype="float32").fit(
        X_train, y_train).model_.dtype == "float32"


def test_constructor_arguments_are_stored_as_given_by_position_or_name():
    sizes = [7, 3]
    clf = RoutinizerClassifier(sizes, "tanh", class_weight="balanced", verbose=True)
    assert clf.hidden_layer_sizes is sizes and clf.nonlinearity == "tanh"
    assert clf.class_weight == "balanced" and clf.verbose is True and clf.epochs == 200
    assert clone(clf).get_params() == clf.get_params()
    classifier = list(inspect.signature(RoutinizerClassifier).parameters)
    regressor = list(inspect.signature(RoutinizerRegressor).parameters)
    assert [p for p in classifier if p not in ("label_smoothing", "class_weight")] == \
        [p for p in regressor if p != "loss"]
    with pytest.raises(TypeError, match="class_weight"):
        RoutinizerRegressor(class_weight="balanced")

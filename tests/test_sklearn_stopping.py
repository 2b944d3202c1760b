"""Early stopping you can trust: tol/min_delta, split errors, divergence, convergence
warnings and n_iter_ in scikit-learn's terms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from mlp import TrainingDiverged
from mlp.history import History
from mlp.sklearn.estimators import RoutinizerClassifier, RoutinizerRegressor
from mlp.training.run_state import RunState

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _rows(losses):
    return [{"epoch": i + 1, "train_loss": v, "val_loss": v, "train_accuracy": None,
             "val_accuracy": None, "lr": 0.1, "seconds": 0.0} for i, v in enumerate(losses)]


def test_min_delta_counts_only_improvements_larger_than_it():
    # a loss falling by 0.001 an epoch: with min_delta 0.01 no epoch after the first counts
    losses = [1.0 - 0.001 * i for i in range(6)]
    stops = {}
    for min_delta in (0.0, 0.01):
        state = RunState(history=History())
        for row in _rows(losses):
            state.end_epoch(row, {"w": np.zeros(1)}, min_delta)
            if state.should_stop_early(3):
                break
        stops[min_delta] = state.epoch
        assert state.best_epoch == state.epoch  # the lowest loss still gives the best weights
    assert stops == {0.0: 6, 0.01: 4}


def test_tol_stops_a_slowly_improving_validation_loss_and_keeps_the_best_weights():
    X, y = make_classification(n_samples=400, n_features=8, random_state=0)
    params = {"epochs": 300, "early_stopping": 5, "lr": 1e-4, "random_state": 0,
              "hidden_layer_sizes": (8,)}
    loose = RoutinizerClassifier(tol=0.0, **params).fit(X, y)
    strict = RoutinizerClassifier(tol=0.05, **params).fit(X, y)
    assert strict.n_iter_ == 6  # epoch 1 sets the best; 5 epochs gain less than 0.05
    assert loose.n_iter_ > 50
    curve = strict.validation_loss_curve_
    assert strict.best_epoch_ == int(np.argmin(curve)) + 1
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0 .* found -0.1"):
        RoutinizerClassifier(tol=-0.1).fit(X, y)


@pytest.mark.parametrize("rule", [{"early_stopping": 2}, {"target_loss": 0.1}])
def test_a_validation_split_too_small_for_a_stop_rule_raises(rule):
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"validation_fraction=0.1 of 4 training samples "
                                         r"cannot form a validation split"):
        RoutinizerClassifier(epochs=2, **rule).fit(X, y)
    # without a stop rule the small fit trains on everything, with no validation curve
    fitted = RoutinizerClassifier(epochs=2).fit(X, y)
    assert fitted.validation_loss_curve_ is None
    # and with validation_fraction=0 the rule monitors the training loss
    RoutinizerClassifier(epochs=2, validation_fraction=0.0, **rule).fit(X, y)


def test_divergence_is_a_value_error():
    X, y = make_regression(n_samples=64, n_features=4, random_state=0)
    regressor = RoutinizerRegressor(optimizer="sgd", lr=1e6, epochs=20, normalize=None)
    with pytest.raises(ValueError, match="became") as caught:
        regressor.fit(X, y * 1e6)
    assert isinstance(caught.value, TrainingDiverged)
    assert isinstance(caught.value, FloatingPointError)


def test_convergence_warning_when_epochs_run_out_while_the_loss_still_falls():
    X, y = make_classification(n_samples=200, n_features=6, random_state=1)
    with pytest.warns(ConvergenceWarning, match=r"all 3 epochs ran .* tol=0.0001"):
        RoutinizerClassifier(epochs=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # a tol no epoch beats: converged in scikit-learn's sense after 10 epochs
        RoutinizerClassifier(epochs=15, tol=1e9, random_state=0).fit(X, y)
        # stopped by early stopping, or a partial_fit: no warning
        RoutinizerClassifier(epochs=200, early_stopping=2, tol=0.5, random_state=0).fit(X, y)
        RoutinizerClassifier(random_state=0).partial_fit(X, y)


def test_n_iter_counts_the_last_fit_and_n_iter_total_the_run():
    X, y = make_classification(n_samples=100, n_features=5, random_state=2)
    warm = RoutinizerClassifier(epochs=3, warm_start=True, random_state=0)
    warm.fit(X, y).fit(X, y)
    assert (warm.n_iter_, warm.n_iter_total_) == (3, 6)
    assert len(warm.loss_curve_) == 6
    partial = RoutinizerClassifier(random_state=0)
    for _ in range(3):
        partial.partial_fit(X, y, classes=[0, 1])
    assert (partial.n_iter_, partial.n_iter_total_) == (1, 3)  # as MLPClassifier: 1 a call
    cold = RoutinizerClassifier(epochs=3, random_state=0).fit(X, y).fit(X, y)
    assert (cold.n_iter_, cold.n_iter_total_) == (3, 3)

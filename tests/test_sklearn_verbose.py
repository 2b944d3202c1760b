"""``verbose=True`` prints what ``MLPClassifier(verbose=True)`` prints, to stdout, in its
formats (scikit-learn 1.9's ``_multilayer_perceptron.py``): ``"Iteration %d, loss = %.8f"``
after each epoch, ``"Validation score: %f"`` when a validation split is held out, and one
line when early stopping ends the fit; and a verbose fit trains exactly as a silent one."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.neural_network import MLPClassifier

from mlp.sklearn.estimators import RoutinizerClassifier, RoutinizerRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = {"hidden_layer_sizes": (8,), "random_state": 0, "lr": 0.01}


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def _lines(capsys) -> list[str]:
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out.splitlines()


def test_one_loss_line_per_epoch_with_the_numbers_of_loss_curve(iris, capsys):
    X, y = iris
    clf = RoutinizerClassifier(**SMALL, epochs=12, validation_fraction=0.0,
                               verbose=True).fit(X, y)
    assert _lines(capsys) == [f"Iteration {epoch}, loss = {loss:.8f}"
                              for epoch, loss in enumerate(clf.loss_curve_, start=1)]
    assert len(clf.loss_curve_) == 12


def test_the_lines_are_scikit_learns(iris, capsys):
    X, y = iris
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, early_stopping=True,
                  verbose=True).fit(X, y)
    theirs = _lines(capsys)
    RoutinizerClassifier(**SMALL, epochs=3, verbose=True).fit(X, y)
    ours = _lines(capsys)
    pattern = re.compile(r"Iteration \d+, loss = \d+\.\d{8}|Validation score: \d\.\d{6}")
    for line in theirs + ours:
        assert pattern.fullmatch(line), line
    assert [line.split()[0] for line in ours] == [line.split()[0] for line in theirs]


def test_with_a_validation_split_each_epoch_prints_its_validation_accuracy(iris, capsys):
    X, y = iris
    clf = RoutinizerClassifier(**SMALL, epochs=6, validation_fraction=0.2,
                               verbose=True).fit(X, y)
    lines = _lines(capsys)
    history = clf.history_
    assert lines[0::2] == [f"Iteration {e}, loss = {loss:.8f}"
                           for e, loss in zip(history.epoch, history.train_loss, strict=True)]
    assert lines[1::2] == [f"Validation score: {accuracy:f}" for accuracy in history.val_accuracy]


def test_the_regressor_prints_the_r2_of_its_validation_split(capsys):
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    reg = RoutinizerRegressor(**SMALL, epochs=5, verbose=True).fit(X, y)
    lines = _lines(capsys)
    assert len(lines) == 2 * 5
    assert lines[0::2] == [f"Iteration {e}, loss = {loss:.8f}"
                           for e, loss in enumerate(reg.loss_curve_, start=1)]
    scores = [float(line.removeprefix("Validation score: ")) for line in lines[1::2]]
    assert all(score <= 1.0 for score in scores) and scores[-1] > scores[0]


def test_early_stopping_says_so_once(iris, capsys):
    X, y = iris
    clf = RoutinizerClassifier(**SMALL | {"lr": 0.2}, epochs=300, early_stopping=3,
                               verbose=True).fit(X, y)
    lines = _lines(capsys)
    assert clf.routinizer_.state.stopped_early and clf.n_iter_ < 300
    assert lines[-1] == ("Validation loss did not improve more than tol=0.000100 for 3 "
                         "consecutive epochs. Stopping.")
    assert sum(line.startswith("Iteration") for line in lines) == clf.n_iter_


def test_verbose_trains_exactly_as_silent_and_continues_the_count(iris, capsys):
    X, y = iris
    silent = RoutinizerClassifier(**SMALL, epochs=4).fit(X, y)
    assert _lines(capsys) == []
    loud = RoutinizerClassifier(**SMALL, epochs=4, verbose=True).fit(X, y)
    for a, b in zip(silent.model_.state_dict().values(), loud.model_.state_dict().values(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert silent.history_.train_loss == loud.history_.train_loss
    _lines(capsys)
    loud.partial_fit(X, y)  # as MLPClassifier's n_iter_, the count goes on
    assert _lines(capsys)[0] == f"Iteration 5, loss = {loud.loss_curve_[-1]:.8f}"

"""What the scikit-learn estimators print with ``verbose``: ``MLPClassifier``'s lines.

scikit-learn's multilayer perceptron prints, after each epoch, ``"Iteration %d, loss =
%.8f"`` (the epoch's number and its training loss) and, when it holds out a validation
split, ``"Validation score: %f"`` (the estimator's ``score`` on that split: accuracy for a
classifier, R² for a regressor), and one line when a stop rule ends the fit. The estimators
print the same lines to stdout, in the same formats, from the numbers of the run's History
(the loss printed is ``loss_curve_``'s). Scoring reads the model in evaluation mode and
draws nothing from the run's generator, so a verbose fit trains exactly as a silent one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, r2_score

from mlp.callbacks import Callback
from mlp.nn.model import Model

Score = Callable[[Model], float]


def validation_score(data: Any, classifier: bool, multilabel: bool) -> Score | None:
    """The estimator's ``score`` on the validation split, as a function of the model.

    Parameters
    ----------
    data : Data
        The fit's data (a ``preprocess.Data``), normalised as the model sees it.
    classifier : bool
        Accuracy (a classifier) or R² (a regressor).
    multilabel : bool
        Subset accuracy of a multilabel indicator.

    Returns
    -------
    callable or None
        ``score(model) -> float`` (NaN for non-finite outputs, as scikit-learn scores a
        diverged fit); None without a validation split.
    """
    X, y, weight = data.X_val, data.y_val, data.w_val
    if X is None:
        return None

    def score(model: Model) -> float:
        outputs = model.predict_logits(X)
        if not np.isfinite(outputs).all():  # as scikit-learn scores a diverged fit
            return float("nan")
        if multilabel:
            return float(accuracy_score(y > 0.5, outputs > 0, sample_weight=weight))
        if classifier:
            return float(accuracy_score(y, model.predict(X), sample_weight=weight))
        return float(r2_score(y, outputs, sample_weight=weight))

    return score


class VerboseLines(Callback):
    """Prints scikit-learn's per-epoch lines to stdout (see the module docstring).

    Parameters
    ----------
    score : callable or None
        The validation score of the model (``validation_score``), or None without a
        validation split (then only the loss line is printed).
    tol : float
        The estimator's ``tol``, named in the line that says early stopping ended the fit.
    """

    def __init__(self, score: Score | None, tol: float) -> None:
        self.score = score
        self.tol = tol
        self._model: Model | None = None
        self._stopped_before = False

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        self._model = model
        self._stopped_before = routinizer.state.stopped_early

    def on_epoch_end(self, routinizer: Any, row: dict[str, Any]) -> None:
        # scikit-learn's verbose output is printed to stdout, where its users read it; the
        # formats are its "Iteration %d, loss = %.8f" and "Validation score: %f"
        print(f"Iteration {row['epoch']:d}, loss = {row['train_loss']:.8f}", file=sys.stdout)
        if self.score is not None and self._model is not None:
            print(f"Validation score: {self.score(self._model):f}", file=sys.stdout)

    def on_train_end(self, routinizer: Any, model: Any) -> None:
        state = routinizer.state
        if state.stopped_early and not self._stopped_before:
            watched = "Validation" if state.monitor == "val_loss" else "Training"
            print(f"{watched} loss did not improve more than tol={self.tol:f} for "
                  f"{routinizer.early_stopping:d} consecutive epochs. Stopping.", file=sys.stdout)

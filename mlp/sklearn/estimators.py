"""scikit-learn estimators: ``RoutinizerClassifier`` and ``RoutinizerRegressor``.

Constructor parameters are flat and stored as given (scikit-learn's rule); ``fit`` validates
them through the library's Pydantic models (``Model.mlp`` for the architecture,
``BasicRoutinizer`` for training), so a bad value raises ``pydantic.ValidationError``, a
``ValueError`` as scikit-learn expects. Inputs go through scikit-learn's own validation
(``validate_data``), so NaN, a wrong number of features or string targets for the regressor
give scikit-learn's usual messages. Sparse inputs (CSR and CSC, matrices and arrays) are
trained on as CSR, without a dense copy (``mlp.nn.sparse``); a multilabel indicator ``y`` of
the classifier trains one sigmoid output per label with binary cross entropy.

What a fit keeps (``model_``, ``routinizer_``, ``normalizer_``) is what the library's
checkpoints hold: ``save(path)`` writes a checkpoint plus the estimator's parameters, and
``load(path)`` restores a fitted estimator, with no pickle file. With ``warm_start=True``, or
through ``partial_fit``, training continues the same run: optimizer moments, the step count,
the generator and the schedule state carry over, so n fits of one epoch on the same data give
the weights of one fit of n epochs, bit for bit (for schedules that do not depend on the
total number of epochs: ``constant``, ``step``, ``plateau``).

Parameters: the architecture (``hidden_layer_sizes``, ``nonlinearity``, ``dropout``, ``init``,
``init_scale``, ``normalization`` (``"batch"``, ``"layer"`` or None, as ``Model.mlp``),
``dtype``; None follows the inputs: float32 for float32, else float64), every
``BasicRoutinizer`` field under its name (``epochs``, ``batch_size``, ``lr``, ``optimizer``,
..., ``schedule``, ``early_stopping``, ``checkpoint_dir``), ``tol`` (1e-4),
``label_smoothing`` (classifier) or ``loss`` (``mse``/``mae``, regressor),
``validation_fraction`` (0.1), ``normalize`` (``zscore``), ``class_weight``, ``warm_start``,
``random_state``, ``verbose``. Defaults: one hidden layer of 100 ReLU units, Adam at 1e-3,
batches of 64, 200 epochs, a validation split of 10% for the validation loss curve, and no early
stopping. ``early_stopping=k`` stops after k epochs without a validation loss better by more
than ``tol`` and restores the best weights; it needs a validation split larger than a small data
set gives: on iris (12 validation samples) a Pipeline with ``lr=0.01`` and ``tol=0`` stopped at
epoch 13 with test accuracy 0.76, against 0.98 for all 40 epochs.

The validation split is stratified and chosen by content: identical samples stay on one side
together, and the fraction counts sample weights, so a row of weight k is held out exactly when
its k copies would be, wherever they stand in ``X`` (``Data.split_validation(by_content=True)``).
``sample_weight`` and ``class_weight`` (``"balanced"`` or ``{label: weight}``) make the loss a
weighted mean of per-sample losses; rows of weight 0 are dropped and the normaliser and the
validation split are weighted, so with full batches an integer weight is the same as repeating
the row.

Methods and fitted attributes: ``fit(X, y, sample_weight)``, ``partial_fit`` (one epoch per
call; the classifier's takes ``classes``), ``predict``, ``predict_proba``,
``predict_log_proba``, ``score``; multi-output regression. ``classes_``, ``n_features_in_``,
``feature_names_in_``, ``model_`` (the ``Model``), ``routinizer_``, ``normalizer_``,
``history_`` (the ``History``), ``loss_curve_``, ``validation_loss_curve_``, ``best_epoch_``,
``n_iter_`` (the epochs of the last ``fit`` or ``partial_fit`` call, as scikit-learn counts
them), ``n_iter_total_`` (the whole run's). ``activations(X, layer=k)`` is the output of the
k-th affine layer (from 1) after the nonlinearity that follows it, inputs normalised as for
``predict``; the last layer gives the raw outputs (logits). Estimators are picklable in memory
for joblib/loky and Dask; the library never writes or reads pickle files. Every one of
scikit-learn's estimator checks passes for both estimators, with and without a validation split
(the list of expected failures given to ``parametrize_with_checks`` is empty).

Where they differ from ``MLPClassifier``:

- Sparse ``X``: the default ``normalize="zscore"`` divides sparse columns by their standard
  deviation without centring (as ``StandardScaler(with_mean=False)``: subtracting the mean would
  fill every zero), where ``MLPClassifier`` never scales; ``"minmax"`` is refused for sparse
  inputs. NaN or inf among the stored values is scikit-learn's ``ValueError``. One epoch on a
  20,000 x 50,000 matrix (4 GB dense) peaks at 4.9 MB of allocations once the kernels are
  compiled.
- Multilabel: an indicator ``y (N, L)`` of 0/1; ``predict`` gives the indicator (in ``y``'s
  dtype), ``predict_proba`` the ``(N, L)`` label probabilities, ``score`` the subset accuracy,
  ``classes_`` is ``0..L-1``, as ``MLPClassifier``. Refused with a ``ValueError`` naming the
  values: an indicator with values other than 0/1, one with a single column (pass
  ``y.ravel()``), ``class_weight`` or ``label_smoothing``.
- ``tol`` is the library's ``min_delta``: with ``early_stopping=k`` an epoch resets the patience
  only when its monitored loss is below the best so far by more than ``tol``. ``early_stopping=k``
  stops after k such epochs (as Keras' patience), ``MLPClassifier`` after
  ``n_iter_no_change + 1``. Without ``early_stopping`` nothing stops a fit, where
  ``MLPClassifier`` stops on the training loss; it warns instead: ``ConvergenceWarning`` when a
  ``fit`` used all its epochs and the training loss still fell by more than ``tol`` within the
  last 10 (or ``early_stopping``) epochs.
- When ``early_stopping`` or ``target_loss`` watch the validation loss and
  ``validation_fraction`` cannot leave a sample on each side, ``fit`` raises a ``ValueError``
  naming the sizes; without a stop rule such a fit trains on everything and
  ``validation_loss_curve_`` is None. A diverged fit raises ``TrainingDiverged``, both a
  ``FloatingPointError`` and a ``ValueError``.
- ``n_iter_`` is 3 after two warm-started 3-epoch fits, and 1 after every ``partial_fit``, as
  ``MLPClassifier`` 1.9.1 reports it; ``n_iter_total_`` is 6, and the number of ``partial_fit``
  calls.

The timing and accuracy figures against ``MLPClassifier`` are in ``scripts/bench_sklearn.py``'s
docstring.
"""

from __future__ import annotations

import inspect
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from mlp.errors import DataError
from mlp.nn.input_normalizer import Normalizer
from mlp.nn.losses import LOSSES, Loss
from mlp.nn.model import Model
from mlp.nn.sparse import as_csr
from mlp.sklearn.files import load_estimator, save_estimator
from mlp.sklearn.parameters import document_parameters
from mlp.sklearn.verbose import VerboseLines, validation_score
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data
from preprocess.data import class_weights

#: scikit-learn checks expected to fail, check name -> reason (passed to
#: ``parametrize_with_checks(expected_failed_checks=...)``): none. The one there was, sample
#: weights against repeated rows with a validation split, passes since the split is chosen
#: by content (``Data.split_validation(by_content=True)``).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

#: the sparse formats taken as they are (others are converted to the first, CSR)
_SPARSE_FORMATS = ("csr", "csc")

#: epochs over which the training loss must have improved by more than ``tol`` for a fit
#: that ran out of epochs to warn (scikit-learn's ``n_iter_no_change`` default), when
#: ``early_stopping`` does not give a patience
_NO_CHANGE_EPOCHS = 10

#: the constructor parameters that are ``BasicRoutinizer`` fields under the same name
_TRAINING_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "alpha", "beta1",
                    "beta2", "eps", "weight_decay", "grad_clip", "early_stopping",
                    "target_loss", "shuffle", "checkpoint_dir", "dynamic_show", "plot_every")


#: the constructor parameters both estimators take, ``(name, annotation, default)``, in the
#: order of their signatures: the leading ones, then each estimator's own, the middle ones,
#: each estimator's own again, and the trailing ones
_LEADING: tuple[tuple[str, Any, Any], ...] = (
    ("hidden_layer_sizes", Any, (100,)), ("nonlinearity", str, "relu"),
    ("dropout", float, 0.0), ("init", str, "he"), ("init_scale", float | None, None),
    ("normalization", str | None, None), ("dtype", str | None, None), ("epochs", int, 200),
    ("batch_size", int | None, 64), ("lr", float, 1e-3), ("optimizer", str, "adam"),
    ("momentum", float, 0.9), ("alpha", float, 0.99), ("beta1", float, 0.9),
    ("beta2", float, 0.999), ("eps", float, 1e-8), ("weight_decay", float, 0.0),
    ("grad_clip", float | None, None))
_MIDDLE: tuple[tuple[str, Any, Any], ...] = (
    ("schedule", dict | None, None), ("early_stopping", int | None, None),
    ("tol", float, 1e-4), ("target_loss", float | None, None), ("shuffle", bool, True),
    ("checkpoint_dir", str | None, None), ("dynamic_show", bool, False),
    ("plot_every", int, 1), ("validation_fraction", float, 0.1),
    ("normalize", str | None, "zscore"))
_TRAILING: tuple[tuple[str, Any, Any], ...] = (
    ("warm_start", bool, False), ("random_state", Any, None), ("verbose", bool, False))


def _storing_init(*groups: tuple[tuple[str, Any, Any], ...]) -> Callable[..., None]:
    """An estimator's ``__init__`` taking the parameters of ``groups`` in order and storing
    each unchanged under its name (scikit-learn's rule), with the signature
    ``get_params``, ``set_params``, ``clone`` and ``help`` read.

    Parameters
    ----------
    *groups : tuple of (str, type, object)
        The parameters ``(name, annotation, default)``, group after group.
    """
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter("self", kind)]
        + [inspect.Parameter(name, kind, default=default, annotation=annotation)
           for group in groups for name, annotation, default in group],
        return_annotation=None)

    def __init__(self: BaseEstimator, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


#: the estimator ``fit`` returns: ``self`` (``typing.Self`` needs Python 3.11)
_Estimator = TypeVar("_Estimator", bound="_RoutinizerEstimator")


class _RoutinizerEstimator(BaseEstimator):
    """What the classifier and the regressor share; see the module docstring."""

    _is_classifier: ClassVar[bool]
    # what a fit sets (declared for the type checker; absent until the first fit)
    model_: Model
    routinizer_: BasicRoutinizer
    normalizer_: Normalizer | None
    #: a classifier fitted on a multilabel indicator ``y`` (set by its first fit)
    _multilabel: bool = False

    # ------------------------------------------------------------------ fitting
    def fit(self: _Estimator, X: Any, y: Any, sample_weight: Any = None) -> _Estimator:
        """Train for ``epochs`` epochs (continuing the run when ``warm_start`` and fitted).

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)``, dense or sparse CSR/CSC.
        y : array_like
            The classifier's labels ``(N,)`` or multilabel indicator ``(N, L)``; the
            regressor's targets ``(N,)`` or ``(N, outputs)``.
        sample_weight : array_like, optional
            Weights ``(N,)`` of the samples in the loss.

        Returns
        -------
        RoutinizerClassifier or RoutinizerRegressor
            ``self``, fitted.
        """
        self._fit(X, y, sample_weight, self.epochs, self.warm_start)
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any, epochs: int, continuing: bool,
             classes: Any = None, partial: bool = False) -> None:
        """Validate, build (or keep) the model and routinizer, and train ``epochs`` epochs;
        a ``fit`` (not ``partial``) that ran out of epochs while the training loss still
        improved by more than ``tol`` gives a ``ConvergenceWarning``."""
        continuing = continuing and hasattr(self, "model_")
        routinizer = self._routinizer()  # validates every training parameter first
        X, y = validate_data(self, X, y, reset=not continuing, accept_sparse=_SPARSE_FORMATS,
                             dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=not self._is_classifier)
        X = as_csr(X)
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                          ensure_non_negative=True)
            if not weight.any():
                raise ValueError("sample weights must not all be zero, found only zero weights")
        targets, weight = self._targets(y, weight, continuing, classes)
        routinizer.loss = self._loss()  # the classifier's depends on the targets
        if weight is not None:
            kept = weight > 0  # a weight-0 row adds nothing to the loss nor the statistics
            if not kept.all():
                X, targets, weight = X[kept], targets[kept], weight[kept]
            if np.all(weight == weight[0]):  # equal weights are the unweighted objective
                weight = None
        if self._is_classifier and not continuing:
            self._check_two_classes(targets, classes)
        seed = self._seed(continuing)
        data = self._data(X, targets, weight, seed, continuing, routinizer)
        start = 0
        if continuing:
            kept_routinizer = self.routinizer_
            for name in BasicRoutinizer.model_fields:
                if name not in ("epochs", "seed"):
                    setattr(kept_routinizer, name, getattr(routinizer, name))
            routinizer = kept_routinizer
            start = routinizer.state.epoch
            routinizer.epochs = start + epochs
        else:
            routinizer.seed = seed
            routinizer.epochs = epochs
            self.model_ = self._model(X.shape[1], self._n_outputs(targets), X.dtype, seed)
            self.routinizer_ = routinizer
        callbacks = [] if not self.verbose else [VerboseLines(
            validation_score(data, self._is_classifier, self._multilabel), float(self.tol))]
        self.routinizer_.run(self.model_, data, callbacks,
                             overwrite=not continuing)  # fit starts over
        self._set_fitted_attributes()
        self.n_iter_ = self.routinizer_.state.epoch - start
        if not partial:
            self._warn_if_not_converged()

    def _routinizer(self) -> BasicRoutinizer:
        tol = self.tol
        if (isinstance(tol, bool) or not isinstance(tol, int | float | np.integer | np.floating)
                or not math.isfinite(tol) or tol < 0):
            raise ValueError(f"tol must be a finite number >= 0 (the least improvement of the "
                             f"loss that counts), found {tol!r}")
        fields = {name: getattr(self, name) for name in _TRAINING_FIELDS}
        return BasicRoutinizer(**fields, min_delta=float(tol),
                               schedule=self.schedule or {"kind": "constant"},
                               progress=int(self.verbose) >= 2)

    def _warn_if_not_converged(self) -> None:
        """``ConvergenceWarning`` when the fit used all its epochs (no stop rule ended it)
        and, within the last ``early_stopping`` epochs (10 without it, scikit-learn's
        ``n_iter_no_change``), the training loss fell below the lowest before it by more
        than ``tol``: the count scikit-learn keeps to decide it has converged."""
        routinizer = self.routinizer_
        state = routinizer.state
        if state.stopped_early or state.reached(routinizer.target_loss):
            return
        window = routinizer.early_stopping or _NO_CHANGE_EPOCHS
        best, since = math.inf, 0
        for loss in state.history.train_loss:
            since = since + 1 if loss > best - self.tol else 0
            best = min(best, loss)
        if since <= window:
            warnings.warn(f"{type(self).__name__}: all {self.n_iter_} epochs ran and the "
                          f"training loss still improved by more than tol={self.tol:g} within "
                          f"the last {window} epochs; raise epochs (or set early_stopping)",
                          ConvergenceWarning, stacklevel=4)

    def _model(self, n_features: int, n_outputs: int, dtype: np.dtype, seed: int) -> Model:
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, int | np.integer) else list(hidden)
        model_dtype: Literal["float32", "float64"] = self.dtype or (
            "float32" if dtype == np.float32 else "float64")
        return Model.mlp([n_features, *hidden, n_outputs], nonlinearity=self.nonlinearity,
                         dropout=self.dropout, init=self.init, init_scale=self.init_scale,
                         normalization=self.normalization, seed=seed, dtype=model_dtype)

    def _seed(self, continuing: bool) -> int:
        """The run's seed (model initialisation, validation split, training generator): the
        routinizer's when continuing, else drawn from ``random_state`` (an int is used as
        it is)."""
        if continuing:
            return self.routinizer_.seed
        if isinstance(self.random_state, int | np.integer):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _data(self, X: Any, targets: np.ndarray, weight: np.ndarray | None, seed: int,
              continuing: bool, routinizer: BasicRoutinizer) -> Data:
        """The training Data: a validation split of ``validation_fraction``, chosen by
        content so that a row of integer weight k and k copies of it are split alike, and
        the normaliser, fitted on the training split at the first fit and kept by later
        ones so that the same inputs give the same data. When too few samples leave both
        splits non-empty, the fit trains without one (no validation loss curve), unless a
        stop rule monitors the validation loss (``early_stopping``, ``target_loss``): then
        a ``ValueError`` names the sizes."""
        if self._is_classifier and not self._multilabel:
            data = Data(X, targets, w_train=weight, task="classification",
                        classes=np.arange(self.classes_.shape[0]))
        else:  # a multilabel indicator is L float targets of the bce loss
            data = Data(X, targets, w_train=weight, task="regression")
        if not (isinstance(self.validation_fraction, float | int)
                and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be a number in [0, 1), found "
                             f"{self.validation_fraction!r}")
        if self.validation_fraction:
            n = len(data)
            try:
                data.split_validation(self.validation_fraction, seed=seed, by_content=True)
            except DataError as exc:
                rules = [f"{name}={getattr(routinizer, name)!r}"
                         for name in ("early_stopping", "target_loss")
                         if getattr(routinizer, name) is not None]
                if rules:
                    raise ValueError(
                        f"{' and '.join(rules)} need{'s' if len(rules) == 1 else ''} a "
                        f"validation split, but validation_fraction="
                        f"{self.validation_fraction!r} of {n} training samples cannot form "
                        f"a validation split ({exc}); expected enough "
                        "samples for at least one on each side, or validation_fraction=0 "
                        "to monitor the training loss") from exc
        if continuing:
            if self.normalizer_ is not None:
                for split in ("train", "val"):
                    features = getattr(data, f"X_{split}")
                    if features is not None:
                        setattr(data, f"X_{split}", self.normalizer_.apply(features))
                data.normalizer = self.normalizer_
        else:
            if self.normalize is not None:
                data.normalize(self.normalize)
            self.normalizer_ = data.normalizer
        return data

    def _set_fitted_attributes(self) -> None:
        history, state = self.routinizer_.history, self.routinizer_.state
        self.history_ = history
        self.loss_curve_ = list(history.train_loss)
        has_val = any(v is not None for v in history.val_loss)
        self.validation_loss_curve_ = list(history.val_loss) if has_val else None
        self.best_epoch_ = state.best_epoch
        self.n_iter_total_ = state.epoch

    # --------------------------------------------------------------- predicting
    def _inputs(self, X: Any) -> np.ndarray:
        """``X`` validated against the fit, normalised, in the model's dtype."""
        check_is_fitted(self)
        X = as_csr(validate_data(self, X, reset=False, accept_sparse=_SPARSE_FORMATS,
                                 dtype=(np.float64, np.float32)))
        if self.normalizer_ is not None:
            X = self.normalizer_.apply(X)
        return self.model_.check_input(X)

    def activations(self, X: Any, layer: int = 1) -> np.ndarray:
        """The hidden representation of ``X`` after a layer.

        The output of the ``layer``-th affine ``Layer`` (counted from 1) after the
        nonlinearity that follows it (dropout is off at inference). Inputs are normalised
        as in ``predict``.

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)``, normalised as in ``predict``.
        layer : int, default 1
            From 1 to the number of hidden layers; the last layer,
            ``len(hidden_layer_sizes) + 1``, gives the raw outputs (logits for the
            classifier).

        Returns
        -------
        ndarray
            ``(N, width)``.

        Raises
        ------
        ValueError
            ``layer`` out of range.
        """
        x = self._inputs(X)
        modules = self.model_.modules
        starts = self.model_.layer_indices()
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not (
                1 <= layer <= len(starts)):
            raise ValueError(f"layer must be an integer from 1 to {len(starts)} (the model's "
                             f"layers), found {layer!r}")
        stop = starts[layer] if layer < len(starts) else len(modules)
        return np.array(self.model_.forward_modules(x, stop))

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write this fitted estimator as the library's checkpoint (HDF5, no pickle).

        The estimator's parameters and fitted facts go in the JSON root attribute
        ``sklearn_estimator``; the file is written atomically (a temporary file renamed
        over ``path``).

        Parameters
        ----------
        path : str or Path
            The ``.h5`` checkpoint to write.

        Returns
        -------
        Path
            The checkpoint written.
        """
        check_is_fitted(self)
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> _RoutinizerEstimator:
        """A fitted estimator from a file written by ``save``.

        No pickle: the checkpoint's arrays and JSON.

        Parameters
        ----------
        path : str or Path
            The ``.h5`` checkpoint.

        Returns
        -------
        estimator
            A fitted instance of this class.

        Raises
        ------
        CheckpointError
            The file is not one written by ``save`` (or holds another estimator).
        """
        return load_estimator(cls, path)


@document_parameters
class RoutinizerClassifier(ClassifierMixin, _RoutinizerEstimator):
    """A multilayer-perceptron classifier trained by ``BasicRoutinizer``.

    Softmax cross entropy over one output per class for labels ``y (N,)``, or, for a
    multilabel indicator ``y (N, L)`` of 0/1, binary cross entropy over one sigmoid output
    per label (then ``predict`` gives the indicator, ``predict_proba`` the ``(N, L)`` label
    probabilities, ``score`` the subset accuracy, ``classes_`` is ``0..L-1``, and
    ``class_weight`` and ``label_smoothing`` are refused). The training parameters are
    ``BasicRoutinizer`` fields under the same names; a bad value raises
    ``pydantic.ValidationError`` (a ``ValueError``) at ``fit``. A fit keeps ``model_``,
    ``routinizer_``, ``normalizer_``, ``history_``, ``classes_``, ``n_features_in_``,
    ``loss_curve_``, ``validation_loss_curve_``, ``best_epoch_`` and ``n_iter_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlp.sklearn import RoutinizerClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = RoutinizerClassifier(hidden_layer_sizes=(16,), epochs=5, random_state=0)
    >>> clf.fit(X, y).classes_
    array([0, 1, 2])
    >>> clf.predict_proba(X[:2]).shape, clf.n_iter_
    ((2, 3), 5)
    """

    _is_classifier = True

    __init__ = _storing_init(_LEADING, (("label_smoothing", float, 0.0),), _MIDDLE,
                             (("class_weight", str | dict | None, None),), _TRAILING)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> RoutinizerClassifier:
        """One more epoch on ``(X, y)``, continuing the run (the first call starts it).

        Parameters
        ----------
        X, y
            As in ``fit``.
        classes : array_like, optional
            Every label, when the first batch lacks some.
        sample_weight : array_like, optional
            As in ``fit``.

        Returns
        -------
        RoutinizerClassifier
            ``self``.
        """
        self._fit(X, y, sample_weight, 1, True, classes, partial=True)
        return self

    def _loss(self) -> Loss:
        # Loss.__new__ builds the registered class of kind= (the plugin's __init__ lacks it)
        if self._multilabel:
            return Loss(kind="bce")  # type: ignore[call-arg]
        return Loss(kind="cross_entropy",  # type: ignore[call-arg]
                    label_smoothing=self.label_smoothing)

    def _targets(self, y: np.ndarray, weight: np.ndarray | None, continuing: bool,
                 classes: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Class codes ``(N,)`` into ``classes_`` (set at the first fit), and the sample
        weights multiplied by ``class_weight``; or a multilabel indicator as float 0/1
        targets ``(N, L)``. A column ``(N, 1)`` of labels is taken as ``(N,)`` with
        scikit-learn's ``DataConversionWarning``; one of only 0/1 is refused, being an
        indicator of one label."""
        if y.ndim == 2 and y.shape[1] == 1:
            if _is_indicator(y):
                raise ValueError("a multilabel indicator y needs at least 2 label columns, "
                                 "found 1; pass y.ravel() (N,) for binary classification")
            warnings.warn("A column-vector y was passed when a 1d array was expected; "
                          "it is used as y.ravel()", DataConversionWarning, stacklevel=4)
            y = y.ravel()
        multilabel = y.ndim == 2
        if continuing and multilabel != self._multilabel:
            expected = "a multilabel indicator" if self._multilabel else "labels (N,)"
            raise ValueError(f"y must be {expected} like the first fit's, found shape "
                             f"{y.shape}")
        self._multilabel = multilabel
        if multilabel:
            return self._indicator(y, weight, continuing, classes)
        check_classification_targets(y)
        if not continuing:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes must be the classes of the first fit "
                             f"{self.classes_.tolist()!r}, found {np.unique(classes).tolist()!r}")
        codes = np.searchsorted(self.classes_, y)
        unknown = (codes >= self.classes_.shape[0]) | (
            self.classes_[np.minimum(codes, self.classes_.shape[0] - 1)] != y)
        if unknown.any():
            raise ValueError(f"y holds labels {np.unique(y[unknown]).tolist()!r} that are not "
                             f"among the classes {self.classes_.tolist()!r}")
        if self.class_weight is not None:
            per_sample = class_weights(codes, self.classes_, self.class_weight)[codes]
            weight = per_sample if weight is None else weight * per_sample
        return codes.astype(np.int64), weight

    def _indicator(self, y: np.ndarray, weight: np.ndarray | None, continuing: bool,
                   classes: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """A multilabel indicator ``y (N, L)`` as float64 targets, checked: values 0/1, the
        first fit's L labels, no ``class_weight`` or ``label_smoothing``."""
        if not _is_indicator(y):
            found = np.unique(y)
            raise ValueError(f"a multilabel y must be an indicator of 0/1 values (N, labels), "
                             f"found values {found[:10].tolist()!r}"
                             f"{' ...' if found.shape[0] > 10 else ''} in shape {y.shape}")
        for name in ("class_weight", "label_smoothing"):
            if getattr(self, name):
                raise ValueError(f"{name} has no meaning for a multilabel y (each label is "
                                 f"its own binary problem: use sample_weight), found "
                                 f"{name}={getattr(self, name)!r}")
        labels = np.arange(y.shape[1])
        if continuing and y.shape[1] != self.classes_.shape[0]:
            raise ValueError(f"y must have the {self.classes_.shape[0]} label columns of the "
                             f"first fit, found {y.shape[1]}")
        if classes is not None and not np.array_equal(np.unique(classes), labels):
            raise ValueError(f"classes of a multilabel y must be its column indices "
                             f"{labels.tolist()!r}, found {np.unique(classes).tolist()!r}")
        if not continuing:
            self.classes_, self._indicator_dtype = labels, y.dtype
        return np.asarray(y, dtype=np.float64), weight

    def _n_outputs(self, targets: np.ndarray) -> int:
        return int(self.classes_.shape[0])

    def _check_two_classes(self, codes: np.ndarray, classes: Any) -> None:
        """A first fit needs two classes: among the labels of non-zero weight, or in the
        ``classes`` a ``partial_fit`` names (a multilabel fit has its L >= 2 labels)."""
        if self._multilabel:
            return
        found = self.classes_ if classes is not None else self.classes_[np.unique(codes)]
        if found.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes, found 1 class "
                             f"({found.tolist()[0]!r}) among the labels of non-zero weight")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)`` to classify.

        Returns
        -------
        ndarray
            ``(N, C)``, columns in the order of ``classes_``; for a multilabel fit each
            label's probability ``(N, L)`` (the sigmoid of its output).
        """
        inputs = self._inputs(X)
        if self._multilabel:
            logits = self.model_.predict_logits(inputs)
            return 0.5 * (1.0 + np.tanh(0.5 * logits))
        return self.model_.predict_proba(inputs)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities, finite even where a probability underflows to 0.

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)``, as for ``predict_proba``.

        Returns
        -------
        ndarray
            ``(N, C)``, a log-softmax of the outputs; for a multilabel fit ``log sigmoid``
            of each label's output ``(N, L)``, as ``-logaddexp(0, -z)``.
        """
        inputs = self._inputs(X)
        logits = self.model_.predict_logits(inputs)
        if self._multilabel:
            return -np.logaddexp(0, -logits)
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logits

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each row.

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)`` to label.

        Returns
        -------
        ndarray
            Labels ``(N,)``; for a multilabel fit the indicator ``(N, L)`` of the labels
            whose output is positive (probability above 0.5), in the dtype of the fitted
            ``y``.
        """
        inputs = self._inputs(X)
        if self._multilabel:
            return (self.model_.predict_logits(inputs) > 0).astype(self._indicator_dtype)
        return self.classes_[self.model_.predict(inputs)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags


def _is_indicator(y: np.ndarray) -> bool:
    """Whether ``y`` holds only the values 0 and 1 (as numbers or booleans)."""
    return y.dtype.kind in "biuf" and bool(np.isin(y, (0, 1)).all())


@document_parameters
class RoutinizerRegressor(RegressorMixin, _RoutinizerEstimator):
    """A multilayer-perceptron regressor trained by ``BasicRoutinizer``.

    Targets are ``(N,)`` or ``(N, outputs)`` (multi-output), the loss ``"mse"`` or
    ``"mae"``. The other parameters are the classifier's (``RoutinizerClassifier``),
    without ``class_weight`` and ``label_smoothing``; the validation split is not
    stratified. A fit keeps the classifier's fitted attributes, with ``n_outputs_`` in place
    of ``classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.sklearn import RoutinizerRegressor
    >>> X = np.linspace(0, 1, 64).reshape(-1, 1)
    >>> reg = RoutinizerRegressor(hidden_layer_sizes=(16,), epochs=3, random_state=0)
    >>> reg.fit(X, np.sin(6 * X).ravel()).predict(X[:4]).shape
    (4,)
    """

    _is_classifier = False
    n_outputs_: int  # set by the first fit

    __init__ = _storing_init(_LEADING, (("loss", str, "mse"),), _MIDDLE, (), _TRAILING)

    def partial_fit(self, X: Any, y: Any,
                    sample_weight: Any = None) -> RoutinizerRegressor:
        """One more epoch on ``(X, y)``, continuing the run (the first call starts it).

        Parameters
        ----------
        X, y, sample_weight
            As in ``fit``.

        Returns
        -------
        RoutinizerRegressor
            ``self``.
        """
        self._fit(X, y, sample_weight, 1, True, partial=True)
        return self

    def _loss(self) -> Loss:
        regression = [k for k in Loss.names() if not LOSSES.get(k).is_classification]
        if self.loss not in regression:
            raise ValueError(f"loss must be one of {', '.join(map(repr, regression))} for "
                             f"regression, found {self.loss!r}")
        return Loss(kind=self.loss)  # type: ignore[call-arg]  # Loss.__new__ picks the class

    def _targets(self, y: np.ndarray, weight: np.ndarray | None, continuing: bool,
                 classes: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Targets as ``(N, outputs)`` float64; a fit with ``(N,)`` targets predicts
        ``(N,)``."""
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        if continuing and targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have the {self.n_outputs_} output(s) of the first fit, "
                             f"found {targets.shape[1]}")
        if not continuing:
            self.n_outputs_, self._y_ndim = int(targets.shape[1]), int(y.ndim)
        return np.asarray(targets, dtype=np.float64), weight

    def _n_outputs(self, targets: np.ndarray) -> int:
        return int(targets.shape[1])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets.

        Parameters
        ----------
        X : array_like or sparse matrix
            Inputs ``(N, D)`` whose targets are predicted.

        Returns
        -------
        ndarray
            ``(N,)`` when fitted on ``(N,)`` targets, else ``(N, outputs)``.
        """
        inputs = self._inputs(X)
        out = self.model_.predict_logits(inputs)
        return out.ravel() if self._y_ndim == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags


def register_onnx_converters() -> None:
    """Register both estimators' converters with skl2onnx.

    Then ``skl2onnx.to_onnx`` converts a ``Pipeline`` or ``ColumnTransformer`` holding one
    (see ``onnx_converters``; needs the ``onnx`` extra). Explicit, as onnxmltools'
    converters for LightGBM and XGBoost are; done on import of this module when skl2onnx was
    imported before it.

    Examples
    --------
    >>> from mlp.sklearn import register_onnx_converters
    >>> register_onnx_converters()  # doctest: +SKIP
    >>> onnx_model = skl2onnx.to_onnx(pipeline, X[:1])  # doctest: +SKIP
    """
    from mlp.sklearn.onnx_converters import register

    register(RoutinizerClassifier, RoutinizerRegressor)


if "skl2onnx" in sys.modules:
    register_onnx_converters()

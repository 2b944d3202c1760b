"""Saving and loading fitted scikit-learn estimators (``RoutinizerClassifier.save`` /
``load``), in the library's checkpoint format and without pickle.

A saved estimator is a checkpoint of its model, routinizer and run state, plus one JSON root
attribute, ``sklearn_estimator``: the estimator's class name, its constructor parameters
and the fitted facts that are not in the checkpoint (``n_features_in_``, feature names,
``n_iter_``, the regressor's output shape, the multilabel classifier's indicator dtype).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlp.errors import CheckpointError
from mlp.nn.input_normalizer import Normalizer
from mlp.training.checkpoint import load_checkpoint, save_checkpoint
from mlp.training.routinizer import BasicRoutinizer

#: the root attribute of a checkpoint written by ``save`` that holds the estimator's JSON
ESTIMATOR_ATTRIBUTE = "sklearn_estimator"


@dataclass
class _DataFacts:
    """What ``save_checkpoint`` reads from a ``Data`` (normaliser, classes, image shape),
    without the training arrays, which a fitted estimator does not keep."""

    normalizer: Normalizer | None
    classes: np.ndarray | None
    image_shape: tuple[int, int] | None = None


def save_estimator(estimator: Any, path: str | Path) -> Path:
    """Write a fitted estimator's checkpoint and description.

    Parameters
    ----------
    estimator : RoutinizerClassifier or RoutinizerRegressor
        A fitted estimator.
    path : str or Path
        The ``.h5`` file to write (atomically).

    Returns
    -------
    Path
        The file written.
    """
    facts = _DataFacts(estimator.normalizer_, getattr(estimator, "classes_", None))
    description = json.dumps(_description(estimator), default=_plain)
    return save_checkpoint(Path(path), estimator.model_, estimator.routinizer_,
                           facts,
                           annotations={ESTIMATOR_ATTRIBUTE: description})


def _description(estimator: Any) -> dict[str, Any]:
    """The JSON of a fitted estimator: class name, parameters, fitted facts."""
    params = estimator.get_params()
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = [[_plain(k), v] for k, v in params["class_weight"].items()]
    params["hidden_layer_sizes"] = (
        [int(n) for n in params["hidden_layer_sizes"]]
        if not isinstance(params["hidden_layer_sizes"], int | np.integer)
        else int(params["hidden_layer_sizes"]))
    if params.get("checkpoint_dir") is not None:
        params["checkpoint_dir"] = str(params["checkpoint_dir"])
    if not isinstance(params["random_state"], int | type(None)):
        params["random_state"] = None  # a generator's state is not a parameter
    fitted: dict[str, Any] = {"n_features_in_": int(estimator.n_features_in_),
                              "n_iter_": int(estimator.n_iter_)}
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in estimator.feature_names_in_]
    if not estimator._is_classifier:
        fitted["n_outputs_"] = int(estimator.n_outputs_)
        fitted["y_ndim_"] = int(estimator._y_ndim)
    elif estimator._multilabel:
        fitted["indicator_dtype"] = estimator._indicator_dtype.str
    return {"estimator": type(estimator).__name__, "params": params, "fitted": fitted}


def load_estimator(cls: type[Any], path: str | Path) -> Any:
    """A fitted estimator from a file written by ``save_estimator``.

    Parameters
    ----------
    cls : type
        The estimator class the file must hold.
    path : str or Path
        The ``.h5`` file.

    Returns
    -------
    estimator
        A fitted instance of ``cls``.

    Raises
    ------
    CheckpointError
        The file is not one written by ``save_estimator``, or holds another estimator.
    """
    checkpoint = load_checkpoint(path)
    text = checkpoint.annotations.get(ESTIMATOR_ATTRIBUTE)
    if text is None:
        raise CheckpointError(f"{checkpoint.path}: expected a checkpoint written by "
                              f"{cls.__name__}.save, found no {ESTIMATOR_ATTRIBUTE!r} "
                              "annotation")
    description = json.loads(text)
    if description.get("estimator") != cls.__name__:
        raise CheckpointError(f"{checkpoint.path}: expected a saved {cls.__name__}, found "
                              f"a saved {description.get('estimator')!r}")
    params = description["params"]
    if isinstance(params.get("class_weight"), list):
        params["class_weight"] = {k: v for k, v in params["class_weight"]}
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    estimator = cls(**params)
    routinizer = BasicRoutinizer.model_validate_json(checkpoint.config.model_dump_json())
    routinizer.restore(checkpoint.model, checkpoint.state,
                       optimizer_state=checkpoint.optimizer_state)
    estimator.model_, estimator.routinizer_ = checkpoint.model, routinizer
    estimator.normalizer_ = checkpoint.normalizer
    fitted = description["fitted"]
    estimator.n_features_in_ = fitted["n_features_in_"]
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.array(fitted["feature_names_in_"], dtype=object)
    if cls._is_classifier:
        estimator.classes_ = checkpoint.classes
        estimator._multilabel = "indicator_dtype" in fitted
        if estimator._multilabel:
            estimator._indicator_dtype = np.dtype(fitted["indicator_dtype"])
    else:
        estimator.n_outputs_, estimator._y_ndim = fitted["n_outputs_"], fitted["y_ndim_"]
    estimator._set_fitted_attributes()
    estimator.n_iter_ = fitted.get("n_iter_", estimator.n_iter_total_)
    return estimator


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value

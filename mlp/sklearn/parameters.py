"""The estimators' constructor parameters, each described once.

``RoutinizerClassifier`` and ``RoutinizerRegressor`` share most of their parameters;
``document_parameters`` appends a numpydoc ``Parameters`` section to an estimator's
docstring, an entry per parameter of its ``__init__`` in signature order, from
``PARAMETERS``, so ``help()``, the API reference and numpydoc see every one.
"""

from __future__ import annotations

import inspect
from typing import TypeVar

from mlp.training.field_docs import with_parameters

T = TypeVar("T", bound=type)

#: parameter name -> (numpydoc type and default, description)
PARAMETERS: dict[str, tuple[str, str]] = {
    "hidden_layer_sizes": (
        "int or sequence of int, default (100,)",
        "Widths of the hidden layers (an int is one hidden layer); the input and output "
        "widths come from the data."),
    "nonlinearity": (
        "str, default \"relu\"",
        "The activation after each hidden layer (``relu``, ``leaky_relu``, ``sigmoid``, "
        "``tanh``, ``gelu``, ...)."),
    "dropout": (
        "float, default 0.0",
        "Dropout probability after each hidden activation."),
    "init": (
        "{\"he\", \"xavier\", \"normal\", \"uniform\"}, default \"he\"",
        "How the layers' weights are drawn (see ``Layer``)."),
    "init_scale": (
        "float or None, default None",
        "The standard deviation for ``normal``; a gain for the others."),
    "normalization": (
        "{\"batch\", \"layer\"} or None, default None",
        "A ``BatchNorm1d`` or ``LayerNorm`` after each hidden layer, before its "
        "nonlinearity."),
    "dtype": (
        "{\"float32\", \"float64\"} or None, default None",
        "The model's floating type; None: float32 for float32 inputs, else float64."),
    "epochs": (
        "int, default 200",
        "Epochs of a ``fit`` (``partial_fit`` trains one)."),
    "batch_size": (
        "int or None, default 64",
        "Rows of a mini-batch; None trains on the full batch."),
    "lr": ("float, default 1e-3", "Learning rate."),
    "optimizer": (
        "str, default \"adam\"",
        "A registered update rule: ``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, "
        "``adam``, ``adamw``, ``amsgrad``."),
    "momentum": ("float, default 0.9", "Momentum of ``momentum`` and ``nesterov``."),
    "alpha": ("float, default 0.99", "RMSprop's smoothing constant."),
    "beta1": ("float, default 0.9", "Adam's decay rate of the first moment."),
    "beta2": ("float, default 0.999", "Adam's decay rate of the second moment."),
    "eps": ("float, default 1e-8", "Added to the denominator of RMSprop and Adam."),
    "weight_decay": (
        "float, default 0.0",
        "L2 penalty: coupled (added to the gradient), decoupled for ``adamw``."),
    "grad_clip": (
        "float or None, default None",
        "Largest global L2 norm of the gradients (``clip_grad_norm_``)."),
    "label_smoothing": (
        "float, default 0.0",
        "Label smoothing of the cross-entropy loss (not for a multilabel ``y``)."),
    "loss": (
        "str, default \"mse\"",
        "A regression loss: ``mse`` or ``mae`` (or a registered one)."),
    "schedule": (
        "dict or None, default None",
        "The learning-rate schedule as its JSON (``{\"kind\": \"cosine\"}``); None: "
        "constant."),
    "early_stopping": (
        "int or None, default None",
        "Patience in epochs on the validation loss (the training loss without a "
        "validation split); the best weights are restored. None, as in ``MLPClassifier``: "
        "a dozen validation samples are too few to stop on."),
    "tol": (
        "float, default 1e-4",
        "The least improvement of the loss that counts for ``early_stopping`` and for the "
        "``ConvergenceWarning`` (scikit-learn's meaning; the lowest loss still gives the "
        "restored weights)."),
    "target_loss": (
        "float or None, default None",
        "Stop once the monitored loss is at or below it."),
    "shuffle": ("bool, default True", "Shuffle the training rows before every epoch."),
    "checkpoint_dir": (
        "str or None, default None",
        "A run folder for the fit's checkpoints; None: none."),
    "dynamic_show": ("bool, default False", "Draw the training curves as the fit goes."),
    "plot_every": ("int, default 1", "Epochs between two drawings of the live curves."),
    "validation_fraction": (
        "float, default 0.1",
        "Share of the training rows held out (stratified for the classifier, chosen by "
        "content) for the validation loss curve and ``early_stopping``; 0: none. With too "
        "few rows for both splits the fit trains without one, unless a stop rule needs "
        "it."),
    "normalize": (
        "{\"zscore\", \"minmax\"} or None, default \"zscore\"",
        "Input normalisation fitted on the training split at the first fit."),
    "class_weight": (
        "\"balanced\" or dict or None, default None",
        "Multiplies the sample weights: ``\"balanced\"`` or ``{label: weight}`` (not for "
        "a multilabel ``y``)."),
    "warm_start": (
        "bool, default False",
        "Continue the run on the next ``fit`` (moments, step count, generator, schedule "
        "state)."),
    "random_state": (
        "int, RandomState or None, default None",
        "Seeds the initialisation, the validation split and the training generator (an "
        "int is used as it is)."),
    "verbose": (
        "bool or int, default False",
        "Print ``MLPClassifier``'s lines to stdout: \"Iteration N, loss = ...\" per epoch "
        "and \"Validation score: ...\" with a validation split; 2 also shows the progress "
        "display."),
}


def document_parameters(cls: T) -> T:
    """Append the Parameters section of ``cls.__init__``'s parameters to its docstring.

    Parameters
    ----------
    cls : type
        An estimator class whose ``__init__`` parameters are all in ``PARAMETERS``.

    Returns
    -------
    type
        ``cls``, its ``__doc__`` completed.
    """
    names = list(inspect.signature(cls).parameters)  # the __init__'s, without self
    lines = ["Parameters", "----------"]
    for name in names:
        kind, description = PARAMETERS[name]
        lines += [f"{name} : {kind}", f"    {description}"]
    cls.__doc__ = with_parameters(inspect.cleandoc(cls.__doc__ or ""), "\n".join(lines))
    return cls

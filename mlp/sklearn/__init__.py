"""scikit-learn estimators: ``RoutinizerClassifier`` and ``RoutinizerRegressor``, their files, their
verbose output and their ONNX converters for skl2onnx.

Modules:

- ``estimators``: ``RoutinizerClassifier``, ``RoutinizerRegressor`` (re-exported here).
- ``parameters``: the estimators' constructor parameters, each described once, as their
  docstrings' Parameters sections.
- ``files``: saving and loading fitted estimators (a checkpoint plus their JSON).
- ``verbose``: the lines the estimators print with ``verbose``, in ``MLPClassifier``'s formats.
- ``onnx_converters``: skl2onnx converters for the estimators: whole pipelines to one ONNX graph.

Tested by: ``tests/test_sklearn.py`` (scikit-learn's own estimator checks, meta-estimators,
exact continuation, weights, persistence without pickle), ``tests/test_sklearn_mlp_port.py``
(scikit-learn's own MLP tests rewritten for these estimators, 44 cases; its docstring lists the
left-out ones with their reasons), ``tests/test_sklearn_multilabel.py`` (multilabel fits
against ``MLPClassifier``), ``tests/test_sklearn_sparse.py`` (CSR and CSC, matrices and arrays),
``tests/test_sklearn_stopping.py`` (``tol``, split errors, divergence, convergence warnings,
``n_iter_``), ``tests/test_sklearn_verbose.py`` (``MLPClassifier``'s printed lines),
``tests/test_skl2onnx.py`` (pipelines through skl2onnx in onnxruntime).

May import: everything of ``mlp`` below the command line, and ``preprocess``."""

from mlp.sklearn.estimators import (
    RoutinizerClassifier,
    RoutinizerRegressor,
    register_onnx_converters,
)

__all__ = ["RoutinizerClassifier", "RoutinizerRegressor", "register_onnx_converters"]

"""scikit-learn estimators: ``RoutinizerClassifier`` and ``RoutinizerRegressor``, their files, their
verbose output and their ONNX converters for skl2onnx.

May import: everything of ``mlp`` below the command line, and ``preprocess``.
"""

from mlp.sklearn.estimators import (
    RoutinizerClassifier,
    RoutinizerRegressor,
    register_onnx_converters,
)

__all__ = ["RoutinizerClassifier", "RoutinizerRegressor", "register_onnx_converters"]

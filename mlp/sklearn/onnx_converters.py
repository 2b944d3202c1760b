"""skl2onnx converters for ``RoutinizerClassifier`` and ``RoutinizerRegressor``.

``mlp.sklearn.estimators.register_onnx_converters()`` registers both estimators with skl2onnx
(``update_registered_converter``), so that ``skl2onnx.to_onnx`` converts a ``Pipeline`` or a
``ColumnTransformer`` that holds one into one graph. As for the converters onnxmltools offers
for third-party estimators (LightGBM, XGBoost), registration is explicit; ``mlp.sklearn.estimators``
also calls it when it is imported after skl2onnx, and never imports skl2onnx itself (a
second of import time for users who do not convert).

The estimator's part of the graph reuses the exporter's graph builder (``mlp.export``): the
fitted normaliser (``Sub``, ``Div``), each module's own ``to_onnx`` nodes, and for the
classifier the softmax (or sigmoid for one output) with the argmax gathered from the
classes. Nodes and constants go into skl2onnx's container under names from its scope. The
network runs in the model's dtype: a float32 or float64 input of another dtype is cast to it,
and the outputs are cast back to the input's dtype, as skl2onnx declares them. The
classifier has skl2onnx's classifier outputs ``label`` ``(N,)`` (int64 or strings, as
``classes_``) and ``probabilities`` ``(N, C)``, and its options (``zipmap``: ``True``,
``False`` or ``"columns"``; ``nocl``); the regressor's output is ``variable`` ``(N, out)``.
A multilabel classifier is refused with ``ExportError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
except ImportError as exc:  # an optional extra: say which one
    raise ImportError(f"mlp.sklearn.onnx_converters needs the skl2onnx package ({exc}); "
                      "install the "
                      "extra: pip install 'mlp-routinizer[onnx]'") from exc

from onnx import TensorProto, helper
from sklearn.utils.validation import check_is_fitted

from mlp.export import (
    DEFAULT_OPSET,
    ExportError,
    _classifier_outputs,
    _Graph,
    _network,
    _normalizer,
)

_ELEMENT_TYPE = {np.dtype("float32"): TensorProto.FLOAT,
                 np.dtype("float64"): TensorProto.DOUBLE}
_CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}
#: the exporter's outputs in the model's dtype (cast to the input's when they differ)
_FLOAT_OUTPUTS = ("probabilities", "output")


class _ContainerGraph(_Graph):
    """The exporter's graph builder writing into skl2onnx's container: names from the scope,
    and the outputs the exporter names (``probabilities``, ``label``, ``output``) written to
    the operator's variables ``outputs``, a float one through a ``Cast`` to ``cast_to`` when
    that is not ``None``."""

    def __init__(self, scope: Any, container: Any, dtype: str, outputs: dict[str, str],
                 cast_to: int | None) -> None:
        opset = container.target_opset
        super().__init__(dtype, DEFAULT_OPSET if opset is None else opset)
        self._scope = scope
        self._container = container
        self._outputs = outputs
        self._cast_to = cast_to

    def _name(self, stem: str) -> str:
        return self._scope.get_unique_variable_name(stem)

    def _node(self, op_type: str, inputs: list[str], output: str, **attrs: object) -> None:
        self._container.add_node(op_type, inputs, [output],
                                 name=self._scope.get_unique_operator_name(op_type), **attrs)

    def constant(self, stem: str, array: np.ndarray) -> str:
        name = self._name(stem)
        array = np.asarray(array)
        if array.dtype.kind in "OUS":
            self._container.add_initializer(name, TensorProto.STRING, list(array.shape),
                                            [str(item).encode() for item in array.ravel()])
        else:
            self._container.add_initializer(
                name, helper.np_dtype_to_tensor_dtype(array.dtype), list(array.shape),
                np.ascontiguousarray(array).ravel())
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: object
           ) -> str:
        if output is None:
            output = self._name(op_type.lower())
            self._node(op_type, inputs, output, **attrs)
            return output
        final = self._outputs[output]
        if output in _FLOAT_OUTPUTS and self._cast_to is not None:
            own = self._name(output)
            self._node(op_type, inputs, own, **attrs)
            self._node("Cast", [own], final, to=self._cast_to)
        else:
            self._node(op_type, inputs, final, **attrs)
        return final


def _class_labels(classes: np.ndarray) -> np.ndarray:
    """``classes_`` as skl2onnx declares the ``label`` output: int64 or strings."""
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if classes.dtype.kind in "OUS":
        return np.array([c.decode() if isinstance(c, bytes) else str(c) for c in classes],
                        dtype=object)
    raise ExportError(f"skl2onnx labels are integers or strings, found classes_ of dtype "
                      f"{classes.dtype}")


def _network_output(scope: Any, operator: Any, container: Any, outputs: dict[str, str]
                    ) -> tuple[_ContainerGraph, str]:
    """The graph builder and the network's outputs ``z`` on the operator's input (cast to
    the model's dtype, normalised as in the fit)."""
    estimator = operator.raw_operator
    model = estimator.model_
    element = guess_proto_type(operator.inputs[0].type)
    model_element = _ELEMENT_TYPE[np.dtype(model.dtype)]
    cast_to = None if element == model_element else element
    graph = _ContainerGraph(scope, container, model.dtype, outputs, cast_to)
    x = operator.inputs[0].full_name
    if cast_to is not None:
        x = graph.op("Cast", [x], to=model_element)
    if estimator.normalizer_ is not None:
        x = _normalizer(graph, x, estimator.normalizer_)
    return graph, _network(graph, x, model, type(estimator).__name__)


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter of a fitted ``RoutinizerClassifier``."""
    estimator = operator.raw_operator
    label, probabilities = (variable.full_name for variable in operator.outputs)
    graph, z = _network_output(scope, operator, container,
                               {"label": label, "probabilities": probabilities})
    _classifier_outputs(graph, z, estimator.model_.out_features,
                        _class_labels(np.asarray(estimator.classes_)))


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter of a fitted ``RoutinizerRegressor``: ``variable`` ``(N, out)``."""
    graph, z = _network_output(scope, operator, container,
                               {"output": operator.outputs[0].full_name})
    graph.op("Identity", [z], "output")


def _classifier_shapes(operator: Any) -> None:
    """skl2onnx's classifier shapes, after refusing a multilabel fit (whose ``label`` is an
    indicator ``(N, L)``, not a class per row)."""
    estimator = operator.raw_operator
    check_is_fitted(estimator)
    if estimator._multilabel:
        raise ExportError(f"{type(estimator).__name__} fitted on a multilabel indicator y "
                          "cannot be converted with skl2onnx (its outputs are one class per "
                          "row); export it alone with mlp.export instead")
    calculate_linear_classifier_output_shapes(operator)


def _regressor_shapes(operator: Any) -> None:
    """skl2onnx's regressor shapes with the model's number of outputs."""
    check_is_fitted(operator.raw_operator)
    calculate_linear_regressor_output_shapes(operator)
    operator.outputs[0].type.shape = [None, operator.raw_operator.model_.out_features]


def register(classifier: type, regressor: type) -> None:
    """Register the estimator classes' converters with skl2onnx.

    As ``mlp.sklearn.estimators`` does (this module does not import that one); calling it
    again changes nothing.

    Parameters
    ----------
    classifier : type
        ``RoutinizerClassifier``.
    regressor : type
        ``RoutinizerRegressor``.
    """
    update_registered_converter(classifier, "MlpRoutinizerClassifier",
                                _classifier_shapes, _convert_classifier,
                                options=_CLASSIFIER_OPTIONS, overwrite=True)
    update_registered_converter(regressor, "MlpRoutinizerRegressor",
                                _regressor_shapes, _convert_regressor, overwrite=True)

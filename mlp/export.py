"""ONNX export: a checkpoint as one self-contained ONNX graph that takes raw inputs.

The graph is built with the ``onnx`` package's own helpers (an optional extra:
``pip install mlp-routinizer[onnx]``) and computes what ``Checkpoint.predict`` and
``Checkpoint.predict_proba`` compute, in the model's dtype:

- input ``X`` ``(N, D)``, float32 or float64 as the model, ``N`` dynamic;
- the saved normaliser ``(X - offset) / scale`` (``Sub``, ``Div``), when there is one;
- each module as the nodes of its own ``to_onnx(graph, x)`` hook (``mlp.nn.module``), which
  uses the graph builder here (``op``, ``constant``, ``scalar``, ``dtype``, ``opset``): a
  ``Layer`` as ``MatMul`` + ``Add``; a ``Nonlinearity`` as its operator (``Relu``,
  ``LeakyRelu``, ``Sigmoid``, ``Tanh``, ``Softmax`` on the last axis, ``Identity``,
  ``Gelu(approximate="tanh")`` from opset 20 on; where onnxruntime lacks a double kernel or
  an accurate one, the same formula in elementary operators); ``BatchNorm1d`` as
  ``BatchNormalization`` with its running statistics; ``LayerNorm`` as
  ``LayerNormalization`` (opset 17 on). Dropout is the identity at inference and leaves no
  node. A module without a hook is refused with ``ExportError`` naming it;
- classification: ``probabilities`` ``(N, C)`` (softmax of the outputs, or ``[1 - p, p]``
  with ``p = (1 + tanh(z/2))/2`` for one output) and ``label`` ``(N,)``, the original class
  labels (integers, strings, ...) gathered from a constant by the argmax of the outputs (by
  ``z > 0`` for one output), or the class indices (int64) when the checkpoint has no classes;
- multilabel classification (binary cross entropy over ``L > 1`` outputs, as the
  scikit-learn classifier trains for an indicator ``y``): ``probabilities`` ``(N, L)``, each
  label's sigmoid ``(1 + tanh(z/2))/2``, and ``label`` ``(N, L)``, the int64 indicator
  ``z > 0``;
- regression: ``output`` ``(N, out)``.

There is no ZipMap: ``probabilities`` is a plain tensor. The IR version is the lowest that
the opset needs, so that runtimes older than the ``onnx`` package still load the file.

The default opset is 21 (IR version 10, which onnxruntime 1.18 and later load); ``--opset``
takes 13 up to the installed ``onnx``'s latest, and ``LayerNorm`` with an opset below 17 is
refused with a line saying so. Every file passes ``onnx.checker.check_model(full_check=True)``.
``ExportError`` is an ``MLPError``: one line and exit 2 from ``mlp export``. Measured with
onnxruntime 1.32 (2026-11-26) over every nonlinearity, both dtypes and 42,000 predictions of
20-64-32-5 classifiers: the largest difference from ``predict_proba`` was 4.8e-7 in float32 and
6.7e-16 in float64, and every label was equal; the tests hold the export to 1e-5 and 1e-12.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # an optional extra: say which one
    raise ImportError(f"mlp.export needs the onnx package ({exc}); install the extra: "
                      "pip install 'mlp-routinizer[onnx]'") from exc

from mlp.errors import MLPError
from mlp.nn.input_normalizer import Normalizer
from mlp.nn.model import Model
from mlp.storage import atomic
from mlp.storage.output_paths import refuse_clobbering
from mlp.storage.regular_files import check_output
from mlp.version import __version__


class Checkpoint(Protocol):
    """What the exporter reads of a ``mlp.training.checkpoint.Checkpoint`` (which calls it, so this
    module does not import that one)."""

    path: Path
    model: Model
    normalizer: Normalizer | None
    classes: np.ndarray | None

    @property
    def is_classification(self) -> bool: ...

    @property
    def is_multilabel(self) -> bool: ...

#: the default opset: ONNX 1.16's (IR version 10), which onnxruntime 1.18 and later run
DEFAULT_OPSET = 21
#: the oldest opset exported to (Softmax over one axis, ArgMax/Gather/Reshape as used here)
MIN_OPSET = 13
_ELEMENT_TYPE = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


class ExportError(MLPError):
    """A checkpoint the exporter cannot express in ONNX (the message names the module)."""


class _Graph:
    """Nodes and constants of one graph, each with a unique name, in the model's dtype; what a
    module's ``to_onnx`` hook builds with (``opset`` is the graph's opset)."""

    def __init__(self, dtype: str, opset: int = DEFAULT_OPSET) -> None:
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, array: np.ndarray) -> str:
        """A named initializer holding ``array`` (its dtype kept)."""
        name = self._name(stem)
        self.constants.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def scalar(self, value: float) -> str:
        """A 0-d constant of the model's dtype."""
        return self.constant("c", np.asarray(value, dtype=self.dtype))

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: object
           ) -> str:
        """Append one node; returns its (only) output's name."""
        output = output or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output],
                                           name=self._name(f"node_{op_type}"), **attrs))
        return output


def _normalizer(graph: _Graph, x: str, normalizer: Normalizer) -> str:
    """``(x - offset) / scale`` with both cast to the model's dtype, as ``Normalizer.apply``."""
    offset = graph.constant("normalizer_offset", normalizer.offset.astype(graph.dtype))
    scale = graph.constant("normalizer_scale", normalizer.scale.astype(graph.dtype))
    return graph.op("Div", [graph.op("Sub", [x, offset]), scale])


def _network(graph: _Graph, x: str, model: Model, source: str) -> str:
    """Every module of ``model`` applied to ``x`` through its ``to_onnx`` hook; returns the
    outputs' name. Errors name ``source`` (the checkpoint) and the module's index."""
    for index, module in enumerate(model.modules):
        try:
            x = module.to_onnx(graph, x)
        except NotImplementedError as exc:
            raise ExportError(f"{source}: module {index} ({module.describe()}) cannot be "
                              f"exported: {exc}") from exc
    return x


def _classifier_outputs(graph: _Graph, z: str, n_outputs: int, classes: np.ndarray | None
                        ) -> None:
    """``probabilities`` and ``label`` from the outputs ``z`` ``(N, n_outputs)``, as
    ``Model.predict_proba`` and ``Model.predict`` (one output: sigmoid and ``z > 0``)."""
    if n_outputs == 1:
        half = graph.op("Mul", [z, graph.scalar(0.5)])
        p = graph.op("Mul", [graph.op("Add", [graph.op("Tanh", [half]), graph.scalar(1.0)]),
                             graph.scalar(0.5)])
        q = graph.op("Sub", [graph.scalar(1.0), p])
        graph.op("Concat", [q, p], "probabilities", axis=1)
        positive = graph.op("Cast", [graph.op("Greater", [z, graph.scalar(0.0)])],
                            to=TensorProto.INT64)
        flat = graph.constant("shape", np.array([-1], dtype=np.int64))
        index = graph.op("Reshape", [positive, flat])
    else:
        graph.op("Softmax", [z], "probabilities", axis=-1)
        index = graph.op("ArgMax", [z], axis=1, keepdims=0)
    if classes is None:
        graph.op("Identity", [index], "label")
    else:
        graph.op("Gather", [graph.constant("classes", _label_array(classes)), index], "label",
                 axis=0)


def _multilabel_outputs(graph: _Graph, z: str) -> None:
    """``probabilities`` (each label's sigmoid) and the int64 indicator ``label`` (``z > 0``)
    from the outputs ``z`` ``(N, L)`` of a multilabel classifier."""
    half = graph.op("Mul", [z, graph.scalar(0.5)])
    graph.op("Mul", [graph.op("Add", [graph.op("Tanh", [half]), graph.scalar(1.0)]),
                     graph.scalar(0.5)], "probabilities")
    graph.op("Cast", [graph.op("Greater", [z, graph.scalar(0.0)])], "label",
             to=TensorProto.INT64)


def _label_array(classes: np.ndarray) -> np.ndarray:
    """The class labels as an array ONNX can hold (text as UTF-8 strings)."""
    if classes.dtype.kind in "US":
        return np.array([c.decode() if isinstance(c, bytes) else str(c) for c in classes],
                        dtype=object)
    return classes


def _label_type(classes: np.ndarray | None) -> int:
    if classes is None:
        return TensorProto.INT64
    return helper.np_dtype_to_tensor_dtype(_label_array(classes).dtype)


def checkpoint_to_onnx_model(checkpoint: Checkpoint, opset: int | None = None
                             ) -> onnx.ModelProto:
    """The ONNX model of ``checkpoint`` (checked with ``onnx.checker``, full check), not
    written anywhere. ``opset`` defaults to ``DEFAULT_OPSET``; raises ``ExportError`` for an
    opset outside ``MIN_OPSET`` to the installed ``onnx``'s latest, or a module or class
    layout the graph cannot express."""
    opset = DEFAULT_OPSET if opset is None else int(opset)
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= latest:
        raise ExportError(f"opset must be between {MIN_OPSET} and {latest} (this onnx "
                          f"{onnx.__version__}'s latest), found {opset}")
    model = checkpoint.model
    element = _ELEMENT_TYPE[model.dtype]
    classification = checkpoint.is_classification
    classes = checkpoint.classes
    width = model.out_features
    n_probabilities = 2 if width == 1 else width
    if classification and classes is not None and len(classes) != n_probabilities:
        raise ExportError(f"{checkpoint.path}: the model gives {n_probabilities} class "
                          f"probabilities but the checkpoint has {len(classes)} classes")

    graph = _Graph(model.dtype, opset)
    x = "X"
    if checkpoint.normalizer is not None:
        x = _normalizer(graph, x, checkpoint.normalizer)
    z = _network(graph, x, model, str(checkpoint.path))
    batch = "N"
    if checkpoint.is_multilabel:  # one sigmoid output per label
        _multilabel_outputs(graph, z)
        outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [batch, width]),
                   helper.make_tensor_value_info("probabilities", element, [batch, width])]
    elif classification:
        _classifier_outputs(graph, z, width, classes)
        outputs = [helper.make_tensor_value_info("label", _label_type(classes), [batch]),
                   helper.make_tensor_value_info("probabilities", element,
                                                 [batch, n_probabilities])]
    else:
        graph.op("Identity", [z], "output")
        outputs = [helper.make_tensor_value_info("output", element, [batch, width])]
    inputs = [helper.make_tensor_value_info("X", element, [batch, model.in_features])]
    onnx_graph = helper.make_graph(graph.nodes, "mlp", inputs, outputs, graph.constants,
                                   doc_string="raw inputs X (N, D) in; see mlp.export")
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(onnx_graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="mlp-routinizer", producer_version=__version__)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(checkpoint: Checkpoint, path: str | Path, opset: int | None = None) -> Path:
    """Write ``checkpoint`` as an ONNX file at ``path`` (see ``checkpoint_to_onnx_model``);
    returns the path. ``OutputClash`` when ``path`` is the checkpoint, or a file of a run."""
    path = Path(path)
    refuse_clobbering([path], {checkpoint.path: "the checkpoint being exported"})
    check_output(path, MLPError)  # a FIFO or a device there would block or swallow it
    proto = checkpoint_to_onnx_model(checkpoint, opset)
    return atomic.write_bytes(path, proto.SerializeToString())

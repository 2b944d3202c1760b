"""Loss functions with PyTorch's mean reduction, each a registered class.

A loss is a Pydantic model registered under its ``kind`` by the class keyword
(``class Huber(Loss, kind="huber")``); ``Loss(kind="mse")`` (or ``Loss()``, cross entropy)
builds the registered class of that kind, and ``Loss.names()`` lists the kinds.

A loss gives its per-sample term and its gradient: ``per_sample(pred, target)`` returns
``(l (N,), g (N, out))`` with ``g[i] = dl_i / dpred[i]``. The one shared mean lives here:
``forward(pred, target, weight)`` returns ``sum_i l_i / N`` (or, with per-sample weights
``w (N,)``, finite, non-negative, not all zero, the weighted mean ``sum_i w_i l_i / sum_i
w_i``) as a Python float and keeps ``dL/dpred`` for ``backward()``, which returns it with
``pred``'s shape and dtype. For ``mse``, ``mae`` and ``bce`` ``l_i`` is the mean over the
sample's outputs, so equal weights give the unweighted loss.

- ``mse``: mean over all elements of ``(pred - target)^2`` (``torch.nn.MSELoss``).
- ``mae``: mean of ``|pred - target|`` (``torch.nn.L1Loss``; the gradient at 0 is 0).
- ``cross_entropy``: ``pred`` are logits ``(N, C)``; ``target`` class indices ``(N,)`` or
  probabilities ``(N, C)``. With label smoothing ``e`` the target distribution becomes
  ``(1 - e) q + e / C`` (``torch.nn.CrossEntropyLoss``). Computed with log-sum-exp, so any
  finite logits give a finite loss; the gradient is ``(softmax(pred) * sum(q) - q) / N``.
- ``bce``: binary cross entropy on logits, ``max(z, 0) - z y + log(1 + exp(-|z|))``, mean
  over all elements (``torch.nn.BCEWithLogitsLoss``); gradient ``(sigmoid(z) - y) / numel``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from mlp.errors import DataError
from mlp.nn.fused import Kernels
from mlp.nn.scratch import Buffers, private, same_fields
from mlp.registry import Registry, Tagged

LOSSES: Registry[type[Loss]] = Registry(
    "loss kind", "mlp.losses", 'defining it as "class Name(Loss, kind=\'name\')"')

_COLUMN_MAX_LIMIT = 16  #: classes up to which a row maximum is taken column by column


class Loss(Tagged):
    """Base of every loss (see the module docstring); ``Loss(kind=...)`` builds the
    registered class of ``kind``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    tag_key: ClassVar[str] = "kind"
    registry: ClassVar[Registry[Any]] = LOSSES
    #: whether the loss scores class labels (accuracy is then recorded)
    is_classification: ClassVar[bool] = False
    #: whether each output is a label of its own (a row is correct when all of them are:
    #: subset accuracy), rather than one of the outputs being the class
    per_output_labels: ClassVar[bool] = False

    _grad: np.ndarray | None = PrivateAttr(default=None)
    _correct: int | None = PrivateAttr(default=None)
    _buffers: Buffers = PrivateAttr(default_factory=lambda: Buffers(16))

    def __new__(cls, *args: Any, **data: Any) -> Loss:
        if cls is Loss:  # Loss(kind="mse") is the registered class of that kind
            cls = LOSSES.get(data.get("kind", "cross_entropy"))
        return super().__new__(cls)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Loss:
        """The loss a spec describes: on ``Loss`` itself, an instance of the class of its ``kind``.

        Parameters
        ----------
        obj : Any
            A spec (``{"kind": "mse"}``; cross entropy without ``kind``) or an instance.
        *args
            Passed on to Pydantic's ``model_validate``.
        **kwargs
            Passed on to Pydantic's ``model_validate``.

        Returns
        -------
        Loss
            The validated loss.

        Raises
        ------
        UnknownName
            For a kind no loss is registered under (it lists the registered ones).
        pydantic.ValidationError
            For a spec with unknown or invalid fields.

        Examples
        --------
        >>> from mlp import Loss
        >>> Loss.model_validate({"kind": "mse"}).kind
        'mse'
        """
        if cls is Loss:
            return LOSSES.get(obj.get("kind", "cross_entropy") if isinstance(obj, dict)
                              else None).model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)

    @model_validator(mode="before")
    @classmethod
    def _former_fields(cls, data: Any) -> Any:
        """Files written before losses were classes give every loss ``label_smoothing``
        (0 where it has no meaning): accepted, and dropped, when the class has none."""
        if (isinstance(data, dict) and "label_smoothing" in data
                and "label_smoothing" not in cls.model_fields
                and data["label_smoothing"] in (0, 0.0)):
            data = {k: v for k, v in data.items() if k != "label_smoothing"}
        return data

    @property
    def kind(self) -> str:
        return self.tag

    @staticmethod
    def names() -> tuple[str, ...]:
        """Every registered loss kind."""
        return LOSSES.names()

    def __eq__(self, other: object) -> bool:
        """The same kind and hyperparameters (the last gradient and the work arrays are work
        memory, not part of the loss)."""
        if type(other) is not type(self):
            return NotImplemented
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------ the protocol
    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each sample's loss and its gradient with respect to ``pred``.

        Parameters
        ----------
        pred : numpy.ndarray
            The model's outputs, ``(N, out)``.
        target : numpy.ndarray
            The targets: class indices ``(N,)`` or values ``(N, out)``, as the loss takes them.

        Returns
        -------
        tuple of numpy.ndarray
            ``(l (N,), g (N, out))``; ``g`` may be a reused buffer.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define per_sample")

    def check_data(self, data: Any, out_features: int) -> None:
        """Check once per run that this loss can score ``data`` on a model of this width.

        Nothing by default.

        Parameters
        ----------
        data : preprocess.Data
            The run's data.
        out_features : int
            The model's output width.

        Raises
        ------
        DataError
            When the data's task or targets do not fit this loss.
        """

    # --------------------------------------------------------------- the mean
    def _buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return private(self)["_buffers"].get("grad", shape, dtype)

    def evaluate(self, outputs: np.ndarray, y: np.ndarray,
                 weight: np.ndarray | None = None) -> dict[str, float | int]:
        """The loss (and accuracy) of a model's ``outputs`` against targets ``y``.

        What ``mlp evaluate`` prints and the trainer records for the validation split.

        Parameters
        ----------
        outputs, y : numpy.ndarray
            The model's outputs and their targets, as ``per_sample`` takes ``pred`` and
            ``target``.
        weight : numpy.ndarray, optional
            Sample weights ``(N,)`` the loss is weighted by.

        Returns
        -------
        dict
            ``{"loss", "accuracy" (classification only), "n"}``.

        Raises
        ------
        DataError
            When ``y`` has another number of rows than ``outputs``.
        """
        y = np.asarray(y)
        if y.dtype.kind == "f":
            y = y.astype(outputs.dtype, copy=False)
        if outputs.shape[0] != y.shape[0]:
            raise DataError(f"evaluate needs as many targets as inputs: {outputs.shape[0]} "
                            f"inputs, found {y.shape[0]} targets")
        result: dict[str, float | int] = {"loss": self.forward(outputs, y, weight)}
        if self.is_classification:
            result["accuracy"] = (count_correct(outputs, y, self.per_output_labels)
                                  / max(len(y), 1))
        result["n"] = int(y.shape[0])
        return result

    def forward(self, pred: np.ndarray, target: np.ndarray,
                weight: np.ndarray | None = None, *, validate: bool = True,
                kernels: Kernels | None = None) -> float:
        """The mean loss of ``pred`` against ``target``; keeps ``dL/dpred`` for backward.

        With ``weight (N,)`` the mean is the ``weight``-weighted mean of the per-sample losses.

        Parameters
        ----------
        pred, target : numpy.ndarray
            As ``per_sample`` takes them.
        weight : numpy.ndarray, optional
            Sample weights, ``(N,)``.
        validate : bool
            Check the targets; False skips per-call checks (the trainer checks its data once per
            run).
        kernels : mlp.nn.fused.Kernels, optional
            The trainer's kernels, which may run a loss compiled.

        Returns
        -------
        float
            The mean loss.

        Raises
        ------
        DataError
            For targets that do not fit the predictions.
        """
        private(self)["_correct"] = None
        scale = None if weight is None else self._sample_scale(pred, weight)
        per_sample, grad, divided = self._terms(pred, target, scale is None, validate, kernels)
        return self._mean(grad, per_sample, scale, divided)

    def _terms(self, pred: np.ndarray, target: np.ndarray, unweighted: bool, validate: bool,
               kernels: Kernels | None) -> tuple[np.ndarray, np.ndarray, bool]:
        """``per_sample``'s terms, and whether the gradient is already divided by ``N`` (a
        compiled pass may do that on the way when ``unweighted``)."""
        per_sample, grad = self.per_sample(pred, target)
        n = pred.shape[0] if pred.ndim else 0
        if np.shape(per_sample) != (n,) or np.shape(grad) != pred.shape:
            raise DataError(f"{type(self).__name__}.per_sample must return losses of shape "
                            f"({n},) and a gradient of shape {pred.shape}, found "
                            f"{np.shape(per_sample)} and {np.shape(grad)}")
        return per_sample, grad, False

    @staticmethod
    def _sample_scale(pred: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """``w / sum(w)`` in float64 for per-sample weights ``w (N,)``, checked."""
        weight = np.asarray(weight, dtype=np.float64)
        n = pred.shape[0] if pred.ndim else 0
        if weight.shape != (n,):
            raise DataError(f"sample weights must have shape ({n},) like the batch, found "
                            f"{weight.shape}")
        total = float(weight.sum())
        if not (np.isfinite(weight).all() and (weight >= 0).all() and total > 0):
            raise DataError("sample weights must be finite and non-negative with a positive "
                            f"sum, found min {weight.min() if n else None}, sum {total}")
        return weight / total

    def _mean(self, grad: np.ndarray, per_sample: np.ndarray,
              scale: np.ndarray | None, divided: bool = False) -> float:
        """Keep ``grad`` (per sample) for backward, scaled to the mean's (``1/N``, or the
        sample weights ``scale`` summing to 1), and return the mean of ``per_sample``.
        ``divided``: the unweighted ``grad`` is already divided by ``N``."""
        private(self)["_grad"] = grad
        if scale is None:
            n = grad.shape[0]
            if not divided:
                grad /= n
            return float(per_sample.sum()) / n
        grad *= scale[:, None].astype(grad.dtype)
        return float(per_sample @ scale)

    def backward(self) -> np.ndarray:
        """``dL/dpred`` of the last ``forward`` (a buffer reused by the next call)."""
        grad = private(self)["_grad"]
        if grad is None:
            raise RuntimeError("Loss.backward needs a forward(pred, target) first")
        return grad

    def correct(self, outputs: np.ndarray, y: np.ndarray) -> int:
        """How many rows of the last ``forward``'s batch ``outputs`` are classified as ``y`` says.

        The count a compiled pass made on the way, else ``count_correct``.

        Parameters
        ----------
        outputs : numpy.ndarray
            The outputs of the last ``forward``, ``(N, out)``.
        y : numpy.ndarray
            Its targets.

        Returns
        -------
        int
            The number of rows classified right.
        """
        counted = private(self)["_correct"]
        return (count_correct(outputs, y, self.per_output_labels) if counted is None
                else counted)

    def _matching_target(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        target = np.asarray(target)
        if target.shape != pred.shape and target.ndim == 1 and pred.shape == (target.size, 1):
            target = target.reshape(-1, 1)
        if target.shape != pred.shape:
            raise DataError(
                f"{self.kind} needs targets of shape {pred.shape} like the predictions, "
                f"found {target.shape}"
            )
        return target


class _Regression(Loss):
    """A loss of regression targets (2-D floats)."""

    def check_data(self, data: Any, out_features: int) -> None:
        if data.task != "regression":
            raise DataError(f"{self.kind} needs regression data (2-D float targets), found "
                            f"{data.task}")

    def _difference(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``pred - target`` in this loss's reused buffer, the target checked against pred."""
        grad = self._buffer(pred.shape, pred.dtype)
        np.subtract(pred, self._matching_target(pred, target), out=grad)
        return grad


class MSELoss(_Regression, kind="mse"):
    """Mean squared error, ``l_i = mean_j (pred_ij - target_ij)^2``."""

    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad = self._difference(pred, target)
        losses = np.square(grad).sum(axis=1, dtype=np.float64) / pred.shape[1]
        grad *= 2.0 / pred.shape[1]
        return losses, grad


class MAELoss(_Regression, kind="mae"):
    """Mean absolute error, ``l_i = mean_j |pred_ij - target_ij|`` (gradient 0 at 0)."""

    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad = self._difference(pred, target)
        losses = np.abs(grad).sum(axis=1, dtype=np.float64) / pred.shape[1]
        np.sign(grad, out=grad)
        grad /= pred.shape[1]
        return losses, grad


class BCELoss(Loss, kind="bce"):
    """Binary cross entropy on logits, ``max(z, 0) - z y + log(1 + exp(-|z|))`` averaged over
    the sample's outputs; gradient ``(sigmoid(z) - y) / outputs``."""

    is_classification: ClassVar[bool] = True
    per_output_labels: ClassVar[bool] = True

    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        target = self._matching_target(pred, target)
        z, outputs = pred, pred.shape[1]
        terms = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
        grad = self._buffer(pred.shape, pred.dtype)
        np.multiply(z, 0.5, out=grad)
        np.tanh(grad, out=grad)
        grad += 1
        grad *= 0.5
        grad -= target
        grad /= outputs
        return terms.sum(axis=1, dtype=np.float64) / outputs, grad


class CrossEntropyLoss(Loss, kind="cross_entropy"):
    """Softmax cross entropy on logits (see the module docstring)."""

    is_classification: ClassVar[bool] = True
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0, description=(
        "Smoothing e: the target distribution becomes (1 - e) * onehot + e / C over the C "
        "classes (torch.nn.CrossEntropyLoss's label_smoothing)."))

    _work_arrays: dict = PrivateAttr(default_factory=dict)

    def check_data(self, data: Any, out_features: int) -> None:
        if data.task != "classification":
            raise DataError(f"cross_entropy needs classification data, found {data.task}")
        if data.n_classes > out_features:
            raise DataError(f"the data has {data.n_classes} classes, the model's last "
                            f"layer has {out_features} outputs")
        for split in ("train", "val"):  # checked once here, so batches skip the check
            y = getattr(data, f"y_{split}")
            if y is not None and y.size and (y.dtype.kind not in "iu" or y.ndim != 1
                                             or y.min() < 0 or y.max() >= out_features):
                raise DataError(f"y_{split} must hold class indices in [0, "
                                f"{out_features - 1}], found dtype {y.dtype}, shape {y.shape}")

    def per_sample(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        losses, grad, _ = self._terms(pred, target, False, True, None)
        return losses, grad

    def _terms(self, logits: np.ndarray, target: np.ndarray, unweighted: bool,
               validate: bool, kernels: Kernels | None
               ) -> tuple[np.ndarray, np.ndarray, bool]:
        if logits.ndim != 2:
            raise DataError(f"cross_entropy needs logits of shape (N, C), found {logits.shape}")
        n, c = logits.shape
        target = np.asarray(target)
        if target.ndim != 1:
            if target.shape != logits.shape:
                raise DataError(
                    f"cross_entropy needs targets of shape ({n},) or {logits.shape}, "
                    f"found {target.shape}"
                )
            return (*self._soft_terms(logits, target), False)
        if target.shape[0] != n:
            raise DataError(f"cross_entropy needs {n} class indices, found {target.shape[0]}")
        if target.dtype.kind not in "iu":
            raise DataError(f"class indices must be integers, found dtype {target.dtype}")
        if validate and n and (target.min() < 0 or target.max() >= c):
            raise DataError(
                f"class indices must be in [0, {c - 1}], found [{target.min()}, {target.max()}]"
            )
        # Work arrays are reused across calls (a training step allocates none of them). The
        # true class's entry of row i is element i*C + target_i of the flattened logits.
        buffers = private(self)["_buffers"]
        probs, row, row_flat, lse, shifted = self._work(logits)
        eps = self.label_smoothing
        if kernels is not None and not eps:
            counted = kernels.cross_entropy(logits, target, probs, row_flat, lse, shifted,
                                            divide=unweighted)
            if counted is not None:
                private(self)["_correct"] = counted
                return lse, probs, unweighted
        flat = buffers.get("flat", (n,), np.dtype(np.intp))
        offsets = buffers.get(("offsets", c), (n,), np.dtype(np.intp),
                              fill=lambda a: np.multiply(np.arange(n), c, out=a))
        np.add(offsets, target.astype(np.intp, copy=False), out=flat)
        _row_max(logits, row_flat)
        np.subtract(logits, row, out=probs)
        flat_probs = probs.reshape(-1)
        shifted_true = flat_probs[flat]
        shifted_sum = probs.sum(axis=1, dtype=np.float64) if eps else None
        # log-sum-exp of the shifted logits; exp is taken in place afterwards
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, out=row_flat)
        np.copyto(lse, row_flat)
        np.log(lse, out=lse)
        probs /= row
        per_sample = lse
        if eps:
            per_sample = lse - (1 - eps) * shifted_true - eps / c * shifted_sum
            flat_probs[flat] -= 1 - eps
            probs -= eps / c
        else:
            np.subtract(lse, shifted_true, out=per_sample)
            flat_probs[flat] -= 1.0
        return per_sample, probs, False

    def _work(self, logits: np.ndarray) -> tuple[np.ndarray, ...]:
        """Cross entropy's work arrays for ``logits (N, C)``, looked up once per batch shape:
        the gradient ``(N, C)``, the row sums ``(N, 1)`` in the logits' dtype and a flat view
        of them, the per-sample losses ``(N,)`` in float64 and the shifted true-class logits
        ``(N,)``."""
        state = private(self)
        key = (logits.shape, logits.dtype)
        work = state["_work_arrays"].get(key)
        if work is None:
            if len(state["_work_arrays"]) >= 4:
                state["_work_arrays"].clear()
            n, dtype = logits.shape[0], logits.dtype
            row = np.empty((n, 1), dtype)
            work = state["_work_arrays"][key] = (np.empty(logits.shape, dtype), row, row[:, 0],
                                                 np.empty(n), np.empty(n, dtype))
        return work

    def _soft_terms(self, logits: np.ndarray, target: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Cross entropy against target probabilities ``(N, C)``."""
        c = logits.shape[1]
        probs = self._buffer(logits.shape, logits.dtype)
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=probs)
        eps = self.label_smoothing
        shifted_sum = probs.sum(axis=1, dtype=np.float64)
        shifted_dot = (probs * target).sum(axis=1)
        np.exp(probs, out=probs)
        row_sums = probs.sum(axis=1, keepdims=True)
        lse = np.log(row_sums[:, 0].astype(np.float64))
        probs /= row_sums
        mass = target.sum(axis=1, dtype=np.float64)
        # -sum_c q_c log p_c with q = (1 - e) t + e/C
        per_sample = ((1 - eps) * (mass * lse - shifted_dot)
                      + eps * (lse - shifted_sum / c))
        total = ((1 - eps) * mass + eps)[:, None].astype(logits.dtype)
        probs *= total
        probs -= (1 - eps) * target
        if eps:
            probs -= eps / c
        return per_sample, probs


def _row_max(x: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = max(x[i])`` for ``x (N, C)``. NumPy reduces short rows one row at a time
    (11 µs for 200x10); with few columns, ``maximum`` across the columns takes half that.
    A maximum is exact in any order (NaN propagates either way)."""
    n_columns = x.shape[1]
    if n_columns > _COLUMN_MAX_LIMIT or n_columns < 2:
        np.max(x, axis=1, out=out)
        return
    np.maximum(x[:, 0], x[:, 1], out=out)
    for column in range(2, n_columns):
        np.maximum(out, x[:, column], out=out)


def count_correct(outputs: np.ndarray, y: np.ndarray, multilabel: bool = False) -> int:
    """How many rows are classified as their label says.

    A row's class is the argmax of its outputs (``output > 0`` for one output); labels may be
    class indices ``(N,)`` or probabilities ``(N, C)``. With ``multilabel`` (binary cross
    entropy, one output per label) a row counts when its every ``output > 0`` matches
    ``y > 0.5`` (scikit-learn's subset accuracy).

    Parameters
    ----------
    outputs : numpy.ndarray
        The model's outputs, ``(N, out)``.
    y : numpy.ndarray
        The labels.
    multilabel : bool
        One output per label.

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.nn.losses import count_correct
    >>> count_correct(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    1
    """
    if multilabel and y.ndim == 2 and outputs.shape[1] > 1:
        return int(np.count_nonzero(((outputs > 0) == (y > 0.5)).all(axis=1)))
    if y.ndim == 2 and outputs.shape[1] > 1:
        y = y.argmax(axis=1)
    if outputs.shape[1] == 1:
        return int(np.count_nonzero((outputs[:, 0] > 0) == (y.reshape(-1) > 0.5)))
    return int(np.count_nonzero(outputs.argmax(axis=1) == y))

"""The checkpoint file format: ``save_checkpoint`` writes one self-describing HDF5 file and
``load_checkpoint`` reads it back, raising ``CheckpointError`` for anything untrustworthy.

Layout (format_version 2; every dataset carries HDF5's ``fletcher32`` checksum, and the
general rules of ``mlp.storage.hdf5`` apply: atomic writes, hard links only, no other filter, stored
bytes covering declared ones)::

    /                         attrs: format, format_version, library_version, created,
                                     model_spec, routinizer (the TrainingConfig), state (the
                                     RunState's JSON), image_shape, input_scale,
                                     annotations (a JSON object of texts, optional)
    /model/<index>/<name>     every parameter and buffer, as ``Model.state_dict()`` names them
    /optimizer/<buffer>/<index>/<name>  the update rule's state buffers (``m``, ``v``, ...),
                                     per parameter (when the run has any)
    /best/<index>/<name>      the best epoch's ``state_dict()`` (when there is one)
    /history/<column>         one dataset per ``History`` column (None stored as NaN)
    /normalizer/offset|scale  attrs: method (when the data were normalised)
    /classes                  attrs: kind ("str", "bytes", "int", "float" or "bool")

Files of format 1 (release 0.1.0) held only Layers, with their arrays ``weight``,
``bias``, ``grad_*`` and the moments ``m_*``, ``v_*`` under ``/model/<index>/`` and
``/best/<index>/weight|bias``; they are read into the same objects (the moments become the
optimizer's ``m`` and ``v``; gradients are not state and are not kept).

Nothing is pickled and nothing read from a file is executed: JSON goes through Pydantic,
arrays through NumPy, and every value is validated as it would be on construction.

What the root attributes hold (fixed-length UTF-8 text unless said): ``format`` is
``"mlp-checkpoint"`` and ``format_version`` the integer 2; ``created`` is ISO 8601 UTC;
``model_spec`` is ``Model.model_dump_json()`` (no arrays; each module names its registered
type); ``routinizer`` every training hyperparameter; ``state`` the epoch, step, best loss and its
epoch, the monitored metric, the generator state (PCG64), the schedule state and the data
fingerprint (shape, dtype, SHA-256 of the training arrays and sample weights);
``image_shape`` integers (image data only); ``input_scale`` a float64, what image files, read in
[0, 1], are multiplied by to match the training inputs (1 for image folders, 16 for digits).
The arrays are in the model's dtype: a Layer's ``weight (in, out)`` and ``bias (out,)``, a
BatchNorm1d's ``weight``, ``bias``, ``running_mean``, ``running_var``. The optimizer's buffers
are ``m`` (momentum, Adam), ``v`` (RMSprop, Adam), ``v_max`` (AMSGrad) or a rule's own.
``/history`` holds ``epoch`` (int64), ``train_loss``, ``val_loss``, ``train_accuracy``,
``val_accuracy``, ``lr``, ``seconds`` (float64, NaN where there is none); with diagnostics on,
``/history/diagnostics/<column>`` holds ``layer<k>.<stat>``, ``steps``, ``predicted_share`` and
``collapsed_class`` (float64, one per epoch), and ``/history``'s attribute
``diagnostic_warnings`` (JSON: condition to line) the warnings already given. Inputs are
normalised as ``(x - offset) / scale``; class index k is ``classes[k]``. Files are readable with
stock HDF5 tools (``h5ls -r``, ``h5dump -H``) or h5py.

To use a checkpoint without this library: read ``model_spec`` for the module order and types,
then for each Layer compute ``x @ weight + bias``, for each BatchNorm1d ``(x - running_mean) /
sqrt(running_var + eps) * weight + bias``, and apply the nonlinearities in between (after
normalising raw inputs with ``/normalizer``).

Saving: the file is opened again in memory before it is written, so a save that does not read
back is a ``CheckpointError`` (exit 2 from the command line), never a success. Earlier versions
of this library, under h5py 3.11 to 3.15, wrote files no h5py can open: train those runs again.
Checkpoints record the training data by content (the SHA-256 of the training rows' stored bytes
and the normaliser, the dataset names and row ranges of a file read in place), never its path, so
a moved file with the same content resumes; the hash is one more pass over a file on disk when a
run with a run folder starts (SHA-256 ran at 0.9 GB/s on the README's machine: 4 s for 4 GB).

Loading raises ``CheckpointError``, naming the file and the problem, for anything it cannot
trust: not HDF5, empty or truncated, a checksum mismatch, a wrong format or a newer
``format_version``, missing datasets, shapes that disagree with the spec, a module type that is
not registered, arrays missing, unexpected or mis-shaped for the spec, invalid JSON or spec,
attributes of the wrong type; links other than hard links (external, soft, loops), virtual
datasets, filters other than fletcher32 (gzip included), JSON nested too deeply; datasets that
declare more bytes than they store (shapes of 10^12, chunks never written) or a file whose
datasets store more than the disk blocks it occupies (a sparse file); a history longer or
shorter than the saved epoch; and state that does not validate (a generator state NumPy
refuses, a negative epoch, NaN or infinite weights, a negative ``image_shape``, a non-finite
hyperparameter). Loading needs at most about twice the file's stored size plus a constant.
Checkpoints are read without HDF5's file locking, so a file another program holds open, even for
writing, still loads. Resuming with different training data raises ``CheckpointError`` unless
``allow_data_change=True`` (``--allow-data-change``).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import ValidationError

from mlp import display
from mlp.arrays import all_finite
from mlp.errors import CheckpointError, MLPError
from mlp.history import HISTORY_COLUMNS, History
from mlp.nn.input_normalizer import Normalizer
from mlp.nn.model import Model
from mlp.storage import hdf5
from mlp.storage.run_folder import RunFolder
from mlp.training.hyperparameters import TrainingConfig
from mlp.training.run_state import RunState
from mlp.version import __version__

if TYPE_CHECKING:  # h5py loads when a checkpoint is first written or read (mlp.storage.hdf5)
    import h5py

FORMAT = "mlp-checkpoint"
FORMAT_VERSION = 2
#: the arrays a format-1 file holds per Layer, and where each goes now
_FORMAT1_ARRAYS = {"weight": ("model", "weight"), "bias": ("model", "bias"),
                   "m_weight": ("m", "weight"), "m_bias": ("m", "bias"),
                   "v_weight": ("v", "weight"), "v_bias": ("v", "bias"),
                   "grad_weight": (None, "weight"), "grad_bias": (None, "bias")}


class DataFacts(Protocol):
    """What a checkpoint keeps of the training data so raw inputs can be predicted.

    A ``preprocess.Data`` has these; each may be None.

    Attributes
    ----------
    normalizer : Normalizer or None
        The input normalisation fitted on the training split.
    classes : ndarray or None
        The original class labels, in the order of the model's outputs.
    image_shape : tuple of int or None
        ``(height, width)`` of image inputs.
    """

    normalizer: Normalizer | None
    classes: np.ndarray | None
    image_shape: tuple[int, int] | None


# ------------------------------------------------------------------------------ saving
def save_checkpoint(path: str | Path, model: Model, config: TrainingConfig,
                    data: DataFacts | None = None, state: RunState | None = None,
                    annotations: dict[str, str] | None = None, *,
                    arrays: dict[str, np.ndarray] | None = None,
                    optimizer_state: dict[str, dict[str, np.ndarray]] | None = None,
                    copies: Sequence[str | Path] = ()) -> Path:
    """Write a model, its training config and run state to one checkpoint file.

    The file is built in memory and put in place atomically (``mlp.storage.hdf5``), so
    ``path`` (and each copy) always holds either the previous or the new checkpoint.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file to write (its folder is created).
    model : Model
        The network: its spec and, unless ``arrays`` are given, its ``state_dict()``.
    config : TrainingConfig
        The training hyperparameters (a ``BasicRoutinizer`` also gives its state and
        optimizer state).
    data : DataFacts, optional
        What prediction needs of the data: normaliser, classes, image shape.
    state : RunState, optional
        Counters, generator, history, best weights; by default ``config.state`` of a
        ``BasicRoutinizer``.
    annotations : dict of str to str, optional
        Texts other tools keep with the checkpoint (the scikit-learn estimators keep their
        parameters there), read back as ``Checkpoint.annotations``.
    arrays : dict of str to ndarray, optional
        The model's arrays to store; by default ``model.state_dict()``.
    optimizer_state : dict, optional
        The update rule's state buffers; by default ``config.optimizer_state`` of a
        ``BasicRoutinizer``.
    copies : sequence of str or Path, default ()
        Other paths that get the same file, built once (a run folder's ``last.h5`` when
        the last epoch is the best one).

    Returns
    -------
    Path
        ``path``; each of ``copies`` holds the same bytes.

    Raises
    ------
    CheckpointError
        Any failure, a full disk included, naming the file and the reason.
    """
    path = Path(path)
    if state is None:
        state = getattr(config, "state", None) or RunState()
    if arrays is None:
        arrays = model.state_dict()
    if optimizer_state is None:
        optimizer_state = getattr(config, "optimizer_state", None) or {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        hdf5.write_atomically(path, lambda file: _write(file, model, config, state, data,
                                                        annotations, arrays, optimizer_state),
                              copies)
    except OSError as exc:
        failed = exc.filename if exc.filename and copies else path
        raise CheckpointError(f"{failed}: cannot write the checkpoint: "
                              f"{exc.strerror or exc}") from exc
    except MLPError:
        raise
    except Exception as exc:  # HDF5 and NumPy failures while building the file
        raise CheckpointError(f"{path}: cannot write the checkpoint ({hdf5.reason(exc)})") \
            from exc
    return path


def check_saveable(model: Model, config: TrainingConfig, data: DataFacts | None = None,
                   state: RunState | None = None) -> None:
    """Check that a run's checkpoint can be stored, before its first epoch.

    Builds in memory, and never writes, the checkpoint without its arrays: the model spec,
    the training ``config`` (its run folder's name included), the run ``state`` and what
    ``data`` keeps (normaliser, classes, image shape), so a run finds a problem before its
    first epoch instead of at its first save. Arrays of numbers (weights, history) always
    store and are left out.

    Parameters
    ----------
    model : Model
        The network whose spec is stored.
    config : TrainingConfig
        The training hyperparameters.
    data : DataFacts, optional
        What the checkpoint keeps of the data.
    state : RunState, optional
        The run state; by default ``config.state`` of a ``BasicRoutinizer``.

    Raises
    ------
    CheckpointError
        Saying what cannot be stored (complex or void class labels, strings that are not
        UTF-8, a folder name that is not).
    """
    state = state or getattr(config, "state", None) or RunState()
    parts = (("the model spec",
              lambda f: hdf5.set_text(f, "model_spec", model.model_dump_json())),
             ("the training config (train.checkpoint_dir included)",
              lambda f: hdf5.set_text(f, "routinizer", config.model_dump_json())),
             ("the run state", lambda f: hdf5.set_text(f, "state", state.model_dump_json())),
             ("the data's class labels, normaliser or image shape",
              lambda f: None if data is None else _write_data_facts(f, data)))

    def fill_all(file: h5py.File) -> None:
        for _, fill in parts:
            fill(file)

    try:
        hdf5.build_image(fill_all)
    except Exception as exc:  # HDF5, NumPy and Pydantic failures while building the file
        what = next((name for name, fill in parts if not _builds(fill)), "the checkpoint")
        reason = str(exc) if isinstance(exc, MLPError) else hdf5.reason(exc)
        raise CheckpointError(f"the run cannot be saved, so no epoch is trained: {what} "
                              f"cannot be stored ({reason})") from exc


def _builds(fill: Callable[[h5py.File], None]) -> bool:
    """Whether an HDF5 file made by ``fill`` can be built in memory."""
    try:
        hdf5.build_image(fill)
    except Exception:
        return False
    return True


def _write(file: h5py.File, model: Model, config: TrainingConfig, state: RunState,
           data: DataFacts | None, annotations: dict[str, str] | None,
           arrays: dict[str, np.ndarray],
           optimizer_state: dict[str, dict[str, np.ndarray]]) -> None:
    hdf5.set_text(file, "format", FORMAT)
    file.attrs["format_version"] = FORMAT_VERSION
    hdf5.set_text(file, "library_version", __version__)
    hdf5.set_text(file, "created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    hdf5.set_text(file, "model_spec", model.model_dump_json())
    hdf5.set_text(file, "routinizer", config.model_dump_json())
    hdf5.set_text(file, "state", state.model_dump_json())
    for key, array in arrays.items():
        hdf5.create(file, f"model/{key}", array)
    for buffer, views in optimizer_state.items():
        for key, array in views.items():
            hdf5.create(file, f"optimizer/{buffer}/{key}", array)
    for key, array in (state.best or {}).items():
        hdf5.create(file, f"best/{key}", array)
    for column in HISTORY_COLUMNS:
        values = getattr(state.history, column)
        if column in _INT_COLUMNS:
            array = np.array(values, dtype=np.int64)
        else:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        hdf5.create(file, f"history/{column}", array)
    _write_diagnostics(file, state.history)
    if data is not None:
        _write_data_facts(file, data)
    if annotations:
        hdf5.set_text(file, "annotations", json.dumps(annotations))


def _write_diagnostics(file: h5py.File, history: History) -> None:
    """``/history/diagnostics/<column>`` (float64) for the columns of ``mlp.training.diagnostics``,
    and the warnings given so far as the JSON attribute ``diagnostic_warnings`` of
    ``/history``."""
    for name, values in history.diagnostics.items():
        hdf5.create(file, f"history/diagnostics/{name}", np.array(values, dtype=np.float64))
    if history.diagnostic_warnings:
        hdf5.set_text(file["history"], "diagnostic_warnings",
                      json.dumps(history.diagnostic_warnings))


def _write_data_facts(file: h5py.File, data: DataFacts) -> None:
    normalizer = getattr(data, "normalizer", None)
    if normalizer is not None:
        group = file.create_group("normalizer")
        hdf5.set_text(group, "method", normalizer.method)
        for name, array in normalizer.to_arrays().items():
            hdf5.create(group, name, array)
    classes = getattr(data, "classes", None)
    if classes is not None:
        kind, array = hdf5.encode_classes(np.asarray(classes))
        hdf5.set_text(hdf5.create(file, "classes", array), "kind", kind)
    image_shape = getattr(data, "image_shape", None)
    if image_shape is not None:
        file.attrs["image_shape"] = np.array(image_shape, dtype=np.int64)
    input_scale = getattr(data, "input_scale", None)
    if input_scale is not None:
        file.attrs["input_scale"] = np.float64(input_scale)


def _nullable(column: str) -> bool:
    """Whether a History column holds ``X | None`` entries (stored with NaN for None)."""
    (item,) = typing.get_args(History.model_fields[column].annotation)
    return type(None) in typing.get_args(item)


_INT_COLUMNS = frozenset(c for c in HISTORY_COLUMNS
                         if typing.get_args(History.model_fields[c].annotation) == (int,))


# ----------------------------------------------------------------------------- loading
@dataclass(repr=False)
class Checkpoint:
    """Everything a checkpoint holds, validated; ``predict`` takes raw inputs.

    Made by ``load_checkpoint``. ``config`` holds the training hyperparameters
    (``routinizer`` is its older name) and ``state`` the one training state: counters,
    generator state, ``history`` and the best weights.

    Parameters
    ----------
    path : Path
        The file read.
    model : Model
        The network with the saved weights.
    config : TrainingConfig
        The training hyperparameters.
    state : RunState
        Counters, generator state, history, best weights.
    optimizer_state : dict of str to dict of str to ndarray
        The update rule's state buffers (``m``, ``v``, ...) per parameter.
    normalizer : Normalizer or None
        The input normalisation fitted on the training split.
    classes : ndarray or None
        The original class labels, in the order of the outputs.
    image_shape : tuple of int or None
        ``(height, width)`` of image inputs.
    created : str
        When the file was written (ISO 8601, UTC).
    format_version : int
        The file format's version (1 or 2).
    library_version : str
        The version of mlp that wrote the file.
    input_scale : float or None, default None
        The factor that turns image files, read in [0, 1], into the scale the model was
        trained on (None when it was not trained on image files).
    annotations : dict of str to str, default {}
        Texts other tools keep with the checkpoint (``save_checkpoint``).

    Examples
    --------
    >>> checkpoint = load_checkpoint("ckpt/digits")  # doctest: +SKIP
    >>> checkpoint.predict(X_raw[:3])  # doctest: +SKIP
    array([0, 1, 2])
    """

    path: Path
    model: Model
    config: TrainingConfig
    state: RunState
    optimizer_state: dict[str, dict[str, np.ndarray]]
    normalizer: Normalizer | None
    classes: np.ndarray | None
    image_shape: tuple[int, int] | None
    created: str
    format_version: int
    library_version: str
    input_scale: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def routinizer(self) -> TrainingConfig:
        """The training hyperparameters (the name of releases up to 0.1.0)."""
        return self.config

    @property
    def history(self) -> History:
        """The run's History up to the saved epoch."""
        return self.state.history

    @property
    def best_arrays(self) -> list[np.ndarray] | None:
        """The best epoch's arrays in ``state_dict()`` order (``[w0, b0, w1, b1, ...]`` for
        an MLP; None when absent)."""
        if self.state.best is None:
            return None
        return list(self.state.best.values())

    @property
    def is_classification(self) -> bool:
        """Whether the model's loss scores class labels."""
        return self.config.loss.is_classification

    @property
    def is_multilabel(self) -> bool:
        """Binary cross entropy over several outputs: one sigmoid per label (the
        scikit-learn classifier's multilabel fit)."""
        return self.config.loss.per_output_labels and self.model.out_features > 1

    def inputs(self, X_raw: Any) -> np.ndarray:  # noqa: N803 (X is the convention)
        """Raw inputs as the model's normalised inputs.

        Parameters
        ----------
        X_raw : array_like
            Samples ``(N, D)``, or one sample ``(D,)``, on the scale of the raw data.

        Returns
        -------
        ndarray
            ``(N, D)`` in the model's dtype, the checkpoint's normaliser applied.
        """
        X = np.asarray(X_raw)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        return self.model.check_input(X if self.normalizer is None else self.normalizer.apply(X))

    def predict(self, X_raw: Any) -> np.ndarray:  # noqa: N803
        """Predictions for raw inputs.

        Parameters
        ----------
        X_raw : array_like
            The samples to predict, as for ``inputs``.

        Returns
        -------
        ndarray
            Original labels ``(N,)`` for classification (class indices when the checkpoint
            has no classes; the 0/1 indicator ``(N, labels)`` for a multilabel model), the
            model's outputs ``(N, out)`` for regression.
        """
        X = self.inputs(X_raw)
        if not self.is_classification:
            return self.model.predict_logits(X)
        if self.is_multilabel:  # the int64 indicator (N, labels) of positive outputs
            return (self.model.predict_logits(X) > 0).astype(np.int64)
        indices = self.model.predict(X)
        return indices if self.classes is None else self.classes[indices]

    def predict_proba(self, X_raw: Any) -> np.ndarray:  # noqa: N803
        """Class probabilities for raw inputs.

        Parameters
        ----------
        X_raw : array_like
            The samples to classify, as for ``inputs``.

        Returns
        -------
        ndarray
            ``(N, C)``, columns in the order of ``classes`` (each label's sigmoid
            ``(N, labels)`` for a multilabel model).

        Raises
        ------
        MLPError
            The model is a regression model.
        """
        if not self.is_classification:
            raise MLPError(f"{self.path}: a regression model has no class probabilities")
        if self.is_multilabel:  # each label's sigmoid (N, labels)
            return 0.5 * (1.0 + np.tanh(0.5 * self.model.predict_logits(self.inputs(X_raw))))
        return self.model.predict_proba(self.inputs(X_raw))

    def to_onnx(self, path: str | Path, opset: int | None = None) -> Path:
        """Write this checkpoint as an ONNX graph taking raw inputs (see ``mlp.export``).

        Needs the ``onnx`` extra. The graph holds the normaliser; its outputs are ``label``
        and ``probabilities`` (classification) or ``output`` (regression).

        Parameters
        ----------
        path : str or Path
            The ``.onnx`` file to write.
        opset : int, optional
            The ONNX opset to target (``mlp.export``'s default when None).

        Returns
        -------
        Path
            The file written.
        """
        from mlp.export import to_onnx  # onnx is an optional extra: imported only when used

        return to_onnx(self, path, opset)

    # ---------------------------------------------------------------- reading
    def _facts(self) -> list[tuple[str, str]]:
        """What a display shows: names and one-line texts, no array's contents."""
        state, config = self.state, self.config
        best = "none yet" if state.best_epoch is None else (
            f"epoch {state.best_epoch}: {state.monitor} {display.number(state.best_loss)}")
        if self.is_classification:
            task = "multilabel" if self.is_multilabel else "classification"
            n_classes = self.model.out_features if self.classes is None else len(self.classes)
            task += f", {display.plural(n_classes, 'class')}"
        else:
            task = f"regression, {display.plural(self.model.out_features, 'output')}"
        inputs = "raw" if self.normalizer is None else f"normalised ({self.normalizer.method})"
        if self.image_shape is not None:
            inputs += f", images {self.image_shape[0]}x{self.image_shape[1]}"
        return [("model", self.model.describe()),
                ("epoch", f"{state.epoch} of {config.epochs} (step {state.step})"
                          + (", stopped early" if state.stopped_early else "")),
                ("best", best),
                ("training", repr(config)),
                ("optimizer state", ", ".join(self.optimizer_state) or "none"),
                ("task", task), ("inputs", inputs),
                ("file", f"format {self.format_version}, mlp {self.library_version}, "
                         f"created {self.created}")]

    def __repr__(self) -> str:
        """The path, the model line, the epoch and the best epoch, on a few lines."""
        facts = dict(self._facts())
        return (f"Checkpoint({str(self.path)!r})\n  {facts['model']}\n"
                + display.wrapped(f"epoch {facts['epoch']}; best {facts['best']}; "
                                  f"{facts['task']}; inputs {facts['inputs']}", lines=2))

    def _repr_html_(self) -> str:
        """What ``__repr__`` says and more (training, optimizer state, file) as an HTML
        table, for notebooks."""
        return display.html_fields(self._facts(), caption=f"Checkpoint {self.path}")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file, verified and validated.

    Every array is read eagerly so checksums are verified here, and every value is validated
    (finite weights, a generator state NumPy accepts, a history as long as the saved epoch).

    Parameters
    ----------
    path : str or Path
        A ``.h5`` checkpoint, or a run folder whose ``last.h5`` is read.

    Returns
    -------
    Checkpoint
        The model, config, state, normaliser and classes the file holds.

    Raises
    ------
    CheckpointError
        Any problem (not HDF5, truncated, wrong format or version, checksum mismatch,
        shapes that disagree with the spec), naming the file and the problem.

    Examples
    --------
    >>> from mlp import load_checkpoint
    >>> checkpoint = load_checkpoint("ckpt/digits/best.h5")  # doctest: +SKIP
    >>> checkpoint.state.best_epoch, checkpoint.history.val_loss[-1]  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        path = RunFolder(path).last
    with hdf5.SafeReader(path, CheckpointError) as reader:
        try:
            return _read(reader)
        except CheckpointError:
            raise
        except ValidationError as exc:
            raise reader.fail(f"corrupt or inconsistent checkpoint "
                              f"({_validation_summary(exc)})") from exc
        except Exception as exc:  # the contract: nothing but CheckpointError escapes
            raise reader.fail(f"corrupt or inconsistent checkpoint ({hdf5.reason(exc)})") \
                from exc


def _validation_summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "value"
    return f"{where}: {first['msg']} ({exc.error_count()} error(s) in all)"


def _read(reader: hdf5.SafeReader) -> Checkpoint:
    if reader.attribute("format") is None:
        raise reader.fail("not an mlp checkpoint (no 'format' attribute)")
    found = reader.text("format")
    if found != FORMAT:
        raise reader.fail(f"format is {found!r}, expected {FORMAT!r}")
    version = reader.attribute("format_version")
    if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)):
        raise reader.fail(f"format_version should be an integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise reader.fail(f"format_version {int(version)} is newer than this library reads "
                          f"(format_version {FORMAT_VERSION}); upgrade mlp-routinizer")
    if version < 1:
        raise reader.fail(f"format_version {int(version)} is not a valid version")
    read = _read_format1 if version == 1 else _read_arrays
    model, optimizer_state, best = read(reader, reader.text("model_spec"))
    model.bind_optimizer_state(optimizer_state)  # Layer.m_weight etc. show the saved moments
    config = TrainingConfig.model_validate_json(reader.text("routinizer"))
    state = RunState.model_validate_json(reader.text("state"))
    state.history = _read_history(reader)
    if len(state.history) != state.epoch:
        raise reader.fail(f"the history holds {len(state.history)} epochs, the state says "
                          f"{state.epoch} were done")
    state.best = best
    classes = reader.classes() if reader.has("classes") else None
    if classes is not None and len(classes) > max(model.out_features, 2):
        raise reader.fail(f"dataset 'classes' holds {len(classes)} labels, more than the "
                          f"model's {model.out_features} outputs can score")
    return Checkpoint(
        path=reader.path, model=model, config=config, state=state,
        optimizer_state=optimizer_state,
        normalizer=_read_normalizer(reader, model) if reader.has("normalizer") else None,
        classes=classes, image_shape=reader.image_shape(), created=reader.text("created"),
        format_version=int(version), library_version=reader.text("library_version"),
        input_scale=_read_input_scale(reader), annotations=_read_annotations(reader),
    )


Arrays = dict[str, np.ndarray]


def _spec(reader: hdf5.SafeReader, spec_json: str) -> tuple[dict[str, Any], Model]:
    """The model spec as JSON and as a validated ``Model`` without arrays."""
    spec = json.loads(spec_json)
    if not isinstance(spec, dict) or not isinstance(spec.get("modules"), list):
        raise reader.fail("model_spec is not a JSON object with a 'modules' list")
    return spec, Model.model_validate(spec, context={"spec_only": True})


def _array(reader: hdf5.SafeReader, name: str, shape: tuple[int, ...], dtype: str
           ) -> np.ndarray:
    array = reader.dataset(name, shape)
    if array.dtype != dtype:
        raise reader.fail(f"dataset {name!r} has dtype {array.dtype}, the spec says {dtype}")
    if not all_finite(array):
        raise reader.fail(f"dataset {name!r} holds NaN or infinite values")
    return array


def _group(reader: hdf5.SafeReader, group: str, shapes: dict[str, tuple[int, ...]],
           dtype: str, what: str) -> Arrays:
    """The datasets ``<group>/<index>/<name>`` of exactly the entries of ``shapes``
    (``state_dict()`` keys), each of its shape, dtype and finite."""
    expected: dict[str, set[str]] = {}
    for key in shapes:
        index, name = key.split("/")
        expected.setdefault(index, set()).add(name)
    found = reader.keys(group) or []
    if set(found) != set(expected):
        raise reader.fail(f"{what} ({group!r}) holds modules {sorted(found) or 'none'}, the "
                          f"spec has arrays at modules {sorted(expected, key=int) or 'none'}")
    for index, names in expected.items():
        held = set(reader.keys(f"{group}/{index}") or [])
        for name in sorted(names - held):
            raise reader.fail(f"dataset '{group}/{index}/{name}' is missing ({what} of module "
                              f"{index} needs {sorted(names)})")
        for name in sorted(held - names):
            raise reader.fail(f"dataset '{group}/{index}/{name}' is unexpected ({what} of "
                              f"module {index} holds only {sorted(names)})")
    return {key: _array(reader, f"{group}/{key}", shape, dtype)
            for key, shape in shapes.items()}


def _with_arrays(spec: dict[str, Any], arrays: Arrays) -> Model:
    """The model of ``spec`` holding ``arrays`` (nothing re-drawn)."""
    modules = [dict(module) for module in spec["modules"]]
    for key, array in arrays.items():
        index, name = key.split("/")
        modules[int(index)][name] = array
    return Model.model_validate({**spec, "modules": modules})


def _read_arrays(reader: hdf5.SafeReader, spec_json: str
                 ) -> tuple[Model, dict[str, Arrays], Arrays | None]:
    """Format 2: the model with its ``state_dict()``, the optimizer's buffers, the best."""
    spec, bare = _spec(reader, spec_json)
    shapes, dtype = bare.state_shapes(), bare.dtype
    model = _with_arrays(spec, _group(reader, "model", shapes, dtype, "the model group"))
    parameters = {key: value.shape for key, value, _ in model.named_parameters()}
    optimizer_state = {
        name: _group(reader, f"optimizer/{name}", parameters, dtype,
                     f"optimizer buffer {name!r}")
        for name in reader.keys("optimizer") or []}
    best = (_group(reader, "best", shapes, dtype, "the best weights")
            if reader.has("best") else None)
    return model, optimizer_state, best


def _read_format1(reader: hdf5.SafeReader, spec_json: str
                  ) -> tuple[Model, dict[str, Arrays], Arrays | None]:
    """Format 1: Layers' ``weight``, ``bias``, ``grad_*``, ``m_*``, ``v_*`` per module."""
    spec, bare = _spec(reader, spec_json)
    shapes, dtype = bare.state_shapes(), bare.dtype
    indices = sorted({key.split("/")[0] for key in shapes}, key=int)
    found = reader.keys("model")
    if found is None or set(found) != set(indices):
        raise reader.fail(f"the model group holds modules {found or 'none'}, the spec has "
                          f"layers at {indices}")
    arrays: Arrays = {}
    moments: dict[str, Arrays] = {"m": {}, "v": {}}
    for index in indices:
        for stored, (where, name) in _FORMAT1_ARRAYS.items():
            key = f"{index}/{name}"
            array = _array(reader, f"model/{index}/{stored}", shapes[key], dtype)
            if where == "model":
                arrays[key] = array
            elif where is not None:
                moments[where][key] = array
    best = None
    if reader.has("best"):
        best = {key: _array(reader, f"best/{key}", shape, dtype)
                for key, shape in shapes.items()}
    return _with_arrays(spec, arrays), moments, best


def _read_history(reader: hdf5.SafeReader) -> History:
    columns: dict[str, list[Any]] = {}
    for column in HISTORY_COLUMNS:
        kinds = "i" if column in _INT_COLUMNS else "f"
        values = reader.dataset(f"history/{column}", kinds=kinds, ndim=1)
        if _nullable(column):
            columns[column] = [None if np.isnan(v) else v for v in values.tolist()]
        else:
            columns[column] = values.tolist()
    if len({len(v) for v in columns.values()}) > 1:
        raise reader.fail("the history columns have different lengths "
                          f"{ {k: len(v) for k, v in columns.items()} }")
    columns.update(_read_diagnostics(reader, len(columns["epoch"])))
    return History.model_validate(columns)


def _read_diagnostics(reader: hdf5.SafeReader, epochs: int) -> dict[str, Any]:
    """The History fields ``diagnostics`` and ``diagnostic_warnings`` (empty when the run
    recorded none)."""
    found: dict[str, Any] = {"diagnostics": {}, "diagnostic_warnings": {}}
    names = reader.keys("history/diagnostics")
    if reader.has("history/diagnostics") and names is None:
        raise reader.fail("'history/diagnostics' is not a group")
    for name in names or []:
        values = reader.dataset(f"history/diagnostics/{name}", (epochs,))
        found["diagnostics"][name] = values.tolist()
    history = reader.node("history")
    if reader.attribute("diagnostic_warnings", history) is not None:
        text = reader.text("diagnostic_warnings", history)
        try:
            warnings = json.loads(text)
        except json.JSONDecodeError as exc:
            raise reader.fail(f"attribute 'history/diagnostic_warnings' is not JSON ({exc})"
                              ) from exc
        if not isinstance(warnings, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in warnings.items()):
            raise reader.fail("attribute 'history/diagnostic_warnings' should be a JSON "
                              "object of strings")
        found["diagnostic_warnings"] = warnings
    return found


def _read_normalizer(reader: hdf5.SafeReader, model: Model) -> Normalizer:
    """The normaliser of the model's inputs: ``offset`` and ``scale`` ``(in_features,)``."""
    shape = (model.in_features,)
    return Normalizer.from_arrays(reader.text("method", reader.node("normalizer")),
                                  reader.dataset("normalizer/offset", shape),
                                  reader.dataset("normalizer/scale", shape))


def _read_annotations(reader: hdf5.SafeReader) -> dict[str, str]:
    if reader.attribute("annotations") is None:
        return {}
    value = json.loads(reader.text("annotations"))
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise reader.fail("attribute 'annotations' should be a JSON object of texts")
    return value


def _read_input_scale(reader: hdf5.SafeReader) -> float | None:
    value = reader.attribute("input_scale")
    if value is None:
        return None
    if np.ndim(value) != 0 or not np.isfinite(value) or float(value) <= 0:
        raise reader.fail(f"attribute 'input_scale' should be a positive number, found {value!r}")
    return float(value)

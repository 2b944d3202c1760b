"""HDF5 checkpoints: ``save_checkpoint`` writes one self-describing file atomically and
``load_checkpoint`` reads it back, raising ``CheckpointError`` for anything untrustworthy.

Layout (every dataset carries HDF5's ``fletcher32`` checksum; the file is written in HDF5
1.10's format, whose metadata carries checksums too)::

    /                         attrs: format, format_version, library_version, created,
                                     model_spec, routinizer, state (JSON), image_shape
    /model/<index>/<array>    every array of every Layer (``PARAMETER_ARRAYS``)
    /best/<index>/weight|bias the best weights so far (when there are any)
    /history/<column>         one dataset per ``History`` column (None stored as NaN)
    /normalizer/offset|scale  attrs: method (when the data were normalised)
    /classes                  attrs: kind ("str", "bytes", "int", "float" or "bool")

Nothing is pickled and nothing read from a file is executed: JSON goes through Pydantic,
arrays through NumPy. A loaded file must be self-contained: only hard links (an external
link could name any file, and opening a FIFO blocks forever) and no filter but fletcher32
(an unknown filter makes HDF5 look for a plugin library).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import typing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from mlp.errors import CheckpointError, MLPError
from mlp.history import HISTORY_COLUMNS, History
from mlp.layers import PARAMETER_ARRAYS, Layer
from mlp.model import Model
from preprocess.loaders import decode_classes, encode_classes

if TYPE_CHECKING:
    from mlp.routinizer import BasicRoutinizer, TrainingState
    from preprocess import Data, Normalizer

FORMAT = "mlp-checkpoint"
FORMAT_VERSION = 1
#: temporary files of interrupted saves: ``.<target name>.<8 random hex digits>.tmp``
_TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")
_CHECKSUM = {"fletcher32": True}
#: HDF5 1.10 object formats: checksummed metadata (version-2 object headers), compact chunk
#: indices, and still readable by HDF5 1.10+ tools (h5ls, h5dump, HDFView)
_LIBVER = ("v110", "v110")


# ------------------------------------------------------------------------------ saving
def save_checkpoint(path: str | Path, model: Model, routinizer: BasicRoutinizer,
                    data: Data | None = None) -> Path:
    """Write ``model``, ``routinizer`` (hyperparameters, state, history, best weights) and
    what ``data`` needs for prediction (normaliser, classes, image shape) to ``path``.

    The file is written to a temporary file in the same folder, fsynced and renamed over
    ``path``, so ``path`` always holds either the previous or the new checkpoint. Temporary
    files of earlier interrupted saves in that folder are removed first.
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(folder)
        temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # honours umask
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc})") from exc
    try:
        with h5py.File(temp, "w", libver=_LIBVER) as file:
            _write(file, model, routinizer, data)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CheckpointError(f"{path}: cannot write the checkpoint ({exc})") from exc
        raise
    try:
        _fsync_folder(folder)
    except OSError as exc:
        raise CheckpointError(f"{path}: written, but its folder cannot be synced ({exc})") from exc
    return path


def _remove_stale_temps(folder: Path) -> None:
    for entry in folder.iterdir():
        if _TEMP_PATTERN.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX only: Windows cannot open folders)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(file: h5py.File, model: Model, routinizer: BasicRoutinizer,
           data: Data | None) -> None:
    from mlp import __version__

    _set_text(file, "format", FORMAT)
    file.attrs["format_version"] = FORMAT_VERSION
    _set_text(file, "library_version", __version__)
    _set_text(file, "created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _set_text(file, "model_spec", model.model_dump_json())
    _set_text(file, "routinizer", routinizer.model_dump_json())
    _set_text(file, "state", routinizer.state.model_dump_json())
    for name, array in model.named_arrays():
        file.create_dataset(f"model/{name}", data=array, **_CHECKSUM)
    best = routinizer.best_arrays
    if best is not None:
        indices = [i for i, m in enumerate(model.modules) if isinstance(m, Layer)]
        if len(best) != 2 * len(indices):
            raise ValueError(f"best_arrays holds {len(best)} arrays, the model has "
                             f"{len(indices)} layers (expected weight and bias of each)")
        for k, index in enumerate(indices):
            file.create_dataset(f"best/{index}/weight", data=best[2 * k], **_CHECKSUM)
            file.create_dataset(f"best/{index}/bias", data=best[2 * k + 1], **_CHECKSUM)
    history = routinizer.history
    for column in HISTORY_COLUMNS:
        values = getattr(history, column)
        if column in _INT_COLUMNS:
            array = np.array(values, dtype=np.int64)
        else:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        file.create_dataset(f"history/{column}", data=array, **_CHECKSUM)
    _write_diagnostics(file, history)
    if data is not None:
        _write_data_facts(file, data)


def _write_diagnostics(file: h5py.File, history: History) -> None:
    """``/history/diagnostics/<column>`` (float64) for the columns of ``mlp.diagnostics``,
    and the warnings given so far as the JSON attribute ``diagnostic_warnings`` of
    ``/history``."""
    for name, values in history.diagnostics.items():
        file.create_dataset(f"history/diagnostics/{name}",
                            data=np.array(values, dtype=np.float64), **_CHECKSUM)
    if history.diagnostic_warnings:
        _set_text(file["history"], "diagnostic_warnings",
                  json.dumps(history.diagnostic_warnings))


def _write_data_facts(file: h5py.File, data: Data) -> None:
    normalizer = getattr(data, "normalizer", None)
    if normalizer is not None:
        group = file.create_group("normalizer")
        _set_text(group, "method", normalizer.method)
        for name, array in normalizer.to_arrays().items():
            group.create_dataset(name, data=array, **_CHECKSUM)
    classes = getattr(data, "classes", None)
    if classes is not None:
        kind, array = encode_classes(np.asarray(classes))
        _set_text(file.create_dataset("classes", data=array, **_CHECKSUM), "kind", kind)
    image_shape = getattr(data, "image_shape", None)
    if image_shape is not None:
        file.attrs["image_shape"] = np.array(image_shape, dtype=np.int64)


def _set_text(node: h5py.HLObject, name: str, text: str) -> None:
    """A fixed-length UTF-8 attribute: stored in the object header, which carries a checksum
    (variable-length strings would go to the global heap, which carries none)."""
    encoded = text.encode("utf-8")
    string_type = h5py.string_dtype("utf-8", max(1, len(encoded)))
    node.attrs.create(name, np.array(encoded, dtype=string_type))


def _nullable(column: str) -> bool:
    """Whether a History column holds ``X | None`` entries (stored with NaN for None)."""
    (item,) = typing.get_args(History.model_fields[column].annotation)
    return type(None) in typing.get_args(item)


_INT_COLUMNS = frozenset(c for c in HISTORY_COLUMNS
                         if typing.get_args(History.model_fields[c].annotation) == (int,))


# ----------------------------------------------------------------------------- loading
@dataclass
class Checkpoint:
    """Everything a checkpoint holds, validated. ``predict`` takes raw inputs."""

    path: Path
    model: Model
    routinizer: BasicRoutinizer
    state: TrainingState
    history: History
    best_arrays: list[np.ndarray] | None
    normalizer: Normalizer | None
    classes: np.ndarray | None
    image_shape: tuple[int, ...] | None
    created: str
    format_version: int
    library_version: str

    def _inputs(self, X_raw: np.ndarray) -> np.ndarray:  # noqa: N803 (X is the convention)
        X = np.asarray(X_raw)
        return X if self.normalizer is None else self.normalizer.apply(X)

    def predict(self, X_raw: np.ndarray) -> np.ndarray:  # noqa: N803
        """Original labels ``(N,)`` for classification (class indices when the checkpoint
        has no classes), the model's outputs ``(N, out)`` for regression."""
        X = self._inputs(X_raw)
        if not self.routinizer.loss.is_classification:
            return self.model.predict_logits(X)
        indices = self.model.predict(X)
        return indices if self.classes is None else self.classes[indices]

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:  # noqa: N803
        """Class probabilities ``(N, C)``, columns in the order of ``classes``."""
        if not self.routinizer.loss.is_classification:
            raise MLPError(f"{self.path}: a regression model has no class probabilities")
        return self.model.predict_proba(self._inputs(X_raw))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint (a ``.h5`` file, or a run folder whose ``last.h5`` is read).

    Every array is read eagerly so checksums are verified here. Any problem raises
    ``CheckpointError`` naming the file and the problem.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.h5"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        file = h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError, and others on some corruptions
        raise CheckpointError(f"{path}: not a readable HDF5 file ({_reason(exc)})") from exc
    try:
        with file:
            return _read(file, path)
    except CheckpointError:
        raise
    except Exception as exc:  # the contract: nothing but CheckpointError escapes
        raise CheckpointError(f"{path}: corrupt or inconsistent checkpoint "
                              f"({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class _Reader:
    """Typed access to one open file; every failure names the file and the item."""

    def __init__(self, file: h5py.File, path: Path) -> None:
        self.file, self.path = file, path
        self.size = path.stat().st_size

    def fail(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {problem}")

    def check_links(self) -> None:
        """Refuse any link but a hard one, before anything is opened by name: an external
        link points into another file (opening a FIFO there blocks forever) and the writer
        never makes soft links."""
        def other_than_hard(name: str, link: object) -> str | None:
            if isinstance(link, h5py.HardLink):
                return None
            return f"link {name!r} is of type {type(link).__name__}"

        found = self.file.visititems_links(other_than_hard)
        if found is not None:
            raise self.fail(f"{found}; a checkpoint holds only its own objects (hard links)")

    def text(self, name: str, node: h5py.Group | None = None) -> str:
        attrs = (self.file if node is None else node).attrs
        if name not in attrs:
            raise self.fail(f"attribute {name!r} is missing")
        value = attrs[name]
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.fail(f"attribute {name!r} is not valid UTF-8") from exc
        if not isinstance(value, str):
            raise self.fail(f"attribute {name!r} should be a string, found "
                            f"{type(value).__name__}")
        return value

    def dataset(self, name: str, shape: tuple[int, ...] | None = None,
                kinds: str = "f") -> np.ndarray:
        """The whole dataset ``name``, checked for a checksum, ``shape`` and dtype kind."""
        try:
            item = self.file[name]
        except KeyError as exc:  # h5py's KeyError also covers corrupt object headers
            raise self.fail(f"dataset {name!r} is missing or unreadable ({_reason(exc)})") from exc
        if not isinstance(item, h5py.Dataset):
            raise self.fail(f"{name!r} is not a dataset")
        plist = item.id.get_create_plist()
        filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
        if h5py.h5z.FILTER_FLETCHER32 not in [f[0] for f in filters]:
            raise self.fail(f"dataset {name!r} has no fletcher32 checksum")
        if len(filters) > 1:  # an unknown filter could make HDF5 load a plugin library
            names = [f[3].decode("ascii", "replace") or str(f[0]) for f in filters]
            raise self.fail(f"dataset {name!r} has filters {names}, expected only fletcher32")
        if shape is not None and item.shape != shape:
            raise self.fail(f"dataset {name!r} has shape {item.shape}, expected {shape}")
        if item.dtype.kind not in kinds:
            raise self.fail(f"dataset {name!r} has dtype {item.dtype}, expected kind {kinds!r}")
        if item.size * item.dtype.itemsize > self.size:
            raise self.fail(f"dataset {name!r} claims more bytes than the file holds")
        try:
            return item[()]
        except OSError as exc:
            raise self.fail(f"dataset {name!r} cannot be read, its checksum or storage is "
                            f"corrupt ({_reason(exc)})") from exc


def _read(file: h5py.File, path: Path) -> Checkpoint:
    from mlp.routinizer import BasicRoutinizer, TrainingState

    reader = _Reader(file, path)
    reader.check_links()
    if "format" not in file.attrs:
        raise reader.fail("not an mlp checkpoint (no 'format' attribute)")
    found = reader.text("format")
    if found != FORMAT:
        raise reader.fail(f"format is {found!r}, expected {FORMAT!r}")
    version = file.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)):
        raise reader.fail(f"format_version should be an integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise reader.fail(f"format_version {int(version)} is newer than this library reads "
                          f"(format_version {FORMAT_VERSION}); upgrade mlp-routinizer")
    if version < 1:
        raise reader.fail(f"format_version {int(version)} is not a valid version")
    model = _read_model(reader, reader.text("model_spec"))
    routinizer = BasicRoutinizer.model_validate_json(reader.text("routinizer"))
    state = TrainingState.model_validate_json(reader.text("state"))
    classes = _read_classes(reader, model) if "classes" in file else None
    image_shape = file.attrs.get("image_shape")
    if image_shape is not None:
        image_shape = np.asarray(image_shape)
        if image_shape.ndim != 1 or image_shape.dtype.kind not in "iu":
            raise reader.fail(f"attribute 'image_shape' should be integers, found {image_shape}")
        image_shape = tuple(int(n) for n in image_shape)
    return Checkpoint(
        path=path, model=model, routinizer=routinizer, state=state,
        history=_read_history(reader), best_arrays=_read_best(reader, model),
        normalizer=_read_normalizer(reader, model) if "normalizer" in file else None,
        classes=classes, image_shape=image_shape, created=reader.text("created"),
        format_version=int(version), library_version=reader.text("library_version"),
    )


def _read_model(reader: _Reader, spec_json: str) -> Model:
    """Rebuild the model from its spec with the stored arrays supplied (nothing re-drawn)."""
    spec = json.loads(spec_json)
    if not isinstance(spec, dict) or not isinstance(spec.get("modules"), list):
        raise reader.fail("model_spec is not a JSON object with a 'modules' list")
    modules: list[Any] = []
    stored: set[str] = set()
    for index, module in enumerate(spec["modules"]):
        if isinstance(module, dict) and module.get("type") == "layer":
            layer = Layer.model_validate(module)
            shapes = {"weight": (layer.in_features, layer.out_features),
                      "bias": (layer.out_features,)}
            module = dict(module)
            for name in PARAMETER_ARRAYS:
                shape = shapes[name.rsplit("_", 1)[-1]]
                module[name] = reader.dataset(f"model/{index}/{name}", shape)
                if module[name].dtype != spec.get("dtype", "float32"):
                    raise reader.fail(f"dataset 'model/{index}/{name}' has dtype "
                                      f"{module[name].dtype}, the spec says {spec.get('dtype')}")
            stored.add(str(index))
        modules.append(module)
    group = reader.file.get("model")
    if not isinstance(group, h5py.Group) or set(group.keys()) != stored:
        found = sorted(group.keys()) if isinstance(group, h5py.Group) else "none"
        raise reader.fail(f"the model group holds modules {found}, the spec has layers at "
                          f"{sorted(stored)}")
    return Model.model_validate({**spec, "modules": modules})


def _read_best(reader: _Reader, model: Model) -> list[np.ndarray] | None:
    if "best" not in reader.file:
        return None
    best = []
    for index, module in enumerate(model.modules):
        if isinstance(module, Layer):
            best.append(reader.dataset(f"best/{index}/weight", module.weight.shape))
            best.append(reader.dataset(f"best/{index}/bias", module.bias.shape))
    return best


def _read_history(reader: _Reader) -> History:
    columns: dict[str, list[Any]] = {}
    for column in HISTORY_COLUMNS:
        kinds = "i" if column in _INT_COLUMNS else "f"
        values = reader.dataset(f"history/{column}", kinds=kinds)
        if values.ndim != 1:
            raise reader.fail(f"dataset 'history/{column}' should be 1-D, found {values.shape}")
        if _nullable(column):
            columns[column] = [None if np.isnan(v) else v for v in values.tolist()]
        else:
            columns[column] = values.tolist()
    if len({len(v) for v in columns.values()}) > 1:
        raise reader.fail("the history columns have different lengths "
                          f"{ {k: len(v) for k, v in columns.items()} }")
    columns.update(_read_diagnostics(reader, len(columns["epoch"])))
    return History.model_validate(columns)


def _read_diagnostics(reader: _Reader, epochs: int) -> dict[str, Any]:
    """The History fields ``diagnostics`` and ``diagnostic_warnings`` (empty when the run
    recorded none)."""
    found: dict[str, Any] = {"diagnostics": {}, "diagnostic_warnings": {}}
    group = reader.file["history"].get("diagnostics")
    if group is not None:
        if not isinstance(group, h5py.Group):
            raise reader.fail("'history/diagnostics' is not a group")
        for name in group:
            values = reader.dataset(f"history/diagnostics/{name}", (epochs,))
            found["diagnostics"][name] = values.tolist()
    if "diagnostic_warnings" in reader.file["history"].attrs:
        text = reader.text("diagnostic_warnings", reader.file["history"])
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


def _read_normalizer(reader: _Reader, model: Model) -> Normalizer:
    """The normaliser of the model's inputs: ``offset`` and ``scale`` ``(in_features,)``."""
    from preprocess import Normalizer

    shape = (model.in_features,)
    return Normalizer.from_arrays(reader.text("method", reader.file["normalizer"]),
                                  reader.dataset("normalizer/offset", shape),
                                  reader.dataset("normalizer/scale", shape))


def _read_classes(reader: _Reader, model: Model) -> np.ndarray:
    kind = reader.text("kind", reader.file["classes"])
    expected = {"str": "S", "bytes": "S", "int": "iu", "float": "f", "bool": "b"}
    if kind not in expected:
        raise reader.fail(f"classes have unknown kind {kind!r}")
    values = reader.dataset("classes", kinds=expected[kind])
    if values.ndim != 1:
        raise reader.fail(f"dataset 'classes' should be 1-D, found {values.shape}")
    if len(values) > max(model.out_features, 2):  # one output scores two classes
        raise reader.fail(f"dataset 'classes' holds {len(values)} labels, more than the "
                          f"model's {model.out_features} outputs can score")
    return decode_classes(kind, values)

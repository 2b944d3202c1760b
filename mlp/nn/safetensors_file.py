"""A model in a safetensors file: ``Model.save_safetensors(path)`` and
``Model.load_safetensors(path)``.

The file holds every array under the name and in the layout PyTorch gives it
(``model.to_torch().state_dict()``'s keys: ``"0.weight"`` ``(out, in)``, ``"0.bias"``,
``"1.running_mean"``, ``"1.num_batches_tracked"``, ...; each module's ``torch_state()``), so
the ``load_file`` of the safetensors package's PyTorch module reads it into
``model.to_torch()`` with ``load_state_dict(strict=True)`` (never a pickle). Its metadata
(``__metadata__``) holds ``format: "pt"`` (what PyTorch users' tools look for),
``mlp_model``, the model spec JSON, and ``mlp_version``. Written with the ``safetensors``
package's NumPy functions (no torch needed; ``pip install 'mlp-routinizer[safetensors]'``)
and replaced atomically.

Reading trusts nothing before it is checked, in memory bounded by the file's size: the
8-byte header length (at most ``MAX_HEADER_BYTES`` and within the file), the JSON header
(every entry a dtype taken here, a shape and offsets that tile the data exactly, each
entry's byte count ``prod(shape) * itemsize``), the spec in the metadata (a valid model whose
arrays fit in the file), then the names, shapes and dtypes against that model's; only then
are the bytes handed to ``safetensors``. Every problem is one ``CheckpointError`` line naming
the file.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlp.arrays import all_finite
from mlp.errors import CheckpointError
from mlp.storage import atomic
from mlp.storage.regular_files import check_output, open_regular
from mlp.version import __version__

if TYPE_CHECKING:
    from mlp.nn.model import Model

#: the longest JSON header read (a spec of the most modules a model may have and the
#: entries of their arrays take well under 1 MiB; safetensors' own limit is 100 MB)
MAX_HEADER_BYTES = 16 << 20
#: the dtypes taken, by their safetensors name
DTYPES = {"F32": np.dtype("float32"), "F64": np.dtype("float64"), "I64": np.dtype("int64")}
SPEC_KEY = "mlp_model"


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy  # an optional extra, imported when a file is written or read
    except ImportError as exc:
        raise ImportError(f"safetensors files need the safetensors package ({exc}): "
                          "pip install 'mlp-routinizer[safetensors]'") from exc
    return safetensors.numpy


def torch_state_dict(model: Model) -> dict[str, np.ndarray]:
    """``{"<index>.<name>": array}``: every module's ``torch_state()``, as PyTorch's
    ``Sequential.state_dict()`` names it."""
    return {f"{index}.{name}": value for index, module in enumerate(model.modules)
            for name, value in module.torch_state().items()}


def save(model: Model, path: str | Path) -> Path:
    """Write ``model`` to the safetensors file ``path`` atomically (see the module
    docstring); returns the path.

    Parameters
    ----------
    model : Model
        The model; its arrays are written in its dtype (``num_batches_tracked`` as int64).
    path : str or Path
        The file to write (replaced if it exists; refused if it is not a regular file).
    """
    path = Path(path)
    check_output(path, CheckpointError)  # a FIFO or a device there would block or swallow it
    tensors = {name: np.asarray(value, order="C")  # ascontiguousarray makes 0-d arrays 1-d
               for name, value in torch_state_dict(model).items()}
    payload = _safetensors_numpy().save(tensors, metadata={
        "format": "pt", SPEC_KEY: model.model_dump_json(), "mlp_version": __version__})
    return atomic.write_bytes(path, payload)


def load(cls: type[Model], path: str | Path) -> Model:
    """The ``cls`` (a Model class) that the safetensors file ``path`` holds, checked as the
    module docstring says; ``CheckpointError`` naming the file and the problem."""
    path = Path(path)
    with open_regular(path, CheckpointError) as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file: {size} bytes, fewer than "
                                  "the 8 of the header length")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{path}: header length {length} passes the limit "
                                  f"({MAX_HEADER_BYTES} bytes) or the file's size ({size})")
        header_bytes = handle.read(length)
        entries, metadata = _parse_header(path, header_bytes, size - 8 - length)
        model = _model_from_metadata(cls, path, metadata, size - 8 - length)
        _check_entries(path, entries, model)
        data = handle.read(size - 8 - length)
    try:
        arrays = _safetensors_numpy().load(head + header_bytes + data)
    except Exception as exc:  # safetensors' own error class lives in its Rust extension
        raise CheckpointError(f"{path}: safetensors could not read it: {exc}") from None
    state: dict[str, np.ndarray] = {}
    for index, module in enumerate(model.modules):
        prefix = f"{index}."
        mine = {key.removeprefix(prefix): value for key, value in arrays.items()
                if key.startswith(prefix)}
        for name, value in module.from_torch_state(mine).items():
            if not all_finite(value):
                raise CheckpointError(f"{path}: array {prefix}{name} holds NaN or inf values")
            state[f"{index}/{name}"] = value
    model.load_state_dict(state)
    return model


def _parse_header(path: Path, header_bytes: bytes, data_size: int
                  ) -> tuple[dict[str, tuple[np.dtype, tuple[int, ...], int, int]], Any]:
    """``({name: (dtype, shape, begin, end)}, metadata)`` of a header whose entries tile
    the ``data_size`` bytes after it exactly."""
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: the header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the header is not a JSON object, found "
                              f"{type(header).__name__}")
    metadata = header.pop("__metadata__", None)
    entries = {}
    for name, entry in header.items():
        if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}):
            raise CheckpointError(f"{path}: tensor {name!r} is not an entry of dtype, shape "
                                  "and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {dtype!r}; expected one "
                                  f"of {', '.join(DTYPES)}")
        if not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
            raise CheckpointError(f"{path}: tensor {name!r} has shape {shape!r} and offsets "
                                  f"{offsets!r}; expected lists of non-negative integers")
        begin, end = offsets
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if end - begin != expected:
            raise CheckpointError(f"{path}: tensor {name!r} has offsets [{begin}, {end}], "
                                  f"{end - begin} bytes; its {dtype} shape {shape} is "
                                  f"{expected}")
        entries[name] = (DTYPES[dtype], tuple(shape), begin, end)
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin != position:
            what = "overlaps the one before" if begin < position else "leaves a gap before it"
            raise CheckpointError(f"{path}: tensor {name!r} at offset {begin} {what} "
                                  f"(expected offset {position})")
        position = end
    if position != data_size:
        raise CheckpointError(f"{path}: the tensors take {position} bytes, the file holds "
                              f"{data_size} after the header")
    return entries, metadata


def _ints(values: Any) -> bool:
    return isinstance(values, list) and all(
        type(value) is int and 0 <= value < 1 << 62 for value in values)


def _model_from_metadata(cls: type[Model], path: Path, metadata: Any, data_size: int) -> Model:
    """The model the metadata's spec describes, once its arrays are known to fit in the
    ``data_size`` bytes of the file (it is then built, its arrays drawn and replaced)."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get(SPEC_KEY), str):
        raise CheckpointError(f"{path}: not a model file: the metadata has no {SPEC_KEY!r} "
                              "entry (the model spec that save_safetensors writes)")
    spec = metadata[SPEC_KEY]
    try:
        shell = cls.model_validate_json(spec, context={"spec_only": True})
    except ValueError as exc:  # pydantic's ValidationError is one
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path}: the model spec in the metadata is not valid: "
                              f"{' '.join(line.strip() for line in first[:3])}") from None
    itemsize = np.dtype(shell.dtype).itemsize
    needed = sum(math.prod(shape) for shape in shell.state_shapes().values()) * itemsize
    if needed > data_size:
        raise CheckpointError(f"{path}: the model spec needs {needed} bytes of arrays, the "
                              f"file holds {data_size}")
    return cls.model_validate_json(spec)


def _check_entries(path: Path, entries: dict[str, tuple[np.dtype, tuple[int, ...], int, int]],
                   model: Model) -> None:
    """The header's names, shapes and dtypes are exactly those of ``model``'s arrays."""
    expected = {name: (value.dtype, value.shape)
                for name, value in torch_state_dict(model).items()}
    missing, unexpected = sorted(set(expected) - set(entries)), sorted(set(entries) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: the tensors do not match the model spec: missing "
                              f"{missing[:5] or 'none'}, unexpected {unexpected[:5] or 'none'}")
    for name, (dtype, shape) in expected.items():
        found = entries[name][:2]
        if found != (dtype, shape):
            raise CheckpointError(f"{path}: tensor {name!r} is {found[0]} {found[1]}; the "
                                  f"model spec has {dtype} {shape}")

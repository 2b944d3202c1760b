"""The data file format of ``Data.save`` / ``Data.load``: one HDF5 file under the rules of
``mlp.storage.hdf5`` (atomic write, fletcher32 on every dataset, text in checksummed attributes,
and the same link, filter and size checks on reading as a checkpoint gets). ``mlp data
convert`` writes the same layout block by block, and ``Data.from_hdf5`` reads it in place.

Layout::

    /                  attrs: format "mlp-data", task, image_shape, input_scale
    /X_train, /y_train, /X_val, ...   the splits (class labels stored as int64 codes),
                       chunked by rows: a chunk of X_* is at most 1 MiB (a power of two
                       of rows), and y_*, w_* use the rows of their X_*'s chunks
    /w_train, /w_val   sample weights (when the data have them)
    /classes           attrs: kind
    /normalizer/offset|scale          attrs: method

Every dataset has HDF5's fletcher32 checksum; features are chunked by whole rows (the largest
power of two of rows in 1 MiB) and targets and weights use the same rows per chunk. ``/y_train``
holds class codes (int64) or float regression targets; 1-D integer targets are class labels,
floating ones regression values. String labels in another program's file are refused, naming
``mlp data convert``, which encodes them.

``mlp data convert SRC OUT.h5`` takes CSV, ``.npz``, ``X.npy --labels y.npy``, image folders and
other programs' ``.h5`` files; ``Data.from_hdf5`` and ``"source": "hdf5"`` in a run config read
the result in place. What training from disk does not offer: ``split_validation`` /
``split_test`` fractions (use ``val_rows`` or datasets), ``shuffle``, ``augment_shift``,
``class_weight``, ``Data.save`` (and so sweeps with more than one worker process: workers
receive the data as a file), ``mlp evaluate --split train``. Validation and test splits are held
in memory. The figures of training from disk (epoch time, peak memory, conversion, files of
other programs, shuffling by blocks against a full shuffle) are in ``scripts/bench_data.py``'s
docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from mlp.errors import DataError, MLPError
from mlp.nn.input_normalizer import Normalizer
from mlp.storage import hdf5

FORMAT = "mlp-data"
SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
WEIGHT_KEYS = ("w_train", "w_val")


def write(path: str | Path, data: Any) -> Path:
    """Write a Data: every split, the classes, the normaliser, ``task``, ``image_shape`` and
    ``input_scale``.

    Parameters
    ----------
    path : str or Path
    data : Data

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OSError
        The file cannot be written.
    """

    def fill(file: Any) -> None:
        write_facts(file, data.task, data.classes, data.image_shape, data.input_scale)
        for key in SPLIT_KEYS + WEIGHT_KEYS:
            array = getattr(data, key, None)
            if array is not None:
                features = getattr(data, f"X_{key.partition('_')[2]}")
                hdf5.create_rows(file, key, array,
                                 hdf5.chunk_rows(hdf5.row_bytes(features), features.shape[0]))
        if data.normalizer is not None:
            group = file.create_group("normalizer")
            hdf5.set_text(group, "method", data.normalizer.method)
            for name, array in data.normalizer.to_arrays().items():
                hdf5.create(group, name, array)

    return hdf5.write_atomically(path, fill)


def write_facts(file: Any, task: str, classes: np.ndarray | None,
                image_shape: tuple[int, int] | None, input_scale: float | None) -> None:
    """The root attributes of the layout and the ``classes`` dataset, in an open file.

    Parameters
    ----------
    file : h5py.File
    task : str
    classes : ndarray or None
    image_shape : tuple of int or None
    input_scale : float or None
    """
    hdf5.set_text(file, "format", FORMAT)
    hdf5.set_text(file, "task", task)
    if image_shape is not None:
        file.attrs["image_shape"] = np.array(image_shape, dtype=np.int64)
    if input_scale is not None:
        file.attrs["input_scale"] = np.float64(input_scale)
    if classes is not None:
        kind, array = hdf5.encode_classes(classes)
        hdf5.set_text(hdf5.create(file, "classes", array), "kind", kind)


def read(path: str | Path) -> tuple[dict[str, Any], np.ndarray | None, Normalizer | None]:
    """What a data file holds.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    arguments : dict
        The keyword arguments of ``Data(...)`` (class codes decoded back to labels).
    classes : ndarray or None
        The stored classes.
    normalizer : Normalizer or None

    Raises
    ------
    DataError
        Every problem, naming the file.
    """
    with hdf5.SafeReader(path, DataError) as reader:
        try:
            return _read(reader)
        except MLPError:
            raise
        except (ValidationError, ValueError, KeyError, OSError) as exc:
            raise reader.fail(f"expected a data file written by Data.save ({hdf5.reason(exc)})") \
                from exc


def _read(reader: hdf5.SafeReader
          ) -> tuple[dict[str, Any], np.ndarray | None, Normalizer | None]:
    found = reader.text("format") if reader.attribute("format") is not None else None
    if found != FORMAT:
        raise reader.fail(f"expected a file written by Data.save (format {FORMAT!r}), found "
                          f"format {found!r}")
    arrays: dict[str, Any] = {key: reader.dataset(key, kinds="fiub") for key in SPLIT_KEYS
                              if reader.has(key)}
    arrays.update({key: reader.dataset(key, ndim=1) for key in WEIGHT_KEYS if reader.has(key)})
    classes = reader.classes() if reader.has("classes") else None
    if classes is not None:
        for key in ("y_train", "y_val", "y_test"):
            codes = arrays.get(key)
            if codes is not None and (codes.dtype.kind not in "iu" or codes.ndim != 1 or (
                    codes.size and not 0 <= codes.min() <= codes.max() < classes.shape[0])):
                raise reader.fail(f"expected {key} to hold class codes in "
                                  f"[0, {classes.shape[0] - 1}], found {codes.dtype} "
                                  f"{codes.shape}")
            if codes is not None:
                arrays[key] = classes[codes]
    normalizer = None
    if reader.has("normalizer"):
        normalizer = Normalizer.from_arrays(reader.text("method", reader.node("normalizer")),
                                            reader.dataset("normalizer/offset", ndim=1),
                                            reader.dataset("normalizer/scale", ndim=1))
    scale = reader.attribute("input_scale")
    arrays.update(task=reader.text("task"), image_shape=reader.image_shape(),
                  input_scale=None if scale is None else float(scale))
    return arrays, classes, normalizer

"""Reading user files with sizes checked before anything is allocated.

Every reader opens through ``storage.regular_files.open_regular`` (FIFOs, devices and sockets are
refused by name, and opening one never blocks), then compares what a file declares with what
it holds and with ``ReadLimits``:

- ``.npy``: the header's shape times its item size must fit in the bytes after the header
  (a 100-byte file declaring 4e11 floats is refused before any allocation); object arrays
  are refused (they would need pickle).
- ``.npz``: each member's ``.npy`` header against the member's uncompressed size in the zip
  directory, and their sum against ``max_bytes`` (a compressed archive can declare far more
  than it occupies); members are read into arrays of the declared size, never beyond.
- CSV: lines are read one at a time with a length limit (``max_line_chars``), fields with
  ``max_field_chars`` and rows with ``max_rows``, in blocks of ``BLOCK_ROWS`` rows.
- images: the size in the header (Pillow reads it without decoding) against the expected
  ``(height, width)`` or ``max_pixels``, before the pixels are decoded; Pillow's own
  decompression-bomb checks become errors too.

Every refusal is one ``DataError`` line naming the file and the limit, and how to raise it.

FIFOs, devices and sockets are opened with ``O_NONBLOCK`` where the platform has it (Windows
has no FIFOs at a path), so opening never hangs. Images: the header's size is compared with the
model's ``image_shape`` (``mlp predict``) or the first image's before anything is decoded. CSV
files may start with a UTF-8 byte-order mark; 16-bit grey images are scaled by 65535; folders
and files whose names start with a dot (``.ipynb_checkpoints/``) are skipped by
``Data.from_image_folder``.

The limits, raised with ``ReadLimits(...)`` (``limits=`` of ``Data.from_npz``, ``from_csv``,
``from_image_folder``, ``from_hdf5``), the same names in a run config's ``data``, or
``mlp data convert --max-...``:

- ``max_bytes``: 16 GiB of arrays in a ``.npy``/``.npz`` (``npz`` source);
- ``max_rows``: 100 million CSV rows (``csv`` source, ``convert --max-rows``);
- ``max_line_chars``: 1 MiB per CSV line (``csv`` source, ``convert --max-line-chars``);
- ``max_field_chars``: 131072 per CSV field (``csv`` source);
- ``max_pixels``: 4096 x 4096 for the first image of a folder (``image_folder`` source,
  ``convert --max-pixels``);
- ``max_chunk_bytes``: 64 MiB of the rows one chunk of an HDF5 dataset spans, decompressed
  (``hdf5`` source, ``convert --max-chunk-bytes``);
- ``max_label_chars``: 1024 characters of one class label (``csv`` source).
"""

from __future__ import annotations

import csv
import io
import lzma
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np

from mlp.errors import DataError
from mlp.storage.memory import allocating, check_bytes
from mlp.storage.regular_files import open_regular

#: CSV rows parsed at a time (bounds the text a block holds)
BLOCK_ROWS = 65536
#: the largest value of a read limit (2**62: every size a C long holds, with room to add)
MAX_LIMIT = 1 << 62
#: the largest grey level of a 16-bit image (its own range, not the 8-bit one)
WIDE_IMAGE_MAX = 65535
#: dimensions a stored array may have
MAX_DIMENSIONS = 32


@dataclass(frozen=True)
class ReadLimits:
    """The limits every loader checks.

    Raise one by passing ``ReadLimits(max_rows=...)`` (a loader's ``limits=`` argument, or
    the same names in a config's ``data``). Each is a whole number from 1 to ``MAX_LIMIT``.

    Parameters
    ----------
    max_bytes : int, default 16 GiB
        Bytes of arrays a ``.npy``/``.npz`` file may declare.
    max_rows : int, default 100 million
        CSV data rows.
    max_line_chars : int, default 1 MiB
        Characters in one CSV line.
    max_field_chars : int, default 128 Ki
        Characters in one CSV field (the ``csv`` module's default).
    max_pixels : int, default 4096 x 4096
        Pixels of one image whose shape is not otherwise known.
    max_label_chars : int, default 1024
        Characters of one class label (labels are held at the width of the longest).
    max_chunk_bytes : int, default 64 MiB
        Decompressed bytes of the rows one chunk of an HDF5 dataset spans (its row of
        chunks; ``Data.from_hdf5``, ``mlp data convert``).
    """

    max_bytes: int = 16 << 30
    max_rows: int = 100_000_000
    max_line_chars: int = 1 << 20
    max_field_chars: int = 131072
    max_pixels: int = 4096 * 4096
    max_label_chars: int = 1024
    max_chunk_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 1 <= value <= MAX_LIMIT:
                raise DataError(f"read limit {name}: expected a whole number from 1 to "
                                f"{MAX_LIMIT}, found {value!r}")


DEFAULT_LIMITS = ReadLimits()


# ------------------------------------------------------------------------------- .npy
def readinto_of(handle: IO[bytes]) -> Callable[[memoryview], int | None]:
    """The ``readinto`` method of a binary file.

    The files read here (a regular file's ``BufferedReader``, a zip member's ``ZipExtFile``)
    are ``io.BufferedIOBase`` objects, which typeshed's ``IO[bytes]`` (what
    ``ZipFile.open`` is declared to return) does not say.

    Parameters
    ----------
    handle : IO[bytes]

    Returns
    -------
    callable
        ``handle.readinto``.
    """
    return cast(io.BufferedIOBase, handle).readinto


def npy_header(handle: IO[bytes], path: Path, where: str = ""
                ) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``.npy`` header at a file's position.

    Parameters
    ----------
    handle : IO[bytes]
    path : Path
        Named in errors.
    where : str, default ""
        Added to the path in errors (`` (member 'x.npy')``).

    Returns
    -------
    tuple
        ``(shape, fortran_order, dtype)``.

    Raises
    ------
    DataError
        Not a ``.npy`` header of version 1.0 or 2.0, or an object dtype (it would need
        pickle).
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise ValueError(f"format version {version} (1.0 and 2.0 are read)")
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}{where}: expected a .npy array, found an unreadable header "
                        f"({exc})") from exc
    if dtype.hasobject:
        raise DataError(f"{path}{where}: expected an array of plain numbers, found dtype "
                        f"{dtype} (no pickle: objects would need it)")
    if dtype.kind in "MmV":
        raise DataError(f"{path}{where}: expected an array of numbers or text, found dtype "
                        f"{dtype} (dates, times and records are not data here)")
    if len(shape) > MAX_DIMENSIONS or any(int(s) < 0 for s in shape):
        raise DataError(f"{path}{where}: expected an array shape of at most {MAX_DIMENSIONS} "
                        f"sizes of 0 or more, found shape {shape}")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize


def _fill(handle: IO[bytes], shape: tuple[int, ...], fortran: bool, dtype: np.dtype,
          path: Path, where: str) -> np.ndarray:
    """An array of ``shape`` read from ``handle`` into a buffer of exactly its size, that
    size first checked against the memory this process can get (``mlp.storage.memory``)."""
    what = f"{path}{where}: an array of shape {shape} of {dtype}"
    check_bytes(_declared_bytes(shape, dtype), what)
    with allocating(what):
        flat = np.empty(math.prod(shape), dtype=dtype)
        view, done = flat.data.cast("B"), 0
        reader = readinto_of(handle)
        while done < view.nbytes:
            got = reader(view[done:])
            if not got:
                raise DataError(f"{path}{where}: truncated: the header declares "
                                f"{view.nbytes} bytes, found {done}")
            done += got
    return flat.reshape(shape, order="F" if fortran else "C")


def read_npy(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """The array of a ``.npy`` file, its header checked against the file's size first.

    Parameters
    ----------
    path : str or Path
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_bytes`` bounds the array's declared size.

    Returns
    -------
    ndarray
        Of the shape, dtype and memory order the header declares.

    Raises
    ------
    DataError
        A bad header, a file shorter than its header declares, or a size over the limits.
    """
    path = Path(path)
    with open_regular(path, DataError) as handle:
        shape, fortran, dtype = _sized_header(handle, path)
        _check_bytes(_declared_bytes(shape, dtype), limits, path)
        return _fill(handle, shape, fortran, dtype, path, "")


def npy_header_of(path: str | Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """The header of a ``.npy`` file, checked against its size.

    For readers that stream its rows.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    tuple
        ``(shape, fortran_order, dtype, data offset)``.
    """
    path = Path(path)
    with open_regular(path, DataError) as handle:
        shape, fortran, dtype = _sized_header(handle, path)
        return shape, fortran, dtype, handle.tell()


def _sized_header(handle: IO[bytes], path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``.npy`` header at the start of an open file, refused when the file holds fewer
    bytes after it than it declares; ``handle`` is left at the data."""
    size = os.fstat(handle.fileno()).st_size
    shape, fortran, dtype = npy_header(handle, path)
    declared, held = _declared_bytes(shape, dtype), size - handle.tell()
    if declared > held:
        raise DataError(f"{path}: the header declares shape {shape} of {dtype} "
                        f"({declared} bytes) but the file holds {held} bytes after it")
    return shape, fortran, dtype


def _check_bytes(declared: int, limits: ReadLimits, path: Path) -> None:
    if declared > limits.max_bytes:
        raise DataError(f"{path}: declares {declared} bytes of arrays, more than the limit of "
                        f"{limits.max_bytes} (raise max_bytes, or convert the file with "
                        "mlp data convert and train from HDF5)")


# ------------------------------------------------------------------------------- .npz
def read_npz(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive by name.

    Every header is checked against the zip directory's uncompressed sizes, and their total
    against ``limits.max_bytes``.

    Parameters
    ----------
    path : str or Path
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_bytes`` bounds the sum of the members' declared sizes.

    Returns
    -------
    dict of str to ndarray
    """
    path = Path(path)
    with open_regular(path, DataError) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise DataError(f"{path}: expected an .npz archive of plain arrays (no pickle), "
                            f"found an unreadable file ({exc})") from exc
        with archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            _check_bytes(sum(i.file_size for i in members), limits, path)
            return {_member_name(i): read_member(archive, i, path) for i in members}


def _member_name(info: zipfile.ZipInfo) -> str:
    return info.filename[:-4] if info.filename.endswith(".npy") else info.filename


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """The array of one ``.npy`` member of an ``.npz`` archive, its header checked first.

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
        The member.
    path : Path
        The archive, named in errors.

    Returns
    -------
    ndarray
        As ``read_npy`` gives it.

    Raises
    ------
    DataError
        A bad header, a member shorter than its header declares, or corrupt data.
    """
    where = f" (member {info.filename!r})"
    try:
        with archive.open(info) as member:
            shape, fortran, dtype = npy_header(member, path, where)
            declared = _declared_bytes(shape, dtype)
            header_bytes = member.tell()
            if declared > info.file_size - header_bytes:
                raise DataError(f"{path}{where}: the header declares shape {shape} of {dtype} "
                                f"({declared} bytes) but the member holds "
                                f"{info.file_size - header_bytes} bytes after it")
            return _fill(member, shape, fortran, dtype, path, where)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError,
            ValueError, zlib.error, lzma.LZMAError) as exc:
        # corrupt deflate or LZMA data, an encrypted member (RuntimeError), a bad header
        raise DataError(f"{path}{where}: cannot be read ({type(exc).__name__}: {exc})") \
            from exc


# -------------------------------------------------------------------------------- CSV
def csv_rows(path: str | Path, delimiter: str = ",", limits: ReadLimits = DEFAULT_LIMITS
             ) -> Iterator[tuple[int, list[str]]]:
    """Every non-empty row of a UTF-8 CSV file, read under the limits.

    A byte-order mark at its start is not part of the first field; each line is read with a
    length limit, fields with ``max_field_chars`` and at most ``max_rows`` rows (a header
    counts as one).

    Parameters
    ----------
    path : str or Path
    delimiter : str, default ","
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_rows``, ``max_line_chars`` and ``max_field_chars`` apply.

    Yields
    ------
    tuple
        ``(line number, stripped fields)``.
    """
    path = Path(path)
    handle = open_regular(path, DataError)
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    previous = csv.field_size_limit(limits.max_field_chars)
    try:
        reader = csv.reader(_bounded_lines(text, path, limits.max_line_chars),
                            delimiter=delimiter)
        count = 0
        for row in reader:
            if not row:
                continue
            count += 1
            if count > limits.max_rows:
                raise DataError(f"{path}: more than {limits.max_rows} rows (raise max_rows to "
                                "read more)")
            yield reader.line_num, [cell.strip() for cell in row]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: expected a readable UTF-8 CSV file ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {exc} (raise max_field_chars, "
                        f"now {limits.max_field_chars}, for longer fields)") from exc
    finally:
        csv.field_size_limit(previous)
        text.close()


def csv_lines(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS
              ) -> Iterator[tuple[int, list[str]]]:
    """The lines of a UTF-8 text file in blocks of ``BLOCK_ROWS``.

    Without a leading byte-order mark; each line is read with ``max_line_chars`` and at most
    ``max_rows`` non-empty lines in all.

    Parameters
    ----------
    path : str or Path
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_rows`` and ``max_line_chars`` apply.

    Yields
    ------
    tuple
        ``(number of the block's first line, lines)``.
    """
    path = Path(path)
    with open_regular(path, DataError) as handle, \
            io.TextIOWrapper(handle, encoding="utf-8-sig", newline="") as text:
        first, rows, block = 1, 0, []
        try:
            for line in _bounded_lines(text, path, limits.max_line_chars):
                if not line.isspace():
                    rows += 1
                    if rows > limits.max_rows:
                        raise DataError(f"{path}: more than {limits.max_rows} rows (raise "
                                        "max_rows to read more)")
                block.append(line)
                if len(block) == BLOCK_ROWS:
                    yield first, block
                    first, block = first + BLOCK_ROWS, []
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: expected a readable UTF-8 CSV file ({exc})") from exc
        if block:
            yield first, block


def _bounded_lines(text: io.TextIOWrapper, path: Path, limit: int) -> Iterator[str]:
    number = 0
    while True:
        line = text.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise DataError(f"{path}: line {number} is longer than {limit} characters (raise "
                            "max_line_chars to read longer lines)")
        yield line


def row_blocks(rows: Iterator[tuple[int, list[str]]], size: int = BLOCK_ROWS
               ) -> Iterator[tuple[list[int], list[list[str]]]]:
    """Rows grouped ``size`` at a time.

    Parameters
    ----------
    rows : iterator of tuple
        ``(line number, fields)``.
    size : int, default BLOCK_ROWS

    Yields
    ------
    tuple
        ``(line numbers, rows)``.
    """
    lines: list[int] = []
    block: list[list[str]] = []
    for number, row in rows:
        lines.append(number)
        block.append(row)
        if len(block) == size:
            yield lines, block
            lines, block = [], []
    if block:
        yield lines, block


def numbers(path: Path, lines: list[int], cells: np.ndarray) -> np.ndarray:
    """Text cells as a finite float64 array.

    Parameters
    ----------
    path : Path
        Named in errors.
    lines : list of int
        The line number of each row.
    cells : ndarray
        Texts ``(B, width)``.

    Returns
    -------
    ndarray
        ``(B, width)`` float64.

    Raises
    ------
    DataError
        Naming the line of a bad value (and of a non-finite one, within the block's line
        range).
    """
    try:
        values = cells.astype(np.float64)
    except ValueError:
        for number, row in zip(lines, cells.tolist(), strict=True):
            try:
                [float(cell) for cell in row]
            except ValueError as exc:
                raise DataError(f"{path}: line {number}: expected numeric values, found "
                                f"{row}") from exc
        raise  # pragma: no cover - one of the rows failed above
    if not np.isfinite(values).all():
        bad = int(np.argmax(~np.isfinite(values).all(axis=1)))
        raise DataError(f"{path}: line {lines[bad]} (in lines {lines[0]}-{lines[-1]}): expected "
                        f"finite numbers, found {cells[bad].tolist()}")
    return values


# ------------------------------------------------------------------------------ images
def read_image(path: str | Path, shape: Sequence[int] | None = None,
               limits: ReadLimits = DEFAULT_LIMITS, like: str = "image_shape") -> np.ndarray:
    """A grey-scale image as float32 ``(height, width)`` in [0, 1].

    8-bit levels over 255, 16-bit ones over 65535; colour images through Pillow's mode
    ``L``. Its declared size is checked before its pixels are decoded.

    Parameters
    ----------
    path : str or Path
    shape : sequence of int, optional
        ``(height, width)`` the image must have; else at most ``limits.max_pixels``.
    limits : ReadLimits, default DEFAULT_LIMITS
        Its ``max_pixels`` bounds the declared size.
    like : str, default "image_shape"
        Names where ``shape`` came from in the message.

    Returns
    -------
    ndarray

    Raises
    ------
    DataError
        Not an image, another shape, or more pixels than the limit.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
    with open_regular(path, DataError) as handle, warnings.catch_warnings():
        # our own pixel limit governs below Pillow's error (twice its warning's size)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(handle) as image:
                width, height = image.size
                if shape is not None and (height, width) != tuple(shape):
                    raise DataError(f"{path}: expected an image of {shape[0]}x{shape[1]} "
                                    f"(height x width) like {like}, found {height}x{width}")
                if width * height > limits.max_pixels:
                    raise DataError(f"{path}: declares {width}x{height} pixels, more than "
                                    f"the limit of {limits.max_pixels} (raise max_pixels)")
                if image.mode.startswith("I"):  # 16-bit grey ("I;16", "I" before Pillow 10)
                    scale = np.float32(WIDE_IMAGE_MAX)
                    pixels = np.asarray(image, dtype=np.float32)
                else:
                    scale = np.float32(255.0)
                    pixels = np.asarray(image.convert("L"), dtype=np.float32)
        except Image.DecompressionBombError as exc:
            raise DataError(f"{path}: refused as a decompression bomb ({exc})") from exc
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path}: expected a readable image, found an unreadable file "
                            f"({exc})") from exc
    if not 0 <= pixels.min() <= pixels.max() <= scale:
        raise DataError(f"{path}: expected grey levels from 0 to {int(scale)} in a "
                        f"{image.mode} image, found {pixels.min():g} to {pixels.max():g}")
    return pixels / scale

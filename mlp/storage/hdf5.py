"""The rules every HDF5 file of this library follows, written and read in one place.

Checkpoints (``mlp.training.checkpoint``) and data files (``Data.save``/``Data.load``) both use it:

- Writing: the whole file is built in memory (h5py's file-object driver on a ``BytesIO``),
  closed, opened again to confirm it reads back, then written with ``os.write`` to a
  temporary file in the target folder, fsynced, renamed over the target and the folder
  fsynced. A crash or a full disk at any instant
  leaves the previous file intact, and every failure (``ENOSPC`` included) is an ``OSError``
  raised here, never an HDF5 error inside a destructor.
- Every dataset carries the ``fletcher32`` checksum; text is stored as fixed-length UTF-8
  attributes in object headers (heap strings would carry no checksum); the object formats
  are HDF5 1.10's, whose metadata carries checksums too.
- Reading: without HDF5's file locking (files are replaced, never edited in place); only
  hard links (an external link names another file, opening a FIFO there blocks forever); no
  filter but fletcher32 (an unknown filter makes HDF5 look for a plugin library); and the
  bytes every dataset declares must be covered by bytes really stored, so a sparse or
  crafted file cannot make a reader allocate more than about its own size.
- Reading a file another program wrote (``SafeReader(..., foreign=True)``, the data files
  of ``Data.from_hdf5`` and ``mlp data convert``): the filters HDF5 and h5py have built in
  (``BUILT_IN_FILTERS``: gzip, shuffle, lzf...) are read too, their ids checked before any
  data is read, so HDF5 never looks for a plugin; fletcher32 is optional (the datasets read
  without it are listed in ``unchecked``); a compressed dataset must store every chunk it
  declares, every chunk must store and decode to at most its declared shape (gzip and
  szip chunks are checked here, before HDF5 decodes them), and the rows a chunk spans,
  decompressed, must be within ``max_chunk_bytes``.

Versions: every HDF5 file the library writes (checkpoints, data files, saved estimators,
sweeps) is written and read back by h5py 3.11, 3.14 and 3.16 in each of the nine writer-reader
pairs, resumes included (``tests/test_h5py_versions.py``; ``make test`` installs the two older
h5py beside ``.venv``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlp.errors import MLPError
from mlp.storage import atomic
from mlp.storage.regular_files import kind_of

if TYPE_CHECKING:  # h5py loads when a file is first written or read
    import h5py

CHECKSUM = {"fletcher32": True}
#: HDF5 1.10 object formats: checksummed metadata (version-2 object headers), compact chunk
#: indices, and still readable by HDF5 1.10+ tools (h5ls, h5dump, HDFView)
LIBVER = ("v110", "v110")
#: metadata a file may hold beyond its datasets' stored bytes before it counts as suspicious
_SLACK_BYTES = 1 << 20
#: kinds of class labels and the dtype kinds that store them
CLASS_KINDS = {"str": "S", "bytes": "S", "int": "iu", "float": "f", "bool": "b"}
#: filters HDF5 (and h5py, for lzf) has built in: reading them never loads a plugin library
BUILT_IN_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit",
                    6: "scaleoffset", 32000: "lzf"}
#: filters that leave a chunk's stored size as it is; any other may compress it
_SIZE_KEEPING = {2, 3}
#: well-known registered filters that need a plugin library (names for the message when a
#: file does not carry one)
_PLUGIN_FILTERS = {307: "bzip2", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
                   32013: "zfp", 32015: "zstd", 32017: "sz", 32026: "blosc2"}
#: filters whose decoder sizes its output from the stored bytes, not from the chunk's shape
#: (HDF5's gzip grows its buffer while it inflates, without limit; szip allocates the size
#: a chunk's first 4 bytes state): each chunk is checked before HDF5 decodes it
_SELF_SIZED = {1: "gzip", 4: "szip"}
#: a foreign file marked open for writing is copied into memory up to this size, else refused
_HELD_IMAGE_BYTES = 64 << 20
#: chunk cache of a compressed dataset read by rows at most (h5py 3.16's default is 8 MiB,
#: HDF5's 1 MiB): a row of chunks up to this size stays decoded when a read ends inside it
#: (the streaming passes' reads are not chunk-aligned), so the next read does not decode it
#: again
_CACHE_BYTES = 16 << 20


# ------------------------------------------------------------------------------ writing
def write_atomically(path: str | Path, fill: Callable[[h5py.File], None],
                     copies: Sequence[str | Path] = ()) -> Path:
    """Build an HDF5 file in memory, confirm that it reads back, and put it at ``path``.

    Then at each of ``copies``, each atomically (``mlp.storage.atomic``). Exceptions of
    ``fill`` propagate unchanged, and nothing is written then.

    Parameters
    ----------
    path : str or Path
        The file written.
    fill : callable
        ``fill(file)`` writes the attributes and datasets into the open ``h5py.File``.
    copies : sequence of str or Path
        Further paths the same bytes are written to.

    Returns
    -------
    Path
        ``path``, written before the copies.

    Raises
    ------
    OSError
        With the errno of the failure, when the bytes cannot be written or the file built does
        not read back (``EIO``); the temporary file is removed and the file that failed keeps
        its previous content.
    """
    image = build_image(fill)
    confirm_image(image)
    for target in (path, *copies):
        try:
            atomic.write_bytes(target, image)
        except OSError as exc:
            if not copies:
                raise
            # which of the files failed (a write error carries no file name of its own)
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
    return Path(path)


def build_image(fill: Callable[[h5py.File], None]) -> bytes:
    """The bytes of an HDF5 file made by ``fill(file)``, taken after HDF5 closed the file.

    The file lives in a ``BytesIO`` (h5py's file-object driver) and its bytes are taken only
    once HDF5 has closed it: closing is when HDF5 writes the final superblock. An image taken
    from an open file (``H5Fget_file_image`` of the ``core`` driver, as this module once did)
    carries a superblock whose checksum HDF5 1.14 does not update, and no HDF5 version opens
    it ("incorrect metadata checksum"); HDF5 2.0 fixed that, so only h5py 3.16 and newer
    wrote readable files that way. ``write_atomically`` confirms the image
    (``confirm_image``) before it writes it.

    Parameters
    ----------
    fill : callable
        ``fill(file)`` writes the attributes and datasets into the open ``h5py.File``.

    Returns
    -------
    bytes
    """
    import h5py
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=LIBVER, locking=False) as file:
        fill(file)
    return buffer.getvalue()


def confirm_image(image: bytes) -> None:
    """Check that ``image`` opens as HDF5 and that the header of every object in it reads.

    HDF5 verifies the objects' metadata checksums as it reads them.

    Parameters
    ----------
    image : bytes
        The bytes of an HDF5 file.

    Raises
    ------
    OSError
        ``EIO``, when it does not read back.
    """
    import h5py
    try:
        with h5py.File(io.BytesIO(image), "r", locking=False) as file:
            file.visititems(lambda name, item: None)
    except Exception as exc:  # HDF5 reports a damaged image in several exception types
        raise OSError(errno.EIO, f"the file built does not read back ({reason(exc)}); "
                                 f"nothing was written") from exc


def set_text(node: h5py.HLObject, name: str, text: str) -> None:
    """Set a fixed-length UTF-8 attribute ``name`` of ``node``.

    It is stored in the object header, which carries a checksum (variable-length strings
    would go to the global heap, which carries none).

    Parameters
    ----------
    node : h5py.HLObject
        The file, a group or a dataset.
    name : str
        The attribute.
    text : str
        Its value.
    """
    import h5py
    encoded = text.encode("utf-8")
    string_type = h5py.string_dtype("utf-8", max(1, len(encoded)))
    node.attrs.create(name, np.array(encoded, dtype=string_type))


def create(node: h5py.Group, name: str, array: np.ndarray) -> h5py.Dataset:
    """A checksummed dataset ``name`` under ``node`` holding ``array``.

    Parameters
    ----------
    node : h5py.Group
        The parent group.
    name : str
        The dataset's name.
    array : numpy.ndarray
        Its data.

    Returns
    -------
    h5py.Dataset
    """
    return node.create_dataset(name, data=array, **CHECKSUM)


def encode_classes(classes: np.ndarray) -> tuple[str, np.ndarray]:
    """Class labels as an array HDF5 stores without pickle, and their kind.

    Strings become fixed-length UTF-8 (HDF5 filters refuse variable-length data), other
    labels keep their numeric dtype.

    Parameters
    ----------
    classes : numpy.ndarray
        The labels.

    Returns
    -------
    tuple of (str, numpy.ndarray)
        ``(kind, array)``; ``kind`` is one of ``str``, ``bytes``, ``int``, ``float``,
        ``bool``.

    Raises
    ------
    MLPError
        For labels of another dtype.
    """
    import h5py
    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes.tolist()):
        encoded = [c.encode("utf-8") for c in classes.tolist()]
        length = max([1, *map(len, encoded)])
        return "str", np.array(encoded, dtype=h5py.string_dtype("utf-8", length))
    kinds = {"S": "bytes", "i": "int", "u": "int", "f": "float", "b": "bool"}
    if classes.dtype.kind not in kinds:
        raise MLPError(f"expected class labels of strings, bytes, integers, floats or "
                       f"booleans to store, found dtype {classes.dtype}")
    return kinds[classes.dtype.kind], classes


def decode_classes(kind: str, values: np.ndarray) -> np.ndarray:
    """The class labels ``encode_classes`` stored, with their original Python types.

    Parameters
    ----------
    kind : str
        The kind ``encode_classes`` gave.
    values : numpy.ndarray
        The stored array.

    Returns
    -------
    numpy.ndarray
    """
    if kind == "str":
        return np.array([v.decode("utf-8") for v in values.tolist()], dtype=str)
    return values


# ------------------------------------------------------------------------------ reading
def reason(exc: BaseException) -> str:
    """``TypeName: message`` on one line, at most 300 characters of message.

    Parameters
    ----------
    exc : BaseException
        The exception.

    Returns
    -------
    str
    """
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def _clear_write_flag(image: bytearray) -> bool:
    """Clear the "open for writing" flags of a version 2 or 3 superblock at the start of
    ``image`` and fix its checksum; False when the superblock is not one of those (or its
    checksum does not verify before the change)."""
    if image[:8] != _SIGNATURE or len(image) < 12 or image[8] not in (2, 3) or image[9] != 8:
        return False
    end = 12 + 4 * 8  # the flags byte, then four 8-byte addresses, then the checksum
    if len(image) < end + 4 or _lookup3(bytes(image[:end])) != int.from_bytes(
            image[end:end + 4], "little"):
        return False
    image[11] = 0
    image[end:end + 4] = _lookup3(bytes(image[:end])).to_bytes(4, "little")
    return True


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 hash (``hashlittle``, initial value 0): HDF5's metadata
    checksum."""
    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & _MASK

    length = len(data)
    a = b = c = (0xDEADBEEF + length) & _MASK
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _MASK
        a = (a - c) & _MASK; a ^= rot(c, 4); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= rot(a, 6); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= rot(b, 8); b = (b + a) & _MASK  # noqa: E702
        a = (a - c) & _MASK; a ^= rot(c, 16); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= rot(a, 19); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= rot(b, 4); b = (b + a) & _MASK  # noqa: E702
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:i + length].ljust(12, b"\0")
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    c ^= b; c = (c - rot(b, 14)) & _MASK  # noqa: E702
    a ^= c; a = (a - rot(c, 11)) & _MASK  # noqa: E702
    b ^= a; b = (b - rot(a, 25)) & _MASK  # noqa: E702
    c ^= b; c = (c - rot(b, 16)) & _MASK  # noqa: E702
    a ^= c; a = (a - rot(c, 4)) & _MASK  # noqa: E702
    b ^= a; b = (b - rot(a, 14)) & _MASK  # noqa: E702
    c ^= b; c = (c - rot(b, 24)) & _MASK  # noqa: E702
    return c


class SafeReader:
    """An open HDF5 file read under the rules of the module docstring; every failure is an
    ``error`` (the caller's error class) naming the file and the item.

    Use as a context manager: ``with SafeReader(path, CheckpointError) as reader: ...``.
    Opening checks the links and the declared sizes of all datasets before anything is read.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    error : type of MLPError
        The error class of every refusal (``CheckpointError``, ``DataError``).
    foreign : bool
        A file another program wrote: built-in compression filters are read and
        fletcher32 is optional (see the module docstring).
    max_chunk_bytes : int, optional
        The most bytes of the rows a chunk spans, decompressed (the row of chunks a
        block-aligned read decodes), of a dataset read (``foreign`` files).
    """

    def __init__(self, path: str | Path, error: type[MLPError], *, foreign: bool = False,
                 max_chunk_bytes: int | None = None) -> None:
        import h5py
        self.path, self.error = Path(path), error
        self.foreign, self.max_chunk_bytes = foreign, max_chunk_bytes
        #: datasets read (``foreign`` files) that carry no fletcher32 checksum
        self.unchecked: list[str] = []
        if not self.path.is_file():
            exists = self.path.exists()
            raise self.fail(f"expected a regular file, found "
                            f"{kind_of(self.path.stat().st_mode)}" if exists else "no such file")
        try:
            self.file = h5py.File(self.path, "r", locking=False)
        except BlockingIOError as exc:
            raise self.fail(f"locked by another process ({reason(exc)})") from exc
        except OSError as exc:
            if "already open for write" not in str(exc):
                raise self.fail(f"not a readable HDF5 file ({reason(exc)})") from exc
            self.file = self._open_held_for_writing(exc)
        except Exception as exc:  # h5py raises others on some corruptions
            raise self.fail(f"not a readable HDF5 file ({reason(exc)})") from exc
        try:
            self._check_links()
            self._check_sizes()
        except MLPError:
            self.file.close()
            raise
        except Exception as exc:  # HDF5 fails in many ways on a damaged file
            self.file.close()
            raise self.fail(f"corrupt file structure ({reason(exc)})") from exc

    def _open_held_for_writing(self, exc: OSError) -> h5py.File:
        """Another program holds the file open for writing (HDF5 marks that in the
        superblock). Our files are replaced, never edited in place, so the bytes are read
        into memory as they are, the mark cleared there, and that image opened; a foreign
        file larger than ``_HELD_IMAGE_BYTES`` is refused instead (it is read in place)."""
        import h5py
        size = self.path.stat().st_size
        if self.foreign and size > _HELD_IMAGE_BYTES:
            raise self.fail(f"marked as open for writing by another program, or by one that "
                            f"stopped without closing it ({reason(exc)}); close it there, or "
                            f"clear the mark with h5clear -s {self.path.name}") from exc
        image = bytearray(self.path.read_bytes())
        if not _clear_write_flag(image):
            raise self.fail(f"locked by another process ({reason(exc)})") from exc
        try:
            return h5py.File(io.BytesIO(bytes(image)), "r", locking=False)
        except Exception as again:
            raise self.fail(f"locked by another process, and its image is not readable "
                            f"({reason(again)})") from again

    def __enter__(self) -> SafeReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.file.close()

    def fail(self, problem: str) -> MLPError:
        """The caller's error naming the file and ``problem`` (to raise).

        Parameters
        ----------
        problem : str
            What is wrong.

        Returns
        -------
        MLPError
        """
        return self.error(f"{self.path}: {problem}")

    def _check_links(self) -> None:
        import h5py

        def other_than_hard(name: str, link: object) -> str | None:
            if isinstance(link, h5py.HardLink):
                return None
            return f"link {name!r} is of type {type(link).__name__}"

        found = self.file.visititems_links(other_than_hard)
        if found is not None:
            raise self.fail(f"{found}; the file may hold only its own objects (hard links)")

    def _check_sizes(self) -> None:
        """Every dataset's declared bytes are stored (no fill values standing in for data),
        and all stored bytes fit in the disk blocks the file really occupies."""
        import h5py

        stored_total = 0

        def check(name: str, item: object) -> None:
            nonlocal stored_total
            if not isinstance(item, h5py.Dataset):
                return None
            declared = int(np.prod(item.shape, dtype=np.float64)) * item.dtype.itemsize
            stored = item.id.get_storage_size()
            if item.chunks is not None and not {c for c, _ in filters_of(item)} <= \
                    _SIZE_KEEPING:  # compressed: every chunk stored, none a fill value
                expected = math.prod(-(-size // chunk) for size, chunk in
                                     zip(item.shape, item.chunks, strict=True))
                found = item.id.get_num_chunks()
                if found < expected:
                    raise self.fail(f"dataset {name!r} declares {expected} chunks but stores "
                                    f"{found}; the file is truncated or crafted")
            elif declared > stored:
                raise self.fail(f"dataset {name!r} declares {declared} bytes but stores "
                                f"{stored}; the file is truncated or crafted")
            stored_total += stored
            return None

        self.file.visititems(check)
        info = self.path.stat()
        allocated = info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
        if stored_total > allocated + _SLACK_BYTES:
            raise self.fail(f"its datasets store {stored_total} bytes but the file occupies "
                            f"{allocated} bytes on disk; a sparse or crafted file")

    def text(self, name: str, node: h5py.HLObject | None = None) -> str:
        """The UTF-8 text attribute ``name`` of ``node`` (the root by default).

        Parameters
        ----------
        name : str
            The attribute.
        node : h5py.HLObject, optional
            The object holding it.

        Returns
        -------
        str

        Raises
        ------
        MLPError
            The reader's error, when it is missing, not a string, or not valid UTF-8.
        """
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

    def attribute(self, name: str, node: h5py.HLObject | None = None) -> Any:
        """The raw attribute ``name`` of ``node`` (the root by default), or None.

        Parameters
        ----------
        name, node
            As ``text`` takes them; nothing is checked or decoded.

        Returns
        -------
        Any
        """
        return (self.file if node is None else node).attrs.get(name)

    def has(self, name: str) -> bool:
        """Whether the file has an object at ``name``.

        Parameters
        ----------
        name : str
            A path in the file.

        Returns
        -------
        bool
        """
        return name in self.file

    def keys(self, group: str) -> list[str] | None:
        """The member names of group ``group``, or None when it is not a group.

        Parameters
        ----------
        group : str
            A path in the file.

        Returns
        -------
        list of str or None
            Sorted.
        """
        import h5py
        item = self.file.get(group)
        return sorted(item.keys()) if isinstance(item, h5py.Group) else None

    def node(self, name: str, what: str = "object") -> h5py.HLObject:
        """The object at ``name``.

        Parameters
        ----------
        name : str
            A path in the file.
        what : str
            What the object is, for the message.

        Returns
        -------
        h5py.HLObject

        Raises
        ------
        MLPError
            The reader's error, when it is missing or its header is corrupt.
        """
        try:
            return self.file[name]
        except KeyError as exc:  # h5py's KeyError also covers corrupt object headers
            raise self.fail(f"{what} {name!r} is missing or unreadable ({reason(exc)})") \
                from exc

    def _checked(self, name: str, shape: tuple[int, ...] | None, kinds: str,
                 ndim: int | None) -> h5py.Dataset:
        """Dataset ``name``, checked for the checksum filter alone, ``shape`` (or ``ndim``)
        and dtype kind."""
        import h5py
        item = self.node(name, "dataset")
        if not isinstance(item, h5py.Dataset):
            raise self.fail(f"{name!r} is not a dataset")
        filters = filters_of(item)
        if self.foreign:
            self._check_foreign(name, item, filters)
        elif h5py.h5z.FILTER_FLETCHER32 not in [code for code, _ in filters]:
            raise self.fail(f"dataset {name!r} has no fletcher32 checksum")
        elif len(filters) > 1:  # an unknown filter could make HDF5 load a plugin library
            raise self.fail(f"dataset {name!r} has filters {[n for _, n in filters]}, "
                            f"expected only fletcher32")
        if shape is not None and item.shape != shape:
            raise self.fail(f"dataset {name!r} has shape {item.shape}, expected {shape}")
        if ndim is not None and item.ndim != ndim:
            raise self.fail(f"dataset {name!r} should have {ndim} dimension(s), found shape "
                            f"{item.shape}")
        if item.dtype.kind not in kinds:
            raise self.fail(f"dataset {name!r} has dtype {item.dtype}, expected kind {kinds!r}")
        return item

    def _check_foreign(self, name: str, item: h5py.Dataset,
                       filters: list[tuple[int, str]]) -> None:
        """The filters of a dataset of a foreign file are built in (checked by id, so HDF5
        never looks for a plugin library) and its chunks within ``max_chunk_bytes``; one
        without fletcher32 is noted in ``unchecked``."""
        import h5py
        for code, label in filters:
            if code not in BUILT_IN_FILTERS or not h5py.h5z.filter_avail(code):
                raise self.fail(
                    f"dataset {name!r} uses HDF5 filter {code} ({label}), which needs a "
                    f"plugin library; filters read here: gzip, lzf, shuffle, fletcher32, "
                    f"szip, nbit, scaleoffset. Rewrite it with one of them (or none) where "
                    f"the plugin is installed (h5repack -f NONE), then train from it or run "
                    f"mlp data convert on it")
        if h5py.h5z.FILTER_FLETCHER32 not in [code for code, _ in filters] \
                and name not in self.unchecked:
            self.unchecked.append(name)
        if item.chunks is None:
            return
        span = chunk_row_bytes(item)
        if self.max_chunk_bytes is not None and span > self.max_chunk_bytes:
            raise self.fail(
                f"dataset {name!r} has chunks of shape {item.chunks}: the rows they span "
                f"are {span} bytes decompressed, more than the limit of "
                f"{self.max_chunk_bytes} (max_chunk_bytes): raise it if memory allows, or "
                f"write a copy in chunks of 1 MiB: mlp data convert {self.path.name} OUT.h5 "
                f"--max-chunk-bytes {span}")
        self._check_chunks(name, item, [code for code, _ in filters])

    def _check_chunks(self, name: str, item: h5py.Dataset, codes: list[int]) -> None:
        """Every stored chunk of a chunked dataset of a foreign file holds at most its
        declared size (and a little overhead), and decodes to at most that size. HDF5 sizes
        some decoders' output from the file rather than from the chunk's shape: gzip grows
        its buffer for as long as the stream inflates (a crafted chunk of 1 MB became 1 GB),
        szip allocates what a chunk's first 4 bytes state, nbit and scaleoffset what their
        parameters in the file state. So gzip chunks are inflated here once, at most one
        chunk's size at a time, szip's stated sizes read, and the nbit and scaleoffset
        parameters compared with the chunk's shape; lzf stops at 100 MiB (h5py's limit)."""
        import h5py
        declared = math.prod(item.chunks) * item.dtype.itemsize
        plist = item.id.get_create_plist()
        for code in (h5py.h5z.FILTER_NBIT, h5py.h5z.FILTER_SCALEOFFSET):
            if code in codes:
                values = plist.get_filter(codes.index(code))[2]  # (by id fails in 3.11)
                if len(values) < 5 or (values[2], values[4]) != (
                        math.prod(item.chunks), item.dtype.itemsize):
                    raise self.fail(f"dataset {name!r} has {BUILT_IN_FILTERS[code]} "
                                    f"parameters {list(values[:5])} that do not match its "
                                    f"chunks {item.chunks} of {item.dtype}; the file is crafted")
        found = [code for code in codes if code in _SELF_SIZED]
        undone = [code for code in codes if code != h5py.h5z.FILTER_FLETCHER32]
        undone_first = undone[-1] if undone else None
        if found and (len(found) > 1 or undone_first != found[0] or 32000 in codes):
            names = [BUILT_IN_FILTERS[code] for code in codes]
            raise self.fail(f"dataset {name!r} has filters {names} in an order not read here "
                            f"(gzip or szip once, last but fletcher32): write a copy with "
                            f"h5repack -f GZIP=4, then train from it")
        limit = declared + 4 + declared // 1000 + 64  # a checksum, deflate's worst case
        for offset, mask, size in _stored_chunks(item):
            if size > limit:
                raise self.fail(f"dataset {name!r} stores a chunk at {offset} of {size} bytes, "
                                f"more than its declared {declared}; the file is crafted")
            if not found or mask & (1 << codes.index(found[0])):  # stored without it
                continue
            stored = item.id.read_direct_chunk(offset)[1]
            if found[0] == h5py.h5z.FILTER_DEFLATE:
                try:
                    decoded = len(zlib.decompressobj().decompress(stored, declared + 5))
                except zlib.error as exc:
                    raise self.fail(f"dataset {name!r} chunk at {offset} cannot be read, its "
                                    f"storage is corrupt ({reason(exc)})") from exc
            else:
                decoded = int.from_bytes(stored[:4], "little")
            if decoded > declared + 4:  # a checksum may be inside the stream
                raise self.fail(f"dataset {name!r} stores a {_SELF_SIZED[found[0]]} chunk at "
                                f"{offset} that decodes past its declared {declared} bytes; "
                                f"the file is crafted")

    def dataset(self, name: str, shape: tuple[int, ...] | None = None,
                kinds: str = "f", ndim: int | None = None) -> np.ndarray:
        """The whole dataset ``name``, checked as ``rows`` checks it, read eagerly.

        So the checksum is verified here.

        Parameters
        ----------
        name, kinds, ndim
            As ``rows`` takes them.
        shape : tuple of int, optional
            The shape required.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        MLPError
            The reader's error, for a dataset that fails a check or cannot be read.
        """
        item = self._checked(name, shape, kinds, ndim)
        try:
            return item[()]
        except OSError as exc:
            raise self.fail(f"dataset {name!r} cannot be read, its checksum or storage is "
                            f"corrupt ({reason(exc)})") from exc

    def rows(self, name: str, kinds: str = "f", ndim: int | None = None) -> Rows:
        """Dataset ``name`` left on disk, to be read a range of rows at a time (``Rows``).

        It is checked for the checksum filter alone, ``ndim`` and dtype kind.

        Parameters
        ----------
        name : str
            The dataset.
        kinds : str
            The dtype kinds accepted (``"f"``: floating).
        ndim : int, optional
            The number of dimensions required.

        Returns
        -------
        Rows
        """
        import h5py
        item = self._checked(name, None, kinds, ndim)
        if item.chunks is None or {code for code, _ in filters_of(item)} <= _SIZE_KEEPING:
            return Rows(self, name, item)
        # compressed: opened again with a cache for a row of its chunks. HDF5 shares one
        # cache among the open handles of a dataset, so the handle checked is closed first.
        cache = min(chunk_row_bytes(item), _CACHE_BYTES)
        path = item.name.encode("utf-8")
        del item
        access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        access.set_chunk_cache(8191, max(cache, 1 << 20), 1.0)
        return Rows(self, name, h5py.Dataset(h5py.h5d.open(self.file.id, path, access)))

    def labels(self, name: str) -> np.ndarray:
        """The dataset ``name`` of numbers or strings, read whole.

        Strings, of fixed or variable length, are read as ``str``; the dataset is checked as
        ``rows`` checks one.

        Parameters
        ----------
        name : str
            The dataset, of numbers or strings.

        Returns
        -------
        numpy.ndarray
        """
        import h5py
        item = self._checked(name, None, "fiubSO", None)
        string = h5py.check_string_dtype(item.dtype)
        if item.dtype.kind == "O" and string is None:
            raise self.fail(f"dataset {name!r} has dtype {item.dtype}, expected numbers or "
                            f"strings")
        try:
            values = item.asstr()[()] if string is not None else item[()]
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(f"dataset {name!r} cannot be read, its checksum or storage is "
                            f"corrupt ({reason(exc)})") from exc
        return values.astype(str) if string is not None else values

    def classes(self, name: str = "classes") -> np.ndarray:
        """Class labels stored by ``encode_classes`` in dataset ``name`` (attribute ``kind``).

        Parameters
        ----------
        name : str
            The dataset ``encode_classes``'s values were stored in.

        Returns
        -------
        numpy.ndarray
        """
        kind = self.text("kind", self.node(name))
        if kind not in CLASS_KINDS:
            raise self.fail(f"classes have unknown kind {kind!r}")
        return decode_classes(kind, self.dataset(name, kinds=CLASS_KINDS[kind], ndim=1))

    def image_shape(self) -> tuple[int, int] | None:
        """The root attribute ``image_shape``: two positive integers, or None when absent."""
        value = self.attribute("image_shape")
        if value is None:
            return None
        value = np.asarray(value)
        if value.shape != (2,) or value.dtype.kind not in "iu" or (value < 1).any():
            raise self.fail(f"attribute 'image_shape' should be two positive integers, "
                            f"found {value.tolist()}")
        return int(value[0]), int(value[1])


def filters_of(item: h5py.Dataset) -> list[tuple[int, str]]:
    """``(id, name)`` of every filter of ``item``'s pipeline, in order.

    The name is the one the file gives, else a known one, else "unregistered"; reading the
    list loads no filter.

    Parameters
    ----------
    item : h5py.Dataset
        The dataset.

    Returns
    -------
    list of tuple of (int, str)
    """
    plist = item.id.get_create_plist()
    found = []
    for index in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(index)
        label = name.decode("ascii", "replace") or _PLUGIN_FILTERS.get(code, "unregistered")
        found.append((int(code), label))
    return found


def _stored_chunks(item: h5py.Dataset) -> list[tuple[tuple[int, ...], int, int]]:
    """``(offset, filter mask, stored bytes)`` of every stored chunk of ``item``, read
    from its chunk index in one pass (HDF5 1.12.3 and newer; one query a chunk before)."""
    found: list[tuple[tuple[int, ...], int, int]] = []

    def add(info: Any) -> None:
        found.append((tuple(info.chunk_offset), int(info.filter_mask), int(info.size)))

    if hasattr(item.id, "chunk_iter"):
        item.id.chunk_iter(add)
    else:
        for index in range(item.id.get_num_chunks()):
            add(item.id.get_chunk_info(index))
    return found


def chunk_row_bytes(item: h5py.Dataset) -> int:
    """Decompressed bytes of one row of chunks of ``item``.

    All the chunks a read of the ``chunks[0]`` rows they span decodes (a chunk holds its
    declared shape, padding included).

    Parameters
    ----------
    item : h5py.Dataset
        A chunked dataset.

    Returns
    -------
    int
    """
    across = math.prod(-(-size // chunk) for size, chunk in
                       zip(item.shape[1:], item.chunks[1:], strict=True))
    return across * math.prod(item.chunks) * item.dtype.itemsize


class Rows:
    """A dataset of an open ``SafeReader`` read in place, a range of rows at a time.

    Its ``shape``, ``dtype`` and ``chunk_rows`` (rows per stored chunk, or for a contiguous
    dataset the rows of about 1 MiB; a read aligned to chunks decompresses and checks each
    chunk once). Reads verify the fletcher32 checksum of every chunk they touch; a failure is
    the reader's error naming the dataset and the rows.

    Parameters
    ----------
    reader : SafeReader
        The open reader.
    name : str
        The dataset's name.
    item : h5py.Dataset
        The dataset.
    """

    def __init__(self, reader: SafeReader, name: str, item: h5py.Dataset) -> None:
        self.reader, self.name, self._item = reader, name, item
        self.shape: tuple[int, ...] = tuple(item.shape)
        self.dtype = item.dtype
        self.chunk_rows = int(item.chunks[0]) if item.chunks else chunk_rows(
            item.dtype.itemsize * math.prod(self.shape[1:]), self.shape[0])

    def read(self, start: int, stop: int, out: np.ndarray) -> None:
        """Rows ``[start, stop)`` into ``out``; HDF5 converts to ``out``'s dtype.

        Parameters
        ----------
        start : int
            The first row.
        stop : int
            The row after the last.
        out : numpy.ndarray
            ``(stop - start, ...)``, C-contiguous.

        Raises
        ------
        MLPError
            The reader's error, when the rows cannot be read.
        """
        try:
            self._item.read_direct(out, np.s_[start:stop], np.s_[0:stop - start])
        except (OSError, ValueError, TypeError) as exc:
            raise self.reader.fail(f"dataset {self.name!r} rows {start}-{stop - 1} cannot be "
                                   f"read, its checksum or storage is corrupt "
                                   f"({reason(exc)})") from exc


def chunk_rows(row_bytes: int, n_rows: int, target: int = 1 << 20) -> int:
    """Rows per chunk for rows of ``row_bytes``.

    The largest power of two whose chunk is at most ``target`` bytes (1 MiB: HDF5's default
    chunk cache per dataset), at most ``n_rows``.

    Parameters
    ----------
    row_bytes : int
        The bytes of one row.
    n_rows : int
        The rows of the dataset.
    target : int
        The largest chunk, in bytes.

    Returns
    -------
    int

    Examples
    --------
    >>> from mlp.storage.hdf5 import chunk_rows
    >>> chunk_rows(4096, 10_000)
    256
    """
    rows = 1
    while rows * 2 * row_bytes <= target and rows * 2 <= max(1, n_rows):
        rows *= 2
    return rows


def row_bytes(array: np.ndarray) -> int:
    """Bytes of one row (the first axis) of ``array``.

    Parameters
    ----------
    array : numpy.ndarray
        The array.

    Returns
    -------
    int
    """
    return array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))


def create_rows(node: h5py.Group, name: str, array: np.ndarray,
                rows: int | None = None) -> h5py.Dataset:
    """``create`` with the data-file layout: chunks of ``rows`` whole rows.

    The targets and weights of a split take the rows of its features, so one block of rows
    touches one chunk of each.

    Parameters
    ----------
    node, name, array
        As ``create`` takes them.
    rows : int, optional
        Rows per chunk (by default ``chunk_rows``).

    Returns
    -------
    h5py.Dataset
    """
    if array.ndim == 0 or array.shape[0] == 0:
        return create(node, name, array)
    rows = chunk_rows(row_bytes(array), array.shape[0]) if rows is None else rows
    chunks = (min(rows, array.shape[0]), *array.shape[1:])
    return node.create_dataset(name, data=array, chunks=chunks, **CHECKSUM)


class _DeferredFailures(io.FileIO):
    """The file under a ``StreamWriter``'s HDF5 file (h5py's file-object driver): a write or
    truncation that fails is noted in ``failure`` and reported to HDF5 as done, and later
    ones are dropped. HDF5 never sees a write fail, so its state stays whole and the file
    closes cleanly; the writer raises the noted failure itself."""

    failure: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        if self.failure is None:
            try:
                while view:
                    view = view[super().write(view) or 0:]
            except OSError as exc:
                self.failure = exc
        return size

    def truncate(self, size: int | None = None) -> int:
        if self.failure is None:
            try:
                return super().truncate(size)
            except OSError as exc:
                self.failure = exc
        return self.tell() if size is None else size


class StreamWriter:
    """An HDF5 file written incrementally, renamed over ``path`` on ``commit``.

    It is written to a temporary file beside ``path`` (``mlp.storage.atomic``'s rules), so
    a data file larger than memory can be built block by block: ``append`` grows a chunked,
    checksummed dataset by rows. Use as a context manager: leaving it by an exception
    removes the temporary file.

    A write that fails (a full disk) is an ``OSError`` naming ``path`` with the errno of the
    failure, raised by the ``append``, ``write`` or ``commit`` during which it happened.
    HDF5 itself never sees it: after a failed write, HDF5 (any version) leaves datasets and
    files that cannot close, and closing them again at exit crashes the process. So HDF5
    writes through a Python file object (``_DeferredFailures``) that notes the failure and
    drops the rest; the file then closes cleanly and is removed. That driver is as fast as
    HDF5's own for the large chunks written here.

    Parameters
    ----------
    path : str or Path
        The file written.
    """

    def __init__(self, path: str | Path) -> None:
        import h5py
        self.path = Path(path)
        self.temp = atomic.temp_path(self.path)
        self.sink = _DeferredFailures(self.temp, "x+")
        try:
            self.file = h5py.File(self.sink, "w", libver=LIBVER, locking=False)
            self._raise_failure()
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is not None or not self.sink.closed:
            self.abort()

    def append(self, name: str, block: np.ndarray, rows: int | None = None) -> None:
        """Rows ``block (B, ...)`` added at the end of dataset ``name``.

        The dataset is created by the first block, with chunks of ``rows`` rows.

        Parameters
        ----------
        name : str
            The dataset.
        block : numpy.ndarray
            The rows added.
        rows : int, optional
            Rows per chunk (by default ``chunk_rows``: about 1 MiB).

        Raises
        ------
        OSError
            When the write fails.
        """
        if name not in self.file:
            rows = chunk_rows(row_bytes(block), 1 << 30) if rows is None else rows
            chunks = (rows, *block.shape[1:])
            self.file.create_dataset(name, shape=(0, *block.shape[1:]), dtype=block.dtype,
                                     maxshape=(None, *block.shape[1:]), chunks=chunks,
                                     **CHECKSUM)
        dataset = self.file[name]
        start = dataset.shape[0]
        dataset.resize(start + block.shape[0], axis=0)
        dataset[start:] = block
        self._raise_failure()

    def rows_per_chunk(self, name: str) -> int:
        """Rows in a chunk of dataset ``name`` (written by ``append``).

        Parameters
        ----------
        name : str
            The dataset.

        Returns
        -------
        int
        """
        return int(self.file[name].chunks[0])

    def write(self, fill: Callable[[h5py.File], None]) -> None:
        """``fill(file)``: attributes and small datasets, as ``write_atomically``'s.

        Parameters
        ----------
        fill : callable
            ``fill(file)`` writes the attributes and datasets into the open ``h5py.File``.

        Raises
        ------
        OSError
            When the write fails.
        """
        fill(self.file)
        self._raise_failure()

    def commit(self) -> Path:
        """Close the file, make it durable and put it at ``path``."""
        self.file.close()
        self._raise_failure()
        os.fsync(self.sink.fileno())
        self.sink.close()
        os.replace(self.temp, self.path)
        atomic.fsync_folder(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Give the temporary file up: close it and remove it."""
        file = getattr(self, "file", None)
        if file is not None and file.id.valid:
            with contextlib.suppress(Exception):  # what it writes now goes nowhere anyway
                file.close()
        self.sink.close()
        self.temp.unlink(missing_ok=True)

    def _raise_failure(self) -> None:
        """The write failure noted so far, if any, as ``OSError(errno, strerror, path)``."""
        failure = self.sink.failure
        if failure is not None:
            number = failure.errno or errno.EIO
            raise OSError(number, os.strerror(number), str(self.path)) from failure

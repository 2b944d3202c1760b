"""Mini-batches of a training split on disk: shuffling by blocks, read ahead by a thread.

Shuffling (``rng`` given), as ``tf.data``'s ``interleave`` + ``shuffle`` or a PyTorch sampler
over chunk-aligned blocks would do it:

1. the split's rows are cut into blocks at multiples of ``block_rows`` of the file (by
   default one stored chunk, at most 1 MiB, so a block is one checksummed read);
2. ``rng.permutation(number of blocks)`` orders the blocks; consecutive blocks of that order
   fill a buffer of ``buffer_rows`` rows (32 MiB of features by default);
3. each buffer's rows are permuted by ``rng.permutation(rows in it)``, drawn when the buffer
   starts being consumed, and batches of ``batch_size`` rows are gathered in that order (a
   batch may take its first rows from one buffer and the rest from the next).

So every row is seen once per epoch, a batch mixes rows of about ``buffer_rows /
block_rows`` blocks from anywhere in the file, and only the run's generator decides the order:
the same generator state gives the same batches, whatever the reader thread's timing. A
buffer is a shuffle window of ``buffer_rows``: rows further apart than that in the permuted
block order never meet in a batch. Without ``rng`` the rows come in file order.

Reading: a background thread fills the next buffers (two ahead) while the current one trains;
the three buffers are kept on the split and reused every epoch, so memory is ``3 *
buffer_rows`` rows plus one batch, whatever the file's size. Errors of the thread (a checksum
failure, non-finite values, a file changed since it was opened: checked before every buffer)
are raised in the training thread.

A background thread fills the next two buffers while the current one trains. Every draw comes
from the run's generator, so a resumed run is bit-identical to an uninterrupted one (tested
after a real SIGINT mid-epoch too). A data set sorted by class should be written in random order
(permute the rows once before ``Data.save`` or before writing the CSV), or given a larger
``buffer_rows``: on W1-shaped data a file sorted by class cost 1 to 5 points of test accuracy
after 2 epochs (``scripts/bench_data.py``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import cast

import numpy as np

from preprocess.disk import DiskSplit, Ranges

#: buffers a split keeps: one being trained on and two read ahead
BUFFERS = 3

Batch = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _groups(pieces: Ranges, order: np.ndarray, buffer_rows: int) -> list[Ranges]:
    """Consecutive blocks of ``order`` grouped into buffers of at most ``buffer_rows``."""
    groups: list[Ranges] = [[]]
    filled = 0
    for index in order.tolist():
        low, high = pieces[index]
        if filled + high - low > buffer_rows and groups[-1]:
            groups.append([])
            filled = 0
        groups[-1].append((low, high))
        filled += high - low
    return groups


def _buffer(split: DiskSplit, name: str, shape: tuple[int, ...], dtype: np.dtype
            ) -> np.ndarray:
    """Work array ``name`` kept on ``split`` across epochs (remade when its shape changes)."""
    array = split.buffers.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = split.buffers[name] = np.empty(shape, dtype)
    return array


class _Reader:
    """The thread that reads ``groups`` into free buffers, in order."""

    def __init__(self, split: DiskSplit, groups: list[Ranges]) -> None:
        rows = split.buffer_rows
        self.free: queue.Queue = queue.Queue()
        self.ready: queue.Queue = queue.Queue()
        for index in range(min(BUFFERS, len(groups))):
            self.free.put(tuple(
                None if name == "w" and split.w is None else
                _buffer(split, f"{name}{index}", shape, dtype)
                for name, shape, dtype in (
                    ("X", (rows, split.n_features), split.dtype),
                    ("y", (rows, *split.y_shape), split.y_dtype),
                    ("w", (rows,), np.dtype(np.float64)))))
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._work, args=(split, groups), daemon=True,
                                       name="mlp-data-reader")
        self.thread.start()

    def _work(self, split: DiskSplit, groups: list[Ranges]) -> None:
        try:
            for group in groups:
                buffers = self.free.get()
                if buffers is None or self.stopping.is_set():
                    return
                split.check_unchanged()  # one stat a buffer: a rewrite is seen within it
                self.ready.put((buffers, split.read(group, *buffers)))
        except BaseException as exc:  # handed to the training thread, raised there
            self.ready.put(exc)

    def next(self) -> tuple[tuple[np.ndarray, ...], int]:
        item = self.ready.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.stopping.set()
        self.free.put(None)
        self.thread.join()


def block_batches(split: DiskSplit, size: int, rng: np.random.Generator | None
                  ) -> Iterator[Batch]:
    """Batches of a split on disk, as the module docstring says.

    Parameters
    ----------
    split : DiskSplit
    size : int
        Rows per batch ``B``.
    rng : numpy.random.Generator or None
        Shuffles the blocks and the rows within each buffer; None keeps the file's order.

    Yields
    ------
    tuple
        ``(X (B, D), y, w or None)``; a batch lives in buffers kept on the split and is valid
        until the next one is taken.
    """
    split.check_unchanged()
    pieces = split.pieces()
    order = np.arange(len(pieces)) if rng is None else rng.permutation(len(pieces))
    groups = _groups(pieces, order, split.buffer_rows)
    X_batch = _buffer(split, "X_batch", (size, split.n_features), split.dtype)
    y_batch = _buffer(split, "y_batch", (size, *split.y_shape), split.y_dtype)
    w_batch = None if split.w is None else _buffer(split, "w_batch", (size,),
                                                   np.dtype(np.float64))
    reader = _Reader(split, groups)
    try:
        filled = 0
        for _ in groups:
            buffers, m = reader.next()
            index = None if rng is None else rng.permutation(m)
            position = 0
            while position < m:
                take = min(size - filled, m - position)
                rows = (slice(position, position + take) if index is None
                        else index[position:position + take])
                for source, batch in zip(buffers, (X_batch, y_batch, w_batch), strict=True):
                    if batch is None:
                        continue
                    if index is None:
                        np.copyto(batch[filled:filled + take], source[rows])
                    else:  # our own permutation is in range; "raise" would buffer the batch
                        np.take(source, cast(np.ndarray, rows), axis=0,
                                out=batch[filled:filled + take], mode="wrap")
                filled += take
                position += take
                if filled == size:
                    yield X_batch, y_batch, w_batch
                    filled = 0
            reader.free.put(buffers)
        if filled:
            yield (X_batch[:filled], y_batch[:filled],
                   None if w_batch is None else w_batch[:filled])
    finally:
        reader.stop()

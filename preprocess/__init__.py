"""Data for mlp-routinizer: loading, splitting, normalising, augmenting, batching, storing.

``Normalizer`` belongs to a saved model's predict path (``mlp.nn.input_normalizer``) and is
re-exported here, where the data that fit it live.

Modules:

- ``data``: ``Data``: splits, labels, weights, normalising, batches.
- ``data_display``: how a ``Data`` shows itself: task, splits, shapes, normaliser.
- ``loaders``: loaders returning ``Data``'s arguments (never a ``Data``); raw inputs for
  ``predict``.
- ``bounded``: ``ReadLimits``; reading ``.npy``, ``.npz``, CSV lines and image headers with sizes
  checked first.
- ``augment``: one-pixel shift augmentation.
- ``data_file``: the file format of ``Data.save`` / ``Data.load`` (and of ``mlp data convert``).
- ``disk``: ``DiskSplit``, a training split read in place from an HDF5 file; ``DiskArray``.
- ``disk_open``: opening a data file's datasets, splits and labels for ``Data.from_hdf5``.
- ``block_batches``: shuffling by blocks through bounded buffers, the reader thread.
- ``streaming_stats``: normaliser statistics in one pass over blocks.
- ``convert``: ``mlp data convert``: streamed conversion to the data file layout.

Tested by: ``tests/test_data.py`` (validation messages, dtypes, label encoding, splits,
normalisation, augmentation, batches, loaders, HDF5 round trip, fingerprints),
``tests/test_disk_data.py`` (block shuffling replayed draw by draw from the generator, resumes
bit-identical with a real SIGINT mid-epoch, streaming statistics against the in-memory ones,
conversions against the loaders, every bad file: crafted, truncated, a flipped chunk mid-epoch,
NaN mid-stream, a file replaced under the trainer), ``tests/test_byo_hdf5.py`` (HDF5 files of
other programs: any chunking, gzip, lzf, shuffle, scaleoffset, nbit, with or without checksums),
``tests/test_bounded_reads.py`` (hostile inputs in a child process under a 3 GiB address-space
limit with a peak RSS under 400 MiB: ``/dev/zero`` and a FIFO as a CSV path, a FIFO as an image
to predict, an ``.npz`` declaring 4e11 floats, PNGs declaring 0.9 and 3.6 gigapixels and 144
and 81 megapixels, a 144-megapixel image given to a 2x3 model, a 1.2-million-character line),
``tests/test_weights.py`` (weights through ``Data``: shuffle, split, augment, batches, save and
load, fingerprints), ``tests/test_architecture.py`` (``import preprocess`` loads neither the
trainer nor the checkpoint format)."""

from mlp.nn.input_normalizer import Normalizer
from preprocess.data import Data

__all__ = ["Data", "Normalizer"]

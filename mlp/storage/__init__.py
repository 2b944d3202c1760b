"""Files: atomic writes, regular-file checks, locks, HDF5, the run folder's names and output paths.

The lowest layer that touches the disk. ``hdf5`` is the one owner of h5py apart from the checkpoint
format; ``run_folder`` is the one place a run folder's file names are spelled.

Modules:

- ``atomic``: files replaced atomically (temporary file, fsync, rename, folder fsync) and the
  cleanup of stale temporary files.
- ``regular_files``: opening an input that must be a regular file, never blocking on a FIFO.
- ``locks``: ``ProcessLock``, the run folder's and the sweep's locks through filelock, with the
  holder's process id.
- ``hdf5``: the rules of every HDF5 file: in-memory atomic writes, streamed writes, the safe
  reader, row-range reads, text attributes, class labels.
- ``run_folder``: ``RunFolder``: the folder's file names, its lock, ``config.json``.
- ``output_paths``: an output that is, or resolves to, an input of the command is refused before
  anything is written.
- ``memory``: sizes asked for, checked against the memory this process can still get;
  ``ResourceError``.

Tested by: ``tests/test_h5py_versions.py`` (every file the library writes, under h5py 3.11, 3.14
and 3.16, read back under each: nine writer-reader pairs, resumes included),
``tests/test_faults.py`` (a full disk, a second trainer in the same folder, repeated and failed
``mlp train``), ``tests/test_hostile_outputs.py`` (outputs onto inputs by name, ``..`` or links;
a run stopped at any instant of its first save), ``tests/test_portable.py`` (the library in a
process without ``fcntl`` and the other POSIX-only modules), ``tests/test_hostile_inputs.py``
(sizes past the machine's memory, FIFOs and devices where a file is read).

May import: the base modules of ``mlp`` (``errors``, ``arrays``, ``version``) only."""

"""Files: atomic writes, regular-file checks, locks, HDF5, the run folder's names and output paths.

The lowest layer that touches the disk. ``hdf5`` is the one owner of h5py apart from the checkpoint
format; ``run_folder`` is the one place a run folder's file names are spelled.

May import: the base modules of ``mlp`` (``errors``, ``arrays``, ``version``) only.
"""

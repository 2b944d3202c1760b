"""``RunFolder``: the one place that knows what a run folder holds and where.

A run folder (``ckpt/<run>/`` by default) holds::

    config.json    the whole run config (data, model, training), written once the data loaded
    last.h5        the latest checkpoint (by the save cadence, and always at the end)
    best.h5        the checkpoint of the best epoch so far
    curves.png     loss, accuracy and learning-rate curves
    history.csv    one row per epoch, appended as the run goes
    tensorboard/   TensorBoard scalar events (with ``train.tensorboard: true``)
    diagnostics.png  per-layer diagnostics (``mlp diagnose``)
    .lock          the lock a training process holds (``mlp.storage.locks``: ``flock``, Windows'
                   ``LockFileEx``, or a soft lock where neither exists), and ``.lock.pid``
                   beside it, the holder's process id

Paths a file names (``checkpoint_dir`` inside a checkpoint) are information: the folder a
command was pointed at is where it reads and writes.

While a process trains in a folder it holds the exclusive lock ``.lock`` (released by the
operating system however the process ends); a second trainer of the same folder fails at once
with ``run folder ckpt/x is in use by process 1234``, and only the lock holder removes temporary
files, so no live writer's file is ever deleted. Leftover temporary files (of checkpoints,
``config.json``, ``history.csv`` or ``curves.png``, named ``.<name>.<random>.tmp``) are ignored by
loads and removed when a trainer next takes the lock. Files are written 0644 (0666 less the
umask).

``mlp train`` refuses a folder that already holds a run (``config.json``, ``last.h5`` or
``best.h5``), naming ``mlp resume`` and ``--overwrite``; ``config.json`` is written atomically
and only once the data loaded, so a failed ``mlp train`` leaves the previous run as it was.
``BasicRoutinizer.run()`` refuses the same way from Python: a folder holding another run (a
re-run notebook cell) is left untouched, with one line naming a new folder,
``run(..., overwrite=True)`` and ``BasicRoutinizer.resume("DIR")``; the same run continued (the
same objects, or what ``resume`` returned) goes on. A run trained from Python has no
``config.json``: ``mlp resume`` names the Python call, which is also what an interrupted Python
run prints.

A run is resumable from its first moment: one stopped before its first checkpoint (Ctrl-C in
epoch 1, a kill or a full disk at the first save) holds ``config.json`` alone, and ``mlp resume``
starts it over from epoch 0 with its seeds, which is the same run. Class labels, the normaliser
and names a checkpoint cannot store are refused before the first epoch. Data paths in
``config.json`` are absolute; ``mlp resume`` compares ``config.json`` with the checkpoint and
refuses a hand-edited file, listing the keys that differ (``train.lr``, ``model.hidden``, ...).
What may change between segments changes with ``--set`` and is recorded in ``config.json``:
``train.epochs`` (or ``--epochs``), ``train.early_stopping``, ``train.target_loss``,
``train.progress``, ``train.log_every``, ``train.dynamic_show``, ``train.plot_every``,
``train.save_every_epochs`` and ``train.save_every_seconds``. Reading ``config.json`` never
draws weights.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from mlp.errors import CheckpointError, MLPError
from mlp.storage import atomic
from mlp.storage.locks import ProcessLock

CONFIG = "config.json"
LAST = "last.h5"
BEST = "best.h5"
CURVES = "curves.png"
HISTORY_CSV = "history.csv"
TENSORBOARD = "tensorboard"
DIAGNOSTICS = "diagnostics.png"
LOCK = ".lock"
#: the files that make a folder hold a run (``mlp train`` refuses such a folder)
RUN_FILES = (CONFIG, LAST, BEST)


class RunFolderBusy(MLPError):
    """Another process holds the run folder's lock."""


class RunFolderTaken(MLPError):
    """The run folder holds another run (a new run would replace its files)."""


class RunFolder:
    """A run folder at ``path`` (which need not exist yet).

    Parameters
    ----------
    path : str or Path
        The folder.
    """

    #: the locks this process holds, by resolved folder path (so holding one is re-entrant
    #: across RunFolder objects: the CLI locks a folder, then the trainer locks it again)
    _held: dict[Path, ProcessLock] = {}
    #: the names of the files a run writes in its folder
    FILE_NAMES = (CONFIG, LAST, BEST, CURVES, HISTORY_CSV, DIAGNOSTICS)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def of(cls, target: str | Path) -> RunFolder:
        """The run folder ``target`` names: the folder itself, or the folder of a file in it.

        Parameters
        ----------
        target : str or Path
            A folder, or a file in one (a path with a suffix that is not a folder).

        Returns
        -------
        RunFolder
            The folder.
        """
        target = Path(target)
        return cls(target if target.is_dir() or not target.suffix else target.parent)

    # ----------------------------------------------------------------- the files
    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def last(self) -> Path:
        return self.path / LAST

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def curves(self) -> Path:
        return self.path / CURVES

    @property
    def history_csv(self) -> Path:
        return self.path / HISTORY_CSV

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def diagnostics(self) -> Path:
        return self.path / DIAGNOSTICS

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK

    def written_files(self) -> list[Path]:
        """The paths of the files a run writes in this folder (``FILE_NAMES``)."""
        return [self.path / name for name in self.FILE_NAMES]

    def holds_run(self) -> bool:
        """Whether a run was started here (a config or a checkpoint exists)."""
        return any((self.path / name).exists() for name in RUN_FILES)

    def resume_command(self) -> str:
        """How to continue the run here: ``mlp resume DIR`` for a run with a
        ``config.json`` (started by ``mlp train`` or a sweep: the command rebuilds its data
        from it), ``BasicRoutinizer.resume('DIR')`` for one started from Python."""
        if self.config.is_file():
            return f"mlp resume {self.path}"
        return f"BasicRoutinizer.resume({str(self.path)!r})"

    def claim(self, overwrite: bool, ours: Callable[[], bool] | None = None, *,
              flag: str = "overwrite=True", clear: bool = True) -> None:
        """Make the folder ready for a run to start here.

        ``mlp train`` and ``BasicRoutinizer.run`` both call this. A folder that holds no run, or
        holds the run starting (``ours()`` says so), is ready; another run is removed when
        ``overwrite`` (and ``clear``).

        Parameters
        ----------
        overwrite : bool
            Remove another run's files.
        ours : callable, optional
            ``ours()`` is True when the run in the folder is the one starting.
        flag : str
            How the caller spells the overwrite option, for the error message.
        clear : bool
            Remove the files; False only checks.

        Raises
        ------
        RunFolderTaken
            Without ``overwrite``, saying in one line the ways on: another folder, ``flag``, or
            the resume call.
        """
        if not self.holds_run() or (ours is not None and ours()):
            return
        if not overwrite:
            raise RunFolderTaken(f"{self.path} already holds a run: train into a new folder or "
                                 f"start over with {flag}; to continue it: "
                                 f"{self.resume_command()}")
        if clear:
            self.clear_run()

    def checkpoint(self, prefer: str = "best") -> Path:
        """The checkpoint to read: ``best.h5`` or ``last.h5``, falling back to the other.

        Parameters
        ----------
        prefer : {"best", "last"}
            The file tried first.

        Returns
        -------
        Path
            The checkpoint file.

        Raises
        ------
        CheckpointError
            When neither exists.
        """
        order = (self.best, self.last) if prefer == "best" else (self.last, self.best)
        for path in order:
            if path.is_file():
                return path
        raise CheckpointError(f"{self.path}: no {order[0].name} or {order[1].name} in this "
                              "folder" + ("" if self.path.is_dir() else " (no such folder)"))

    @staticmethod
    def checkpoint_of(target: str | Path, prefer: str = "best") -> Path:
        """A checkpoint file given as itself, or the ``prefer``-red one of a run folder.

        Parameters
        ----------
        target : str or Path
            A checkpoint file or a run folder.
        prefer : {"best", "last"}
            For a folder, as ``checkpoint`` takes it.

        Returns
        -------
        Path
            ``target`` itself, or the folder's checkpoint.

        Raises
        ------
        CheckpointError
            When ``target`` does not exist, or a folder holds neither checkpoint.
        """
        target = Path(target)
        if target.is_dir():
            return RunFolder(target).checkpoint(prefer)
        if not target.exists():
            raise CheckpointError(f"{target}: no such checkpoint file or run folder")
        return target

    @staticmethod
    def runs(root: str | Path) -> list[RunFolder]:
        """The run folders under ``root`` that hold a ``last.h5``, by path.

        At any depth: a sweep's ``trial-NNNN/repeat-K`` too. Symbolic links to folders are
        looked into but not walked further, so a link loop ends.

        Parameters
        ----------
        root : str or Path
            The folder searched.

        Returns
        -------
        list of RunFolder
            The run folders, sorted by path; empty when ``root`` is not a folder.
        """
        root = Path(root)
        if not root.is_dir():
            return []
        found = []
        for folder, subfolders, files in os.walk(root):
            here = Path(folder)
            if here != root and LAST in files:
                found.append(here)
            found += [here / name for name in subfolders
                      if (here / name).is_symlink() and (here / name / LAST).is_file()]
        return [RunFolder(path) for path in sorted(found)]

    # ------------------------------------------------------------------- the lock
    @contextlib.contextmanager
    def locked(self) -> Iterator[RunFolder]:
        """Hold the folder's exclusive lock (``.lock``, a ``ProcessLock``) for the ``with``
        block; the folder is created when missing. Re-entrant within the process. Raises
        ``RunFolderBusy`` naming the process that holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        if key in RunFolder._held:
            yield self
            return
        lock = ProcessLock(self.lock_file)
        if not lock.acquire(blocking=False):
            raise RunFolderBusy(f"run folder {self.path} is in use by process "
                                f"{lock.holder() or 'unknown'}; wait for it to finish or stop it")
        RunFolder._held[key] = lock
        try:
            yield self
        finally:
            del RunFolder._held[key]
            lock.release()

    def remove_stale_temps(self) -> None:
        """Remove the temporary files that interrupted writes left in a folder holding a
        run, when no process holds its lock (then no write is under way). Best effort: a
        busy or read-only folder is left as it is."""
        if not self.holds_run():
            return
        try:
            with self.locked():
                atomic.remove_stale_temps(self.path)
        except (RunFolderBusy, OSError):
            pass

    # -------------------------------------------------------------- writing files
    def write_config(self, text: str) -> None:
        """Write ``config.json`` atomically (the folder is made when missing).

        Parameters
        ----------
        text : str
            The JSON text.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.config, text)

    def clear_run(self) -> None:
        """Remove the files of a run (for ``mlp train --overwrite``; hold the lock)."""
        for name in (*RUN_FILES, CURVES, HISTORY_CSV):
            (self.path / name).unlink(missing_ok=True)


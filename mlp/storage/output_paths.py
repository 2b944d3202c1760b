"""Outputs never destroy inputs: every command that writes checks its outputs here first.

``refuse_clobbering(outputs, inputs)`` is called before anything is written. An output is
refused, in one line, when it is an input of the same command or resolves to one (a
symbolic link, ``..``, a hard link: two existing paths are the same file when ``os.stat``
gives the same device and inode), when it lies inside a folder being read (an image folder,
say), and when it is a file of a run folder that holds a run (its checkpoints, config,
history or pictures), unless the command trains that run itself (``run_folder``), whose
written files count as outputs and inside which no input may lie.

Examples, each refused in one line before anything is written: ``mlp data convert x.csv x.csv``,
``mlp export RUN RUN/best.h5``, ``mlp train RUN/config.json --overwrite``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mlp.errors import MLPError
from mlp.storage.run_folder import RunFolder


class OutputClash(MLPError):
    """An output path that would overwrite an input of the same command or a run's file."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same device and inode when both exist, else
    the same path once symbolic links and ``..`` are resolved."""
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` (resolved) is ``folder`` (resolved) or lies below it."""
    inner, outer = os.path.realpath(path), os.path.realpath(folder)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def refuse_clobbering(outputs: Iterable[str | Path], inputs: Mapping[str | Path | None, str],
                      *, run_folder: str | Path | None = None) -> None:
    """Raise ``OutputClash`` naming the first output that would destroy an input.

    Parameters
    ----------
    outputs
        The files the command writes.
    inputs
        Every path the command reads (None entries are skipped), with what it is, in words
        (``"the checkpoint being exported"``).
    run_folder
        The run folder the command trains in (or a sweep's folder): the files a run writes
        there are outputs too (the command may replace them), and no input may lie inside.
    """
    named = {Path(path): what for path, what in inputs.items()
             if path is not None and Path(path).exists()}
    files = [Path(output) for output in outputs]
    for output in files:
        _refuse_a_run_file(output, run_folder)
    if run_folder is not None:
        files += RunFolder(run_folder).written_files()
    for output in files:
        for path, what in named.items():
            if same_file(output, path):
                raise OutputClash(f"{output} is {what}; writing it would destroy the input: "
                                  "write the output elsewhere")
            if path.is_dir() and is_inside(output, path):
                raise OutputClash(f"{output} is inside {what} {path}; writing there would "
                                  "change the input: write the output elsewhere")
    for path, what in named.items():
        if run_folder is not None and is_inside(path, run_folder):
            raise OutputClash(f"{path} ({what}) is inside {run_folder}, the folder the "
                              "command writes: move it out of that folder first")


def _refuse_a_run_file(output: Path, run_folder: str | Path | None) -> None:
    """``output`` (or where it resolves to) must not be a file of a run folder holding a
    run, other than ``run_folder``."""
    for path in dict.fromkeys((output, Path(os.path.realpath(output)))):
        run = RunFolder(path.parent)
        if (path.name in RunFolder.FILE_NAMES and run.holds_run()
                and not (run_folder is not None and same_file(path.parent, run_folder))):
            raise OutputClash(f"{output} is a file of the run in {path.parent}; writing it "
                              "would destroy the run's own file: write the output elsewhere")

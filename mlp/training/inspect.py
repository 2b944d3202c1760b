"""Human-readable views of checkpoints: ``describe_checkpoint`` (``mlp inspect``) and
``runs_table`` (``mlp runs``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from mlp.errors import CheckpointError
from mlp.storage import run_folder
from mlp.storage.run_folder import RunFolder
from mlp.training.checkpoint import Checkpoint, load_checkpoint


def describe_checkpoint(path: str | Path) -> str:
    """What ``mlp inspect`` prints about a checkpoint.

    Parameters
    ----------
    path : str or Path
        A checkpoint file, or a run folder (its ``last.h5``).

    Returns
    -------
    str
        Format and library version, creation time, file size, the model summary, the
        epoch/step counters, the best loss and its epoch, and the training config.

    Raises
    ------
    CheckpointError
        The file cannot be read as a checkpoint.
    """
    checkpoint = load_checkpoint(path)
    state, history = checkpoint.state, checkpoint.history
    size = checkpoint.path.stat().st_size
    best = ("none yet" if state.best_loss is None
            else f"{state.best_loss:.6g} ({state.monitor}) at epoch {state.best_epoch}")
    lines = [
        f"file: {checkpoint.path} ({_size(size)})",
        f"format: mlp-checkpoint version {checkpoint.format_version} "
        f"(written by mlp-routinizer {checkpoint.library_version})",
        f"created: {checkpoint.created}",
        f"epoch: {state.epoch}  step: {state.step}"
        + ("  (stopped early)" if stopped_early(checkpoint) else ""),
        f"best loss: {best}",
        f"training time: {history.total_seconds:.1f} s",
    ]
    if checkpoint.classes is not None:
        lines.append(f"classes ({len(checkpoint.classes)}): "
                     + ", ".join(map(str, checkpoint.classes.tolist()[:20]))
                     + (", ..." if len(checkpoint.classes) > 20 else ""))
    if checkpoint.normalizer is not None:
        lines.append(f"normalizer: {checkpoint.normalizer.method}")
    if checkpoint.image_shape is not None:
        lines.append(f"image shape: {checkpoint.image_shape}")
    config = json.dumps(json.loads(checkpoint.config.model_dump_json()), indent=2)
    lines += ["", "model:", checkpoint.model.summary(), "", "training config:", config]
    return "\n".join(lines)


def stopped_early(checkpoint: Checkpoint) -> bool:
    """Whether the run stopped by early stopping at the checkpoint's epoch.

    Its state says so, or its epochs since the best one reached the patience (a check the
    trainer makes right after each epoch, so a run can only have stopped there).

    Parameters
    ----------
    checkpoint : Checkpoint
        A loaded checkpoint (its state and ``config.early_stopping`` are read).

    Returns
    -------
    bool
    """
    state = checkpoint.state
    return state.stopped_early or state.should_stop_early(checkpoint.config.early_stopping)


def best_epoch_metrics(checkpoint: Checkpoint) -> dict[str, float | int | None]:
    """The History row of the best epoch.

    The weights ``best.h5`` holds and early stopping restores; the last epoch's row when no
    epoch was best yet.

    Parameters
    ----------
    checkpoint : Checkpoint
        A loaded checkpoint (its history and state's ``best_epoch`` are read).

    Returns
    -------
    dict
        Column -> value (``epoch``, ``train_loss``, ``val_loss``, ...); empty without
        epochs.
    """
    history, state = checkpoint.history, checkpoint.state
    if not len(history):
        return {}
    epoch = state.best_epoch or history.epoch[-1]
    index = history.epoch.index(epoch) if epoch in history.epoch else len(history) - 1
    return {column: getattr(history, column)[index] for column in
            ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")}


def runs_table(root: str | Path = "ckpt") -> str:
    """The table ``mlp runs`` prints: one row per run folder.

    Parameters
    ----------
    root : str or Path, default "ckpt"
        Searched at any depth for folders holding a ``last.h5`` (each named by its path
        from ``root``).

    Returns
    -------
    str
        Epochs done, the best epoch and its validation loss and accuracy, total training
        seconds, last modified (UTC).
    """
    root = Path(root)
    folders = RunFolder.runs(root)
    if not folders:
        return f"no runs under {root} (a run is a folder holding {run_folder.LAST})"
    rows = [("run", "epochs", "best epoch", "val loss", "val acc", "seconds",
             "modified (UTC)")]
    notes = [""]
    for folder in folders:
        name = folder.path.relative_to(root).as_posix()
        last = folder.last
        try:
            checkpoint = load_checkpoint(last)
            modified = datetime.fromtimestamp(last.stat().st_mtime, timezone.utc)
        except (OSError, CheckpointError) as exc:
            problem = str(exc).removeprefix(f"{last}: ")
            rows.append((name, "-", "-", "-", "-", "-", "-"))
            notes.append(f"unreadable: {problem[:100]}")
            continue
        best = best_epoch_metrics(checkpoint)
        rows.append((name, str(checkpoint.state.epoch),
                     str(best.get("epoch", "-")),
                     "-" if best.get("val_loss") is None else f"{best['val_loss']:.4g}",
                     "-" if best.get("val_accuracy") is None else f"{best['val_accuracy']:.4f}",
                     f"{checkpoint.history.total_seconds:.1f}",
                     modified.strftime("%Y-%m-%d %H:%M")))
        notes.append("(stopped early)" if stopped_early(checkpoint) else "")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=True)),
                        note]).rstrip() for row, note in zip(rows, notes, strict=True)]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n_bytes < 1024:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GiB"

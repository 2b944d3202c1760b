"""Resuming from checkpoints: bit-identical to an uninterrupted run, guarded against a change
of training data, and safe against a process killed at any instant (even mid-save)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlp.errors import CheckpointError
from mlp.nn.model import Model
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data


def make_data(n_train: int = 90, seed: int = 0) -> Data:
    """Three Gaussian blobs in 6 dimensions with a validation split."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(3, 6))
    y = rng.integers(0, 3, size=n_train + 30)
    X = centres[y] + rng.normal(size=(y.size, 6))
    return Data(X[:n_train], y[:n_train], X_val=X[n_train:], y_val=y[n_train:])


TRAININGS = {
    "adam-dropout": ({"dropout": 0.2}, {"optimizer": "adam", "lr": 0.01, "batch_size": 16}),
    "nesterov-step": ({}, {"optimizer": "nesterov", "lr": 0.05, "batch_size": 32,
                           "schedule": {"kind": "step", "step_size": 2, "gamma": 0.5}}),
}


def _train(folder: Path, case: str, epochs: int) -> tuple[BasicRoutinizer, Model]:
    model_options, train_options = TRAININGS[case]
    model = Model.mlp([6, 16, 3], seed=3, **model_options)
    routinizer = BasicRoutinizer(epochs=epochs, shuffle=True, seed=11, progress=False,
                                 checkpoint_dir=folder, **train_options)
    routinizer.run(model, make_data())
    return routinizer, model


@pytest.mark.parametrize("case", list(TRAININGS))
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, case):
    straight, straight_model = _train(tmp_path / "straight", case, epochs=6)
    _train(tmp_path / "interrupted", case, epochs=3)

    routinizer, model = BasicRoutinizer.resume(tmp_path / "interrupted")
    assert routinizer.state.epoch == 3
    routinizer.epochs = 6
    routinizer.run(model, make_data())

    for (name, expected), (_, array) in zip(straight_model.named_arrays(),
                                            model.named_arrays(), strict=True):
        assert array.dtype == expected.dtype and np.array_equal(array, expected), name
    for column in ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"):
        assert getattr(routinizer.history, column) == getattr(straight.history, column), column
    assert routinizer.state.step == straight.state.step
    assert routinizer.state.rng_state == straight.state.rng_state
    assert routinizer.state.best_epoch == straight.state.best_epoch
    for kept, expected in zip(routinizer.best_arrays, straight.best_arrays, strict=True):
        assert np.array_equal(kept, expected)
    saved = load_checkpoint(tmp_path / "interrupted" / "last.h5")
    assert saved.state.epoch == 6
    moments = straight.optimizer_state
    assert saved.optimizer_state.keys() == moments.keys() and moments
    for name, arrays in moments.items():
        for key, array in arrays.items():
            assert np.array_equal(saved.optimizer_state[name][key], array), (name, key)


def test_resume_refuses_different_training_data(tmp_path):
    _train(tmp_path / "run", "nesterov-step", epochs=1)
    other = make_data(seed=1)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run")
    routinizer.epochs = 2
    with pytest.raises(CheckpointError, match="training data differ.*allow_data_change"):
        routinizer.run(model, other)
    routinizer, model = BasicRoutinizer.resume(tmp_path / "run" / "last.h5",
                                               allow_data_change=True)
    routinizer.epochs = 2
    assert routinizer.run(model, other).epoch == [1, 2]


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from mlp.nn.fused import Kernels
    from mlp.nn.model import Model
    from mlp.training.routinizer import BasicRoutinizer
    from test_resume import make_data

    folder = Path({folder!r})
    if (folder / "last.h5").exists():
        routinizer, model = BasicRoutinizer.resume(folder)
        routinizer.epochs = 10 ** 6
    else:
        model = Model.mlp([6, 128, 128, 3], dropout=0.1, seed=1)
        routinizer = BasicRoutinizer(epochs=10 ** 6, batch_size=30, lr=1e-3, seed=2,
                                     progress=False, checkpoint_dir=folder,
                                     save_every_epochs=1)  # a save every epoch to kill in
    data = make_data(n_train=30)
    Kernels().warm_up()  # numba's compile or cache load is not part of what is tested
    print("ready", flush=True)
    routinizer.run(model, data)
""")


READY_SECONDS = 60.0  #: a child normally starts training within a second


def _kill_during_training(folder: Path, delay: float) -> dict[str, Any]:
    """Start a child that trains (resuming when a checkpoint exists), SIGKILL it ``delay``
    seconds after it is ready, and report whether a save was interrupted."""
    script = CHILD.format(tests=str(Path(__file__).parent), folder=str(folder))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(READY_SECONDS, child.kill)  # a child stuck before "ready"
    watchdog.start()
    try:
        ready = child.stdout.readline()
        watchdog.cancel()
        assert ready == "ready\n", child.stderr.read()
        time.sleep(delay)
    finally:
        watchdog.cancel()
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    return {"mid_save": any(folder.glob(".*.tmp"))}


def test_checkpoints_survive_sigkill_at_random_moments(tmp_path):
    folder = tmp_path / "crashy"
    rng = np.random.default_rng(2024)
    data = make_data(n_train=30)
    kills, mid_save, epochs = 0, 0, []
    # a save's temporary file exists for about a tenth of an epoch: past 22 kills, go on
    # (up to 60) until one has landed inside a save
    while kills < 22 or (mid_save == 0 and kills < 60):
        wait = 0.3 if not (folder / "last.h5").exists() else rng.uniform(0.0, 0.12)
        report = _kill_during_training(folder, wait)
        kills += 1
        mid_save += report["mid_save"]
        if not (folder / "last.h5").exists():
            continue
        checkpoint = load_checkpoint(folder / "last.h5")
        epochs.append(checkpoint.state.epoch)
        routinizer, model = BasicRoutinizer.resume(folder)
        routinizer.epochs = checkpoint.state.epoch + 1
        assert routinizer.run(model, data).epoch[-1] == checkpoint.state.epoch + 1
        assert not list(folder.glob(".*.tmp"))  # the resume's save removed stale temp files
    assert len(epochs) >= 20 and epochs == sorted(epochs)
    assert mid_save >= 1, "no kill landed inside a save; make saves a larger share of time"

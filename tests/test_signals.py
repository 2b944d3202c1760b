"""SIGINT and SIGTERM to a real ``mlp train``: the save in progress finishes, one line says
where the run stands and how to continue, exit 130 or 143, no temporary file, and the run
resumed to its end is bit-identical to one never interrupted."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.faults import MLP, child_env, cli, temp_files, write_config, write_npz

from mlp.training.checkpoint import load_checkpoint

EPOCHS = 15
LINE = re.compile(r"^mlp train: interrupted after epoch (\d+) of (\d+); continue with: "
                  r"mlp resume (\S+)$")


def _interrupt(cwd: Path, signum: int, delay: float = 0.0, *args: str
               ) -> tuple[int, str, int]:
    """Start ``mlp train run.json ARGS``, send ``signum`` ``delay`` seconds after its first
    epoch line; returns its exit status, its stderr and the epoch its line names."""
    process = subprocess.Popen([*MLP, "train", "run.json", *args], cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("epoch "):
                break
        time.sleep(delay)
        process.send_signal(signum)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    stderr = "".join(lines) + rest
    matches = [LINE.match(line) for line in stderr.splitlines()]
    epochs = [int(m.group(1)) for m in matches if m]
    return process.returncode, stderr, epochs[0] if len(epochs) == 1 else -1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_last_epoch_and_resume_ends_bit_identical(tmp_path, monkeypatch,
                                                                     capsys, signum):
    write_npz(tmp_path / "data.npz", n=240)
    write_config(tmp_path / "run.json", epochs=EPOCHS, batch_size=4)  # the default cadence
    status, stderr, epoch = _interrupt(tmp_path, signum)
    assert status == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (f"mlp train: interrupted after epoch {epoch} of "
                                       f"{EPOCHS}; continue with: mlp resume ckpt/run")
    assert 1 <= epoch < EPOCHS
    folder = tmp_path / "ckpt" / "run"
    assert load_checkpoint(folder / "last.h5").state.epoch == epoch
    assert temp_files(folder) == []

    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "resume", "ckpt/run", "-q")[0] == 0
    assert cli(capsys, "train", "run.json", "--ckpt-root", "straight", "-q")[0] == 0
    done, straight = (load_checkpoint(p / "last.h5") for p in (folder, tmp_path / "straight"
                                                               / "run"))
    assert done.state.epoch == straight.state.epoch == EPOCHS
    for (name, a), (_, b) in zip(done.model.named_arrays(), straight.model.named_arrays(),
                                 strict=True):
        assert np.array_equal(a, b), name
    assert done.history.train_loss == straight.history.train_loss


def test_a_signal_landing_during_a_save_is_never_lost(tmp_path):
    """Short runs that save every epoch, signalled at random moments (many land inside a
    save): every one stops with its line and status, and leaves a loadable last.h5 of the
    epoch it names and no temporary file."""
    write_npz(tmp_path / "data.npz", n=200)
    write_config(tmp_path / "run.json", epochs=10_000, batch_size=50, save_every_epochs=1)
    choose = random.Random(0)
    deadline = time.monotonic() + 12
    trials = 0
    while trials < 4 and time.monotonic() < deadline:
        signum = (signal.SIGINT, signal.SIGTERM)[trials % 2]
        status, stderr, epoch = _interrupt(tmp_path, signum, choose.uniform(0, 0.3),
                                           "--overwrite")
        assert status == 128 + signum, stderr
        assert "Traceback" not in stderr and epoch >= 1, stderr
        folder = tmp_path / "ckpt" / "run"
        assert load_checkpoint(folder / "last.h5").state.epoch == epoch
        assert temp_files(folder) == []
        trials += 1
    assert trials >= 2

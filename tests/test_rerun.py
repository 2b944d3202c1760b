"""Re-running a training cell never destroys a run: ``run()`` into a folder holding another
run refuses in one line (a new folder, ``overwrite=True``, the resume call) and leaves its
files as they were; the run's own folder is continued (the same routinizer and model, or
what ``resume`` returned); the hint after an interrupt is a call that works."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from fixtures.faults import cli, write_config, write_npz

from mlp import BasicRoutinizer, Model, RunFolderTaken, TrainingInterrupted, load_checkpoint
from mlp.callbacks import Callback
from preprocess import Data

RUN_FILES = ("best.h5", "last.h5", "history.csv")


def data(seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return Data(X[:48], y[:48], X_val=X[48:], y_val=y[48:])


def trainer(folder: Path, epochs: int = 2) -> BasicRoutinizer:
    return BasicRoutinizer(epochs=epochs, batch_size=16, lr=0.05, progress=False,
                           checkpoint_dir=folder)


def files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in RUN_FILES}


def test_a_rerun_cell_refuses_and_leaves_the_run_untouched(tmp_path):
    folder = tmp_path / "ckpt"
    routinizer = trainer(folder)
    routinizer.run(Model.mlp([4, 8, 2]), data())
    before = files(folder)
    for attempt in (lambda: trainer(folder).run(Model.mlp([4, 16, 2]), data()),  # the cell
                    lambda: routinizer.run(Model.mlp([4, 8, 2]), data())):  # a new model
        with pytest.raises(RunFolderTaken) as refused:
            attempt()
        message = str(refused.value)
        assert "\n" not in message
        assert "new folder" in message and "overwrite=True" in message
        assert f"BasicRoutinizer.resume({str(folder)!r})" in message
        assert files(folder) == before


def test_the_same_run_continues_in_its_folder(tmp_path):
    folder = tmp_path / "ckpt"
    routinizer, model = trainer(folder), Model.mlp([4, 8, 2])
    routinizer.run(model, data())
    routinizer.epochs = 3  # the same routinizer and model, in the same process
    assert routinizer.run(model, data()).epoch == [1, 2, 3]
    resumed, again = BasicRoutinizer.resume(folder)
    resumed.epochs = 4
    assert resumed.run(again, data()).epoch == [1, 2, 3, 4]
    checkpoint = load_checkpoint(folder / "last.h5")  # restore(): told by the run id
    restored = trainer(folder, epochs=5)
    restored.restore(checkpoint.model, checkpoint.state,
                     optimizer_state=checkpoint.optimizer_state)
    assert restored.run(checkpoint.model, data()).epoch == [1, 2, 3, 4, 5]
    assert load_checkpoint(folder / "last.h5").state.run_id == checkpoint.state.run_id


def test_overwrite_replaces_the_other_run(tmp_path):
    folder = tmp_path / "ckpt"
    trainer(folder, epochs=3).run(Model.mlp([4, 8, 2]), data())
    first = load_checkpoint(folder / "best.h5").state.run_id
    history = trainer(folder).run(Model.mlp([4, 16, 2]), data(), overwrite=True)
    assert history.epoch == [1, 2]
    best = load_checkpoint(folder / "best.h5")
    assert best.state.run_id != first and best.model.modules[0].out_features == 16
    assert len((folder / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs


class _InterruptAfter(Callback):
    """Sends this process a real SIGINT at the end of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, routinizer, row):
        if row["epoch"] == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def test_the_hint_after_an_interrupt_is_a_python_call_that_continues_the_run(tmp_path):
    folder = tmp_path / "ckpt"
    with pytest.raises(TrainingInterrupted) as stopped:
        trainer(folder, epochs=4).run(Model.mlp([4, 8, 2]), data(), [_InterruptAfter(2)])
    call = f"BasicRoutinizer.resume({str(folder)!r})"
    assert str(stopped.value) == f"interrupted after epoch 2 of 4; continue with: {call}"
    routinizer, model = eval(call, {"BasicRoutinizer": BasicRoutinizer})  # the hint, as typed
    assert routinizer.run(model, data()).epoch == [1, 2, 3, 4]
    straight = Model.mlp([4, 8, 2])
    trainer(tmp_path / "straight", epochs=4).run(straight, data())
    for (name, a), (_, b) in zip(model.named_arrays(), straight.named_arrays(), strict=True):
        assert np.array_equal(a, b), name


def test_mlp_resume_of_a_python_run_names_the_python_call(tmp_path, capsys):
    folder = tmp_path / "ckpt"
    trainer(folder).run(Model.mlp([4, 8, 2]), data())
    status, _, err = cli(capsys, "resume", str(folder))
    assert status == 2 and f"BasicRoutinizer.resume({str(folder)!r})" in err


def test_a_python_run_into_a_command_line_run_names_mlp_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "data.npz")
    write_config(tmp_path / "run.json", epochs=1)
    assert cli(capsys, "train", "run.json", "-q")[0] == 0
    folder = Path("ckpt/run")
    before = files(folder)
    with pytest.raises(RunFolderTaken, match=f"to continue it: mlp resume {folder}$"):
        trainer(folder).run(Model.mlp([6, 8, 3]), Data.from_npz("data.npz"))
    assert files(folder) == before

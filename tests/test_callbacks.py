"""A run's numbers, out: callbacks, history.csv and TensorBoard scalars."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from mlp import BasicRoutinizer, Model, load_checkpoint
from mlp.callbacks import Callback, CallbackError, CsvLogger, StopTraining
from mlp.history import HISTORY_COLUMNS
from mlp.storage.run_folder import RunFolder
from preprocess import Data


def make_data() -> Data:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return Data(X[:90], y[:90], X_val=X[90:], y_val=y[90:])


def train(folder, epochs: int, callbacks=(), **options) -> BasicRoutinizer:
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=16, lr=0.01, seed=3, progress=False,
                                 checkpoint_dir=folder, save_every_epochs=1, **options)
    routinizer.run(Model.mlp([5, 8, 2], seed=1, dropout=0.1), make_data(), callbacks)
    return routinizer


def read_csv(path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


class Recorder(Callback):
    def __init__(self, stop_after: int | None = None, fail_at: int | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.stop_after, self.fail_at = stop_after, fail_at

    def on_train_begin(self, routinizer, model) -> None:
        self.calls.append(("begin", routinizer.state.epoch))

    def on_epoch_end(self, routinizer, row) -> bool:
        self.calls.append(("epoch", row["epoch"]))
        if row["epoch"] == self.fail_at:
            raise ZeroDivisionError("the user's bug")
        if row["epoch"] == self.stop_after:
            raise StopTraining
        return False

    def on_train_end(self, routinizer, model) -> None:
        self.calls.append(("end", routinizer.state.epoch))


def test_history_csv_has_one_row_per_epoch_across_a_resume(tmp_path):
    folder = RunFolder(tmp_path / "run")
    train(folder.path, 3)
    assert [row[0] for row in read_csv(folder.history_csv)] == ["epoch", "1", "2", "3"]
    routinizer, model = BasicRoutinizer.resume(folder.path)
    routinizer.epochs = 5
    routinizer.run(model, make_data())
    rows = read_csv(folder.history_csv)
    assert rows[0] == list(HISTORY_COLUMNS)
    assert [int(row[0]) for row in rows[1:]] == [1, 2, 3, 4, 5]
    assert [float(row[1]) for row in rows[1:]] == routinizer.history.train_loss


def test_history_csv_rows_reach_the_file_within_flush_seconds_and_all_at_the_end(tmp_path):
    routinizer = train(tmp_path / "run", 2)  # a history of two epochs to start from
    row = {column: None for column in HISTORY_COLUMNS} | {"epoch": 3, "train_loss": 0.5}
    held = CsvLogger(tmp_path / "held.csv", flush_seconds=3600)
    held.on_train_begin(routinizer, None)
    held.on_epoch_end(routinizer, row)
    assert len(read_csv(tmp_path / "held.csv")) == 3  # header and the history: row 3 held
    held.on_train_end(routinizer, None)
    assert read_csv(tmp_path / "held.csv")[-1][:2] == ["3", "0.5"]
    prompt = CsvLogger(tmp_path / "prompt.csv", flush_seconds=0)
    prompt.on_train_begin(routinizer, None)
    prompt.on_epoch_end(routinizer, row)
    assert read_csv(tmp_path / "prompt.csv")[-1][:2] == ["3", "0.5"]  # before any close
    prompt.close()


def test_history_csv_is_rebuilt_from_the_checkpoint_after_a_crash(tmp_path):
    folder = RunFolder(tmp_path / "run")
    train(folder.path, 2)
    with open(folder.history_csv, "a") as handle:  # an epoch the checkpoint never saw
        handle.write("3,9.9,9.9,0.1,0.1,0.01,1.0\n")
    routinizer, model = BasicRoutinizer.resume(folder.path)
    routinizer.epochs = 3
    routinizer.run(model, make_data())
    rows = read_csv(folder.history_csv)
    assert [int(row[0]) for row in rows[1:]] == [1, 2, 3]
    assert float(rows[3][1]) == routinizer.history.train_loss[2] != 9.9


def test_tensorboard_scalars_read_back_with_tensorboards_reader(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    folder = RunFolder(tmp_path / "run")
    history = train(folder.path, 3, tensorboard=True).history
    reader = event_accumulator.EventAccumulator(str(folder.tensorboard))
    reader.Reload()
    tags = reader.Tags()["scalars"]
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr",
            "seconds_per_epoch"} <= set(tags)
    for tag, column in (("loss/train", history.train_loss), ("loss/val", history.val_loss),
                        ("accuracy/val", history.val_accuracy), ("lr", history.lr)):
        events = reader.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], column, rtol=1e-6)


def test_callbacks_see_every_epoch_and_may_stop_the_run(tmp_path):
    recorder = Recorder(stop_after=2)
    routinizer = train(tmp_path / "run", 5, [recorder])
    assert routinizer.state.epoch == 2
    assert recorder.calls == [("begin", 0), ("epoch", 1), ("epoch", 2), ("end", 2)]
    assert load_checkpoint(tmp_path / "run").state.epoch == 2


def test_callbacks_do_not_change_the_run(tmp_path):
    plain = train(tmp_path / "plain", 4)
    observed = train(tmp_path / "observed", 4, [Recorder()])
    assert plain.history.train_loss == observed.history.train_loss
    a, b = load_checkpoint(tmp_path / "plain"), load_checkpoint(tmp_path / "observed")
    for (name, x), (_, y) in zip(a.model.named_arrays(), b.model.named_arrays(), strict=True):
        assert np.array_equal(x, y), name


def test_a_failing_callback_stops_cleanly_naming_it_with_the_last_epoch_saved(tmp_path):
    with pytest.raises(CallbackError, match=r"callback Recorder\.on_epoch_end failed: "
                                            r"ZeroDivisionError: the user's bug"):
        train(tmp_path / "run", 5, [Recorder(fail_at=3)])
    saved = load_checkpoint(tmp_path / "run")
    assert saved.state.epoch == 3  # the epoch was complete when the callback saw it
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_callback_is_public_and_its_documented_example_logs_every_epoch(tmp_path, caplog):
    import doctest
    import logging

    import mlp
    from mlp import callbacks

    assert mlp.Callback is Callback and "Callback" in mlp.__all__
    namespace: dict = {}
    examples = doctest.DocTestParser().get_examples(callbacks.Callback.__doc__)
    assert examples  # the docstring shows how
    for example in examples:
        exec(example.source, namespace)
    with caplog.at_level(logging.INFO, logger="my_runs"):
        train(tmp_path / "run", 3, [namespace["callback"]])
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "epoch 1", "epoch 2", "epoch 3"]

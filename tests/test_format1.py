"""Checkpoints of format 1, written by release 0.1.0, keep loading and resuming bit-exactly."""

from __future__ import annotations

import shutil

import numpy as np
from fixtures.format1 import EPOCHS, FOLDER, make_data

from mlp import BasicRoutinizer, load_checkpoint


def test_a_format1_checkpoint_loads_with_everything_it_holds():
    checkpoint = load_checkpoint(FOLDER / "last.h5")
    assert checkpoint.format_version == 1
    assert checkpoint.state.epoch == 3
    assert checkpoint.classes.tolist() == ["ant", "bee", "cat"]
    assert checkpoint.normalizer.method == "zscore"
    assert len(checkpoint.history) == 3
    assert checkpoint.routinizer.optimizer == "adam"
    data = make_data()
    assert checkpoint.predict(data.X_val[:4] * 0 + 10.0).shape == (4,)


def test_a_format1_checkpoint_resumes_bit_identical_to_the_uninterrupted_run(tmp_path):
    shutil.copyfile(FOLDER / "last.h5", tmp_path / "last.h5")
    routinizer, model = BasicRoutinizer.resume(tmp_path)
    routinizer.checkpoint_dir = tmp_path
    routinizer.epochs = EPOCHS
    routinizer.run(model, make_data())

    final = load_checkpoint(FOLDER / "final.h5")
    for (name, expected), (_, found) in zip(final.model.named_arrays(), model.named_arrays(),
                                            strict=True):
        assert np.array_equal(expected, found), name
    assert routinizer.history.train_loss == final.history.train_loss

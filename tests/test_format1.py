"""Checkpoints of format 1, written by release 0.1.0, keep loading and resuming bit-exactly."""

from __future__ import annotations

import shutil

import numpy as np
from fixtures.format1 import EPOCHS, FOLDER, make_data, make_model, make_routinizer

from mlp import BasicRoutinizer, load_checkpoint


def test_a_format1_checkpoint_loads_with_everything_it_holds():
    checkpoint = load_checkpoint(FOLDER / "last.h5")
    assert checkpoint.format_version == 1
    assert checkpoint.state.epoch == 3
    assert checkpoint.classes.tolist() == ["ant", "bee", "cat"]
    assert checkpoint.normalizer.method == "zscore"
    assert len(checkpoint.history) == 3
    assert checkpoint.routinizer.optimizer == "adam"
    assert checkpoint.optimizer_state.keys() == {"m", "v"}  # the Layers' moments, moved
    assert checkpoint.optimizer_state["m"]["0/weight"].any()
    data = make_data()
    assert checkpoint.predict(data.X_val[:4] * 0 + 10.0).shape == (4,)


def _resume(source, folder, epochs):
    folder.mkdir()
    shutil.copyfile(source, folder / "last.h5")
    routinizer, model = BasicRoutinizer.resume(folder)
    routinizer.epochs = epochs
    routinizer.run(model, make_data())
    return routinizer, model


def _same(a, b):
    return all(np.array_equal(x, y) for (_, x), (_, y) in zip(a.named_arrays(), b.named_arrays(),
                                                             strict=True))


def test_a_format1_checkpoint_resumes_bit_identical_to_the_uninterrupted_run(tmp_path):
    """Resumed to 6 epochs, the format-1 file ends where release 0.1.0's uninterrupted run
    ended (``final.h5``), bit for bit where this machine's BLAS kernels are those that wrote
    the fixture (a fresh run reproduces ``last.h5`` exactly, weights and losses), and to
    float32 rounding otherwise; and resuming it in two steps, through a file of today's
    format, gives the same bits as one step."""
    routinizer, model = _resume(FOLDER / "last.h5", tmp_path / "straight", EPOCHS)
    final = load_checkpoint(FOLDER / "final.h5")
    fresh = make_model()
    fresh_losses = make_routinizer(3, tmp_path / "fresh").run(fresh, make_data()).train_loss
    last = load_checkpoint(FOLDER / "last.h5")
    # the same BLAS kernels and the same NumPy arithmetic (NumPy 1 computes some float32
    # reductions' last bits otherwise)
    same_kernels = _same(fresh, last.model) and fresh_losses == last.history.train_loss
    for (name, expected), (_, found) in zip(final.model.named_arrays(), model.named_arrays(),
                                            strict=True):
        if same_kernels:
            assert np.array_equal(expected, found), name
        else:
            np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6, err_msg=name)
    if same_kernels:
        assert routinizer.history.train_loss == final.history.train_loss
    else:
        np.testing.assert_allclose(routinizer.history.train_loss, final.history.train_loss,
                                   rtol=1e-5)

    first, _ = _resume(FOLDER / "last.h5", tmp_path / "first", EPOCHS - 1)
    assert load_checkpoint(tmp_path / "first" / "last.h5").format_version == 2
    second, chained = _resume(tmp_path / "first" / "last.h5", tmp_path / "second", EPOCHS)
    assert _same(chained, model)
    assert second.history.train_loss == routinizer.history.train_loss

"""BasicRoutinizer end to end: accuracy figures, early stopping, divergence, live curves."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from pydantic import ValidationError

from mlp import BasicRoutinizer, DataError, History, Model, TrainingDiverged, load_checkpoint
from preprocess import Data

pytest.importorskip("sklearn")


def test_digits_test_accuracy_reaches_98_percent():
    data = Data.from_sklearn("digits", test_fraction=0.25, seed=0)
    data.augment_shift((8, 8)).normalize("zscore")
    model = Model.mlp([64, 256, 10], dropout=0.2, seed=0)
    routinizer = BasicRoutinizer(epochs=25, batch_size=32, lr=1e-3, weight_decay=1e-4,
                                 loss={"kind": "cross_entropy", "label_smoothing": 0.1},
                                 schedule={"kind": "cosine", "min_lr": 1e-5}, progress=False)
    routinizer.run(model, data)
    scores = routinizer.evaluate(model, data.X_test, data.y_test)
    assert scores["n"] == 450
    assert scores["accuracy"] >= 0.98


def test_iris_test_accuracy_reaches_96_percent():
    data = Data.from_sklearn("iris", test_fraction=0.25, seed=0).normalize("zscore")
    model = Model.mlp([4, 20, 3], init="xavier", seed=0)
    routinizer = BasicRoutinizer(epochs=150, batch_size=8, lr=3e-3, progress=False)
    routinizer.run(model, data)
    assert routinizer.evaluate(model, data.X_test, data.y_test)["accuracy"] >= 0.96


def test_sin_fit_mean_absolute_error_below_001():
    data = Data.sin(n_train=64, n_val=256, interval=(0.0, 1.0))
    model = Model.mlp([1, 30, 20, 1], nonlinearity="sigmoid", init="xavier", dtype="float64")
    routinizer = BasicRoutinizer(epochs=3000, batch_size=None, lr=0.01, loss="mae",
                                 schedule={"kind": "cosine", "min_lr": 1e-4}, progress=False)
    history = routinizer.run(model, data)
    assert history.train_accuracy[-1] is None and history.val_accuracy[-1] is None
    mae = np.abs(model.predict_logits(data.X_val) - data.y_val).mean()
    assert mae < 0.01
    assert routinizer.evaluate(model, data.X_val, data.y_val)["loss"] == pytest.approx(mae)


def test_image_folder_trains_and_predicts_folder_names(image_folder):
    data = Data.from_image_folder(image_folder).split_validation(0.25, seed=0)
    data.normalize("zscore")
    assert set(data.classes) == {"bar", "cross", "ring"} and data.image_shape == (12, 12)
    model = Model.mlp([144, 32, 3], seed=0)
    routinizer = BasicRoutinizer(epochs=20, batch_size=16, lr=3e-3, progress=False)
    history = routinizer.run(model, data)
    assert history.val_accuracy[-1] > 0.9
    labels = data.decode(model.predict(data.X_val))
    assert (labels == data.classes[data.y_val]).mean() > 0.9


def _small_classification(seed: int = 0, n: int = 200) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return Data(X, y).split_validation(0.25, seed=0)


def test_early_stopping_restores_the_best_weights():
    data = _small_classification()
    model = Model.mlp([5, 64, 64, 2], seed=0)
    # a large lr overfits quickly, so validation loss turns up and training stops early
    routinizer = BasicRoutinizer(epochs=200, batch_size=8, lr=0.01, early_stopping=3,
                                 progress=False)
    history = routinizer.run(model, data)
    assert len(history) < 200
    assert routinizer.state.stopped_early
    best = min(history.val_loss)
    assert history.val_loss[-1] > best
    assert routinizer.evaluate(model, data.X_val, data.y_val)["loss"] == pytest.approx(best,
                                                                                     rel=1e-6)


def test_target_loss_stops_training():
    data = _small_classification()
    routinizer = BasicRoutinizer(epochs=100, batch_size=16, lr=0.01, target_loss=0.3,
                                 progress=False)
    history = routinizer.run(Model.mlp([5, 16, 2]), data)
    assert len(history) < 100 and history.val_loss[-1] <= 0.3


def test_huge_learning_rate_raises_training_diverged():
    data = _small_classification()
    routinizer = BasicRoutinizer(epochs=50, batch_size=16, lr=1e6, optimizer="sgd",
                                 progress=False)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+, step \d+"):
        routinizer.run(Model.mlp([5, 32, 2]), data)


def test_history_columns_and_json():
    data = _small_classification()
    routinizer = BasicRoutinizer(epochs=3, batch_size=32, progress=False,
                                 schedule={"kind": "step", "step_size": 1, "gamma": 0.5})
    history = routinizer.run(Model.mlp([5, 8, 2]), data)
    assert history.epoch == [1, 2, 3]
    assert history.lr == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert all(0 <= a <= 1 for a in history.val_accuracy)
    assert History.model_validate_json(history.model_dump_json()) == history
    assert routinizer.state.step == 3 * 5  # 150 training samples, batches of 32


def test_run_again_with_more_epochs_continues():
    data = _small_classification()
    model = Model.mlp([5, 8, 2])
    routinizer = BasicRoutinizer(epochs=2, progress=False)
    routinizer.run(model, data)
    routinizer.epochs = 4
    history = routinizer.run(model, data)
    assert history.epoch == [1, 2, 3, 4]


def test_dynamic_show_under_agg_writes_both_curves(tmp_path):
    data = _small_classification()
    routinizer = BasicRoutinizer(epochs=4, progress=False, dynamic_show=True, plot_every=2,
                                 checkpoint_dir=tmp_path / "run")
    routinizer.run(Model.mlp([5, 8, 2]), data)
    image = matplotlib.image.imread(tmp_path / "run" / "curves.png")[..., :3]
    from mlp.plotting.figures import TRAIN_COLOR, VAL_COLOR

    for colour in (TRAIN_COLOR, VAL_COLOR):
        distance = np.abs(image - np.array(to_rgb(colour))).sum(axis=-1)
        assert (distance < 0.05).sum() > 20, colour


def test_data_and_loss_mismatches_raise_data_error():
    data = _small_classification()
    with pytest.raises(DataError, match="takes 4 features.*has 5"):
        BasicRoutinizer(epochs=1, progress=False).run(Model.mlp([4, 2]), data)
    with pytest.raises(DataError, match="mse needs regression data"):
        BasicRoutinizer(epochs=1, loss="mse", progress=False).run(Model.mlp([5, 2]), data)


def test_class_indices_changed_after_construction_are_checked_once_before_training():
    """The loss skips its per-batch range check in training; the trainer checks instead."""
    data = _small_classification()
    model = Model.mlp([5, 2], seed=0)
    before = [a.copy() for _, a in model.named_arrays()]
    data.y_train = data.y_train.copy()
    data.y_train[3] = 2  # a third class for a two-output model
    with pytest.raises(DataError, match=r"y_train must hold class indices in \[0, 1\]"):
        BasicRoutinizer(epochs=1, progress=False).run(model, data)
    assert all(np.array_equal(a, b) for a, (_, b) in zip(before, model.named_arrays(),
                                                           strict=True))


@pytest.mark.parametrize(
    "field",
    [{"lr": 0}, {"epochs": 0}, {"beta1": 1.0}, {"beta2": -0.1}, {"batch_size": 0},
     {"optimizer": "adagrad"}, {"schedule": {"kind": "exp"}}, {"loss": "hinge"},
     {"momentum": 1.5}, {"unknown": 1}],
)
def test_bad_hyperparameters_raise_validation_error(field):
    with pytest.raises(ValidationError):
        BasicRoutinizer(**field)


def test_routinizer_json_round_trip():
    routinizer = BasicRoutinizer(optimizer="nesterov", schedule={"kind": "plateau",
                                 "patience": 2}, loss={"kind": "cross_entropy",
                                                       "label_smoothing": 0.1})
    again = BasicRoutinizer.model_validate_json(routinizer.model_dump_json())
    assert again == routinizer


@pytest.mark.parametrize("threads", [1, 2])
def test_steady_state_training_allocates_nothing_per_batch(threads):
    """After a first epoch has made every buffer, a whole further run (warm-up, 30 batches,
    the epoch's bookkeeping) stays under 64 KiB of Python-traced allocation at its peak."""
    import tracemalloc

    from mlp.nn.fused import Kernels

    rng = np.random.default_rng(0)
    data = Data(rng.random((30 * 128, 784), dtype=np.float32), rng.integers(0, 10, 30 * 128))
    model = Model.mlp([784, 256, 10], seed=0)  # past the ReLU-kernel and split thresholds
    routinizer = BasicRoutinizer(epochs=1, batch_size=128, optimizer="adam", progress=False)
    routinizer.use_kernels(Kernels(threads=threads))
    routinizer.run(model, data)
    routinizer.epochs = 2
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        routinizer.run(model, data)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"the run allocated {peak} bytes at its peak"


def test_last_checkpoint_records_an_early_stop_and_a_resume_starts_a_new_segment(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.integers(0, 2, 200)
    data = Data(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    routinizer = BasicRoutinizer(epochs=100, early_stopping=2, lr=0.05, progress=False,
                                 checkpoint_dir=tmp_path, save_every_epochs=1)
    routinizer.run(Model.mlp([4, 16, 2]), data)
    assert routinizer.state.stopped_early and routinizer.state.epoch < 100
    assert load_checkpoint(tmp_path / "last.h5").state.stopped_early
    resumed, model = BasicRoutinizer.resume(tmp_path)
    resumed.early_stopping = None
    resumed.epochs = resumed.state.epoch + 2
    resumed.run(model, data)
    assert not resumed.state.stopped_early
    assert not load_checkpoint(tmp_path / "last.h5").state.stopped_early

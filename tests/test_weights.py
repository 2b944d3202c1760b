"""Per-sample weights: the weighted-mean losses against finite differences and closed forms,
their path through ``Data`` (shuffle, split, augment, batches, save/load, fingerprints), the
trainer, and resume."""

from __future__ import annotations

import numpy as np
import pytest

from mlp import BasicRoutinizer, CheckpointError, DataError, Loss, Model
from preprocess import Data

CASES = [
    ("cross_entropy", 0.0, "index"),
    ("cross_entropy", 0.1, "index"),
    ("cross_entropy", 0.1, "proba"),
    ("mse", 0.0, "real"),
    ("mae", 0.0, "real"),
    ("bce", 0.0, "binary"),
]


def _targets(kind: str, rng: np.random.Generator, n: int = 7, c: int = 3) -> np.ndarray:
    return {"index": rng.integers(0, c, n), "proba": rng.dirichlet(np.ones(c), size=n),
            "real": rng.normal(size=(n, c)),
            "binary": rng.integers(0, 2, size=(n, c)).astype(float)}[kind]


@pytest.mark.parametrize("kind, smoothing, target_kind", CASES)
def test_weighted_loss_gradient_matches_finite_differences(kind, smoothing, target_kind):
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(7, 3)), _targets(target_kind, rng)
    weight = rng.uniform(0.0, 3.0, size=7)
    weight[2] = 0.0  # a zero weight is allowed and contributes nothing
    loss = Loss(kind=kind, label_smoothing=smoothing)
    loss.forward(pred, target, weight)
    analytic = loss.backward().copy()
    numeric = np.empty_like(pred)
    eps = 1e-6
    for index in np.ndindex(pred.shape):
        shifted = pred.copy()
        shifted[index] += eps
        plus = loss.forward(shifted, target, weight)
        shifted[index] -= 2 * eps
        minus = loss.forward(shifted, target, weight)
        numeric[index] = (plus - minus) / (2 * eps)
    error = np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic)
                                                  + np.linalg.norm(numeric))
    assert error < 1e-6
    assert np.all(analytic[2] == 0.0)


@pytest.mark.parametrize("kind, smoothing, target_kind", CASES)
def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses(kind, smoothing, target_kind):
    rng = np.random.default_rng(1)
    pred, target = rng.normal(size=(7, 3)), _targets(target_kind, rng)
    weight = rng.uniform(0.5, 2.0, size=7)
    loss = Loss(kind=kind, label_smoothing=smoothing)
    per_sample = np.array([loss.forward(pred[i:i + 1], target[i:i + 1]) for i in range(7)])
    expected = float(per_sample @ weight / weight.sum())
    assert loss.forward(pred, target, weight) == pytest.approx(expected, rel=1e-12)
    # integer weights are repeated rows, and equal weights are the unweighted loss
    counts = np.array([1, 0, 2, 3, 1, 1, 2])
    repeated = loss.forward(np.repeat(pred, counts, axis=0), np.repeat(target, counts, axis=0))
    assert loss.forward(pred, target, counts) == pytest.approx(repeated, rel=1e-12)
    assert loss.forward(pred, target, np.full(7, 4.0)) == pytest.approx(
        loss.forward(pred, target), rel=1e-12)


def test_bad_weights_name_expected_and_found():
    loss = Loss(kind="mse")
    pred = np.zeros((4, 2))
    with pytest.raises(DataError, match=r"shape \(4,\)"):
        loss.forward(pred, pred, np.ones(3))
    with pytest.raises(DataError, match="non-negative with a positive sum"):
        loss.forward(pred, pred, np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(DataError, match="positive sum"):
        loss.forward(pred, pred, np.zeros(4))


def test_weights_follow_their_rows_through_data_transforms(tmp_path):
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.repeat([0, 1], 10)
    w = np.arange(1, 21, dtype=np.float64)
    data = Data(X, y, w_train=w)
    data.shuffle(3)
    assert np.array_equal(data.w_train, data.X_train[:, 0] / 2 + 1)  # row r has weight r + 1
    data.split_validation(0.2, seed=1)
    assert np.array_equal(data.w_val, data.X_val[:, 0] / 2 + 1)
    assert np.array_equal(data.w_train, data.X_train[:, 0] / 2 + 1)
    seen = []
    for X_batch, _, w_batch in data.weighted_batches(5, np.random.default_rng(0)):
        assert np.array_equal(w_batch, X_batch[:, 0] / 2 + 1)
        seen.extend(w_batch.tolist())
    assert sorted(seen) == sorted(data.w_train.tolist())
    assert data.astype("float32").w_train is data.w_train
    loaded = Data.load(data.save(tmp_path / "data.h5"))
    assert np.array_equal(loaded.w_train, data.w_train)
    assert np.array_equal(loaded.w_val, data.w_val)


def test_class_weight_balanced_and_dict():
    y = np.array(["a"] * 6 + ["b"] * 2)
    X = np.zeros((8, 1))
    balanced = Data(X, y, class_weight="balanced")
    assert np.allclose(balanced.w_train, np.r_[np.full(6, 8 / 12), np.full(2, 8 / 4)])
    weighted = Data(X, y, w_train=np.full(8, 2.0), class_weight={"b": 5.0})
    assert np.array_equal(weighted.w_train, np.r_[np.full(6, 2.0), np.full(2, 10.0)])
    with pytest.raises(DataError, match="class_weight names label 'c'"):
        Data(X, y, class_weight={"c": 1.0})
    with pytest.raises(DataError, match="w_train must be 8"):
        Data(X, y, w_train=np.ones(7))


def test_known_classes_allow_a_split_that_lacks_some():
    data = Data(np.zeros((3, 1)), np.array([2, 2, 5]), classes=np.array([1, 2, 5]))
    assert data.classes.tolist() == [1, 2, 5] and data.y_train.tolist() == [1, 1, 2]
    with pytest.raises(DataError, match=r"only the classes \[1, 2, 5\], found \[7\]"):
        Data(np.zeros((2, 1)), np.array([2, 7]), classes=np.array([1, 2, 5]))


def test_weighted_normalizer_counts_a_weight_as_repeated_rows():
    rng = np.random.default_rng(2)
    X, counts = rng.normal(size=(9, 3)), rng.integers(0, 4, size=9)
    counts[0] = 0
    weighted = Data(X, np.zeros((9, 1)), w_train=counts).normalize("zscore").normalizer
    repeated = Data(np.repeat(X, counts, axis=0), np.zeros((counts.sum(), 1))).normalize(
        "zscore").normalizer
    assert np.allclose(weighted.offset, repeated.offset, rtol=1e-12)
    assert np.allclose(weighted.scale, repeated.scale, rtol=1e-12)


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(scale=2.0, size=(3, 4))[y] + rng.normal(size=(n, 4)), y


def test_training_with_integer_weights_equals_repeated_rows_full_batch():
    X, y = _blobs()
    counts = np.random.default_rng(1).integers(0, 3, size=y.size)
    results = []
    for data in (Data(X, y, w_train=counts), Data(np.repeat(X, counts, axis=0),
                                                   np.repeat(y, counts))):
        model = Model.mlp([4, 8, 3], seed=0, dtype="float64")
        BasicRoutinizer(epochs=20, batch_size=None, lr=0.01, progress=False,
                        shuffle=False).run(model, data)
        results.append(model.predict_logits(X))
    assert np.allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


def test_resume_refuses_other_weights(tmp_path):
    X, y = _blobs()
    w = np.linspace(0.5, 1.5, y.size)
    model = Model.mlp([4, 8, 3], seed=0)
    BasicRoutinizer(epochs=2, progress=False, checkpoint_dir=tmp_path).run(
        model, Data(X, y, w_train=w))
    assert Data(X, y, w_train=w).fingerprint() != Data(X, y).fingerprint()
    routinizer, model = BasicRoutinizer.resume(tmp_path)
    routinizer.epochs = 3
    with pytest.raises(CheckpointError, match="training data differ"):
        routinizer.run(model, Data(X, y, w_train=w[::-1].copy()))
    routinizer.run(model, Data(X, y, w_train=w))
    assert routinizer.state.epoch == 3

"""Data: validation messages, label encoding, splits, normalisation, augmentation, batches,
loaders, HDF5 round trip, fingerprints."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlp import DataError
from preprocess import Data
from preprocess.loaders import read_inputs


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"X_train": np.zeros(5), "y_train": np.zeros(5)}, "must be 2-D.*found 1-D"),
        ({"X_train": np.array([[0.0, np.nan], [1.0, np.inf]]), "y_train": [0, 1]},
         "finite, found 2 NaN or inf"),
        ({"X_train": np.zeros((3, 2)), "y_train": [0, 1]}, "3 samples, y_train has 2"),
        ({"X_train": np.zeros((2, 2)), "y_train": [0, 1], "X_val": np.zeros((1, 3)),
          "y_val": [0]}, "training width 2.*'val': 3"),
        ({"X_train": np.zeros((3, 2)), "y_train": ["a", "a", "a"]}, "at least 2 classes, found 1"),
        ({"X_train": np.zeros((2, 2)), "y_train": [0, 1], "X_val": np.zeros((1, 2))},
         "X_val and y_val go together"),
        ({"X_train": np.array([["a", "b"]]), "y_train": [0]}, "must be numeric"),
    ],
)
def test_construction_errors_name_expected_and_found(kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        Data(**kwargs)


def test_labels_encode_and_decode_with_strings_and_ints():
    data = Data(np.zeros((4, 1)), np.array(["cat", "dog", "cat", "ant"]))
    assert list(data.classes) == ["ant", "cat", "dog"]
    np.testing.assert_array_equal(data.y_train, [1, 2, 1, 0])
    assert list(data.decode([2, 0])) == ["dog", "ant"]
    ints = Data(np.zeros((3, 1)), [10, 30, 20])
    assert ints.n_classes == 3 and list(ints.decode(ints.y_train)) == [10, 30, 20]


def test_task_detection_and_dtypes():
    regression = Data(np.zeros((3, 2), dtype=np.float32), np.zeros((3, 1)))
    assert regression.task == "regression" and regression.n_outputs == 1
    X = np.ones((3, 2), dtype=np.float32)
    assert Data(X, [0, 1, 0]).X_train is X  # float32 kept, no copy
    assert Data(np.ones((3, 2), dtype=np.int64), [0, 1, 0]).X_train.dtype == np.float32
    one_d = Data(np.zeros((3, 1)), np.array([0.5, 1.0, 2.0]), task="regression")
    assert one_d.y_train.shape == (3, 1)


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    data = Data(np.arange(100.0).reshape(-1, 1), y).split_validation(0.25, seed=1)
    assert len(data) == 75 and data.X_val.shape[0] == 25
    assert np.bincount(data.y_val).tolist() == [20, 5]
    assert not set(data.X_val[:, 0]) & set(data.X_train[:, 0])
    with pytest.raises(DataError, match="already has a val split"):
        data.split_validation(0.1)
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\), found 1.5"):
        Data(np.zeros((4, 1)), [0, 1, 0, 1]).split_test(1.5)


def test_normalize_uses_training_statistics_only():
    X_train = np.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    data = Data(X_train, [0, 1, 0], X_test=np.array([[8.0, 7.0]]), y_test=[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.normalize("zscore")
    np.testing.assert_allclose(data.X_train[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(data.X_train[:, 1], 0)  # constant feature: 0, no warning
    np.testing.assert_allclose(data.X_test, [[(8 - 2) / np.std([0, 2, 4]), 2.0]])
    np.testing.assert_allclose(data.normalizer.apply(np.array([[2.0, 5.0]])), [[0.0, 0.0]])
    with pytest.raises(DataError, match="already normalised"):
        data.normalize()
    minmax = Data(X_train.copy(), [0, 1, 0]).normalize("minmax")
    np.testing.assert_allclose(minmax.X_train[:, 0], [0, 0.5, 1])


def test_augment_shift_adds_four_shifted_copies():
    image = np.zeros((3, 3))
    image[1, 1] = 1.0
    data = Data(image.reshape(1, 9).repeat(2, 0), [0, 1]).augment_shift((3, 3))
    assert len(data) == 10 and data.y_train.tolist() == [0, 1] * 5
    up, down, left, right = (data.X_train[k * 2].reshape(3, 3) for k in range(1, 5))
    assert up[0, 1] == 1 and down[2, 1] == 1 and left[1, 0] == 1 and right[1, 2] == 1
    with pytest.raises(DataError, match="needs 16 features, found 9"):
        data.augment_shift((4, 4))


def test_batches_cover_every_sample_once_and_are_reproducible():
    data = Data(np.arange(20.0).reshape(10, 2), np.arange(10) % 2)
    seen = [b[0][:, 0].copy() for b in data.batches(4, np.random.default_rng(3))]
    assert [len(b) for b in seen] == [4, 4, 2]
    assert sorted(np.concatenate(seen)) == list(range(0, 20, 2))
    again = [b[0][:, 0].copy() for b in data.batches(4, np.random.default_rng(3))]
    assert all(np.array_equal(a, b) for a, b in zip(seen, again, strict=True))
    # exactly one permutation is drawn from the generator
    rng, reference = np.random.default_rng(3), np.random.default_rng(3)
    list(data.batches(4, rng))
    order = reference.permutation(10)
    np.testing.assert_array_equal(seen[0], data.X_train[order[:4], 0])
    assert rng.random() == reference.random()
    assert [len(b[0]) for b in data.batches(None)] == [10]


def test_from_csv_with_header_and_string_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n")
    data = Data.from_csv(path, target="species")
    assert data.X_train.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert list(data.classes) == ["setosa", "virginica"]
    with pytest.raises(DataError, match="'kind' not in header"):
        Data.from_csv(path, target="kind")


def test_from_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
    assert Data.from_npz(path).X_train.shape == (4, 3)
    with pytest.raises(DataError, match="expected arrays 'inputs'"):
        Data.from_npz(path, x_key="inputs")


def test_from_image_folder_and_read_inputs(image_folder):
    data = Data.from_image_folder(image_folder)
    assert data.image_shape == (12, 12) and data.X_train.shape == (120, 144)
    assert list(data.classes) == ["bar", "cross", "ring"]
    assert data.X_train.dtype == np.float32 and 0 <= data.X_train.min() <= data.X_train.max() <= 1
    X = read_inputs([image_folder / "bar" / "0.png", image_folder / "ring" / "1.bmp"], (12, 12))
    assert X.shape == (2, 144)
    from PIL import Image

    Image.new("L", (5, 5)).save(image_folder / "bar" / "odd.png")
    with pytest.raises(DataError, match="odd.png: image size 5x5 differs from the expected 12x12"):
        Data.from_image_folder(image_folder)


def test_read_inputs_npy_and_csv(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3.0))
    assert read_inputs([tmp_path / "x.npy"]).shape == (1, 3)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,4\n")
    assert read_inputs([tmp_path / "x.csv"]).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DataError, match="expected a .npy, .csv or image file"):
        read_inputs([tmp_path / "x.txt"])


def test_from_sklearn_digits_split():
    pytest.importorskip("sklearn")
    data = Data.from_sklearn("digits", test_fraction=0.25, seed=0)
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert data.image_shape == (8, 8)
    with pytest.raises(DataError, match="unknown scikit-learn data set 'mnist'"):
        Data.from_sklearn("mnist")


def test_sin():
    data = Data.sin(n_train=64, n_val=100)
    assert data.X_train.shape == (64, 1) and data.y_val.shape == (100, 1)
    assert data.X_train.dtype == np.float64 and data.task == "regression"
    np.testing.assert_allclose(data.y_val, np.sin(2 * np.pi * data.X_val))
    assert 0 <= data.X_train.min() and data.X_train.max() <= 1


def test_save_load_round_trip(tmp_path):
    data = Data(np.random.default_rng(0).normal(size=(6, 2)), ["b", "a", "b", "c", "a", "c"])
    data.split_validation(0.5, seed=0).normalize()
    loaded = Data.load(data.save(tmp_path / "d.h5"))
    for name in ("X_train", "y_train", "X_val", "y_val"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(data, name))
    assert [type(c) for c in loaded.classes.tolist()] == [str] * 3
    np.testing.assert_array_equal(loaded.normalizer.offset, data.normalizer.offset)
    assert loaded.task == "classification"


def test_fingerprint_changes_with_one_value_and_astype_shares_arrays():
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    data = Data(X, [0, 1, 0, 1, 0])
    before = data.fingerprint()
    assert data.astype("float32") is data
    assert data.astype("float64").X_train.dtype == np.float64
    data.X_train[2, 1] += 1
    assert data.fingerprint()["sha256"] != before["sha256"]

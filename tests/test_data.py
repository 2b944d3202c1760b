"""Data: validation messages, dtypes, label encoding, splits, normalisation, augmentation,
batches, loaders, HDF5 round trip, fingerprints."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pydantic
import pytest
from PIL import Image

from mlp.errors import DataError
from preprocess import Data, Normalizer
from preprocess.loaders import read_inputs

Z = np.zeros


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"X_train": Z(5), "y_train": Z(5)}, ["X_train", "ndim 2", "found ndim 1"]),
        ({"X_train": Z((2, 2)), "y_train": [0, 1],
          "X_val": np.array([[np.nan, np.inf], [np.nan, 0.0]]), "y_val": [0, 1]},
         ["X_val must be finite", "2 NaN", "1 inf"]),
        ({"X_train": Z((3, 2)), "y_train": [0, 1]},
         ["3 samples in X_train", "2 targets in y_train"]),
        ({"X_train": Z((2, 2)), "y_train": [0, 1], "X_test": Z((1, 3)), "y_test": [0]},
         ["2 features of X_train", "3 in X_test"]),
        ({"X_train": Z((3, 2)), "y_train": ["a", "a", "a"]},
         ["at least 2 classes", "found 1: 'a'"]),
        ({"X_train": Z((2, 2)), "y_train": [0, 1], "X_val": Z((1, 2))},
         ["X_val and y_val go together", "only X_val"]),
        ({"X_train": np.array([["a", "b"]]), "y_train": [0]}, ["numeric", "found dtype <U1"]),
        ({"X_train": Z((2, 1)), "y_train": Z((2, 1, 1)), "task": "regression"},
         ["y_train", "ndim 2", "found ndim 3"]),
        ({"X_train": Z((2, 1)), "y_train": np.array([[0.0], [np.nan]])},
         ["y_train must be finite", "1 NaN"]),
        ({"X_train": Z((2, 1)), "y_train": [0, 1], "task": "ranking"},
         ["'classification'", "found 'ranking'"]),
        ({"X_train": Z((2, 2)), "y_train": [0, 1], "X_val": Z((0, 2)), "y_val": []},
         ["val split needs at least 1 sample", "found 0"]),
        ({"X_train": Z((2, 6)), "y_train": [0, 1], "image_shape": (2, 2)},
         ["6 features", "found (2, 2)"]),
        ({"X_train": Z((2, 1)), "y_train": np.array([1, "a"], dtype=object)},
         ["mutually sortable", "object"]),
        ({"X_train": Z((2, 1)), "y_train": ["a", "b"], "X_val": Z((1, 1)), "y_val": [1]},
         ["need one kind", "y_train: <U1, y_val: int64"]),
    ],
)
def test_construction_errors_name_expected_and_found(kwargs, needles):
    with pytest.raises(DataError) as error:
        Data(**kwargs)
    for needle in needles:
        assert needle in str(error.value)


def test_dtypes_contiguity_and_task_detection():
    X32 = np.ones((3, 2), dtype=np.float32)
    X64 = np.ones((3, 2))
    assert Data(X32, [0, 1, 0]).X_train is X32  # no copy of a ready float array
    assert Data(X64, [0, 1, 0]).X_train is X64
    assert Data(np.ones((3, 2), dtype=np.int64), [0, 1, 0]).X_train.dtype == np.float32
    assert Data(np.ones((3, 2), dtype=bool), [0, 1, 0]).X_train.dtype == np.float32
    fortran = Data(np.asfortranarray(np.arange(6.0).reshape(3, 2)), [0, 1, 0]).X_train
    assert fortran.flags.c_contiguous and fortran.tolist() == [[0, 1], [2, 3], [4, 5]]
    regression = Data(X32, np.zeros((3, 1), dtype=np.float32))
    assert regression.task == "regression" and regression.y_train.dtype == np.float32
    assert regression.n_outputs == 1 and regression.n_classes == 0
    one_d = Data(X64, np.array([0.5, 1.0, 2.0]), task="regression")
    assert one_d.y_train.shape == (3, 1)
    assert Data(X64, np.array([0.5, 1.0, 0.5])).task == "classification"


def test_labels_encode_and_decode_with_strings_ints_and_numpy_bytes():
    data = Data(Z((4, 1)), np.array(["cat", "dog", "cat", "ant"]), X_val=Z((1, 1)),
                y_val=["eel"])
    assert data.classes.tolist() == ["ant", "cat", "dog", "eel"]  # union of every split
    assert data.y_train.dtype == np.int64 and data.y_train.tolist() == [1, 2, 1, 0]
    assert data.decode([2, 3]).tolist() == ["dog", "eel"]
    assert data.classes[data.y_val].tolist() == ["eel"] and data.n_classes == 4
    ints = Data(Z((3, 1)), [10, 30, 20])
    assert ints.decode(ints.y_train).tolist() == [10, 30, 20]
    raw = Data(Z((2, 1)), np.array([b"y", b"x"]))
    assert raw.decode([0, 1]).tolist() == [b"x", b"y"]
    with pytest.raises(DataError, match=r"integers in \[0, 2\], found dtype int64 with range"):
        ints.decode([0, 3])
    with pytest.raises(DataError, match="found a regression task"):
        Data(Z((2, 1)), Z((2, 1))).decode([0])


def test_stratified_split_keeps_class_proportions_and_every_sample():
    y = np.array([0] * 80 + [1] * 20)
    data = Data(np.arange(100.0).reshape(-1, 1), y).split_validation(0.25, seed=1)
    assert len(data) == 75 and data.X_val.shape == (25, 1)
    assert np.bincount(data.y_val).tolist() == [20, 5]
    assert np.bincount(data.y_train).tolist() == [60, 15]
    assert sorted([*data.X_val[:, 0], *data.X_train[:, 0]]) == list(range(100))
    np.testing.assert_array_equal(y[data.X_val[:, 0].astype(int)], data.y_val)  # rows aligned
    data.split_test(0.2, seed=0)
    assert data.X_test.shape[0] == 15 and np.bincount(data.y_test).tolist() == [12, 3]
    with pytest.raises(DataError, match="expected no val split yet, found one with 25 samples"):
        data.split_validation(0.1)
    with pytest.raises(DataError, match=r"fraction must be in \(0, 1\), found 1.5"):
        Data(Z((4, 1)), [0, 1, 0, 1]).split_test(1.5)
    plain = Data(np.arange(10.0).reshape(-1, 1), Z((10, 1))).split_validation(0.3, seed=2)
    assert plain.X_val.shape[0] == 3 and len(plain) == 7


def test_a_split_by_content_treats_a_weight_as_copies_and_keeps_duplicates_together():
    """A row of integer weight k is held out exactly when its k copies are, wherever the
    copies stand; the classes keep their proportions, and no sample is on both sides."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = np.arange(40) % 2
    weight = rng.integers(1, 5, size=40).astype(float)
    repeated = np.repeat(np.arange(40), weight.astype(int))
    rng.shuffle(repeated)
    for seed in range(5):
        weighted = Data(X, y, w_train=weight).split_validation(0.2, seed=seed, by_content=True)
        copies = Data(X[repeated], y[repeated]).split_validation(0.2, seed=seed,
                                                                 by_content=True)
        assert {tuple(row) for row in weighted.X_val} == {tuple(row) for row in copies.X_val}
        assert weighted.w_val.sum() == copies.X_val.shape[0]
        assert not {tuple(row) for row in copies.X_val} & {tuple(row) for row in copies.X_train}
        for code in (0, 1):  # the held-out weight of each class is 20% of it, rounded up to
            mass = weight[y == code].sum()  # the end of the last sample held out
            held = weighted.w_val[weighted.y_val == code].sum()
            assert round(0.2 * mass) <= held < round(0.2 * mass) + 4
    plain = Data(np.arange(50.0).reshape(-1, 1), np.arange(50) % 5)
    plain.split_validation(0.2, seed=0, by_content=True)
    assert np.bincount(plain.y_val).tolist() == [2] * 5 and len(plain) == 40
    other = Data(np.arange(50.0).reshape(-1, 1), np.arange(50) % 5)
    assert not np.array_equal(other.split_validation(0.2, seed=1, by_content=True).X_val,
                              plain.X_val)


def test_shuffle_permutes_rows_together():
    data = Data(np.arange(6.0).reshape(-1, 1), np.array([0, 1, 2, 0, 1, 2]))
    data.shuffle(4)
    order = np.random.default_rng(4).permutation(6)
    np.testing.assert_array_equal(data.X_train[:, 0], order)
    np.testing.assert_array_equal(data.y_train, order % 3)


def test_normalize_zscore_uses_training_statistics_only_without_warnings():
    X_train = np.array([[0.0, 0.1], [2.0, 0.1], [4.0, 0.1]])  # 0.1: a mean with round-off
    data = Data(X_train, [0, 1, 0], X_test=np.array([[8.0, 7.0]]), y_test=[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.normalize("zscore")
    std = np.std([0.0, 2.0, 4.0])
    np.testing.assert_allclose(data.X_train[:, 0], [-2 / std, 0, 2 / std])
    assert data.X_train[:, 1].tolist() == [0.0, 0.0, 0.0]  # constant feature: exactly 0
    np.testing.assert_allclose(data.X_test, [[(8 - 2) / std, 7.0 - 0.1]])
    with pytest.raises(DataError, match="found data already normalised with 'zscore'"):
        data.normalize()
    float32 = Data(X_train.astype(np.float32), [0, 1, 0]).normalize()
    assert float32.X_train.dtype == np.float32 and float32.X_train[:, 1].tolist() == [0, 0, 0]
    with pytest.raises(DataError, match="'zscore' or 'minmax', found 'l2'"):
        Data(X_train, [0, 1, 0]).normalize("l2")


def test_normalize_minmax_maps_training_range_to_unit_interval():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 5, size=(20, 3))
    X[:, 2] = 4.0
    data = Data(X, np.arange(20) % 2, X_val=X[:2] * 10, y_val=[0, 1]).normalize("minmax")
    np.testing.assert_allclose(data.X_train[:, :2].min(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(data.X_train[:, :2].max(axis=0), 1.0)
    assert (data.X_train[:, 2] == 0).all()
    low, high = X.min(axis=0), X.max(axis=0)
    np.testing.assert_allclose(data.X_val[:, :2], (X[:2, :2] * 10 - low[:2]) / (high - low)[:2])


def test_normalizer_json_and_arrays():
    normalizer = Normalizer.fit(np.array([[1.0, 2.0], [3.0, 2.0]]), "zscore")
    assert normalizer.model_dump_json() == '{"method":"zscore"}'
    arrays = normalizer.to_arrays()
    assert arrays["offset"].tolist() == [2.0, 2.0] and arrays["scale"].tolist() == [1.0, 1.0]
    again = Normalizer.from_arrays("zscore", **arrays)
    np.testing.assert_array_equal(again.apply(np.array([[5.0, 2.0]])), [[3.0, 0.0]])
    with pytest.raises(pydantic.ValidationError, match="1 bad scale"):
        Normalizer.from_arrays("zscore", np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(DataError, match=r"expects inputs \(N, 2\), found shape \(1, 3\)"):
        normalizer.apply(Z((1, 3)))


def test_augment_shift_adds_four_shifted_copies():
    image = np.zeros((3, 4), dtype=np.float32)
    image[1, 1] = 1.0
    data = Data(np.stack([image.ravel(), 2 * image.ravel()]), ["a", "b"])
    data.augment_shift((3, 4))
    assert data.X_train.shape == (10, 12) and data.X_train.dtype == np.float32
    assert data.decode(data.y_train).tolist() == ["a", "b"] * 5
    np.testing.assert_array_equal(data.X_train[0].reshape(3, 4), image)
    up, down, left, right = (data.X_train[2 * k + 1].reshape(3, 4) for k in range(1, 5))
    for shifted, (row, col) in zip((up, down, left, right), [(0, 1), (2, 1), (1, 0), (1, 2)],
                                   strict=True):
        expected = np.zeros((3, 4))
        expected[row, col] = 2.0  # the second image, moved by one pixel; the rest is zero
        np.testing.assert_array_equal(shifted, expected)
    with pytest.raises(DataError, match=r"image_shape \(4, 4\) needs 16 features, found 12"):
        data.augment_shift((4, 4))
    with pytest.raises(DataError, match=r"pixels must be an integer in \[1, 2\].*found 3"):
        data.augment_shift((3, 4), pixels=3)


def test_batches_cover_every_sample_once_and_are_reproducible():
    data = Data(np.arange(20.0).reshape(10, 2), np.arange(10))
    epoch = [(X.copy(), y.copy()) for X, y in data.batches(4, np.random.default_rng(3))]
    assert [len(X) for X, _ in epoch] == [4, 4, 2]
    assert sorted(np.concatenate([y for _, y in epoch]).tolist()) == list(range(10))
    for X, y in epoch:
        np.testing.assert_array_equal(X[:, 0], 2 * y)  # rows and labels stay together
    again = [y.copy() for _, y in data.batches(4, np.random.default_rng(3))]
    assert all(np.array_equal(a, y) for a, (_, y) in zip(again, epoch, strict=True))
    rng, reference = np.random.default_rng(7), np.random.default_rng(7)
    order = [y.copy() for _, y in data.batches(3, rng)]
    np.testing.assert_array_equal(np.concatenate(order), reference.permutation(10))
    assert rng.random() == reference.random()  # exactly one permutation was drawn
    assert [y.tolist() for _, y in data.batches(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(X) for X, _ in data.batches(None, np.random.default_rng(0))] == [10]
    [(X_all, y_all)] = data.batches(None)
    assert X_all is data.X_train and y_all is data.y_train  # full batch: no copy


def test_batches_reuse_their_buffers_and_check_batch_size():
    data = Data(np.random.default_rng(0).normal(size=(9, 3)), Z((9, 2)))
    first, second, last = (X for X, _ in data.batches(4, np.random.default_rng(0)))
    assert np.shares_memory(first, second) and np.shares_memory(first, last)
    assert last.shape == (1, 3) and last.flags.c_contiguous
    with pytest.raises(DataError, match="positive integer or None, found 0"):
        data.batches(0)


def test_from_csv_with_header_and_string_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n")
    data = Data.from_csv(path, target="species")
    assert data.X_train.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert data.classes.tolist() == ["setosa", "virginica"] and data.y_train.tolist() == [0, 1, 0]
    assert Data.from_csv(path).classes.tolist() == ["setosa", "virginica"]  # header detected
    plain = tmp_path / "plain.csv"
    plain.write_text("1,x,2\n3,y,4\n")
    headless = Data.from_csv(plain, target=1)
    assert headless.X_train.tolist() == [[1, 2], [3, 4]] and headless.classes.tolist() == ["x", "y"]
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("0.5;1.25\n1.5;-0.5\n")
    regression = Data.from_csv(numbers, delimiter=";")
    assert regression.task == "regression" and regression.y_train.tolist() == [[1.25], [-0.5]]
    with pytest.raises(DataError, match=r"target column 'kind' in the header, found \['a'"):
        Data.from_csv(path, target="kind")
    with pytest.raises(DataError, match=r"index must be in \[-3, 2\], found 3"):
        Data.from_csv(path, target=3)


def test_from_npz_flat_and_split_layouts(tmp_path):
    np.savez(tmp_path / "flat.npz", X=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
    assert Data.from_npz(tmp_path / "flat.npz").X_train.shape == (4, 3)
    np.savez(tmp_path / "split.npz", X_train=np.ones((4, 2)), y_train=[0, 1, 0, 1],
             X_val=np.ones((2, 2)), y_val=[1, 0])
    split = Data.from_npz(tmp_path / "split.npz")
    assert split.X_val.shape == (2, 2) and split.X_test is None
    with pytest.raises(DataError, match=r"expected arrays 'inputs' and 'y'.*found \['X', 'y'\]"):
        Data.from_npz(tmp_path / "flat.npz", x_key="inputs")
    np.savez(tmp_path / "objects.npz", X=np.array([{}, 1], dtype=object), y=[0, 1])
    with pytest.raises(DataError, match="no pickle"):
        Data.from_npz(tmp_path / "objects.npz")


def write_images(root: Path) -> dict[str, list[np.ndarray]]:
    """Two 3x4 (height x width) 8-bit images per label, as .bmp and .png."""
    images = {}
    for k, label in enumerate(["circle", "square", "triangle"]):
        pixels = [(np.arange(12).reshape(3, 4) * (k + 1) * 7 + i).astype(np.uint8)
                  for i in range(2)]
        (root / label).mkdir(parents=True)
        for i, array in enumerate(pixels):
            Image.fromarray(array, mode="L").save(root / label / f"{i}.{['bmp', 'png'][i]}")
        images[label] = pixels
    return images


def test_from_image_folder_reads_grey_rows_labelled_by_folder(tmp_path):
    images = write_images(tmp_path / "shapes")
    (tmp_path / "shapes" / "notes.txt").write_text("not an image")
    data = Data.from_image_folder(tmp_path / "shapes")
    assert data.image_shape == (3, 4) and data.X_train.shape == (6, 12)
    assert data.X_train.dtype == np.float32
    assert data.decode(data.y_train).tolist() == ["circle"] * 2 + ["square"] * 2 + ["triangle"] * 2
    expected = np.stack([a.ravel() for label in sorted(images) for a in images[label]]) / 255
    np.testing.assert_allclose(data.X_train, expected, rtol=1e-6)
    with pytest.raises(DataError, match=r"expected an image of 4x4 .* like image_shape, found 3x4"):
        Data.from_image_folder(tmp_path / "shapes", image_shape=(4, 4))
    Image.new("L", (5, 3)).save(tmp_path / "shapes" / "square" / "wide.png")
    with pytest.raises(DataError, match=r"wide.png: expected an image of 3x4 .*found 3x5"):
        Data.from_image_folder(tmp_path / "shapes")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match=r"expected images .* sub-folders, found none"):
        Data.from_image_folder(tmp_path / "empty")


def test_read_inputs_images_npy_and_csv(tmp_path):
    write_images(tmp_path / "shapes")
    X = read_inputs([tmp_path / "shapes" / "circle" / "0.bmp", tmp_path / "shapes" / "square"])
    assert X.shape == (3, 12)
    np.save(tmp_path / "x.npy", np.arange(3.0))
    assert read_inputs([tmp_path / "x.npy"]).shape == (1, 3)
    np.testing.assert_array_equal(X[0], np.asarray(Image.open(
        tmp_path / "shapes" / "circle" / "0.bmp"), dtype=np.float32).ravel() / 255)
    assert read_inputs([tmp_path / "shapes" / "circle"], image_shape=(3, 4)).shape == (2, 12)
    with pytest.raises(DataError, match=r"0.bmp: expected an image of 4x3 .*found 3x4"):
        read_inputs([tmp_path / "shapes" / "circle"], image_shape=(4, 3))
    np.save(tmp_path / "x.npy", np.arange(3.0))
    assert read_inputs([tmp_path / "x.npy"]).shape == (1, 3)
    np.save(tmp_path / "ints.npy", np.ones((2, 3), dtype=np.int64))
    assert read_inputs([tmp_path / "ints.npy"]).dtype == np.float32
    np.save(tmp_path / "cube.npy", Z((2, 2, 2)))
    with pytest.raises(DataError, match="ndim 2 .* or 1 .*found ndim 3"):
        read_inputs([tmp_path / "cube.npy"])
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,4\n")
    csv_inputs = read_inputs([tmp_path / "x.csv"])
    assert csv_inputs.tolist() == [[1, 2], [3, 4]] and csv_inputs.dtype.kind == "f"
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match=r"one number of fields per row, found \[1, 2\]"):
        read_inputs([tmp_path / "ragged.csv"])
    with pytest.raises(DataError, match="expected a .npy, .csv or image file"):
        read_inputs([tmp_path / "x.txt"])


def test_from_sklearn_digits_split():
    pytest.importorskip("sklearn")
    data = Data.from_sklearn("digits", test_fraction=0.25, seed=0)
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert data.image_shape == (8, 8) and data.n_classes == 10 and data.X_val is None
    share = np.bincount(data.y_test) / np.bincount(np.concatenate([data.y_train, data.y_test]))
    np.testing.assert_allclose(share, 0.25, atol=0.01)  # stratified
    with pytest.raises(DataError, match="digits, iris, wine, breast_cancer, found unknown name"):
        Data.from_sklearn("mnist")


def test_from_sklearn_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(DataError, match=r"pip install 'mlp-routinizer\[datasets\]'"):
        Data.from_sklearn("iris")


def test_sin():
    data = Data.sin(n_train=64, n_val=100, interval=(-1.0, 2.0))
    assert data.X_train.shape == (64, 1) and data.y_val.shape == (100, 1)
    assert data.X_train.dtype == data.y_train.dtype == np.float64 and data.task == "regression"
    np.testing.assert_allclose(data.y_train, np.sin(2 * np.pi * data.X_train))
    np.testing.assert_allclose(data.X_val[[0, -1], 0], [-1.0, 2.0])
    assert -1 <= data.X_train.min() and data.X_train.max() <= 2
    noisy = Data.sin(n_train=64, n_val=100, interval=(-1.0, 2.0), noise=0.1)
    np.testing.assert_array_equal(noisy.X_train, data.X_train)
    np.testing.assert_array_equal(noisy.y_val, data.y_val)  # noise on training targets only
    assert 0.05 < np.std(noisy.y_train - data.y_train) < 0.2


@pytest.mark.parametrize("labels", [["b", "a", "b", "c", "a", "c"], [3, 1, 3, 2, 1, 2]])
def test_save_load_round_trip(tmp_path, labels):
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    data = Data(X, labels, image_shape=(2, 2)).split_validation(0.5, seed=0).normalize()
    loaded = Data.load(data.save(tmp_path / "d.h5"))
    for name in ("X_train", "y_train", "X_val", "y_val"):
        assert np.array_equal(getattr(loaded, name), getattr(data, name))
        assert getattr(loaded, name).dtype == getattr(data, name).dtype
    assert loaded.X_test is None and loaded.task == "classification"
    assert loaded.classes.tolist() == data.classes.tolist()
    assert [type(c) for c in loaded.classes.tolist()] == [type(labels[0])] * 3
    assert loaded.normalizer == data.normalizer  # method and arrays, exactly
    assert loaded.image_shape == (2, 2)


def test_save_load_regression_and_bad_files(tmp_path):
    data = Data.sin(n_train=8, n_val=4)
    loaded = Data.load(data.save(tmp_path / "sin.h5"))
    assert np.array_equal(loaded.y_val, data.y_val) and loaded.normalizer is None
    assert loaded.classes is None and loaded.image_shape is None
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="junk.h5: not a readable HDF5 file"):
        Data.load(tmp_path / "junk.h5")


def test_fingerprint_changes_with_one_value():
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    data = Data(X, [0, 1, 0, 1, 0])
    before = data.fingerprint()
    assert before["shape"] == [5, 3] and before["dtype"] == "float32"
    assert Data(X.copy(), [0, 1, 0, 1, 0]).fingerprint() == before
    assert Data(X, [0, 1, 0, 1, 1]).fingerprint()["sha256"] != before["sha256"]
    data.X_train[2, 1] += 1
    assert data.fingerprint()["sha256"] != before["sha256"]


def test_astype_converts_features_and_shares_the_rest():
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    data = Data(X, [0, 1, 0, 1, 0]).split_validation(0.4, seed=0).normalize()
    assert data.astype("float32") is data
    wide = data.astype("float64")
    assert wide.X_train.dtype == wide.X_val.dtype == np.float64 and wide.X_test is None
    assert data.X_train.dtype == np.float32  # the original is untouched
    assert wide.y_train is data.y_train and wide.normalizer is data.normalizer
    assert wide.classes is data.classes and wide.task == "classification"
    assert wide.astype(np.float64) is wide
    regression = Data(X, Z((5, 1), dtype=np.float32), image_shape=(1, 3)).astype(np.float64)
    assert regression.y_train.dtype == np.float64 and regression.image_shape == (1, 3)


@pytest.mark.parametrize("shape", [(3,), (1000, 700), (5, 300, 200), (0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_agrees_with_isfinite_at_every_block_edge(shape, dtype):
    from mlp.arrays import _FINITE_BLOCK, all_finite

    X = np.zeros(shape, dtype)
    assert all_finite(X) and all_finite(X.T) and all_finite(X[..., ::2])
    if X.size == 0:
        return
    # the first and last element, and each side of the first block boundary
    for flat_index in {min(i, X.size - 1) for i in (0, _FINITE_BLOCK // 2, _FINITE_BLOCK,
                                                    X.size - 1)}:
        for bad in (np.nan, np.inf, -np.inf):
            Y = X.copy()
            Y.reshape(-1)[flat_index] = bad
            assert all_finite(Y) is False
            assert all_finite(Y.T) is bool(np.isfinite(Y.T).all())
    assert all_finite(np.arange(6).reshape(2, 3)) and all_finite(np.float64(1.0))
    assert not all_finite(np.float32(np.nan))


def test_validating_a_large_data_set_allocates_no_array_of_its_size():
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.random((4000, 1000), dtype=np.float32)  # 16 MB; np.isfinite(X) would be 4 MB
    y = rng.integers(0, 3, 4000)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        Data(X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"validation allocated {peak} bytes at its peak"

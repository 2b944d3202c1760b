"""Sparse (CSR) inputs in the library: products, Data, Normalizer, training, memory."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from mlp import BasicRoutinizer, DataError, Model
from mlp.nn import sparse as mlp_sparse
from mlp.nn.input_normalizer import Normalizer
from preprocess import Data


def _sparse(n: int = 120, d: int = 40, density: float = 0.15, seed: int = 0,
            dtype: type = np.float64) -> sp.csr_matrix:
    return sp.random(n, d, density=density, format="csr", dtype=dtype, random_state=seed)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_products_are_scipys_bit_for_bit_and_match_dense(monkeypatch, backend, dtype, index):
    monkeypatch.setenv("MLP_KERNELS", backend)
    x = _sparse(64, 300, dtype=dtype)
    x.indices, x.indptr = x.indices.astype(index), x.indptr.astype(index)
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(300, 17)).astype(dtype)
    grad = rng.normal(size=(64, 17)).astype(dtype)
    out = np.full((64, 17), np.nan, dtype)
    grad_weight = np.full((300, 17), np.nan, dtype)
    assert mlp_sparse.forward_product(x, weight, out) is out
    mlp_sparse.weight_gradient(x, grad, grad_weight)
    assert np.array_equal(out, x @ weight)
    assert np.array_equal(grad_weight, x.T @ grad)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, x.toarray() @ weight, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad_weight, x.toarray().T @ grad, rtol=tolerance,
                               atol=tolerance)


def test_a_run_on_csr_data_matches_the_run_on_the_same_dense_data():
    x = _sparse(200, 60, density=0.2)
    y = (np.asarray(x[:, :6].sum(axis=1)).ravel() > 0.3).astype(int)
    runs = []
    for features in (x, x.toarray()):
        data = Data(features, y, task="classification")
        model = Model.mlp([60, 24, 2], seed=2, dtype="float64")
        routinizer = BasicRoutinizer(epochs=5, batch_size=32, lr=0.01, progress=False, seed=4)
        history = routinizer.run(model, data)
        runs.append((model, history))
    (sparse_model, sparse_history), (dense_model, dense_history) = runs
    for a, b in zip(sparse_model.layers, dense_model.layers, strict=True):
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse_history.train_loss, dense_history.train_loss, rtol=1e-9)
    assert sparse_history.train_loss[-1] < sparse_history.train_loss[0]


def test_a_run_on_csr_data_resumes_bit_identically_with_diagnostics(tmp_path):
    x = _sparse(150, 25, density=0.25, seed=5)
    y = np.arange(150) % 3

    def data() -> Data:
        return Data(x, y).split_validation(0.2, seed=0).normalize()

    def routinizer(epochs: int, folder: str) -> BasicRoutinizer:
        return BasicRoutinizer(epochs=epochs, batch_size=16, progress=False, diagnostics=True,
                               checkpoint_dir=tmp_path / folder)

    whole = Model.mlp([25, 10, 3], dropout=0.1, seed=1)
    straight = routinizer(4, "whole")
    straight.run(whole, data())
    routinizer(2, "parts").run(Model.mlp([25, 10, 3], dropout=0.1, seed=1), data())
    resumed, model = BasicRoutinizer.resume(tmp_path / "parts")
    resumed.epochs = 4
    history = resumed.run(model, data())
    for key, array in whole.state_dict().items():
        assert np.array_equal(array, model.state_dict()[key]), key
    for name, state in straight.optimizer_state.items():
        for key, array in state.items():
            assert np.array_equal(array, resumed.optimizer_state[name][key]), (name, key)
    assert len(history) == 4 and np.isfinite(history.train_loss).all()


def test_training_on_a_matrix_whose_dense_copy_would_take_4_gb_stays_small():
    # 20,000 x 50,000 float32 is 4 GB dense; its 100,000 entries take 1.2 MB as CSR
    rng = np.random.default_rng(0)  # (sp.random would draw from all 1e9 positions)
    rows, columns = rng.integers(0, 20_000, 100_000), rng.integers(0, 50_000, 100_000)
    x = sp.csr_matrix((rng.random(100_000, dtype=np.float32), (rows, columns)),
                      shape=(20_000, 50_000))
    y = (np.arange(20_000) % 2).astype(np.int64)
    data = Data(x, y, task="classification")
    warm_up = Data(x[:1000], y[:1000], task="classification")  # compiles the kernels
    BasicRoutinizer(epochs=1, batch_size=500, progress=False).run(
        Model.mlp([50_000, 4, 2], dtype="float32"), warm_up)
    model = Model.mlp([50_000, 4, 2], seed=0, dtype="float32")
    routinizer = BasicRoutinizer(epochs=1, batch_size=500, progress=False)
    tracemalloc.start()
    try:
        routinizer.run(model, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the optimizer's flat copies of the 200,000 weights (params, grads, two moments, the
    # best: 0.8 MB each) and the CSR batches; one dense batch of 500 rows would be 100 MB
    assert peak < 10e6, f"peak {peak / 1e6:.1f} MB"
    assert len(routinizer.history) == 1


def test_data_keeps_csr_checks_it_and_batches_it_as_csr():
    x = sp.csc_matrix(_sparse(50, 8))
    data = Data(x, np.arange(50) % 3)
    assert sp.issparse(data.X_train) and data.X_train.format == "csr"
    batches = list(data.batches(16, np.random.default_rng(0)))
    assert [b.shape[0] for b, _ in batches] == [16, 16, 16, 2]
    assert all(sp.issparse(b) for b, _ in batches)
    # the same order as the dense Data draws, batch for batch
    dense = Data(x.toarray(), np.arange(50) % 3)
    for (xs, ys), (xd, yd) in zip(batches, dense.batches(16, np.random.default_rng(0)),
                                  strict=True):
        assert np.array_equal(xs.toarray(), xd) and np.array_equal(ys, yd)
    bad = _sparse(10, 4, density=0.5)
    bad.data[3] = np.nan
    with pytest.raises(DataError, match=r"X_train must be finite, found 1 NaN and 0 inf"):
        Data(bad, np.arange(10) % 2)
    bad.data[3] = np.inf
    with pytest.raises(DataError, match=r"found 0 NaN and 1 inf"):
        Data(bad, np.arange(10) % 2)
    with pytest.raises(DataError, match="augment_shift shifts dense images"):
        Data(_sparse(10, 4), np.arange(10) % 2).augment_shift((2, 2))
    with pytest.raises(DataError, match="writes dense arrays, found sparse"):
        Data(_sparse(10, 4), np.arange(10) % 2).save("never-written.h5")


def test_the_fingerprint_covers_the_csr_arrays():
    x = _sparse(30, 6)
    y = np.arange(30) % 2
    first = Data(x, y).fingerprint()
    assert first == Data(x.copy(), y).fingerprint()
    assert first != Data(x.toarray(), y).fingerprint()
    changed = x.copy()
    changed.data[0] += 1
    assert first != Data(changed, y).fingerprint()
    assert first["shape"] == [30, 6]


def test_the_content_split_keeps_duplicate_sparse_rows_together():
    rows = _sparse(20, 5, density=0.5, seed=3)
    x = sp.vstack([rows, rows, rows]).tocsr()
    y = np.tile(np.arange(20) % 2, 3)
    data = Data(x, y).split_validation(0.25, seed=1, by_content=True)
    held = {tuple(r.toarray().ravel()) for r in data.X_val}
    kept = {tuple(r.toarray().ravel()) for r in data.X_train}
    assert held and kept and not held & kept
    assert data.X_val.shape[0] % 3 == 0


def test_sparse_zscore_scales_by_the_deviation_without_centring():
    x = _sparse(80, 10, density=0.3)
    weight = np.random.default_rng(0).integers(0, 4, 80).astype(float)
    normalizer = Normalizer.fit(x, "zscore", weight)
    dense = x.toarray()
    repeated = np.repeat(dense, weight.astype(int), axis=0)
    assert not normalizer.offset.any()
    np.testing.assert_allclose(normalizer.scale, repeated.std(axis=0), rtol=1e-12)
    out = normalizer.apply(x)
    assert sp.issparse(out) and out.nnz == x.nnz
    assert np.array_equal(out.toarray(), dense / normalizer.scale)
    with pytest.raises(DataError, match=r"expected normalize 'zscore' .*with_mean=False.* "
                                        "found 'minmax'"):
        Normalizer.fit(x, "minmax")
    centred = Normalizer.fit(dense, "zscore")  # a dense fit applied to sparse inputs
    assert np.array_equal(centred.apply(x), centred.apply(dense))


def test_model_check_input_takes_csr_in_the_models_dtype():
    model = Model.mlp([10, 3], dtype="float32")
    x = model.check_input(sp.csc_array(_sparse(5, 10)))
    assert x.format == "csr" and x.dtype == np.float32
    np.testing.assert_allclose(model.predict_logits(x), model.predict_logits(x.toarray()),
                               rtol=1e-6)
    with pytest.raises(DataError, match="inputs must have 10 features, found 4"):
        model.check_input(_sparse(5, 4))


def test_the_library_imports_and_trains_without_scipy():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'scipy' or name.startswith('scipy.'):\n"
        "            raise ImportError('no scipy here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from mlp import BasicRoutinizer, Model\n"
        "from preprocess import Data\n"
        "data = Data(np.eye(8), np.arange(8) % 2).normalize()\n"
        "BasicRoutinizer(epochs=2, progress=False).run(Model.mlp([8, 4, 2]), data)\n"
        "assert 'scipy' not in sys.modules\n"
        "print('trained')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "trained"

"""The compiled kernels (numba) against the NumPy rules: the same bits, always.

Both backends must give bit-identical parameters, so that a run is reproducible and may be
resumed whichever backend is installed. These tests need numba (the ``test`` extra has it);
the NumPy path is covered by every other test when numba is missing and here by forcing it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mlp.errors import MLPError
from mlp.nn import fused as kernels
from mlp.nn.fused import Kernels
from mlp.nn.layers import Nonlinearity
from mlp.nn.losses import Loss, count_correct
from mlp.nn.model import Model
from mlp.nn.module import Context
from mlp.optim import rules as optim
from mlp.training.routinizer import BasicRoutinizer
from preprocess import Data

numba = pytest.importorskip("numba")


def _arrays(dtype: type, n: int = 1001, seed: int = 0) -> list[np.ndarray]:
    """param, grad, m, v with awkward values: inf and NaN gradients, zeros, tiny and huge."""
    rng = np.random.default_rng(seed)
    param, grad, m = (rng.normal(size=n).astype(dtype) for _ in range(3))
    v = np.abs(rng.normal(size=n)).astype(dtype)
    grad[:6] = [np.inf, -np.inf, np.nan, 0.0, 1e-30, 1e30]
    param[6:9] = [0.0, -0.0, 1e-38]
    return [param, grad, m, v, v * 1.5]


def _state(name: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """param, grad and the rule's buffers from ``_arrays`` (``v_max`` starts as a copy of v)."""
    named = {"m": arrays[2], "v": arrays[3], "v_max": arrays[4]}
    return [arrays[0], arrays[1], *(named[s] for s in optim.UPDATE_RULES.get(name).state)]


def _numpy_update(name: str, arrays: list[np.ndarray], step: int,
                  hp: optim.Hyperparameters) -> None:
    with np.errstate(all="ignore"):
        optim.apply_update(name, *_state(name, arrays), step=step, hp=hp,
                           scratch=np.empty_like(arrays[0]), kernels=Kernels("numpy"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", optim.UPDATE_RULES.names())
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("lr", [3e-3, 0.0])
def test_compiled_updates_equal_the_numpy_rules_bit_for_bit(dtype, name, weight_decay, lr):
    compiled_kernels = Kernels("numba")
    assert compiled_kernels.backend == "numba"
    hp = optim.Hyperparameters(lr=lr, weight_decay=weight_decay, momentum=0.8, alpha=0.95,
                               beta1=0.85, beta2=0.99, eps=1e-6)
    reference, compiled = _arrays(dtype), _arrays(dtype)
    for step in (1, 2, 3, 50):
        _numpy_update(name, reference, step, hp)
        optim.apply_update(name, *_state(name, compiled), step=step, hp=hp,
                           scratch=np.empty(0, dtype), kernels=compiled_kernels)
    for want, got in zip(reference, compiled, strict=True):
        assert got.dtype == dtype
        assert np.array_equal(want, got, equal_nan=True)
        # equal_nan ignores the sign of zero; compare the bits as well
        assert want.tobytes() == got.tobytes()


@pytest.mark.parametrize("name", ["adam", "momentum", "rmsprop"])
def test_a_prepared_update_follows_the_rate_and_hyperparameters_step_by_step(name):
    """The optimizer keeps one prepared pass over its buffers for the whole run; its
    constants must follow a new learning rate (a schedule) or hyperparameter (a config
    changed between two runs) at the very step they change."""
    reference, compiled = _arrays(np.float32), _arrays(np.float32)
    param, grad, *state = _state(name, compiled)
    prepared = Kernels("numba").prepare(optim.UPDATE_RULES.get(name), param, grad, state)
    assert prepared is not None
    changes = [(1e-2, 0.0, 0.8), (1e-2, 0.0, 0.8), (1e-2, 0.05, 0.8), (3e-3, 0.05, 0.8),
               (3e-3, 0.05, 0.6), (3e-3, 0.05, 0.6)]
    for step, (lr, weight_decay, beta) in enumerate(changes, start=1):
        hp = optim.Hyperparameters(lr=lr, weight_decay=weight_decay, momentum=beta,
                                   alpha=beta, beta1=beta, beta2=0.99, eps=1e-6)
        _numpy_update(name, reference, step, hp)
        with np.errstate(all="ignore"):
            prepared(step, lr, hp)
    for want, got in zip(reference, compiled, strict=True):
        assert want.tobytes() == got.tobytes()
    assert Kernels("numpy").prepare(optim.UPDATE_RULES.get(name), param, grad, state) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_forward_and_backward_equal_numpy(dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 29)).astype(dtype)  # past _RELU_MIN: the kernels run
    x[0, :7] = [0.0, -0.0, np.nan, np.inf, -np.inf, np.finfo(dtype).smallest_subnormal,
                -np.finfo(dtype).smallest_subnormal]
    grad = rng.normal(size=x.shape).astype(dtype)
    grad[1, :3] = [np.inf, -np.inf, np.nan]
    results = []
    for chosen in (None, Kernels("numpy"), Kernels("numba")):
        relu = Nonlinearity(kind="relu")
        evaluated = relu.forward(x, Context(kernels=chosen)).copy()
        trained = relu.forward(x, Context(train=True, kernels=chosen)).copy()
        with np.errstate(all="ignore"):
            results.append((evaluated, trained,
                            relu.backward(grad, Context(True, kernels=chosen)).copy()))
    for numpy_result, other in zip(results[0], results[1], strict=True):
        assert numpy_result.tobytes() == other.tobytes()
    for numpy_result, compiled_result in zip(results[0], results[2], strict=True):
        assert numpy_result.tobytes() == compiled_result.tobytes()
    compiled = Kernels("numba")
    assert compiled.relu_forward(x, np.empty_like(x))
    assert compiled.relu_backward(grad, x, np.empty_like(x))
    assert not compiled.relu_forward(x[:, ::2], np.empty_like(x[:, ::2]))  # strided: NumPy
    small = x[: kernels._RELU_MIN // 29 - 1]  # fewer elements: NumPy is faster
    assert not compiled.relu_forward(small, np.empty_like(small))
    assert not compiled.relu_backward(small, small, np.empty_like(small))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_layer_bias_and_relu_fused_forward_and_backward_equal_numpy(dtype):
    """The compiled pass that adds a Layer's bias inside the ReLU, and the one that sums the
    bias gradient inside the ReLU backward, give NumPy's bits, at any batch size."""
    rng = np.random.default_rng(5)
    for rows in (1, 3, 200):
        x = rng.normal(size=(rows, 7)).astype(dtype)
        x[0, :3] = [0.0, -0.0, np.nan]
        grad = rng.normal(size=(rows, 5)).astype(dtype)
        results = []
        for chosen in (Kernels("numpy"), Kernels("numba")):
            model = Model.mlp([7, 40, 5], seed=1, dtype=np.dtype(dtype).name)
            with np.errstate(invalid="ignore"):
                out = model.forward(x, train=True, validate=False, kernels=chosen).copy()
            model.backward(grad, kernels=chosen)
            results.append([out] + [array.copy() for _, array in model.named_arrays()])
        for want, got in zip(*results, strict=True):
            assert want.tobytes() == got.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [2, 3, 7, 8, 9, 10, 15, 16, 17, 33, 128])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_cross_entropy_equals_numpy_and_counts_the_correct_rows(dtype, classes,
                                                                         weighted):
    """Loss, gradient and the count of correct rows, bit for bit, for 2 to 128 classes (the
    row sums follow NumPy's pairwise order, which changes at 8 classes), with ties (the first
    maximum counts, as argmax) and with per-sample weights."""
    rng = np.random.default_rng(classes)
    logits = (rng.normal(size=(61, classes)) * 4).astype(dtype)
    logits[:5] = np.round(logits[:5])  # ties between classes
    logits[5] = 0.0
    target = rng.integers(0, classes, size=61)
    target[5] = classes - 1  # a row of equal logits counts as correct only for class 0
    weight = rng.uniform(0.5, 2.0, size=61) if weighted else None
    found = []
    for chosen in (None, Kernels("numpy"), Kernels("numba")):
        loss = Loss(kind="cross_entropy")
        value = loss.forward(logits, target, weight, kernels=chosen)
        found.append((value, loss.backward().tobytes(), loss.correct(logits, target)))
    assert found[0] == found[1] == found[2]
    assert found[2][2] == count_correct(logits, target)


def test_the_compiled_cross_entropy_leaves_what_it_cannot_take_to_numpy():
    compiled = Kernels("numba")
    logits = np.zeros((4, 129), np.float32)  # beyond NumPy's eight-sum block
    buffers = (logits.copy(), np.empty(4, np.float32), np.empty(4), np.empty(4, np.float32))
    assert compiled.cross_entropy(logits, np.zeros(4, int), *buffers, True) is None
    assert Kernels("numpy").cross_entropy(logits[:, :3], np.zeros(4, int),
                                          logits[:, :3].copy(), *buffers[1:], True) is None
    loss = Loss(kind="cross_entropy", label_smoothing=0.1)  # label smoothing stays NumPy's
    plain = Loss(kind="cross_entropy", label_smoothing=0.1)
    logits = np.random.default_rng(0).normal(size=(6, 4))
    target = np.arange(6) % 4
    assert loss.forward(logits, target, kernels=compiled) == plain.forward(logits, target)
    assert loss.correct(logits, target) == count_correct(logits, target)


def test_arrays_the_kernels_cannot_take_go_to_numpy():
    compiled = Kernels("numba")
    param, grad, m, v, _ = _arrays(np.float32)
    adam = optim.UPDATE_RULES.get("adam")
    hp = dict(step=1, lr=0.1, hp=optim.Hyperparameters(lr=0.1, beta2=0.99))
    assert compiled.update(adam, param, grad, (m, v), **hp)
    assert not compiled.update(adam, param[::2], grad[::2], (m[::2], v[::2]), **hp)
    assert not compiled.update(adam, param, grad.astype(np.float64), (m, v), **hp)
    assert not compiled.update(adam, param.astype(np.float16), grad, (m, v), **hp)
    assert not compiled.update(adam, param, grad[:-1], (m, v), **hp)
    # apply_update still does the strided case, through the NumPy rules
    strided = param[::2].copy(), grad[::2].copy()
    before = strided[0].copy()
    optim.apply_update("sgd", *strided, step=1, hp=optim.Hyperparameters(lr=0.5),
                       scratch=np.empty_like(strided[0]), kernels=compiled)
    assert not np.array_equal(before[10:], strided[0][10:])


def test_backend_selection_and_errors(monkeypatch):
    numpy_kernels = Kernels("numpy")
    assert numpy_kernels.backend == "numpy"
    param, grad, *_ = _arrays(np.float64)
    assert not numpy_kernels.update(optim.UPDATE_RULES.get("sgd"), param, grad, (), step=1,
                                    lr=0.1, hp=optim.Hyperparameters(lr=0.1))
    assert numpy_kernels.warm_up() == "numpy"
    with pytest.raises(MLPError, match="expected 'auto', 'numba' or 'numpy', found 'cuda'"):
        Kernels("cuda")
    monkeypatch.setitem(sys.modules, "numba", None)  # as if numba were not installed
    kernels._numba.cache_clear()
    try:
        assert Kernels("auto").backend == "numpy"
        with pytest.raises(MLPError, match="numba cannot be imported.*'fast' extra"):
            Kernels("numba")
    finally:
        monkeypatch.undo()  # numba importable again
        kernels._numba.cache_clear()
    for value in ("numpy", "numba"):  # the environment variable is the default
        monkeypatch.setenv("MLP_KERNELS", value)
        assert Kernels().backend == value


@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
def test_training_is_bit_identical_with_either_backend(optimizer):
    """A run trained with the compiled kernels ends with exactly the weights, moments and
    history of the same run on the NumPy path."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 8))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    finals = []
    for backend in ("numpy", "numba"):
        model = Model.mlp([8, 32, 32, 2], dropout=0.1, seed=4)
        routinizer = BasicRoutinizer(epochs=3, batch_size=16, lr=0.01, optimizer=optimizer,
                                     weight_decay=1e-3, seed=5, progress=False)
        routinizer.use_kernels(Kernels(backend))
        history = routinizer.run(model, Data(X[:160], y[:160], X_val=X[160:], y_val=y[160:]))
        arrays = {key: array.copy() for key, array in model.named_arrays()}
        finals.append((arrays, history.train_loss, history.val_loss, history.train_accuracy))
    (arrays_a, train_a, val_a, acc_a), (arrays_b, train_b, val_b, acc_b) = finals
    assert train_a == train_b and val_a == val_b and acc_a == acc_b
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", optim.UPDATE_RULES.names())
def test_a_step_split_over_threads_equals_one_thread_bit_for_bit(dtype, name):
    hp = optim.Hyperparameters(lr=1e-2, weight_decay=0.01, momentum=0.8, alpha=0.95,
                               beta1=0.85, beta2=0.99, eps=1e-6)
    n = 3 * kernels._SPLIT_MIN + 5  # three unequal chunks, the last one ragged
    results = []
    for count in (1, 3):
        chosen = Kernels("numba", threads=count)
        assert chosen.threads == count
        arrays = _arrays(dtype, n=n)
        arrays[1][-6:] = [np.inf, -np.inf, np.nan, 0.0, 1e-30, 1e30]  # awkward in the last chunk
        for step in (1, 2, 3):
            optim.apply_update(name, *_state(name, arrays), step=step, hp=hp,
                               scratch=np.empty(0, dtype), kernels=chosen)
        chosen.close()
        results.append(b"".join(a.tobytes() for a in arrays))
    assert results[0] == results[1]


def test_thread_count_choice_and_errors(monkeypatch):
    auto = kernels._auto_threads
    assert auto(None, 2) == 1  # OpenBLAS's workers may spin on the second core: no split
    assert auto(28, 2) == 1
    assert auto(4, 2) == 2
    assert auto(16, 8) == 2
    assert auto(4, 1) == 1
    assert auto(17, 2) == 1
    for bad in (0, -1, "two", True, 1.5):
        with pytest.raises(MLPError, match="expected 'auto' or a positive integer"):
            Kernels(threads=bad)
    monkeypatch.setenv("MLP_KERNEL_THREADS", "3")
    assert Kernels().threads == 3


def test_training_with_a_split_step_equals_one_thread():
    """A network past the split threshold trains to the same bits with 1 and 2 threads."""
    rng = np.random.default_rng(3)
    data = Data(rng.normal(size=(96, 300)).astype(np.float32), rng.integers(0, 4, 96))
    runs = []
    for count in (1, 2):
        model = Model.mlp([300, 256, 4], seed=1)
        assert model.n_parameters > kernels._SPLIT_MIN
        routinizer = BasicRoutinizer(epochs=2, batch_size=32, optimizer="adam", progress=False,
                                     weight_decay=1e-3)
        routinizer.use_kernels(Kernels("numba", threads=count))
        history = routinizer.run(model, data)
        runs.append((history.train_loss, [a.tobytes() for _, a in model.named_arrays()]))
    assert runs[0] == runs[1]

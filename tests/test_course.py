"""The hands-on API a backpropagation course uses, checked the way CS231n's assignment 2 checks
its own layers: modules built on their own with their arrays supplied, forward and backward
compared with centred differences by the entrywise relative error (``rel_error``, with
its 1e-8 floor), ``gradcheck`` on inputs of any memory layout and on networks whose true
gradients are zero, arrays given to ``run`` as to Keras' ``fit``, the loss and every
gradient from one call, and the conventions that differ from the course's."""

from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import (
    BasicRoutinizer,
    BatchNorm1d,
    DataError,
    DropoutLayer,
    Layer,
    LayerNorm,
    Loss,
    Model,
    Nonlinearity,
    Optimizer,
    gradcheck,
    relative_error,
)
from mlp.training.hyperparameters import TrainingConfig
from preprocess import Data


def numeric_gradient(f, x: np.ndarray, upstream: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """``d sum(f(x) * upstream) / dx`` by centred differences, perturbing ``x`` in place
    (CS231n's ``eval_numerical_gradient_array``, written for these tests)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        kept = x[index]
        x[index] = kept + h
        plus = f(x).copy()
        x[index] = kept - h
        minus = f(x).copy()
        x[index] = kept
        grad[index] = np.sum((plus - minus) * upstream) / (2 * h)
    return grad


def cs231n_rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


# ------------------------------------------------------------- modules on their own
def test_affine_forward_gives_the_published_values():
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 120)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out = Layer(in_features=120, out_features=3, weight=w, bias=b).forward(x, train=True)
    expected = np.array([[1.49834967, 1.70660132, 1.91485297],
                         [3.25553199, 3.5141327, 3.77273342]])
    assert relative_error(out, expected) < 1e-7


def test_affine_backward_on_its_own_fills_its_gradients():
    rng = np.random.default_rng(231)
    x, w, b = rng.normal(size=(10, 6)), rng.normal(size=(6, 5)), rng.normal(size=5)
    upstream = rng.normal(size=(10, 5))
    layer = Layer(in_features=6, out_features=5, weight=w, bias=b)
    layer.forward(x, train=True)
    dx = layer.backward(upstream)
    assert layer.grad_weight is not None and layer.grad_bias is not None

    def out(**arrays):
        return lambda _: Layer(in_features=6, out_features=5, **{"weight": w, "bias": b,
                                                                 **arrays}).forward(x)
    assert cs231n_rel_error(dx, numeric_gradient(lambda v: layer.forward(v), x.copy(),
                                                 upstream)) < 1e-9
    assert cs231n_rel_error(layer.grad_weight, numeric_gradient(out(), w, upstream)) < 1e-9
    assert cs231n_rel_error(layer.grad_bias, numeric_gradient(out(), b, upstream)) < 1e-9


def test_relu_forward_gives_the_published_values_and_its_backward_the_numeric_one():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    relu = Nonlinearity(kind="relu")
    expected = np.array([[0.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 0.04545455, 0.13636364],
                         [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert relative_error(relu.forward(x, train=True), expected) < 5e-8
    rng = np.random.default_rng(231)
    x = rng.normal(size=(10, 10))
    upstream = rng.normal(size=(10, 10))
    relu.forward(x, train=True)
    dx = relu.backward(upstream).copy()
    assert cs231n_rel_error(dx, numeric_gradient(lambda v: relu.forward(v), x, upstream)) \
        < 1e-9


def test_batch_norm_with_supplied_scale_and_shift_trains_on_its_own():
    """CS231n's batchnorm_forward checks: in training the outputs have the shift as mean and
    the scale as standard deviation; the backward matches the numeric gradients."""
    rng = np.random.default_rng(231)
    x = 50 + 3 * rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3))
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    bn = BatchNorm1d(num_features=3, weight=gamma, bias=beta)
    out = bn.forward(x, train=True)  # was: TypeError (no running statistics)
    assert np.allclose(out.mean(axis=0), beta) and np.allclose(out.std(axis=0), gamma,
                                                                rtol=1e-4)
    assert np.allclose(bn.running_mean, 0.1 * x.mean(axis=0))  # PyTorch's momentum 0.1

    x, upstream = rng.normal(size=(4, 5)) * 5 + 12, rng.normal(size=(4, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    bn = BatchNorm1d(num_features=5, weight=gamma, bias=beta)
    bn.forward(x, train=True)
    dx = bn.backward(upstream).copy()

    def fresh(**arrays):
        return lambda _: BatchNorm1d(num_features=5, **{"weight": gamma, "bias": beta,
                                                        **arrays}).forward(x, train=True)
    num_dx = numeric_gradient(lambda v: BatchNorm1d(num_features=5, weight=gamma, bias=beta)
                              .forward(v, train=True), x.copy(), upstream)
    assert cs231n_rel_error(dx, num_dx) < 1e-7
    assert cs231n_rel_error(bn.grad_weight, numeric_gradient(fresh(), gamma, upstream)) < 1e-8
    assert cs231n_rel_error(bn.grad_bias, numeric_gradient(fresh(), beta, upstream)) < 1e-8


def test_layer_norm_with_supplied_arrays_fills_its_gradients():
    rng = np.random.default_rng(231)
    x, upstream = rng.normal(size=(4, 5)) * 5 + 12, rng.normal(size=(4, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    ln = LayerNorm(normalized_shape=5, weight=gamma, bias=beta)
    out = ln.forward(x, train=True)
    assert np.allclose((out - beta) / gamma, (x - x.mean(1, keepdims=True))
                       / np.sqrt(x.var(1, keepdims=True) + 1e-5))
    dx = ln.backward(upstream).copy()
    assert ln.grad_weight is not None

    def fresh(**arrays):
        return lambda _: LayerNorm(normalized_shape=5, **{"weight": gamma, "bias": beta,
                                                          **arrays}).forward(x, train=True)
    assert cs231n_rel_error(dx, numeric_gradient(lambda v: ln.forward(v), x.copy(),
                                                 upstream)) < 1e-7
    assert cs231n_rel_error(ln.grad_weight, numeric_gradient(fresh(), gamma, upstream)) < 1e-8
    assert cs231n_rel_error(ln.grad_bias, numeric_gradient(fresh(), beta, upstream)) < 1e-8


def test_dropout_p_is_the_probability_of_dropping():
    """CS231n's ``p`` is the probability of keeping a unit; ours (PyTorch's) of dropping."""
    x = np.random.default_rng(231).normal(size=(500, 500)) + 10
    for p in (0.25, 0.4, 0.7):
        out = DropoutLayer(p=p).forward(x, train=True, rng=np.random.default_rng(0))
        assert abs(np.mean(out == 0) - p) < 0.01
        assert abs(out.mean() / x.mean() - 1) < 0.01  # inverted: the mean is kept
        assert np.array_equal(DropoutLayer(p=p).forward(x), x)  # evaluation: the identity
    rng = np.random.default_rng(231)
    x, upstream = rng.normal(size=(10, 10)) + 10, rng.normal(size=(10, 10))
    dropout = DropoutLayer(p=0.2)
    dropout.forward(x, train=True, rng=np.random.default_rng(123))
    dx = dropout.backward(upstream).copy()
    num_dx = numeric_gradient(lambda v: dropout.forward(v, train=True,
                                                        rng=np.random.default_rng(123)),
                              x, upstream)
    assert cs231n_rel_error(dx, num_dx) < 1e-9


def test_a_module_built_with_its_arrays_works_as_inside_a_model():
    rng = np.random.default_rng(5)
    w, b, x = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(6, 4))
    upstream = rng.normal(size=(6, 3))
    alone = Layer(in_features=4, out_features=3, weight=w, bias=b)
    inside = Model(modules=[Layer(in_features=4, out_features=3, weight=w, bias=b)],
                   dtype="float64")
    assert np.array_equal(alone.forward(x, train=True), inside.forward(x, train=True))
    assert np.array_equal(alone.backward(upstream), inside.backward(upstream))
    assert np.array_equal(alone.grad_weight, inside.modules[0].grad_weight)
    assert alone.weight.dtype == np.float64  # the dtype of the arrays supplied
    with pytest.raises(ValueError, match="missing"):
        Layer(in_features=4, out_features=3, weight=w)


# ----------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("modules", [
    [Layer(in_features=5, out_features=4, init="uniform"), Nonlinearity(kind="relu"),
     Layer(in_features=4, out_features=3, init="uniform")],
    [Layer(in_features=5, out_features=4), BatchNorm1d(num_features=4),
     Nonlinearity(kind="tanh"), Layer(in_features=4, out_features=3)],
    [Layer(in_features=5, out_features=4), LayerNorm(normalized_shape=4),
     Nonlinearity(kind="tanh"), DropoutLayer(p=0.3), Layer(in_features=4, out_features=3)],
], ids=["affine-relu", "batchnorm", "layernorm-dropout"])
def test_gradcheck_of_each_module_kind(modules):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    errors: dict[str, float] = {}
    model = Model(modules=[m.model_copy(deep=True) for m in modules], dtype="float64", seed=1)
    assert gradcheck(model, Loss(), X, y, errors=errors) < 1e-7
    assert set(errors) == {"input", *(k for k, _, _ in model.named_parameters())}


def test_gradcheck_perturbs_inputs_of_any_memory_layout():
    """The course's own ``X = np.linspace(...).reshape(D, N).T`` is Fortran-ordered."""
    N, D = 6, 5  # noqa: N806 (the notebook's names)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    assert not X.flags.c_contiguous
    y = np.array([0, 1, 2, 0, 1, 2])
    model = Model.mlp([D, 7, 3], nonlinearity="tanh", dtype="float64", seed=3)
    errors: dict[str, float] = {}
    assert gradcheck(model, Loss(), X, y, errors=errors) < 1e-7
    assert errors["input"] < 1e-7
    again: dict[str, float] = {}
    gradcheck(model, Loss(), X[:, ::-1][:, ::-1], y, errors=again)  # a strided view
    assert again["input"] < 1e-7


def test_gradcheck_reads_zero_for_the_zero_gradients_before_a_batch_norm():
    model = Model.mlp([5, 7, 6, 3], normalization="batch", nonlinearity="relu",
                      init="uniform", dtype="float64", seed=2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 5)) * 3 + 1, rng.integers(0, 3, 8)
    errors: dict[str, float] = {}
    assert gradcheck(model, Loss(), X, y, errors=errors) < 1e-7
    assert errors["0/bias"] < 1e-7  # its true gradient is 0: it was 1.0, then 1e-2


def test_gradcheck_still_sees_an_error_of_one_in_a_million(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    model = Model.mlp([5, 4, 3], nonlinearity="tanh", dtype="float64")
    assert gradcheck(model, Loss(), X, y) < 1e-7
    original = Layer.backward

    def slightly_wrong(self, grad, ctx):
        result = original(self, grad, ctx)
        self.grad_weight *= 1 + 1e-6
        return result

    monkeypatch.setattr(Layer, "backward", slightly_wrong)
    assert gradcheck(model, Loss(), X, y) > 2e-7


def test_relative_error_is_cs231n_rel_error():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert relative_error(a, b) == cs231n_rel_error(a, b)
    assert relative_error(np.zeros(3), np.full(3, 1e-12)) == pytest.approx(1e-4)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


# ------------------------------------------------------------ arrays, loss and grads
def test_run_takes_arrays_as_keras_fit_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(int)
    model = Model.mlp([4, 8, 2], seed=1)
    history = BasicRoutinizer(epochs=3, progress=False, lr=0.1).run(
        model, (X[:60], y[:60]), validation=(X[60:], y[60:]))
    assert len(history) == 3 and None not in history.val_loss
    same = Model.mlp([4, 8, 2], seed=1)
    wrapped = BasicRoutinizer(epochs=3, progress=False, lr=0.1).run(
        same, Data(X[:60], y[:60], X_val=X[60:], y_val=y[60:]))
    assert history.val_loss == wrapped.val_loss
    target = np.sin(X[:, :1])  # 2-D float targets: regression, as Data detects it
    regression = BasicRoutinizer(epochs=2, progress=False, loss="mse").run(
        Model.mlp([4, 8, 1]), (X, target))
    assert regression.train_accuracy == [None, None]
    with pytest.raises(DataError, match="pair"):
        BasicRoutinizer(epochs=1, progress=False).run(model, (X, y, y))
    with pytest.raises(DataError, match="arrays"):
        BasicRoutinizer(epochs=1, progress=False).run(model, Data(X, y), validation=(X, y))


def test_loss_and_grads_gives_every_named_gradient_of_one_batch():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    model = Model.mlp([4, 6, 5, 3], dtype="float64", seed=2, normalization="batch")
    loss, grads = model.loss_and_grads(X, y, loss="cross_entropy")
    names = [name for name, _, _ in model.named_parameters()]
    assert list(grads) == names and set(names) <= set(model.state_dict())
    assert names[:2] == ["0/weight", "0/bias"]
    reference = Loss(kind="cross_entropy")
    twin = model.copy()
    assert loss == reference.forward(twin.forward(X, train=True), y)
    twin.backward(reference.backward())
    for name, _, grad in twin.named_parameters():
        assert np.array_equal(grads[name], grad), name
        assert grads[name] is not grad  # a copy: the next pass does not change it
    w = model.modules[0].weight
    step = np.zeros_like(w)
    step[1, 2] = 1e-6
    w += step
    plus, _ = model.loss_and_grads(X, y)
    w -= 2 * step
    minus, _ = model.loss_and_grads(X, y)
    w += step
    assert (plus - minus) / 2e-6 == pytest.approx(grads["0/weight"][1, 2], rel=1e-6)


def test_the_course_names_are_exported():
    for name in ("Optimizer", "gradcheck", "relative_error", "Layer", "BatchNorm1d",
                 "LayerNorm", "DropoutLayer"):
        assert name in mlp.__all__ and getattr(mlp, name) is not None
    assert mlp.Optimizer.__doc__.count("Parameters\n    ----------") == 1
    assert "Yields" in Model.named_parameters.__doc__


# ------------------------------------------------ the course's conventions, mapped
def _sgd_momentum_cs231n(w, dw, v, lr, mu=0.9):
    v = mu * v - lr * dw
    return w + v, v


def test_momentum_buffer_is_minus_the_cs231n_velocity_over_lr():
    """CS231n: ``v = mu*v - lr*dw; w += v``. Ours (PyTorch's): ``b = mu*b + g; w -= lr*b``,
    the same steps with ``b = -v / lr`` (for a constant lr). The published check's ends."""
    N, D = 4, 5  # noqa: N806
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    lr = 1e-3
    expected_w, expected_v = _sgd_momentum_cs231n(w, dw, v, lr)
    assert expected_w[0, 0] == pytest.approx(0.1406) and expected_w[-1, -1] == \
        pytest.approx(1.4096)
    assert expected_v[0, 0] == pytest.approx(0.5406) and expected_v[-1, -1] == \
        pytest.approx(0.8096)

    model = Model(modules=[Layer(in_features=N, out_features=D, weight=w.copy(),
                                 bias=np.zeros(D))], dtype="float64")
    optimizer = Optimizer(model, TrainingConfig(optimizer="momentum", momentum=0.9))
    optimizer.load_state_dict({"m": {"0/weight": -v / lr, "0/bias": np.zeros(D)}})
    model.modules[0].grad_weight[...] = dw
    optimizer.step(step=1, lr=lr)
    assert relative_error(model.modules[0].weight, expected_w) < 1e-8
    buffer = optimizer.state_dict()["m"]["0/weight"]
    assert relative_error(-lr * buffer, expected_v) < 1e-8


def test_batch_norm_momentum_is_one_minus_cs231n_momentum():
    """CS231n: ``running = m*running + (1-m)*batch`` with m = 0.9 and the biased variance;
    ours (PyTorch's): ``running = (1-momentum)*running + momentum*batch``, momentum 0.1,
    with the unbiased variance."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)) * 2 + 5
    bn = BatchNorm1d(num_features=3, momentum=0.1, weight=np.ones(3), bias=np.zeros(3))
    bn.forward(x, train=True)
    running_mean, running_var = np.zeros(3), np.ones(3)
    running_mean = 0.9 * running_mean + 0.1 * x.mean(axis=0)
    running_var = 0.9 * running_var + 0.1 * x.var(axis=0)  # CS231n: the biased variance
    assert np.allclose(bn.running_mean, running_mean)
    assert np.allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))
    assert not np.allclose(bn.running_var, running_var)


def test_weight_decay_is_cs231n_reg_applied_to_biases_too():
    """CS231n adds ``0.5*reg*sum(W**2)`` to the loss (weights only): a gradient ``reg*W``.
    ``weight_decay`` adds ``weight_decay*p`` to every parameter's gradient, biases
    included (PyTorch's default parameter group), and the loss recorded has no penalty."""
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    model = Model(modules=[Layer(in_features=3, out_features=2, weight=w.copy(), bias=b.copy())],
                  dtype="float64")
    optimizer = Optimizer(model, TrainingConfig(optimizer="sgd", weight_decay=0.1))
    layer = model.modules[0]
    layer.grad_weight[...] = 0.0
    layer.grad_bias[...] = 0.0
    optimizer.step(step=1, lr=0.5)
    assert np.allclose(layer.weight, w - 0.5 * 0.1 * w)  # CS231n's reg = 0.1, same step
    assert np.allclose(layer.bias, b - 0.5 * 0.1 * b)  # CS231n leaves the bias alone


def test_weights_are_in_out_as_cs231n_affine():
    layer = Layer(in_features=3, out_features=2)
    x = np.ones((4, 3), dtype=np.float32)
    out = layer.forward(x)
    assert layer.weight.shape == (3, 2)
    assert np.allclose(out, x @ layer.weight + layer.bias)


@pytest.mark.parametrize("rule, settings, state, step, ends", [
    # CS231n's rmsprop: decay_rate 0.99 is our alpha; its cache is our "v"
    ("rmsprop", {"alpha": 0.99, "eps": 1e-8}, {"v": (0.6, 0.9)}, 1,
     {"weight": (-0.39223849, 0.59576619), "v": (0.5976, 0.8926)}),
    # CS231n's adam with t=5 takes step t=6, as our 1-based step does
    ("adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, {"m": (0.6, 0.9), "v": (0.7, 0.5)},
     6, {"weight": (-0.40094747, 0.59801459), "m": (0.48, None), "v": (0.69966, 0.49966)}),
])
def test_rmsprop_and_adam_reach_the_published_values(rule, settings, state, step, ends):
    N, D = 4, 5  # noqa: N806
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    model = Model(modules=[Layer(in_features=N, out_features=D, weight=w, bias=np.zeros(D))],
                  dtype="float64")
    optimizer = Optimizer(model, TrainingConfig(optimizer=rule, **settings))
    optimizer.load_state_dict({name: {"0/weight": np.linspace(*span, num=N * D).reshape(N, D),
                                      "0/bias": np.zeros(D)}
                               for name, span in state.items()})
    model.modules[0].grad_weight[...] = dw
    optimizer.step(step=step, lr=1e-2)
    for name, (first, last) in ends.items():
        found = (model.modules[0].weight if name == "weight"
                 else optimizer.state_dict()[name]["0/weight"])
        assert relative_error(found[0, 0], first) < 1e-7, name
        if last is not None:
            assert relative_error(found[-1, -1], last) < 1e-7, name

"""Every backward against central finite differences in float64 (relative error < 1e-6)."""

import numpy as np
import pytest

from mlp import DropoutLayer, Layer, Loss, Model, Nonlinearity, gradcheck
from mlp.nn.module import Context

TOL = 1e-6
KINDS = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "identity"]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 4)), rng.integers(0, 3, 7)


@pytest.mark.parametrize("kind", KINDS)
def test_every_nonlinearity_in_a_three_layer_net(kind, batch):
    X, y = batch
    # uniform init gives non-zero biases, so no ReLU sits exactly on its kink
    model = Model.mlp([4, 6, 5, 3], nonlinearity=kind, init="uniform", dtype="float64", seed=3)
    assert gradcheck(model, Loss(), X, y) < TOL


@pytest.mark.parametrize(
    "loss, target",
    [
        (Loss(kind="cross_entropy"), "index"),
        (Loss(kind="cross_entropy"), "proba"),
        (Loss(kind="cross_entropy", label_smoothing=0.1), "index"),
        (Loss(kind="cross_entropy", label_smoothing=0.1), "proba"),
        (Loss(kind="mse"), "real"),
        (Loss(kind="mae"), "real"),
        (Loss(kind="bce"), "binary"),
    ],
)
def test_every_loss(loss, target, batch):
    X, y = batch
    rng = np.random.default_rng(1)
    targets = {
        "index": y,
        "proba": rng.dirichlet(np.ones(3), size=7),
        "real": rng.normal(size=(7, 3)),
        "binary": rng.integers(0, 2, size=(7, 3)).astype(float),
    }[target]
    model = Model.mlp([4, 6, 3], nonlinearity="tanh", dtype="float64", seed=2)
    assert gradcheck(model, loss, X, targets) < TOL


def test_softmax_module_followed_by_mse(batch):
    X, _ = batch
    model = Model(
        modules=[Layer(in_features=4, out_features=5), Nonlinearity(kind="tanh"),
                 Layer(in_features=5, out_features=3), Nonlinearity(kind="softmax")],
        dtype="float64",
    )
    target = np.random.default_rng(4).dirichlet(np.ones(3), size=7)
    assert gradcheck(model, Loss(kind="mse"), X, target) < TOL


def test_dropout_with_a_seeded_mask(batch):
    X, y = batch
    model = Model.mlp([4, 8, 8, 3], nonlinearity="tanh", dropout=0.3, dtype="float64")
    assert gradcheck(model, Loss(), X, y, seed=7) < TOL
    # the mask really drops units: two seeds give different training outputs
    out1 = model.forward(X, train=True, rng=np.random.default_rng(1)).copy()
    out2 = model.forward(X, train=True, rng=np.random.default_rng(2))
    assert not np.allclose(out1, out2)


def test_six_layer_net(batch):
    X, y = batch
    model = Model.mlp([4, 8, 7, 6, 6, 5, 3], nonlinearity="gelu", dtype="float64", seed=5)
    assert len(model.layers) == 6
    assert gradcheck(model, Loss(), X, y) < TOL


def test_gradcheck_detects_a_wrong_gradient(batch, monkeypatch):
    X, y = batch
    model = Model.mlp([4, 5, 3], nonlinearity="tanh", dtype="float64")
    original = Layer.backward

    def wrong(self, grad_out, ctx):
        result = original(self, grad_out, ctx)
        self.grad_weight *= 1.01
        return result

    monkeypatch.setattr(Layer, "backward", wrong)
    assert gradcheck(model, Loss(), X, y) > 1e-3


def test_cross_entropy_on_huge_logits_is_finite_and_exact():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    y = np.array([1, 1])
    loss = Loss()
    value = loss.forward(logits, y)
    assert value == pytest.approx(2e4 / 2)
    grad = loss.backward()
    softmax = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(grad, (softmax - onehot) / 2, atol=1e-15)
    assert np.isfinite(grad).all()


def test_bce_on_huge_logits_is_finite_and_exact():
    z = np.array([[1e4], [-1e4], [1e4]])
    y = np.array([[1.0], [1.0], [0.0]])
    loss = Loss(kind="bce")
    assert loss.forward(z, y) == pytest.approx((0 + 1e4 + 1e4) / 3)
    sigmoid = np.array([[1.0], [0.0], [1.0]])
    np.testing.assert_allclose(loss.backward(), (sigmoid - y) / 3, atol=1e-15)


def test_loss_values_match_closed_forms():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    assert Loss(kind="mse").forward(pred, target) == pytest.approx(((pred - target) ** 2).mean())
    assert Loss(kind="mae").forward(pred, target) == pytest.approx(np.abs(pred - target).mean())
    logits, y = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    eps = 0.1
    q = (1 - eps) * np.eye(4)[y] + eps / 4
    expected = -(q * logp).sum(axis=1).mean()
    assert Loss(label_smoothing=eps).forward(logits, y) == pytest.approx(expected)
    assert Loss(label_smoothing=eps).forward(logits, np.eye(4)[y]) == pytest.approx(expected)


def test_modules_standalone_backward_shapes():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    layer = Layer(in_features=4, out_features=2)
    out = layer.forward(x, Context(train=True))
    assert out.shape == (3, 2) and out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).shape == (3, 4)
    drop = DropoutLayer(p=0.5)
    assert drop.forward(x) is x

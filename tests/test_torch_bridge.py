"""A model into PyTorch's own modules and back (``Model.to_torch``, ``Model.from_torch``),
checked against PyTorch itself: outputs in evaluation mode, gradients of one training batch,
running statistics, and refusals that name the module."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlp import BatchNorm1d, DropoutLayer, Layer, LayerNorm, Model, Module, Nonlinearity
from mlp.nn.activations import ACTIVATIONS
from mlp.nn.module import EVAL, Context

torch = pytest.importorskip("torch")
nn = torch.nn

from mlp.nn.torch_bridge import TorchConversionError  # noqa: E402 (after the skip)

#: evaluation-mode agreement, relative to the outputs' largest magnitude
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def one_of_each(kind: str) -> list[Module]:
    """A small network holding the module ``kind`` (a module type or an activation kind)."""
    middle: dict[str, Module] = {
        "layer": Layer(in_features=6, out_features=6, init="uniform"),
        "dropout": DropoutLayer(p=0.3),
        "batch_norm": BatchNorm1d(num_features=6, momentum=0.2, eps=1e-4),
        "layer_norm": LayerNorm(normalized_shape=6, eps=1e-3),
    }
    module = middle.get(kind) or Nonlinearity(kind=kind)
    if kind == "leaky_relu":
        module = Nonlinearity(kind=kind, negative_slope=0.2)
    return [Layer(in_features=5, out_features=6), module, Layer(in_features=6, out_features=3)]


KINDS = ["layer", "dropout", "batch_norm", "layer_norm", *ACTIVATIONS]


def made(kind: str, dtype: str) -> Model:
    """The network of ``kind`` with every array non-trivial (running statistics and the
    normalisations' affine parameters moved away from their starting values)."""
    model = Model(modules=one_of_each(kind), seed=7, dtype=dtype)
    rng = np.random.default_rng(3)
    for module in model.modules:
        if not isinstance(module, Layer):
            for value in (*(v for v, _ in module.parameters().values()),
                          *module.buffers().values()):
                value += rng.uniform(0.2, 0.9, value.shape).astype(dtype)
    return model


def inputs(dtype: str, n: int = 16) -> np.ndarray:
    return np.random.default_rng(11).normal(size=(n, 5)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_module_kind_agrees_with_pytorch_in_evaluation_and_comes_back_the_same(
        kind, dtype):
    model = made(kind, dtype)
    sequential = model.to_torch()
    assert all(type(part).__module__.startswith("torch.nn") for part in sequential)
    assert {str(p.dtype) for p in sequential.state_dict().values()} <= {
        f"torch.{dtype}", "torch.int64"}
    x = inputs(dtype)
    expected = model.forward(x)
    found = sequential.eval()(torch.from_numpy(x)).detach().numpy()
    assert found.dtype == expected.dtype
    assert np.abs(found - expected).max() <= TOLERANCE[dtype] * np.abs(expected).max()

    back = Model.from_torch(sequential)
    assert back.dtype == dtype
    assert [m.model_dump(exclude={"init"}) for m in back.modules] == [
        m.model_dump(exclude={"init"}) for m in model.modules]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)
    np.testing.assert_array_equal(back.forward(x), expected)


def test_the_sequential_holds_pytorchs_modules_with_our_settings():
    model = Model(modules=[Layer(in_features=3, out_features=4),
                           BatchNorm1d(num_features=4, eps=1e-3, momentum=0.05),
                           Nonlinearity(kind="leaky_relu", negative_slope=0.3),
                           Nonlinearity(kind="gelu"), Nonlinearity(kind="softmax"),
                           DropoutLayer(p=0.25), LayerNorm(normalized_shape=4, eps=1e-4),
                           Nonlinearity(kind="identity")])
    linear, batch_norm, leaky, gelu, softmax, dropout, layer_norm, identity = model.to_torch()
    assert linear.weight.shape == (4, 3)
    np.testing.assert_array_equal(linear.weight.detach().numpy(), model.modules[0].weight.T)
    assert (batch_norm.eps, batch_norm.momentum) == (1e-3, 0.05)
    assert int(batch_norm.num_batches_tracked) == 0
    assert leaky.negative_slope == 0.3 and gelu.approximate == "tanh" and softmax.dim == 1
    assert dropout.p == 0.25 and layer_norm.eps == 1e-4 and type(identity) is nn.Identity


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_training_batch_gives_pytorchs_gradients_and_running_statistics(dtype):
    model = Model(modules=[Layer(in_features=5, out_features=8),
                           BatchNorm1d(num_features=8, momentum=0.3), Nonlinearity(kind="tanh"),
                           DropoutLayer(p=0.0), Layer(in_features=8, out_features=8),
                           LayerNorm(normalized_shape=8), Nonlinearity(kind="gelu"),
                           Layer(in_features=8, out_features=3)], seed=2, dtype=dtype)
    sequential = model.to_torch().train()
    x = inputs(dtype, 32)
    y = np.random.default_rng(5).integers(0, 3, 32)
    loss, grads = model.loss_and_grads(x, y, "cross_entropy")
    torch_loss = nn.functional.cross_entropy(sequential(torch.from_numpy(x)),
                                             torch.from_numpy(y))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=10 * TOLERANCE[dtype])
    torch_grads = {name.replace(".", "/"): p.grad.numpy()
                   for name, p in sequential.named_parameters()}
    assert set(torch_grads) == set(grads)
    # relative to the largest gradient: the bias before a BatchNorm has a gradient of 0
    scale = max(np.abs(g).max() for g in grads.values())
    for index, module in enumerate(model.modules):
        for name in module.parameter_shapes():
            key = f"{index}/{name}"
            found = torch_grads[key].T if isinstance(module, Layer) and name == "weight" \
                else torch_grads[key]
            assert np.abs(found - grads[key]).max() <= 10 * TOLERANCE[dtype] * scale, key
    norm = sequential[1]
    rtol = 10 * TOLERANCE[dtype]
    np.testing.assert_allclose(norm.running_mean.numpy(), model.modules[1].running_mean,
                               rtol=rtol, atol=rtol)
    np.testing.assert_allclose(norm.running_var.numpy(), model.modules[1].running_var,
                               rtol=rtol, atol=rtol)


def test_a_network_built_and_trained_in_pytorch_comes_over_with_its_numbers():
    torch.manual_seed(0)
    sequential = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7, momentum=0.3),
                               nn.LeakyReLU(0.1), nn.Dropout(0.2), nn.Linear(7, 7),
                               nn.LayerNorm(7), nn.Sigmoid(), nn.Linear(7, 2), nn.Softmax(dim=-1))
    sequential.train()
    for _ in range(3):  # running statistics away from their starting values
        sequential(torch.randn(20, 5))
    model = Model.from_torch(sequential)
    assert model.dtype == "float32"
    x = inputs("float32")
    expected = sequential.eval()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(model.forward(x) - expected).max() <= 1e-6 * np.abs(expected).max()


class Swish(Module, type="test_torch_swish"):
    """``x * sigmoid(x)``, a user's module that says which PyTorch module it is."""

    def forward(self, x: np.ndarray, ctx: Context = EVAL) -> np.ndarray:
        return x / (1.0 + np.exp(-x))

    def backward(self, grad: np.ndarray, ctx: Context = EVAL) -> np.ndarray:
        raise NotImplementedError

    def to_torch(self, nn):
        return nn.SiLU()

    @classmethod
    def from_torch(cls, module, nn):
        return {} if type(module) is nn.SiLU else None


class Plain(Module, type="test_torch_plain"):
    """A user's module with no PyTorch counterpart."""

    def forward(self, x: np.ndarray, ctx: Context = EVAL) -> np.ndarray:
        return x


def test_a_users_module_offers_its_own_conversion():
    model = Model(modules=[Layer(in_features=5, out_features=4), Swish(),
                           Layer(in_features=4, out_features=2)], dtype="float64")
    sequential = model.to_torch()
    assert type(sequential[1]) is nn.SiLU
    x = inputs("float64")
    np.testing.assert_allclose(sequential.eval()(torch.from_numpy(x)).detach().numpy(),
                               model.forward(x), rtol=1e-12)
    assert type(Model.from_torch(sequential).modules[1]) is Swish


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_a_module_without_a_counterpart_is_refused_in_one_line_naming_it():
    model = Model(modules=[Layer(in_features=5, out_features=4), Plain()])
    with pytest.raises(TorchConversionError) as exc:
        model.to_torch()
    assert "module 1 (Plain())" in one_line(exc) and "to_torch(nn)" in one_line(exc)


@pytest.mark.parametrize(("network", "named"), [
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)), "entry 1 (Conv1d) has no"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU()), "GELU(approximate='none')"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=0)), "Softmax(dim=0)"),
    (lambda: nn.Sequential(nn.Linear(3, 4, bias=False)), "without a bias"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None)), "momentum=None"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(1.0)), "do not fit DropoutLayer"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), "do not connect"),
    (lambda: nn.Sequential(nn.Linear(3, 4).half()), "float16"),
    (lambda: nn.Linear(3, 4), "expected a torch.nn.Sequential"),
])
def test_a_network_we_cannot_hold_is_refused_in_one_line_naming_what(network, named):
    with pytest.raises(TorchConversionError) as exc:
        Model.from_torch(network())
    assert named in one_line(exc)


def test_nothing_imports_torch_unless_asked_to():
    code = ("import sys, mlp, tempfile, os\n"
            "m = mlp.Model.mlp([3, 4, 2], normalization='batch')\n"
            "path = os.path.join(tempfile.mkdtemp(), 'm.safetensors')\n"
            "assert mlp.Model.load_safetensors(m.save_safetensors(path)) == m\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)

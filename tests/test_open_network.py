"""The open network: a user's module, loss and update rule, written outside the library
(``scripts/custom_modules.py``), behave as the built-in ones do everywhere; names that are
not registered are refused with a message saying how to register them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from pydantic import ValidationError

from mlp import (
    BasicRoutinizer,
    CheckpointError,
    DropoutLayer,
    Layer,
    Loss,
    Model,
    Module,
    Nonlinearity,
    gradcheck,
    load_checkpoint,
)
from mlp.nn.model import GradientShapeError
from mlp.nn.module import MODULES
from mlp.optim.rules import UPDATE_RULES, Hyperparameters, apply_update
from mlp.registry import Registry, RegistryError, UnknownName, import_plugin
from mlp.training.checkpoint import save_checkpoint
from preprocess import Data

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "scripts" / "custom_modules.py"
import_plugin(str(PLUGIN))
custom = sys.modules["mlp_plugin_custom_modules"]


def swish_model(seed: int = 0, dtype: str = "float64") -> Model:
    return Model(modules=[Layer(in_features=3, out_features=6), custom.Swish(beta=1.5),
                          Layer(in_features=6, out_features=2)], seed=seed, dtype=dtype)


def regression_data(seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 3))
    y = np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] ** 2], axis=1)
    return Data(X[:70], y[:70], X_val=X[70:], y_val=y[70:])


def routinizer(folder: Path | None, epochs: int = 4) -> BasicRoutinizer:
    return BasicRoutinizer(epochs=epochs, batch_size=16, lr=1e-3, optimizer="lion",
                           loss={"kind": "huber", "delta": 0.5}, seed=3, progress=False,
                           checkpoint_dir=folder, save_every_epochs=1)


# ------------------------------------------------------------------ the user's classes
def test_a_users_module_round_trips_as_itself_through_json_copy_and_astype():
    model = swish_model()
    text = model.model_dump_json()
    assert '"type":"swish","beta":1.5' in text
    rebuilt = Model.model_validate_json(text)
    assert type(rebuilt.modules[1]) is custom.Swish and rebuilt == model
    for other in (model.copy(), model.astype("float32")):
        assert type(other.modules[1]) is custom.Swish and other.modules[1].beta == 1.5
    assert "Swish(beta=1.5)" in model.summary()


def test_the_users_module_and_loss_pass_the_gradient_check():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    assert gradcheck(swish_model(), custom.Huber(delta=0.3), X, y) < 1e-7


def test_huber_is_torchs_huber_loss():
    rng = np.random.default_rng(2)
    pred, target = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    loss = custom.Huber(delta=0.7)
    value = loss.forward(pred, target)
    d = pred - target
    expected = np.where(np.abs(d) <= 0.7, 0.5 * d**2, 0.7 * (np.abs(d) - 0.35)).mean()
    assert value == pytest.approx(expected, rel=1e-12)
    torch = pytest.importorskip("torch")
    tp = torch.tensor(pred, requires_grad=True)
    reference = torch.nn.HuberLoss(delta=0.7)(tp, torch.tensor(target))
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), tp.grad.numpy(), rtol=1e-12)


def test_lion_follows_its_published_formula():
    param, grad, m = np.array([1.0, -2.0, 0.5]), np.array([0.3, -0.1, 0.0]), np.array(
        [0.2, 0.4, -0.1])
    hp = Hyperparameters(lr=0.01, beta1=0.9, beta2=0.99, weight_decay=0.1)
    c = 0.9 * m + 0.1 * grad
    expected = param * (1 - 0.01 * 0.1) - 0.01 * np.sign(c)
    expected_m = 0.99 * m + 0.01 * grad
    apply_update("lion", param, grad, m, step=1, hp=hp, scratch=np.empty(3))
    np.testing.assert_allclose(param, expected, rtol=1e-15)
    np.testing.assert_allclose(m, expected_m, rtol=1e-15)
    assert UPDATE_RULES.get("lion").state == ("m",)


def test_a_users_classes_train_save_and_resume_bit_exactly(tmp_path):
    straight_model = swish_model()
    routinizer(tmp_path / "straight", epochs=6).run(straight_model, regression_data())
    first = routinizer(tmp_path / "run", epochs=3)
    first.run(swish_model(), regression_data())
    checkpoint = load_checkpoint(tmp_path / "run" / "last.h5")
    assert type(checkpoint.model.modules[1]) is custom.Swish
    assert checkpoint.config.loss == custom.Huber(delta=0.5)
    assert checkpoint.optimizer_state.keys() == {"m"}
    resumed, model = BasicRoutinizer.resume(tmp_path / "run")
    resumed.epochs = 6
    resumed.run(model, regression_data())
    for (key, expected), (_, found) in zip(straight_model.named_arrays(), model.named_arrays(),
                                           strict=True):
        assert expected.tobytes() == found.tobytes(), key


def test_a_subclass_that_names_no_type_of_its_own_is_refused():
    class Quiet(Nonlinearity):  # inherits "nonlinearity": it would be saved as its parent
        pass

    with pytest.raises(ValidationError, match="Quiet is not registered"):
        Model(modules=[Layer(in_features=2, out_features=2), Quiet()])


def test_two_classes_cannot_register_one_name():
    with pytest.raises(RegistryError, match="'swish' is already registered by "
                                            "mlp_plugin_custom_modules.Swish"):
        class OtherSwish(Module, type="swish"):
            pass
    assert MODULES.get("swish") is custom.Swish
    registry: Registry[object] = Registry("thing", "test.things", "calling register")
    with pytest.raises(RegistryError, match="must be a Python identifier"):
        registry.register("not a name", object())


# --------------------------------------------------------------------- unknown names
def test_an_unregistered_type_in_a_spec_says_how_to_register_it():
    spec = {"modules": [{"type": "layer", "in_features": 2, "out_features": 2},
                        {"type": "mish"}]}
    with pytest.raises(ValidationError) as caught:
        Model.model_validate(spec)
    message = str(caught.value)
    assert "unknown module type 'mish'" in message and "registered: layer" in message
    assert "class Name(Module, type='name')" in message and "'mlp.modules'" in message
    assert "--plugin MODULE" in message
    with pytest.raises(UnknownName, match="unknown loss kind 'focal'"):
        Loss(kind="focal")
    with pytest.raises(ValidationError, match="unknown optimizer 'lamb'"):
        BasicRoutinizer(optimizer="lamb")


def test_a_checkpoint_naming_an_unregistered_type_is_a_checkpoint_error(tmp_path):
    path = save_checkpoint(tmp_path / "ck.h5", swish_model(), routinizer(None))
    with h5py.File(path, "r+") as file:
        spec = json.loads(file.attrs["model_spec"])
        spec["modules"][1]["type"] = "mish"
        file.attrs["model_spec"] = json.dumps(spec)
    with pytest.raises(CheckpointError, match=r"ck\.h5: .*unknown module type 'mish'.*"
                                              r"--plugin MODULE"):
        load_checkpoint(path)


def test_an_installed_package_registers_through_an_entry_point(tmp_path, monkeypatch):
    """A real distribution's metadata on the path, naming a module of group mlp.modules."""
    (tmp_path / "mish_plugin.py").write_text(textwrap.dedent("""
        import numpy as np
        from mlp import Module

        class Mish(Module, type="mish_from_entry_point"):
            def forward(self, x, ctx):
                return x * np.tanh(np.log1p(np.exp(x)))
    """))
    info = tmp_path / "mish_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mish-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mlp.modules]\nmish = mish_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(MODULES, "_entry_points_loaded", False)
    model = Model.model_validate({"modules": [
        {"type": "layer", "in_features": 2, "out_features": 2},
        {"type": "mish_from_entry_point"}]})
    assert type(model.modules[1]).__name__ == "Mish"
    assert "mish_from_entry_point" in MODULES.names()


def test_the_lists_of_names_come_from_the_registries():
    from mlp.training.run_config import RunConfig

    schema = json.dumps(RunConfig.model_json_schema())
    assert '"const": "swish"' in schema and '"const": "batch_norm"' in schema
    assert '"lion"' in schema and '"amsgrad"' in schema and '"const": "huber"' in schema
    assert {"swish", "layer", "batch_norm", "layer_norm"} <= set(MODULES.names())


# ------------------------------------------------------------------- bad backwards
class _WrongShape(Module, type="test_wrong_shape"):
    def forward(self, x, ctx):
        return x

    def backward(self, grad, ctx):
        return grad[:, :-1]


def test_gradcheck_names_the_module_whose_backward_returns_the_wrong_shape():
    model = Model(modules=[Layer(in_features=3, out_features=4), _WrongShape(),
                           Layer(in_features=4, out_features=2)], dtype="float64")
    X, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 1])
    with pytest.raises(GradientShapeError, match=r"module 1 \(_WrongShape\(\)\): backward "
                                                 r"returned a gradient of shape \(5, 3\), "
                                                 r"its input was \(5, 4\)"):
        gradcheck(model, Loss(), X, y)


# ------------------------------------------------------------------------- the CLI
def _mlp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlp.cli", "-q", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_command_line_takes_plugins_and_refuses_names_without_them(tmp_path):
    config = json.loads((ROOT / "scripts" / "configs" / "custom.json").read_text())
    config["train"]["epochs"] = 4
    (tmp_path / "custom.json").write_text(json.dumps(config))
    refused = _mlp("train", "custom.json", "--set", 'model.modules=[{"type": "layer", '
                   '"in_features": 1, "out_features": 1}, {"type": "swish"}]', cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "unknown module type 'swish'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 4  # one line for each unknown name
    plugin = ["--plugin", str(PLUGIN)]
    trained = _mlp("train", "custom.json", *plugin, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "ckpt" / "custom"
    resumed = _mlp("resume", str(run), "--epochs", "6", *plugin, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run / "last.h5").state.epoch == 6
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    exported = _mlp("export", str(run), str(tmp_path / "custom.onnx"), *plugin, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    checkpoint = load_checkpoint(run / "best.h5")
    X = np.linspace(0, 1, 9).reshape(-1, 1)
    # onnxruntime up to 1.23 (the newest for Python 3.10) fuses x * sigmoid(beta x) into its
    # QuickGelu, which has no float64 kernel, and then cannot run this valid graph
    session = ort.InferenceSession(str(tmp_path / "custom.onnx"),
                                   disabled_optimizers=["QuickGeluFusion"])
    (output,) = session.run(["output"], {"X": X})
    np.testing.assert_allclose(output, checkpoint.predict(X), rtol=1e-10, atol=1e-12)


def test_export_refuses_a_users_module_without_a_hook_in_one_line(tmp_path):
    pytest.importorskip("onnx")
    (tmp_path / "plain.py").write_text(textwrap.dedent("""
        from mlp import Module

        class Plain(Module, type="plain_no_hook"):
            def forward(self, x, ctx):
                return x

            def backward(self, grad, ctx):
                return grad
    """))
    config = {"name": "plain", "data": {"source": "sin", "n_train": 32, "n_val": 32},
              "model": {"modules": [{"type": "layer", "in_features": 1, "out_features": 4},
                                    {"type": "plain_no_hook"},
                                    {"type": "layer", "in_features": 4, "out_features": 1}]},
              "train": {"epochs": 2, "batch_size": 16}}
    (tmp_path / "plain.json").write_text(json.dumps(config))
    assert _mlp("train", "plain.json", "--plugin", "plain.py", cwd=tmp_path).returncode == 0
    refused = _mlp("export", "ckpt/plain", "out.onnx", "--plugin", "plain", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0
    assert "module 1 (Plain()) cannot be exported: Plain has no ONNX export" in refused.stderr
    assert not (tmp_path / "out.onnx").exists()
    missing = _mlp("train", "plain.json", "--plugin", "nowhere.py", cwd=tmp_path)
    assert missing.returncode == 2 and "--plugin nowhere.py: no such file" in missing.stderr


def test_the_shipped_script_trains_checks_saves_resumes_and_exports(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_custom.py"),
                             "--epochs", "6", "--ckpt-root", str(tmp_path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resumed bit-exactly: True" in result.stdout


def test_the_built_in_modules_still_take_the_calls_of_release_0_1_0(tmp_path):
    # forward(x, train=..., rng=...) and forward(x, True) build the Context; Layer.m_weight &
    # co. show the optimizer's moments (zeros before any), from a run, a checkpoint, a resume
    x = np.random.default_rng(0).normal(size=(8, 4))
    layer = Layer(in_features=4, out_features=3)
    out = layer.forward(x, train=True)
    assert layer.backward(np.ones_like(out)).shape == (8, 4)
    np.testing.assert_allclose(layer.grad_weight, x.T @ np.ones((8, 3)), rtol=1e-12)
    dropout = DropoutLayer(p=0.5)
    dropped = dropout.forward(x, train=True, rng=np.random.default_rng(1))
    assert 0 < np.count_nonzero(dropped) < x.size
    assert np.array_equal(Nonlinearity(kind="relu").forward(x, True), np.maximum(x, 0))
    with pytest.raises(TypeError, match="bogus"):
        layer.forward(x, bogus=1)
    model = Model.mlp([4, 5, 3], seed=0)
    assert not model.layers[0].m_weight.any() and model.layers[0].v_bias.shape == (5,)
    data = Data(np.random.default_rng(1).normal(size=(40, 4)), np.arange(40) % 3)
    BasicRoutinizer(epochs=2, batch_size=8, progress=False, checkpoint_dir=tmp_path).run(
        model, data)
    moments = [model.layers[0].m_weight.copy(), model.layers[1].v_bias.copy()]
    assert moments[0].any() and moments[1].any()
    saved = load_checkpoint(tmp_path / "last.h5").model
    assert np.array_equal(saved.layers[0].m_weight, moments[0])
    _, resumed = BasicRoutinizer.resume(tmp_path)
    assert np.array_equal(resumed.layers[1].v_bias, moments[1])


def test_a_built_in_name_stays_the_built_in_class_whatever_is_imported_first():
    # in a fresh process where mlp.nn.layers was never imported, a user's class claiming
    # "layer" is the one refused, and the message names the built-in holder
    code = textwrap.dedent("""
        from mlp.nn.module import Module
        try:
            class Mine(Module, type="layer"):
                pass
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.startswith("RegistryError module type 'layer' is already registered "
                                  "by mlp.nn.layers.Layer; __main__.Mine cannot register it")

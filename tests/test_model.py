"""Specs, validation errors, JSON round trips, initialisation statistics, predictions."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from mlp import DataError, DropoutLayer, Layer, Loss, Model, Nonlinearity


@pytest.mark.parametrize(
    "make",
    [
        lambda: Layer(in_features=0, out_features=3),
        lambda: Layer(in_features=3, out_features=-1),
        lambda: Layer(in_features=3, out_features=2, init="orthogonal"),
        lambda: Layer(in_features=3, out_features=2, init="normal"),
        lambda: Nonlinearity(kind="swish"),
        lambda: DropoutLayer(p=1.0),
        lambda: DropoutLayer(p=-0.1),
        lambda: Model(modules=[Layer(in_features=3, out_features=4),
                               Layer(in_features=5, out_features=2)]),
        lambda: Model.mlp([3, 4, 2], dtype="float16"),
        lambda: Model(modules=[]),
        lambda: Layer(in_features=3, out_features=2, weight=np.zeros((2, 3))),
        lambda: Layer(in_features=3, out_features=2, weight=np.zeros((3, 2), dtype=np.int64)),
    ],
)
def test_bad_specs_raise_validation_error(make):
    with pytest.raises(ValidationError):
        make()


def test_mismatched_widths_message_names_both():
    with pytest.raises(ValidationError, match="out_features=4.*in_features=5"):
        Model(modules=[Layer(in_features=3, out_features=4), Layer(in_features=5, out_features=2)])


@pytest.mark.parametrize(
    "x, pattern",
    [
        (np.zeros((2, 5)), "must have 3 features, found 5"),
        (np.zeros(3), "must be 2-D.*found 1-D"),
        (np.zeros((2, 3, 1)), "must be 2-D.*found 3-D"),
        (np.array([[0.0, np.nan, 1.0]]), "found 1 NaN or inf"),
        (np.array([[np.inf, np.nan, 1.0]]), "found 2 NaN or inf"),
    ],
)
def test_bad_inputs_raise_data_error(x, pattern):
    model = Model.mlp([3, 4, 2])
    with pytest.raises(DataError, match=pattern):
        model.forward(x)
    with pytest.raises(DataError, match=pattern):
        model.predict(x)


def test_models_and_losses_compare_by_their_fields_and_arrays_not_their_work_state():
    """``==`` compares hyperparameters and arrays bit for bit; what a forward pass kept for
    backward does not count (Pydantic's comparison would have raised on those arrays)."""
    model, same = (Model.mlp([3, 4, 2], dropout=0.1, seed=0) for _ in range(2))
    assert model == same
    model.forward(np.ones((5, 3)), train=True, rng=np.random.default_rng(0))
    assert model == Model.model_validate_json(same.model_dump_json())
    assert model.modules[1] == same.modules[1]
    model.backward(np.ones((5, 2)))  # gradients are arrays of the layers
    assert model != same
    weight = same.layers[0].weight
    assert Model.mlp([3, 4, 2], dropout=0.1, seed=0) == same
    weight[0, 0] = np.nextafter(weight[0, 0], weight.dtype.type(np.inf))  # in float32 on NumPy 1
    assert Model.mlp([3, 4, 2], dropout=0.1, seed=0) != same
    assert Model.mlp([3, 2], dtype="float64") != Model.mlp([3, 2])
    loss = Loss()
    loss.forward(np.zeros((3, 2)), np.array([0, 1, 0]))
    assert loss == Loss() and loss != Loss(label_smoothing=0.1) and loss != Loss(kind="mse")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_json_round_trip_rebuilds_identical_weights(dtype):
    model = Model.mlp([6, 5, 4, 3], nonlinearity="gelu", dropout=0.25, init="xavier", seed=11,
                      dtype=dtype)
    text = model.model_dump_json()
    rebuilt = Model.model_validate_json(text)
    assert rebuilt.model_dump() == model.model_dump()
    for a, b in zip(model.layers, rebuilt.layers, strict=True):
        assert a.weight.dtype == np.dtype(dtype)
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    # architecture only: no array data in the JSON
    spec = json.loads(text)
    for module in spec["modules"]:
        assert not {"weight", "bias", "grad_weight", "m_weight", "v_bias"} & set(module)
    assert len(text) < 1000


def test_different_seeds_differ_and_same_seed_repeats():
    a, b, c = Model.mlp([5, 4, 2], seed=1), Model.mlp([5, 4, 2], seed=1), Model.mlp([5, 4, 2])
    assert np.array_equal(a.layers[0].weight, b.layers[0].weight)
    assert not np.array_equal(a.layers[0].weight, c.layers[0].weight)


def test_mlp_builder_structure():
    model = Model.mlp([8, 6, 4, 2], nonlinearity="tanh", dropout=0.5)
    kinds = [type(m).__name__ for m in model.modules]
    assert kinds == ["Layer", "Nonlinearity", "DropoutLayer", "Layer", "Nonlinearity",
                     "DropoutLayer", "Layer"]
    assert model.n_parameters == 8 * 6 + 6 + 6 * 4 + 4 + 4 * 2 + 2
    assert Model.mlp([3, 2]).modules[-1].type == "layer"


@pytest.mark.parametrize(
    "init, scale, expected_std",
    [("he", None, np.sqrt(2 / 1000)), ("xavier", None, np.sqrt(2 / 2000)),
     ("normal", 0.2, 0.2)],
)
def test_initialisation_statistics(init, scale, expected_std):
    model = Model(modules=[Layer(in_features=1000, out_features=1000, init=init,
                                 init_scale=scale)], dtype="float64")
    weight = model.layers[0].weight
    assert weight.std(ddof=1) == pytest.approx(expected_std, rel=0.02)
    assert abs(weight.mean()) < 0.02 * expected_std * 10
    assert np.array_equal(model.layers[0].bias, np.zeros(1000))
    assert not model.layers[0].grad_weight.any() and not model.layers[0].grad_bias.any()


def test_uniform_initialisation_bounds():
    layer = Model(modules=[Layer(in_features=1000, out_features=1000, init="uniform")],
                  dtype="float64").layers[0]
    bound = 1 / np.sqrt(1000)
    assert np.abs(layer.weight).max() <= bound
    assert np.abs(layer.weight).max() == pytest.approx(bound, rel=0.02)
    assert layer.weight.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    assert np.abs(layer.bias).max() <= bound and layer.bias.std() > 0


def test_supplied_arrays_are_used_and_cast():
    weight = np.arange(6, dtype=np.float64).reshape(3, 2)
    model = Model(modules=[Layer(in_features=3, out_features=2, weight=weight,
                                 bias=[1.0, 2.0])])
    layer = model.layers[0]
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight, weight)
    out = model.forward(np.ones((1, 3)))
    np.testing.assert_array_equal(out, [[1 + 0 + 2 + 4, 2 + 1 + 3 + 5]])


def test_predict_and_predict_proba():
    model = Model.mlp([4, 5, 3], seed=0)
    x = np.random.default_rng(0).normal(size=(10, 4))
    logits = model.forward(x)
    np.testing.assert_array_equal(model.predict(x), logits.argmax(axis=1))
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(x))


def test_chunked_prediction_equals_one_pass():
    model = Model.mlp([3, 4, 2], dtype="float64")
    x = np.random.default_rng(0).normal(size=(20000, 3))
    np.testing.assert_array_equal(model.predict_logits(x)[:8192], model.forward(x[:8192]))
    np.testing.assert_array_equal(model.predict_logits(x)[-5:], model.forward(x[-5:]))


def test_summary_lists_modules_and_total():
    text = Model.mlp([784, 128, 12], dropout=0.5).summary()
    assert "Layer(784->128, he)" in text and "Dropout(p=0.5)" in text
    assert f"{784 * 128 + 128 + 128 * 12 + 12:,}" in text


def test_training_forward_reuses_buffers_and_eval_does_not():
    model = Model.mlp([3, 4, 2])
    x = np.ones((5, 3), dtype=np.float32)
    first = model.forward(x, train=True)
    second = model.forward(x, train=True)
    assert first is second
    assert model.forward(x) is not model.forward(x)

"""A model in a safetensors file (``Model.save_safetensors``, ``Model.load_safetensors``):
round trips of every module kind, PyTorch's names and layout, and crafted files refused in one
line (no torch needed but for the test that loads the file into PyTorch)."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from mlp import (
    BatchNorm1d,
    CheckpointError,
    DropoutLayer,
    Layer,
    LayerNorm,
    Model,
    Module,
    Nonlinearity,
)
from mlp.nn.activations import ACTIVATIONS

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def network(kind: str, dtype: str = "float32") -> Model:
    """``Layer(5, 6)``, the module ``kind`` (a module type or an activation kind) and
    ``Layer(6, 3)``."""
    middle: dict[str, Module] = {
        "layer": Layer(in_features=6, out_features=6, init="xavier"),
        "dropout": DropoutLayer(p=0.3),
        "batch_norm": BatchNorm1d(num_features=6, momentum=0.2, eps=1e-4),
        "layer_norm": LayerNorm(normalized_shape=6, eps=1e-3),
    }
    module = middle.get(kind) or Nonlinearity(kind=kind, negative_slope=0.2)
    model = Model(modules=[Layer(in_features=5, out_features=6), module,
                           Layer(in_features=6, out_features=3)], seed=4, dtype=dtype)
    rng = np.random.default_rng(1)
    for value in (*(v for v, _ in module.parameters().values()), *module.buffers().values()):
        value += rng.uniform(0.2, 0.9, value.shape).astype(dtype)  # away from 0 and 1
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["layer", "dropout", "batch_norm", "layer_norm", *ACTIVATIONS])
def test_every_module_kind_comes_back_the_same(tmp_path, kind, dtype):
    model = network(kind, dtype)
    path = model.save_safetensors(tmp_path / "model.safetensors")
    back = Model.load_safetensors(path)
    assert back == model  # spec, seed, dtype and every array bit for bit
    x = np.random.default_rng(2).normal(size=(7, 5))
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left


def test_the_file_has_pytorchs_names_and_layout_and_the_spec_in_its_metadata(tmp_path):
    model = network("batch_norm", "float64")
    path = model.save_safetensors(tmp_path / "m.safetensors")
    arrays = safetensors_numpy.load_file(path)
    assert sorted(arrays) == ["0.bias", "0.weight", "1.bias", "1.num_batches_tracked",
                            "1.running_mean", "1.running_var", "1.weight", "2.bias",
                            "2.weight"]
    np.testing.assert_array_equal(arrays["0.weight"], model.modules[0].weight.T)  # (out, in)
    assert arrays["1.num_batches_tracked"].dtype == np.int64
    assert arrays["1.num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(arrays["1.running_var"], model.modules[1].running_var)
    metadata = read_header(path)[0]["__metadata__"]
    assert metadata["format"] == "pt"
    assert Model.model_validate_json(metadata["mlp_model"], context={"spec_only": True}
                                     ).model_dump() == model.model_dump()


def test_pytorch_loads_the_file_into_the_models_own_sequential(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    model = network("batch_norm", "float32")
    path = model.save_safetensors(tmp_path / "m.safetensors")
    sequential = model.to_torch()
    for parameter in sequential.parameters():  # what load_state_dict must bring back
        torch.nn.init.zeros_(parameter)
    sequential.load_state_dict(load_file(path), strict=True)
    x = np.random.default_rng(3).normal(size=(9, 5)).astype("float32")
    found = sequential.eval()(torch.from_numpy(x)).detach().numpy()
    expected = model.forward(x)
    assert np.abs(found - expected).max() <= 1e-6 * np.abs(expected).max()


# ---------------------------------------------------------------- crafted files
def read_header(path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def write_file(path, header, data: bytes, length: int | None = None) -> None:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)


def refusal(path) -> str:
    with pytest.raises(CheckpointError) as exc:
        Model.load_safetensors(path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.fixture
def saved(tmp_path):
    """``(path, header, data)`` of a saved model with a BatchNorm."""
    path = network("batch_norm").save_safetensors(tmp_path / "m.safetensors")
    header, data = read_header(path)
    return path, header, data


def test_header_lengths_past_the_limit_or_the_file_are_refused(saved):
    path, header, data = saved
    write_file(path, header, data, length=1 << 40)
    assert "header length 1099511627776 passes the limit" in refusal(path)
    path.write_bytes(struct.pack("<Q", 100) + b"{}")
    assert "header length 100" in refusal(path)
    path.write_bytes(b"\x01\x02")
    assert "fewer than the 8" in refusal(path)


@pytest.mark.parametrize(("header", "named"), [
    (b"\xff\xfe not json", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b"[1, 2]", "not a JSON object"),
])
def test_a_header_that_is_not_a_json_object_is_refused(saved, header, named):
    path = saved[0]
    write_file(path, header, b"")
    assert named in refusal(path)


def mutate(saved, change) -> str:
    """The refusal of the saved file after ``change(header, data) -> data`` edits it."""
    path, header, data = saved
    header = json.loads(json.dumps(header))  # a fresh copy for each change
    data = change(header, data) or data
    write_file(path, header, data)
    return refusal(path)


def test_offsets_out_of_range_are_refused(saved):
    def far(header, data):
        header["2.bias"]["data_offsets"] = [10 ** 15, 10 ** 15 + 12]
    assert "leaves a gap before it" in mutate(saved, far)

    def truncated(header, data):
        return data[:-4]
    assert "the tensors take 332 bytes, the file holds 328" in mutate(saved, truncated)


def test_overlapping_offsets_are_refused(saved):
    def overlap(header, data):
        begin = header["1.running_mean"]["data_offsets"][0]
        header["1.running_var"]["data_offsets"] = [begin, begin + 24]
    assert "overlaps the one before" in mutate(saved, overlap)


def test_a_byte_count_that_is_not_the_shapes_is_refused(saved):
    def wrong_count(header, data):
        header["0.bias"]["shape"] = [7]
    assert "tensor '0.bias' has offsets" in mutate(saved, wrong_count)


def test_a_dtype_we_do_not_take_is_refused(saved):
    def half(header, data):
        header["0.bias"]["dtype"] = "F16"
        header["0.bias"]["shape"] = [12]
    assert "dtype 'F16'; expected one of F32, F64, I64" in mutate(saved, half)


def test_names_and_shapes_that_do_not_match_the_spec_are_refused(saved):
    def renamed(header, data):
        header["0.kernel"] = header.pop("0.weight")
    assert "missing ['0.weight'], unexpected ['0.kernel']" in mutate(saved, renamed)


def test_our_layout_in_place_of_pytorchs_is_refused(saved):
    def transposed(header, data):
        header["0.weight"]["shape"] = [5, 6]  # (in, out): the same bytes
    assert "tensor '0.weight' is float32 (5, 6); the model spec has float32 (6, 5)" in mutate(
        saved, transposed)


def test_a_float64_file_for_a_float32_spec_is_refused(saved):
    path, header, data = saved
    spec = json.loads(header["__metadata__"]["mlp_model"])
    header["__metadata__"]["mlp_model"] = json.dumps({**spec, "dtype": "float64"})
    write_file(path, header, data)
    assert "needs" in refusal(path)  # float64 arrays do not fit in the float32 bytes


@pytest.mark.parametrize(("metadata", "named"), [
    (None, "no 'mlp_model' entry"),
    ({"format": "pt"}, "no 'mlp_model' entry"),
    ({"mlp_model": "{not json"}, "the model spec in the metadata is not valid"),
    ({"mlp_model": json.dumps({"modules": [{"type": "rocket"}]})}, "not valid"),
])
def test_metadata_that_is_not_our_spec_is_refused(saved, metadata, named):
    path, header, data = saved
    header.pop("__metadata__")
    if metadata is not None:
        header["__metadata__"] = metadata
    write_file(path, header, data)
    assert named in refusal(path)


def test_a_spec_asking_for_more_than_the_file_holds_is_refused_before_allocating(saved):
    path, header, data = saved
    huge = {"modules": [{"type": "layer", "in_features": 5, "out_features": 10 ** 11}]}
    header["__metadata__"]["mlp_model"] = json.dumps(huge)
    write_file(path, header, data)
    assert "needs 2400000000000 bytes of arrays, the file holds" in refusal(path)


def test_non_finite_weights_are_refused(saved):
    def poisoned(header, data):
        begin = header["0.weight"]["data_offsets"][0]
        return data[:begin] + np.float32(np.nan).tobytes() + data[begin + 4:]
    assert "array 0.weight holds NaN or inf" in mutate(saved, poisoned)


def test_a_folder_or_a_missing_file_is_refused(tmp_path):
    assert "m.safetensors" in refusal(tmp_path / "m.safetensors")
    (tmp_path / "folder").mkdir()
    refusal(tmp_path / "folder")

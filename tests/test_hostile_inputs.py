"""Hostile and careless inputs from the user's side (configs, data files, sweep files, the
environment): every one is a typed error in one line (exit 2 on the command line) or read
correctly; none hangs, none allocates what the machine cannot hold, none is misread. The last
test mutates run configs derived from ``mlp schema`` and accepts only the library's errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import signal
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from fixtures.faults import MLP, child_env, cli, write_config, write_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mlp.cli.commands import _error_text, describe_error, one_line
from mlp.errors import DataError, MLPError, ResourceError
from mlp.nn.fused import Kernels
from mlp.nn.input_normalizer import Normalizer
from mlp.nn.losses import LOSSES
from mlp.nn.model import MAX_MODULES, Model
from mlp.nn.module import MODULES
from mlp.sweep.config import SweepConfig
from mlp.training.run_config import SPEC_ONLY, RunConfig, load_data
from preprocess import Data
from preprocess.bounded import ReadLimits, read_image, read_npy, read_npz
from preprocess.loaders import input_blocks, read_inputs

GB = 1 << 30


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_clean_line(status: int, err: str) -> str:
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _limited(address_space: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def mlp_limited(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mlp ARGS`` in a child process under a 3 GB address-space limit."""
    return subprocess.run([*MLP, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=child_env(), preexec_fn=lambda: _limited(3 * GB))


def _declaring_npz(path: Path, shape: tuple[int, ...]) -> Path:
    """An .npz of a few hundred bytes whose member X declares ``shape`` of float64, its zip
    directory agreeing (the uncompressed sizes are patched), and a small y."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
    raw = bytearray(path.read_bytes())
    declared = len(header.getvalue()) + math.prod(shape) * 8
    struct.pack_into("<I", raw, 22, declared & 0xFFFFFFFF)
    central = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, declared & 0xFFFFFFFF)
    path.write_bytes(raw)
    return path


# ------------------------------------------------------------- 3. resource requests
@pytest.mark.parametrize("override", [
    "model.hidden=[100000000]",
    'data={"source": "sin", "n_train": 1000000000}',
    "data.path=big.npz",
])
def test_sizes_past_the_machine_are_one_line_under_a_3_gb_limit(tmp_path: Path,
                                                                 override: str) -> None:
    write_npz(tmp_path / "data.npz")
    # 3.9e8 float64: 3.1 GB, under the 16 GiB a file may declare, over what the child has
    _declaring_npz(tmp_path / "big.npz", (390_000, 1000))
    config = write_config(tmp_path / "config.json")
    result = mlp_limited("train", config, "--set", override, "--set",
                         f"train.checkpoint_dir={tmp_path / 'run'}", cwd=tmp_path)
    err = one_clean_line(result.returncode, result.stderr)
    assert "ResourceError" in err and "more than" in err and "available" in err


def test_a_batch_whose_activations_do_not_fit_is_refused_before_training(tmp_path: Path) -> None:
    # 2e6 hidden units: the model (24 MB) fits, a batch of 256 rows through it (8 GB) does not
    write_npz(tmp_path / "data.npz")
    config = write_config(tmp_path / "config.json")
    result = mlp_limited("train", config, "--set", "model.hidden=[2000000]", "--set",
                         "train.batch_size=256", "--set",
                         f"train.checkpoint_dir={tmp_path / 'run'}", cwd=tmp_path)
    err = one_clean_line(result.returncode, result.stderr)
    assert "ResourceError: training this model on these batches needs" in err


def test_a_model_counts_its_modules_before_validating_them() -> None:
    spec = {"modules": [{"type": "layer", "in_features": 2, "out_features": 2}]
            + [{"type": "nonlinearity", "kind": "identity"}] * 200_000}
    with pytest.raises(pydantic.ValidationError, match=f"at most {MAX_MODULES} modules"):
        Model.model_validate(spec, context=SPEC_ONLY)
    with pytest.raises(pydantic.ValidationError, match="model.hidden|hidden"):
        RunConfig.model_validate({"name": "r", "data": {"source": "sin"},
                                  "model": {"hidden": [1] * 20_000}}, context=SPEC_ONLY)


def test_sweep_grids_and_choices_are_bounded_without_listing_them() -> None:
    base = {"name": "b", "data": {"source": "sin"}, "model": {"hidden": [4]}}
    with pytest.raises(pydantic.ValidationError, match="the grid has 1000000000 points"):
        SweepConfig.model_validate({"name": "s", "base": base, "search": {"kind": "grid"},
                                    "space": {"train.epochs": {"int": [1, 1e9]}}})
    with pytest.raises(pydantic.ValidationError, match="at most 1000 items"):
        SweepConfig.model_validate({"name": "s", "base": base, "search": {"kind": "grid"},
                                    "space": {"train.lr": {"choice": [1e-3] * 1_000_000}}})
    with pytest.raises(pydantic.ValidationError, match="int needs ends"):
        SweepConfig.model_validate({"name": "s", "base": base,
                                    "search": {"kind": "random", "trials": 2},
                                    "space": {"train.epochs": {"int": [1, 10**30]}}})


def test_thread_counts_and_read_limits_are_bounded() -> None:
    for threads in (100_000, "9" * 5000):
        with pytest.raises(MLPError, match="MLP_KERNEL_THREADS"):
            Kernels(threads=threads)
    with pytest.raises(DataError, match="max_rows"):
        ReadLimits(max_rows=10**30)
    with pytest.raises(pydantic.ValidationError, match="max_field_chars"):
        RunConfig.model_validate({"name": "r", "data": {"source": "csv", "path": "x.csv",
                                                        "max_field_chars": 10**30},
                                  "model": {"hidden": [4]}})


def test_a_label_too_long_to_hold_is_refused_naming_its_line(tmp_path: Path) -> None:
    rows = [f"{i},{i % 3},{i % 2}" for i in range(300)] + ["1,2," + "a" * 130_000]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 301: a target of 130000 characters"):
        Data.from_csv(path)


def test_predict_reads_a_csv_in_blocks_that_add_up_to_the_whole(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(250, 3))
    path = tmp_path / "inputs.csv"
    path.write_text("a,b,c\n" + "\n".join(",".join(map(repr, row)) for row in X.tolist()))
    blocks = list(input_blocks([path], n_features=3, rows=100))
    assert [len(b) for b in blocks] == [100, 100, 50]
    np.testing.assert_array_equal(np.concatenate(blocks), X)
    np.testing.assert_array_equal(read_inputs([path], n_features=3), X)


# ------------------------------------------------------------------ 4. guarded files
@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo.json")
    return tmp_path / "fifo.json"


def test_fifos_and_devices_as_configs_sweeps_journals_and_exports_do_not_block(
        tmp_path: Path, fifo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_npz(tmp_path / "data.npz")
    config = write_config(tmp_path / "config.json")
    sweep = {"name": "s", "base": "fifo.json", "search": {"kind": "grid"},
             "space": {"train.lr": {"choice": [0.1]}}}
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    (tmp_path / "sweep2.json").write_text(json.dumps({**sweep, "base": "config.json"}))
    (tmp_path / "sweeps" / "s").mkdir(parents=True)
    os.mkfifo(tmp_path / "sweeps" / "s" / "study.journal")
    cases = [(("train", fifo), "found a FIFO"), (("train", "/dev/zero"), "character device"),
             (("sweep", fifo), "found a FIFO"), (("sweep", tmp_path / "sweep.json"), "FIFO"),
             (("sweep", tmp_path / "sweep2.json", "--ckpt-root", tmp_path / "sweeps"),
              "study.journal: expected a regular file or a new name")]
    for args, expected in cases:
        with deadline(20):
            status, _, err = cli(capsys, *args)
        assert expected in one_clean_line(status, err)
    status, _, err = cli(capsys, "train", config, "--set",
                         f"train.checkpoint_dir={tmp_path / 'run'}", "-q")
    assert status == 0, err
    os.mkfifo(tmp_path / "out.onnx")
    with deadline(20):
        status, _, err = cli(capsys, "export", tmp_path / "run", tmp_path / "out.onnx")
    assert "out.onnx: expected a regular file or a new name" in one_clean_line(status, err)


def test_a_fifo_in_place_of_a_runs_history_file_is_replaced_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_npz(tmp_path / "data.npz")
    config = write_config(tmp_path / "config.json", epochs=1)
    run = tmp_path / "run"
    assert cli(capsys, "train", config, "--set", f"train.checkpoint_dir={run}", "-q")[0] == 0
    (run / "history.csv").unlink()
    os.mkfifo(run / "history.csv")
    with deadline(30):
        status, _, err = cli(capsys, "resume", run, "--epochs", "2", "-q")
    assert status == 0, err
    rows = (run / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2"]


def test_the_error_printer_cannot_fail_and_bounds_what_it_echoes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_npz(tmp_path / "data.npz")
    config = write_config(tmp_path / "config.json")
    key = ".".join(["a"] * 50_000)
    status, _, err = cli(capsys, "train", config, "--set", f"{key}=1")
    assert "a: extra inputs are not permitted" in one_clean_line(status, err)
    with pytest.raises(pydantic.ValidationError) as zero_scale:
        Normalizer(method="zscore", offset=np.zeros(2), scale=np.zeros(2))
    assert "scale finite and positive" in describe_error(zero_scale.value)
    text = _error_text(DataError("x" * 10_000_000))
    assert len(text) < 2100 and text.endswith("(10000011 characters in all)")


def test_an_absolute_data_path_on_the_command_line_is_taken(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_npz(tmp_path / "elsewhere" / "data.npz")
    config = write_config(tmp_path / "config.json", data_path="missing.npz")
    status, _, err = cli(capsys, "train", config, "--set", f"data.path={data}", "--set",
                         f"train.checkpoint_dir={tmp_path / 'run'}", "-q")
    assert status == 0, err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["path"] == str(data)


def test_untyped_errors_of_the_readers_are_data_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match="delimiter of one character"):
        Data.from_csv(path, delimiter="")
    with pytest.raises(DataError, match="finite interval"):
        Data.sin(interval=(-1.7e308, 1.7e308))
    for name, shape, dtype in (("negative", (-1, -1), "<f8"), ("deep", (1,) * 40, "<f8"),
                               ("dates", (3,), "<M8[s]")):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": dtype, "fortran_order": False, "shape": shape})
        (tmp_path / f"{name}.npy").write_bytes(header.getvalue() + bytes(64))
        with pytest.raises(DataError, match=name == "dates" and "dates, times" or "shape"):
            read_npy(tmp_path / f"{name}.npy")


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA,
                                         "encrypted"])
def test_corrupt_and_encrypted_npz_members_are_data_errors(tmp_path: Path,
                                                           compression: Any) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(4000.0))
    path = tmp_path / "x.npz"
    method = zipfile.ZIP_DEFLATED if compression == "encrypted" else compression
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("X.npy", buffer.getvalue())
    raw = bytearray(path.read_bytes())
    if compression == "encrypted":  # the general-purpose flag bit 0: encrypted
        raw[6] |= 1
        raw[raw.find(b"PK\x01\x02") + 8] |= 1
    else:
        name_end = 30 + len("X.npy")
        for offset in range(name_end + 40, name_end + 400, 7):
            raw[offset] ^= 0x5A
    path.write_bytes(raw)
    with pytest.raises(DataError, match="member 'X.npy'"):
        read_npz(path)


def test_a_spec_array_that_is_not_numbers_is_a_validation_error() -> None:
    for bias in ([{}], [[1], 2, 3], [[1.0, 2.0, 3.0]]):
        with pytest.raises(pydantic.ValidationError, match="bias"):
            Model.model_validate({"modules": [{"type": "layer", "in_features": 2,
                                               "out_features": 3, "bias": bias}]})


# ------------------------------------------------------------------- 5. no misreads
def test_16_bit_images_are_scaled_by_their_own_range(tmp_path: Path) -> None:
    levels = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "wide.png")
    np.testing.assert_allclose(read_image(tmp_path / "wide.png"), levels / 65535, rtol=1e-6)


def test_a_byte_order_mark_does_not_eat_the_first_row(tmp_path: Path) -> None:
    rows = "\n".join(f"{i}.5,{i}.25,{i % 2}" for i in range(10))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    data = Data.from_csv(tmp_path / "bom.csv", task="classification")
    assert len(data) == 10 and data.X_train[0].tolist() == [0.5, 0.25]


def test_a_specs_weights_are_used_or_refused() -> None:
    layer = {"type": "layer", "in_features": 2, "out_features": 2,
             "weight": [[1.0, 2.0], [3.0, 4.0]], "bias": [0.5, -0.5]}
    config = RunConfig.model_validate({"name": "r", "data": {"source": "sin"},
                                       "model": {"modules": [layer], "dtype": "float64"}},
                                      context=SPEC_ONLY)
    model = config.build_model(2, 2)
    np.testing.assert_array_equal(model.modules[0].weight, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(model.modules[0].bias, [0.5, -0.5])
    del layer["bias"]
    with pytest.raises(pydantic.ValidationError, match="missing beside"):  # when read
        RunConfig.model_validate({"name": "r", "data": {"source": "sin"},
                                  "model": {"modules": [layer]}}, context=SPEC_ONLY)
    sweep = SweepConfig.model_validate({
        "name": "s", "search": {"kind": "grid"}, "space": {"train.lr": {"choice": [0.1]}},
        "base": {"name": "r", "data": {"source": "sin"},
                 "model": {"modules": [{**layer, "bias": [0.5, -0.5]}]}}}, context=SPEC_ONLY)
    with pytest.raises(ValueError, match=r"modules\[0\].weight, model.modules\[0\].bias would be"):
        sweep.check_space()


def test_hidden_folders_are_not_classes(tmp_path: Path) -> None:
    for folder in ("cat", "dog", ".ipynb_checkpoints"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(
                tmp_path / folder / f"{i}.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "cat" / ".hidden.png")
    data = Data.from_image_folder(tmp_path)
    assert list(data.classes) == ["cat", "dog"] and len(data) == 6


def test_predict_prints_one_line_per_input_whatever_the_labels(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    labels = ['"line\nbreak"', '"tab\there"', "plain"]
    y = rng.integers(0, 3, 90)
    X = rng.normal(size=(90, 2)) + y[:, None] * 3
    (tmp_path / "train.csv").write_text("".join(f"{a},{b},{labels[c]}\n"
                                                for (a, b), c in zip(X, y, strict=True)))
    config = {"name": "r", "data": {"source": "csv", "path": "train.csv"},
              "model": {"hidden": [8]}, "train": {"epochs": 2, "progress": False}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    status, _, err = cli(capsys, "train", tmp_path / "config.json", "--ckpt-root",
                         tmp_path, "-q")
    assert status == 0, err
    (tmp_path / "inputs.csv").write_text("".join(f"{a},{b}\n" for a, b in X[:20]))
    status, out, err = cli(capsys, "predict", tmp_path / "r", tmp_path / "inputs.csv")
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 20 and set(lines) <= {"line\\nbreak", "tab\\there", "plain"}
    assert one_line("a\r\nb") == "a\\r\\nb" and one_line("café") == "café"


def test_non_finite_hyperparameters_are_refused_everywhere_a_float_is_declared() -> None:
    with pytest.raises(pydantic.ValidationError, match="finite"):
        Model.model_validate({"modules": [
            {"type": "layer", "in_features": 2, "out_features": 3},
            {"type": "batch_norm", "num_features": 3, "eps": float("inf")}]})
    classes = [MODULES.get(n) for n in MODULES.names()] + [LOSSES.get(n) for n in LOSSES.names()]
    assert [c.__name__ for c in classes if c.model_config.get("allow_inf_nan") is not False] \
        == []
    with pytest.raises(pydantic.ValidationError, match="finite"):
        RunConfig.model_validate({"name": "r", "data": {"source": "sin"},
                                  "model": {"hidden": [4], "init_scale": "Infinity"}})


# --------------------------------------------------- 7. configs generated and mutated
def _paths(schema: dict[str, Any], node: dict[str, Any], prefix: tuple[Any, ...] = ()
           ) -> Iterator[tuple[Any, ...]]:
    """Every property path the schema declares (through references, unions, arrays)."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        yield from _paths(schema, option, prefix)
    if node.get("type") == "array" and isinstance(node.get("items"), dict) and len(prefix) < 6:
        yield from _paths(schema, node["items"], (*prefix, 0))
    for name, child in node.get("properties", {}).items():
        yield (*prefix, name)
        if len(prefix) < 6:
            yield from _paths(schema, child, (*prefix, name))


SCHEMA = RunConfig.model_json_schema()
PATHS = sorted(set(_paths(SCHEMA, SCHEMA)), key=str)
BASES = [
    {"name": "r", "data": {"source": "sin", "n_train": 32, "n_val": 16},
     "model": {"hidden": [4, 3]}, "train": {"epochs": 1, "batch_size": 8}},
    {"name": "r", "data": {"source": "sin", "n_train": 32, "n_val": 16},
     "model": {"modules": [{"type": "layer", "in_features": 1, "out_features": 4},
                           {"type": "batch_norm", "num_features": 4},
                           {"type": "nonlinearity", "kind": "tanh"},
                           {"type": "layer", "in_features": 4, "out_features": 1}]},
     "train": {"epochs": 1, "schedule": {"kind": "step", "step_size": 1}}},
]


class _Nested:
    """``[[...[0]...]]`` ``depth`` lists deep, built only when a mutation is applied: the
    example itself stays shallow, so Hypothesis can print it (its printer recurses)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"_Nested({self.depth})"

    def build(self) -> Any:
        value: Any = 0
        for _ in range(self.depth):
            value = [value]
        return value


HOSTILE = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, 1e308, -1e308, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["x" * 100_000, "", "/dev/zero", "\x00", "\ud800"]),
    st.booleans(), st.none(),
    st.lists(st.integers(min_value=-5, max_value=10**12), max_size=5),
    st.lists(st.floats(), max_size=3),
    st.lists(st.one_of(st.integers(), st.dictionaries(st.text(max_size=2), st.integers()),
                       st.lists(st.integers(), max_size=2)), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=1, max_value=3000).map(_Nested),
)


def _holds(raw: Any, path: tuple[Any, ...]) -> bool:
    """Whether ``raw`` has an object at ``path`` (where a key can be set)."""
    for part in path:
        if isinstance(raw, dict) and part in raw:
            raw = raw[part]
        elif isinstance(raw, list) and isinstance(part, int) and part < len(raw):
            raw = raw[part]
        else:
            return False
    return isinstance(raw, dict)


def _paths_of(base: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The schema's paths that land in ``base``: every item of a list tried, each path's
    parent an object of ``base``."""
    found = set()
    for path in PATHS:
        variants = [path]
        if 0 in path:
            at = path.index(0)
            variants = [(*path[:at], i, *path[at + 1:]) for i in range(4)]
        found.update(v for v in variants if _holds(base, v[:-1]))
    return sorted(found, key=str)


def _set(raw: Any, path: tuple[Any, ...], value: Any) -> None:
    """Put ``value`` at ``path`` in ``raw``, creating objects on the way where possible."""
    node = raw
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value


def _affordable(spec: Any) -> bool:
    """Whether building ``spec`` stays small (the test process has no memory limit)."""
    if isinstance(spec, Model):
        return sum(math.prod(shape) for module in spec.modules
                   for shape in module.parameter_shapes().values()) < 10**6
    sizes = spec.layer_sizes or [1, *spec.hidden, 1]
    return sum(a * b for a, b in zip(sizes, sizes[1:], strict=False)) < 10**6


@settings(max_examples=1000, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(BASES).flatmap(lambda base: st.tuples(
    st.just(base), st.lists(st.tuples(st.sampled_from(_paths_of(base)), HOSTILE),
                            min_size=1, max_size=3))))
def test_mutated_configs_raise_only_the_librarys_errors(
        case: tuple[dict[str, Any], list[tuple[tuple[Any, ...], Any]]]) -> None:
    base, mutations = case
    raw = json.loads(json.dumps(base))
    for path, value in mutations:
        _set(raw, path, value.build() if isinstance(value, _Nested) else value)
    try:
        config = RunConfig.model_validate(raw, context=SPEC_ONLY)
        if _affordable(config.model):
            config.build_model(1, 1)
        data = config.data
        if getattr(data, "source", None) == "sin" and data.n_train + data.n_val < 10**5:
            load_data(data)
    except (pydantic.ValidationError, MLPError) as exc:
        text = _error_text(exc)
        assert text and len(text) <= 2100
        assert not isinstance(exc, ResourceError) or "available" in str(exc)

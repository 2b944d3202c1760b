"""Hostile and damaged checkpoints, crafted with h5py: every one is a ``CheckpointError`` at
load, loading is bounded by what the file really stores, and a file another process holds
open still loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from fixtures.faults import blobs, child_env, cli, edit, replace_dataset, set_json

from mlp.errors import CheckpointError
from mlp.nn.model import Model
from mlp.training.checkpoint import load_checkpoint
from mlp.training.routinizer import BasicRoutinizer


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid checkpoint of 3 epochs (copied by each test before crafting)."""
    folder = tmp_path_factory.mktemp("good")
    BasicRoutinizer(epochs=3, seed=1, progress=False, checkpoint_dir=folder).run(
        Model.mlp([6, 8, 3], seed=0), blobs())
    return folder / "last.h5"


def _crafted(good: Path, tmp_path: Path, change: Callable[[h5py.File], None]) -> Path:
    path = tmp_path / "run" / "last.h5"
    path.parent.mkdir()
    path.write_bytes(good.read_bytes())
    return edit(path, change)


def _huge_declared(file: h5py.File) -> None:
    file.create_dataset("model/0/huge", shape=(10**6, 10**6), dtype="f4", chunks=(64, 64),
                        fletcher32=True)


def _unwritten_chunks(file: h5py.File) -> None:
    del file["model/0/weight"]
    file.create_dataset("model/0/weight", shape=(6, 8), dtype="f4", chunks=(2, 8),
                        fletcher32=True, fillvalue=0.5)  # no chunk ever written


def _gzip(file: h5py.File) -> None:
    weight = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    replace_dataset(file, "model/0/weight", weight, compression="gzip")


def _external_link(file: h5py.File) -> None:
    del file["model/0/weight"]
    file["model/0/weight"] = h5py.ExternalLink("/dev/zero", "/weight")


def _virtual(file: h5py.File) -> None:
    layout = h5py.VirtualLayout(shape=(6, 8), dtype="f4")
    layout[:] = h5py.VirtualSource("other.h5", "data", shape=(6, 8))
    del file["model/0/weight"]
    file.create_virtual_dataset("model/0/weight", layout, fillvalue=0)


def _link_loop(file: h5py.File) -> None:
    file["loop/a"] = h5py.SoftLink("/loop/b")
    file["loop/b"] = h5py.SoftLink("/loop/a")


def _deep_json(file: h5py.File) -> None:
    set_json(file, "model_spec", lambda spec: "[" * 200_000 + "]" * 200_000)


def _long_history(file: h5py.File) -> None:
    for name in list(file["history"]):
        column = file[f"history/{name}"][()]
        replace_dataset(file, f"history/{name}", np.concatenate([column] * 40))


def _state(**fields: object) -> Callable[[h5py.File], None]:
    return lambda file: set_json(file, "state", lambda state: state | fields)


def _nan_weight(file: h5py.File) -> None:
    weight = file["model/0/weight"][()]
    weight[1, 2] = np.nan
    replace_dataset(file, "model/0/weight", weight)


def _negative_image_shape(file: h5py.File) -> None:
    file.attrs["image_shape"] = np.array([-2, -3], dtype=np.int64)


def _infinite_lr(file: h5py.File) -> None:
    set_json(file, "routinizer", lambda config: json.dumps(config | {"lr": float("inf")}))


CRAFTED = {
    "shapes of 10^12": (_huge_declared, "declares"),
    "chunks never written": (_unwritten_chunks, "declares"),
    "gzip filter": (_gzip, "fletcher32"),
    "external link": (_external_link, "ExternalLink"),
    "virtual dataset": (_virtual, "weight"),
    "soft-link loop": (_link_loop, "SoftLink"),
    "deep JSON": (_deep_json, "model_spec|Recursion|nest"),
    "history longer than the epoch": (_long_history, "history holds 120 epochs"),
    "garbage rng_state": (_state(rng_state={"bit_generator": "PCG64", "state": "garbage"}),
                          "rng_state"),
    "epoch -1000000": (_state(epoch=-1_000_000), "epoch"),
    "NaN weights": (_nan_weight, "NaN"),
    "negative image_shape": (_negative_image_shape, "image_shape"),
    "infinite lr": (_infinite_lr, "lr"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_checkpoint_is_a_checkpoint_error(good, tmp_path, case):
    change, expected = CRAFTED[case]
    path = _crafted(good, tmp_path, change)
    with pytest.raises(CheckpointError, match=expected) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    with pytest.raises(CheckpointError):  # resuming reads through the same checks
        BasicRoutinizer.resume(path.parent)


def _sparse_copy(source: Path, target: Path, block: int = 4096) -> None:
    """Copy ``source`` leaving holes where it holds only zero blocks."""
    data = source.read_bytes()
    with open(target, "wb") as out:
        for start in range(0, len(data), block):
            chunk = data[start:start + block]
            if chunk.count(0) == len(chunk):
                out.seek(len(chunk), os.SEEK_CUR)
            else:
                out.write(chunk)
        out.truncate(len(data))


def test_a_sparse_file_is_refused(good, tmp_path):
    """Big apparent size, few blocks: the datasets' bytes are not really stored."""
    dense = _crafted(good, tmp_path, lambda file: file.create_dataset(
        "model/0/padding", data=np.zeros((1024, 4096), np.float32), chunks=(64, 4096),
        fletcher32=True))
    sparse = tmp_path / "sparse" / "last.h5"
    sparse.parent.mkdir()
    _sparse_copy(dense, sparse)
    info = sparse.stat()
    if info.st_blocks * 512 > info.st_size // 4:
        pytest.skip("this file system does not keep holes")
    with pytest.raises(CheckpointError, match="sparse or crafted"):
        load_checkpoint(sparse)


_MEASURE = textwrap.dedent("""
    import sys
    from mlp.training.checkpoint import load_checkpoint

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark after the imports
    before = hwm()
    checkpoint = load_checkpoint(sys.argv[1])
    print(hwm() - before, checkpoint.model.n_parameters)
""")


def test_loading_needs_at_most_twice_the_stored_size(tmp_path):
    """An honest 16 MB checkpoint (1 M parameters, their moments and best weights) loads in
    at most twice its size plus a constant of peak memory (measured in a fresh process)."""
    model = Model.mlp([1000, 1000, 10], seed=0)
    BasicRoutinizer(epochs=1, progress=False, checkpoint_dir=tmp_path / "big").run(
        model, blobs(n=32, features=1000, classes=10))
    path = tmp_path / "big" / "last.h5"
    size = path.stat().st_size
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                            text=True, timeout=60, env=child_env())
    if "clear_refs" in result.stderr:
        pytest.skip("cannot reset the peak memory of a process here")
    assert result.returncode == 0, result.stderr
    growth, parameters = map(int, result.stdout.split())
    assert parameters == model.n_parameters
    assert size > 16_000_000
    assert growth < 2 * size + 32_000_000, (growth, size)


_HOLD_OPEN = textwrap.dedent("""
    import sys
    import h5py

    file = h5py.File(sys.argv[1], "r+")  # HDF5's own file locking, as other programs use
    print("open", flush=True)
    sys.stdin.read()
    file.close()
""")


def test_a_checkpoint_held_open_by_another_process_loads(good, tmp_path, capsys):
    path = _crafted(good, tmp_path, lambda file: None)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_OPEN, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=child_env())
    try:
        assert holder.stdout.readline().strip() == "open", holder.stderr.read()
        assert load_checkpoint(path).state.epoch == 3
        status, out, _ = cli(capsys, "runs", tmp_path)
        assert status == 0
        (row,) = [line for line in out.splitlines()[2:] if line.startswith("run ")]
        assert row.split()[1] == "3" and "unreadable" not in out
    finally:
        holder.communicate("", timeout=30)

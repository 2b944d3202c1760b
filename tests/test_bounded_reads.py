"""Hostile and oversized inputs: each is one ``DataError`` line (exit 2 from the command, no
traceback) before anything big is allocated. The files are made here; they are small but
declare huge sizes. Child processes run under an address-space limit (RLIMIT_AS) and their
peak RSS is measured, so a reader that allocated what a file declares would fail the test."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from fixtures.faults import MLP, child_env
from PIL import Image

from mlp.errors import DataError
from preprocess import Data
from preprocess.bounded import ReadLimits, read_npy

#: the address space a child may map (the interpreter, NumPy, OpenBLAS, h5py fit in it)
ADDRESS_LIMIT = 3 << 30
#: the peak RSS a refused input may cost a child, in MiB (its imports take about 150)
RSS_BOUND_MB = 400


def _run_limited(*args: str | Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``mlp ARGS`` in a child under ``ADDRESS_LIMIT``; its result and its peak RSS (MiB),
    measured by a wrapper process that waits for it alone."""
    wrapper = ("import resource, subprocess, sys\n"
               "code = subprocess.call(sys.argv[1:], preexec_fn=lambda: resource.setrlimit("
               f"resource.RLIMIT_AS, ({ADDRESS_LIMIT}, {ADDRESS_LIMIT})))\n"
               "sys.stderr.write('\\nRSS %d' % resource.getrusage("
               "resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(code)\n")
    env = dict(child_env(), OPENBLAS_NUM_THREADS="1", MLP_KERNELS="numpy")
    result = subprocess.run([sys.executable, "-c", wrapper, *MLP, *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=60, env=env)
    text, _, rss = result.stderr.rpartition("\nRSS ")
    result.stderr = text
    return result, int(rss) / 1024


def _config(folder: Path, data: dict) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps({"name": "run", "data": data, "model": {"hidden": [4]},
                                "train": {"epochs": 1}}))
    return path


def _refused(result: subprocess.CompletedProcess[str], rss: float, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "DataError: " in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert rss < RSS_BOUND_MB, f"peak RSS {rss:.0f} MiB"


def _png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` grey pixels, with one row of data (a
    decoder that trusted the header would allocate all of them)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


def _npy_declaring(shape: tuple[int, ...]) -> bytes:
    """A ``.npy`` file whose header declares ``shape`` float64 values, with 8 of them."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + np.zeros(8).tobytes()


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_a_stream_or_a_fifo_as_a_csv_data_path_is_refused_by_name(tmp_path, device):
    if device == "fifo":
        device = tmp_path / "data.csv"
        os.mkfifo(device)  # nobody ever writes: opening it for reading would block
    config = _config(tmp_path, {"source": "csv", "path": str(device)})
    result, rss = _run_limited("train", config, "--ckpt-root", tmp_path, cwd=tmp_path)
    kind = "character device" if device == "/dev/zero" else "FIFO"
    _refused(result, rss, str(device), f"expected a regular file, found a {kind}")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained on 2x3 images (height x width)."""
    folder = tmp_path_factory.mktemp("images")
    for label in ("a", "b"):
        (folder / "images" / label).mkdir(parents=True)
        for index in range(10):
            Image.new("L", (3, 2), color=index * 20).save(folder / "images" / label
                                                          / f"{index}.png")
    config = _config(folder, {"source": "image_folder", "root": str(folder / "images")})
    subprocess.run([*MLP, "train", str(config), "--ckpt-root", str(folder), "-q"],
                   cwd=folder, check=True, env=child_env(), timeout=60)
    return folder / "run"


def test_a_fifo_as_an_image_to_predict_is_refused_without_hanging(tmp_path, image_run):
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    result, rss = _run_limited("predict", image_run, fifo, cwd=tmp_path)
    assert result.returncode == 2 and "expected a regular file, found a FIFO" in result.stderr
    assert "Traceback" not in result.stderr and rss < RSS_BOUND_MB


def test_an_npz_whose_header_declares_4e11_floats_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", _npy_declaring((200_000, 2_000_000)))
        archive.writestr("y.npy", _npy_declaring((200_000,)))
    config = _config(tmp_path, {"source": "npz", "path": str(path)})
    result, rss = _run_limited("train", config, "--ckpt-root", tmp_path, cwd=tmp_path)
    _refused(result, rss, "member 'X.npy'", "(200000, 2000000)", "3200000000000 bytes")


def test_a_npy_file_is_checked_against_its_size_and_the_byte_limit(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(_npy_declaring((400_000_000_000,)))
    with pytest.raises(DataError, match=r"declares shape \(400000000000,\) of float64 "
                                        r"\(3200000000000 bytes\) but the file holds 64"):
        read_npy(path)
    np.save(tmp_path / "ok.npy", np.arange(1000.0))
    assert read_npy(tmp_path / "ok.npy").sum() == 499500.0
    with pytest.raises(DataError, match="8000 bytes of arrays, more than the limit of 4000 "
                                        r"\(raise max_bytes"):
        read_npy(tmp_path / "ok.npy", ReadLimits(max_bytes=4000))


@pytest.mark.parametrize(("width", "height", "why"), [
    (30_000, 30_000, "decompression bomb"),  # 0.9 gigapixels: past Pillow's own limit
    (60_000, 60_000, "decompression bomb"),  # 3.6 gigapixels
    (12_000, 12_000, "more than the limit of 16777216"),  # 144 megapixels, under Pillow's
    (9_000, 9_000, "more than the limit of 16777216"),
])
def test_a_png_bomb_in_an_image_folder_is_refused_before_decoding(tmp_path, width, height, why):
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
    (tmp_path / "images" / "a" / "0.png").write_bytes(_png(width, height))
    Image.new("L", (4, 4)).save(tmp_path / "images" / "b" / "0.png")
    config = _config(tmp_path, {"source": "image_folder", "root": str(tmp_path / "images")})
    result, rss = _run_limited("train", config, "--ckpt-root", tmp_path, cwd=tmp_path)
    _refused(result, rss, "0.png", why)


def test_an_image_of_another_size_than_the_models_is_refused_before_decoding(tmp_path,
                                                                             image_run):
    (tmp_path / "big.png").write_bytes(_png(12_000, 12_000))
    result, rss = _run_limited("predict", image_run, tmp_path / "big.png", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "expected an image of 2x3 (height x width) like image_shape, found 12000x12000" \
        in result.stderr and rss < RSS_BOUND_MB


def test_csv_limits_refuse_long_lines_and_many_rows_and_can_be_raised(tmp_path):
    long_line = tmp_path / "long.csv"
    long_line.write_text("1," * 600_000 + "0\n")  # one 1.2-million-character line
    config = _config(tmp_path, {"source": "csv", "path": str(long_line)})
    result, rss = _run_limited("train", config, "--ckpt-root", tmp_path, cwd=tmp_path)
    _refused(result, rss, "line 1 is longer than 1048576 characters", "max_line_chars")
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"{i},{i % 2}\n" for i in range(10)))
    with pytest.raises(DataError, match=r"more than 5 rows \(raise max_rows"):
        Data.from_csv(rows, limits=ReadLimits(max_rows=5))
    assert len(Data.from_csv(rows, limits=ReadLimits(max_rows=10))) == 10
    wide = tmp_path / "wide.csv"
    wide.write_text(f"{'1' * 200},0\n2,1\n")
    with pytest.raises(DataError, match=r"line 1: field larger than field limit \(100\)"):
        Data.from_csv(wide, limits=ReadLimits(max_field_chars=100))


def test_bad_csv_values_name_their_line_in_a_later_block(tmp_path):
    path = tmp_path / "data.csv"
    lines = [f"{i * 0.5},{i % 3}" for i in range(70_000)]
    lines[66_000] = "nan,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 66001 \(in lines 65537-70000\): expected finite"):
        Data.from_csv(path)
    lines[66_000] = "abc,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 66001: expected numeric values, found \['abc'\]"):
        Data.from_csv(path)


def test_the_limits_are_config_fields_a_user_can_raise(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("".join(f"{i},{i % 2}\n" for i in range(10)))
    config = _config(tmp_path, {"source": "csv", "path": str(path), "max_rows": 5})
    result, rss = _run_limited("train", config, "--ckpt-root", tmp_path, cwd=tmp_path)
    _refused(result, rss, "more than 5 rows")

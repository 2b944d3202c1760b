"""Benchmark of training from HDF5 on disk: epoch time, bounded memory, conversion, shuffling.

    python scripts/bench_data.py [--rounds R] [--big GB[,GB...]] [--csv-rows N] [--quick]
    python scripts/bench_data.py --byo GB

(a) Epoch: the W1 workload of scripts/bench.py (60000x784 float32 random inputs, 10 classes,
    784-512-512-10 ReLU, Adam lr 1e-3, batch 128, shuffled) trained one epoch at a time from a
    ``Data`` in memory and from the same rows read in place from an HDF5 data file in the page
    cache (``Data.from_hdf5``, default blocks and buffer), in interleaved rounds after a
    warm-up epoch each; printed: each round's two times, the median ratio and its range.
    Beside it, the seconds one epoch of batches takes to gather without training.
(b) Memory (only with ``--big``): data files of the given sizes (GB) of W1-shaped rows are
    written block by block (``mlp.storage.hdf5.StreamWriter``), then a process of its own opens one,
    normalises it (one streaming pass) and trains one epoch of a 784-64-10 network (batch
    512); printed per size: rows, seconds, the process's RSS before opening the file
    (interpreter, libraries, model) and its peak RSS (VmHWM), and the bound the design
    promises (that baseline + the three shuffle buffers and a batch + 256 MiB).
(c) Conversion: a CSV of ``--csv-rows`` rows (1 million by default) of 20 numeric features
    and an integer label, read by ``mlp data convert`` (the installed command), by
    ``numpy.loadtxt`` and by ``pandas.read_csv`` (when pandas is installed), each in a
    process of its own: seconds, rows per second and peak RSS.
(d) Shuffling: test accuracy after training with a full shuffle (in memory) against block
    shuffling from disk, with the file in random order and sorted by class (the hard case for
    blocks), on digits (scikit-learn), mnist1d (when the package is installed; its data are
    generated offline by ``mnist1d.data.make_dataset``) and a W1-shaped task whose classes
    are learnable (Gaussian class means in 784 dimensions); mean and range over seeds.
(e) Your own HDF5 (``--byo GB``, which runs this section alone): h5py writes W1-shaped rows
    (8-bit pixel values) of about ``GB`` gigabytes as other programs do (``create_dataset``
    with gzip and with lzf in the chunks h5py guesses, and contiguous without any filter;
    none with fletcher32), ``mlp data convert`` writes a checksummed copy of the gzip file;
    then ``mlp train`` (a process of its own) trains each for one epoch of a 784-64-10
    network (batch 512, zscore: one streaming pass, and the run's content hash: another):
    printed per file its size on disk, the seconds and the peak RSS. Beside them the process
    of (b) (open, normalise, one epoch, from Python) on the gzip file: its RSS before
    opening, its peak and the bound of (b).
Prints tables and one JSON line.

The figures of the README
-------------------------
``python scripts/bench_data.py --rounds 6 --big 1,4`` (``make bench`` runs it without
``--big``) on 2026-12-02, on the machine of ``scripts/bench.py``'s figures (2 shared cores, 24
GiB; h5py 3.16.0, pandas 3.1.1), busy with other work:

- (a) W1 epoch from HDF5 in the page cache over in memory, 6 interleaved rounds: median 1.09,
  range 0.87-1.56 (an earlier run: 0.98, 0.18-1.08); the quiet rounds 1.05-1.10. An epoch's
  batches gathered alone, no training: memory 0.019 s, disk 0.100 s (reading and checksumming
  188 MB).
- (b) open + normalise + 1 epoch (784-64-10, batch 512), peak RSS: 1 GB file 325 MiB, 4 GB file
  335 MiB (67 before opening; bound 419 = that + 96 of buffers + 256).
- (c) 1M-row CSV (20 features + label, 192 MB): ``mlp data convert`` 2.8 s, 147 MiB peak;
  ``numpy.loadtxt`` 1.4 s, 191 MiB; ``pandas.read_csv`` 0.96 s, 574 MiB.

(e) Files of other programs, ``python scripts/bench_data.py --byo 1`` on 2026-12-05 (same
machine, busy: load about 16): 1 GB of W1 rows (8-bit pixel values) written by h5py, then
``mlp train`` with zscore and one epoch of 784-64-10 (batch 512), peak RSS of the whole process:

- gzip (chunks h5py chose): 398 MB on disk, 71 s, 356 MiB;
- lzf: 549 MB, 44 s, 343 MiB;
- contiguous, no filter: 1003 MB, 24 s, 306 MiB;
- the checksummed copy ``mlp data convert`` wrote (18 s, 125 MiB): 1003 MB, 30 s, 330 MiB.

All under (b)'s bound of 419 MiB.

(d) Shuffling by blocks against a full shuffle, test accuracy for each seed (digits: 64-64-10,
20 epochs, blocks of 16 rows in buffers of 128 of 1347; mnist1d 4000/1000 generated offline by
the ``mnist1d`` package: 40-256-256-10, 30 epochs, blocks of 32 in buffers of 512; W1 shapes,
10 Gaussian classes in 784 dimensions, 60000 rows: the W1 network, 2 epochs, the default blocks
of 256 in buffers of 10496)::

    data        full shuffle          blocks, random order   blocks, sorted by class
    digits      0.971, 0.960, 0.971   0.969, 0.962, 0.971    0.971, 0.960, 0.971
    mnist1d     0.608, 0.593, 0.603   0.619, 0.583, 0.600    0.615, 0.573, 0.629
    W1 shapes   0.684, 0.689          0.679, 0.682           0.672, 0.636

Within the seeds' spread on digits and mnist1d; on the W1 shapes a file in random order costs
about half a point and a file sorted by class 1 to 5 points after 2 epochs: write a sorted data
set in random order (permute the rows once before ``Data.save`` or before writing the CSV), or
raise ``buffer_rows``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlp import BasicRoutinizer, Model
from mlp.storage import hdf5
from preprocess import Data
from preprocess.block_batches import BUFFERS

W1 = [784, 512, 512, 10]
ROUNDS = 4


def _vm(field: str) -> float:
    """``VmRSS``/``VmHWM`` of this process in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measured(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and stdout of ``command`` run in a process of its own (a
    wrapper waits for it alone, so ``RUSAGE_CHILDREN`` is that process's peak)."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter()\n"
               "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, "
               "text=True).stdout\n"
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)"
               ".ru_maxrss / 1024)\n"
               "print(out, end='')\n")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], check=True,
                            capture_output=True, text=True)
    head, _, rest = result.stdout.partition("\n")
    seconds, rss = map(float, head.split())
    return seconds, rss, rest


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


# ------------------------------------------------------------------------------ (a)
def epoch_section(folder: Path, rounds: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    X, y = rng.random((n, W1[0]), dtype=np.float32), rng.integers(0, W1[-1], n)
    memory = Data(X, y)
    memory.save(folder / "w1.h5")
    disk = Data.from_hdf5(folder / "w1.h5")
    trainers = {name: (BasicRoutinizer(epochs=1, batch_size=128, lr=1e-3, progress=False),
                       Model.mlp(W1, seed=0)) for name in ("memory", "disk")}
    times: dict[str, list[float]] = {"memory": [], "disk": []}
    gather: dict[str, list[float]] = {"memory": [], "disk": []}
    for round_ in range(rounds + 1):  # round 0 warms up both
        for name, data in (("memory", memory), ("disk", disk)):
            routinizer, model = trainers[name]
            routinizer.epochs = round_ + 1
            started = time.perf_counter()
            routinizer.run(model, data)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            for _ in data.weighted_batches(128, np.random.default_rng(round_)):
                pass
            if round_:
                times[name].append(seconds)
                gather[name].append(time.perf_counter() - started)
    ratios = [d / m for d, m in zip(times["disk"], times["memory"], strict=True)]
    return {"rounds": [[round(m, 2), round(d, 2)] for m, d in
                       zip(times["memory"], times["disk"], strict=True)],
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "gather_seconds_memory": statistics.median(gather["memory"]),
            "gather_seconds_disk": statistics.median(gather["disk"]),
            "block_rows": disk.disk.block_rows, "buffer_rows": disk.disk.buffer_rows}


# ------------------------------------------------------------------------------ (b)
def write_big(path: Path, gigabytes: float) -> int:
    """A data file of about ``gigabytes`` GB of W1-shaped rows; returns its row count."""
    rows = int(gigabytes * 1e9 / (W1[0] * 4))
    rng = np.random.default_rng(1)
    means = rng.random((W1[-1], W1[0]), dtype=np.float32)
    with hdf5.StreamWriter(path) as writer:
        for start in range(0, rows, 16384):
            y = rng.integers(0, W1[-1], min(16384, rows - start))
            X = means[y] * 0.3 + rng.random((y.shape[0], W1[0]), dtype=np.float32) * 0.7
            writer.append("X_train", X)
            writer.append("y_train", y, writer.rows_per_chunk("X_train"))
        writer.write(lambda file: hdf5.set_text(file, "task", "classification"))
        writer.commit()
    return rows


def big_child(path: str) -> None:
    """The measured process of (b): open, normalise, one epoch; prints a JSON line."""
    model = Model.mlp([W1[0], 64, W1[-1]], seed=0)
    routinizer = BasicRoutinizer(epochs=1, batch_size=512, lr=1e-3, progress=False)
    baseline = _vm("VmRSS")
    started = time.perf_counter()
    data = Data.from_hdf5(path).normalize()
    routinizer.run(model, data)
    split = data.disk
    buffers = (BUFFERS * split.buffer_rows + 512) * split.n_features * split.dtype.itemsize
    print(json.dumps({"rows": len(data), "seconds": time.perf_counter() - started,
                      "baseline_mib": baseline, "peak_mib": _vm("VmHWM"),
                      "buffers_mib": buffers / 2**20}))


def big_section(folder: Path, sizes: list[float]) -> list[dict]:
    found = []
    for size in sizes:
        path = folder / f"big-{size:g}.h5"
        write_big(path, size)
        _, _, out = _measured([sys.executable, __file__, "--child-big", str(path)])
        row = json.loads(out)
        row.update(gigabytes=size, bound_mib=row["baseline_mib"] + row["buffers_mib"] + 256)
        found.append(row)
        path.unlink()
    return found


# ------------------------------------------------------------------------------ (e)
#: how (e) has h5py write each file: ``create_dataset`` options (None: mlp data convert)
BYO_KINDS = {"gzip": {"compression": "gzip", "chunks": True},
             "lzf": {"compression": "lzf", "chunks": True},
             "plain": {}, "converted": None}


def write_byo(path: Path, rows: int, options: dict) -> None:
    """W1-shaped rows (as ``write_big``'s, in steps of 1/255 as 8-bit pixels scaled to [0,
    1]) written by h5py with ``options``, in blocks."""
    import h5py

    rng = np.random.default_rng(1)
    means = rng.random((W1[-1], W1[0]), dtype=np.float32)
    with h5py.File(path, "w") as file:
        X = file.create_dataset("X_train", shape=(rows, W1[0]), dtype="f4", **options)
        y = file.create_dataset("y_train", shape=(rows,), dtype="i8", **options)
        for start in range(0, rows, 16384):
            labels = rng.integers(0, W1[-1], min(16384, rows - start))
            values = means[labels] * 0.3 + rng.random((labels.shape[0], W1[0]),
                                                      dtype=np.float32) * 0.7
            X[start:start + labels.shape[0]] = np.round(values * 255) / 255  # 8-bit pixels
            y[start:start + labels.shape[0]] = labels


def byo_section(folder: Path, gigabytes: float) -> dict:
    rows = int(gigabytes * 1e9 / (W1[0] * 4))
    found: dict = {"gigabytes": gigabytes, "rows": rows, "files": {}}
    for kind, options in BYO_KINDS.items():
        path = folder / f"{kind}.h5"
        if options is None:
            seconds, rss, _ = _measured([sys.executable, "-m", "mlp.cli", "data", "convert",
                                         str(folder / "gzip.h5"), str(path), "-q"])
            found["convert_seconds"], found["convert_peak_mib"] = seconds, rss
        else:
            write_byo(path, rows, options)
        config = folder / f"{kind}.json"
        config.write_text(json.dumps({
            "name": kind, "data": {"source": "hdf5", "path": str(path), "normalize": "zscore"},
            "model": {"hidden": [64], "seed": 0},
            "train": {"epochs": 1, "batch_size": 512, "lr": 1e-3, "progress": False}}))
        seconds, rss, _ = _measured([sys.executable, "-m", "mlp.cli", "train", str(config),
                                     "-q", "--ckpt-root", str(folder / "runs")])
        found["files"][kind] = {"megabytes": path.stat().st_size / 1e6, "seconds": seconds,
                                "peak_mib": rss}
        if kind == "gzip":
            _, _, out = _measured([sys.executable, __file__, "--child-big", str(path)])
            row = json.loads(out)
            row["bound_mib"] = row["baseline_mib"] + row["buffers_mib"] + 256
            found["python_gzip"] = row
    for path in folder.glob("*.h5"):
        path.unlink()
    return found


def _print_byo(r: dict) -> None:
    print(f"(e) your own HDF5, {r['gigabytes']:g} GB of W1 rows ({r['rows']} rows), "
          f"mlp train: 1 epoch 784-64-10, batch 512, zscore")
    for kind, row in r["files"].items():
        print(f"    {kind:10s} {row['megabytes']:7.0f} MB on disk {row['seconds']:7.1f} s  "
              f"peak RSS {row['peak_mib']:5.0f} MiB")
    print(f"    mlp data convert gzip -> checksummed: {r['convert_seconds']:.1f} s, peak RSS "
          f"{r['convert_peak_mib']:.0f} MiB")
    row = r["python_gzip"]
    print(f"    (b) on the gzip file: RSS before opening {row['baseline_mib']:.0f} MiB, peak "
          f"{row['peak_mib']:.0f} MiB, bound {row['bound_mib']:.0f} MiB")


# ------------------------------------------------------------------------------ (c)
def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(2)
    with path.open("w") as handle:
        handle.write(",".join(f"f{i}" for i in range(20)) + ",label\n")
        for start in range(0, rows, 100_000):
            m = min(100_000, rows - start)
            block = np.column_stack([rng.normal(size=(m, 20)), rng.integers(0, 5, m)])
            np.savetxt(handle, block, delimiter=",", fmt=["%.6f"] * 20 + ["%d"])


PEERS = {
    "numpy.loadtxt": "import numpy, sys; a = numpy.loadtxt(sys.argv[1], delimiter=',', "
                     "skiprows=1); print(a.shape)",
    "pandas.read_csv": "import pandas, sys; a = pandas.read_csv(sys.argv[1]); print(a.shape)",
}


def csv_section(folder: Path, rows: int) -> dict:
    path = folder / "data.csv"
    write_csv(path, rows)
    mlp = str(Path(sys.executable).with_name("mlp"))
    found = {"rows": rows, "megabytes": path.stat().st_size / 1e6}
    readers = {"mlp data convert": [mlp, "data", "convert", str(path), str(folder / "c.h5"),
                                    "-q"]}
    for name, code in PEERS.items():
        module = name.partition(".")[0]
        if subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode == 0:
            readers[name] = [sys.executable, "-c", code, str(path)]
        else:
            found[name] = "not installed"
    for name, command in readers.items():
        seconds, rss, _ = _measured(command)
        found[name] = {"seconds": seconds, "rows_per_second": rows / seconds, "peak_mib": rss}
    path.unlink()
    return found


# ------------------------------------------------------------------------------ (d)
def _tasks(quick: bool) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    tasks = {}
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
    tasks["digits"] = (X_train, y_train, X_test, y_test, [64, 64, 10], 20, 32, (16, 128))
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        tasks["mnist1d"] = None
    else:
        made = make_dataset(get_dataset_args())
        tasks["mnist1d"] = (made["x"], made["y"], made["x_test"], made["y_test"],
                            [40, 256, 256, 10], 30, 100, (32, 512))
    rng = np.random.default_rng(3)
    n = 12000 if quick else 60000
    means = rng.normal(size=(10, 784)) * 0.08
    y = rng.integers(0, 10, n + 10000)
    X = (means[y] + rng.normal(size=(y.shape[0], 784))).astype(np.float32)
    tasks["W1 shapes"] = (X[:n], y[:n], X[n:], y[n:], W1, 2, 128, (None, None))
    return tasks


def _accuracy(data: Data, X_test: np.ndarray, y_test: np.ndarray, sizes: list[int],
              epochs: int, batch: int, seed: int) -> float:
    model = Model.mlp(sizes, seed=seed)
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=batch, lr=1e-3, seed=seed,
                                 progress=False)
    routinizer.run(model, data)
    X = data.normalizer.apply(X_test).astype(np.float32)
    return float((model.predict(X) == y_test).mean())


def shuffle_section(folder: Path, quick: bool) -> dict:
    found: dict = {}
    for name, task in _tasks(quick).items():
        if task is None:
            found[name] = "mnist1d not installed"
            continue
        X, y, X_test, y_test, sizes, epochs, batch, (block, buffer) = task
        seeds = [0, 1] if name == "W1 shapes" else [0, 1, 2]
        scores: dict[str, list[float]] = {}
        for order in ("random order", "sorted by class"):
            rows = np.argsort(y, kind="stable") if order == "sorted by class" else \
                np.arange(y.shape[0])
            path = folder / "shuffle.h5"
            Data(X[rows].astype(np.float32), y[rows]).save(path)
            for seed in seeds:
                if order == "random order":
                    data = Data(X.astype(np.float32), y).normalize()
                    scores.setdefault("full shuffle", []).append(
                        _accuracy(data, X_test, y_test, sizes, epochs, batch, seed))
                disk = Data.from_hdf5(path, block_rows=block, buffer_rows=buffer).normalize()
                scores.setdefault(f"blocks, {order}", []).append(
                    _accuracy(disk, X_test, y_test, sizes, epochs, batch, seed))
            found[f"{name} blocks"] = (f"{disk.disk.block_rows} rows, buffer "
                                       f"{disk.disk.buffer_rows} of {len(disk)}")
        found[name] = {k: [round(v, 4) for v in values] for k, values in scores.items()}
    return found


# ---------------------------------------------------------------------------- main
def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-big":
        big_child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="measured epoch rounds")
    parser.add_argument("--big", help="sizes in GB of the files of (b), e.g. 1,4 (off)")
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true",
                        help="10000 W1 rows, a 100000-row CSV, a smaller W1-shaped task")
    parser.add_argument("--byo", type=float, metavar="GB",
                        help="only (e): files of about GB gigabytes written by h5py")
    args = parser.parse_args()
    if args.byo:
        with tempfile.TemporaryDirectory(prefix="bench-data-") as temp:
            found = byo_section(Path(temp), args.byo)
        found.update(machine=f"{platform.machine()} {os.cpu_count()} cores, Python "
                             f"{platform.python_version()}", date=time.strftime("%Y-%m-%d"))
        _print_byo(found)
        print(json.dumps(found))
        return
    rows = 10000 if args.quick else 60000
    r: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
                          f"{platform.python_version()}",
               "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as temp:
        folder = Path(temp)
        r["epoch"] = epoch_section(folder, args.rounds, rows)
        if args.big:
            r["big"] = big_section(folder, [float(s) for s in args.big.split(",")])
        r["csv"] = csv_section(folder, 100_000 if args.quick else args.csv_rows)
        r["shuffle"] = shuffle_section(folder, args.quick)
    _print(r)


def _print(r: dict) -> None:
    e = r["epoch"]
    print(f"{r['machine']}, {r['date']}")
    print(f"(a) W1 epoch, memory vs HDF5 in page cache (blocks {e['block_rows']} rows, buffer "
          f"{e['buffer_rows']}): rounds [memory s, disk s] {e['rounds']}")
    print(f"    disk/memory ratio median {e['ratio_median']:.3f} (range {e['ratio_min']:.3f}-"
          f"{e['ratio_max']:.3f}); gathering an epoch's batches alone: memory "
          f"{e['gather_seconds_memory']:.3f} s, disk {e['gather_seconds_disk']:.3f} s")
    for row in r.get("big", []):
        print(f"(b) {row['gigabytes']:g} GB, {row['rows']} rows: open + normalise + 1 epoch "
              f"{row['seconds']:.1f} s, RSS before opening {row['baseline_mib']:.0f} MiB, peak "
              f"{row['peak_mib']:.0f} MiB, bound {row['bound_mib']:.0f} MiB (buffers "
              f"{row['buffers_mib']:.0f} MiB)")
    c = r["csv"]
    print(f"(c) CSV of {c['rows']} rows ({c['megabytes']:.0f} MB):")
    for name, value in c.items():
        if isinstance(value, dict):
            print(f"    {name:18s} {value['seconds']:7.2f} s  {value['rows_per_second']:10.0f} "
                  f"rows/s  peak RSS {value['peak_mib']:6.0f} MiB")
        elif isinstance(value, str):
            print(f"    {name:18s} {value}")
    print("(d) test accuracy, full shuffle vs blocks (each seed):")
    for name, value in r["shuffle"].items():
        print(f"    {name}: {value}")
    print(json.dumps(r))


if __name__ == "__main__":
    main()

"""Benchmark: epoch time against the GEMM bound, scikit-learn and PyTorch; memory; inference.

    python scripts/bench.py [--quick] [--no-peers] [--json-only]

Workloads (float32 unless said, one process, the machine's BLAS threads):
  W1  60000x784 random inputs, 10 classes, Model.mlp([784, 512, 512, 10]), ReLU, cross
      entropy, Adam lr 1e-3, batch 128, shuffling; median of 3 epochs after a warm-up epoch.
  W2  the same with batch 32 (overhead-bound).
  W3  full-batch float64 sin fit, 2000 iterations of a 1-100-100-1 net.
Bound: 6*N*sum(in*out) flops per epoch divided by the GEMM rate NumPy reaches at the W1
shapes in this run. Peers run the same data and sizes in the same run. Prints a table and
one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
import warnings

import numpy as np

from mlp import BasicRoutinizer, Model
from preprocess import Data

SIZES = [784, 512, 512, 10]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_w1(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], n)


def gemm_rate(batch: int, repeats: int = 30) -> float:
    """Flops per second of the GEMMs one W1 batch needs (forward, weight and input grads)."""
    rng = np.random.default_rng(1)
    work = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        x = rng.random((batch, n_in), dtype=np.float32)
        w = rng.random((n_in, n_out), dtype=np.float32)
        g = rng.random((batch, n_out), dtype=np.float32)
        work.append((x, w, g, np.empty((batch, n_out), np.float32),
                     np.empty((n_in, n_out), np.float32), np.empty((batch, n_in), np.float32)))

    def once() -> None:
        for x, w, g, out, gw, gx in work:
            np.matmul(x, w, out=out)
            np.matmul(x.T, g, out=gw)
            np.matmul(g, w.T, out=gx)

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    seconds = (time.perf_counter() - start) / repeats
    flops = 6 * batch * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    return flops / seconds


def ours_epochs(X: np.ndarray, y: np.ndarray, batch: int, epochs: int = 4) -> list[float]:
    data = Data(X, y)
    model = Model.mlp(SIZES, seed=0)
    routinizer = BasicRoutinizer(epochs=epochs, batch_size=batch, lr=1e-3, optimizer="adam",
                                 shuffle=True, progress=False)
    history = routinizer.run(model, data)
    return history.seconds


def allocation_per_batch(X: np.ndarray, y: np.ndarray, batch: int, n_batches: int = 50
                         ) -> tuple[float, float]:
    """(peak transient bytes, net bytes) per batch over ``n_batches`` steady-state batches."""
    data = Data(X[: batch * n_batches], y[: batch * n_batches])
    model = Model.mlp(SIZES, seed=0)
    routinizer = BasicRoutinizer(epochs=1, batch_size=batch, progress=False)
    routinizer.run(model, data)  # warm-up: buffers allocated
    routinizer.epochs = 2
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    routinizer.run(model, data)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base, (current - base) / n_batches


def sklearn_epochs(X: np.ndarray, y: np.ndarray, batch: int, epochs: int = 4) -> list[float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), solver="adam", alpha=0.0,
                        batch_size=batch, learning_rate_init=1e-3, max_iter=1,
                        warm_start=True, shuffle=True, random_state=0, tol=0.0)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            start = time.perf_counter()
            clf.fit(X, y)
            times.append(time.perf_counter() - start)
    return times


def torch_epochs(X: np.ndarray, y: np.ndarray, batch: int, epochs: int = 4) -> list[float]:
    import torch

    torch.manual_seed(0)
    layers: list = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(Xt))
        for s in range(0, len(Xt), batch):
            idx = order[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def sin_fit(iterations: int) -> float:
    data = Data.sin(n_train=64, n_val=16)
    model = Model.mlp([1, 100, 100, 1], dtype="float64")
    routinizer = BasicRoutinizer(epochs=iterations, batch_size=None, lr=3e-4, loss="mse",
                                 progress=False)
    start = time.perf_counter()
    routinizer.run(model, Data(data.X_train, data.y_train, task="regression"))
    return time.perf_counter() - start


def sklearn_sin(iterations: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    data = Data.sin(n_train=64, n_val=16)
    reg = MLPRegressor(hidden_layer_sizes=(100, 100), solver="adam", alpha=0.0,
                       batch_size=64, learning_rate_init=3e-4, max_iter=iterations, tol=0.0,
                       n_iter_no_change=iterations + 1, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        reg.fit(data.X_train, data.y_train.ravel())
    return time.perf_counter() - start


def median_after_warmup(times: list[float]) -> float:
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10000 samples, 200 iterations")
    parser.add_argument("--no-peers", action="store_true", help="skip scikit-learn and PyTorch")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    n = 10000 if args.quick else 60000
    iterations = 200 if args.quick else 2000

    rss_start = _rss_mb()
    X, y = make_w1(n)
    dataset_mb = (X.nbytes + y.nbytes) / 2**20
    r: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                          f"{platform.python_implementation()} {platform.python_version()}, "
                          f"numpy {np.__version__}", "n": n}
    r["w1_epoch_s"] = median_after_warmup(ours_epochs(X, y, 128))
    r["peak_rss_mb"] = _rss_mb()
    r["rss_at_start_mb"] = rss_start
    r["dataset_mb"] = dataset_mb
    rate = gemm_rate(128)
    r["gemm_gflops"] = rate / 1e9
    r["bound_s"] = 6 * n * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)) / rate
    r["w1_over_bound"] = r["w1_epoch_s"] / r["bound_s"]
    peak, net = allocation_per_batch(X, y, 128)
    r["alloc_peak_bytes_50_batches"], r["alloc_net_bytes_per_batch"] = peak, net
    r["w2_epoch_s"] = median_after_warmup(ours_epochs(X, y, 32))
    r["w3_s"] = sin_fit(iterations)
    model = Model.mlp(SIZES, seed=0)
    model.predict(X[:1000])
    start = time.perf_counter()
    model.predict(X)
    r["predict_per_s"] = n / (time.perf_counter() - start)

    if not args.no_peers:
        try:
            r["sklearn_w1_epoch_s"] = median_after_warmup(sklearn_epochs(X, y, 128))
            r["sklearn_w2_epoch_s"] = median_after_warmup(sklearn_epochs(X, y, 32))
            r["sklearn_w3_s"] = sklearn_sin(iterations)
        except ImportError:
            r["sklearn"] = "not installed"
        try:
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
            r["torch_version"] = torch.__version__
            r["torch_w1_epoch_s"] = median_after_warmup(torch_epochs(X, y, 128))
            r["torch_w2_epoch_s"] = median_after_warmup(torch_epochs(X, y, 32))
        except ImportError:
            r["torch"] = "not installed"
    for peer in ("sklearn", "torch"):
        for w in ("w1", "w2", "w3"):
            key = f"{peer}_{w}_{'s' if w == 'w3' else 'epoch_s'}"
            if key in r:
                ours = r[f"{w}_{'s' if w == 'w3' else 'epoch_s'}"]
                r[f"{w}_ours_over_{peer}"] = ours / r[key]
    if not args.json_only:
        print(f"machine: {r['machine']}")
        print(f"{'measure':<44}{'value':>14}")
        for key, value in r.items():
            if key != "machine":
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                print(f"{key:<44}{text:>14}")
    print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}))


if __name__ == "__main__":
    main()

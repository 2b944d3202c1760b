"""Benchmark: epoch time against the GEMM bound, scikit-learn and PyTorch; memory; inference.

    python scripts/bench.py [--quick] [--no-peers] [--rounds R] [--json-only] [--no-sweep]
                            [--no-notebook | --notebook-only | --checkpoints-only]

Workloads (float32 unless said, the machine's BLAS threads):
  W1  60000x784 random inputs, 10 classes, Model.mlp([784, 512, 512, 10]), ReLU, cross
      entropy, Adam lr 1e-3, batch 128, shuffling; median of 3 epochs after a warm-up epoch.
  W2  the same with batch 32 (overhead-bound).
  W3  full-batch float64 sin fit, 2000 iterations of a 1-100-100-1 net.
  W1-BN W1 with a BatchNorm1d after each hidden layer (Model.mlp(..., normalization="batch")),
      against PyTorch's Linear-BatchNorm1d-ReLU network of the same shapes (goal: at most 0.7
      of PyTorch's time); same rounds as W1, without scikit-learn (it has no BatchNorm).
  W1 with diagnostics=True against off: one epoch each after a warm-up epoch each, timed
      around the whole run call (the per-epoch statistics included); the ratio is printed.
Inference: single-sample and 1000-sample latency of ``Checkpoint.predict_proba`` (raw inputs,
normaliser included) against onnxruntime running the same checkpoint exported to ONNX (labels
and probabilities), on the W1 architecture trained one epoch on 1024 samples; the two called
in turn (300 pairs for one sample, 15 for 1000) after a warm-up call each; onnxruntime's idle
threads do not spin (they would hold the cores our BLAS needs next).
Bound: 6*N*sum(in*out) flops per epoch divided by the GEMM rate NumPy reaches at the W1
shapes. The bench sets OPENBLAS_THREAD_TIMEOUT=4 (unless already set) before NumPy loads, so
that OpenBLAS's idle workers sleep and the optimizer step can use both cores (see
mlp.nn.fused); each W1 round also times one epoch with the step on one thread, the default
without that variable. A shared machine's speed drifts by tens of percent within a minute,
so everything is measured in interleaved rounds: in each round the GEMM rate is taken just
before and just after our epoch (the epoch's bound uses their mean), then each peer runs one
epoch. Peers run in their own processes (same data, made from the same seed), so their idle
threads cannot slow us. Peak RSS is taken in a process of its own that does what a user's
script would (make the data, build the model, train W1 for two epochs), so it counts neither
the bench's second model nor its probes; the bench process's own peak is printed beside it.
Start-up: the wall time of ``mlp --help`` (the installed command, in a process of its own),
median of 9 runs after a warm-up, beside that of ``python -c pass``.
Checkpoint overhead: the shipped sin config and a 1000x20 classifier (20-64-64-5, batch 16,
20 epochs) trained without checkpoints and into a run folder at the default save cadence
(``--checkpoints-only`` runs just these): medians, the median ratio, the run folder's extra
seconds against what the goal allows (0.3 s plus 5% of the bare fit, picture included), and
the time of the run's ``curves.png`` alone (part of the run folder's).
Live display (``bench_notebook.py``, ``--notebook-only`` runs just this): a 60-epoch digits
run and W1 (1 epoch) in a real Jupyter kernel with the displays off, the progress line on,
and the progress line and live curves on (goal: at most 1.10 of off), rounds - 1 rounds.
Prints a table and one JSON line.

Notes from earlier runs (this project's machine, 2 shared cores; the README has the current
figures):
- W1 against the GEMM bound, 2026-11-26, four runs: medians 1.10-1.21 with the step on two
  threads, 1.24-1.30 on one. An epoch can come in under the bound because the first layer
  skips its input gradient (our GEMMs do 0.8 of the bound's flops). On a machine with an
  8 MiB L3 and GEMM at 57-76 GFLOP/s (2026-11-24) the medians were 1.02-1.10.
- Where a W1 epoch goes (split step, one instrumented epoch of 2.59 s): GEMMs 1.86 s (1.66 s
  back to back in another process; the step's traffic pushes their operands out of cache:
  leaving the step out saved 0.59 s an epoch, 0.16 s of it in the GEMMs); the Adam update of
  the 669,706 parameters 0.35 s (0.75 ms a step for 18.75 MB streamed; 0.35 ms alone on two
  threads, 0.50 ms on one); loss 0.10 s, batch gather 0.07 s, ReLU forward and backward
  0.10 s, bias add 0.04 s, bias sums 0.05 s.
- NumPy 2.4's ``maximum`` with a scalar operand misses its SIMD loop: 78 us on a 128x512
  float32 batch, against 15 us with an array operand and 12 us for the compiled loop.
- Peak RSS is Linux's VmHWM (``ru_maxrss`` would carry the bench's own peak into the worker
  through execve). About 107 MB of it is file-backed shared-library pages (LLVM above all),
  which count once mapped, so the figure moves with the machine; the compiled kernels add
  40-59 MB. Validating the dataset allocates no boolean array of its size (2.8 MB transient,
  44.9 MB before 2026-11-24).
- Diagnostics' parts: the per-step hook (one dot product per module's gradient) 0.035-0.071
  ms against a 49-91 ms step; the end-of-epoch statistics 13-75 ms.
- Tried and dropped: numexpr (3x slower than NumPy here); the split step without
  OPENBLAS_THREAD_TIMEOUT (1.01 against 0.93 ms serial: an OpenBLAS worker spins on the
  second core for 2**28 TSC ticks after each GEMM; at 20 the gain is gone, at 16 it holds;
  threadpoolctl's one-thread limit does not stop the spinning); numba's OpenMP prange (4 ms a
  step after a GEMM, for the same reason); updating each layer right after its backward (5%
  slower); ReLU in place on the layer's buffers (no change).
- 2026-11-26, release 0.1.0 against the restructured code, paired whole-process W1 runs: 1.01
  (0.78-1.17); after fusing the passes around the products: 0.96 (0.88-1.11) at batch 128
  and 0.96 (0.90-0.98) at batch 32.
- The hot path reuses everything it can: each module writes into buffers it owns (one set
  per batch size), batches are gathered into kept buffers, the permutation is drawn in
  place, the first layer skips its input gradient, and every parameter and gradient is a
  view into two flat arrays (the optimizer's state into one more each), so a step is one
  fused update of the network (one compiled loop with numba, cut into contiguous chunks
  over two threads when the cores are free). With numba a Layer's bias is added inside the
  ReLU after it, its gradient summed inside that ReLU's backward, and cross entropy against
  class indices is three compiled passes around NumPy's exp and log.
"""

from __future__ import annotations

import os

# before NumPy loads OpenBLAS, which reads it once: idle BLAS workers sleep instead of spinning
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import argparse  # noqa: E402 (after the environment is set)
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_notebook  # noqa: E402 (scripts/, this script's folder, is first on sys.path)
import bench_sweep  # noqa: E402
import numpy as np  # noqa: E402

from mlp import BasicRoutinizer, Model, RunFolder, load_checkpoint  # noqa: E402
from mlp.nn.fused import Kernels  # noqa: E402
from mlp.optim.rules import UPDATE_RULES  # noqa: E402
from preprocess import Data  # noqa: E402

SIZES = [784, 512, 512, 10]
PAUSE = 0.3  #: seconds between measurements, for spinning BLAS/OpenMP threads to go idle


def _peak_rss_mb() -> float:
    """This process's peak resident set in MiB. Linux's ``VmHWM`` is the current address
    space's alone; ``ru_maxrss`` survives ``execve``, so a child spawned from a large parent
    would start at the parent's peak (used only where there is no ``/proc``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_w1(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], n)


def epoch_flops(n: int) -> float:
    return 6.0 * n * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))


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
    return 6.0 * batch * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)) / seconds


# ------------------------------------------------------------------------------ runners
class Ours:
    """Our W1/W2 training, one epoch per call (the routinizer continues where it stopped),
    its optimizer step on ``threads`` threads (``Kernels(threads=...)``)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int,
                 threads: int | str = "auto", diagnostics: bool = False,
                 normalization: str | None = None) -> None:
        self.data = Data(X, y)
        self.model = Model.mlp(SIZES, seed=0, normalization=normalization)
        self.routinizer = BasicRoutinizer(epochs=1, batch_size=batch, lr=1e-3,
                                          optimizer="adam", shuffle=True, progress=False,
                                          diagnostics=diagnostics)
        self.routinizer.use_kernels(Kernels(threads=threads))
        self.done = 0

    def epoch(self) -> float:
        self.routinizer.epochs = self.done + 1
        history = self.routinizer.run(self.model, self.data)
        self.done += 1
        return history.seconds[-1]


class SklearnClassifier:
    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int) -> None:
        from sklearn.neural_network import MLPClassifier

        self.X, self.y = X, y
        self.clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), solver="adam",
                                 alpha=0.0, batch_size=batch, learning_rate_init=1e-3,
                                 max_iter=1, warm_start=True, shuffle=True, random_state=0,
                                 tol=0.0)

    def epoch(self) -> float:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            self.clf.fit(self.X, self.y)
            return time.perf_counter() - start


class Torch:
    def __init__(self, X: np.ndarray, y: np.ndarray, batch: int,
                 batch_norm: bool = False) -> None:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        torch.manual_seed(0)
        layers: list = []
        for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            layers.append(torch.nn.Linear(a, b))
            if i < len(SIZES) - 2:
                if batch_norm:
                    layers.append(torch.nn.BatchNorm1d(b))
                layers.append(torch.nn.ReLU())
        self.torch, self.batch = torch, batch
        self.net = torch.nn.Sequential(*layers)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)

    def epoch(self) -> float:
        start = time.perf_counter()
        order = self.torch.randperm(len(self.X))
        for s in range(0, len(self.X), self.batch):
            idx = order[s:s + self.batch]
            self.opt.zero_grad(set_to_none=True)
            self.loss_fn(self.net(self.X[idx]), self.y[idx]).backward()
            self.opt.step()
        return time.perf_counter() - start


def sin_data() -> Data:
    data = Data.sin(n_train=64, n_val=16)
    return Data(data.X_train, data.y_train, task="regression")


class OursSin:
    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def epoch(self) -> float:
        model = Model.mlp([1, 100, 100, 1], dtype="float64")
        routinizer = BasicRoutinizer(epochs=self.iterations, batch_size=None, lr=3e-4,
                                     loss="mse", progress=False)
        Kernels().warm_up("float64", (UPDATE_RULES.get("adam"),), routinizer)
        data = sin_data()
        start = time.perf_counter()
        routinizer.run(model, data)
        return time.perf_counter() - start


class SklearnSin:
    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def epoch(self) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        data = sin_data()
        reg = MLPRegressor(hidden_layer_sizes=(100, 100), solver="adam", alpha=0.0,
                           batch_size=64, learning_rate_init=3e-4, max_iter=self.iterations,
                           tol=0.0, n_iter_no_change=self.iterations + 1, shuffle=False,
                           random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            reg.fit(data.X_train, data.y_train.ravel())
            return time.perf_counter() - start


#: what a worker process can run (the peers, and ours alone for its peak RSS)
RUNNERS = {"sklearn": SklearnClassifier, "torch": Torch, "ours": Ours,
           "torch_bn": lambda X, y, batch: Torch(X, y, batch, batch_norm=True)}


def worker(kind: str, n: int, batch: int, iterations: int) -> None:
    """A peer in its own process: build it, say ``ready``, then time one epoch per line."""
    try:
        if kind == "sklearn_w3":
            runner = SklearnSin(iterations)
        else:
            X, y = make_w1(n)
            runner = RUNNERS[kind](X, y, batch)
    except ImportError as exc:
        print(f"unavailable {exc}", flush=True)
        return
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "epoch":
            print(repr(runner.epoch()), flush=True)
        elif command == "rss":
            print(repr(_peak_rss_mb()), flush=True)
        else:
            break


class Peer:
    """The parent's handle on a worker process; ``epoch()`` times one epoch there."""

    def __init__(self, kind: str, n: int, batch: int, iterations: int = 0) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, str(n), str(batch), str(iterations)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        answer = self.process.stdout.readline().strip()
        self.available = answer == "ready"
        self.reason = answer.removeprefix("unavailable ") or "the worker process failed"

    def epoch(self) -> float:
        """Seconds of one epoch in the worker."""
        return self._ask("epoch")

    def peak_rss_mb(self) -> float:
        """The worker's peak resident set so far, in MiB."""
        return self._ask("rss")

    def _ask(self, command: str) -> float:
        self.process.stdin.write(f"{command}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the {self.kind} worker ended (exit {self.process.wait()})")
        return float(answer)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def start_peers(kinds: list[str], n: int, batch: int, iterations: int, r: dict) -> list[Peer]:
    peers = []
    for kind in kinds:
        peer = Peer(kind, n, batch, iterations)
        if peer.available:
            peers.append(peer)
        else:
            r[f"{kind}_unavailable"] = peer.reason
            peer.close()
    return peers


# ------------------------------------------------------------------------------ measures
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


def w1_peak_rss_mb(n: int, epochs: int = 2) -> float:
    """Peak RSS (MiB) of a process that only trains W1: data, model, ``epochs`` epochs."""
    worker = Peer("ours", n, 128)
    try:
        for _ in range(epochs):
            worker.epoch()
        return worker.peak_rss_mb()
    finally:
        worker.close()


def interleaved(ours, peers: list[Peer], rounds: int, n: int | None = None,
                batch: int = 128, serial: Ours | None = None
                ) -> tuple[list[float], dict[str, list[float]], list, list, list]:
    """``rounds`` rounds (the first is a warm-up, dropped) of: [GEMM rate], our epoch,
    [GEMM rate], [our epoch with a one-thread step, GEMM rate], one epoch of each peer.
    Returns our times, the peers' times, and, when ``n`` is given, the GEMM rates, each
    epoch's time over its bound and (with ``serial``) each one-thread epoch's over its own."""
    mine: list[float] = []
    theirs: dict[str, list[float]] = {peer.kind: [] for peer in peers}
    rates: list[float] = []
    ratios: list[float] = []
    serial_ratios: list[float] = []
    for index in range(rounds):
        before = gemm_rate(batch) if n else 0.0
        seconds = ours.epoch()
        after = gemm_rate(batch) if n else 0.0
        if serial is not None and n:
            serial_seconds = serial.epoch()
            last = gemm_rate(batch)
            if index:
                serial_ratios.append(serial_seconds / (epoch_flops(n) / ((after + last) / 2)))
        time.sleep(PAUSE)
        for peer in peers:
            theirs[peer.kind].append(peer.epoch())
            time.sleep(PAUSE)
        if index == 0:
            continue
        mine.append(seconds)
        if n:
            rates += [before, after]
            ratios.append(seconds / (epoch_flops(n) / ((before + after) / 2)))
    return (mine, {kind: times[1:] for kind, times in theirs.items()}, rates, ratios,
            serial_ratios)


def diagnostics_cost(X: np.ndarray, y: np.ndarray, batch: int = 128) -> tuple[float, float]:
    """Wall seconds of one W1 epoch with diagnostics off and on, each after a warm-up epoch,
    the two interleaved so that the machine's drift hits both alike. (W1's random labels on
    uncentred inputs kill most first-layer ReLUs, which diagnostics would report: its
    warnings are silenced here.)"""
    off, on = Ours(X, y, batch), Ours(X, y, batch, diagnostics=True)
    seconds = []
    logger = logging.getLogger("mlp")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for runner in (off, on, off, on):
            time.sleep(PAUSE)
            start = time.perf_counter()
            runner.epoch()
            seconds.append(time.perf_counter() - start)
    finally:
        logger.setLevel(level)
    return seconds[2], seconds[3]


def _each(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _record(r: dict, workload: str, ours: list[float], peers: dict[str, list[float]]) -> None:
    """Our median epoch, each epoch, and per peer the same plus the median of our time over
    theirs round by round."""
    r[f"{workload}_epoch_s"] = statistics.median(ours)
    r[f"{workload}_each_s"] = _each(ours)
    for kind, times in peers.items():
        r[f"{kind}_{workload}_epoch_s"] = statistics.median(times)
        r[f"{kind}_{workload}_each_s"] = _each(times)
        r[f"{workload}_ours_over_{kind}"] = statistics.median(
            [a / b for a, b in zip(ours, times, strict=True)])


def _seconds(call) -> float:  # noqa: ANN001
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def onnx_latency(X: np.ndarray, y: np.ndarray, r: dict) -> None:
    """Prediction latency, ours against onnxruntime, for 1 and 1000 raw samples (W1 model):
    alternating calls after a warm-up call each, medians and the median per-pair ratio."""
    try:
        import onnxruntime

        from mlp.export import checkpoint_to_onnx_model
    except ImportError as exc:
        r["onnx_unavailable"] = str(exc).splitlines()[0]
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Data(X[:1024], y[:1024]).normalize()
        BasicRoutinizer(epochs=1, batch_size=128, checkpoint_dir=folder, progress=False).run(
            Model.mlp(SIZES, seed=0), data)
        checkpoint = load_checkpoint(RunFolder(folder).last)
    options = onnxruntime.SessionOptions()
    # idle onnxruntime workers would otherwise spin on the cores our next call's BLAS needs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        checkpoint_to_onnx_model(checkpoint).SerializeToString(), options,
        providers=["CPUExecutionProvider"])
    for n, repeats in ((1, 300), (1000, 15)):
        inputs = X[-n:]
        calls = (lambda inputs=inputs: checkpoint.predict_proba(inputs),
                 lambda inputs=inputs: session.run(None, {"X": inputs}))
        for call in calls:
            call()
        pairs = [(_seconds(calls[0]), _seconds(calls[1])) for _ in range(repeats)]
        r[f"predict_{n}_ours_ms"] = statistics.median(a for a, _ in pairs) * 1e3
        r[f"predict_{n}_onnxruntime_ms"] = statistics.median(b for _, b in pairs) * 1e3
        r[f"predict_{n}_ours_over_onnxruntime"] = statistics.median(a / b for a, b in pairs)


def startup_seconds(command: list[str], runs: int = 9) -> float:
    """Median wall time of ``command`` run to completion in a new process (after one warm-up
    run, so the files it reads are in the page cache)."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def mlp_command() -> list[str]:
    """The installed ``mlp`` command beside this interpreter, else ``python -m mlp.cli``."""
    script = Path(sys.executable).with_name("mlp")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mlp.cli"]


# ---------------------------------------------------------------- checkpoint overhead
def _train_seconds(make: object, folder: Path | None) -> float:
    """Seconds of ``routinizer.run(model, data)`` for ``(routinizer, model, data) = make()``,
    into a fresh run folder ``folder`` (None: no checkpoints)."""
    routinizer, model, data = make()  # type: ignore[operator]
    routinizer.progress = False
    routinizer.checkpoint_dir = folder
    start = time.perf_counter()
    routinizer.run(model, data)
    return time.perf_counter() - start


def _sin_config_run() -> tuple[BasicRoutinizer, Model, Data]:
    from mlp.training.run_config import RunConfig, load_data

    config = RunConfig.from_file(Path(__file__).parent / "configs" / "sin.json")
    data = load_data(config.data)
    config.loss_for(data.task)
    return config.train, config.build_model(data.n_features, data.n_outputs), data


def _classifier_run() -> tuple[BasicRoutinizer, Model, Data]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 20)).astype(np.float32)
    y = (X[:, :5] @ rng.normal(size=(5, 5))).argmax(axis=1)
    return (BasicRoutinizer(epochs=20, batch_size=16, seed=0), Model.mlp([20, 64, 64, 5]),
            Data(X, y))


RUN_FOLDER_FIXED_S, RUN_FOLDER_SHARE = 0.3, 0.05  #: the run folder's goal: 0.3 s + 5%


def checkpoint_overhead(r: dict, rounds: int) -> None:
    """The cost of a run folder at the default save cadence: the shipped sin config and a
    1000x20 classifier (20-64-64-5, batch 16, 20 epochs), each trained bare and into a fresh
    run folder in alternating rounds (the first a warm-up); medians and the median ratio,
    and the time of drawing the run's curves.png alone (included in the run folder's).
    The goal: the run folder's extra at most ``RUN_FOLDER_FIXED_S`` plus ``RUN_FOLDER_SHARE``
    of the bare fit, picture included."""
    from mlp.plotting.curves import save_curves

    for name, make in (("sin_config", _sin_config_run), ("classifier_1000x20", _classifier_run)):
        bare, folder_s, curves = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(rounds):
                bare.append(_train_seconds(make, None))
                folder_s.append(_train_seconds(make, Path(tmp) / f"run{i}"))
                history = load_checkpoint(RunFolder(Path(tmp) / f"run{i}").last).history
                start = time.perf_counter()
                save_curves(history, Path(tmp) / "c.png")
                curves.append(time.perf_counter() - start)
        r[f"ckpt_{name}_curves_png_s"] = statistics.median(curves[1:])  # part of the run
        bare, folder_s = bare[1:], folder_s[1:]
        r[f"ckpt_{name}_bare_s"] = statistics.median(bare)
        r[f"ckpt_{name}_run_folder_s"] = statistics.median(folder_s)
        r[f"ckpt_{name}_ratio"] = statistics.median(
            [b / a for a, b in zip(bare, folder_s, strict=True)])
        # the goal: a run folder costs at most 0.3 s plus 5% of the bare fit
        extra = r[f"ckpt_{name}_run_folder_s"] - r[f"ckpt_{name}_bare_s"]
        allowed = RUN_FOLDER_FIXED_S + RUN_FOLDER_SHARE * r[f"ckpt_{name}_bare_s"]
        r[f"ckpt_{name}_extra_s"] = extra
        r[f"ckpt_{name}_extra_allowed_s"] = allowed
        r[f"ckpt_{name}_goal_met"] = extra <= allowed


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, n, batch, iterations = sys.argv[2], *map(int, sys.argv[3:6])
        worker(kind, n, batch, iterations)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10000 samples, 200 iterations")
    parser.add_argument("--no-peers", action="store_true", help="skip scikit-learn and PyTorch")
    parser.add_argument("--rounds", type=int, default=4,
                        help="interleaved rounds per workload, the first a warm-up (4)")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep section")
    parser.add_argument("--checkpoints-only", action="store_true",
                        help="only the checkpoint-overhead figures (a few seconds)")
    parser.add_argument("--no-notebook", action="store_true",
                        help="skip the live-display section (a Jupyter kernel)")
    parser.add_argument("--notebook-only", action="store_true",
                        help="only the live-display figures (bench_notebook.py)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first is a warm-up)")
    n = 10000 if args.quick else 60000
    iterations = 200 if args.quick else 2000
    median = statistics.median

    if args.notebook_only:
        r_notebook = bench_notebook.run(max(args.rounds - 1, 1), n)
        _print(r_notebook, args.json_only)
        return
    if args.checkpoints_only:
        r_ckpt: dict = {}
        checkpoint_overhead(r_ckpt, max(args.rounds, 4))
        _print(r_ckpt, args.json_only)
        return

    X, y = make_w1(n)
    r: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores, "
                          f"{platform.python_implementation()} {platform.python_version()}, "
                          f"numpy {np.__version__}", "n": n,
               "kernels": Kernels().warm_up("float32"),
               "openblas_thread_timeout": os.environ["OPENBLAS_THREAD_TIMEOUT"],
               "update_threads": Kernels().threads}
    kinds = [] if args.no_peers else ["sklearn", "torch"]
    r["mlp_help_s"] = startup_seconds([*mlp_command(), "--help"])
    r["python_start_s"] = startup_seconds([sys.executable, "-c", "pass"])
    if not args.json_only:
        print(f"mlp --help: {r['mlp_help_s']:.3f} s wall (median of 9; python -c pass: "
              f"{r['python_start_s']:.3f} s)")

    # W1: ours against the bound and the peers, round by round
    peers = start_peers(kinds, n, 128, 0, r)
    ours = Ours(X, y, 128)
    serial = Ours(X, y, 128, threads=1) if Kernels().threads > 1 else None
    w1, w1_peers, rates, ratios, serial_ratios = interleaved(ours, peers, args.rounds, n=n,
                                                             serial=serial)
    r["bench_process_peak_rss_mb"] = _peak_rss_mb()  # two models, probes: an upper bound
    r["gemm_gflops"] = median(rates) / 1e9
    r["gemm_gflops_each"] = ", ".join(f"{rates[i] / 1e9:.0f}/{rates[i + 1] / 1e9:.0f}"
                                      for i in range(0, len(rates), 2))  # before/after
    r["bound_s"] = epoch_flops(n) / median(rates)
    r["w1_over_bound"] = median(ratios)  # each epoch against the rate measured around it
    r["w1_over_bound_each"] = _each(ratios)
    if serial_ratios:
        r["w1_one_thread_step_over_bound"] = median(serial_ratios)
        r["w1_one_thread_step_over_bound_each"] = _each(serial_ratios)
    _record(r, "w1", w1, w1_peers)
    for peer in peers:
        peer.close()
    del ours, serial
    gc.collect()

    # W1-BN: a BatchNorm1d after each hidden layer, against PyTorch's same network
    peers = start_peers([] if args.no_peers else ["torch_bn"], n, 128, 0, r)
    w1_bn, w1_bn_peers, *_ = interleaved(Ours(X, y, 128, normalization="batch"), peers,
                                         args.rounds)
    _record(r, "w1_bn", w1_bn, w1_bn_peers)
    if "w1_bn_ours_over_torch_bn" in r:
        r["w1_bn_goal"] = ("met" if r["w1_bn_ours_over_torch_bn"] <= 0.7 else "missed") + \
            " (at most 0.7 of PyTorch's time)"
    for peer in peers:
        peer.close()
    gc.collect()

    off, on = diagnostics_cost(X, y)
    r["w1_diagnostics_off_s"], r["w1_diagnostics_on_s"] = off, on
    r["w1_diagnostics_over_off"] = on / off

    r["peak_rss_mb"] = w1_peak_rss_mb(n)
    r["dataset_mb"] = (X.nbytes + y.nbytes) / 2**20
    r["rss_over_dataset_mb"] = r["peak_rss_mb"] - r["dataset_mb"]
    peak, net = allocation_per_batch(X, y, 128)
    r["alloc_peak_bytes_50_batches"], r["alloc_net_bytes_per_batch"] = peak, net

    # W2: batch 32
    peers = start_peers(kinds, n, 32, 0, r)
    w2, w2_peers, *_ = interleaved(Ours(X, y, 32), peers, args.rounds)
    _record(r, "w2", w2, w2_peers)
    for peer in peers:
        peer.close()

    # W3: the float64 sin fit, whole fits
    peers = start_peers([] if args.no_peers else ["sklearn_w3"], n, 0, iterations, r)
    w3, w3_peers, *_ = interleaved(OursSin(iterations), peers, args.rounds)
    r["w3_s"] = median(w3)
    for times in w3_peers.values():
        r["sklearn_w3_s"] = median(times)
        r["w3_ours_over_sklearn"] = median([a / b for a, b in zip(w3, times, strict=True)])
    for peer in peers:
        peer.close()

    model = Model.mlp(SIZES, seed=0)
    model.predict(X[:1000])
    start = time.perf_counter()
    model.predict(X)
    r["predict_per_s"] = n / (time.perf_counter() - start)
    onnx_latency(X, y, r)
    checkpoint_overhead(r, max(args.rounds, 4))
    if not args.no_sweep:  # a 16-trial digits sweep: 1 vs 2 workers, machinery overhead
        r.update(bench_sweep.run_all())
    if not args.no_notebook:  # live display in a Jupyter kernel: digits 60 epochs and W1
        r.update(bench_notebook.run(max(args.rounds - 1, 1), n))
    _print(r, args.json_only)


def _print(r: dict, json_only: bool) -> None:
    if not json_only:
        print(f"machine: {r.get('machine', platform.machine())}")
        print(f"{'measure':<32}{'value':>26}")
        for key, value in r.items():
            if key != "machine":
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                print(f"{key:<32}{text:>26}")
    print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}))


if __name__ == "__main__":
    main()

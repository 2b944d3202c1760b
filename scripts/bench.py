"""Benchmark: epoch time against the GEMM bound, scikit-learn and PyTorch; memory; inference.

    python scripts/bench.py [--quick] [--no-peers] [--rounds R] [--json-only] [--no-sweep]
                            [--no-notebook | --notebook-only | --checkpoints-only
                             | --startup-only]
    python scripts/bench.py [--w1-processes N] [--peers] [--rounds R] [--quick]

``--w1-processes N`` and ``--peers`` run only these parts (either or both):
  W1 in N fresh processes, one after another, each a warm-up epoch then ``--w1-epochs`` timed
      epochs (2): every epoch, each process's median, and the slowest median over the fastest
      (the goal: at most 1.15 over 20 processes on a quiet machine); beside each epoch, the CPU
      seconds of the process's other threads (OpenBLAS's worker, the split step's thread) over
      the epoch's wall time, which tells a spinning worker (about 1) from a sleeping one.
  W1 against its peers in alternating rounds (the first a warm-up): the GEMM rate just before
      and after our epoch, then one epoch of each peer in its own process: JAX with the whole
      epoch in one jitted ``lax.scan``, Keras 3 on JAX, JAX with one jitted step per batch
      (``bench_peers.py``) and PyTorch; ours over each (median of the rounds' ratios) and ours
      over the GEMM bound. Goals: at most 0.95 of JAX-scan, 0.7 of PyTorch, 1.05 of the bound.

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
Bound: 6*N*sum(in*out) flops per epoch divided by the GEMM rate NumPy reaches at the W1 shapes.
The library makes OpenBLAS's idle workers sleep soon after each product (mlp.nn.blas_workers),
so the optimizer step uses both cores (see mlp.nn.fused); each W1 round also times one epoch
with the step on one thread. A shared machine's speed drifts by tens of percent within a
minute, so everything is measured in interleaved rounds: in each round the GEMM rate is taken
just before and just after our epoch (the epoch's bound uses their mean), then each peer runs
one epoch. Peers run in their own processes (same data, made from the same seed), so their idle
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
Start-up (``bench_startup.py``, ``--startup-only`` runs just this): process start to the first
epoch's start and to exit of ``mlp train CONFIG --set train.epochs=1`` for the shipped CSV and
sin configs, 5 fresh processes each (goal: first epoch within 0.5 s, median of 5).
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
- 2026-12-05, the two-speed W1 (1.4-1.5 s in some processes, 2.8-3.0 s in others, without
  OPENBLAS_THREAD_TIMEOUT): per-thread CPU times (/proc/self/task/*/stat) of fresh W1 processes
  at loads 6-10 (paired, main's code against the settled workers): OpenBLAS's worker took as
  much CPU time as the main thread, epoch after epoch (2.27/2.28, 2.73/2.74, 3.56/3.59 s), with
  no voluntary context switch at all: it never slept during training. Settled (2**16 ticks) it
  sleeps about 8 times a batch (600 a 10,000-sample epoch) and takes 0.75-0.82 of the main
  thread's CPU time; other threads' CPU over an epoch's wall time (--w1-processes) 0.19-0.25.
  Under such loads both collapse (10,000 samples in 8-34 s instead of 0.25 s, the main thread
  burning 2-3.6 s of CPU): a product's halves wait for each other by spinning, and a preempted
  half makes the other spin a whole time slice; JAX-scan took 0.38 s and PyTorch 8.6 s in the
  same rounds (--quick --peers, load 10.4). Whole W1 epochs at loads 3.4-6.2, alternating
  processes, second and third epochs: 12.4/30.8 and 11.4/28.1 s with spinning workers,
  18.5/19.0 and 45.5/54.0 s settled: settling does not cure a loaded machine. One BLAS
  thread spins on nobody (load 5.3: 20,000 samples in 1.8-2.1 s wall for 0.58 s of CPU,
  against 1.6-11 s with two), but OpenBLAS's one-thread forward product (128x784 by 784x512)
  rounds differently from its two-thread one (measured), so seeded runs would no longer
  repeat earlier ones bit for bit.
- 2026-12-05, where our time goes against JAX-scan (thread CPU time, load-proof; one BLAS
  thread, step on one thread, 20,000 samples after a warm-up epoch): products 0.43 s (1256
  calls), everything else 0.145 s, 0.92 ms a batch, half of it the Adam pass over 669,706
  parameters. Per 60,000 samples: 1.29 s of products on one core, 0.43 s of the rest. At the
  two-thread GEMM bound's rate (1.30 s for the bound's flops, of which our products do 0.8)
  the products take about 1.04 s; 0.95 of JAX-scan's 1.28-1.41 s leaves 0.18-0.30 s for the
  rest, which takes 0.43 s on one core (the split step saves part of Adam's share): within
  reach only with the rest cut by a third to a half, or with faster products.
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

The figures of the README, and how they were reached
----------------------------------------------------
``make bench`` on 2026-12-02 at 10:17-10:40 UTC, on this project's machine: x86_64 AMD EPYC
with AVX2, 2 cores, 24 GiB, no GPU, CPython 3.11.7, NumPy 2.4.6 (OpenBLAS 0.3.31, Haswell
kernels), numba 0.68.1, scikit-learn 1.9.1, PyTorch 2.13.0+cpu, onnxruntime 1.32. The machine
is a shared VM and was busy with other work (load average 1.5-5.6; the GEMM rate moved from 26
to 178 GFLOP/s within the run): compare the ratios, taken round by round, not seconds across
runs. Float32 unless said, 3 rounds after a warm-up:

==========================================  ======  =======  =======  ========  ======
workload (Adam unless said)                 ours    sklearn  PyTorch  /sklearn  /torch
==========================================  ======  =======  =======  ========  ======
W1: 60000x784, 784-512-512-10, batch 128    1.96 s  4.01 s   3.55 s   0.52      0.45
W1-BN: W1 with BatchNorm1d (goal: 0.7)      1.64 s  -        2.97 s   -         0.55
W2: W1 at batch 32                          2.86 s  9.04 s   9.07 s   0.40      0.38
W3: 1-100-100-1 float64 sin, 2000 steps     0.69 s  0.76 s   -        0.90      -
==========================================  ======  =======  =======  ========  ======

W1-BN's rounds read 0.53, 1.47 and 0.55 of PyTorch. The digits fit of ``bench_sklearn.py`` in
the same run: 0.275 / 0.142 s (float64 / float32) against ``MLPClassifier``'s 0.560 / 0.410 s,
0.49 / 0.38 (5 rounds). Beside them:

- W1 epoch over the GEMM bound (6·N·Σ in·out flops at the rate measured around it): 1.04
  (rounds 0.57-1.35); with the step on one thread 1.08.
- ``mlp --help``, wall time (median of 9): 0.117 s (``python -c pass``: 0.020 s).
- W1 with ``diagnostics=True`` over off: 0.91 (within noise).
- W1 peak RSS (a process of its own: data, model, two epochs): 419 MB for a 180 MB dataset
  (+239 MB).
- Largest transient allocation over 50 steady-state W1 batches: 30,331 B (net 439 B a batch).
- ``predict`` on the 60000 W1 inputs: 58,900 samples/s.
- ``Checkpoint.predict_proba`` over onnxruntime, 1 / 1000 raw samples: 1.48 / 2.43 (0.11 /
  18.1 ms against 0.077 / 7.3 ms; 1.20 / 1.35 on a quiet machine on 2026-11-26).

A run folder (``python scripts/bench.py --checkpoints-only --rounds 8``, 2026-12-05 at 16:27
UTC, load average 3.9-4.0; goal: at most 0.3 s plus 5% of the bare fit, ``curves.png``
included):

- the shipped sin config (3000 epochs, default save cadence): bare fit 0.997 s, with a run
  folder 1.167 s, extra 170 ms (allowed 350 ms), of which ``curves.png`` 115 ms;
- a 20-64-64-5 classifier, 1000x20, batch 16, 20 epochs: 0.081 s and 0.192 s, extra 111 ms
  (allowed 304 ms), of which ``curves.png`` 86 ms.

How the figure is reached. The extra is the checkpoints (at the default cadence, 30 s, these
runs save once, at the end; ``best.h5`` and ``last.h5`` are one build when the last epoch is the
best), a snapshot of the arrays each epoch (microseconds), a ``history.csv`` line each epoch,
and one ``curves.png``: matplotlib's figure (``mlp.plotting.curves``, object API on an Agg
canvas) drawn once at the end of the run and after the saves of the cadence (at most 5% of the
wall time), never per epoch. Its cost is kept down by fixed subplot margins (no text measured
for a layout), titles at a fixed height, log-axis labels as plain numbers (no mathtext), at most
five tick intervals on the epoch and linear axes (each tick is a handful of artists, most of a
drawing), PNG compression level 1, and by redrawing into a figure an earlier drawing of the
process left (its axes and ticks kept: a third cheaper, the same pixels; the rounds after the
warm-up reuse one). In a fresh process (``mlp train``) the first picture also pays for importing
``matplotlib.figure`` and the Agg backend, about 0.17 s of processor time, and draws into a new
figure (about 0.13 s of processor time for three panels), all measured at the end of the run.

The same bench under heavier load: 2026-12-05 16:24 UTC, load average 5.8, 8 rounds: 312 ms
(allowed 368 ms) and 198 ms (allowed 309 ms), ``curves.png`` 166 and 154 ms; 15:42 UTC, load
average 9.2, 6 rounds, before the figure reuse and the five tick intervals: 640 and 585 ms, over
the allowed 407 and 314 ms (``curves.png`` alone 0.51 and 0.49 s): a matplotlib picture costs
2-3 times its processor time on a machine this loaded, and 0.3 s does not cover it.

Earlier, with the Pillow ``curves.png`` (2026-12-02 21:27 UTC, goal 60 ms plus 5%): 57 ms and
34 ms extra, of which ``curves.png`` 20 and 8 ms; before the Pillow picture and the save
cadence the same workloads paid 0.64 s and 0.22 s extra (2026-12-02, 20:24 UTC, 3 rounds):
``curves.png`` through matplotlib (0.15-0.35 s) without the figure's speed-ups, a 24 µs
snapshot and a ``history.csv`` write every epoch, and a second snapshot on every improving
epoch.

Accuracy (the targets of the project's reference experiments):

- digits (scikit-learn, stratified 25% test, ``random_state=0``), ``make train``
  (``scripts/configs/digits.json``: 64-256-10, dropout 0.2, one-pixel shifts, z-score, Adam, 40
  epochs): test accuracy 0.9933 (n=450), 8.9 s;
- digits without augmentation, 64-256-128-10 or 64-512-10, 60 epochs, 3 seeds (2026-11-22):
  0.971-0.982;
- iris (same split rule), ``scripts/configs/iris.json`` (4-20-3, Xavier, batch 8, lr 0.003):
  test accuracy 1.00 (n=38);
- sin(2πx) on [0, 1], 64 points, ``scripts/train_sin.py`` (1-30-20-1 sigmoid, MAE loss, full
  batch): validation MAE 0.0036 (target: below 0.01).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import bench_notebook  # scripts/, this script's folder, is first on sys.path
import bench_peers
import bench_startup
import bench_sweep
import numpy as np

from mlp import BasicRoutinizer, Model, RunFolder, load_checkpoint
from mlp.nn import blas_workers
from mlp.nn.fused import Kernels
from mlp.optim.rules import UPDATE_RULES
from preprocess import Data

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
    """W1's data: inputs uniform in [0, 1), or standard normal when the environment says
    ``MLP_BENCH_W1_INPUTS=normal`` (every process of a run reads it); random labels. With the
    uniform inputs most first-layer units die within an epoch, their Adam moments decay into
    subnormal floats, and every step that touches them slows down (peers that flush
    subnormals to zero, as XLA does, do not); centred inputs keep the units alive."""
    rng = np.random.default_rng(seed)
    if os.environ.get("MLP_BENCH_W1_INPUTS") == "normal":
        X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    else:
        X = rng.random((n, SIZES[0]), dtype=np.float32)
    return X, rng.integers(0, SIZES[-1], n)


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


#: what a worker process can run (the peers, and ours alone for its peak RSS and spread)
RUNNERS = {"sklearn": SklearnClassifier, "torch": Torch, "ours": Ours,
           "torch_bn": lambda X, y, batch: Torch(X, y, batch, batch_norm=True),
           **bench_peers.RUNNERS}
#: W1's peers in the full bench and in ``--peers``
W1_PEERS = ["jax_scan", "keras", "jax_step", "torch"]


def _other_threads_cpu() -> float:
    """CPU seconds so far of this process's threads other than the main one (Linux; 0.0
    elsewhere)."""
    main = threading.main_thread().native_id
    total = 0.0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0.0
    for task in tasks:
        if int(task) == main:
            continue
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


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
        elif command == "others":
            print(repr(_other_threads_cpu()), flush=True)
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

    def other_threads_cpu(self) -> float:
        """CPU seconds so far of the worker's threads but its main one."""
        return self._ask("others")

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


def w1_spread(count: int, n: int, epochs: int, r: dict) -> None:
    """W1 in ``count`` fresh processes, one after another: a warm-up epoch, then ``epochs``
    timed ones each; records every epoch, each process's median, the slowest median over the
    fastest, and each epoch's other-thread CPU seconds over its wall seconds."""
    medians, each, spin = [], [], []
    for _ in range(count):
        worker = Peer("ours", n, 128)
        try:
            worker.epoch()
            times = []
            for _ in range(epochs):
                before = worker.other_threads_cpu()
                seconds = worker.epoch()
                times.append(seconds)
                spin.append((worker.other_threads_cpu() - before) / seconds)
        finally:
            worker.close()
        medians.append(statistics.median(times))
        each.append("/".join(f"{t:.2f}" for t in times))
        time.sleep(PAUSE)
    r["w1_processes"] = count
    r["w1_process_epochs_s"] = ", ".join(each)
    r["w1_process_median_s"] = statistics.median(medians)
    r["w1_slowest_over_fastest"] = max(medians) / min(medians)
    r["w1_slowest_over_fastest_epoch"] = (max(max(map(float, e.split("/"))) for e in each)
                                          / min(min(map(float, e.split("/"))) for e in each))
    r["w1_other_threads_cpu_over_wall"] = f"{min(spin):.2f}-{max(spin):.2f}"


def w1_against_peers(X: np.ndarray, y: np.ndarray, kinds: list[str], rounds: int,
                     r: dict, serial: bool = True) -> None:
    """W1, ours in this process against ``kinds`` in theirs, in alternating rounds, with the
    GEMM bound measured around each of our epochs (``interleaved``); records the figures."""
    n = len(X)
    peers = start_peers(kinds, n, 128, 0, r)
    ours = Ours(X, y, 128)
    one = Ours(X, y, 128, threads=1) if serial and ours.routinizer.kernels.threads > 1 else None
    w1, w1_peers, rates, ratios, serial_ratios = interleaved(ours, peers, rounds, n=n,
                                                             serial=one)
    r["bench_process_peak_rss_mb"] = _peak_rss_mb()  # two models, probes: an upper bound
    r["gemm_gflops"] = statistics.median(rates) / 1e9
    r["gemm_gflops_each"] = ", ".join(f"{rates[i] / 1e9:.0f}/{rates[i + 1] / 1e9:.0f}"
                                      for i in range(0, len(rates), 2))  # before/after
    r["bound_s"] = epoch_flops(n) / statistics.median(rates)
    r["w1_over_bound"] = statistics.median(ratios)  # each epoch against its own rate
    r["w1_over_bound_each"] = _each(ratios)
    if serial_ratios:
        r["w1_one_thread_step_over_bound"] = statistics.median(serial_ratios)
        r["w1_one_thread_step_over_bound_each"] = _each(serial_ratios)
    _record(r, "w1", w1, w1_peers)
    for kind, goal in (("jax_scan", 0.95), ("torch", 0.7)):
        if f"w1_ours_over_{kind}" in r:
            r[f"w1_goal_{kind}"] = ("met" if r[f"w1_ours_over_{kind}"] <= goal else "missed") + \
                f" (at most {goal})"
    r["w1_goal_bound"] = ("met" if r["w1_over_bound"] <= 1.05 else "missed") + " (at most 1.05)"
    for peer in peers:
        peer.close()


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
    parser.add_argument("--no-peers", action="store_true",
                        help="skip the peers (scikit-learn, PyTorch, JAX, Keras)")
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
    parser.add_argument("--startup-only", action="store_true",
                        help="only the start-up figures (bench_startup.py)")
    parser.add_argument("--w1-processes", type=int, default=0, metavar="N",
                        help="only W1 in N fresh processes and its spread (and --peers)")
    parser.add_argument("--w1-epochs", type=int, default=2,
                        help="timed epochs per process of --w1-processes, after a warm-up (2)")
    parser.add_argument("--peers", action="store_true",
                        help="only W1 against JAX-scan, Keras, JAX-step, PyTorch and the "
                             "GEMM bound (and --w1-processes)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first is a warm-up)")
    n = 10000 if args.quick else 60000
    iterations = 200 if args.quick else 2000
    median = statistics.median

    if args.w1_processes or args.peers:
        r_w1: dict = {"machine": _machine(), "n": n, "load_average": _load(),
                      "blas_spin_exponent": blas_workers.settle(),
                      "update_threads": Kernels().threads}
        if args.w1_processes:
            w1_spread(args.w1_processes, n, max(args.w1_epochs, 1), r_w1)
        if args.peers:
            X, y = make_w1(n)
            Kernels().warm_up("float32")
            w1_against_peers(X, y, W1_PEERS, args.rounds, r_w1, serial=False)
        r_w1["load_average_after"] = _load()
        _print(r_w1, args.json_only)
        return

    if args.notebook_only:
        r_notebook = bench_notebook.run(max(args.rounds - 1, 1), n)
        _print(r_notebook, args.json_only)
        return
    if args.startup_only:
        _print(bench_startup.run(), args.json_only)
        return
    if args.checkpoints_only:
        r_ckpt: dict = {}
        checkpoint_overhead(r_ckpt, max(args.rounds, 4))
        _print(r_ckpt, args.json_only)
        return

    X, y = make_w1(n)
    r: dict = {"machine": _machine(), "n": n, "load_average": _load(),
               "kernels": Kernels().warm_up("float32"),
               "blas_spin_exponent": blas_workers.settle(),
               "update_threads": Kernels().threads}
    kinds = [] if args.no_peers else ["sklearn", "torch"]
    r["mlp_help_s"] = startup_seconds([*mlp_command(), "--help"])
    r["python_start_s"] = startup_seconds([sys.executable, "-c", "pass"])
    if not args.json_only:
        print(f"mlp --help: {r['mlp_help_s']:.3f} s wall (median of 9; python -c pass: "
              f"{r['python_start_s']:.3f} s)")

    # W1: ours against the bound and the peers, round by round
    w1_against_peers(X, y, [] if args.no_peers else ["sklearn", *W1_PEERS], args.rounds, r)
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
    r.update(bench_startup.run())
    if not args.no_sweep:  # a 16-trial digits sweep: 1 vs 2 workers, machinery overhead
        r.update(bench_sweep.run_all())
    if not args.no_notebook:  # live display in a Jupyter kernel: digits 60 epochs and W1
        r.update(bench_notebook.run(max(args.rounds - 1, 1), n))
    _print(r, args.json_only)


def _machine() -> str:
    return (f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, numpy {np.__version__}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


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

"""The start-up section of the benchmark: how long a small run waits before it trains.

    python scripts/bench_startup.py [--runs N] [--json-only]  (scripts/bench.py
    --startup-only runs just this)

For the shipped CSV config (``scripts/configs/blobs.json``) and sin config, runs ``python -m
mlp train CONFIG --set train.epochs=1`` ``N`` times (default 5) in fresh processes, into a
temporary checkpoint root, after one warm-up run each (so the files read are in the page
cache, Python's bytecode caches are written, even where ``PYTHONDONTWRITEBYTECODE`` is set,
and numba's on-disk cache holds the compiled kernels). Each process is started with
``MLP_STARTUP_FILE`` set (``mlp.training.startup``): the command appends the time at which its
first epoch starts, and which costly packages were imported by then. Printed per config: process
start (the ``time.time()`` just before the process is spawned) to the first epoch's start, and
to the process's exit (the whole command: one epoch, the checkpoint, the curves), as medians
with their spread (min-max), the processor seconds the process used until its first epoch
(median; a loaded machine inflates it much less than the wall time), the packages imported
before the first epoch, and the load average when the runs began (the machine is shared: figures
move with it).
Goal: process start to first epoch at most 0.5 s (median of 5). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"csv": ROOT / "scripts" / "configs" / "blobs.json",
           "sin": ROOT / "scripts" / "configs" / "sin.json"}
GOAL_S = 0.5  #: process start to first epoch, median


def one_run(config: Path, root: Path) -> tuple[float, float, float, list[str]]:
    """``(seconds to the first epoch, seconds to exit, processor seconds to the first epoch,
    packages imported before the first epoch)`` of one ``mlp train config --set
    train.epochs=1`` in a new process."""
    probe = root / "startup.jsonl"
    probe.unlink(missing_ok=True)
    # bytecode is cached, as an installed package has it (the warm-up run writes the caches)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(MLP_STARTUP_FILE=str(probe),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "mlp", "train", str(config), "--set", "train.epochs=1",
               "--ckpt-root", str(root), "--overwrite"]
    start = time.time()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    ended = time.time()
    record = json.loads(probe.read_text(encoding="utf-8").splitlines()[0])
    return record["time"] - start, ended - start, record["cpu"], record["loaded"]


def run(runs: int = 5) -> dict:
    """The figures of every config in ``CONFIGS`` (see the module docstring)."""
    r: dict = {"startup_load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory() as folder:
        for name, config in CONFIGS.items():
            one_run(config, Path(folder))  # warm-up: page cache, numba's cache
            results = [one_run(config, Path(folder)) for _ in range(runs)]
            first = [f for f, _, _, _ in results]
            whole = [w for _, w, _, _ in results]
            r[f"startup_{name}_first_epoch_s"] = statistics.median(first)
            r[f"startup_{name}_first_epoch_spread"] = f"{min(first):.3f}-{max(first):.3f}"
            r[f"startup_{name}_first_epoch_cpu_s"] = statistics.median(
                c for _, _, c, _ in results)
            r[f"startup_{name}_process_s"] = statistics.median(whole)
            r[f"startup_{name}_process_spread"] = f"{min(whole):.3f}-{max(whole):.3f}"
            r[f"startup_{name}_imported_first"] = " ".join(
                sorted(set().union(*(loaded for _, _, _, loaded in results))))
            r[f"startup_{name}_goal"] = ("met" if statistics.median(first) <= GOAL_S
                                         else "missed") + f" (first epoch within {GOAL_S} s)"
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per config (5)")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    r = run(args.runs)
    if not args.json_only:
        for key, value in r.items():
            text = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{key:<36}{text:>40}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))


if __name__ == "__main__":
    main()

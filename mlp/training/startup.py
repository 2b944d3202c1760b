"""A probe of start-up: the moment a run's first epoch starts, and what was imported by then.

With the environment variable ``MLP_STARTUP_FILE`` set to a file name, ``mlp train``,
``mlp resume`` and every trial of ``mlp sweep`` append one JSON line to that file when a run
is about to start its first epoch (``Callback.on_train_begin``, after the data are loaded,
the model is built and the run folder is claimed)::

    {"time": 1764950000.123, "cpu": 0.31, "pid": 4242, "loaded": ["numpy", "pydantic"]}

``time`` is ``time.time()`` (seconds since the epoch, comparable with the clock of the process
that started this one), ``cpu`` the processor seconds this process has used so far
(``time.process_time()``: what a busy machine's waiting does not inflate), ``loaded`` the
packages of ``WATCHED`` that were imported by then. ``scripts/bench_startup.py`` reads it to
time process start to first epoch; the tests read it to check that nothing heavy is imported
before it is needed. Without the variable nothing is recorded and no probe is added.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mlp.callbacks import Callback

#: the environment variable naming the file the probe appends to
STARTUP_VARIABLE = "MLP_STARTUP_FILE"

#: the packages the probe reports when they are imported (the costly ones, and the two a
#: run always needs, as a reference)
WATCHED = ("h5py", "matplotlib", "numba", "numpy", "optuna", "pandas", "pydantic", "scipy",
           "sklearn", "torch", "tqdm")


class StartupProbe(Callback):
    """Appends the time and the ``WATCHED`` packages already imported to ``path`` when a run
    starts its first epoch (see the module docstring).

    Parameters
    ----------
    path
        The file to append one JSON line to per run.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, routinizer: Any, model: Any) -> None:
        record = {"time": time.time(), "cpu": time.process_time(), "pid": os.getpid(),
                  "loaded": [name for name in WATCHED if name in sys.modules]}
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")


def startup_probes() -> list[Callback]:
    """``[StartupProbe(...)]`` when ``MLP_STARTUP_FILE`` is set, else ``[]``."""
    path = os.environ.get(STARTUP_VARIABLE)
    return [StartupProbe(Path(path))] if path else []

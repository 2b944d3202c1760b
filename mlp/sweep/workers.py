"""The worker processes of ``mlp sweep --workers N``, started before anything heavy is imported.

A sweep command with N workers is itself the first worker and starts N - 1 processes as its
very first step, so that their Python start and imports (about 0.3 s of processor time;
neither matplotlib nor numba for a small network) overlap its own, and its loading and
checking of the data. Each waits for the data file the command writes in a
private temporary folder once the sweep has passed every check, then trains on it; a
refused sweep (or a killed command) ends them before they take a trial. They run in a
session of their own, so that Ctrl-C in a terminal reaches the command alone, which stops
them (SIGTERM: a training trial saves its epoch first) and says once what happened. This
module imports only the standard library, so that starting them costs the command nothing.

Every worker runs with one BLAS thread. The command removes the temporary data folder at the
end; the report is written while the worker processes exit. Two workers pay off where training
dominates (longer trials, more of them, bigger data): the figures are in
``scripts/bench_sweep.py``'s docstring.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DATA_FILE = "data.h5"
STOP_SECONDS = 30  #: how long a stopped worker may take to save its epoch and end


@dataclass
class WorkerProcesses:
    """Worker processes waiting for ``data_file`` (in a temporary folder of their own).

    Parameters
    ----------
    processes : list of subprocess.Popen, default []
    data_file : Path, optional
        Where the first worker writes the base run's data once the sweep passed its checks.
    """

    processes: list[subprocess.Popen] = field(default_factory=list)
    data_file: Path | None = None

    @classmethod
    def start(cls, sweep_file: Path, ckpt_root: Path, count: int, url: str | None,
              n_trials: int | None) -> WorkerProcesses:
        """Start worker processes of a sweep file.

        Each is ``mlp sweep --worker`` with single-threaded BLAS, told to wait for the data file
        of the returned object.

        Parameters
        ----------
        sweep_file : Path
        ckpt_root : Path
        count : int
            Processes to start.
        url : str or None
            ``--storage``.
        n_trials : int or None
            ``--trials``.

        Returns
        -------
        WorkerProcesses
        """
        if count < 1:
            return cls()
        data_file = Path(tempfile.mkdtemp(prefix="mlp-sweep-")) / DATA_FILE
        env = {**os.environ, **dict.fromkeys(BLAS_THREAD_VARIABLES, "1")}
        command = [sys.executable, "-m", "mlp.cli", "-q", "sweep", str(sweep_file),
                   "--ckpt-root", str(ckpt_root), "--worker", "--data-file", str(data_file),
                   "--parent", str(os.getpid())]
        if n_trials is not None:
            command += ["--trials", str(n_trials)]
        if url is not None:
            command += ["--storage", url]
        workers = cls([], data_file)
        try:
            for _ in range(count):
                # a session of their own: Ctrl-C reaches the command, which stops them
                workers.processes.append(subprocess.Popen(command, env=env,
                                                          start_new_session=True))
        except BaseException:
            workers.stop()
            raise
        return workers

    def stop(self) -> None:
        """End the processes and remove the folder: SIGTERM (after a refusal they have not
        taken a trial; a training trial saves its epoch first), then SIGKILL for any that
        has not ended ``STOP_SECONDS`` later."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.remove_folder()

    def remove_folder(self) -> None:
        """Remove the temporary folder of ``data_file``."""
        if self.data_file is not None:
            shutil.rmtree(self.data_file.parent, ignore_errors=True)

"""Sweeps: a search over run configs with Optuna (the sweep file, the study and its storage, trials,
workers, the journal and the report).

Modules:

- ``config``: ``SweepConfig``: the sweep file, its space and search, the values built into run
  configs (the sweep file's format is in its docstring).
- ``study``: where the Optuna study lives (journal or PostgreSQL), claims, heartbeats, dead
  workers.
- ``journal``: a journal's torn last line cut off under its lock; other damage refused naming
  the file.
- ``trials``: ``Worker``: takes trials and runs them as run folders, resuming retried ones.
- ``report``: ``results.csv``, ``results.md``, ``curves.png``, ``params.png`` from the study
  alone.
- ``workers``: the worker processes of ``--workers N``, started before the heavy imports.
- ``command``: ``mlp sweep``: checks, the first worker, following the others, the report.

Tested by: ``tests/test_sweep.py`` (grid, random and tpe, repeats, median pruning checked bit for
bit against one long run, two local workers on the journal, two worker processes on a real
PostgreSQL server, a worker SIGKILLed mid-trial then the command rerun with the retried trial
bit-identical, Ctrl-C and SIGTERM to a real command, a changed sweep refused, every bad input),
``tests/test_sweep_storage.py`` (4 worker processes released at one instant on new PostgreSQL
databases and fresh journals, a server halted mid-sweep, a role without CREATE on the schema).
The PostgreSQL tests start their own server (``initdb``, then ``postgres`` on a free loopback
port, as ``nobody`` when run as root) and skip only where no server binaries exist.

May import: everything of ``mlp`` below the command line, and ``preprocess``."""

from mlp.sweep.config import SweepConfig

__all__ = ["SweepConfig"]

"""Training: ``BasicRoutinizer`` and its hyperparameters, the run state, checkpoints, the run config
(model + training + data), progress, diagnostics, inspection and comparison of runs.

Modules:

- ``hyperparameters``: ``TrainingConfig``: every hyperparameter, validated on assignment.
- ``field_docs``: ``Documented``: a config model whose fields' descriptions (``mlp schema``)
  are also its docstring's Parameters section.
- ``run_state``: ``RunState``: counters, the one generator, schedule state, history, best
  weights, stop rules.
- ``routinizer``: ``BasicRoutinizer``: the training loop and the save cadence.
- ``checkpoint``: the checkpoint file format: ``save_checkpoint``, ``load_checkpoint``,
  ``Checkpoint``.
- ``run_config``: ``RunConfig``: the run config file, ``--set``, loading its data.
- ``progress``: the progress bar on a terminal, plain epoch lines elsewhere, the curves at the
  end.
- ``diagnostics``: per-layer training diagnostics, their verdicts, ``mlp diagnose`` and
  ``diagnostics.png``.
- ``inspect``: ``mlp inspect`` and ``mlp runs``.
- ``compare``: ``mlp.compare`` and ``mlp compare``: runs side by side (differing
  hyperparameters, best numbers, curves).
- ``startup``: the start-up probe (``MLP_STARTUP_FILE``): when a run's first epoch starts, and
  what was imported by then.

Tested by: ``tests/test_training.py`` (end to end: accuracy figures, early stopping, divergence,
live curves), ``tests/test_resume.py`` (resume bit-identical to an uninterrupted run, guarded
against a change of training data, safe against a kill at any instant),
``tests/test_checkpoint.py`` (exact round trips, atomic writes, a save that does not read back
fails, ``best.h5`` against a run stopped at the best epoch at three save cadences),
``tests/test_checkpoint_fuzz.py`` (any truncation, flipped byte, insertion or deletion loads
exactly or is a ``CheckpointError``), ``tests/test_hostile_files.py`` (crafted checkpoints:
huge declared shapes, sparse files, unwritten chunks, gzip, external and soft links, virtual
datasets, deep JSON, invalid state; a file held open by another program),
``tests/test_format1.py`` (release 0.1.0's checkpoints load and resume bit for bit),
``tests/test_faults.py`` (run folders under faults and the save cadence),
``tests/test_rerun.py`` (a re-run training cell never destroys a run),
``tests/test_diagnostics.py`` (every statistic against a direct NumPy replay; the seed report's
failure named, healthy runs quiet, resume exact), ``tests/test_compare.py`` (three real runs
side by side), ``tests/test_weights.py`` (sample weights through the trainer and resume),
``tests/test_startup.py`` (nothing heavy is imported before a small run's first epoch, from the
command line, from Python and in a sweep worker).

May import: the base modules of ``mlp``, ``mlp.storage``, ``mlp.nn``, ``mlp.optim``,
``mlp.plotting``, ``mlp.export``, ``mlp.callbacks`` and ``preprocess``."""

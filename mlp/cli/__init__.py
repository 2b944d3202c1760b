"""The ``mlp`` command line (``mlp train``, ``resume``, ``sweep``, ``export``, ...).

Modules:

- ``commands``: the ``mlp`` command and its sub-commands; ``main`` (re-exported here).
- ``__main__``: ``python -m mlp.cli`` (``python -m mlp`` works too).

Tested by: ``tests/test_cli.py`` (train, evaluate ``--json``, predict, resume, inspect, runs,
schema, errors), ``tests/test_cli_person.py`` (the command line as a person meets it: errors
without tracebacks, a real ``| head -1`` pipe included, messages in the config's words, a
pseudo-terminal for the progress bar, the README's command lines naming only options that
exist), ``tests/test_hostile_inputs.py`` (1,000 run configs mutated along ``mlp schema``'s
paths, allowing only the library's errors).

May import: everything."""

from mlp.cli.commands import main

__all__ = ["main"]

"""The ``mlp`` command line (``mlp train``, ``resume``, ``sweep``, ``export``, ...).

May import: everything.
"""

from mlp.cli.commands import main

__all__ = ["main"]

"""``python -m mlp``: the ``mlp`` command, for environments whose scripts folder is not on
``PATH`` (a notebook's kernel, a virtual environment not activated)."""

import sys

from mlp.cli.commands import main

sys.exit(main())

"""``python -m mlp.cli``: the ``mlp`` command."""

import sys

from mlp.cli.commands import main

sys.exit(main())

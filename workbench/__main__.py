"""``python -m workbench``: the command-line interface (see :mod:`workbench.app.cli`)."""
import sys

from workbench.app.cli import main

sys.exit(main())

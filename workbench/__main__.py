"""``python -m workbench``: the command-line interface (the package :mod:`workbench.app.cli`)."""
import sys

from workbench.app.cli import main

sys.exit(main())

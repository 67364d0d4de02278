"""``python -m workbench``: the command-line interface (see :mod:`workbench.cli`)."""
import sys

from .cli import main

sys.exit(main())

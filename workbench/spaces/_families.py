"""Importing this module imports every built-in family of spaces, in :data:`workbench.spaces.FAMILIES` order
(each registers its spaces and the datasets made for them); :func:`workbench.spaces.load_families` imports it.

Being an import, it runs once and under Python's import lock: another thread that needs the families waits until
they are all registered, and the same thread importing it again while it runs (a family that reads a registry on
its way) gets it unfinished (``LOADED`` not set yet) instead of a deadlock. A family that fails to import leaves
nothing behind: the next import tries again.
"""
from __future__ import annotations

import importlib

from workbench.spaces import FAMILIES

for _family in FAMILIES:
    importlib.import_module(_family)

LOADED = True

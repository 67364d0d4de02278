"""Importing this module imports every family module of presets, in :data:`workbench.methods.FAMILIES` order
(each registers its presets); :func:`workbench.methods.load_families` imports it (the method registry's loader).

Being an import, it runs once and under Python's import lock, as :mod:`workbench.spaces._families` does for the
spaces: another thread waits until every preset is registered, and the same thread importing it again while it
runs gets it unfinished (``LOADED`` not set yet) instead of a deadlock.
"""
from __future__ import annotations

import importlib

from workbench.methods import FAMILIES

for _family in FAMILIES:
    importlib.import_module(_family)

LOADED = True

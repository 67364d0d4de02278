"""Build hook: the wheel carries the lessons (``notebooks/*.ipynb``) as ``workbench/lessons/``.

Everything else about the package is declared in ``pyproject.toml``. The notebooks stay where the
lessons live in the repository (``notebooks/``, beside their ``_build*.py`` generators); when a wheel
is built they are copied into the built package, so ``python -m workbench lessons DIR`` finds them in
an installed wheel. An editable install reads them from the checkout's ``notebooks/`` instead.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithLessons(build_py):
    """``build_py`` plus a copy of ``notebooks/*.ipynb`` and the modules they import (``notebooks/[a-z]*.py``;
    not the generators, which start with ``_``) into ``workbench/lessons/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the editable package reads the checkout's notebooks/
        src = ROOT / "notebooks"
        notebooks = sorted(src.glob("[0-9]*.ipynb"))
        if not notebooks:
            raise SystemExit(f"setup.py: no lessons (notebooks/[0-9]*.ipynb) under {src}")
        dest = Path(self.build_lib) / "workbench" / "lessons"
        dest.mkdir(parents=True, exist_ok=True)
        for nb in notebooks + sorted(src.glob("[a-z]*.py")):  # + modules a lesson imports (dsi_qg.py)
            shutil.copyfile(nb, dest / nb.name)


setup(cmdclass={"build_py": BuildPyWithLessons})

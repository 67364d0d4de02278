"""``python -m workbench lessons DIR``: copy the course (the lesson notebooks) into a folder.

The lessons ship inside the package (:mod:`workbench.lessons`); ``--lab`` then starts JupyterLab on DIR
(``pip install 'dnas-workbench[lab]'``), or open them later with ``jupyter lab DIR``. Lessons already in DIR are kept
unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
from typing import Any

from workbench.app.cli.common import UsageError


def cmd_lessons(args: argparse.Namespace) -> int:
    from workbench.lessons import LessonsError, copy_lessons

    try:
        copies = copy_lessons(args.dir, overwrite=args.overwrite)
    except LessonsError as exc:
        hint = "; choose another folder, or --overwrite to replace them" if "already in" in str(exc) else ""
        raise UsageError(f"{exc}{hint}") from None
    for path in copies:
        print(path)
    n = sum(p.suffix == ".ipynb" for p in copies)
    if not args.lab:
        print(f"{n} lessons in {args.dir}; open them with: jupyter lab {args.dir} (or add --lab)")
        return 0
    import importlib.util
    import os
    import sys
    if importlib.util.find_spec("jupyterlab") is None:
        raise UsageError("--lab needs JupyterLab: pip install 'dnas-workbench[lab]'")
    print(f"{n} lessons in {args.dir}; starting JupyterLab on them (Ctrl-C to stop)", flush=True)
    os.execvp(sys.executable, [sys.executable, "-m", "jupyterlab", str(args.dir)])


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lessons", help="copy the lessons (Jupyter notebooks) into a folder")
    p.add_argument("dir", metavar="DIR", help="folder to copy the lessons into (created if needed)")
    p.add_argument("--overwrite", action="store_true", help="replace lessons already in DIR")
    p.add_argument("--lab", action="store_true", help="then start JupyterLab on DIR (the lab extra)")
    p.set_defaults(func=cmd_lessons)

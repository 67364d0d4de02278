"""The course: the workbench's lessons (Jupyter notebooks) and copying them into a folder.

An installed wheel carries the lessons as ``workbench/lessons/*.ipynb`` (``setup.py`` copies
``notebooks/[0-9]*.ipynb`` there when the wheel is built); a source checkout or an editable
install reads them from the repository's ``notebooks/`` folder. The generators
(``notebooks/_build*.py``) are never part of the course. ``python -m workbench lessons DIR``
calls :func:`copy_lessons`.
"""
from __future__ import annotations

import logging
import os
import shutil
from importlib import resources
from pathlib import Path

__all__ = ["LessonsError", "copy_lessons", "lesson_files", "lessons_source"]

log = logging.getLogger(__name__)

#: a lesson's file name: two digits, an underscore, a name (``01_relaxation.ipynb``)
PATTERN = "[0-9][0-9]_*.ipynb"
#: a module a lesson imports from its own folder (``dsi_qg.py``: code that is not part of the engine);
#: the generators (``_build*.py``, ``_part_*.py``) start with an underscore and are never copied
COMPANION = "[a-z]*.py"


class LessonsError(RuntimeError):
    """The lessons cannot be found or copied (the message says where it looked or what is in the way)."""


def _checkout_notebooks() -> Path:
    return Path(__file__).resolve().parents[2] / "notebooks"


def lessons_source() -> Path:
    """The folder the lessons are read from: the package's own copy (a wheel), else the checkout's
    ``notebooks/`` (source tree, editable install). Raises :class:`LessonsError` when neither has any."""
    packaged = Path(str(resources.files(__name__)))
    for where in (packaged, _checkout_notebooks()):
        if any(where.glob(PATTERN)):
            return where
    raise LessonsError(f"no lessons found: neither {packaged} (an installed wheel) nor {_checkout_notebooks()} "
                       f"(a source checkout) holds {PATTERN} files")


def lesson_files() -> list[Path]:
    """The lessons' notebooks, in course order (``01_...ipynb``, ``02_...ipynb``, ...), then the modules they
    import from their folder (:data:`COMPANION`)."""
    where = lessons_source()
    return sorted(where.glob(PATTERN)) + sorted(p for p in where.glob(COMPANION) if p.name != "__init__.py")


def copy_lessons(dest: str | os.PathLike[str], overwrite: bool = False) -> list[Path]:
    """Copy every lesson into the folder ``dest`` (created if needed) and return the copies' paths.

    A lesson already in ``dest`` is kept (your edits are yours) unless ``overwrite``; then
    :class:`LessonsError` names the files in the way before anything is copied.
    """
    out = Path(dest).expanduser()
    if out.exists() and not out.is_dir():
        raise LessonsError(f"{out} is a file; give a folder for the lessons")
    files = lesson_files()
    clash = [out / f.name for f in files if (out / f.name).exists()]
    if clash and not overwrite:
        raise LessonsError(f"{len(clash)} lesson(s) already in {out} (e.g. {clash[0].name})")
    out.mkdir(parents=True, exist_ok=True)
    copies = []
    for f in files:
        target = out / f.name
        shutil.copyfile(f, target)
        copies.append(target)
    log.info("copied %d lessons from %s to %s", len(copies), files[0].parent if files else "?", out)
    return copies

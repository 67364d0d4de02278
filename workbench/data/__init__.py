"""Tables shipped with the workbench (package data) and where the NAS-Bench-201 table comes from.

``workbench/data/nb201/nb201_merged.csv.gz`` is the NAS-Bench-201 / NATS-Bench ground truth (all
15,625 cells; attribution and licences in ``ATTRIBUTION.md`` beside it) and
``workbench/data/latency/`` holds the ProxylessNAS and Once-for-All latency lookup tables
(:mod:`workbench.spaces.chain.lut`). Every place that scores an architecture against
NAS-Bench-201 (the CLI's ``search``/``resume`` summary, ``report.html``, ``nb201``, ``compare``,
``latency fit-nb201`` and the lessons) finds its table with :func:`nb201_table_path`:

1. an explicit path (``--nb201-table`` / ``--table`` / a function argument);
2. else the environment variable :data:`NB201_ENV` (``WORKBENCH_NB201_TABLE``);
3. else the old notebook variable :data:`DEPRECATED_NB201_ENV` (``DNAS_NB201_TABLE``), still read,
   with a deprecation message in the log;
4. else the shipped table.
"""
from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the loader imports the cell space; only needed when a table is loaded
    from workbench.spaces.cell.nb201 import NB201Table

__all__ = ["DEPRECATED_NB201_ENV", "NB201_ENV", "NB201_FILE", "load_nb201_table", "nb201_table_path",
           "shipped_nb201_path"]

log = logging.getLogger(__name__)

#: the one environment variable naming another NAS-Bench-201 table (CLI, summary, report, lessons, compare)
NB201_ENV = "WORKBENCH_NB201_TABLE"
#: the lessons' former variable: still read, with a deprecation message
DEPRECATED_NB201_ENV = "DNAS_NB201_TABLE"
#: the shipped table's file name inside ``workbench/data/nb201/``
NB201_FILE = "nb201_merged.csv.gz"

_warned: set[str] = set()


def shipped_nb201_path() -> Path:
    """The path of the NAS-Bench-201 table shipped inside the package."""
    return Path(str(resources.files(__name__).joinpath("nb201", NB201_FILE)))


def _resolve(explicit: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The table's path and where it came from (for messages)."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser(), "given explicitly"
    value = os.environ.get(NB201_ENV)
    if value:
        return Path(value).expanduser(), f"from ${NB201_ENV}"
    value = os.environ.get(DEPRECATED_NB201_ENV)
    if value:
        if DEPRECATED_NB201_ENV not in _warned:
            _warned.add(DEPRECATED_NB201_ENV)
            log.warning("%s is deprecated: set %s instead (read %s this time)", DEPRECATED_NB201_ENV,
                        NB201_ENV, value)
        return Path(value).expanduser(), f"from the deprecated ${DEPRECATED_NB201_ENV}"
    return shipped_nb201_path(), "the table shipped with the workbench"


def nb201_table_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The NAS-Bench-201 table to use: ``explicit``, else ``$WORKBENCH_NB201_TABLE``, else the deprecated
    ``$DNAS_NB201_TABLE`` (with a deprecation message in the log), else the shipped table. The path is not
    checked here; ``~`` is expanded."""
    return _resolve(explicit)[0]


def load_nb201_table(explicit: str | os.PathLike[str] | None = None) -> NB201Table:
    """The :class:`~workbench.spaces.cell.nb201.NB201Table` at :func:`nb201_table_path` (``explicit`` first;
    parsed once per file version and process by the loader). A missing file raises ``FileNotFoundError``
    saying where the path came from."""
    from workbench.spaces.cell.nb201 import NB201Table

    path, source = _resolve(explicit)
    if not path.is_file():
        raise FileNotFoundError(f"NAS-Bench-201 table not found at {path} ({source}); without a path the table "
                                "shipped with the workbench is used, and `python -m workbench nb201-convert` "
                                "builds one from the official NATS-Bench files")
    return NB201Table.load(path)

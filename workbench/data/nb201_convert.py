"""Build the workbench's NAS-Bench-201 CSV (the shipped ``nb201_merged.csv.gz`` format) from official data.

The output has the columns of :data:`COLUMNS` that the sources provide, in that order:
``nb201_index, arch_str`` and the accuracies (%) ``c10_test_200ep, c100_test_200ep,
in16_test_200ep`` (required), then the 12-epoch columns and any ``lat_ms_<device>`` latency
columns; one row per cell in official index order; gzip when the output name ends in ``.gz``.
:class:`~workbench.spaces.cell.nb201.NB201Table` reads it, and so does every command that takes
``--nb201-table``.

Accepted sources (none of them is downloaded here; the user has them):

* **The NATS-Bench API** over the official topology files (``NATS-tss-v1_0-3ffb9-simple/``):
  :func:`rows_from_nats_api` takes the object ``nats_bench.create(path, "tss", fast_mode=True,
  verbose=False)`` returns (``pip install nats_bench``; the official reader opens the official
  files, this module never unpickles anything). It reads ``len(api)``, ``api.arch(i)`` (the NB201
  string of index ``i``) and ``api.get_more_info(i, dataset, hp=..., is_random=False)`` (a dict
  with ``"test-accuracy"`` and, for ``"cifar10-valid"``, ``"valid-accuracy"``, in %). The 200-epoch
  columns come from ``hp="200"`` on ``cifar10`` (trained on train+valid), ``cifar100`` and
  ``ImageNet16-120``; the 12-epoch ones from ``hp="12"`` (``c10_valid_12ep`` from ``cifar10-valid``).
* **An API export as CSV** (``nats_bench.csv`` as written by v-tao/nats-bench-landscape from that
  API): :func:`rows_from_nats_csv`; a header with ``ArchitectureString``,
  ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs`` and
  ``ImageNetTestAccuracy200Epochs`` (other columns ignored), one row per cell in index order (or an
  ``index`` column giving it).
* **Extra columns** from any CSV keyed by ``arch_str`` (e.g. HW-NAS-Bench / HELP latencies exported
  as ``arch_str, lat_ms_pixel3, ...``): :func:`merge_columns`; columns named like :data:`COLUMNS`
  or ``lat_ms_*`` are merged, others ignored.
"""
from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from workbench.spaces.cell.genotype import NB201_OPS, Genotype

__all__ = ["COLUMNS", "NATS_CSV_COLUMNS", "ConvertError", "NatsApi", "convert", "merge_columns",
           "read_rows", "rows_from_nats_api", "rows_from_nats_csv", "write_table"]

log = logging.getLogger(__name__)

#: the workbench table's columns in order (``lat_ms_*`` columns follow them)
COLUMNS = ("nb201_index", "arch_str", "c10_test_200ep", "c100_test_200ep", "in16_test_200ep",
           "c10_valid_12ep", "c10_test_12ep", "c100_test_12ep", "in16_test_12ep")
REQUIRED = COLUMNS[:5]
LAT_PREFIX = "lat_ms_"
#: the API export's column -> the workbench column
NATS_CSV_COLUMNS: Mapping[str, str] = {
    "ArchitectureString": "arch_str",
    "CIFAR10TestAccuracy200Epochs": "c10_test_200ep",
    "CIFAR100TestAccuracy200Epochs": "c100_test_200ep",
    "ImageNetTestAccuracy200Epochs": "in16_test_200ep",
}
#: workbench column -> (NATS-Bench dataset, hp, key of get_more_info's dict)
API_QUERIES: Mapping[str, tuple[str, str, str]] = {
    "c10_test_200ep": ("cifar10", "200", "test-accuracy"),
    "c100_test_200ep": ("cifar100", "200", "test-accuracy"),
    "in16_test_200ep": ("ImageNet16-120", "200", "test-accuracy"),
    "c10_valid_12ep": ("cifar10-valid", "12", "valid-accuracy"),
    "c10_test_12ep": ("cifar10", "12", "test-accuracy"),
    "c100_test_12ep": ("cifar100", "12", "test-accuracy"),
    "in16_test_12ep": ("ImageNet16-120", "12", "test-accuracy"),
}
N_CELLS = 15625

Row = dict[str, Any]


class ConvertError(ValueError):
    """A source that does not have the documented structure (the message names the file and what is missing)."""


class NatsApi(Protocol):
    """What :func:`rows_from_nats_api` uses of the NATS-Bench topology API."""

    def __len__(self) -> int: ...

    def arch(self, index: int) -> str: ...

    def get_more_info(self, index: int, dataset: str, iepoch: int | None = None, hp: str = "12",
                      is_random: bool = True) -> dict[str, Any]: ...


def _nb201_str(text: str, where: str) -> str:
    try:
        g = Genotype.from_nb201_str(text.strip())  # exactly 3 nodes
        g.check_ops(NB201_OPS)
        return g.to_nb201_str()
    except ValueError as exc:
        raise ConvertError(f"{where}: {text[:80]!r} is not a NAS-Bench-201 architecture string ({exc})") from None


def _number(text: Any, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConvertError(f"{where}: {str(text)[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ConvertError(f"{where}: {value} is not finite")
    return value


def rows_from_nats_api(api: NatsApi, columns: Sequence[str] | None = None,
                       progress: Callable[[int, int], None] | None = None) -> list[Row]:
    """One row per cell of ``api`` (the NATS-Bench topology API) with the accuracy columns of :data:`API_QUERIES`
    (``columns`` to pick some; the three 200-epoch ones are always read). ``progress(done, total)`` is called
    every 500 cells."""
    wanted = list(dict.fromkeys([*REQUIRED[2:], *(columns if columns is not None else API_QUERIES)]))
    unknown = [c for c in wanted if c not in API_QUERIES]
    if unknown:
        raise ConvertError(f"unknown column(s) {unknown}; the API gives {', '.join(API_QUERIES)}")
    total = len(api)
    rows = []
    for i in range(total):
        row: Row = {"nb201_index": i, "arch_str": _nb201_str(api.arch(i), f"api.arch({i})")}
        for col in wanted:
            dataset, hp, key = API_QUERIES[col]
            info = api.get_more_info(i, dataset, hp=hp, is_random=False)
            if key not in info:
                raise ConvertError(f"api.get_more_info({i}, {dataset!r}, hp={hp!r}) has no {key!r}; keys: "
                                   f"{sorted(info)}")
            row[col] = _number(info[key], f"api.get_more_info({i}, {dataset!r}, hp={hp!r})[{key!r}]")
        rows.append(row)
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == total):
            progress(i + 1, total)
    return rows


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def _dict_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    return header, [r for r in reader if any((v or "").strip() for v in r.values())]


def rows_from_nats_csv(path: str | os.PathLike[str]) -> list[Row]:
    """Rows from an API export CSV (``nats_bench.csv``: :data:`NATS_CSV_COLUMNS`; row order = index, or an
    ``index`` column)."""
    p = Path(path)
    header, records = _dict_rows(p)
    missing = [c for c in NATS_CSV_COLUMNS if c not in header]
    if missing:
        raise ConvertError(f"{p}: not a NATS-Bench API export: no column(s) {', '.join(missing)} (found "
                           f"{', '.join(header) or 'no header'})")
    rows = []
    for n, rec in enumerate(records):
        where = f"{p}: row {n + 2}"
        index = int(_number(rec["index"], where)) if rec.get("index", "").strip() else n
        row: Row = {"nb201_index": index}
        for src, dst in NATS_CSV_COLUMNS.items():
            row[dst] = _nb201_str(rec[src], where) if dst == "arch_str" else _number(rec[src], f"{where} {src}")
        rows.append(row)
    return rows


def read_rows(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a CSV in the workbench's own format (e.g. a previous table, to add columns to it)."""
    p = Path(path)
    header, records = _dict_rows(p)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ConvertError(f"{p}: no column(s) {', '.join(missing)} (found {', '.join(header)})")
    keep = [c for c in header if c in COLUMNS or c.startswith(LAT_PREFIX)]
    return [{c: (_nb201_str(r[c], f"{p}: row {n + 2}") if c == "arch_str" else
                 int(_number(r[c], f"{p}: row {n + 2}")) if c == "nb201_index" else _number(r[c], f"{p}: row {n + 2}"))
             for c in keep} for n, r in enumerate(records)]


def merge_columns(rows: list[Row], path: str | os.PathLike[str]) -> list[str]:
    """Add the :data:`COLUMNS` / ``lat_ms_*`` columns of the CSV at ``path`` (keyed by ``arch_str``) to ``rows``,
    in place; returns the merged column names. Every row must find its architecture there."""
    p = Path(path)
    header, records = _dict_rows(p)
    if "arch_str" not in header:
        raise ConvertError(f"{p}: extra columns need an arch_str column (found {', '.join(header)})")
    cols = [c for c in header if (c in COLUMNS[2:] or c.startswith(LAT_PREFIX))]
    if not cols:
        raise ConvertError(f"{p}: no column to merge (wanted {', '.join(COLUMNS[2:])} or {LAT_PREFIX}*)")
    by_arch = {_nb201_str(r["arch_str"], f"{p}: row {n + 2}"): r for n, r in enumerate(records)}
    for row in rows:
        rec = by_arch.get(row["arch_str"])
        if rec is None:
            raise ConvertError(f"{p}: no row for {row['arch_str']} (index {row['nb201_index']})")
        for c in cols:
            row[c] = _number(rec[c], f"{p}: {row['arch_str']} {c}")
    return cols


def _check(rows: Sequence[Row], expect_all: bool) -> list[str]:
    if not rows:
        raise ConvertError("no rows to write")
    columns = [c for c in COLUMNS if c in rows[0]]
    columns += [c for c in rows[0] if c.startswith(LAT_PREFIX)]  # in the order they were added
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ConvertError(f"the rows lack required column(s) {', '.join(missing)}")
    for r in rows:
        if set(r) != set(rows[0]):
            raise ConvertError(f"row {r.get('nb201_index')} has columns {sorted(r)}, the first row {sorted(rows[0])}")
    indices = [int(r["nb201_index"]) for r in rows]
    if len(set(indices)) != len(indices):
        raise ConvertError("an nb201_index appears twice")
    archs = [r["arch_str"] for r in rows]
    if len(set(archs)) != len(archs):
        raise ConvertError("an architecture appears twice")
    if expect_all and (len(rows) != N_CELLS or sorted(indices) != list(range(N_CELLS))):
        raise ConvertError(f"expected all {N_CELLS} cells with indices 0..{N_CELLS - 1}, got {len(rows)} rows")
    return columns


def _fmt(value: Any) -> str:
    return str(value) if isinstance(value, int | str) else repr(float(value))


def write_table(rows: Sequence[Row], out: str | os.PathLike[str], expect_all: bool = True) -> Path:
    """Write ``rows`` (sorted by index) as the workbench's CSV at ``out`` (gzip for ``.gz``; written to a temporary
    file, then renamed). ``expect_all``: refuse anything but the 15,625 cells."""
    columns = _check(rows, expect_all)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in sorted(rows, key=lambda r: int(r["nb201_index"])):
        w.writerow([_fmt(r[c]) for c in columns])
    data = buf.getvalue().encode("utf-8")
    p = Path(out).expanduser()
    if p.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, p)
    log.info("wrote the NAS-Bench-201 table %s: %d rows, columns %s", p, len(rows), ", ".join(columns))
    return p


def convert(out: str | os.PathLike[str], *, nats_csv: str | os.PathLike[str] | None = None, api: NatsApi | None = None,
            extra: Iterable[str | os.PathLike[str]] = (), expect_all: bool = True,
            progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the table at ``out`` from exactly one of ``nats_csv`` (an API export) or ``api`` (the NATS-Bench API),
    plus the columns of each ``extra`` CSV; returns the path written."""
    if (nats_csv is None) == (api is None):
        raise ConvertError("give exactly one source: a NATS-Bench API export CSV or the NATS-Bench API")
    if api is not None:
        rows = rows_from_nats_api(api, progress=progress)
    else:
        assert nats_csv is not None
        rows = rows_from_nats_csv(nats_csv)
    for path in extra:
        merge_columns(rows, path)
    return write_table(rows, out, expect_all=expect_all)

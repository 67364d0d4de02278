"""NAS-Bench-201 ground truth: a lookup table over all 15,625 cells.

Implements lookups into the NAS-Bench-201 / NATS-Bench topology space (Dong &
Yang, ICLR 2020; Dong et al., TPAMI 2021) from a CSV export with columns
``nb201_index, arch_str, c10_test_200ep, ...`` (plain or gzip), plus the
isomorphism canonical form of ``D-X-Y/AutoDL-Projects:xautodl/models/
cell_searchs/genotypes.py::Structure.to_unique_str(consider_zero=True)``.
Latency columns follow HW-NAS-Bench (Li et al., ICLR 2021) and HELP (Lee et
al., NeurIPS 2021). The package ships one table (``workbench.data``: ``load_nb201_table``, attribution beside
it); a user may pass the path of another.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from workbench.spaces.cell.genotype import NB201_OPS, Genotype, GenotypeError

__all__ = ["NB201Record", "NB201Table", "canonical_str", "output_reachable", "REQUIRED_COLUMNS"]

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("nb201_index", "arch_str", "c10_test_200ep", "c100_test_200ep", "in16_test_200ep")
_LAT_PREFIX = "lat_ms_"
_SOURCE_HINT = ("Leave the path out for the table shipped with workbench, or pass a NAS-Bench-201 CSV export "
                "(e.g. nb201_merged.csv.gz with columns " + ", ".join(REQUIRED_COLUMNS) + ", ...), built from "
                "NATS-Bench / NAS-Bench-201 results (python -m workbench nb201-convert).")


@dataclass(frozen=True)
class NB201Record:
    """One architecture of the table: its index, arch string and all numeric columns."""

    index: int
    arch_str: str
    metrics: Mapping[str, float] = field(hash=False, repr=False)

    @property
    def c10(self) -> float:
        """CIFAR-10 test accuracy (%) after 200 epochs."""
        return self.metrics["c10_test_200ep"]

    @property
    def c100(self) -> float:
        """CIFAR-100 test accuracy (%) after 200 epochs."""
        return self.metrics["c100_test_200ep"]

    @property
    def in16(self) -> float:
        """ImageNet16-120 test accuracy (%) after 200 epochs."""
        return self.metrics["in16_test_200ep"]

    @property
    def genotype(self) -> Genotype:
        return Genotype.from_nb201_str(self.arch_str)

    def devices(self) -> list[str]:
        """Device names with a latency column, e.g. ``pixel3``."""
        return [k[len(_LAT_PREFIX):] for k in self.metrics if k.startswith(_LAT_PREFIX)]

    def latency(self, device: str) -> float:
        """Latency in ms on ``device`` (e.g. ``"pixel3"``, ``"raspi4"``, ``"1080ti_1"``)."""
        key = _LAT_PREFIX + str(device).strip().lower()
        if key not in self.metrics:
            raise ValueError(f"no latency for device {device!r}; known devices: {', '.join(self.devices())}")
        return self.metrics[key]


def _arch_key(arch: Genotype | str) -> str:
    """Normalise ``arch`` to an NB201 string; DARTS-space genotypes are rejected."""
    return _nb201_genotype(arch).to_nb201_str()


def _nb201_genotype(arch: Genotype | str) -> Genotype:
    if isinstance(arch, str) and arch.strip(" \r\n").startswith("|"):
        g = Genotype.from_nb201_str(arch)  # NB201 strings have exactly 3 nodes
    else:
        g = Genotype.parse(arch) if isinstance(arch, str) else arch
    if not isinstance(g, Genotype):
        raise GenotypeError(f"expected a Genotype or an NB201 string, got {type(arch).__name__}")
    if not g.is_nb201() or g.cells[0][1].n_nodes != 3:
        raise GenotypeError(
            f"NAS-Bench-201 only covers single 3-node cells like '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
            f"+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'; got a genotype with cells {list(g.cell_names)} "
            f"(a DARTS-space genotype cannot be looked up here)")
    g.check_ops(NB201_OPS)
    return g


def output_reachable(arch: Genotype | str) -> bool:
    """True when the cell output is connected to the input through non-``none`` ops (AutoDL ``check_valid``)."""
    cell = _nb201_genotype(arch).cells[0][1]
    ok = [True]
    for node in cell.nodes:
        ok.append(any(op != "none" and ok[src] for op, src in node))
    return ok[-1]


def canonical_str(arch: Genotype | str, merge_unreachable: bool = False) -> str:
    """Isomorphism canonical form, as AutoDL ``Structure.to_unique_str(consider_zero=True)``.

    ``skip_connect`` is the identity, ``none`` (or any input that is zero) becomes the
    zero term ``#``, another op is written ``(src)@op`` and a node is the sorted ``+``-join
    of its input terms. As in AutoDL, zero terms stay in the join (``#+(0)@nor_conv_3x3``),
    which gives the 6,466 classes NAS-Bench-201 reports. With ``merge_unreachable=True``
    every cell whose output is unreachable maps to the single string ``"#"`` (6,462 classes).
    """
    g = _nb201_genotype(arch)
    cell = g.cells[0][1]
    states = ["0"]
    for node in cell.nodes:
        terms = []
        for op, src in node:
            if op == "none" or states[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(states[src])
            else:
                terms.append(f"({states[src]})@{op}")
        states.append("+".join(sorted(terms)))
    if merge_unreachable and not output_reachable(g):
        return "#"
    return states[-1]


class NB201Table:
    """The NAS-Bench-201 table, loaded from a CSV export with :meth:`load`."""

    def __init__(self, indices: np.ndarray, arch_strs: list[str], columns: list[str], values: np.ndarray,
                 path: str = "") -> None:
        self._indices = indices
        self._arch = arch_strs
        self._columns = list(columns)
        self._col = {c: k for k, c in enumerate(self._columns)}
        self._values = values
        self._row = {s: r for r, s in enumerate(arch_strs)}
        self._canon: list[str] | None = None
        self._classes: dict[str, list[int]] | None = None
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NB201Table:
        """Load (and cache per path in this process) the table at ``path`` (.csv or .csv.gz)."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"NAS-Bench-201 table not found at {str(path)!r} (resolved to "
                                    f"{p.resolve()}). {_SOURCE_HINT}")
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
        with _LOCK:
            table = _CACHE.get(key)
            if table is None:
                table = _read_csv(p)
                _CACHE[key] = table
        return table

    def __len__(self) -> int:
        return len(self._arch)

    def __repr__(self) -> str:
        return f"NB201Table({len(self)} rows from {self.path!r})"

    def metrics(self) -> list[str]:
        """Names of the numeric columns."""
        return list(self._columns)

    def record(self, row: int) -> NB201Record:
        """The record in table row ``row`` (rows are in file order)."""
        vals = dict(zip(self._columns, self._values[row].tolist(), strict=True))
        return NB201Record(int(self._indices[row]), self._arch[row], MappingProxyType(vals))

    def lookup(self, arch: Genotype | str) -> NB201Record:
        """The record of ``arch`` (an NB201 genotype or string), by exact string match."""
        key = _arch_key(arch)
        row = self._row.get(key)
        if row is None:
            raise GenotypeError(f"architecture {key!r} is not in the table ({len(self)} rows from {self.path!r})")
        return self.record(row)

    def _class_rows(self) -> dict[str, list[int]]:
        if self._classes is None:
            self._canon = [canonical_str(s) for s in self._arch]
            classes: dict[str, list[int]] = {}
            for r, c in enumerate(self._canon):
                classes.setdefault(c, []).append(r)
            self._classes = classes
        return self._classes

    def n_isomorphism_classes(self) -> int:
        """Number of distinct :func:`canonical_str` values over the table."""
        return len(self._class_rows())

    def isomorphic(self, arch: Genotype | str) -> list[NB201Record]:
        """All records in the same isomorphism class as ``arch`` (``arch`` included), in row order."""
        return [self.record(r) for r in self._class_rows().get(canonical_str(arch), [])]

    def _column(self, metric: str) -> np.ndarray:
        if metric not in self._col:
            raise ValueError(f"unknown metric {metric!r}; available: {', '.join(self._columns)}")
        return self._values[:, self._col[metric]]

    @staticmethod
    def _higher_better(metric: str, higher_is_better: bool | None) -> bool:
        return not metric.startswith(_LAT_PREFIX) if higher_is_better is None else higher_is_better

    def rank(self, arch: Genotype | str, metric: str = "c10_test_200ep",
             higher_is_better: bool | None = None) -> int:
        """Competition rank of ``arch`` on ``metric`` among all rows (1 = best).

        Accuracies rank high-first and ``lat_ms_*`` columns low-first unless
        ``higher_is_better`` says otherwise. Missing (NaN) values never outrank.
        """
        col = self._column(metric)
        rec = self.lookup(arch)
        v = col[self._row[rec.arch_str]]
        if math.isnan(v):
            raise ValueError(f"{metric} is missing (NaN) for {rec.arch_str!r}")
        better = col > v if self._higher_better(metric, higher_is_better) else col < v
        return int(np.count_nonzero(better)) + 1

    def best(self, metric: str = "c10_test_200ep", higher_is_better: bool | None = None) -> NB201Record:
        """The best record on ``metric`` (first row among ties)."""
        col = self._column(metric)
        row = np.nanargmax(col) if self._higher_better(metric, higher_is_better) else np.nanargmin(col)
        return self.record(int(row))


_LOCK = threading.Lock()
_CACHE: dict[tuple[str, int, int], NB201Table] = {}


def _read_csv(path: Path) -> NB201Table:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"NAS-Bench-201 table {str(path)!r} lacks column(s) {', '.join(missing)}; "
                         f"found {header}. {_SOURCE_HINT}")
    i_idx, i_arch = header.index("nb201_index"), header.index("arch_str")
    num_cols = [k for k, h in enumerate(header) if k not in (i_idx, i_arch)]
    indices, archs, rows = [], [], []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line_no} has {len(row)} fields, the header has {len(header)}")
        try:
            indices.append(int(row[i_idx]))
            rows.append([float(row[k]) if row[k].strip() else math.nan for k in num_cols])
        except ValueError as exc:
            raise ValueError(f"{path}: line {line_no}: non-numeric value ({exc})") from None
        archs.append(row[i_arch].strip())
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(num_cols))
    log.debug("loaded %d NB201 rows from %s", len(rows), path)
    return NB201Table(np.asarray(indices, dtype=np.int64), archs, [header[k] for k in num_cols], values, str(path))

"""Method comparison: methods x seeds, one run folder each, one table (CSV + Markdown + JSON), one figure dict.

For every (method, seed) :func:`compare` runs a search with
:meth:`Searcher.run <workbench.search.Searcher.run>` (a method's controller,
e.g. DARTS-ADA's early stopping and rollbacks, acts inside every step),
persists it with :class:`workbench.runs.RunStore` in
``out_dir/<method>-s<seed>/`` and measures:

* the derived architecture (``space.label(arch)`` in the ``genotype`` column,
  ``arch.to_dict()`` in ``arch``); for cell genotypes also its parameter-free
  op count (skip/pools; ``none`` not counted), its skip count, its ``none`` count;
* every metric of the task's objective on the supernet's validation half
  (eval-mode BN, :meth:`Searcher.evaluate`), as ``supernet_val_<metric>``
  columns (``supernet_val_accuracy`` for classification, ``supernet_val_mse``
  ... for regression);
* search time (wall seconds of the search itself) and ms/step;
* optionally the dominant eigenvalue of the alpha Hessian at the end
  (:func:`workbench.analysis.sharpness.compute_sharpness`, dense, as
  RobustDARTS, Zela et al. 2020; the validation loss under softmax(alpha) for
  every method, so GDAS/SNAS are measured in DARTS's relaxation);
* optionally (cell genotypes) the retrained accuracy at a small budget
  (:func:`workbench.spaces.cell.discrete.evaluate_genotype`; with the EvalConfig's seed,
  the same for every run, so the column differs by genotype only);
* for NAS-Bench-201 cells, given a table path, ground-truth CIFAR-10/100/
  ImageNet16 test accuracy and the CIFAR-10 rank among all 15,625 cells
  (:class:`workbench.spaces.cell.nb201.NB201Table`; Dong & Yang, ICLR 2020).

A missing optional module or table drops its columns cleanly (logged, never
an error). A finished run's ``summary.json`` is reused when :func:`compare`
runs again (``resume=True``); an interrupted run folder is resumed from its
newest checkpoint. :meth:`ComparisonResult.figure_data` is plain data for
plotting (the engine never draws).
"""
from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.events import EpochEnded
from workbench.search import SearchConfig, Searcher
from workbench.serialize import atomic_write_text
from workbench.spaces.cell.genotype import Genotype, count_param_free

log = logging.getLogger(__name__)

#: NAS-Bench-201 CIFAR-10 test accuracy (200 epochs) of each method's published search result
#: (shared/data/README.md, from NATS-Bench and later papers). SDARTS has no NB201 number there; the
#: fixed-alpha ("blank") result (93.80) needs perturbation-based selection, so it is not listed for ``blank``.
PUBLISHED_NB201_C10 = {"darts-v1": 54.30, "darts-v2": 54.30, "gdas": 93.61, "pc-darts": 93.41, "snas": 92.77}
#: The table's columns in order; ``supernet_val_<metric>`` columns of other objectives follow
#: ``supernet_val_accuracy`` (see :attr:`ComparisonResult.columns`).
COLUMNS = ("method", "seed", "genotype", "supernet_val_accuracy", "retrain_test_acc", "param_free", "skips", "nones",
           "eigenvalue", "search_seconds", "ms_per_step", "nb201_c10", "nb201_c100", "nb201_in16", "nb201_rank_c10",
           "run_dir", "status")
NUMERIC = ("supernet_val_accuracy", "retrain_test_acc", "param_free", "skips", "nones", "eigenvalue", "search_seconds",
           "ms_per_step", "nb201_c10", "nb201_c100", "nb201_in16", "nb201_rank_c10")
SUMMARY_FILE = "summary.json"
METRIC_PREFIX = "supernet_val_"


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        log.info("optional module %s is not available (%s): its columns are skipped", module, exc)
        return None


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _clean(o: Any) -> Any:
    """JSON-safe: numpy -> python, NaN/inf -> None."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


@dataclass
class ComparisonResult:
    """One row per (method, seed); see :data:`COLUMNS`. ``curves`` holds per-epoch traces per run."""

    rows: list[dict[str, Any]]
    space: str
    dataset: str
    epochs: int
    config: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.rows))

    @property
    def columns(self) -> list[str]:
        """The columns that hold at least one value (optional ones that were skipped are dropped); the
        objective's ``supernet_val_<metric>`` columns come right after ``genotype``."""
        order = list(COLUMNS)
        metrics = [k for k in dict.fromkeys(k for r in self.rows for k in r)
                   if k.startswith(METRIC_PREFIX) and k not in order]
        at = order.index("supernet_val_accuracy") + 1
        order[at:at] = metrics
        return [c for c in order if any(r.get(c) is not None for r in self.rows)]

    @property
    def numeric_columns(self) -> list[str]:
        """The numeric columns that hold a value (the supernet metrics included)."""
        return [c for c in self.columns if c in NUMERIC or c.startswith(METRIC_PREFIX)]

    def values(self, method: str, column: str) -> list[float]:
        return [_num(r.get(column)) for r in self.rows if r["method"] == method]

    def summary(self) -> list[dict[str, Any]]:
        """Per method: mean and std (over seeds) of every numeric column, plus the genotypes found."""
        out = []
        for m in self.methods:
            row: dict[str, Any] = {"method": m, "seeds": sum(r["method"] == m for r in self.rows)}
            for c in self.numeric_columns:
                v = np.array([x for x in self.values(m, c) if not math.isnan(x)])
                row[c] = float(v.mean()) if len(v) else None
                row[c + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else None
            row["genotypes"] = [r["genotype"] for r in self.rows if r["method"] == m]
            row["published_nb201_c10"] = PUBLISHED_NB201_C10.get(m)
            out.append(row)
        return out

    # -- outputs ------------------------------------------------------------------------------
    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in self.columns})
        return buf.getvalue()

    def to_markdown(self) -> str:
        """A per-method summary table (mean ± std over seeds), then the per-run table."""
        cols = self.numeric_columns
        lines = [f"Space {self.space}, dataset {self.dataset}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}; mean ± std over seeds.", "",
                 "| method | seeds | " + " | ".join(cols) + " | published NB201 C10 |",
                 "|---" * (len(cols) + 3) + "|"]
        for s in self.summary():
            cells = [_fmt(s.get(c), s.get(c + "_std"), c) for c in cols]
            pub = s["published_nb201_c10"]
            lines.append(f"| {s['method']} | {s['seeds']} | " + " | ".join(cells) + f" | {'' if pub is None else pub} |")
        per_run = ["method", "seed"] + cols + ["genotype"]
        lines += ["", "| " + " | ".join(per_run) + " |", "|---" * len(per_run) + "|"]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r.get(c), None, c) if c in cols else _md_code(r[c]) if c == "genotype"
                                           else str(r.get(c)) for c in per_run) + " |")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """The same two tables as :meth:`to_markdown`, aligned in columns for a terminal (no Markdown escapes)."""
        cols = self.numeric_columns
        head = [f"Space {self.space}, dataset {self.dataset}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}; mean ± std over seeds."]
        summary = [["method", "seeds", *cols, "published NB201 C10"]]
        for s in self.summary():
            pub = s["published_nb201_c10"]
            summary.append([s["method"], str(s["seeds"]), *(_fmt(s.get(c), s.get(c + "_std"), c) for c in cols),
                            "" if pub is None else str(pub)])
        per_run = [["method", "seed", *cols, "genotype"]]
        for r in self.rows:
            per_run.append([str(r.get("method")), str(r.get("seed")), *(_fmt(r.get(c), None, c) for c in cols),
                            str(r.get("genotype"))])
        return "\n".join([*head, "", _aligned(summary), "", _aligned(per_run)]) + "\n"

    def to_json(self) -> str:
        return json.dumps(_clean({"format": "workbench-comparison/1", "space": self.space, "dataset": self.dataset,
                                  "epochs": self.epochs, "config": self.config, "columns": self.columns,
                                  "rows": self.rows, "summary": self.summary(), "figure": self.figure_data()}),
                          indent=1, allow_nan=False)

    def figure_data(self) -> dict[str, Any]:
        """Plain data for plots: per-metric per-method seed values, means, stds; per-run epoch curves."""
        metrics = {}
        for c in self.numeric_columns:
            per = {m: self.values(m, c) for m in self.methods}
            metrics[c] = {"per_seed": per,
                          "mean": {m: float(np.nanmean(v)) if not all(map(math.isnan, v)) else None
                                   for m, v in per.items()},
                          "std": {m: float(np.nanstd(v, ddof=1)) if sum(not math.isnan(x) for x in v) > 1 else None
                                  for m, v in per.items()}}
        return _clean({"methods": self.methods, "seeds": sorted({r["seed"] for r in self.rows}), "metrics": metrics,
                       "curves": self.curves, "published_nb201_c10": {m: PUBLISHED_NB201_C10.get(m)
                                                                      for m in self.methods}})

    def write(self, out_dir: str | Path, stem: str = "comparison") -> dict[str, Path]:
        """Write ``<stem>.csv``, ``.md`` and ``.json`` into ``out_dir``; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / f"{stem}.csv", "md": out / f"{stem}.md", "json": out / f"{stem}.json"}
        atomic_write_text(paths["csv"], self.to_csv())
        atomic_write_text(paths["md"], self.to_markdown())
        atomic_write_text(paths["json"], self.to_json())
        return paths

    @classmethod
    def from_json(cls, text: str) -> ComparisonResult:
        d = json.loads(text)
        if d.get("format") != "workbench-comparison/1":
            raise ValueError(f"not a workbench comparison (format={d.get('format')!r})")
        return cls(d["rows"], d["space"], d["dataset"], d["epochs"], d.get("config", {}),
                   d.get("figure", {}).get("curves", {}))


def _aligned(rows: list[list[str]]) -> str:
    """Rows of cells as left-aligned columns (two spaces apart), a rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _md_code(text: str) -> str:
    """Inline code in a Markdown table cell (NB201 strings contain pipes, which must be escaped)."""
    return "`" + str(text).replace("|", "\\|") + "`"


def _fmt(v: Any, sd: Any, column: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    one = ("search_seconds", "ms_per_step", "param_free", "skips", "nones")
    digits = 0 if column == "nb201_rank_c10" else 1 if column in one or column.startswith("nb201") else 3
    if column.startswith(METRIC_PREFIX) and column != "supernet_val_accuracy":  # mse, mae, ...: any scale
        return f"{v:.4g}" + (f" ± {sd:.2g}" if sd is not None else "")
    s = f"{v:.{digits}f}"
    return s + (f" ± {sd:.{digits}f}" if sd is not None else "")


# ---------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Extras:
    """Which optional measurements to take (each is skipped when its module or input is missing)."""

    hessian: bool = True
    retrain: Any = None  # an EvalConfig (workbench.spaces.cell.discrete) or None = no retraining
    table_path: str | Path | None = None


def _param_free(arch: Any) -> int | None:
    """Parameter-free edges of a cell genotype (None for other architectures)."""
    return sum(count_param_free(c) for _, c in arch.cells) if isinstance(arch, Genotype) else None


def _measure(searcher: Searcher, seconds: float, extras: Extras, table: Any, steps_taken: int) -> dict[str, Any]:
    g = searcher.genotype()
    _, val_metrics = searcher.evaluate()
    row: dict[str, Any] = {
        "genotype": searcher.space.label(g), "arch": g.to_dict(),
        **{f"{METRIC_PREFIX}{k}": v for k, v in val_metrics.items()},
        "search_seconds": seconds, "ms_per_step": 1000.0 * seconds / max(steps_taken, 1)}
    if isinstance(g, Genotype):  # cell-specific columns
        ops = [op for _, c in g.cells for _, op, _ in c.edges()]
        row.update(param_free=_param_free(g), skips=ops.count("skip_connect"), nones=ops.count("none"))
    outcome = getattr(searcher.controller, "outcome", None)
    if outcome is not None and dataclasses.is_dataclass(outcome) and not isinstance(outcome, type):
        row["controller"] = _clean(dataclasses.asdict(outcome))
    if extras.hessian and (sharp := _optional("workbench.analysis.sharpness")) is not None:
        row["eigenvalue"] = sharp.compute_sharpness(searcher, method="dense").eigenvalue
    if (extras.retrain is not None and isinstance(g, Genotype)
            and (disc := _optional("workbench.spaces.cell.discrete")) is not None):
        res = disc.evaluate_genotype(g, searcher.space, searcher.dataset, extras.retrain)
        row["retrain_test_acc"] = res.test_acc
    if table is not None and isinstance(g, Genotype) and g.is_nb201():
        rec = table.lookup(g)
        row.update(nb201_c10=rec.c10, nb201_c100=rec.c100, nb201_in16=rec.in16, nb201_rank_c10=table.rank(g))
    return row


def _curve_recorder(curve: dict[str, list], label: Callable[[Any], str]) -> Callable[[Any], None]:
    def on_epoch(ev: Any) -> None:
        if isinstance(ev, EpochEnded):
            curve["epoch"].append(ev.epoch)
            curve["val_metrics"].append(dict(ev.val_metrics or {}))
            curve["param_free"].append(_param_free(ev.genotype))
            curve["genotype"].append(label(ev.genotype))
    return on_epoch


def run_one(config: SearchConfig, run_dir: Path | None, extras: Extras = Extras(), table: Any = None,
            resume: bool = True) -> tuple[dict[str, Any], dict[str, list]]:
    """Run (or reuse / resume) one search and measure it; returns (row, per-epoch curve)."""
    if run_dir is not None and resume and (run_dir / SUMMARY_FILE).is_file():
        saved = json.loads((run_dir / SUMMARY_FILE).read_text())
        log.info("reusing finished run %s", run_dir)
        return saved["row"], saved["curve"]
    runs = _optional("workbench.runs") if run_dir is not None else None
    store = None
    if runs is not None and resume and run_dir is not None and (run_dir / "config.json").is_file():
        searcher, store = runs.resume(run_dir)
        log.info("resumed interrupted run %s at step %d", run_dir, searcher.step_count)
    else:
        searcher = Searcher(config)
        if runs is not None:
            store = runs.RunStore(run_dir, searcher)
        elif run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
    curve: dict[str, list] = {"epoch": [], "val_metrics": [], "param_free": [], "genotype": []}
    unsubscribe = searcher.bus.subscribe(_curve_recorder(curve, searcher.space.label), kinds=(EpochEnded,))
    try:
        t0 = time.perf_counter()
        steps_taken = len(searcher.run())  # the method's controller (DARTS-ADA) is consulted inside every step
        seconds = time.perf_counter() - t0
    finally:
        unsubscribe()
        if store is not None:
            store.close()
    row = {"method": config.method, "seed": config.seed, **_measure(searcher, seconds, extras, table, steps_taken),
           "run_dir": None if run_dir is None else str(run_dir), "status": "finished"}
    if run_dir is not None:
        atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(_clean({"row": row, "curve": curve}), indent=1))
    return row, curve


def load_table(space: str, table_path: str | Path | None) -> tuple[str | Path | None, Any]:
    """(table path, NAS-Bench-201 table or None): on the nb201 space the shipped table (or
    ``$WORKBENCH_NB201_TABLE``) when no path is given; None when the nb201 module is unavailable."""
    if table_path is None and space == "nb201":  # NAS-Bench-201 cells: score against the table the package ships
        from workbench.data import nb201_table_path
        table_path = nb201_table_path()
    table = None
    if table_path is not None and (nb := _optional("workbench.spaces.cell.nb201")) is not None:
        table = nb.NB201Table.load(table_path)
    return table_path, table


def comparison_config(base: SearchConfig, method_options: Mapping[str, Mapping[str, Any]], retrain: Any,
                      table_path: str | Path | None) -> dict[str, Any]:
    """:attr:`ComparisonResult.config`: the shared search settings (``base`` without method, options and seed),
    the per-method options, the retraining settings and the table path."""
    cfg_dict = base.to_dict()
    cfg_dict.pop("method"), cfg_dict.pop("method_options"), cfg_dict.pop("seed")
    return {"search": cfg_dict, "method_options": {m: dict(o) for m, o in method_options.items()},
            "retrain": None if retrain is None else _clean(dataclasses.asdict(retrain)),
            "table_path": None if table_path is None else str(table_path)}


def compare(methods: Sequence[str], seeds: Sequence[int], space: str, dataset: str, epochs: int,
            out_dir: str | Path | None, table_path: str | Path | None = None, *,
            base_config: SearchConfig | None = None, method_options: Mapping[str, Mapping[str, Any]] | None = None,
            hessian: bool = True, retrain: Any = None, resume: bool = True,
            on_run: Callable[[dict[str, Any]], None] | None = None) -> ComparisonResult:
    """Run ``methods`` x ``seeds`` on ``space``/``dataset`` for ``epochs`` and tabulate them.

    ``base_config`` supplies every other SearchConfig field (its method, seed,
    space, dataset and epochs are overridden); ``method_options`` maps a method
    name to its options. ``retrain`` is an ``EvalConfig`` for the small-budget
    retraining (None: skipped). With ``out_dir`` each run gets its own folder
    and the table is written as ``comparison.{csv,md,json}``; ``table_path``
    points to a NAS-Bench-201 CSV for ground truth (default on the nb201 space: the shipped table, or
    ``$WORKBENCH_NB201_TABLE``). ``on_run`` receives each
    finished row (progress reporting).
    """
    base = base_config if base_config is not None else SearchConfig()
    options = dict(method_options or {})
    unknown = sorted(set(options) - set(methods))
    if unknown:
        raise ValueError(f"method_options given for {unknown}, which are not among the compared methods {list(methods)}")
    table_path, table = load_table(space, table_path)
    extras = Extras(hessian, retrain, table_path)
    out = None if out_dir is None else Path(out_dir)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, dict[str, list]]] = {}
    for m in methods:
        for seed in seeds:
            cfg = base.replace(method=m, method_options=dict(options.get(m, {})), seed=int(seed), space=space,
                               dataset=dataset, epochs=int(epochs))
            row, curve = run_one(cfg, None if out is None else out / f"{m}-s{seed}", extras, table, resume)
            rows.append(row)
            curves.setdefault(m, {})[str(seed)] = curve
            if on_run is not None:
                on_run(row)
    info = comparison_config(base.replace(space=space, dataset=dataset, epochs=int(epochs)), options, retrain,
                             table_path)
    result = ComparisonResult(rows, space, dataset, int(epochs), info, curves)
    if out is not None:
        result.write(out)
    return result

"""RunComparison: a widget over finished (or reloaded) runs of a method comparison.

Pick two runs and see their derived genotypes in one drawing (edges the
second run added red and bold, the ones it dropped dashed grey; Graphviz via
:func:`widgets.graph.genotype_diff_dot`) and the op-weight trajectories of one
edge of both runs overlaid (:func:`widgets.compare_figures.alpha_overlay`),
above the comparison's summary table and figure. Everything is read from run
folders (:func:`workbench.runs.load_run`) and from the comparison table
(:class:`workbench.compare.ComparisonResult`): no live search is needed, so a
comparison made yesterday on the command line (``python -m workbench compare
--out DIR``) opens here as ``RunComparison(DIR)``.
"""
from __future__ import annotations

import contextlib
import html
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from widgets import graph as G
from widgets.compare_figures import alpha_overlay, comparison_figure, comparison_table_html
from widgets.figures import edge_labels, genotype_edge_ops
from widgets.views import genotype_edge_changes, genotype_html
from workbench.compare import SUMMARY_FILE, ComparisonResult
from workbench.runs import Run, RunError, load_run
from workbench.spaces.cell.genotype import Genotype

__all__ = ["RunComparison", "run_label"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def run_label(method: str, seed: Any) -> str:
    """The label a run gets in pickers and legends: ``"gdas · seed 1"``."""
    return f"{method} · seed {seed}"


def _is_run_dir(p: Path) -> bool:
    return (p / "config.json").is_file()


def _resolve(row: Mapping[str, Any], folder: Path | None, root: Path | None) -> Path | None:
    """The run folder of a comparison row: ``folder/<method>-s<seed>``, else ``run_dir`` (absolute or under root)."""
    cands = []
    if folder is not None:
        cands.append(folder / f"{row['method']}-s{row['seed']}")
    rd = row.get("run_dir")
    if rd:
        p = Path(rd)
        cands += [p] if p.is_absolute() else [(root or Path.cwd()) / p]
    return next((c for c in cands if _is_run_dir(c)), None)


def _result_from_runs(paths: Sequence[Path], runs: Sequence[Run]) -> ComparisonResult | None:
    """Rebuild a ComparisonResult from the runs' ``summary.json`` (written by compare()); None if any lacks one."""
    rows, curves = [], {}
    for p in paths:
        f = p / SUMMARY_FILE
        if not f.is_file():
            return None
        saved = json.loads(f.read_text())
        row = dict(saved["row"], run_dir=str(p))
        rows.append(row)
        curves.setdefault(row["method"], {})[str(row["seed"])] = saved.get("curve", {})
    cfg = runs[0].config
    return ComparisonResult(rows, cfg.space, cfg.dataset, cfg.epochs, {}, curves)


class RunComparison:
    """Compare the runs of a comparison: genotype diff + alpha overlay for two picked runs, table and figure.

    ``source`` is one of:

    * a :class:`~workbench.compare.ComparisonResult` (its rows' ``run_dir``
      are looked up as given, relative ones under ``root`` or the current
      folder);
    * a folder written by :func:`workbench.compare.compare` (holding
      ``comparison.json`` and one ``<method>-s<seed>`` run folder per row), or
      that ``comparison.json`` file;
    * a list of run folders (or reloaded :class:`~workbench.runs.Run`\\ s), or a
      mapping ``label -> run folder / Run``; when every folder holds the
      ``summary.json`` that ``compare()`` writes, the table is rebuilt from them.

    Run folders that are missing or do not load are listed (``missing``) and
    skipped; the table and figure still show. ``a`` / ``b`` pick the two runs
    (labels, default: the first run and the first run of another method),
    ``cell`` / ``edge`` the overlaid edge (default: the first edge on which the
    two derived genotypes differ); ``references`` go to
    :func:`~widgets.compare_figures.comparison_figure`; ``width`` is the widget's width in pixels.
    """

    def __init__(self, source: Any, *, root: PathLike | None = None, a: str | None = None, b: str | None = None,
                 cell: str | None = None, edge: int | str | None = None,
                 references: Mapping[str, float] | None = None, width: int = 980) -> None:
        if width < 600:
            raise ValueError(f"width must be at least 600 (pixels), got {width}")
        self.width = width
        self._overlay_w = int(0.58 * width)
        self.result: ComparisonResult | None = None
        self.runs: dict[str, Run] = {}
        self.missing: dict[str, str] = {}
        self._load(source, None if root is None else Path(root))
        self.labels = list(self.runs)
        self.diff_dot = ""
        self.pick_a = W.Dropdown(description="run a", options=self.labels, layout=W.Layout(width="290px"))
        self.pick_b = W.Dropdown(description="run b", options=self.labels, layout=W.Layout(width="290px"))
        self.pick_cell = W.Dropdown(description="cell", layout=W.Layout(width="200px"))
        self.pick_edge = W.Dropdown(description="edge", layout=W.Layout(width="200px"))
        self.diff_html = W.HTML(layout=W.Layout(width="100%"))
        self.diff_html.add_class("dnas-run-diff")
        self.changes_html = W.HTML()
        self.overlay = go.FigureWidget()
        self.overlay.add_class("dnas-alpha-overlay")
        # an HTML table: plotly mis-measures table text inside a FigureWidget (see comparison_table_figure)
        self.table = None if self.result is None else W.HTML(comparison_table_html(self.result),
                                                             layout=W.Layout(width=f"{width}px"))
        # explicit widths: a FigureWidget does not follow its container's width
        self.figure = None if self.result is None else go.FigureWidget(
            comparison_figure(self.result, references=references).update_layout(width=width))
        self._busy = False
        if self.labels:
            a0 = a if a is not None else self.labels[0]
            self._check_label(a0)
            b0 = b if b is not None else self._default_b(a0)
            self._check_label(b0)
            self.pick_a.value, self.pick_b.value = a0, b0
            space = self.runs[a0].history.space
            self.pick_cell.options = list(space.cell_types)
            if cell is not None and cell not in space.cell_types:
                raise ValueError(f"unknown cell type {cell!r}; these runs have {list(space.cell_types)}")
            self.pick_cell.value = cell or space.cell_types[0]
            self.pick_cell.layout.display = None if len(space.cell_types) > 1 else "none"
            self._set_edge_options()
            self.pick_edge.value = self._default_edge() if edge is None else self._edge_index(edge)
            for w in (self.pick_a, self.pick_b):
                w.observe(self._on_pick, "value")
            self.pick_cell.observe(self._on_cell, "value")
            self.pick_edge.observe(self._on_cell, "value")
            self._draw_diff()
            self._draw_overlay()
        self.widget = self._layout()

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, source: Any, root: Path | None) -> None:
        if isinstance(source, ComparisonResult):
            self.result = source
            self._load_rows(None, root)
        elif isinstance(source, (str, os.PathLike)):
            p = Path(source)
            if p.is_file() and p.name.endswith(".json"):
                self.result = ComparisonResult.from_json(p.read_text())
                self._load_rows(p.parent, root or p.parent)
            elif p.is_dir() and (p / "comparison.json").is_file():
                self.result = ComparisonResult.from_json((p / "comparison.json").read_text())
                self._load_rows(p, root or p)
            elif p.is_dir() and _is_run_dir(p):
                self._load_runs({0: p})
            else:
                raise ValueError(f"{p} is neither a comparison folder (with comparison.json), a comparison.json "
                                 "file nor a run folder (with config.json)")
        elif isinstance(source, Mapping):
            self._load_runs({str(k): v for k, v in source.items()})
        elif isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
            self._load_runs(dict(enumerate(source)))
        else:
            raise TypeError(f"RunComparison takes a ComparisonResult, a comparison folder or comparison.json, a "
                            f"list of run folders / Runs or a {{label: run folder}} mapping; got "
                            f"{type(source).__name__}")

    def _load_rows(self, folder: Path | None, root: Path | None) -> None:
        assert self.result is not None
        for row in self.result.rows:
            label = run_label(row["method"], row["seed"])
            path = _resolve(row, folder, root)
            if path is None:
                self.missing[label] = f"run folder not found ({row.get('run_dir')})"
                continue
            try:
                self.runs[label] = load_run(path)
            except (RunError, OSError, ValueError, KeyError) as exc:
                self.missing[label] = f"{path}: {exc}"
                log.warning("cannot load run %s: %s", path, exc)

    def _load_runs(self, items: Mapping[Any, Any]) -> None:
        paths, runs, labels = [], [], []
        for key, v in items.items():
            if isinstance(v, Run):
                run = v
            else:
                try:
                    run = load_run(v)
                except (RunError, OSError, ValueError, KeyError) as exc:
                    self.missing[str(key if isinstance(key, str) else v)] = f"{v}: {exc}"
                    continue
            label = key if isinstance(key, str) else run_label(run.config.method, run.config.seed)
            if label in labels:
                label = f"{label} ({run.path.name})"
            labels.append(label)
            self.runs[label] = run
            paths.append(run.path)
            runs.append(run)
        if runs:
            self.result = _result_from_runs(paths, runs)

    # -- state -----------------------------------------------------------------------------------
    def _check_label(self, label: str) -> None:
        if label not in self.runs:
            raise ValueError(f"unknown run {label!r}; loaded runs: {self.labels}"
                             + (f" (missing: {list(self.missing)})" if self.missing else ""))

    def _default_b(self, a: str) -> str:
        method = self.runs[a].config.method
        other = [lab for lab in self.labels if self.runs[lab].config.method != method]
        rest = [lab for lab in self.labels if lab != a]
        return (other or rest or [a])[0]

    def genotype(self, label: str) -> Genotype | None:
        """The run's final genotype (or the one derived at its last recorded step, for an unfinished run)."""
        self._check_label(label)
        run = self.runs[label]
        if run.genotype is not None:
            return run.genotype
        h = run.history
        return h.genotype_at(int(h.steps[-1])) if len(h) else None

    def genotypes(self) -> tuple[Genotype | None, Genotype | None]:
        """The genotypes of the picked runs a and b."""
        return self.genotype(self.pick_a.value), self.genotype(self.pick_b.value)

    def _edge_index(self, edge: int | str) -> int:
        labels = edge_labels(self.runs[self.pick_a.value].history.space)
        if isinstance(edge, str) and edge in labels:
            return labels.index(edge)
        if isinstance(edge, int) and 0 <= edge < len(labels):
            return edge
        raise ValueError(f"edge must be an index in 0..{len(labels) - 1} or one of {labels}, got {edge!r}")

    def _set_edge_options(self) -> None:
        labels = edge_labels(self.runs[self.pick_a.value].history.space)
        keep = self.pick_edge.value
        self.pick_edge.options = [(lab, k) for k, lab in enumerate(labels)]
        self.pick_edge.value = keep if keep is not None and keep < len(labels) else 0

    def differing_edges(self, cell: str | None = None) -> list[int]:
        """Edge indices whose derived op differs between runs a and b (in ``cell``, default the picked one)."""
        ga, gb = self.genotypes()
        c = cell or self.pick_cell.value
        if ga is None or gb is None or c not in ga.cell_names or c not in gb.cell_names:
            return []
        space = self.runs[self.pick_a.value].history.space
        oa, ob = genotype_edge_ops(space, ga, c), genotype_edge_ops(space, gb, c)
        return sorted(e for e in set(oa) | set(ob) if oa.get(e) != ob.get(e))

    def _default_edge(self) -> int:
        diff = self.differing_edges()
        return diff[0] if diff else 0

    # -- commands --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set pickers without their observers redrawing (the caller redraws once)."""
        busy, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = busy

    def select(self, a: str, b: str) -> None:
        """Pick the two runs to compare (labels as in ``labels``); redraws."""
        self._check_label(a)
        self._check_label(b)
        with self._quiet():
            self.pick_a.value, self.pick_b.value = a, b
        self._on_pick()

    def show_edge(self, edge: int | str, cell: str | None = None) -> None:
        """Overlay the weights of ``edge`` (index or label like ``"0→1"``) of ``cell`` (default: unchanged)."""
        if cell is not None and cell not in self.pick_cell.options:
            raise ValueError(f"unknown cell type {cell!r}; these runs have {list(self.pick_cell.options)}")
        index = self._edge_index(edge)
        with self._quiet():
            if cell is not None:
                self.pick_cell.value = cell
            self.pick_edge.value = index
        self._draw_overlay()

    def _on_pick(self, _: Any = None) -> None:
        if self._busy:
            return
        with self._quiet():
            self._set_edge_options()
        self._draw_diff()
        self._draw_overlay()

    def _on_cell(self, _: Any = None) -> None:
        if not self._busy:
            self._draw_overlay()

    # -- drawing ---------------------------------------------------------------------------------
    def _draw_diff(self) -> None:
        la, lb = self.pick_a.value, self.pick_b.value
        ga, gb = self.genotypes()
        if ga is None or gb is None:
            self.diff_dot = ""
            self.diff_html.value = "<i>a picked run has no genotype yet (no epoch finished)</i>"
            self.changes_html.value = ""
            return
        self.diff_dot = G.genotype_diff_dot(ga, gb, title=f"{lb} (b) compared to {la} (a)")
        self.diff_html.value = genotype_html(self.diff_dot)
        lines = genotype_edge_changes(ga, gb)
        same = "<b>identical genotypes</b>" if la != lb else "<i>the same run picked twice</i>"
        self.changes_html.value = (
            "<div style='font-size:12px;line-height:1.4;word-break:break-all'>"
            f"<b>a</b> <code>{html.escape(str(ga))}</code><br><b>b</b> <code>{html.escape(str(gb))}</code><br>"
            + (same if not lines else "<br>".join(html.escape(x) for x in lines)) + "</div>")

    def _draw_overlay(self) -> None:
        la, lb = self.pick_a.value, self.pick_b.value
        runs = {la: self.runs[la]} if la == lb else {la: self.runs[la], lb: self.runs[lb]}
        fig = alpha_overlay(runs, self.pick_cell.value, int(self.pick_edge.value), height=410)
        fig.update_layout(width=self._overlay_w)
        with self.overlay.batch_update():
            self.overlay.data = ()
        self.overlay.add_traces(list(fig.data))
        self.overlay.layout = fig.layout

    def _layout(self) -> W.VBox:
        n, m = len(self.runs), len(self.missing)
        head = f"<b>Run comparison</b> · {n} run{'s' if n != 1 else ''} loaded"
        if self.result is not None:
            head += (f" · space <code>{self.result.space}</code>, dataset <code>{self.result.dataset}</code>, "
                     f"{self.result.epochs} epochs")
        parts: list[W.Widget] = [W.HTML(head)]
        if m:
            items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in self.missing.items())
            parts.append(W.HTML(f"<details style='color:#8a5a00'><summary>{m} run folder{'s' if m != 1 else ''} "
                                f"not loaded (the table still shows them)</summary><ul>{items}</ul></details>"))
        if self.runs:
            left_w = self.width - self._overlay_w - 10
            left = W.VBox([W.HTML("<b>Genotype diff</b>"), self.diff_html, self.changes_html],
                          layout=W.Layout(width=f"{left_w}px", flex="0 0 auto", overflow="hidden"))
            right = W.VBox([W.HBox([self.pick_cell, self.pick_edge]), self.overlay],
                           layout=W.Layout(width=f"{self._overlay_w}px", flex="0 0 auto", margin="0 0 0 10px"))
            parts += [W.HBox([self.pick_a, self.pick_b]), W.HBox([left, right])]
        if self.figure is not None:
            parts.append(self.figure)
        if self.table is not None:
            parts.append(self.table)
        box = W.VBox(parts, layout=W.Layout(width=f"{self.width + 10}px", max_width="100%"))
        box.add_class("dnas-run-comparison")
        return box

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

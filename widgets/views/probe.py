"""DARTS-PT's perturbation probe on a live supernet (Wang et al., ICLR 2021): which op does an edge need?

Pick an edge (dropdown, a click on the genotype graph, or a row of the
comparison heatmap) and see the accuracy the supernet loses when each of its
ops is masked, next to softmax(alpha) (:mod:`widgets.figures.probe`);
compare magnitude and perturbation selection on every edge, scored in
NAS-Bench-201 (Dong & Yang, ICLR 2020) when a table is given; run the full
DARTS-PT projection on a clone of the search with a progress bar. Every
computation runs on the session's worker thread between two search steps
(methods return a :class:`concurrent.futures.Future`). Cell spaces only.
"""
from __future__ import annotations

import contextlib
import html
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from widgets import graph as G
from widgets.choices import edge_labels, is_cell_space
from widgets.figures import probe as PF
from widgets.graph import svg_or_dot
from widgets.views.base import Feed, error_html, figure_widget, require_session, status_html
from widgets.views.clickable import CLICKABLE_GRAPH, ClickableSVG, edge_from_title
from workbench.analysis.projection import (
    ProbeResult,
    Projection,
    ProjectionConfig,
    SelectionComparison,
    clone_searcher,
    compare_selection,
)
from workbench.app.session import SearchSession
from workbench.spaces.cell.genotype import Genotype

log = logging.getLogger(__name__)

__all__ = ["ProbeView", "DEFAULT_PROBE"]

DEFAULT_PROBE = ProjectionConfig()  # DARTS-PT's defaults: 4 fixed validation batches, crit acc, train-mode BN


def _load_table(table: Any) -> Any:
    if table is None or not isinstance(table, (str, Path)):
        return table
    from workbench.spaces.cell.nb201 import NB201Table
    path = Path(table)
    if not path.is_file():
        log.warning("NAS-Bench-201 table not found at %s: no ground-truth scores", path)
        return None
    return NB201Table.load(path)


def _replace_figure(fw: go.FigureWidget, fig: go.Figure) -> None:
    """Show ``fig`` in an existing FigureWidget: traces updated in place when the layout of traces matches."""
    with fw.batch_update():
        if [t.type for t in fw.data] == [t.type for t in fig.data]:
            for live, new in zip(fw.data, fig.data, strict=True):
                live.update(new.to_plotly_json(), overwrite=True)
        else:
            fw.data = []
            fw.add_traces(list(fig.data))
        fw.layout.update(fig.layout.to_plotly_json(), overwrite=True)


class ProbeView:
    """DARTS-PT's probe and the magnitude-vs-perturbation comparison on a live supernet.

    Pick an edge with the dropdown, by clicking an edge of the derived
    genotype's graph (needs anywidget; NB201 cells show all their edges, DARTS
    cells only the kept ones), or by clicking a row of the comparison heatmap.
    The probe masks each op of that edge in turn (``ProjectionConfig``:
    ``proj_batches`` fixed validation batches, BN mode ``bn``) and draws the
    accuracy drop next to softmax(alpha). *Compare all edges* probes every
    edge (``compare_selection``) and shows the table and heatmap, with the
    NAS-Bench-201 CIFAR-10 accuracy of both genotypes when ``nb201_table``
    (an ``NB201Table`` or a path) is given. *Run full projection* runs the
    DARTS-PT schedule (op projections and tuning epochs) on a clone of the
    search, with a progress bar.
    """

    def __init__(self, source: Any, config: ProjectionConfig = DEFAULT_PROBE, *, nb201_table: Any = None,
                 projection_config: ProjectionConfig | None = None, width: int | None = 900) -> None:
        self.feed = source if isinstance(source, Feed) else Feed(source)
        self.session = require_session(self.feed, "the perturbation probe")
        self.config = replace(config, proj_intv=0)
        self.projection_config = projection_config or config
        self.table = _load_table(nb201_table)
        self.width = width
        space = self.session.space
        if not is_cell_space(space):
            raise TypeError(f"the DARTS-PT probe masks the ops of a cell's edges: it needs a cell space; space "
                            f"{space.name!r} is a {type(space).__name__}")
        self.space = space
        self.labels = edge_labels(space)
        self.probe_result: ProbeResult | None = None
        self.comparison: SelectionComparison | None = None
        self.projected: Genotype | None = None
        self.genotype: Genotype | None = None
        options = [(f"{'' if len(space.cell_types) == 1 else c + ' · '}edge {k} · {lab}", (c, k))
                   for c in space.cell_types for k, lab in enumerate(self.labels)]
        self.edge_w = W.Dropdown(options=options, value=options[0][1], description="edge",
                                 style={"description_width": "50px"}, layout=W.Layout(width="300px"))
        self.edge_w.add_class("dnas-probe-edge")
        self.edge_w.observe(lambda ch: self.probe(*ch["new"]), "value")
        self.graph = ClickableSVG()
        self.graph.add_class("dnas-probe-graph")
        self.graph.on_edge_click(self._on_graph_click)
        self.figure = figure_widget(go.Figure(layout=dict(height=330, width=width, template="plotly_white")),
                                     "dnas-probe-figure")
        self.compare_btn = W.Button(description="Compare all edges", icon="table", layout=W.Layout(width="auto"))
        self.compare_btn.add_class("dnas-probe-compare")
        self.compare_btn.on_click(lambda _: self.compare())
        self.project_btn = W.Button(description="Run full projection", icon="play", layout=W.Layout(width="auto"),
                                    tooltip="the DARTS-PT schedule (projections + tuning) on a copy of this search")
        self.project_btn.add_class("dnas-probe-project")
        self.project_btn.on_click(lambda _: self.run_projection())
        self.stop_btn = W.Button(description="Stop", icon="stop", layout=W.Layout(width="auto"), disabled=True)
        self.stop_btn.on_click(lambda _: self._cancel.set())
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="240px", visibility="hidden"))
        self.progress.add_class("dnas-projection-progress")
        self.status = W.HTML()
        self.status.add_class("dnas-probe-status")
        self.heatmap_box = W.Box()
        self.table_html = W.HTML()
        self.table_html.add_class("dnas-selection-table")
        self.heatmap: go.FigureWidget | None = None
        self._cancel = threading.Event()
        self._projection_session: SearchSession | None = None
        hint = ("click an edge of the graph (or pick it in the list) to probe it" if CLICKABLE_GRAPH else
                "pick an edge in the list (graph clicks need anywidget) or click a row of the comparison heatmap")
        self.graph.layout = W.Layout(flex="1 1 auto", max_width="600px")
        left = W.VBox([W.HTML(status_html(hint)), self.edge_w], layout=W.Layout(width="310px", flex="0 0 auto"))
        self.widget = W.VBox([
            W.HBox([left, self.graph], layout=W.Layout(align_items="center")),
            self.figure,
            W.HBox([self.compare_btn, self.project_btn, self.stop_btn, self.progress, self.status],
                   layout=W.Layout(align_items="center", flex_flow="row wrap")),
            self.table_html, self.heatmap_box])
        self.widget.add_class("dnas-probe")
        self.probe(*self.edge_w.value)

    # -- picking an edge ------------------------------------------------------------------------
    def _on_graph_click(self, title: str) -> None:
        found = edge_from_title(title, self.space)
        if found is not None:
            self.select(*found)

    def _on_heat_click(self, trace: Any, points: Any, selector: Any = None) -> None:
        if self.comparison is None or not (list(points.point_inds) or list(points.ys)):
            return
        if list(points.ys):
            row = int(points.ys[0])  # the heatmap's y values are the row numbers
        else:
            ind = points.point_inds[0]
            row = int(ind[0] if isinstance(ind, (list, tuple)) else ind)
        r = self.comparison.rows[row].probe
        self.select(r.cell_type, r.edge)

    def select(self, cell_type: str, edge: int) -> None:
        """Pick an edge (as the dropdown, a graph click or a heatmap click do); probes it."""
        if (cell_type, edge) not in [v for _, v in self.edge_w.options]:
            raise ValueError(f"no edge {edge} in cell {cell_type!r}; cells {list(self.space.cell_types)}, edges "
                             f"0..{self.space.n_edges - 1}")
        if self.edge_w.value == (cell_type, edge):
            self.probe(cell_type, edge)
        else:
            self.edge_w.value = (cell_type, edge)  # the observer probes

    # -- probe --------------------------------------------------------------------------------------
    def probe(self, cell_type: str, edge: int) -> Future:
        """Probe one edge on the search's worker; the Future holds the ProbeResult."""
        cfg = self.config
        self.status.value = status_html(f"probing {cell_type} edge {edge}…", "#1f5aa6")

        def job(s: Any) -> tuple[ProbeResult, Genotype, dict]:
            res = Projection(s, cfg).probe(cell_type, edge)
            return res, s.genotype(), s.probabilities()

        fut = self.session.submit(job)
        out: Future = Future()

        def done(f: Future) -> None:
            exc = f.exception()
            if exc is not None:
                self.status.value = error_html(exc)
                out.set_exception(exc)
                return
            res, g, w = f.result()
            try:
                self._show_probe(res, g, w)
            except Exception as e:  # drawing failed: say so, keep the result
                self.status.value = error_html(e)
            out.set_result(res)

        fut.add_done_callback(done)
        return out

    def _show_probe(self, res: ProbeResult, g: Genotype, weights: dict) -> None:
        self.probe_result, self.genotype = res, g
        _replace_figure(self.figure, PF.probe_figure(res, self.labels, width=self.width))
        self._draw_graph(g, weights, res)
        agree = res.chosen == res.magnitude_op
        self.status.value = status_html(
            f"edge {res.edge} ({self.labels[res.edge]}): perturbation picks <b>{res.chosen}</b>, magnitude picks "
            f"<b>{res.magnitude_op}</b>" + (" (they agree)" if agree else " (<b style='color:#c62828'>they "
                                                                          "disagree</b>)"))

    def _draw_graph(self, g: Genotype, weights: dict, res: ProbeResult) -> None:
        highlight = [(res.cell_type, res.node, res.src, op) for node, op, src in g.cell(res.cell_type).edges()
                     if node == res.node and src == res.src]
        dot = G.genotype_dot(g, weights=G.genotype_weights(g, weights, self.space.ops), highlight=highlight,
                             title="derived genotype (argmax α)")
        svg = svg_or_dot(dot)
        self.graph.selected = f"{res.cell_type}_s{res.src}->{res.cell_type}_s{res.node + self.space.n_inputs}"
        self.graph.svg = svg

    # -- all edges ----------------------------------------------------------------------------------
    def compare(self) -> Future:
        """Magnitude vs perturbation on every edge (on the worker); the Future holds the SelectionComparison."""
        cfg = self.config
        self.compare_btn.disabled = True
        self.status.value = status_html("probing every edge…", "#1f5aa6")
        fut = self.session.submit(lambda s: compare_selection(s, cfg))
        out: Future = Future()

        def done(f: Future) -> None:
            self.compare_btn.disabled = False
            exc = f.exception()
            if exc is not None:
                self.status.value = error_html(exc)
                out.set_exception(exc)
                return
            self.comparison = f.result()
            try:
                self._show_comparison()
                n = sum(not r.agree for r in self.comparison.rows)
                self.status.value = status_html(f"{len(self.comparison.rows)} edges probed: the two rules disagree on "
                                            f"<b>{n}</b>; click a heatmap row to probe that edge")
            except Exception as e:
                self.status.value = error_html(e)
            out.set_result(self.comparison)

        fut.add_done_callback(done)
        return out

    def _show_comparison(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        self.table_html.value = PF.selection_table_html(cmp, self.space, self.table, self.projected)
        fig = PF.selection_heatmap(cmp, self.space, width=self.width)
        if self.heatmap is None:
            self.heatmap = figure_widget(fig, "dnas-selection-heatmap")
            self.heatmap.data[0].on_click(self._on_heat_click)
            self.heatmap_box.children = (self.heatmap,)
        else:
            _replace_figure(self.heatmap, fig)

    def scores(self) -> dict[str, dict[str, Any]]:
        """NAS-Bench-201 scores of the genotypes found so far (magnitude, perturbation, projection)."""
        genos: dict[str, Genotype | None] = {"projection": self.projected}
        if self.comparison is not None:
            genos = {"magnitude": self.comparison.magnitude, "perturbation": self.comparison.perturbation, **genos}
        return PF.nb201_scores(genos, self.table)

    # -- the full projection ------------------------------------------------------------------------
    def run_projection(self, config: ProjectionConfig | None = None) -> Future:
        """DARTS-PT's whole schedule on a clone of the search (its own worker); the Future holds the genotype."""
        cfg = config or self.projection_config
        out: Future = Future()
        self._cancel.clear()
        self.project_btn.disabled = True
        self.stop_btn.disabled = False
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress.layout.visibility = "visible"
        self.status.value = status_html("copying the search…", "#1f5aa6")

        def finish(exc: BaseException | None, g: Genotype | None = None) -> None:
            self.project_btn.disabled = False
            self.stop_btn.disabled = True
            if self._projection_session is not None:
                self._projection_session.close()
                self._projection_session = None
            if exc is not None:
                self.progress.bar_style = "danger" if not isinstance(exc, _Cancelled) else "warning"
                self.status.value = error_html(exc)
                out.set_exception(exc)
                return
            self.projected = g
            self.progress.bar_style = "success"
            score = ""
            if self.table is not None:
                s = PF.nb201_scores({"p": g}, self.table)["p"]
                if s["c10"] is not None:
                    score = f" · NB201 CIFAR-10 <b>{s['c10']:.2f}%</b> (rank {s['rank']:,})"
            self.status.value = status_html(f"projected genotype <code>{html.escape(PF._gstr(g))}</code>{score}")
            with contextlib.suppress(Exception):
                self._show_comparison()
            out.set_result(g)

        def cloned(f: Future) -> None:
            if f.exception() is not None:
                finish(f.exception())
                return
            twin = f.result()
            self._projection_session = SearchSession(twin)
            pf = self._projection_session.submit(lambda s: self._projection_job(s, cfg))
            pf.add_done_callback(lambda p: finish(p.exception(), None if p.exception() else p.result()))

        self.session.submit(clone_searcher).add_done_callback(cloned)
        return out

    def _projection_job(self, twin: Any, cfg: ProjectionConfig) -> Genotype:
        pt = Projection(twin, cfg)
        n = len(pt.schedule)
        t0 = time.perf_counter()
        while not pt.finished:
            if self._cancel.is_set():
                raise _Cancelled(f"stopped after {pt.position} of {n} actions")
            ev = pt.step()
            v = ev.values
            self.progress.value = pt.position / n
            what = {"op": "projected an edge", "edge": "projected a node's inputs", "tune": "tuned"}[v["phase"]]
            self.status.value = status_html(f"action {pt.position}/{n} ({what}, tuning epoch {v['epoch']}) · "
                                        f"{time.perf_counter() - t0:.0f} s · {html.escape(v['genotype'])}",
                                        "#1f5aa6")
        return pt.genotype()

    def close(self) -> None:
        self._cancel.set()
        if self._projection_session is not None:
            self._projection_session.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


class _Cancelled(RuntimeError):
    """The user stopped the projection."""

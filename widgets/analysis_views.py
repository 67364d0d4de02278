"""Live views of the analyses: sharpness track, loss landscapes, perturbation probe.

* :class:`SharpnessView`: the dominant eigenvalue of the alpha Hessian (and
  its top-k spectrum) over a search, from the ``AnalysisResult(kind=
  "sharpness")`` events of :func:`workbench.analysis.track_sharpness` (live,
  or a History's ``analysis`` list for a finished or reloaded run), with
  RobustDARTS's early-stopping marks (Zela et al., ICLR 2020); a "compute
  now" button measures it on demand.
* :class:`LandscapeView`: Li et al.'s (NeurIPS 2018) loss landscape around
  the current point, in alpha or weight space, along random, Hessian-eigen or
  trajectory-PCA directions, with the recorded alpha trajectory projected.
* :class:`ProbeView`: DARTS-PT's probe (Wang et al., ICLR 2021): pick an edge
  (dropdown, a click on the genotype graph, or a click on a row of the
  comparison heatmap) and see what masking each op costs the supernet, next
  to softmax(alpha); compare magnitude and perturbation selection on every
  edge, scored in NAS-Bench-201; run the full projection with a progress bar.

Concurrency follows :mod:`widgets.controls`: every computation that touches
the searcher runs on its session's worker thread (``session.submit``), between
two search steps, so it never races a running search; the methods that start
one return a :class:`concurrent.futures.Future` (buttons call them; scripts
and tests wait on ``.result()``). The full projection runs on a clone of the
search in a session of its own, so the original search is untouched.
"""
from __future__ import annotations

import contextlib
import html
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from widgets import analysis_figures as AF
from widgets import figures as F
from widgets import graph as G
from widgets.controls import SearchSession
from widgets.views import Feed, LiveView, _figure_widget, _svg_or_dot
from workbench import AnalysisResult, RunStarted
from workbench.analysis import (
    Surface,
    alpha_landscape,
    alpha_trajectory,
    compute_sharpness,
    pca_directions,
    weight_landscape,
)
from workbench.analysis.common import searcher_batches
from workbench.analysis.projection import (
    ProbeResult,
    Projection,
    ProjectionConfig,
    SelectionComparison,
    clone_searcher,
    compare_selection,
)
from workbench.spaces.cell.genotype import Genotype

log = logging.getLogger(__name__)

__all__ = ["SharpnessView", "LandscapeView", "ProbeView", "ClickableSVG", "sharpness_event", "edge_from_title"]

SHARPNESS_KINDS = ("sharpness", "early_stop")
DEFAULT_PROBE = ProjectionConfig()  # DARTS-PT's defaults: 4 fixed validation batches, crit acc, train-mode BN


def _status(text: str, color: str = "#555") -> str:
    return f"<span style='color:{color};font-size:12px'>{text}</span>"


def _error(exc: BaseException) -> str:
    return _status(f"⚠ {html.escape(type(exc).__name__)}: {html.escape(str(exc))}", "#c62828")


def _require_session(feed: Feed, what: str) -> SearchSession:
    if feed.session is None:
        raise RuntimeError(f"{what} needs a live search (a SearchSession or Searcher); this view was built from a "
                           "recorded History or run folder, which holds no supernet")
    return feed.session


# ------------------------------------------------------------------------------ sharpness
def sharpness_event(searcher: Any, method: str = "auto", k: int = 3, batches: int = 1, bn: str = "train",
                    seed: int = 0, source: str = "compute now") -> AnalysisResult:
    """Measure the alpha-Hessian spectrum now and emit it on the searcher's bus, like the tracker does.

    ``method="auto"``: the dense Hessian (exact) up to 256 alphas, else power
    iteration (+ Lanczos for k > 1). Call it on the thread that owns the
    searcher (``session.submit``); returns the emitted event.
    """
    n = sum(a.numel() for a in searcher.model.alphas.values())
    m = ("dense" if n <= 256 else "power") if method == "auto" else method
    r = compute_sharpness(searcher, method=m, k=min(k, n), batches=batches, bn=bn, seed=seed)
    s = searcher.step_count
    values = {"eigenvalue": r.eigenvalue, "top_k": list(r.top_k), "method": r.method,
              "epoch": (s - 1) // searcher.steps_per_epoch if s > 0 else None, "n_alphas": r.n_alphas,
              "hvps": r.hvps, "seconds": r.seconds, "loss": r.loss, "bn": bn, "source": source}
    event = AnalysisResult(s, "sharpness", values)
    searcher.bus.emit(event)
    return event


class SharpnessView(LiveView):
    """Dominant eigenvalue of ∇²_α L_val over the search, top-k spectrum, early-stop marks, "compute now".

    ``source``: a SearchSession / Searcher (live: listens to the bus) or a
    History / Run / run folder (its recorded ``analysis`` list). A rollback
    (``RunStarted(resumed=True)`` after early stopping) keeps the undone
    measurements on screen, greyed as "rolled back". ``x``: ``"epoch"``,
    ``"step"`` or ``"auto"`` (epochs when each measurement has its own).
    ``method``/``k``/``batches``/``bn`` configure the "compute now" button
    (see :func:`sharpness_event`).
    """

    kinds = (AnalysisResult, RunStarted)

    def __init__(self, source: Any, *, x: str = "auto", method: str = "auto", k: int = 3, batches: int = 1,
                 bn: str = "train", seed: int = 0, height: int = 380, width: int | None = 900, **kw: Any) -> None:
        self.x = x
        self.options = dict(method=method, k=k, batches=batches, bn=bn, seed=seed)
        self._data_lock = threading.Lock()
        self.results: list[AnalysisResult] = []
        self.discarded: list[AnalysisResult] = []
        super().__init__(source, **kw)
        with self.feed.lock():
            self._load_history()
        self.figure = _figure_widget(AF.sharpness_figure(self.track(), x=x, height=height, width=width),
                                     "dnas-sharpness")
        self.button = W.Button(description="Compute now", icon="calculator", tooltip=(
            "measure the alpha-Hessian spectrum at the current step (between two search steps)"),
            layout=W.Layout(width="auto"), disabled=not self.feed.live)
        self.button.add_class("dnas-sharpness-compute")
        self.button.on_click(lambda _: self.compute_now())
        self.status = W.HTML()
        self.status.add_class("dnas-sharpness-status")
        self.widget = W.VBox([self.figure, W.HBox([self.button, self.status],
                                                  layout=W.Layout(align_items="center"))])
        self.refresh()

    def _load_history(self) -> None:
        with self._data_lock:
            self.results = [r for r in self.history.analysis if r.kind in SHARPNESS_KINDS]
            self.discarded = []

    def _reset(self) -> None:
        self._load_history()

    def track(self) -> AF.SharpnessTrack:
        with self._data_lock:
            return AF.SharpnessTrack(list(self.results), list(self.discarded))

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, AnalysisResult):
            if ev.kind not in SHARPNESS_KINDS:
                return
            with self._data_lock:
                self.results.append(ev)
        elif isinstance(ev, RunStarted):
            if not ev.resumed:
                return
            with self._data_lock:  # a rollback: measurements after the restored step were undone
                undone = [r for r in self.results if r.kind == "sharpness" and r.step > ev.step]
                self.results = [r for r in self.results if r not in undone]
                self.discarded += undone
        super()._on_event(ev)

    def _draw(self) -> None:
        if not hasattr(self, "figure"):  # an event arrived while the view was being built
            return
        track = self.track()
        with self.figure.batch_update():
            AF.update_sharpness_figure(self.figure, track, x=self.x)
        if not len(track):
            hint = "press <b>Compute now</b>, or attach <code>track_sharpness(searcher)</code>" if self.feed.live \
                else "this run recorded no sharpness measurements"
            self.status.value = _status(f"no measurement yet: {hint}")
            return
        last = track.results[-1]
        v = last.values
        ep = "" if v.get("epoch") is None else f" (epoch {v['epoch']})"
        text = (f"{len(track)} measurement{'s' if len(track) > 1 else ''} · last: λmax = <b>{v['eigenvalue']:.4f}</b> "
                f"at step {last.step}{ep} · {v.get('method', '?')}, {v.get('seconds', float('nan')):.2f} s")
        es = track.early_stop
        if es is not None:
            text += (f" · <b style='color:#c0392b'>early stop fired at epoch {es['trigger_epoch']}</b>, keeps "
                     f"epoch {es['stop_epoch']}")
        self.status.value = _status(text)

    def compute_now(self) -> Future:
        """Measure now (on the search's worker, between two steps); the Future holds the emitted event."""
        session = _require_session(self.feed, "compute now")
        self.button.disabled = True
        self.status.value = _status("computing the alpha-Hessian spectrum…", "#1f5aa6")
        opts = dict(self.options)
        fut = session.submit(lambda s: sharpness_event(s, **opts))

        def done(f: Future) -> None:
            self.button.disabled = False
            if f.exception() is not None:
                self.status.value = _error(f.exception())
            else:
                self.refresh()

        fut.add_done_callback(done)
        return fut


# ------------------------------------------------------------------------------ landscapes
class _ForwardCounter:
    """Counts the supernet's forward passes while a landscape is computed (the engine has no progress hook)."""

    def __init__(self, model: Any, total: int, on_progress: Callable[[int, int], None]) -> None:
        self.model, self.total, self.on_progress, self.count = model, max(int(total), 1), on_progress, 0
        self._handle = None

    def __enter__(self) -> _ForwardCounter:
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        self.count += 1
        self.on_progress(min(self.count, self.total), self.total)

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()


SPANS = (("fit the trajectory", "fit"), ("0.1", 0.1), ("0.25", 0.25), ("0.5", 0.5), ("1", 1.0), ("2", 2.0),
         ("5", 5.0))
DIRECTIONS = (("random (Li et al.)", "random"), ("Hessian eigenvectors", "eigen"),
              ("trajectory PCA (alpha only)", "pca"))


class LandscapeView:
    """Loss landscape around the current point: 2-D surface + contour or a 1-D line, with the trajectory.

    Controls: space (alpha / weights), directions (random filter-normalised,
    top Hessian eigenvectors, or the PCA plane of the recorded alpha
    trajectory), 1-D / 2-D, resolution (11 / 21 / 31 points per axis) and
    span (in units of the directions, or fitted to the trajectory). The
    computation runs on the search's worker thread, the progress bar counting
    the supernet's forward passes. Weight-space trajectories are not drawn:
    the History records alphas, not weights.
    """

    def __init__(self, source: Any, *, space: str = "alpha", directions: str = "random", dims: int = 2,
                 steps: int = 21, span: float | str = 1.0, seed: int = 0, batches: int = 1, bn: str = "train",
                 metric: str = "loss", max_trajectory: int = 300, height: int | None = None,
                 width: int | None = 980) -> None:
        self.feed = source if isinstance(source, Feed) else Feed(source)
        _require_session(self.feed, "a landscape")
        if space not in ("alpha", "weights", "weight"):
            raise ValueError(f"space={space!r} is not accepted; choose 'alpha' or 'weights'")
        if directions not in [v for _, v in DIRECTIONS]:
            raise ValueError(f"directions={directions!r} is not accepted; choose one of "
                             f"{[v for _, v in DIRECTIONS]}")
        self.batches, self.bn, self.metric = batches, bn, metric
        self.max_trajectory, self.height, self.width = max_trajectory, height, width
        self.surface: Surface | None = None
        self.trajectory: np.ndarray | None = None
        self.trajectory_steps: np.ndarray | None = None
        self.figure: go.FigureWidget | None = None
        style = {"description_width": "80px"}
        self.space_w = W.ToggleButtons(options=[("alpha", "alpha"), ("weights", "weight")],
                                       value="weight" if space.startswith("weight") else "alpha",
                                       description="space", style={**style, "button_width": "80px"})
        self.directions_w = W.Dropdown(options=DIRECTIONS, value=directions, description="directions", style=style,
                                       layout=W.Layout(width="300px"))
        self.dims_w = W.ToggleButtons(options=[("1-D", 1), ("2-D", 2)], value=dims, description="slice",
                                      style={**style, "button_width": "60px"})
        self.steps_w = W.Dropdown(options=[11, 21, 31], value=steps if steps in (11, 21, 31) else 21,
                                  description="resolution", style=style, layout=W.Layout(width="170px"))
        span_opts = list(SPANS) + ([(str(span), span)] if span not in [v for _, v in SPANS] else [])
        self.span_w = W.Dropdown(options=span_opts, value=span, description="span", style=style,
                                 layout=W.Layout(width="240px"))
        self.seed_w = W.BoundedIntText(value=seed, min=0, max=2 ** 31 - 1, description="seed", style=style,
                                       layout=W.Layout(width="170px"))
        self.button = W.Button(description="Compute landscape", icon="area-chart", layout=W.Layout(width="auto"))
        self.button.add_class("dnas-landscape-compute")
        self.button.on_click(lambda _: self.compute())
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="260px", visibility="hidden"))
        self.progress.add_class("dnas-landscape-progress")
        self.status = W.HTML(_status("choose a slice and press <b>Compute landscape</b>"))
        self.status.add_class("dnas-landscape-status")
        self.plot = W.Box()
        self.plot.add_class("dnas-landscape")
        controls = W.VBox([W.HBox([self.space_w, self.dims_w]),
                           W.HBox([self.directions_w, self.steps_w, self.span_w, self.seed_w],
                                  layout=W.Layout(flex_flow="row wrap")),
                           W.HBox([self.button, self.progress, self.status], layout=W.Layout(align_items="center"))])
        self.widget = W.VBox([controls, self.plot])
        self._t_progress = 0.0

    # -- computation ------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return dict(space=self.space_w.value, directions=self.directions_w.value, dims=self.dims_w.value,
                    steps=self.steps_w.value, span=self.span_w.value, seed=self.seed_w.value)

    def compute(self, **overrides: Any) -> Future:
        """Compute the slice chosen in the controls (``overrides`` set them first); the Future holds the Surface."""
        for key, value in overrides.items():
            widget = {"space": self.space_w, "directions": self.directions_w, "dims": self.dims_w,
                      "steps": self.steps_w, "span": self.span_w, "seed": self.seed_w}.get(key)
            if widget is None:
                raise ValueError(f"unknown landscape option {key!r}; accepted: space, directions, dims, steps, "
                                 "span, seed")
            if key == "space":
                value = "weight" if str(value).startswith("weight") else value
            if key == "span" and value not in [v for _, v in widget.options]:
                widget.options = list(widget.options) + [(str(value), value)]
            widget.value = value
        opts = self.options()
        session = _require_session(self.feed, "a landscape")
        if opts["directions"] == "pca" and opts["space"] == "weight":
            fut: Future = Future()
            fut.set_exception(ValueError("trajectory PCA needs a recorded trajectory: only alphas are recorded, so "
                                         "use it in alpha space (weights: random or eigen directions)"))
            self.status.value = _error(fut.exception())
            return fut
        self.button.disabled = True
        self.progress.value = 0
        self.progress.layout.visibility = "visible"
        self.progress.bar_style = "info"
        self.status.value = _status("computing…", "#1f5aa6")
        fut = session.submit(lambda s: self._job(s, opts))

        def done(f: Future) -> None:
            self.button.disabled = False
            exc = f.exception()
            if exc is not None:
                self.progress.bar_style = "danger"
                self.status.value = _error(exc)
                return
            self.progress.value = 1
            self.progress.bar_style = "success"
            surface, traj, steps, seconds = f.result()
            self.show(surface, traj, steps)
            self.status.value = _status(self._describe(surface, seconds))

        out: Future = Future()

        def relay(f: Future) -> None:
            try:
                done(f)
            finally:
                if f.exception() is not None:
                    out.set_exception(f.exception())
                else:
                    out.set_result(f.result()[0])

        fut.add_done_callback(relay)
        return out

    def _job(self, searcher: Any, opts: dict[str, Any]) -> tuple[Surface, np.ndarray | None, np.ndarray | None, float]:
        t0 = time.perf_counter()
        space, dims, steps = opts["space"], opts["dims"], opts["steps"]
        split = "val" if space == "alpha" else "train"
        data = searcher_batches(searcher, split, self.batches)
        traj, traj_steps = self._trajectory(searcher) if space == "alpha" else (None, None)
        directions: Any = opts["directions"]
        span = opts["span"]
        if directions == "pca":
            if traj is None or len(traj) < dims + 1:
                raise ValueError(f"trajectory PCA needs at least {dims + 1} recorded steps; take some steps first")
            directions = list(pca_directions(traj, k=dims, origin=traj[-1]))
        if span == "fit":
            span = 1.0
            if traj is not None and len(traj) > 1:
                A = np.stack(list(directions)) if not isinstance(directions, str) else None
                if A is not None:  # fitted to the path's extent in these directions
                    coords = (traj - traj[-1]) @ A.T
                    span = float(max(1.15 * np.abs(coords).max(), 0.05))
                else:
                    span = float(max(1.15 * np.linalg.norm(traj - traj[-1], axis=1).max(), 0.05))
        total = (steps ** dims) * len(data) + (len(data) if directions == "eigen" else 0)
        kw = dict(directions=directions, dims=dims, steps=steps, span=span, batches=data, bn=self.bn,
                  seed=opts["seed"])
        with _ForwardCounter(searcher.model, total, self._on_progress):
            if space == "alpha":
                surface = alpha_landscape(searcher, split=split, **kw)
            else:
                surface = weight_landscape(searcher, split=split, **kw)
        return surface, traj, traj_steps, time.perf_counter() - t0

    def _trajectory(self, searcher: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        h = self.feed.history
        if not len(h):
            return None, None
        idx = F.decimate(len(h), self.max_trajectory)
        traj = alpha_trajectory(h, searcher.space.cell_types)[idx].astype(np.float64)
        return traj, h.steps[idx].copy()

    def _on_progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - self._t_progress > 0.1:
            self._t_progress = now
            self.progress.value = done / total

    @staticmethod
    def _describe(s: Surface, seconds: float) -> str:
        n = s.loss.size
        lo, hi = float(np.min(s.loss)), float(np.max(s.loss))
        at0 = float(s.loss[tuple(np.array(s.loss.shape) // 2)])
        ev = "" if s.eigenvalues is None else " · eigenvalues " + ", ".join(f"{v:.3g}" for v in s.eigenvalues)
        return (f"{'alpha' if s.space == 'alpha' else 'weight'} space · {s.kind} · {n} points in {seconds:.1f} s · "
                f"loss {lo:.3f}..{hi:.3f} (centre {at0:.3f}){ev}")

    # -- drawing ----------------------------------------------------------------------------------
    def show(self, surface: Surface, trajectory: np.ndarray | None = None, steps: np.ndarray | None = None) -> None:
        """Draw a Surface (computed here or elsewhere), with an optional flat trajectory (T, n)."""
        self.surface, self.trajectory, self.trajectory_steps = surface, trajectory, steps
        fig = AF.landscape_figure(surface, trajectory, steps, metric=self.metric, height=self.height,
                                  width=self.width)
        old, self.figure = self.figure, _figure_widget(fig, "dnas-landscape-figure")
        self.plot.children = (self.figure,)
        if old is not None:
            old.close()  # its traces differ (1-D vs 2-D): a new widget, and the old one's comm is released

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


# ------------------------------------------------------------------------------ clickable genotype graph
_CLICK_ESM = """
function render({ model, el }) {
  const draw = () => {
    el.innerHTML = model.get("svg");
    const selected = model.get("selected");
    el.querySelectorAll("g.edge").forEach((g) => {
      const t = g.querySelector("title");
      const key = t ? t.textContent : "";
      g.classList.add("dnas-click-edge");
      if (key === selected) g.classList.add("dnas-selected-edge");
      g.addEventListener("click", (e) => {
        e.stopPropagation();
        model.send({ event: "edge_click", edge: key });
      });
    });
  };
  draw();
  model.on("change:svg", draw);
  model.on("change:selected", draw);
}
export default { render };
"""

_CLICK_CSS = """
.dnas-click-edge { cursor: pointer; }
.dnas-click-edge:hover path, .dnas-click-edge:hover polygon { stroke-width: 4.5; opacity: 0.75; }
.dnas-click-edge:hover text { font-weight: bold; }
.dnas-selected-edge path { stroke: #d62728 !important; stroke-width: 4 !important; }
.dnas-selected-edge polygon { stroke: #d62728 !important; fill: #d62728 !important; }
"""

_TITLE_RE = re.compile(r"^(?P<cell>.+)_s(?P<src>\d+)->(?P=cell)_s(?P<dst>\d+)$")


def edge_from_title(title: str, space: Any) -> tuple[str, int] | None:
    """(cell type, edge index) of a graphviz edge title ``<cell>_s<src>-><cell>_s<dst>`` (None if not an op edge)."""
    m = _TITLE_RE.match(html.unescape(title).strip())
    if m is None or m["cell"] not in space.cell_types:
        return None
    node = int(m["dst"]) - space.n_inputs
    try:
        return m["cell"], space.edge_index(node, int(m["src"]))
    except (ValueError, IndexError, KeyError):
        return None


try:  # anywidget ships with plotly's FigureWidget; without it the graph is drawn but not clickable
    import anywidget
    import traitlets

    class ClickableSVG(anywidget.AnyWidget):
        """An inline SVG (a Graphviz drawing) whose edges report clicks: ``on_edge_click(fn)`` gets the edge title."""

        _esm = _CLICK_ESM
        _css = _CLICK_CSS
        svg = traitlets.Unicode("").tag(sync=True)
        selected = traitlets.Unicode("").tag(sync=True)

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self._handlers: list[Callable[[str], None]] = []
            self.on_msg(self._on_msg)

        def on_edge_click(self, fn: Callable[[str], None]) -> None:
            self._handlers.append(fn)

        def click(self, title: str) -> None:
            """What a click on the edge titled ``title`` does (for scripts and tests)."""
            for fn in list(self._handlers):
                fn(title)

        def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
            if isinstance(content, dict) and content.get("event") == "edge_click":
                self.click(str(content.get("edge", "")))

    CLICKABLE_GRAPH = True
except Exception:  # pragma: no cover - anywidget missing
    CLICKABLE_GRAPH = False

    class ClickableSVG(W.HTML):  # type: ignore[no-redef]
        """Fallback without anywidget: the SVG is shown, clicks are not reported (use the dropdown)."""

        def __init__(self, **kw: Any) -> None:
            svg = kw.pop("svg", "")
            kw.pop("selected", None)
            super().__init__(value=svg, **kw)
            self._handlers: list[Callable[[str], None]] = []

        @property
        def svg(self) -> str:
            return self.value

        @svg.setter
        def svg(self, text: str) -> None:
            self.value = text

        selected = ""

        def on_edge_click(self, fn: Callable[[str], None]) -> None:
            self._handlers.append(fn)

        def click(self, title: str) -> None:
            for fn in list(self._handlers):
                fn(title)


# ------------------------------------------------------------------------------ perturbation probe
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
        self.session = _require_session(self.feed, "the perturbation probe")
        self.config = replace(config, proj_intv=0)
        self.projection_config = projection_config or config
        self.table = _load_table(nb201_table)
        self.width = width
        space = self.session.space
        self.space = space
        self.labels = F.edge_labels(space)
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
        self.figure = _figure_widget(go.Figure(layout=dict(height=330, width=width, template="plotly_white")),
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
        left = W.VBox([W.HTML(_status(hint)), self.edge_w], layout=W.Layout(width="310px", flex="0 0 auto"))
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
        self.status.value = _status(f"probing {cell_type} edge {edge}…", "#1f5aa6")

        def job(s: Any) -> tuple[ProbeResult, Genotype, dict]:
            res = Projection(s, cfg).probe(cell_type, edge)
            return res, s.genotype(), s.probabilities()

        fut = self.session.submit(job)
        out: Future = Future()

        def done(f: Future) -> None:
            exc = f.exception()
            if exc is not None:
                self.status.value = _error(exc)
                out.set_exception(exc)
                return
            res, g, w = f.result()
            try:
                self._show_probe(res, g, w)
            except Exception as e:  # drawing failed: say so, keep the result
                self.status.value = _error(e)
            out.set_result(res)

        fut.add_done_callback(done)
        return out

    def _show_probe(self, res: ProbeResult, g: Genotype, weights: dict) -> None:
        self.probe_result, self.genotype = res, g
        _replace_figure(self.figure, AF.probe_figure(res, self.labels, width=self.width))
        self._draw_graph(g, weights, res)
        agree = res.chosen == res.magnitude_op
        self.status.value = _status(
            f"edge {res.edge} ({self.labels[res.edge]}): perturbation picks <b>{res.chosen}</b>, magnitude picks "
            f"<b>{res.magnitude_op}</b>" + (" (they agree)" if agree else " (<b style='color:#c62828'>they "
                                                                          "disagree</b>)"))

    def _draw_graph(self, g: Genotype, weights: dict, res: ProbeResult) -> None:
        highlight = [(res.cell_type, res.node, res.src, op) for node, op, src in g.cell(res.cell_type).edges()
                     if node == res.node and src == res.src]
        dot = G.genotype_dot(g, weights=G.genotype_weights(g, weights, self.space.ops), highlight=highlight,
                             title="derived genotype (argmax α)")
        svg = _svg_or_dot(dot)
        self.graph.selected = f"{res.cell_type}_s{res.src}->{res.cell_type}_s{res.node + self.space.n_inputs}"
        self.graph.svg = svg

    # -- all edges ----------------------------------------------------------------------------------
    def compare(self) -> Future:
        """Magnitude vs perturbation on every edge (on the worker); the Future holds the SelectionComparison."""
        cfg = self.config
        self.compare_btn.disabled = True
        self.status.value = _status("probing every edge…", "#1f5aa6")
        fut = self.session.submit(lambda s: compare_selection(s, cfg))
        out: Future = Future()

        def done(f: Future) -> None:
            self.compare_btn.disabled = False
            exc = f.exception()
            if exc is not None:
                self.status.value = _error(exc)
                out.set_exception(exc)
                return
            self.comparison = f.result()
            try:
                self._show_comparison()
                n = sum(not r.agree for r in self.comparison.rows)
                self.status.value = _status(f"{len(self.comparison.rows)} edges probed: the two rules disagree on "
                                            f"<b>{n}</b>; click a heatmap row to probe that edge")
            except Exception as e:
                self.status.value = _error(e)
            out.set_result(self.comparison)

        fut.add_done_callback(done)
        return out

    def _show_comparison(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        self.table_html.value = AF.selection_table_html(cmp, self.space, self.table, self.projected)
        fig = AF.selection_heatmap(cmp, self.space, width=self.width)
        if self.heatmap is None:
            self.heatmap = _figure_widget(fig, "dnas-selection-heatmap")
            self.heatmap.data[0].on_click(self._on_heat_click)
            self.heatmap_box.children = (self.heatmap,)
        else:
            _replace_figure(self.heatmap, fig)

    def scores(self) -> dict[str, dict[str, Any]]:
        """NAS-Bench-201 scores of the genotypes found so far (magnitude, perturbation, projection)."""
        genos: dict[str, Genotype | None] = {"projection": self.projected}
        if self.comparison is not None:
            genos = {"magnitude": self.comparison.magnitude, "perturbation": self.comparison.perturbation, **genos}
        return AF.nb201_scores(genos, self.table)

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
        self.status.value = _status("copying the search…", "#1f5aa6")

        def finish(exc: BaseException | None, g: Genotype | None = None) -> None:
            self.project_btn.disabled = False
            self.stop_btn.disabled = True
            if self._projection_session is not None:
                self._projection_session.close()
                self._projection_session = None
            if exc is not None:
                self.progress.bar_style = "danger" if not isinstance(exc, _Cancelled) else "warning"
                self.status.value = _error(exc)
                out.set_exception(exc)
                return
            self.projected = g
            self.progress.bar_style = "success"
            score = ""
            if self.table is not None:
                s = AF.nb201_scores({"p": g}, self.table)["p"]
                if s["c10"] is not None:
                    score = f" · NB201 CIFAR-10 <b>{s['c10']:.2f}%</b> (rank {s['rank']:,})"
            self.status.value = _status(f"projected genotype <code>{html.escape(AF._gstr(g))}</code>{score}")
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
            self.status.value = _status(f"action {pt.position}/{n} ({what}, tuning epoch {v['epoch']}) · "
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

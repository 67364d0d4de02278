"""Live views of a search: alphas, curves, collapse warning, genotype graph, scrubber, op swapper.

Each view reads a :class:`workbench.history.History` (live from a
:class:`~widgets.controls.SearchSession`, or finished / reloaded from a run
folder) and, when live, subscribes to the searcher's bus. Updates follow the
rules of ECOSYSTEM.md 4.1: throttled (``every`` N steps and at most one redraw
per ``min_interval`` seconds, with a trailing redraw when the worker goes
idle), applied inside ``fig.batch_update()`` to figures built ONCE by the pure
functions of :mod:`widgets.figures` (their documented trace layout is updated
in place), sending only reduced data (curves are decimated to ``max_points``).
``close()`` unsubscribes. Any view can be pinned to a past step with
``show_step(step)`` (the scrubber does this); ``show_step(None)`` follows the
latest step again.

What is drawn is DARTS's own diagnostics (Liu et al., ICLR 2019: softmax(alpha)
per edge and op, the derived cell) plus the collapse signal of RobustDARTS
(Zela et al., ICLR 2020) and DARTS+ (Liang et al. 2019): too many
parameter-free ops in the derived cell.
"""
from __future__ import annotations

import contextlib
import html
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from widgets import figures as F
from widgets import graph as G
from widgets.controls import SearchSession, as_session
from workbench import EpochEnded, OpMaskChanged, Searcher, StepEnded
from workbench.history import History
from workbench.spaces.cell.genotype import Genotype
from workbench.spaces.cell.ops import PARAM_FREE

__all__ = ["Feed", "LiveView", "AlphaView", "CurvesView", "ParamFreeWarning", "GenotypeView", "GenotypeDiffView",
           "param_free_status", "genotype_edge_changes", "genotype_html"]


class Feed:
    """What a view reads: a History, and the session when the search is live."""

    def __init__(self, source: Any) -> None:
        self.session: SearchSession | None = None
        self._history: History | None = None
        if isinstance(source, Feed):
            self.session, self._history = source.session, source._history
        elif isinstance(source, (SearchSession, Searcher)):
            self.session = as_session(source)
        elif isinstance(source, History):
            self._history = source
        elif isinstance(getattr(source, "history", None), History):  # workbench.runs.Run
            self._history = source.history
        elif isinstance(source, (str, os.PathLike)):
            from workbench.runs import load_run
            self._history = load_run(Path(source)).history
        else:
            raise TypeError(f"a view needs a SearchSession, Searcher, History, Run or run folder path, got "
                            f"{type(source).__name__}")

    @property
    def history(self) -> History:
        return self.session.history if self.session is not None else self._history  # type: ignore[return-value]

    @property
    def space(self):
        return self.history.space

    @property
    def live(self) -> bool:
        return self.session is not None

    def lock(self) -> Any:
        """The session lock (a live History only changes while the worker holds it), else a no-op."""
        return self.session.lock if self.session is not None else contextlib.nullcontext()


def latest_step(h: History) -> int | None:
    steps = h.steps
    return int(steps[-1]) if len(steps) else None


class LiveView:
    """Base class: subscription, throttling, step pinning, thread-safe redraws."""

    kinds: tuple[type, ...] = (StepEnded, EpochEnded, OpMaskChanged)

    def __init__(self, source: Any, *, every: int = 1, min_interval: float = 0.25) -> None:
        if every < 1 or min_interval < 0:
            raise ValueError(f"every must be >= 1 and min_interval >= 0, got {every}, {min_interval}")
        self.feed = source if isinstance(source, Feed) else Feed(source)
        self.every, self.min_interval = every, min_interval
        self.step: int | None = None  # pinned step; None follows the latest
        self.visible = True  # a hidden view (e.g. in a closed tab) only notes that it is stale
        self.redraws = 0
        self._t_drawn = 0.0
        self._dirty = False
        self._draw_lock = threading.RLock()
        self._unsubs: list[Callable[[], None]] = []
        if self.feed.live:
            s = self.feed.session
            self._unsubs.append(s.bus.subscribe(self._on_event, kinds=self.kinds))
            self._unsubs.append(s.add_listener(self._on_session))

    @property
    def history(self) -> History:
        return self.feed.history

    def shown_step(self) -> int | None:
        """The step on screen: the pinned one, else the latest recorded (None before the first step)."""
        return self.step if self.step is not None else latest_step(self.history)

    def _on_event(self, ev: Any) -> None:
        self._dirty = True
        if not self.visible:
            return
        if isinstance(ev, StepEnded) and ev.step % self.every:
            return
        if time.perf_counter() - self._t_drawn >= self.min_interval:
            self.refresh()

    def _on_session(self, kind: str, session: SearchSession) -> None:
        if kind == "reset":
            self.step = None
            self._reset()
            self.refresh()
        elif kind == "idle" and self._dirty and self.visible:
            self.refresh()

    def set_visible(self, visible: bool) -> None:
        """Hidden views skip redraws; showing a stale view redraws it at once."""
        self.visible = bool(visible)
        if self.visible and self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Redraw now (from any thread; waits for the current search step to end)."""
        with self.feed.lock(), self._draw_lock:
            self._dirty = False
            self._t_drawn = time.perf_counter()
            self.redraws += 1
            self._draw()

    def show_step(self, step: int | None) -> None:
        """Show the state at a recorded ``step`` (None: follow the latest)."""
        self.step = None if step is None else int(step)
        if self.visible:
            self.refresh()
        else:
            self._dirty = True

    def close(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []

    def _draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset(self) -> None:
        """Forget caches tied to the old History (after a session reset)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)  # type: ignore[attr-defined]


def _json_safe(fig: go.Figure | go.FigureWidget) -> None:
    """Replace NaN in heatmap ``z`` by None (a gap): widget messages travel as strict JSON, where NaN is invalid.

    plotly sends 2-D ``z`` as nested lists, and jupyter_client rejects NaN in them
    ("Out of range float values are not JSON compliant").
    """
    for tr in fig.data:
        if tr.type == "heatmap" and tr.z is not None:
            z = np.asarray(tr.z, dtype=float)
            if np.isnan(z).any():
                tr.z = np.where(np.isnan(z), None, z.astype(object))


def _figure_widget(fig: go.Figure, css: str) -> go.FigureWidget:
    _json_safe(fig)
    fw = go.FigureWidget(fig)
    fw.add_class(css)
    return fw


# ------------------------------------------------------------------------------ alphas
class AlphaView(LiveView):
    """Per cell type: a heatmap of softmax(alpha) (edges x ops) and per-edge curves of each op's weight.

    ``heatmaps[cell]`` and ``curves[cell]`` are the FigureWidgets; the heatmap
    marks each edge's argmax op and stars the ops the derived genotype keeps
    (top-k edges per node for DARTS cells); disabled ops are greyed "off".
    """

    def __init__(self, source: Any, cell_types: list[str] | None = None, *, heatmaps: bool = True,
                 curves: bool = True, max_points: int = 400, width: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        space = self.feed.space
        self.cell_types = list(cell_types or space.cell_types)
        for c in self.cell_types:
            if c not in space.cell_types:
                raise ValueError(f"unknown cell type {c!r}; this space has {list(space.cell_types)}")
        self.max_points = max_points
        self.labels = F.edge_labels(space)
        self.heatmaps: dict[str, go.FigureWidget] = {}
        self._shadow: dict[str, go.Figure] = {}
        self.curves: dict[str, go.FigureWidget] = {}
        h = self.history
        self._n_changes = len(h.mask_changes)
        for c in self.cell_types:
            if heatmaps:
                w, mask, kept, title = self._heat_data(c, self.shown_step())
                fig = F.alpha_heatmap(w, space.ops, self.labels, title=title, mask=mask, genotype_edges=kept)
                fig.update_layout(width=width)
                self._shadow[c] = go.Figure(fig)  # update_alpha_heatmap writes here; changes are copied over
                self.heatmaps[c] = _figure_widget(fig, "dnas-heatmap")
                self.heatmaps[c].add_class(f"dnas-heatmap-{c}")
            if curves:
                fig = F.alpha_curves(h, c, max_points=max_points, title=f"Mixing weights over steps · {_cell(c)}")
                fig.update_layout(width=width)
                self.curves[c] = _figure_widget(fig, "dnas-alpha-curves")
        self._curve_x: dict[str, int] = {}  # epoch-boundary segments drawn, per cell type
        parts: list[W.Widget] = [W.HBox(list(self.heatmaps.values()))] if heatmaps else []
        parts += list(self.curves.values())
        self.widget = W.VBox(parts)
        self.refresh()

    def _heat_data(self, c: str, step: int | None) -> tuple[np.ndarray, np.ndarray, dict[int, str], str]:
        h, space = self.history, self.feed.space
        if step is None:  # nothing recorded yet: uniform over the enabled ops
            mask = np.asarray(h.initial_masks[c], bool)
            w = mask / np.maximum(mask.sum(1, keepdims=True), 1)
            g = None
            title = f"softmax(α) · {_cell(c)} · before the first step"
        else:
            w = np.asarray(h.weights_at(step)[c], dtype=float)
            # following a live search: show switches made since the last step at once
            pending = self.step is None and self.feed.live
            mask = np.asarray(h.masks_at(step + 1 if pending else step)[c], bool)
            g = h.genotype_at(step)
            title = f"softmax(α) · {_cell(c)} · step {step}"
        kept = F.genotype_edge_ops(space, g, c) if g is not None else {}
        return w.astype(float), mask, kept, title

    def _draw(self) -> None:
        step = self.shown_step()
        for c, fw in self.heatmaps.items():
            w, mask, kept, title = self._heat_data(c, step)
            shadow = self._shadow[c]
            F.update_alpha_heatmap(shadow, w, mask, kept, title=title)
            _json_safe(shadow)
            with fw.batch_update():  # only what update_alpha_heatmap touches, and only what changed is sent
                for live, new in zip(fw.data, shadow.data, strict=True):
                    for key in (("z", "text", "zmin", "zmax") if new.type == "heatmap" else ("x", "y")):
                        live[key] = new[key]
                fw.data[0].colorbar.title.text = shadow.data[0].colorbar.title.text
                fw.layout.yaxis.ticktext = shadow.layout.yaxis.ticktext
                fw.layout.title.text = shadow.layout.title.text
        self._draw_curves()

    def _draw_curves(self) -> None:
        if not self.curves:
            return
        h = self.history
        steps = h.steps
        changes = len(h.mask_changes)
        ops = list(self.feed.space.ops)
        for c, fw in self.curves.items():
            wts = h.weights(c)
            n = min(len(steps), len(wts))
            idx = F.decimate(n, self.max_points)
            x = steps[idx]
            wi = wts[idx].astype(float)
            ymax = float(np.nanmax(wi)) if n else 1.0
            rng = [0, min(1.0, round(ymax * 1.08 + 0.01, 2))]
            bx, by = _boundaries(h, n)
            with fw.batch_update():
                for tr in fw.data:
                    if tr.name == "epochs":
                        if self._curve_x.get(c) != len(bx):  # only when an epoch ended
                            tr.x, tr.y = bx, by
                    elif tr.meta is not None:
                        tr.x = x
                        tr.y = wi[:, int(tr.meta[0]), ops.index(tr.meta[1])]
                if fw.layout.yaxis.range is None or list(fw.layout.yaxis.range) != rng:
                    fw.update_yaxes(range=rng)
                if changes != self._n_changes:  # op swaps: annotations/shapes from the pure figure
                    ref = F.alpha_curves(h, c, max_points=2)
                    fw.layout.annotations = ref.layout.annotations
                    fw.layout.shapes = ref.layout.shapes
            self._curve_x[c] = len(bx)
        self._n_changes = changes

    def _reset(self) -> None:
        self._n_changes = -1
        self._curve_x = {}


def _cell(c: str) -> str:
    return c if c == "cell" else f"{c} cell"


def _boundaries(h: History, n: int) -> tuple[list, list]:
    """Epoch boundary segments (x, y with None separators) over the first n rows."""
    ep, st = h.scalar("epoch")[:n], h.steps[:n]
    xs: list[Any] = []
    ys: list[Any] = []
    for i in np.flatnonzero(np.diff(ep) != 0):
        b = float(st[i]) + 0.5
        xs += [b, b, None]
        ys += [0.0, 1.0, None]
    return xs, ys


# ------------------------------------------------------------------------------ curves
class _EMA:
    """Debiased exponential moving average, extended incrementally (the smoothing of ``loss_curves``)."""

    def __init__(self, alpha: float) -> None:
        self.alpha, self.m, self.norm, self.out = alpha, 0.0, 0.0, np.zeros(0)

    def extend(self, y: np.ndarray) -> np.ndarray:
        new = np.empty(len(y) - len(self.out))
        a = self.alpha
        for i, v in enumerate(y[len(self.out):]):
            if np.isfinite(v):
                self.m = a * self.m + (1 - a) * v
                self.norm = a * self.norm + (1 - a)
            new[i] = self.m / self.norm if self.norm > 0 else np.nan
        self.out = np.concatenate([self.out, new])
        return self.out


class CurvesView(LiveView):
    """Train/val loss and accuracy, the per-epoch supernet accuracy and the learning rate (``loss_curves``)."""

    def __init__(self, source: Any, *, smoothing: float | None = 0.8, max_points: int = 1000,
                 height: int | None = None, width: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        self.smoothing, self.max_points = smoothing, max_points
        fig = F.loss_curves(self.history, smoothing=smoothing, max_points=max_points)
        fig.update_layout(width=width)
        if height:
            fig.update_layout(height=height)
        self.figure = _figure_widget(fig, "dnas-curves")
        self.widget = self.figure
        self._reset()
        self.refresh()

    def _reset(self) -> None:
        self._n_bounds = -1
        m = self.history.primary_metric or "accuracy"
        self._ema = {k: _EMA(self.smoothing) for k in ("train_loss", "val_loss", f"train_{m}", f"val_{m}")} \
            if self.smoothing is not None else {}

    def _draw(self) -> None:
        h = self.history
        n = len(h)
        steps = h.steps[:n]
        idx = F.decimate(n, self.max_points)
        m = h.primary_metric or "accuracy"
        series = {k: h.scalar(k)[:n] for k in ("train_loss", "val_loss", f"train_{m}", f"val_{m}", "lr")}
        smooth = {k: e.extend(series[k]) for k, e in self._ema.items()}
        ep = [r for r in h.epochs if r.val_metrics and m in r.val_metrics]
        with self.figure.batch_update():
            for tr in self.figure.data:
                key = _curve_key(tr.name)
                if key is None:
                    continue
                if key == "epoch":
                    tr.x, tr.y, tr.customdata = ([r.step for r in ep], [r.val_metrics[m] for r in ep],
                                                 [r.epoch for r in ep])
                    continue
                raw = tr.name.endswith("(per batch)") or self.smoothing is None or key == "lr"
                y = series[key] if raw else smooth[key]
                tr.x, tr.y = steps[idx], y[idx]
            b = [float(steps[i]) + 0.5 for i in np.flatnonzero(np.diff(h.scalar("epoch")[:n]) != 0)]
            if len(b) != self._n_bounds:  # epoch boundaries, one line per subplot as loss_curves draws them
                self._n_bounds = len(b)
                self.figure.layout.shapes = [
                    dict(type="line", x0=x, x1=x, y0=0, y1=1, xref=f"x{r if r > 1 else ''}",
                         yref=f"y{r if r > 1 else ''} domain", layer="below", line=dict(color="#d5d5d5", width=1))
                    for x in b for r in (1, 2, 3)]


def _curve_key(name: str | None) -> str | None:
    if not name:
        return None
    if name.startswith("supernet val"):
        return "epoch"
    if name.startswith("lr"):
        return "lr"
    words = name.split(" ")
    if words[0] in ("train", "val") and len(words) > 1:
        return f"{words[0]}_{words[1]}"  # "train accuracy (per batch)" -> train_accuracy
    return None


# ------------------------------------------------------------------------------ collapse warning
def param_free_status(genotype: Genotype, cell: str) -> tuple[int, int, dict[str, int]]:
    """(parameter-free edges, kept edges, count per parameter-free op) of one cell of a genotype."""
    edges = genotype.cell(cell).edges()
    per: dict[str, int] = {}
    for _, op, _ in edges:
        if op in PARAM_FREE:
            per[op] = per.get(op, 0) + 1
    return sum(per.values()), len(edges), per


class ParamFreeWarning(LiveView):
    """How many parameter-free ops (skip, pools) the derived cell has, and a warning near skip collapse.

    The warning fires when at least half of a cell's kept edges are
    parameter-free (the band of :func:`~widgets.figures.param_free_curve`):
    the derived cell is drifting towards the skip-connection collapse of
    RobustDARTS / DARTS+. With ``curve=True`` the count over steps is drawn too.
    """

    def __init__(self, source: Any, *, badge: bool = True, curve: bool = True, width: int | None = None,
                 **kw: Any) -> None:
        super().__init__(source, **kw)
        self.badge = W.HTML() if badge else None
        if self.badge is not None:
            self.badge.add_class("dnas-param-free")
        self.figure = None
        if curve:
            fig = F.param_free_curve(self.history)
            fig.update_layout(width=width)
            self.figure = _figure_widget(fig, "dnas-param-free-curve")
        self.widget = W.VBox([w for w in (self.badge, self.figure) if w is not None])
        self.warning = False
        self._reset()
        self.refresh()

    def _reset(self) -> None:
        self._steps: list[int] = []
        self._counts: dict[str, list[int]] = {c: [] for c in self.feed.space.cell_types}

    def _extend(self) -> None:
        """Count parameter-free ops for every step recorded since the last redraw (cheap: no figure rebuild)."""
        h = self.history
        steps = h.steps
        for s in steps[len(self._steps):len(h)]:
            g = h.genotype_at(int(s))
            for c in self._counts:
                self._counts[c].append(param_free_status(g, c)[0])
            self._steps.append(int(s))

    def _draw(self) -> None:
        if self.badge is not None:
            self._draw_badge()
        if self.figure is not None:
            self._extend()
            with self.figure.batch_update():
                for tr in self.figure.data:
                    c = tr.name if tr.name in self._counts else (tr.name or "").removesuffix(" cell")
                    if c in self._counts:
                        tr.x, tr.y = np.asarray(self._steps), np.asarray(self._counts[c])
                if len(self._steps) > 1:
                    self.figure.layout.xaxis.range = [self._steps[0], self._steps[-1]]

    def _draw_badge(self) -> None:
        h = self.history
        step = self.shown_step()
        if step is None:
            self.warning = False
            self.badge.value = _badge("no step yet: the derived cell appears after the first step", "#555")
        else:
            g = h.genotype_at(step)
            parts, warn, skips = [], False, False
            for c in h.space.cell_types:
                n_pf, n_kept, per = param_free_status(g, c)
                warn |= n_pf >= n_kept / 2
                skips |= per.get("skip_connect", 0) >= n_kept / 2
                detail = ", ".join(f"{op} ×{k}" for op, k in sorted(per.items())) or "none"
                parts.append(f"{_cell(c)}: <b>{n_pf}</b> of {n_kept} kept edges parameter-free ({detail})")
            self.warning = warn
            msg = f"step {step} · " + " · ".join(parts)
            if warn:
                what = "skip-connection collapse" if skips else "a parameter-free cell"
                msg = (f"⚠ drifting towards {what}: " + msg + ". DARTS tends to prefer parameter-free ops as the "
                       "supernet trains (RobustDARTS, DARTS+); consider early stopping, or switching "
                       f"{'skip_connect' if skips else 'those ops'} off below.")
            self.badge.value = _badge(msg, "#c62828" if warn else "#2e7d32", warn)


def _badge(text: str, color: str, strong: bool = False) -> str:
    bg = "#fdecea" if strong else "#f4f8f4"
    return (f"<div style='border-left:4px solid {color};background:{bg};padding:4px 10px;color:{color};"
            f"font-size:13px;line-height:1.4'>{text}</div>")


# ------------------------------------------------------------------------------ genotype graphs
def genotype_html(genotype: Genotype | str, **kw: Any) -> str:
    """Inline SVG of a genotype (or of DOT text), or the DOT text itself when Graphviz is missing.

    Keyword arguments go to :func:`widgets.graph.genotype_dot`. In a notebook:
    ``HTML(genotype_html(g))``.
    """
    dot = genotype if isinstance(genotype, str) and genotype.lstrip().startswith("digraph") else \
        G.genotype_dot(genotype, **kw)
    return _svg_or_dot(dot)


def _svg_or_dot(dot: str) -> str:
    """Inline SVG of DOT text, or the DOT text itself when Graphviz is missing (with the install hint).

    The SVG is made fluid (it shrinks to its container's width, keeping its aspect ratio), so a wide
    cell never overflows the dashboard column.
    """
    try:
        return _fluid(G.render_svg(dot))
    except G.GraphvizNotFoundError as exc:
        return (f"<div style='color:#b26a00'>{html.escape(str(exc))}</div>"
                f"<pre style='font-size:11px'>{html.escape(dot)}</pre>")


def _fluid(svg: str) -> str:
    head_end = svg.find(">")
    head = re.sub(r'\sheight="[^"]*"', "", svg[:head_end])  # keep the natural width, at most the column's
    return head + ' style="max-width:100%;height:auto"' + svg[head_end:]


def _genotype_text(g: Genotype) -> str:
    try:
        text = g.to_nb201_str() if g.is_nb201() else str(g)
    except Exception:  # a genotype outside both text formats
        text = str(g)
    text = html.escape(text).replace("+", "+<wbr>").replace("), (", "), <wbr>(")  # break between nodes
    return f"<code style='font-size:11px;overflow-wrap:anywhere'>{text}</code>"


class GenotypeView(LiveView):
    """The derived genotype drawn as a DARTS-style cell graph, edge width = mixing weight; SVG/DOT export.

    Redrawn at most every ``min_interval`` seconds (1 s by default: ``dot``
    takes ~20 ms) and only when the drawing changed.
    """

    def __init__(self, source: Any, *, cell: str | None = None, weights: bool = True,
                 export_dir: str | os.PathLike[str] = ".", min_interval: float = 1.0, **kw: Any) -> None:
        super().__init__(source, min_interval=min_interval, **kw)
        self.cell, self.show_weights, self.export_dir = cell, weights, Path(export_dir)
        self.genotype: Genotype | None = None
        self.dot: str | None = None
        self.html = W.HTML()
        self.html.add_class("dnas-genotype")
        self.text = W.HTML()
        self.message = W.HTML()
        svg_btn = W.Button(description="Export SVG", icon="download", layout=W.Layout(width="auto"))
        dot_btn = W.Button(description="Export DOT", icon="download", layout=W.Layout(width="auto"))
        svg_btn.on_click(lambda _: self._export_clicked(".svg"))
        dot_btn.on_click(lambda _: self._export_clicked(".dot"))
        self.widget = W.VBox([self.html, self.text, W.HBox([svg_btn, dot_btn, self.message],
                                                           layout=W.Layout(align_items="center"))])
        self.refresh()

    def _weights(self, g: Genotype, step: int) -> dict | None:
        if not self.show_weights:
            return None
        return G.genotype_weights(g, self.history.weights_at(step), self.feed.space.ops)

    def _draw(self) -> None:
        step = self.shown_step()
        if step is None:
            self.genotype = None
            self.html.value = "<i>no genotype yet: it is derived after the first step</i>"
            self.text.value = ""
            return
        g = self.history.genotype_at(step)
        dot = G.genotype_dot(g, cell=self.cell, weights=self._weights(g, step),
                             title=f"derived genotype · step {step}")
        self.genotype = g
        if dot != self.dot:
            self.dot = dot
            self.html.value = _svg_or_dot(dot)
            self.text.value = _genotype_text(g)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write the genotype on screen to ``path`` (.svg, .dot, .png, .pdf)."""
        if self.genotype is None:
            raise ValueError("no genotype to export yet: take at least one search step")
        step = self.shown_step()
        return G.export(self.genotype, path, cell=self.cell, weights=self._weights(self.genotype, step),
                        title=f"derived genotype · step {step}")

    def _export_clicked(self, suffix: str) -> None:
        try:
            self.export_dir.mkdir(parents=True, exist_ok=True)
            p = self.export(self.export_dir / f"genotype_step{self.shown_step()}{suffix}")
            self.message.value = f"wrote <code>{html.escape(str(p))}</code>"
        except Exception as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"


def _state(cell: Any, state: int) -> str:
    """A state's name as the genotype drawings label it (NB201: 0..3; DARTS: c_{k-2}, c_{k-1}, 0..3)."""
    if cell.n_inputs == 1:
        return str(state)
    if cell.n_inputs == 2 and state < 2:
        return ("c_{k-2}", "c_{k-1}")[state]
    return str(state - cell.n_inputs)


def genotype_edge_changes(a: Genotype, b: Genotype) -> list[str]:
    """Human-readable changes from ``a`` to ``b``, per cell and node: '− op←input' removed, '+ op←input' added.

    Nodes are named as in the drawings; a node whose inputs are the same set in both is not listed.
    """
    out = []
    for name, cb in b.cells:
        ca = a.cell(name) if name in a.cell_names else None
        for i, node in enumerate(cb.nodes):
            old = set(ca.nodes[i]) if ca is not None and i < ca.n_nodes else set()
            new = set(node)
            if old != new:
                rem = ", ".join(f"− {op}←{_state(cb, src)}" for op, src in sorted(old - new, key=lambda t: t[1]))
                add = ", ".join(f"+ {op}←{_state(cb, src)}" for op, src in sorted(new - old, key=lambda t: t[1]))
                out.append(f"{name} node {_state(cb, cb.n_inputs + i)}: " + "; ".join(x for x in (rem, add) if x))
    return out


class GenotypeDiffView:
    """Two genotypes in one drawing: edges added in ``b`` red and bold, removed ones dashed grey.

    ``a`` and ``b`` are sources (a live session, a History, a Run, a run
    folder) or fixed Genotypes; for a source a dropdown offers every step at
    which its derived genotype changed, plus "latest". By default the diff is
    between the first and the latest genotype of one run.
    """

    def __init__(self, a: Any, b: Any = None, *, step_a: int | None = None, step_b: int | None = None) -> None:
        b = a if b is None else b
        self.sides = [self._side(a, "a", step_a, first=step_a is None and b is a), self._side(b, "b", step_b)]
        self.html = W.HTML()
        self.html.add_class("dnas-genotype-diff")
        self.changes = W.HTML()
        refresh = W.Button(description="Refresh", icon="refresh", layout=W.Layout(width="auto"))
        refresh.on_click(lambda _: self.refresh())
        pickers = [s["picker"] for s in self.sides if s["picker"] is not None]
        self.widget = W.VBox([W.HBox(pickers + [refresh]), self.html, self.changes])
        self.refresh()

    def _side(self, src: Any, label: str, step: int | None, first: bool = False) -> dict:
        if isinstance(src, (Genotype, str)) and not (isinstance(src, str) and Path(src).is_dir()):
            return {"genotype": Genotype.parse(src) if isinstance(src, str) else src, "feed": None,
                    "picker": None}
        feed = src if isinstance(src, Feed) else Feed(src)
        picker = W.Dropdown(description=label, layout=W.Layout(width="260px"))
        picker.observe(lambda _: self._locked(self._draw), "value")
        return {"genotype": None, "feed": feed, "picker": picker, "step": step, "first": first}

    def refresh(self) -> None:
        """Re-read the steps at which each run's genotype changed, then redraw."""
        self._locked(self._refresh)

    def _locked(self, fn: Callable[[], None]) -> None:
        with contextlib.ExitStack() as stack:
            for s in self.sides:
                if s["feed"] is not None:
                    stack.enter_context(s["feed"].lock())
            fn()

    def _refresh(self) -> None:
        for s in self.sides:
            if s["feed"] is None:
                continue
            changes = s["feed"].history.genotype_changes()
            opts = [("latest", -1)] + [(f"step {st}", st) for st, _ in changes]
            want = s["picker"].value if s["picker"].options else (
                s["step"] if s["step"] is not None else (changes[0][0] if s["first"] and changes else -1))
            s["picker"].options = opts
            s["picker"].value = want if want in [v for _, v in opts] else -1
        self._draw()

    def genotypes(self) -> tuple[Genotype | None, Genotype | None]:
        out = []
        for s in self.sides:
            if s["feed"] is None:
                out.append(s["genotype"])
                continue
            h = s["feed"].history
            step = s["picker"].value if s["picker"].value not in (None, -1) else latest_step(h)
            out.append(None if step is None else h.genotype_at(step))
        return out[0], out[1]

    def _draw(self) -> None:
        a, b = self.genotypes()
        if a is None or b is None:
            self.html.value = "<i>nothing to compare yet</i>"
            self.changes.value = ""
            return
        self.html.value = _svg_or_dot(G.genotype_diff_dot(a, b, title="genotype diff: b compared to a"))
        lines = genotype_edge_changes(a, b)
        self.changes.value = ("<b>identical genotypes</b>" if not lines else
                              "<br>".join(html.escape(x) for x in lines))

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

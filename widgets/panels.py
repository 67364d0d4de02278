"""The panel registry: every view of a search declared once, for the live dashboard, the static one and the report.

A :class:`Panel` says what it is called, which spaces it applies to, and how
to build each of its three forms:

* ``live(ctx)`` -- a live view for :func:`widgets.dashboard.dashboard` (an
  object with ``.widget``; where it sits: ``slot``);
* ``static(history, step, groups)`` -- figures / HTML by name for
  :class:`widgets.fallback.StaticDashboard` (where FigureWidget cannot render;
  ``step`` None: nothing recorded yet);
* ``report(ctx)`` -- :class:`Section`\\ s of the HTML report (:mod:`widgets.report`).

The three assemblies read :data:`PANELS` in order, keeping the panels whose
``applies(space)`` holds, so a panel registered here appears everywhere at
once. The built-in panels: the run controls and op swapper (live searches);
the mixing-weight heatmaps, the decoded architecture, the alpha curves and
the training curves (any space); the parameter-free collapse warning and
count, and the genotype diff (cell spaces only); the architecture of every
epoch (report).
"""
from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from widgets.architecture import arch_html, arch_label, epochs_table_html
from widgets.choices import fits, group_title, is_cell_space
from widgets.controls import ControlPanel, OpSwapper
from widgets.figures.alpha_curves import alpha_curves
from widgets.figures.collapse import collapse_note_html, param_free_curve
from widgets.figures.heatmap import group_heatmap
from widgets.figures.metric_curves import loss_curves
from widgets.metrics import is_fraction, primary_metric
from widgets.views import (
    AlphaView,
    CurvesView,
    Feed,
    GenotypeDiffView,
    GenotypeView,
    ParamFreeWarning,
)
from workbench.history import History
from workbench.spaces import SearchSpace

__all__ = ["Panel", "PanelRegistry", "PANELS", "LiveContext", "ReportContext", "Section", "any_space",
           "cell_spaces", "SLOTS"]

#: Where the live dashboard puts a panel: above the weights, beside the heatmaps (under them), the
#: architecture column, or a tab under the scrubber.
SLOTS = ("top", "weights", "graph", "tab")
MAX_POINTS = 1500  # per curve in the report: keeps a 50-epoch DARTS report a few MB


def any_space(space: SearchSpace) -> bool:
    return True


def cell_spaces(space: SearchSpace) -> bool:
    return is_cell_space(space)


def _graph_direction(ctx: LiveContext) -> str | None:
    """TB for a single cell type (the graph sits in the narrow column beside its heatmap), else the default."""
    return "TB" if is_cell_space(ctx.feed.space) and len(ctx.groups) == 1 else None


@dataclass
class LiveContext:
    """What a live builder gets: the feed (History + session), the groups shown, sizes and update rates."""

    feed: Feed
    groups: list[str]
    width: int = 960  # px: figures in the tabs
    heat_width: int = 520  # px: one heatmap
    export_dir: str | os.PathLike[str] = "."
    min_interval: float = 0.25
    every: int = 1
    compare_with: Any = None

    @property
    def session(self) -> Any:
        return self.feed.session

    @property
    def fast(self) -> dict[str, Any]:
        """Update rates of the views on screen above the scrubber."""
        return dict(min_interval=self.min_interval, every=self.every)

    @property
    def slow(self) -> dict[str, Any]:
        """Update rates of the tabs' figures (1 Hz is plenty)."""
        return dict(min_interval=max(1.0, 4 * self.min_interval), every=self.every)


@dataclass(frozen=True)
class Section:
    """A piece of the report: its HTML, and where it goes (``slot="run"``: the run summary card; else a card
    of its own). Cards with the same ``row`` are laid side by side where the first of them is."""

    html: str
    slot: str = "card"
    row: str | None = None


@dataclass
class ReportContext:
    """What a report builder gets: the History, its final architecture and last step, and a figure embedder."""

    history: History
    arch: Any
    groups: list[str]
    figures: list[go.Figure] = field(default_factory=list)

    @property
    def step(self) -> int | None:
        return int(self.history.steps[-1]) if len(self.history) else None

    def figure(self, fig: go.Figure) -> str:
        """The figure's HTML (plotly.js inlined with the first figure of the page only)."""
        self.figures.append(fig)
        return fig.to_html(full_html=False, include_plotlyjs=len(self.figures) == 1, default_width="100%",
                           config={"displaylogo": False, "responsive": True,
                                   "modeBarButtonsToRemove": ["lasso2d", "select2d"],
                                   "toImageButtonOptions": {"scale": 2}})


def card(title: str, note: str, body: str) -> str:
    """A report card: a heading, a grey note and the content."""
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section class="card"><h2>{html.escape(title)}</h2>{note_html}{body}</section>'


@dataclass(frozen=True)
class Panel:
    """One view of a search in its live, static and report forms (any of them may be None).

    ``title`` may name ``{arch}`` ("genotype" for cells, "architecture" otherwise) and ``{metric}``
    (the task's headline metric); :meth:`heading` fills them in.
    """

    name: str
    title: str
    slot: str = "tab"
    applies: Callable[[SearchSpace], bool] = any_space
    live: Callable[[LiveContext], Any] | None = None
    needs_session: bool = False  # live only with a running search (controls, op swapper)
    follows_scrubber: bool = False  # the scrubber pins its live view to a step
    static: Callable[[History, int | None, list[str]], dict[str, Any]] | None = None  # step None: none yet
    report: Callable[[ReportContext], list[Section]] | None = None

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ValueError(f"panel {self.name!r}: slot {self.slot!r} is not one of {SLOTS}")

    def heading(self, history: History) -> str:
        arch = "genotype" if is_cell_space(history.space) else "architecture"
        metric = primary_metric(history)
        return self.title.format(arch=arch, metric="accuracy" if is_fraction(metric) else metric)


class PanelRegistry:
    """The panels, in the order every assembly shows them."""

    def __init__(self) -> None:
        self._panels: list[Panel] = []

    def register(self, panel: Panel, *, before: str | None = None) -> Panel:
        """Add ``panel`` (at the end, or before the panel named ``before``); a name is registered once."""
        if any(p.name == panel.name for p in self._panels):
            raise ValueError(f"a panel named {panel.name!r} is already registered; unregister it first")
        i = len(self._panels) if before is None else self.names().index(self.get(before).name)
        self._panels.insert(i, panel)
        return panel

    def unregister(self, name: str) -> Panel:
        p = self.get(name)
        self._panels.remove(p)
        return p

    def get(self, name: str) -> Panel:
        for p in self._panels:
            if p.name == name:
                return p
        raise KeyError(f"no panel named {name!r}; registered: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [p.name for p in self._panels]

    def __iter__(self) -> Iterator[Panel]:
        return iter(list(self._panels))

    def for_space(self, space: SearchSpace) -> list[Panel]:
        """The panels that apply to ``space``, in order."""
        return [p for p in self._panels if p.applies(space)]


PANELS = PanelRegistry()


# ------------------------------------------------------------------------------ the built-in panels
def _each_group(ctx: ReportContext, title: str, note: str, make: Callable[[str], go.Figure],
                row: str | None = None) -> list[Section]:
    if ctx.step is None:
        return []
    space = ctx.history.space
    return [Section(card(f"{title} · {group_title(space, g)}", note, ctx.figure(make(g))), row=row)
            for g in ctx.groups]


def _heatmap_report(ctx: ReportContext) -> list[Section]:
    h, arch = ctx.history, ctx.arch if ctx.arch is not None and fits(ctx.history.space, ctx.arch) else None
    if is_cell_space(h.space):
        note = "softmax(α) per edge; black box = strongest op, ★ and bold edge = kept in the genotype."
    else:
        note = "softmax(α) per row; black box = strongest option, ★ and bold row = kept in the architecture."
    return _each_group(ctx, "Final mixing weights", note,
                       lambda g: group_heatmap(h, g, ctx.step, title=f"step {ctx.step}", arch=arch), row="weights")


def _architecture_static(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    what = "genotype" if is_cell_space(h.space) else "architecture"
    if step is None:
        return {"genotype": f"<i>no {what} yet: it is derived after the first step</i>"}
    return {"genotype": arch_html(h.space, h.genotype_at(step), weights=h.weights_at(step),
                                  title=f"derived {what} · step {step}")}


def _architecture_report(ctx: ReportContext) -> list[Section]:
    h, arch = ctx.history, ctx.arch
    if arch is None:
        return []
    what = "genotype" if is_cell_space(h.space) else "architecture"
    text = [Section(f"<h2>Final {what}</h2><pre class=\"geno\">{html.escape(arch_label(h.space, arch))}</pre>",
                    slot="run")]
    weights = h.weights_at(ctx.step) if ctx.step is not None and fits(h.space, arch) else None
    if is_cell_space(h.space):
        note = ("Edge width and the number under each op: its mixing weight at the last step. " if weights else
                "") + "Only the nodes in the cell's concat list feed the output."
    else:
        note = "The option each row keeps (the space's own drawing, <code>space.to_dot</code>)."
    body = f'<div class="svgbox">{arch_html(h.space, arch, weights=weights)}</div>'
    return text + [Section(card(f"{what.capitalize()} graph", note, body))]


def _curves_report(ctx: ReportContext) -> list[Section]:
    if ctx.step is None:
        return []
    metric = primary_metric(ctx.history)
    note = (f"Per-batch values faint, smoothed bold; diamonds are the supernet's validation {metric} at each "
            "epoch end.")
    return [Section(card("Training curves", note,
                         ctx.figure(loss_curves(ctx.history, title=None, max_points=MAX_POINTS))))]


def _param_free_report(ctx: ReportContext) -> list[Section]:
    if ctx.step is None:
        return []
    note = ("How many skip/pool ops the genotype derived at each step keeps; in the shaded zone, DARTS is "
            "collapsing.")
    return [Section(card("Parameter-free ops", note, ctx.figure(param_free_curve(ctx.history, title=None))),
                    row="weights" if len(ctx.groups) == 1 else None)]


def _epochs_report(ctx: ReportContext) -> list[Section]:
    what = "Genotype" if is_cell_space(ctx.history.space) else "Architecture"
    return [Section(card(f"{what} per epoch", "", epochs_table_html(ctx.history)))]


PANELS.register(Panel(
    "controls", "Controls", slot="top", needs_session=True,
    live=lambda ctx: ControlPanel(ctx.session, min_interval=ctx.min_interval)))
PANELS.register(Panel(
    "param_free", "Parameter-free ops", slot="top", applies=cell_spaces, follows_scrubber=True,
    live=lambda ctx: ParamFreeWarning(ctx.feed, curve=False, **ctx.fast),
    report=lambda ctx: [Section(collapse_note_html(ctx.history), slot="run")] if ctx.step is not None else []))
PANELS.register(Panel(
    "heatmap", "Architecture weights", slot="weights", follows_scrubber=True,
    live=lambda ctx: AlphaView(ctx.feed, ctx.groups, curves=False, width=ctx.heat_width, **ctx.fast),
    static=lambda h, step, groups: {f"heatmap/{g}": group_heatmap(h, g, step) for g in groups},
    report=_heatmap_report))
PANELS.register(Panel(
    "swapper", "Candidate ops", slot="weights", needs_session=True,
    live=lambda ctx: OpSwapper(ctx.session, ctx.groups)))
PANELS.register(Panel(
    "genotype", "Derived {arch}", slot="graph", follows_scrubber=True,
    # one cell beside the heatmap: drawn top to bottom, so the column shows its edge labels at full size
    live=lambda ctx: GenotypeView(ctx.feed, export_dir=ctx.export_dir, rankdir=_graph_direction(ctx), **ctx.slow),
    static=_architecture_static, report=_architecture_report))
PANELS.register(Panel(
    "alpha_curves", "Alpha curves",
    live=lambda ctx: AlphaView(ctx.feed, ctx.groups, heatmaps=False, width=ctx.width, **ctx.slow),
    static=lambda h, step, groups: {f"alpha_curves/{g}": alpha_curves(h, g) for g in groups},
    report=lambda ctx: _each_group(ctx, "Alpha evolution", "Mixing weight of each option in each row over the "
                                   "search; vertical lines mark epochs.",
                                   lambda g: alpha_curves(ctx.history, g, title="", max_points=MAX_POINTS))))
PANELS.register(Panel(
    "curves", "Loss & {metric}",
    live=lambda ctx: CurvesView(ctx.feed, width=ctx.width, **ctx.slow),
    static=lambda h, step, groups: {"loss": loss_curves(h)}, report=_curves_report))
PANELS.register(Panel(
    "param_free_curve", "Parameter-free ops", applies=cell_spaces,
    live=lambda ctx: ParamFreeWarning(ctx.feed, badge=False, width=ctx.width, **ctx.slow),
    static=lambda h, step, groups: {"param_free": param_free_curve(h)}, report=_param_free_report))
PANELS.register(Panel(
    "genotype_diff", "Genotype diff", applies=cell_spaces,
    live=lambda ctx: GenotypeDiffView(ctx.feed if ctx.compare_with is None else ctx.compare_with, ctx.feed)))
PANELS.register(Panel("epochs", "{arch} per epoch", report=_epochs_report))

# hardware-aware panels (chain spaces): budget slider, expected-latency curve, Pareto scatter, chain drawing
from widgets.views.hardware_panels import hardware_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in hardware_panels():
    PANELS.register(_panel, before="epochs")

# norm-placement panel (OSNet-AIN's spaces): normalised placement weights with the dead candidates crossed
from widgets.views.osnet_panels import norm_placement_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in norm_placement_panels():
    PANELS.register(_panel, before="epochs")

# DNIS panel (embedding_dims spaces): the soft selection mask with a step slider, mean mask per feature block
from widgets.views.dnis import dnis_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in dnis_panels():
    PANELS.register(_panel, before="epochs")

# GTN panels (gtn teacher spaces): the learned inner schedule, the generated curriculum
from widgets.views.gtn import gtn_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in gtn_panels():
    PANELS.register(_panel, before="epochs")

# Adaptive Guidance panel (guidance spaces): P(CFG) per sampling step
from widgets.views.guidance import guidance_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in guidance_panels():
    PANELS.register(_panel, before="epochs")

# DARTS-GT panel (graph_transformer spaces): each layer's weights over the GNN experts and the derived expert
from widgets.views.graph_operators import graph_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in graph_panels():
    PANELS.register(_panel, before="epochs")

# CovidNet3D panel (mbconv3d spaces): lesion volumes in the slice viewer, the supernet's CAM on demand
from widgets.views.volume import volume_panels  # noqa: E402  (it needs Panel, defined above)

for _panel in volume_panels():
    PANELS.register(_panel, before="epochs")

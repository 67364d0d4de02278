"""One call for the whole workbench view of a search: ``dashboard(search)``.

Composes the controls (:mod:`widgets.controls`), the live views
(:mod:`widgets.views`) and a time scrubber over the recorded steps into one
ipywidgets layout sized for a laptop screen (~1150 px wide). For a running or
paused search it has the run controls and the op swapper; for a finished
History or a run folder reloaded with :func:`workbench.runs.load_run` it shows
the same views driven by the scrubber only. Where plotly's FigureWidget
cannot be built (no anywidget), or with ``static=True`` /
``DNAS_STATIC_WIDGETS=1``, it returns a :class:`~widgets.fallback.StaticDashboard`
snapshot instead of failing.
"""
from __future__ import annotations

import html
import logging
import os
import time
from typing import Any

import ipywidgets as W

from widgets.controls import ControlPanel, OpSwapper, SearchSession
from widgets.fallback import StaticDashboard, figure_widgets_available, static_requested
from widgets.views import (
    AlphaView,
    CurvesView,
    Feed,
    GenotypeDiffView,
    GenotypeView,
    LiveView,
    ParamFreeWarning,
    _genotype_text,
    latest_step,
)
from workbench import SearchConfig, StepEnded

log = logging.getLogger(__name__)

__all__ = ["ScrubberView", "Dashboard", "dashboard"]

TAB_WIDTH = 960  # px: the figures in the tabs; the dashboard fits a 1280-1440 px laptop screen



class ScrubberView:
    """A slider over the recorded steps that pins the linked views to the chosen step.

    While a search runs and "follow" is on, the slider tracks the newest step;
    dragging it back pins every linked view (alphas, genotype, collapse count)
    to that step, also after the search ended and for a reloaded run.
    """

    def __init__(self, source: Any, views: list[LiveView] | None = None, *, min_interval: float = 0.25) -> None:
        self.feed = source if isinstance(source, Feed) else Feed(source)
        self.views: list[LiveView] = list(views or [])
        self.min_interval = min_interval
        self._quiet = False
        self._t = 0.0
        self.slider = W.IntSlider(value=0, min=0, max=0, description="step", continuous_update=True,
                                  layout=W.Layout(width="640px"))
        self.slider.add_class("dnas-scrubber")
        self.follow = W.Checkbox(value=self.feed.live, description="follow the search", indent=False,
                                 layout=W.Layout(width="150px", display="" if self.feed.live else "none"))
        self.label = W.HTML()
        self.slider.observe(self._on_slider, "value")
        self.follow.observe(self._on_follow, "value")
        self.widget = W.VBox([W.HBox([self.slider, self.follow], layout=W.Layout(align_items="center")),
                              self.label])
        self._unsubs = []
        if self.feed.live:
            s = self.feed.session
            self._unsubs = [s.bus.subscribe(self._on_step, kinds=(StepEnded,)), s.add_listener(self._on_session)]
        self.sync_range()
        if not self.feed.live:
            self.scrub(self.slider.max if len(self.feed.history) else None)

    @property
    def step(self) -> int | None:
        """The pinned step, or None while following the search."""
        if self.feed.live and self.follow.value:
            return None
        return int(self.slider.value) if len(self.feed.history) else None

    def link(self, view: LiveView) -> None:
        self.views.append(view)
        view.show_step(self.step)

    def sync_range(self) -> None:
        """Extend the slider to the recorded steps (and move it along when following)."""
        with self.feed.lock():
            self._sync_range()

    def _sync_range(self) -> None:
        h = self.feed.history
        self._quiet = True
        try:
            if not len(h):
                self.slider.min, self.slider.max, self.slider.value = 0, 0, 0
                self.slider.disabled = True
            else:
                lo, hi = int(h.steps[0]), int(h.steps[-1])
                self.slider.disabled = False
                if hi > self.slider.max:
                    self.slider.max = hi
                self.slider.min = lo
                self.slider.max = hi
                if self.feed.live and self.follow.value:
                    self.slider.value = hi
        finally:
            self._quiet = False
        self._show_label()

    def scrub(self, step: int | None) -> None:
        """Pin the views to ``step`` (None: follow the search again)."""
        if step is None:
            self.follow.value = True
            self.sync_range()
            for v in self.views:
                v.show_step(None)
            return
        h = self.feed.history
        if not len(h):
            raise ValueError("nothing recorded yet: take at least one step before scrubbing")
        lo, hi = int(h.steps[0]), int(h.steps[-1])
        if not lo <= step <= hi:
            raise ValueError(f"step {step} was not recorded; recorded steps are {lo}..{hi}")
        self._quiet = True
        try:
            self.follow.value = False
            self.slider.value = int(step)
        finally:
            self._quiet = False
        self._apply()

    def _apply(self) -> None:
        with self.feed.lock():
            step = self.step
            for v in self.views:
                v.show_step(step)
            self._show_label()

    def _show_label(self) -> None:
        h = self.feed.history
        step = self.step if self.step is not None else latest_step(h)
        if step is None:
            self.label.value = "<span style='color:#555'>no step recorded yet</span>"
            return
        i = h.index_of(step)
        epoch = int(h.scalar("epoch")[i])
        pin = "following the search" if self.step is None else "pinned"
        self.label.value = (f"<span style='color:#555'>step {step} · epoch {epoch + 1} · {pin} · "
                            f"genotype</span> {_genotype_text(h.genotype_at(step))}")

    def _on_slider(self, change: dict) -> None:
        if self._quiet:
            return
        if self.feed.live:
            self._quiet = True
            try:  # dragging to the newest step re-joins the live search
                self.follow.value = change["new"] >= self.slider.max
            finally:
                self._quiet = False
        self._apply()

    def _on_follow(self, change: dict) -> None:
        if self._quiet:
            return
        if change["new"]:
            self.sync_range()
        self._apply()

    def _on_step(self, ev: StepEnded) -> None:
        now = time.perf_counter()
        if now - self._t >= self.min_interval:
            self._t = now
            self.sync_range()

    def _on_session(self, kind: str, session: SearchSession) -> None:
        if kind == "reset":
            self._quiet = True
            try:
                self.follow.value = True
            finally:
                self._quiet = False
        if kind in ("idle", "reset"):
            self.sync_range()

    def close(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []


class Dashboard(W.VBox):
    """The composed dashboard widget; ``.session`` (live runs), ``.views``, ``.scrubber``; ``close()``."""

    def __init__(self, children: list[W.Widget], session: SearchSession | None, views: dict[str, Any],
                 scrubber: ScrubberView) -> None:
        super().__init__(children, layout=W.Layout(width="100%", max_width=f"{TAB_WIDTH + 40}px"))
        self.add_class("dnas-dashboard")
        self.session = session
        self.views = views
        self.scrubber = scrubber

    def close(self) -> None:  # type: ignore[override]
        """Unsubscribe every view (the session keeps running; call ``session.pause()`` to stop it)."""
        for v in self.views.values():
            v.close()
        self.scrubber.close()
        super().close()


def _title(text: str) -> W.HTML:
    return W.HTML(f"<div style='font-weight:600;font-size:14px;color:#333;margin:6px 0 2px'>{html.escape(text)}"
                  "</div>")


def dashboard(search: Any, *, static: bool | None = None, cell_types: list[str] | None = None,
              export_dir: str | os.PathLike[str] = ".", min_interval: float = 0.25, every: int = 1,
              compare_with: Any = None) -> W.Widget | StaticDashboard:
    """The workbench dashboard for a search.

    ``search``: a :class:`~widgets.controls.SearchSession`, a
    :class:`workbench.Searcher` or a :class:`workbench.SearchConfig` (live,
    with controls), or a History, a :class:`workbench.runs.Run` or a run folder
    (scrubber-driven, no controls). ``compare_with``: another run/History/
    Genotype for the genotype diff tab (default: first vs latest genotype of
    this search). ``static=True`` (or no anywidget) returns a static snapshot.
    """
    if isinstance(search, SearchConfig):
        search = SearchSession(search)
    feed = Feed(search)
    if static or (static is None and (static_requested() or not figure_widgets_available())):
        note = "static figures (FigureWidget unavailable or static=True); call .show() to refresh"
        return StaticDashboard(feed.history, cell_types=cell_types, note=note)
    kw = dict(min_interval=min_interval, every=every)
    slow = dict(min_interval=max(1.0, 4 * min_interval), every=every)  # curves: 1 Hz is plenty
    n_cells = len(cell_types or feed.space.cell_types)
    heat_w = 480 if n_cells > 1 else 520
    heat = AlphaView(feed, cell_types, curves=False, width=heat_w, **kw)
    # fixed widths: figures in a hidden tab cannot measure their container when first drawn
    alpha_curves = AlphaView(feed, cell_types, heatmaps=False, width=TAB_WIDTH, **slow)
    genotype = GenotypeView(feed, export_dir=export_dir, **slow)
    warning = ParamFreeWarning(feed, curve=False, **kw)
    pf_curve = ParamFreeWarning(feed, badge=False, width=TAB_WIDTH, **slow)
    curves = CurvesView(feed, width=TAB_WIDTH, **slow)
    diff = GenotypeDiffView(feed if compare_with is None else compare_with, feed)
    views: dict[str, Any] = {"alphas": heat, "alpha_curves": alpha_curves, "genotype": genotype,
                             "param_free": warning, "param_free_curve": pf_curve, "curves": curves}
    scrubber = ScrubberView(feed, [heat, genotype, warning])
    tab_views: list[list[Any]] = [[alpha_curves], [curves], [pf_curve], [diff]]
    tabs = W.Tab(children=[alpha_curves.widget, curves.widget, pf_curve.widget, diff.widget])
    for i, t in enumerate(("Alpha curves", "Loss & accuracy", "Parameter-free ops", "Genotype diff")):
        tabs.set_title(i, t)

    def on_tab(change: dict) -> None:  # only the open tab's figures are kept up to date
        for i, vs in enumerate(tab_views):
            for v in vs:
                if isinstance(v, GenotypeDiffView):
                    if i == change["new"]:
                        v.refresh()
                else:
                    v.set_visible(i == change["new"])

    tabs.observe(on_tab, "selected_index")
    on_tab({"new": tabs.selected_index or 0})
    heat_box = W.VBox([_title("Architecture weights"), heat.widget],
                      layout=W.Layout(width=f"{heat_w * n_cells + 10}px", flex="0 0 auto"))
    graph = W.VBox([_title("Derived genotype"), genotype.widget],
                   layout=W.Layout(flex="1 1 auto", min_width="0", overflow="hidden", margin="0 0 0 12px"))
    children: list[W.Widget] = []
    session = feed.session
    if session is not None:
        panel = ControlPanel(session, min_interval=min_interval)
        swapper = OpSwapper(session, cell_types)
        views.update(controls=panel, swapper=swapper)
        children.append(panel.widget)
        heat_box.children = heat_box.children + (_title("Candidate ops"), swapper.widget)
    children.append(warning.widget)
    if n_cells > 1:  # DARTS: two heatmaps side by side, the graph below
        children += [heat_box, graph]
    else:
        children.append(W.HBox([heat_box, graph], layout=W.Layout(align_items="flex-start")))
    children += [_title("Time scrubber"), scrubber.widget, tabs]
    return Dashboard(children, session, views, scrubber)

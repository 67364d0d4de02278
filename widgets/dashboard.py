"""One call for the whole workbench view of a search: ``dashboard(search)``.

Assembles the live form of every panel of :data:`widgets.panels.PANELS` that
applies to the search's space into one ipywidgets layout sized for a laptop
screen (~1150 px wide): the run controls and the collapse warning on top,
the mixing-weight heatmaps (with the op swapper) beside the decoded
architecture, a time scrubber over the recorded steps, and tabs for the
rest. For a running or paused search it has the run controls and the op
swapper; for a finished History or a run folder reloaded with
:func:`workbench.runs.load_run` it shows the same views driven by the
scrubber only. Where plotly's FigureWidget cannot be built (no anywidget),
or with ``static=True`` / ``DNAS_STATIC_WIDGETS=1``, it returns a
:class:`~widgets.fallback.StaticDashboard` snapshot instead of failing.
"""
from __future__ import annotations

import html
import logging
import os
from typing import Any

import ipywidgets as W

from widgets.choices import choice_groups
from widgets.fallback import StaticDashboard, figure_widgets_available, static_requested
from widgets.panels import PANELS, LiveContext
from widgets.views import Feed, ScrubberView
from workbench import SearchConfig
from workbench.app.session import SearchSession

log = logging.getLogger(__name__)

__all__ = ["ScrubberView", "Dashboard", "dashboard"]

TAB_WIDTH = 960  # px: the figures in the tabs; the dashboard fits a 1280-1440 px laptop screen


class Views(dict):
    """The dashboard's views by panel name; ``"alphas"`` is another name for the ``"heatmap"`` view."""

    ALIASES = {"alphas": "heatmap"}

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(self.ALIASES.get(key, key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self.ALIASES.get(key, key) if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(self.ALIASES.get(key, key), default)


class Dashboard(W.VBox):
    """The composed dashboard widget; ``.session`` (live runs), ``.views`` (by panel name), ``.scrubber``; ``close()``."""

    def __init__(self, children: list[W.Widget], session: SearchSession | None, views: dict[str, Any],
                 scrubber: ScrubberView) -> None:
        super().__init__(children, layout=W.Layout(width="100%", max_width=f"{TAB_WIDTH + 40}px"))
        self.add_class("dnas-dashboard")
        self.session = session
        self.views = Views(views)
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
    """The workbench dashboard for a search, in any search space.

    ``search``: a :class:`~workbench.app.session.SearchSession`, a
    :class:`workbench.Searcher` or a :class:`workbench.SearchConfig` (live,
    with controls), or a History, a :class:`workbench.runs.Run` or a run folder
    (scrubber-driven, no controls). ``cell_types``: the choice groups shown
    (default: all). ``compare_with``: another run/History/Genotype for the
    genotype diff tab of a cell space (default: first vs latest genotype of
    this search). ``static=True`` (or no anywidget) returns a static snapshot.
    """
    if isinstance(search, SearchConfig):
        search = SearchSession(search)
    feed = Feed(search)
    if static or (static is None and (static_requested() or not figure_widgets_available())):
        note = "static figures (FigureWidget unavailable or static=True); call .show() to refresh"
        return StaticDashboard(feed.history, cell_types=cell_types, note=note)
    space = feed.space
    groups = [g.name for g in choice_groups(space, cell_types)]
    n_groups = len(groups)
    heat_w = 480 if n_groups > 1 else 520
    # fixed widths: figures in a hidden tab cannot measure their container when first drawn
    ctx = LiveContext(feed, groups, width=TAB_WIDTH, heat_width=heat_w, export_dir=export_dir,
                      min_interval=min_interval, every=every, compare_with=compare_with)
    session = feed.session
    panels = [p for p in PANELS.for_space(space) if p.live is not None and (session is not None or not p.needs_session)]
    views: dict[str, Any] = {p.name: p.live(ctx) for p in panels}
    h = feed.history
    scrubber = ScrubberView(feed, [views[p.name] for p in panels if p.follows_scrubber])
    tab_panels = [p for p in panels if p.slot == "tab"]
    tabs = W.Tab(children=[views[p.name].widget for p in tab_panels])
    for i, p in enumerate(tab_panels):
        tabs.set_title(i, p.heading(h))

    def on_tab(change: dict) -> None:  # only the open tab's figures are kept up to date
        for i, p in enumerate(tab_panels):
            views[p.name].set_visible(i == change["new"])

    tabs.observe(on_tab, "selected_index")
    on_tab({"new": tabs.selected_index or 0})
    weights: list[W.Widget] = []
    for p in panels:
        if p.slot == "weights":
            weights += [_title(p.heading(h)), views[p.name].widget]
    heat_box = W.VBox(weights, layout=W.Layout(width=f"{heat_w * n_groups + 10}px", flex="0 0 auto"))
    graph = W.VBox([w for p in panels if p.slot == "graph" for w in (_title(p.heading(h)), views[p.name].widget)],
                   layout=W.Layout(flex="1 1 auto", min_width="0", overflow="hidden", margin="0 0 0 12px"))
    children: list[W.Widget] = [views[p.name].widget for p in panels if p.slot == "top"]
    if n_groups > 1:  # DARTS: two heatmaps side by side, the graph below
        children += [heat_box, graph]
    else:
        children.append(W.HBox([heat_box, graph], layout=W.Layout(align_items="flex-start")))
    children += [_title("Time scrubber"), scrubber.widget, tabs]
    return Dashboard(children, session, views, scrubber)

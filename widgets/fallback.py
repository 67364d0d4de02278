"""Static figures for frontends where anywidget (and so plotly's FigureWidget) cannot render.

Since plotly 6, ``go.FigureWidget`` is an anywidget; without anywidget it
raises when constructed, and some VS Code set-ups cannot load anywidget's
frontend (plotly/plotly.py#5027, microsoft/vscode-jupyter#14761; see
ECOSYSTEM.md 4.1). There, the dashboard degrades to a snapshot: the
static form of every panel of :data:`widgets.panels.PANELS` (the same figure
functions as the live views), displayed through plotly's own mimetype
(``application/vnd.plotly.v1+json``, no widgets) and the architecture as
inline SVG. Call ``.show()`` again (or ``dashboard(...)``) to refresh the snapshot.

Force it with ``dashboard(..., static=True)`` or the environment variable
``DNAS_STATIC_WIDGETS=1``.
"""
from __future__ import annotations

import html
import logging
import os
from typing import Any

import plotly.graph_objects as go

from widgets.choices import choice_groups
from widgets.panels import PANELS
from workbench.history import History

log = logging.getLogger(__name__)

__all__ = ["figure_widgets_available", "static_requested", "StaticDashboard"]


def static_requested() -> bool:
    """True when ``DNAS_STATIC_WIDGETS`` is set to 1/true/yes."""
    return os.environ.get("DNAS_STATIC_WIDGETS", "").strip().lower() in ("1", "true", "yes")


def figure_widgets_available() -> bool:
    """Whether ``go.FigureWidget`` can be built here (anywidget installed and importable)."""
    try:
        go.FigureWidget()
    except Exception as exc:  # ImportError from plotly's missing-anywidget stub, or a broken install
        log.warning("plotly FigureWidget unavailable (%s); using static figures", exc)
        return False
    return True


class StaticDashboard:
    """A snapshot of a search as static output: the static form of every panel that applies to its space.

    ``figures()`` are the plotly figures by name (``heatmap/<group>``,
    ``alpha_curves/<group>``, ``loss``; cell spaces also ``param_free``),
    ``genotype_html()`` the decoded architecture's drawing, and ``views``
    everything shown, by section: one per choice group (its heatmap and
    alpha curves), then the other panels by name (``genotype``, ``curves``,
    ``param_free_curve``).
    """

    def __init__(self, history: History, step: int | None = None, cell_types: list[str] | None = None,
                 note: str | None = None) -> None:
        self.history = history
        self.step = step
        self.cell_types = [g.name for g in choice_groups(history.space, cell_types)]
        self.note = note

    def shown_step(self) -> int | None:
        if self.step is not None:
            return self.step
        return int(self.history.steps[-1]) if len(self.history) else None

    def panels(self) -> dict[str, dict[str, Any]]:
        """The static output of every panel, by panel name, then by item name (figures and HTML)."""
        step = self.shown_step()  # None before the first step: uniform weights, empty curves, as the live views
        return {p.name: p.static(self.history, step, self.cell_types)
                for p in PANELS.for_space(self.history.space) if p.static is not None}

    @property
    def views(self) -> dict[str, list[Any]]:
        """What :meth:`show` displays, by section: each choice group's figures, then each other panel's."""
        out: dict[str, list[Any]] = {g: [] for g in self.cell_types}
        for name, items in self.panels().items():
            for key, item in items.items():
                group = key.split("/", 1)[1] if "/" in key else None
                out.setdefault(group if group in out else name, []).append(item)
        return {k: v for k, v in out.items() if v}

    def figures(self) -> dict[str, go.Figure]:
        """The static figures by name (heatmap/<group>, alpha_curves/<group>, loss, param_free)."""
        return {k: v for items in self.panels().values() for k, v in items.items() if isinstance(v, go.Figure)}

    def genotype_html(self) -> str:
        return PANELS.get("genotype").static(self.history, self.shown_step(), self.cell_types)["genotype"]

    def show(self, step: int | None = None) -> None:
        """Display the snapshot (at ``step``, default the latest), panel by panel."""
        from IPython.display import HTML, display

        if step is not None:
            self.step = step
        head = f"<b>static dashboard</b> · {len(self.history)} recorded steps"
        if self.note:
            head += f" · {html.escape(self.note)}"
        display(HTML(f"<div style='color:#555'>{head}</div>"))
        for items in self.panels().values():
            for item in items.values():
                display(item if isinstance(item, go.Figure) else HTML(item))

    def _ipython_display_(self) -> None:
        self.show()

    def __repr__(self) -> str:
        return f"StaticDashboard({len(self.history)} steps, showing step {self.shown_step()})"


def as_history(obj: Any) -> History:
    """The History behind a session, Run, History or run folder."""
    from widgets.views import Feed
    return Feed(obj).history

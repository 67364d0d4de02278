"""Static figures for frontends where anywidget (and so plotly's FigureWidget) cannot render.

Since plotly 6, ``go.FigureWidget`` is an anywidget; without anywidget it
raises when constructed, and some VS Code set-ups cannot load anywidget's
frontend (plotly/plotly.py#5027, microsoft/vscode-jupyter#14761; see
ECOSYSTEM.md 4.1). There, the dashboard degrades to a snapshot: the same
figure functions, displayed through plotly's own mimetype
(``application/vnd.plotly.v1+json``, no widgets) and the genotype as inline
SVG. Call ``.show()`` again (or ``dashboard(...)``) to refresh the snapshot.

Force it with ``dashboard(..., static=True)`` or the environment variable
``DNAS_STATIC_WIDGETS=1``.
"""
from __future__ import annotations

import html
import logging
import os
from typing import Any

import plotly.graph_objects as go

from widgets import figures as F
from widgets import graph as G
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
    """A snapshot of a search: heatmaps, genotype graph, curves, collapse count, as static output."""

    def __init__(self, history: History, step: int | None = None, cell_types: list[str] | None = None,
                 note: str | None = None) -> None:
        self.history = history
        self.step = step
        self.cell_types = list(cell_types or history.space.cell_types)
        self.note = note

    def shown_step(self) -> int | None:
        if self.step is not None:
            return self.step
        return int(self.history.steps[-1]) if len(self.history) else None

    def figures(self) -> dict[str, go.Figure]:
        """The static figures by name (heatmap/<cell>, alpha_curves/<cell>, loss, param_free)."""
        h, step = self.history, self.shown_step()
        space = h.space
        out: dict[str, go.Figure] = {}
        if step is None:
            return out
        g = h.genotype_at(step)
        for c in self.cell_types:
            out[f"heatmap/{c}"] = F.alpha_heatmap(
                h.weights_at(step)[c], space.ops, F.edge_labels(space), title=f"softmax(α) · {c} cell · step {step}",
                mask=h.masks_at(step)[c], genotype_edges=F.genotype_edge_ops(space, g, c))
            out[f"alpha_curves/{c}"] = F.alpha_curves(h, c)
        out["loss"] = F.loss_curves(h)
        out["param_free"] = F.param_free_curve(h)
        return out

    def genotype_html(self) -> str:
        step = self.shown_step()
        if step is None:
            return "<i>no step recorded yet</i>"
        g = self.history.genotype_at(step)
        dot = G.genotype_dot(g, weights=G.genotype_weights(g, self.history.weights_at(step), self.history.space.ops),
                             title=f"derived genotype · step {step}")
        try:
            return G.render_svg(dot)
        except G.GraphvizNotFoundError:
            return f"<pre>{html.escape(dot)}</pre>"

    def show(self, step: int | None = None) -> None:
        """Display the snapshot (at ``step``, default the latest)."""
        from IPython.display import HTML, display

        if step is not None:
            self.step = step
        head = f"<b>static dashboard</b> · {len(self.history)} recorded steps"
        if self.note:
            head += f" · {html.escape(self.note)}"
        display(HTML(f"<div style='color:#555'>{head}</div>"))
        figs = self.figures()
        for name, fig in figs.items():
            if name.startswith("heatmap/"):
                display(fig)
        display(HTML(self.genotype_html()))
        for name, fig in figs.items():
            if not name.startswith("heatmap/"):
                display(fig)

    def _ipython_display_(self) -> None:
        self.show()

    def __repr__(self) -> str:
        return f"StaticDashboard({len(self.history)} steps, showing step {self.shown_step()})"


def as_history(obj: Any) -> History:
    """The History behind a session, Run, History or run folder."""
    from widgets.views import Feed
    return Feed(obj).history

"""A clickable graph: an inline SVG of a Graphviz drawing whose edges report clicks (an anywidget).

The perturbation probe (:class:`widgets.views.probe.ProbeView`) lets the user
pick a cell edge by clicking it in the drawn genotype: the browser sends the
clicked edge's title (``<cell>_s<src>-><cell>_s<dst>``, as
:mod:`workbench.spaces.cell.draw` names edges) and :func:`edge_from_title`
maps it back to (cell type, edge index). Without anywidget the SVG is shown
but clicks are not reported.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as W

__all__ = ["ClickableSVG", "edge_from_title", "CLICKABLE_GRAPH"]

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

"""The live architecture view: the architecture decoded at the shown step, drawn and as text, with export.

For any space the drawing is the space's DOT text (``space.to_dot``)
rendered by Graphviz and the text is ``space.label(arch)``. A cell space
draws its genotype as a DARTS cell graph (Liu et al., ICLR 2019) whose edge
widths are the mixing weights. The drawing follows the scrubber; SVG / DOT
export buttons write what is on screen.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as W

from widgets import graph as G
from widgets.architecture import arch_dot, arch_label
from widgets.choices import is_cell_space
from widgets.views.base import LiveView
from workbench.spaces.cell.genotype import Genotype

__all__ = ["GenotypeView", "genotype_html", "arch_text_html"]


def genotype_html(genotype: Genotype | str, **kw: Any) -> str:
    """Inline SVG of a cell genotype (or of DOT text), or the DOT text itself when Graphviz is missing.

    Keyword arguments go to :func:`widgets.graph.genotype_dot`. In a notebook:
    ``HTML(genotype_html(g))``. Any space's architecture: ``genotype_html(space.to_dot(arch))``.
    """
    dot = genotype if isinstance(genotype, str) and genotype.lstrip().startswith("digraph") else \
        G.genotype_dot(genotype, **kw)
    return G.svg_or_dot(dot)


def arch_text_html(space: Any, arch: Any) -> str:
    """``space.label(arch)`` as wrapped monospace HTML (line breaks allowed between a cell's nodes)."""
    text = html.escape(arch_label(space, arch)).replace("+", "+<wbr>").replace("), (", "), <wbr>(")
    return f"<code style='font-size:11px;overflow-wrap:anywhere'>{text}</code>"


class GenotypeView(LiveView):
    """The decoded architecture drawn (cells: a DARTS-style cell graph, edge width = mixing weight); SVG/DOT export.

    ``cell`` draws one cell type only and ``weights`` sets edge widths (cell
    spaces); ``rankdir="TB"`` draws top to bottom (a narrow column keeps its labels readable). Redrawn at most every ``min_interval`` seconds (1 s by default:
    ``dot`` takes ~20 ms) and only when the drawing changed. ``genotype`` is
    the architecture on screen, ``dot`` its DOT text.
    """

    def __init__(self, source: Any, *, cell: str | None = None, weights: bool = True,
                 export_dir: str | os.PathLike[str] = ".", min_interval: float = 1.0, rankdir: str | None = None,
                 **kw: Any) -> None:
        super().__init__(source, min_interval=min_interval, **kw)
        self.rankdir = rankdir
        self.cell, self.show_weights, self.export_dir = cell, weights, Path(export_dir)
        self.genotype: Any = None
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

    @property
    def what(self) -> str:
        return "genotype" if is_cell_space(self.feed.space) else "architecture"

    def _dot(self, arch: Any, step: int) -> str:
        weights = self.history.weights_at(step) if self.show_weights else None
        dot = arch_dot(self.feed.space, arch, cell=self.cell, weights=weights,
                       title=f"derived {self.what} · step {step}")
        return G.with_rankdir(dot, self.rankdir) if self.rankdir else dot

    def _draw(self) -> None:
        step = self.shown_step()
        if step is None:
            self.genotype = None
            self.html.value = f"<i>no {self.what} yet: it is derived after the first step</i>"
            self.text.value = ""
            return
        arch = self.history.genotype_at(step)
        dot = self._dot(arch, step)
        self.genotype = arch
        if dot != self.dot:
            self.dot = dot
            self.html.value = G.svg_or_dot(dot)
            self.text.value = arch_text_html(self.feed.space, arch)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write the architecture on screen to ``path`` (.svg, .dot, .png, .pdf)."""
        if self.genotype is None:
            raise ValueError(f"no {self.what} to export yet: take at least one search step")
        return G.export(self._dot(self.genotype, self.shown_step()), path)

    def _export_clicked(self, suffix: str) -> None:
        try:
            self.export_dir.mkdir(parents=True, exist_ok=True)
            p = self.export(self.export_dir / f"{self.what}_step{self.shown_step()}{suffix}")
            self.message.value = f"wrote <code>{html.escape(str(p))}</code>"
        except Exception as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"

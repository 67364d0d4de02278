"""DOT text -> inline SVG with Graphviz: one renderer for the widgets' drawings and ``genotype --draw x.svg``.

Here, in the application layer, and not in :mod:`widgets.graph` (which re-exports it), so that the command line
renders without importing ``widgets`` (its package loads the dashboards: plotly and torch, seconds). The
``graphviz`` package is imported only when something is rendered.
"""
from __future__ import annotations

import shutil

__all__ = ["GraphvizNotFoundError", "render_svg"]


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` binary is not on PATH."""


def render_svg(dot: str) -> str:
    """SVG markup of DOT text (XML prolog and doctype stripped, ready to inline in HTML)."""
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError("the Graphviz 'dot' program is not on PATH; install it with "
                                    "`apt-get install graphviz` (Debian/Ubuntu), `conda install graphviz` or "
                                    "`brew install graphviz`, or export the DOT text with export(..., 'x.dot')")
    import graphviz  # type: ignore[import-untyped]  # local: only needed for rendering

    svg = graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    i = svg.find("<svg")
    return svg[i:] if i >= 0 else svg

"""Rendering architecture drawings: DOT text (from ``space.to_dot`` or the cell drawings) -> SVG via Graphviz.

The engine only writes DOT text (:meth:`workbench.spaces.SearchSpace.to_dot`;
cell genotypes: :mod:`workbench.spaces.cell.draw`, re-exported here);
rendering needs the Graphviz ``dot`` binary. :func:`render_svg` returns
inline SVG, :func:`svg_or_dot` degrades to the DOT text with the install hint
when ``dot`` is missing, and :func:`export` writes SVG, DOT, PNG or PDF.
"""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from workbench.app.render import GraphvizNotFoundError, render_svg
from workbench.spaces.cell.draw import genotype_diff_dot, genotype_dot, genotype_weights
from workbench.spaces.cell.genotype import Genotype

__all__ = ["GraphvizNotFoundError", "genotype_dot", "genotype_diff_dot", "genotype_weights", "render_svg",
           "svg_or_dot", "export", "EXPORT_FORMATS", "with_rankdir"]

EXPORT_FORMATS = (".svg", ".dot", ".png", ".pdf")

EdgeKey = tuple[str, int, int, str]  # (cell name, node index, source state, op)


def with_rankdir(dot: str, rankdir: str) -> str:
    """DOT text drawn in another direction (``"TB"``: top to bottom, for a narrow column; ``"LR"``).

    A root-graph attribute set last wins, so it is appended before the closing brace.
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")
    end = dot.rstrip().rfind("}")
    return dot[:end] + f"  graph [rankdir={rankdir}];\n" + dot[end:]


def svg_or_dot(dot: str) -> str:
    """Inline SVG of DOT text, or the DOT text itself when Graphviz is missing (with the install hint).

    The SVG is made fluid (it shrinks to its container's width, keeping its aspect ratio), so a wide
    drawing never overflows a dashboard column.
    """
    try:
        return _fluid(render_svg(dot))
    except GraphvizNotFoundError as exc:
        return (f"<div style='color:#b26a00'>{html.escape(str(exc))}</div>"
                f"<pre style='font-size:11px'>{html.escape(dot)}</pre>")


def _fluid(svg: str) -> str:
    head_end = svg.find(">")
    head = re.sub(r'\sheight="[^"]*"', "", svg[:head_end])  # keep the natural width, at most the column's
    return head + ' style="max-width:100%;height:auto"' + svg[head_end:]


def export(genotype: Genotype | str, path: str | Path, **kw: object) -> Path:
    """Write a drawing; the suffix picks the format (.svg, .dot, .png, .pdf).

    ``genotype``: a cell Genotype (keyword arguments go to :func:`genotype_dot`) or DOT text
    (any space's ``space.to_dot(arch)``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"cannot export to {path.name!r}: unknown suffix {suffix or '(none)'!r}; "
                         f"accepted: {', '.join(EXPORT_FORMATS)}")
    if isinstance(genotype, str) and genotype.lstrip().startswith("digraph"):
        dot = genotype
    else:
        dot = genotype_dot(genotype, **kw)  # type: ignore[arg-type]
    if suffix == ".dot":
        path.write_text(dot, encoding="utf-8")
    elif suffix == ".svg":
        path.write_text(render_svg(dot), encoding="utf-8")
    else:
        if shutil.which("dot") is None:
            render_svg(dot)  # raises the install hint
        import graphviz

        path.write_bytes(graphviz.Source(dot).pipe(format=suffix[1:]))
    return path

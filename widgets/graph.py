"""Genotype drawings: DOT text from the space (:mod:`workbench.spaces.cell.draw`), rendered by Graphviz's ``dot``.

Rendering needs the Graphviz ``dot`` binary; :func:`export` writes SVG, DOT, PNG or PDF.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from workbench.spaces.cell.draw import genotype_diff_dot, genotype_dot, genotype_weights
from workbench.spaces.cell.genotype import Genotype

__all__ = ["GraphvizNotFoundError", "genotype_dot", "genotype_diff_dot", "genotype_weights", "render_svg",
           "export", "EXPORT_FORMATS"]

EXPORT_FORMATS = (".svg", ".dot", ".png", ".pdf")

EdgeKey = tuple[str, int, int, str]  # (cell name, node index, source state, op)


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` binary is not on PATH."""


def render_svg(dot: str) -> str:
    """SVG markup of DOT text (XML prolog and doctype stripped, ready to inline in HTML)."""
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError("the Graphviz 'dot' program is not on PATH; install it with "
                                    "`apt-get install graphviz` (Debian/Ubuntu), `conda install graphviz` or "
                                    "`brew install graphviz`, or export the DOT text with export(..., 'x.dot')")
    import graphviz  # local: only needed for rendering

    svg = graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    i = svg.find("<svg")
    return svg[i:] if i >= 0 else svg


def export(genotype: Genotype | str, path: str | Path, **kw: object) -> Path:
    """Write a genotype drawing; the suffix picks the format (.svg, .dot, .png, .pdf).

    Keyword arguments go to :func:`genotype_dot`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"cannot export to {path.name!r}: unknown suffix {suffix or '(none)'!r}; "
                         f"accepted: {', '.join(EXPORT_FORMATS)}")
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

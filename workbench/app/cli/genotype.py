"""``python -m workbench genotype``: convert a cell genotype between DARTS text, NB201 strings and JSON; draw it.

Accepts DARTS text, an NB201 string, JSON, a published name (``DARTS_V2``, ...),
a file (also a run's ``summary.json``) or ``-`` for stdin. Drawings are DOT
text from the engine (:mod:`workbench.spaces.cell.draw`); SVG is rendered with
the Graphviz package and ``dot`` program as :func:`widgets.graph.render_svg`
does (without importing ``widgets``, which loads plotly and torch); without
Graphviz it falls back to writing the DOT text, with widgets.graph's install hint.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import UsageError, int_arg

if TYPE_CHECKING:  # pragma: no cover
    from workbench.spaces.cell.genotype import Genotype

#: longest argument tried as a file name (longer ones are genotype text; PATH_MAX is 4096 on Linux)
MAX_PATH_CHARS = 1024


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file: only short, one-line text is tried, and a name the OS
    refuses (too long, NUL, ...) is not a file."""
    if not text or len(text) > MAX_PATH_CHARS or "\n" in text or "\x00" in text:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def read_genotype(text: str) -> Genotype:
    """A genotype from text, a published name, a file (summary.json included) or ``-`` (stdin)."""
    from workbench.spaces.cell.genotype import Genotype

    if text == "-":
        text = sys.stdin.read()
    elif _is_file(text):
        text = Path(text).read_text(encoding="utf-8")
        try:  # a summary.json / epochs line holding {"genotype": {...}}
            d = json.loads(text)
            if isinstance(d, dict) and isinstance(d.get("genotype"), dict):
                return Genotype.from_dict(d["genotype"])
        except json.JSONDecodeError:
            pass
    return Genotype.parse(text)


def draw(g: Genotype, path: Path) -> None:
    """Write ``g`` as ``path`` (.dot: DOT text; .svg: rendered, or DOT next to it when rendering fails)."""
    if path.suffix not in (".svg", ".dot"):
        raise UsageError(f"--draw {path}: the file name must end in .svg or .dot")
    from workbench.spaces.cell.draw import genotype_dot
    dot = genotype_dot(g)
    if path.suffix == ".dot":
        path.write_text(dot, encoding="utf-8")
        print(f"workbench: wrote {path}", file=sys.stderr)
        return
    from workbench.app.render import render_svg
    try:
        svg = render_svg(dot)
    except Exception as exc:  # noqa: BLE001 - no Graphviz (the error says how to install it), or rendering failed
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(dot, encoding="utf-8")
        print(f"workbench: cannot render SVG ({exc}); wrote DOT to {dot_path}", file=sys.stderr)
        return
    path.write_text(svg, encoding="utf-8")
    print(f"workbench: wrote {path}", file=sys.stderr)


def cmd_genotype(args: argparse.Namespace) -> int:
    from workbench.spaces.cell import zoo
    if args.list:
        for name in zoo.published_names():
            print(f"{name:16s} {zoo.SOURCES.get(name, '')}")
        return 0
    if args.genotype is None:
        raise UsageError("give a genotype (DARTS text, NB201 string, JSON, a published name, a file, or - for "
                         "stdin), or --list for the published names")
    g = read_genotype(args.genotype)
    if args.to == "darts":
        print(g.to_darts_str())
    elif args.to == "nb201":
        print(g.to_nb201_str())
    elif args.to == "json":
        print(g.to_json(indent=args.indent))
    else:
        forms = {"darts": g.to_darts_str if g.is_darts() else None,
                 "nb201": g.to_nb201_str if g.is_nb201() else None, "json": g.to_json}
        for name, fn in forms.items():
            if fn is not None:
                print(f"{name:6s} {fn()}")
    if args.draw:
        draw(g, Path(args.draw))
    return 0


def add_parser(sub: Any) -> None:
    g = sub.add_parser("genotype", help="convert or draw a genotype")
    g.add_argument("genotype", nargs="?", help="DARTS text, NB201 string, JSON, a published name, a file, or -")
    g.add_argument("--to", choices=("darts", "nb201", "json"), help="print only this form")
    g.add_argument("--indent", type=int_arg, help="indent JSON output")
    g.add_argument("--draw", metavar="OUT", help="draw the cells to OUT.svg or OUT.dot")
    g.add_argument("--list", action="store_true", help="list the published genotypes")
    g.set_defaults(func=cmd_genotype)

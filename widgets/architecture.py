"""An architecture as text, drawing and HTML, for any search space.

The text is the space's own one-line ``space.label(arch)``; the drawing is
the space's DOT text ``space.to_dot(arch)`` rendered by Graphviz
(:mod:`widgets.graph`). Cell spaces draw their genotype as a DARTS cell
graph (Liu et al., ICLR 2019, Fig. 1) with each edge's width set by its
mixing weight. The HTML fragments (the choice of every row, the table of
architectures per epoch) use the report's stylesheet (:mod:`widgets.report`).
"""
from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from widgets.choices import choice_groups, fits, is_cell_space, kept_options
from widgets.graph import genotype_dot, genotype_weights, svg_or_dot
from widgets.metrics import fmt_metric, metric_label, primary_metric
from workbench.history import History
from workbench.spaces.cell.genotype import CellGenotype, Genotype
from workbench.spaces.palette import op_color

__all__ = ["arch_label", "arch_dot", "arch_html", "choices_html", "epochs_table_html", "final_architecture"]


def arch_label(space: Any, arch: Any) -> str:
    """One line of text for ``arch`` (the space's ``label``)."""
    try:
        return space.label(arch)
    except Exception:  # an architecture the space cannot describe: its own text form
        return str(arch)


def arch_dot(space: Any, arch: Any, *, title: str | None = None, weights: Mapping[str, np.ndarray] | None = None,
             cell: str | None = None, highlight: Any = None) -> str:
    """DOT text of ``arch``: the space's ``to_dot``; a cell genotype with edge widths from ``weights``.

    ``weights``: per-group (rows, options) probabilities (e.g. ``history.weights_at(step)``);
    ``cell`` / ``highlight``: one cell only / edges drawn red (cell spaces, see
    :func:`widgets.graph.genotype_dot`).
    """
    if is_cell_space(space) and isinstance(arch, Genotype):
        w = None
        if weights is not None and fits(space, arch):
            w = genotype_weights(arch, weights, space.ops)
        return genotype_dot(arch, cell=cell, weights=w, highlight=highlight, title=title)
    return space.to_dot(arch, title=title)


def arch_html(space: Any, arch: Any, **kw: Any) -> str:
    """Inline SVG of :func:`arch_dot` (or the DOT text when Graphviz is missing)."""
    return svg_or_dot(arch_dot(space, arch, **kw))


def final_architecture(history: History) -> Any:
    """The architecture a run ended with: RunFinished's, else the last epoch's, else the last step's; None."""
    if history.finished is not None:
        return history.finished.genotype
    if history.epochs:
        return history.epochs[-1].genotype
    if len(history):
        return history.genotype_at(int(history.steps[-1]))
    return None


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _chip(text: str, op: str) -> str:
    return f'<span class="op" style="border-color:{op_color(op)}">{_esc(text)}</span>'


def _cell_chips(cell: CellGenotype) -> str:
    def state(s: int) -> str:
        if cell.n_inputs == 2 and s < 2:
            return ("k-2", "k-1")[s]
        return str(s if cell.n_inputs == 1 else s - cell.n_inputs)

    parts = []
    for i, node in enumerate(cell.nodes):
        name = str(i + 1) if cell.n_inputs == 1 else str(i)
        chips = "".join(_chip(f"{op}←{state(src)}", op) for op, src in node)
        parts.append(f'<span class="node"><b>{name}:</b>{chips}</span>')
    return "".join(parts)


def choices_html(space: Any, arch: Any) -> str:
    """The choice of every row as colour-coded chips, one line per group (cells: op←input per node)."""
    if isinstance(arch, Genotype):
        return "<br>".join((f'<span class="cellname">{_esc(n)}</span>' if len(arch.cells) > 1 else "")
                           + _cell_chips(c) for n, c in arch.cells)
    groups = choice_groups(space)
    lines = []
    for g in groups:
        kept = kept_options(space, arch, g.name)
        chips = "".join(f'<span class="node"><b>{_esc(row)}:</b>{_chip(kept[i], kept[i])}</span>'
                        for i, row in enumerate(g.rows) if i in kept)
        lines.append((f'<span class="cellname">{_esc(g.name)}</span>' if len(groups) > 1 else "") + chips)
    return "<br>".join(lines)


def epochs_table_html(history: History) -> str:
    """A table: per finished epoch its step, validation metric and loss, and its architecture (changes marked)."""
    metric = primary_metric(history)
    space = history.space
    rows = []
    prev: Any = None
    for r in history.epochs:
        changed = prev is not None and r.genotype != prev
        value = None if not r.val_metrics else r.val_metrics.get(metric, float("nan"))
        loss = "–" if r.val_loss is None else f"{r.val_loss:.3f}"
        badge = '<span class="badge">changed</span>' if changed else ""
        rows.append(f'<tr class="{"changed" if changed else ""}"><td class="num">{r.epoch + 1}{badge}</td>'
                    f'<td class="num">{r.step}</td><td class="num">{fmt_metric(metric, value)}</td>'
                    f'<td class="num">{loss}</td><td>{choices_html(space, r.genotype)}</td></tr>')
        prev = r.genotype
    if not rows:
        return '<p class="note">No epoch finished yet.</p>'
    what = "genotype (op←input per node)" if is_cell_space(space) else "architecture (the option of each row)"
    return (f"<table><thead><tr><th>epoch</th><th>step</th><th>val {_esc(metric_label(metric))}</th>"
            f"<th>val loss</th><th>{what}</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")

"""Cell genotype drawings as Graphviz DOT text (rendering it is the UI's job: ``widgets.graph``).

Layout follows the DARTS cell plots (Liu et al., ICLR 2019, Fig. 4;
``quark0/darts:cnn/visualize.py``): left to right, inputs ``c_{k-2}`` and
``c_{k-1}`` in green, intermediate nodes in light blue, the output ``c_{k}``
in yellow, one labelled edge per (op, input). Unlike that script we honour
the cell's ``concat`` list, so NASNet / AmoebaNet cells (partial concat) are
drawn as published. NAS-Bench-201 cells (Dong & Yang, ICLR 2020) have one
input, node 0, and their last node is the output.

Edges are coloured by op family with the palette of :mod:`workbench.spaces.palette`.
Node ids are ``<cell>_s<state>`` and ``<cell>_out``; op edges carry a
``label``, concat edges into the output do not (tests parse the text).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from workbench.spaces.cell.genotype import CellGenotype, Genotype, state_name
from workbench.spaces.palette import op_color

__all__ = ["genotype_dot", "genotype_diff_dot", "genotype_weights"]

_FONT = "Helvetica"
_NODE_FILL = {"input": "#a8dba8", "node": "#cfe6f7", "output": "#f9e79f"}
_ADDED, _REMOVED = "#d62728", "#9a9a9a"

EdgeKey = tuple[str, int, int, str]  # (cell name, node index, source state, op)


def _q(s: str) -> str:
    text = str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + text + '"'


def _attrs(**kw: object) -> str:
    return "[" + ", ".join(f"{k}={_q(str(v))}" for k, v in kw.items() if v is not None) + "]"


def _output_is_state(cell: CellGenotype) -> bool:
    """NB201-style: one input and a single concat state, which is then the output itself."""
    return cell.n_inputs == 1 and len(cell.concat) == 1


def _cell_names(g: Genotype, cell: str | None) -> list[str]:
    if cell is None:
        return list(g.cell_names)
    g.cell(cell)  # raises naming the cells this genotype has
    return [cell]


def _as_genotype(g: Genotype | str) -> Genotype:
    return g if isinstance(g, Genotype) else Genotype.parse(g)


def _node_lines(name: str, cell: CellGenotype, indent: str) -> list[str]:
    lines = []
    n_states = cell.n_inputs + cell.n_nodes
    out_state = cell.concat[0] if _output_is_state(cell) else None
    for s in range(n_states):
        kind = "input" if s < cell.n_inputs else "node"
        label = state_name(cell.n_inputs, s)
        if s == out_state:
            kind, label = "output", f"{label} (out)"
        lines.append(f"{indent}{_q(f'{name}_s{s}')} {_attrs(label=label, fillcolor=_NODE_FILL[kind])};")
    if out_state is None:
        lines.append(f"{indent}{_q(f'{name}_out')} {_attrs(label='c_{k}', fillcolor=_NODE_FILL['output'])};")
    # layout hint (invisible): nodes 0..n-1 left to right; input order: see _stack
    chain = [_q(f"{name}_s{s}") for s in range(cell.n_inputs, n_states)]
    lines += [f"{indent}{a} -> {b} [style=invis];" for a, b in zip(chain, chain[1:], strict=False)]
    return lines


def _edge_line(name: str, node: int, src: int, op: str, cell: CellGenotype, indent: str, *,
               weight: float | None = None, style: str | None = None) -> str:
    """One op edge; ``style`` is None (normal), 'added', 'removed' or 'same' (diff)."""
    color = op_color(op)
    label = op if weight is None else f"{op}\n{weight:.2f}"
    penwidth = 1.6 if weight is None else 0.8 + 4.0 * float(np.clip(weight, 0, 1))
    attrs: dict[str, object] = dict(label=label, color=color, fontcolor=color, penwidth=f"{penwidth:.2f}")
    if op == "none":
        attrs.update(style="dashed", color="#b0b0b0", fontcolor="#909090")
    if style == "added":
        attrs.update(color=_ADDED, fontcolor=_ADDED, penwidth="3.2", label=f"+ {label}")
        attrs["fontname"] = f"{_FONT}-Bold"
    elif style == "removed":
        attrs.update(color=_REMOVED, fontcolor=_REMOVED, style="dashed", penwidth="1.2", label=f"− {label}")
    elif style == "highlight":
        attrs.update(color=_ADDED, penwidth="3.2")
        attrs["fontname"] = f"{_FONT}-Bold"
    dst = cell.n_inputs + node
    return f"{indent}{_q(f'{name}_s{src}')} -> {_q(f'{name}_s{dst}')} {_attrs(**attrs)};"


def _concat_lines(name: str, cell: CellGenotype, indent: str) -> list[str]:
    if _output_is_state(cell):
        return []
    return [f"{indent}{_q(f'{name}_s{s}')} -> {_q(f'{name}_out')} {_attrs(color='#888888', arrowsize='0.7')};"
            for s in cell.concat]


def _header(title: str | None) -> list[str]:
    lines = ["digraph genotype {",
             f'  graph [rankdir=LR, newrank=true, fontname="{_FONT}", fontsize=14, nodesep=0.25, ranksep=0.55, '
             f'bgcolor="transparent", pad=0.15, labelloc=t, labeljust=l' + (f", label={_q(title)}" if title else "")
             + "];",
             f'  node [style="filled,rounded", shape=box, fontname="{_FONT}", fontsize=13, penwidth=1.2, '
             f'color="#555555", height=0.4, margin="0.12,0.06"];',
             f'  edge [fontname="{_FONT}", fontsize=11, arrowsize=0.8];']
    return lines


def _cluster(name: str, body: list[str], multi: bool) -> list[str]:
    if not multi:
        return body
    return [f"  subgraph {_q('cluster_' + name)} {{",
            f'    graph [label={_q(name + " cell")}, fontsize=13, style="rounded,filled", fillcolor="#fafafa", '
            f'color="#dddddd", labeljust=l];', *body, "  }"]


def genotype_weights(genotype: Genotype, weights: Mapping[str, np.ndarray], ops: Sequence[str]
                     ) -> dict[str, dict[tuple[int, int, str], float]]:
    """Mixing weight of each genotype edge, from per-cell (edges, ops) arrays in the space's edge order.

    Returns ``{cell: {(node, src, op): weight}}``, the form :func:`genotype_dot` takes.
    """
    out: dict[str, dict[tuple[int, int, str], float]] = {}
    ops = list(ops)
    for name, cell in genotype.cells:
        if name not in weights:
            continue
        w = np.asarray(weights[name])
        offsets = np.cumsum([0] + [cell.n_inputs + i for i in range(cell.n_nodes)])
        if w.shape != (offsets[-1], len(ops)):
            raise ValueError(f"weights[{name!r}] must have shape (edges, ops) = ({offsets[-1]}, {len(ops)}) for "
                             f"this {cell.n_nodes}-node cell, got {w.shape}")
        out[name] = {(i, src, op): float(w[offsets[i] + src, ops.index(op)])
                     for i, op, src in cell.edges() if op in ops}
    return out


def genotype_dot(genotype: Genotype | str, cell: str | None = None,
                 weights: Mapping[str, Mapping[tuple[int, int, str], float]] | None = None,
                 highlight: Collection[EdgeKey] | None = None, title: str | None = None,
                 show_none: bool = True) -> str:
    """DOT text of a genotype (all cells as side-by-side clusters, or just ``cell``).

    ``weights``: ``{cell: {(node, src, op): weight}}`` (see :func:`genotype_weights`)
    scales edge width and adds the weight to the label. ``highlight``: edges
    ``(cell, node, src, op)`` drawn red and bold. ``none`` edges are dashed
    grey, or left out with ``show_none=False``.
    """
    g = _as_genotype(genotype)
    names = _cell_names(g, cell)
    hl = set(highlight or ())
    lines = _header(title)
    multi = len(names) > 1
    ind = "    " if multi else "  "
    for name in names:
        c = g.cell(name)
        body = _node_lines(name, c, ind)
        cw = (weights or {}).get(name, {})
        for node, op, src in c.edges():
            if op == "none" and not show_none:
                continue
            style = "highlight" if (name, node, src, op) in hl else None
            body.append(_edge_line(name, node, src, op, c, ind, weight=cw.get((node, src, op)), style=style))
        body += _concat_lines(name, c, ind)
        lines += _cluster(name, body, multi)
    lines += _stack(g, names)
    lines.append("}")
    return "\n".join(lines) + "\n"


def genotype_diff_dot(a: Genotype | str, b: Genotype | str, cell: str | None = None,
                      title: str | None = None) -> str:
    """One drawing of ``b`` with its edges compared to ``a``: added red/bold, removed dashed grey, same normal.

    Edges are compared as multisets of ``(node, src, op)`` per cell; a cell of
    ``b`` missing from ``a`` counts as all-new. A legend explains the styles.
    """
    ga, gb = _as_genotype(a), _as_genotype(b)
    names = _cell_names(gb, cell)
    lines = _header(title)
    multi = len(names) > 1
    ind = "    " if multi else "  "
    for name in names:
        cb = gb.cell(name)
        ca = ga.cell(name) if name in ga.cell_names else None
        eb = Counter((n, s, op) for n, op, s in cb.edges())
        ea = Counter((n, s, op) for n, op, s in ca.edges()) if ca is not None else Counter()
        body = _node_lines(name, cb, ind)
        n_states = cb.n_inputs + cb.n_nodes
        same, added, removed = eb & ea, eb - ea, ea - eb
        for (n, s, op), k in sorted(same.items()):
            body += [_edge_line(name, n, s, op, cb, ind, style="same")] * k
        for (n, s, op), k in sorted(added.items()):
            body += [_edge_line(name, n, s, op, cb, ind, style="added")] * k
        for (n, s, op), k in sorted(removed.items()):
            if cb.n_inputs + n < n_states and s < n_states:  # a's node exists in b's drawing
                body += [_edge_line(name, n, s, op, cb, ind, style="removed")] * k
        body += _concat_lines(name, cb, ind)
        lines += _cluster(name, body, multi)
    lines += _legend()  # before _stack, so the legend nodes get the legend cluster's node style
    lines += _stack(gb, names, extra=[f"legend_a{k}" for k in range(3)])
    lines.append("}")
    return "\n".join(lines) + "\n"


def _stack(g: Genotype, names: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Fix the top-to-bottom order of the inputs (c_{k-2} above c_{k-1}, first cell above the next).

    An invisible root with ``ordering=out`` lists every input in order; dot
    keeps a node's out-edges in that order, which rankdir=LR turns into top to bottom.
    """
    inputs = [_q(f"{n}_s{s}") for n in names for s in range(g.cell(n).n_inputs)] + [_q(e) for e in extra]
    if len(inputs) < 2:
        return []
    return ['  "_root" [style=invis, shape=point, width=0, label="", ordering=out];'] + [
        f'  "_root" -> {i} [style=invis];' for i in inputs]


def _legend() -> list[str]:
    rows = (("added in b", _ADDED, "solid", "3"), ("removed (in a only)", _REMOVED, "dashed", "1.2"),
            ("unchanged (op colour)", "#555555", "solid", "1.6"))
    lines = ['  subgraph "cluster_legend" {',
             '    graph [label="legend", fontsize=11, style="rounded", color="#dddddd", labeljust=l];',
             '    node [shape=point, width=0.05, style=invis, label=""];']
    for k, (text, color, style, pw) in enumerate(rows):
        lines.append(f'    "legend_a{k}"; "legend_b{k}";')
        lines.append(f'    "legend_a{k}" -> "legend_b{k}" {_attrs(label=text, color=color, style=style, penwidth=pw, fontcolor=color, fontsize="10", arrowsize="0.6")};')
    lines.append("  }")
    return lines



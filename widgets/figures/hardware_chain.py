"""A chain architecture drawn as a row of blocks, with the predicted cost of each layer below it.

The chain space's own ``to_dot`` is a plain row of labelled boxes; this
drawing encodes the block itself: an MBConv block ``k<K>_e<E>`` is a box
whose **width grows with the kernel** and whose **height grows with the
expansion**, in the op palette's colour (blues 3x3, purples 5x5, darker =
wider; :mod:`workbench.spaces.palette`), ``skip`` a dashed empty box. Layers
with an identity shortcut (stride 1, C_in = C_out) carry a dashed arc below
them; stages sit on light bands labelled with their width and resolution. A
bar chart underneath gives each layer's predicted cost from the cost model
(the additive model: the total is the sum of the bars).

Trace layout: ``data[0]`` (name :data:`LAYERS`) has one invisible marker per
searchable layer, in order, with its row label, block and cost in the hover
text (``customdata`` = [row label, block]); with a cost model, ``data[1]``
(name :data:`COSTS`) is the bar chart. Everything else is layout shapes and
annotations.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import FONT, GRID, base_layout
from workbench.app.hardware import layer_costs
from workbench.methods.costs import CostModel
from workbench.spaces.palette import op_color

__all__ = ["chain_figure", "block_size", "LAYERS", "COSTS"]

LAYERS = "layers"
COSTS = "predicted cost per layer"
_STAGE_FILLS = ("#f3f6fb", "#f8f5fb")


def block_size(block: str) -> tuple[float, float]:
    """(width, height) of a block's box in the drawing: width by kernel, height by expansion."""
    if block == "skip":
        return 0.46, 0.30
    try:
        k, e = (int(part[1:]) for part in block.split("_"))
    except ValueError:
        return 0.6, 0.6
    return min(0.42 + 0.065 * k, 0.9), min(0.30 + 0.11 * e, 1.0)


def _ink(color: str) -> str:
    """Black or white text on ``color`` (#rrggbb), by luminance."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def _resolutions(space: Any, input_shape: Sequence[int] | None) -> list[tuple[int, int]] | None:
    if input_shape is None:
        return None
    from workbench.spaces.chain.costs import layer_inputs
    return [(h, w) for _, h, w in layer_inputs(space, tuple(input_shape))]


def chain_figure(space: Any, arch: Any, cost: CostModel | None = None, *,
                 probs: Mapping[str, np.ndarray] | None = None, input_shape: Sequence[int] | None = None,
                 n_outputs: int | None = None, title: str | None = "Derived architecture",
                 height: int | None = None, width: int | None = None) -> go.Figure:
    """Draw chain architecture ``arch`` of ``space`` (see the module docstring).

    ``cost``: adds the per-layer cost bars; ``probs``: the relaxed probabilities
    (per group, rows x options) listed in each layer's hover text;
    ``input_shape``: labels the stages with their resolution; ``n_outputs``:
    the classifier's size.
    """
    space.check(arch)
    group = space.choice_groups()[0]
    picks = list(arch.picks[group.name])
    plan = space.plan()
    n = len(picks)
    costs = layer_costs(space, arch, cost) if cost is not None else None
    res = _resolutions(space, input_shape)
    if costs is not None:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.7, 0.3])
    else:
        fig = go.Figure()
    kw = dict(row=1, col=1) if costs is not None else {}
    xs = np.arange(1, n + 1, dtype=float)

    # hover markers, one per layer (data[0])
    hover = []
    p_rows = None if probs is None else np.asarray(probs[group.name], dtype=float)
    for i, (row, b) in enumerate(zip(group.rows, picks, strict=True)):
        text = f"<b>{row}</b><br>{b}"
        if costs is not None:
            text += f"<br>predicted {costs[i]:.4g} {cost.unit}"  # type: ignore[union-attr]
        if p_rows is not None:
            top = np.argsort(-p_rows[i])[:3]
            text += "<br>" + ", ".join(f"{group.options[j]} {p_rows[i, j]:.0%}" for j in top if p_rows[i, j] > 0)
        hover.append(text)
    fig.add_trace(go.Scatter(x=xs, y=np.zeros(n), name=LAYERS, mode="markers", hovertext=hover, hoverinfo="text",
                             customdata=[[r, b] for r, b in zip(group.rows, picks, strict=True)],
                             marker=dict(size=34, color="rgba(0,0,0,0)"), showlegend=False), **kw)

    shapes: list[dict] = []
    notes: list[dict] = []
    xref, yref = ("x", "y")

    def box(x: float, w: float, h: float, fill: str, line: str, dash: str = "solid") -> None:
        shapes.append(dict(type="rect", xref=xref, yref=yref, x0=x - w / 2, x1=x + w / 2, y0=-h / 2, y1=h / 2,
                           fillcolor=fill, line=dict(color=line, width=1.4, dash=dash), layer="above"))

    def text(x: float, y: float, s: str, size: int = 11, color: str = "#333", **extra: Any) -> None:
        notes.append(dict(x=x, y=y, xref=xref, yref=yref, text=s, showarrow=False, font=dict(size=size, color=color),
                          **extra))

    # stage bands (layers of one width in a row), labelled with width and resolution
    stage_start = 0
    for s_idx in range(len(space.widths)):
        first, last = stage_start, stage_start + space.layers_per_stage - 1
        stage_start += space.layers_per_stage
        shapes.append(dict(type="rect", xref=xref, yref=yref, x0=first + 0.5, x1=last + 1.5, y0=-0.92, y1=1.02,
                           fillcolor=_STAGE_FILLS[s_idx % 2], line=dict(width=0), layer="below"))
        where = f" · {res[first][0]}×{res[first][1]}→" if res is not None else ""
        if res is not None:
            h_out = res[last + 1][0] if last + 1 < n else -(-res[last][0] // plan[last].stride)
            where += f"{h_out}×{h_out}"
        text((first + last) / 2 + 1, 0.93, f"stage {s_idx + 1} · {space.widths[s_idx]} ch{where}", 11, "#555")

    # stem and head
    box(0, 0.55, 0.5, "#e8e8e8", "#888")
    text(0, 0, "stem<br>3×3", 10, "#333")
    text(0, -0.55, f"→{space.stem} ch", 9, "#777")
    box(n + 1, 0.55, 0.5, "#e8e8e8", "#888")
    text(n + 1, 0, "pool<br>+ FC", 10, "#333")
    if n_outputs is not None:
        text(n + 1, -0.55, f"→{n_outputs}", 9, "#777")

    # blocks, shortcuts and arrows
    for i, (b, p) in enumerate(zip(picks, plan, strict=True)):
        x = xs[i]
        w, h = block_size(b)
        if b == "skip":
            box(x, w, h, "#ffffff", "#f28e2b", "dash")
            text(x, 0, "skip", 10, "#b25f00")
        else:
            color = op_color(b)
            box(x, w, h, color, "#333")
            k, e = b.split("_")
            text(x, 0, f"<b>{k}</b><br>{e}", 11, _ink(color))
        text(x, 0.68, f"L{i} {p.C_in}→{p.C_out}" + (f" /{p.stride}" if p.stride > 1 else ""), 10, "#444")
        if p.shortcut:
            shapes.append(dict(type="path", xref=xref, yref=yref, line=dict(color="#999", width=1.2, dash="dot"),
                               path=f"M {x - 0.5},-0.02 C {x - 0.45},-0.85 {x + 0.45},-0.85 {x + 0.5},-0.02"))
    for a in range(n + 1):  # arrows from element a to a + 1 (stem = 0, head = n + 1)
        wa = 0.55 if a == 0 else block_size(picks[a - 1])[0]
        wb = 0.55 if a == n else block_size(picks[a])[0]
        notes.append(dict(x=a + 1 - wb / 2, y=0, ax=a + wa / 2, ay=0, xref=xref, yref=yref, axref=xref, ayref=yref,
                          text="", showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1.3, arrowcolor="#666"))

    fig.update_layout(shapes=shapes, annotations=notes)
    fig.update_xaxes(range=[-0.55, n + 1.55], visible=False, **kw)
    fig.update_yaxes(range=[-0.95, 1.08], visible=False, **kw)
    if costs is not None:
        assert cost is not None
        colors = ["#ffffff" if b == "skip" else op_color(b) for b in picks]
        fig.add_trace(go.Bar(x=xs, y=costs, name=COSTS, marker=dict(color=colors, line=dict(color="#555", width=1)),
                             text=[f"{c:.3g}" for c in costs], textposition="outside", cliponaxis=False,
                             customdata=[[r, b] for r, b in zip(group.rows, picks, strict=True)],
                             hovertemplate="%{customdata[0]} %{customdata[1]}<br>%{y:.4g} " + cost.unit
                                           + "<extra></extra>", showlegend=False), row=2, col=1)
        top = max(costs) if costs and max(costs) > 0 else 1.0
        fig.update_yaxes(title_text=cost.unit, gridcolor=GRID, zeroline=False, range=[0, 1.3 * top], row=2, col=1)
        fig.update_xaxes(visible=True, range=[-0.55, n + 1.55], tickvals=list(xs), ticktext=[f"L{i}" for i in range(n)],
                         showgrid=False, row=2, col=1)
        total = float(sum(costs))
        fig.add_annotation(x=-0.45, y=0.95 * 1.3 * top, xref="x2", yref="y2", showarrow=False, align="left",
                           xanchor="left", yanchor="top",
                           text=f"total {total:.4g} {cost.unit}<br><span style='color:#777'>{cost.name}</span>",
                           font=dict(size=11, color="#333"))
    base_layout(fig, title, height=height or (400 if costs is not None else 260), width=width)
    fig.update_layout(font=FONT, plot_bgcolor="white", margin=dict(l=50, r=20, b=30),
                      hoverlabel=dict(align="left"))
    return fig

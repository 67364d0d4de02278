"""DARTS-GT's derived operators: which GNN feeds each graph-transformer layer's keys and values (SEEDS_2 §7).

One horizontal stacked bar per layer (top: the first layer): the softmax weight of each GNN expert, in the
expert's colour, the derived (argmax) expert written at the bar's right with a ★. It complements the generic
heatmap: the heatmap shows the numbers, this figure reads as the architecture ("L1 ← gin, L2 ← gat").

Trace layout: one ``go.Bar`` per expert, in the space's option order, named by the expert; ``x`` holds its weight
in every layer (``y``: the layer labels). The derived experts are layout annotations.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import base_layout
from workbench.spaces.palette import op_color

__all__ = ["EXPERT_COLORS", "expert_color", "operator_figure"]

#: the GNN experts' colours (other names: the op palette)
EXPERT_COLORS = {"gin": "#4e79a7", "gcn": "#59a14f", "gat": "#e15759", "sage": "#b07aa1"}


def expert_color(name: str) -> str:
    return EXPERT_COLORS.get(name, op_color(name))


def operator_figure(probs: np.ndarray, experts: Sequence[str], rows: Sequence[str] | None = None,
                    picks: Sequence[str] | None = None, *, title: str | None = "Derived operator per layer",
                    width: int | None = None, height: int | None = None) -> go.Figure:
    """``probs`` (layers, experts): the mixing weights; ``picks``: the derived expert per layer (default: argmax)."""
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(experts):
        raise ValueError(f"probs must be (layers, {len(experts)}) for experts {list(experts)}; got {p.shape}")
    rows = [f"L{i + 1}" for i in range(len(p))] if rows is None else list(rows)
    picks = [experts[int(i)] for i in p.argmax(1)] if picks is None else list(picks)
    fig = go.Figure()
    for k, name in enumerate(experts):
        fig.add_trace(go.Bar(x=p[:, k], y=rows, orientation="h", name=name, marker_color=expert_color(name),
                             text=[f"{v:.2f}" if v >= 0.12 else "" for v in p[:, k]], textposition="inside",
                             insidetextanchor="middle",
                             hovertemplate=f"%{{y}} · {name}: %{{x:.3f}}<extra></extra>"))
    for row, pick in zip(rows, picks, strict=True):
        fig.add_annotation(x=1.01, y=row, xref="paper", yref="y", text=f"★ <b>{pick}</b>", showarrow=False,
                           xanchor="left", font=dict(color=expert_color(pick), size=13))
    base_layout(fig, title, height or 90 + 46 * len(rows), width)
    fig.update_layout(barmode="stack", bargap=0.35, legend=dict(orientation="h", y=-0.25, x=0, traceorder="normal"),
                      margin=dict(r=80))
    fig.update_xaxes(range=[0, 1], title_text="softmax(α) over the GNN experts")
    fig.update_yaxes(autorange="reversed")
    return fig

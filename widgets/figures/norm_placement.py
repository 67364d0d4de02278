"""Figures of a norm-placement search (OSNet-AIN, Zhou et al., TPAMI 2021; SEEDS_2 §5).

* :func:`style_accuracy_figure` -- the retrained candidate networks (the derived one, all-BN, all-IN, ...) side
  by side: accuracy on test images in the **seen** (training) styles, in the **unseen** style (the cross-domain
  number OSNet-AIN is about) and unstyled, from a :class:`~workbench.methods.osnet_eval.PlacementTable`. Trace
  layout: one bar trace per test set, ``name`` = the test set, x = the network names in the table's order.
* :func:`placement_figure` -- the normalised weights relu(w) / sum relu(w) of every block's four placements at
  one step, **dead candidates** (w <= 0: zero weight and zero gradient for good, SEEDS_2 §5.4) marked with a
  cross. Trace layout: one bar trace per option (``name`` = the option), then the ``"dead (w ≤ 0)"`` markers.
  For a run that did not use non-negative weights (a softmax method on this space) nothing is marked dead.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import GRID, base_layout
from workbench.history import History

__all__ = ["DEAD", "TEST_SET_COLORS", "placement_figure", "style_accuracy_figure", "dead_at"]

DEAD = "dead (w ≤ 0)"
TEST_SET_COLORS = {"seen": "#3a78b8", "unseen": "#d62728", "plain": "#9e9e9e", "test": "#3a78b8"}
_OPTION_COLORS = ("#8c8c8c", "#2e9d4f", "#f28e2b", "#7b4fb8")
_LABELS = {"seen": "seen styles", "unseen": "unseen style", "plain": "no style", "test": "test"}


def style_accuracy_figure(table: Any, title: str | None = "Retrained networks: seen vs unseen styles",
                          height: int = 380, width: int | None = None) -> go.Figure:
    """Grouped bars of accuracy (%) per network and test set, from a PlacementTable (see the module docstring)."""
    rows = list(table.rows)
    if not rows:
        raise ValueError("the table has no rows (no network was retrained)")
    names = [r.name for r in rows]
    fig = go.Figure()
    for col in table.columns:
        acc = [100 * float(r.accuracy[col]) for r in rows]
        fig.add_trace(go.Bar(
            x=names, y=acc, name=col, marker_color=TEST_SET_COLORS.get(col), text=[f"{a:.1f}" for a in acc],
            textposition="outside", cliponaxis=False, customdata=[[r.label, _LABELS.get(col, col)] for r in rows],
            hovertemplate="%{x} (%{customdata[0]})<br>%{customdata[1]}: %{y:.1f}%<extra></extra>"))
    lows = [100 * float(r.accuracy[c]) for r in rows for c in table.columns]
    base_layout(fig, title, height, width)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
                      yaxis=dict(title="accuracy (%)", range=[max(0.0, min(lows) - 10), 104], gridcolor=GRID),
                      xaxis=dict(title=None))
    for i, r in enumerate(rows):  # the placements under each name
        fig.add_annotation(x=i, y=0, yref="paper", yshift=-32, text=f"<span style='font-size:10px;color:#666'>"
                           f"{r.label}</span>", showarrow=False)
    fig.update_layout(margin=dict(b=70))
    return fig


def _nonneg(alphas: np.ndarray, weights: np.ndarray) -> bool:
    """Whether the recorded weights are relu(w) / sum relu(w) of the recorded parameters (OSNet-AIN's form)."""
    r = np.maximum(alphas, 0.0)
    s = r.sum(-1, keepdims=True)
    ok = s[..., 0] > 0
    return bool(ok.any()) and np.allclose((r / np.where(s > 0, s, 1))[ok], weights[ok], atol=1e-5)


def dead_at(history: History, group: str, step: int | None = None) -> np.ndarray:
    """(rows, options) bool: the dead candidates (w <= 0 under non-negative weights) at ``step`` (default: last)."""
    i = len(history) - 1 if step is None else history.index_of(step)
    a, w = history.alphas(group)[i], history.weights(group)[i]
    return (a <= 0) if _nonneg(a, w) else np.zeros(a.shape, dtype=bool)


def placement_figure(history: History, step: int | None = None, group: str = "blocks",
                     title: str | None = None, height: int = 340, width: int | None = None) -> go.Figure:
    """Per block, the four placements' normalised weights at ``step`` (default: the last), dead ones crossed."""
    if group not in history.group_names:
        raise ValueError(f"no choice group {group!r} in this history; its groups are {list(history.group_names)}")
    if not len(history):
        raise ValueError("nothing recorded yet: the figure needs at least one step")
    g = next(c for c in history.groups if c.name == group)
    i = len(history) - 1 if step is None else history.index_of(step)
    shown = int(history.steps[i])
    w = history.weights(group)[i]
    dead = dead_at(history, group, shown)
    n_opt = len(g.options)
    bar = 0.8 / n_opt  # bars side by side at numeric x: row i's option k is centred at i - 0.4 + bar * (k + 1/2)
    fig = go.Figure()
    for k, opt in enumerate(g.options):
        fig.add_trace(go.Bar(x=list(range(len(g.rows))), y=w[:, k], name=opt, width=bar, offset=-0.4 + bar * k,
                             marker_color=_OPTION_COLORS[k % len(_OPTION_COLORS)], customdata=list(g.rows),
                             hovertemplate=f"%{{customdata}} · {opt}: %{{y:.3f}}<extra></extra>"))
    rows, opts = np.nonzero(dead)
    fig.add_trace(go.Scatter(
        x=[r - 0.4 + bar * (o + 0.5) for r, o in zip(rows, opts, strict=True)], y=[0.0] * len(rows), name=DEAD,
        mode="markers", marker=dict(symbol="x-thin", size=10, color="#111", line=dict(width=2, color="#111")),
        customdata=[f"{g.rows[r]} · {g.options[o]}" for r, o in zip(rows, opts, strict=True)],
        hovertemplate="%{customdata}: dead (w ≤ 0)<extra></extra>"))
    base_layout(fig, title if title is not None else f"Normalised placement weights relu(w)/Σ · step {shown}",
                height, width)
    fig.update_layout(barmode="overlay", yaxis=dict(title="relu(w) / Σ relu(w)", range=[0, 1.05], gridcolor=GRID),
                      xaxis=dict(tickmode="array", tickvals=list(range(len(g.rows))), ticktext=list(g.rows),
                                 range=[-0.5, len(g.rows) - 0.5]),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig

"""Hardware-aware figures: the expected-latency curve and the latency-accuracy Pareto scatter.

* :func:`latency_curve` -- by step, the expected cost E[LAT] = sum p * c of
  the relaxed architecture (the quantity FBNet and ProxylessNAS
  differentiate) and the cost of the architecture derived at that step (what
  you would get if the search stopped there), with the budget and the
  cheapest legal architecture as horizontal lines. Trace layout (the live
  view relies on it), by ``name``: :data:`EXPECTED`, :data:`DERIVED`,
  :data:`BUDGET` (empty without a budget), :data:`CHEAPEST`.
* :func:`pareto_figure` -- sampled architectures (cost, supernet metric),
  the derived one(s), the Pareto front through all of them and the budget
  as a vertical line. Trace layout by ``name``: :data:`SAMPLED`,
  :data:`FRONT`, :data:`DERIVED_PTS`, :data:`PREVIOUS`, :data:`BUDGET`.
* :func:`pareto_front` -- the indices of the non-dominated points (lower cost
  and higher metric are better), by increasing cost.

The cost is whatever the search's cost model measures (a latency table in
ms, FLOPs, parameters); axis titles say which.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import GRID, base_layout, decimate
from widgets.metrics import is_fraction
from workbench.app.hardware import ArchPoint, arch_cost, expected_costs
from workbench.history import History
from workbench.methods.costs import CostModel

__all__ = ["latency_curve", "latency_series", "derived_costs", "pareto_front", "pareto_figure", "cost_axis_title",
           "EXPECTED", "DERIVED", "BUDGET", "CHEAPEST", "SAMPLED", "FRONT", "DERIVED_PTS", "PREVIOUS", "trace"]

EXPECTED = "expected (relaxed)"
DERIVED = "derived architecture"
BUDGET = "budget"
CHEAPEST = "cheapest architecture"
SAMPLED = "sampled architectures"
FRONT = "Pareto front"
DERIVED_PTS = "derived"
PREVIOUS = "earlier targets"

_BLUE, _RED, _GREY, _ORANGE, _GREEN = "#3a78b8", "#d62728", "#8c8c8c", "#f28e2b", "#2e9d4f"


def cost_axis_title(cost: CostModel, short: bool = False) -> str:
    """``"latency (proxylessnas_pixel1) · ms"``: what the cost model measures, and its unit. ``short``: without the
    parenthesised source (``"latency · ms"``), for a vertical axis, where a table's file name would run past the
    plot's height into its title."""
    name = cost.name.split(" (")[0] if short else cost.name
    return f"{name} · {cost.unit}"


def _group(history: History, cost: CostModel) -> str:
    names = [g for g in history.group_names if g in cost.costs]
    if len(names) != 1:
        raise ValueError(f"cost model {cost.name!r} prices groups {sorted(cost.costs)}; the history has "
                         f"{list(history.group_names)} (one shared group needed)")
    return names[0]


def derived_costs(history: History, cost: CostModel, indices: Sequence[int] | np.ndarray | None = None
                  ) -> np.ndarray:
    """The cost of the architecture decoded at each recorded row (``indices``: rows of the History; all if None)."""
    steps = history.steps
    rows = np.arange(len(steps)) if indices is None else np.asarray(indices, dtype=int)
    return np.array([arch_cost(history.space, history.genotype_at(int(steps[i])), cost) for i in rows], dtype=float)


def latency_series(history: History, cost: CostModel, max_points: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, expected cost of the relaxed architecture, cost of the derived architecture), decimated."""
    idx = decimate(len(history), max_points)
    w = history.weights(_group(history, cost))
    return history.steps[idx], expected_costs(w[idx], cost), derived_costs(history, cost, idx)


def latency_curve(history: History, cost: CostModel, *, budget: float | None = None,
                  title: str | None = "Expected cost of the architecture", max_points: int | None = 600,
                  height: int = 360, width: int | None = None) -> go.Figure:
    """The expected-latency curve (see the module docstring); ``budget`` in the cost model's unit."""
    x, expected, derived = latency_series(history, cost, max_points)
    x0, x1 = (float(x[0]), float(x[-1])) if len(x) else (0.0, 1.0)
    low = cost.minimum()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=expected, name=EXPECTED, mode="lines", line=dict(color=_BLUE, width=2.4),
                             hovertemplate="step %{x}<br>E[cost] %{y:.4g} " + cost.unit + "<br>" + cost.name
                                           + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=derived, name=DERIVED, mode="lines", line=dict(color=_ORANGE, width=2,
                                                                                     shape="hv"),
                             hovertemplate="step %{x}<br>derived %{y:.4g} " + cost.unit + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[x0, x1] if budget is not None else [], y=[budget, budget] if budget is not None
                             else [], name=BUDGET, mode="lines", line=dict(color=_RED, width=1.6, dash="dash"),
                             hovertemplate="budget %{y:.4g} " + cost.unit + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[x0, x1], y=[low, low], name=CHEAPEST, mode="lines",
                             line=dict(color=_GREY, width=1, dash="dot"),
                             hovertemplate="cheapest legal architecture %{y:.4g} " + cost.unit + "<extra></extra>"))
    fig.update_xaxes(title_text="step", showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=cost_axis_title(cost, short=True), gridcolor=GRID, zeroline=False, rangemode="tozero")
    base_layout(fig, title, height=height, width=width)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, font=dict(size=11)),
                      margin=dict(t=90 if title else 50))
    return fig


def pareto_front(costs: Sequence[float], metrics: Sequence[float], higher_is_better: bool = True) -> np.ndarray:
    """Indices of the non-dominated points, by increasing cost.

    A point dominates another if it costs no more and scores no worse, and is
    strictly better in one of the two; of identical points the first is kept.
    Non-finite points are never on the front.
    """
    c = np.asarray(costs, dtype=float)
    m = np.asarray(metrics, dtype=float) * (1.0 if higher_is_better else -1.0)
    if c.shape != m.shape or c.ndim != 1:
        raise ValueError(f"costs and metrics must be two equally long sequences, got {c.shape} and {m.shape}")
    ok = np.flatnonzero(np.isfinite(c) & np.isfinite(m))
    order = ok[np.lexsort((np.arange(len(ok)), -m[ok], c[ok]))]  # by cost, then best metric, then input order
    front: list[int] = []
    best = -np.inf
    for i in order:
        if m[i] > best:
            front.append(int(i))
            best = m[i]
    return np.array(front, dtype=int)


def _hover(points: Sequence[ArchPoint]) -> list[str]:
    return [f"{p.label}" + (f"<br>{p.note}" if p.note else "") for p in points]


def pareto_figure(points: Sequence[ArchPoint], cost: CostModel | None = None, *, metric: str = "accuracy",
                  budget: float | None = None, unit: str | None = None, higher_is_better: bool = True,
                  title: str | None = "Cost vs accuracy of sampled architectures", height: int = 420,
                  width: int | None = None) -> go.Figure:
    """The latency-accuracy scatter (see the module docstring); ``points`` from
    :func:`workbench.app.hardware.sample_points` (kinds "sampled", "derived", "previous")."""
    pct = is_fraction(metric)
    unit = unit if unit is not None else (cost.unit if cost is not None else "")
    fmt = ".1%" if pct else ".4g"
    fig = go.Figure()
    by_kind = {k: [p for p in points if p.kind == k] for k in ("sampled", "derived", "previous")}
    front = [points[i] for i in pareto_front([p.cost for p in points], [p.metric for p in points],
                                             higher_is_better)]
    tmpl = "%{text}<br>cost %{x:.4g} " + unit + "<br>" + metric + " %{y:" + fmt + "}<extra></extra>"
    s = by_kind["sampled"]
    fig.add_trace(go.Scatter(x=[p.cost for p in s], y=[p.metric for p in s], name=SAMPLED, mode="markers",
                             text=_hover(s), hovertemplate=tmpl,
                             marker=dict(size=8, color=_BLUE, opacity=0.55, line=dict(color="white", width=0.5))))
    fig.add_trace(go.Scatter(x=[p.cost for p in front], y=[p.metric for p in front], name=FRONT, mode="lines",
                             line=dict(color=_GREEN, width=2, shape="hv"), hoverinfo="skip"))
    d = by_kind["derived"]
    fig.add_trace(go.Scatter(x=[p.cost for p in d], y=[p.metric for p in d], name=DERIVED_PTS,
                             mode="markers", text=_hover(d), hovertemplate=tmpl,
                             marker=dict(size=16, symbol="star", color=_RED, line=dict(color="#222", width=1))))
    pv = by_kind["previous"]
    fig.add_trace(go.Scatter(x=[p.cost for p in pv], y=[p.metric for p in pv], name=PREVIOUS,
                             mode="markers+text", text=[p.note for p in pv], textposition="top center",
                             textfont=dict(size=10, color="#8a4b00"), customdata=_hover(pv),
                             hovertemplate="%{customdata}<br>cost %{x:.4g} " + unit + "<br>" + metric + " %{y:" + fmt
                                           + "}<extra></extra>",
                             marker=dict(size=11, symbol="diamond", color=_ORANGE, line=dict(color="#222", width=1))))
    ys = [p.metric for p in points if np.isfinite(p.metric)]
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = 0.05 * max(y1 - y0, 1e-3)
    fig.add_trace(go.Scatter(x=[budget, budget] if budget is not None else [],
                             y=[y0 - pad, y1 + pad] if budget is not None else [], name=BUDGET, mode="lines",
                             line=dict(color=_RED, width=1.6, dash="dash"),
                             hovertemplate="budget %{x:.4g} " + unit + "<extra></extra>"))
    axis = cost_axis_title(cost) if cost is not None else f"cost · {unit}"
    fig.update_xaxes(title_text=axis, gridcolor=GRID, zeroline=False)
    fig.update_yaxes(title_text=f"{metric} (supernet, one-shot)", gridcolor=GRID, zeroline=False,
                     tickformat=".0%" if pct else None)
    base_layout(fig, title, height=height, width=width)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, font=dict(size=11)),
                      margin=dict(t=90 if title else 50))
    return fig


def trace(fig: Any, name: str) -> Any:
    """The trace called ``name`` (the documented layouts above)."""
    for tr in fig.data:
        if tr.name == name:
            return tr
    raise KeyError(f"no trace named {name!r}; traces: {[t.name for t in fig.data]}")

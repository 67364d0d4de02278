"""The comparison figure: each method's headline accuracy per seed, plus its collapse diagnostics.

NAS-Bench-201's comparison (Dong & Yang, ICLR 2020, Table 5) as one figure
from a :class:`workbench.compare.ComparisonResult`: the ground-truth
accuracy of each derived cell (else the supernet's), one point per seed over
a bar at the method's mean, the published numbers where they exist; then,
when measured, the parameter-free op count (DARTS+, P-DARTS) and the
dominant alpha-Hessian eigenvalue (RobustDARTS, Zela et al., ICLR 2020).

Trace layout (tests and the widget rely on it): first legend-only keys in
grey (``meta["kind"] == "legend"``, no data); then per panel
(``meta["metric"]``) one ``Bar`` of the per-method means (``meta["kind"] ==
"mean"``), then one ``Scatter`` per seed (``meta["kind"] == "seed"``,
``meta["seed"]``, ``customdata`` rows ``[method, seed, genotype]``); on the
accuracy panel a ``"published"`` scatter of the published NAS-Bench-201
numbers and one ``"reference"`` line per reference value. Accuracies that
the engine stores as fractions are drawn in percent (``METRIC_SCALE``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.comparison_table import (
    METRIC_LABELS,
    METRIC_SCALE,
    _check_result,
    _gap,
    _scaled,
    method_color,
    primary_metric,
)
from widgets.figures.style import FONT
from workbench.compare import ComparisonResult

__all__ = ["comparison_figure"]


def _offsets(n: int) -> np.ndarray:
    return np.zeros(1) if n <= 1 else np.linspace(-0.24, 0.24, n)


_SEED_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "pentagon")


def _legend_keys(fig: go.Figure, seeds: Sequence[Any]) -> None:
    """Legend-only entries in neutral grey (the real traces are coloured by method)."""
    fig.add_trace(go.Bar(x=[None], y=[None], name="mean over seeds", legendgroup="mean", hoverinfo="skip",
                         marker=dict(color="#bbb", line=dict(color="#888", width=1.5)),
                         meta={"kind": "legend"}))
    for k, seed in enumerate(seeds):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"seed {seed}", legendgroup=f"seed {seed}",
                                 marker=dict(symbol=_SEED_SYMBOLS[k % len(_SEED_SYMBOLS)], size=10, color="#bbb",
                                             line=dict(color="#222", width=1)),
                                 hoverinfo="skip", meta={"kind": "legend"}))


def comparison_figure(result: ComparisonResult, metric: str | None = None,
                      references: Mapping[str, float] | None = None, title: str | None = None,
                      height: int = 430) -> go.Figure:
    """One figure for a comparison: the headline accuracy per method, plus collapse diagnostics.

    Left (wide) panel: ``metric`` (default :func:`primary_metric`: the NB201
    CIFAR-10 ground truth of each derived cell, else the supernet's
    validation accuracy) as one point per seed over a bar at the method's
    mean; on the ground-truth panel, each method's published NAS-Bench-201
    number (open diamond) where one exists. ``references`` adds labelled
    horizontal lines there (e.g. ``{"best cell": 94.37}``). Then, when
    measured, the parameter-free op count and the dominant Hessian eigenvalue
    at the end of the search, in the same layout. A seed keeps its marker
    symbol in every panel.
    """
    res = _check_result(result)
    main = metric or primary_metric(res)
    if main not in res.columns:
        raise ValueError(f"metric {main!r} is not in this comparison; measured columns: "
                         f"{[c for c in res.columns if c in METRIC_LABELS]}")
    panels = [main] + [c for c in ("param_free", "eigenvalue") if c in res.columns and c != main]
    widths = [0.5] + [0.5 / (len(panels) - 1)] * (len(panels) - 1) if len(panels) > 1 else [1.0]
    fig = make_subplots(rows=1, cols=len(panels), column_widths=widths, horizontal_spacing=0.07,
                        subplot_titles=[METRIC_LABELS.get(c, c) for c in panels])
    methods = res.methods
    seeds = sorted({r["seed"] for r in res.rows}, key=lambda s: (str(type(s)), s))
    xs = np.arange(len(methods), dtype=float)
    offs = dict(zip(seeds, _offsets(len(seeds)), strict=True))
    colors = [method_color(m) for m in methods]
    published = {m: p for m, p in res.figure_data().get("published_nb201_c10", {}).items() if p is not None}
    summary = {s["method"]: s for s in res.summary()}
    _legend_keys(fig, seeds)
    for p, col in enumerate(panels, start=1):
        means = [_scaled(summary[m].get(col), col) for m in methods]
        fig.add_trace(go.Bar(
            x=xs, y=[_gap(v) for v in means], name="mean over seeds", legendgroup="mean",
            marker=dict(color=colors, opacity=0.35, line=dict(color=colors, width=1.5)),
            width=0.7, meta={"metric": col, "kind": "mean"}, customdata=methods, showlegend=False,
            hovertemplate="%{customdata}: mean %{y:.4g}<extra></extra>"), row=1, col=p)
        for k, seed in enumerate(seeds):
            rows = [r for r in res.rows if r["seed"] == seed]
            fig.add_trace(go.Scatter(
                x=[methods.index(r["method"]) + offs[seed] for r in rows],
                y=[_gap(_scaled(r.get(col), col)) for r in rows], mode="markers", name=f"seed {seed}",
                legendgroup=f"seed {seed}", showlegend=False,
                marker=dict(symbol=_SEED_SYMBOLS[k % len(_SEED_SYMBOLS)], size=10,
                            color=[method_color(r["method"]) for r in rows], line=dict(color="#222", width=1)),
                customdata=[[r["method"], r["seed"], str(r.get("genotype", ""))] for r in rows],
                meta={"metric": col, "kind": "seed", "seed": seed},
                hovertemplate="%{customdata[0]} · seed %{customdata[1]}: %{y:.4g}<br>"
                              "<span style='font-size:10px'>%{customdata[2]}</span><extra></extra>"),
                row=1, col=p)
        if col == "nb201_c10" and published:
            pm = [m for m in methods if m in published]
            fig.add_trace(go.Scatter(
                x=[methods.index(m) for m in pm], y=[published[m] for m in pm], mode="markers",
                name="published (NB201 paper / NATS-Bench)", meta={"metric": col, "kind": "published"},
                marker=dict(symbol="diamond-open", size=15, color="#111", line=dict(width=2.5)),
                customdata=pm, hovertemplate="%{customdata}: published %{y:.2f}<extra></extra>"), row=1, col=p)
        if p == 1:
            for name, value in (references or {}).items():
                fig.add_trace(go.Scatter(
                    x=[-0.5, len(methods) - 0.5], y=[value, value], mode="lines", name=name, showlegend=False,
                    line=dict(color="#999", width=1, dash="dot"), meta={"metric": col, "kind": "reference"},
                    hovertemplate=f"{name}: {value:.2f}<extra></extra>"), row=1, col=p)
                fig.add_annotation(x=len(methods) - 0.5, y=value, xanchor="right", yanchor="bottom",
                                   text=f"{name} {value:.2f}", showarrow=False, font=dict(size=10, color="#777"),
                                   row=1, col=p)
        vals = [v for v in [_scaled(r.get(col), col) for r in res.rows] + means if not math.isnan(v)]
        if col == main:
            vals += [published[m] for m in methods if col == "nb201_c10" and m in published]
            vals += list((references or {}).values())
        if vals and (col in METRIC_SCALE or col.startswith("nb201_c") or col.startswith("nb201_in")):
            lo, hi = min(vals), max(vals)
            pad = max(0.08 * (hi - lo), 1.0)
            fig.update_yaxes(range=[max(0.0, lo - 3 * pad), min(100.0, hi + pad) + pad], row=1, col=p)
        elif vals:
            fig.update_yaxes(range=[0, max(vals) * 1.15 if max(vals) > 0 else 1], row=1, col=p)
        if col == "param_free":
            fig.update_yaxes(dtick=1, row=1, col=p)
        fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=methods, range=[-0.6, len(methods) - 0.4],
                         tickangle=-30 if len(methods) > 3 or len(panels) > 2 else 0, row=1, col=p)
    fig.update_yaxes(gridcolor="#e6e6e6", zeroline=False)
    fig.update_xaxes(showgrid=False)
    for a in fig.layout.annotations[:len(panels)]:  # the subplot titles
        a.font = dict(size=12, color="#444")
    head = title if title is not None else (
        f"{len(methods)} methods × {len(seeds)} seed{'s' if len(seeds) > 1 else ''} · space {res.space}, "
        f"dataset {res.dataset}, {res.epochs} epochs")
    fig.update_layout(template="plotly_white", font=FONT, height=height, barmode="overlay",
                      title=dict(text=head, x=0.01, xanchor="left", font=dict(size=15)),
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, font=dict(size=11)),
                      margin=dict(l=55, r=20, t=80, b=40), hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig

"""GTN figures: the generated curriculum as a grid of images, the learned inner schedule, and the GTN-NAS
rank-correlation scatter (Such et al., ICML 2020, arXiv 1912.07768).

* :func:`samples_grid` -- the synthetic examples a learner sees, one row per inner step (in the order it sees
  them), each tile labelled with the class it teaches. One heatmap trace (:data:`SAMPLES`) holding the
  mosaic, with NaN gaps between tiles, and one annotation per tile.
* :func:`inner_schedule` -- the learned lr eta_t (left axis) and momentum mu_t (right axis) per inner step;
  :func:`schedule_from_history` reads them at any recorded step from the ``gtn`` method's extras
  (``inner_lr_t<t>``, ``inner_momentum_t<t>``). Traces by ``name``: :data:`LR`, :data:`MOMENTUM`.
* :func:`rank_scatter` -- for each proxy, the mean proxy score of every candidate (error bars: the spread over
  seeds) against its fully trained accuracy, with Spearman's rho (mean +- std over seeds) in the legend.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import GRID, base_layout
from workbench.history import History

__all__ = ["LR", "MOMENTUM", "SAMPLES", "inner_schedule", "mosaic", "rank_scatter", "samples_grid",
           "schedule_from_history"]

SAMPLES = "generated samples"
LR = "learned lr η_t"
MOMENTUM = "learned momentum μ_t"
_COLORS = ("#3a78b8", "#f28e2b", "#2e9d4f", "#d62728")


def mosaic(images: np.ndarray, gap: int = 1, row_gap: int | None = None) -> np.ndarray:
    """(rows, cols, H, W) tiles -> one (rows*(H+row_gap)-row_gap, cols*(W+gap)-gap) array with NaN gaps."""
    r, c, h, w = images.shape
    rg = gap if row_gap is None else row_gap
    out = np.full((r * (h + rg) - rg, c * (w + gap) - gap), np.nan)
    for i in range(r):
        for j in range(c):
            out[i * (h + rg):i * (h + rg) + h, j * (w + gap):j * (w + gap) + w] = images[i, j]
    return out


def samples_grid(images: np.ndarray, labels: np.ndarray, *, per_step: int | None = 10, title: str | None =
                 "Generated curriculum: one row per inner step", height: int | None = None,
                 width: int | None = None, ink: bool = True) -> go.Figure:
    """The synthetic examples (T, B, H, W) (or (T, B, 1, H, W)) with their labels (T, B), first ``per_step`` of
    each step. Grey levels as given (digits: 0..1, ``ink`` = high values drawn dark)."""
    x = np.asarray(images, dtype=float)
    if x.ndim == 5 and x.shape[2] == 1:
        x = x[:, :, 0]
    if x.ndim != 4:
        raise ValueError(f"samples_grid: images must be (steps, batch, H, W), got shape {np.shape(images)}")
    y = np.asarray(labels)
    if y.shape != x.shape[:2]:
        raise ValueError(f"samples_grid: labels {y.shape} must be (steps, batch) = {x.shape[:2]}")
    k = x.shape[1] if per_step is None else min(int(per_step), x.shape[1])
    x, y = x[:, :k], y[:, :k]
    T, _, h, w = x.shape
    shared = bool((y == y[:1]).all())  # every row teaches the same labels column by column: label the columns once
    rg = 1 if shared else 4
    z = mosaic(x, 1, rg)
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    scale = [[0, "#ffffff"], [1, "#111111"]] if ink else [[0, "#111111"], [1, "#ffffff"]]
    fig = go.Figure(go.Heatmap(z=z[::-1], colorscale=scale, zmin=lo, zmax=hi, showscale=False, name=SAMPLES,
                               hoverinfo="skip"))
    n_rows = z.shape[0]
    for t in range(1 if shared else T):
        for j in range(k):
            fig.add_annotation(x=j * (w + 1) + w / 2 - 0.5, y=n_rows - t * (h + rg) - 0.5, text=str(int(y[t, j])),
                               showarrow=False, yanchor="bottom", font=dict(size=11, color="#3a78b8"))
    fig.update_xaxes(visible=False, range=[-0.7, z.shape[1] - 0.3])
    fig.update_yaxes(tickvals=[n_rows - t * (h + rg) - h / 2 - 0.5 for t in range(T)],
                     ticktext=[f"step {t}" for t in range(T)], showgrid=False, zeroline=False,
                     scaleanchor="x", range=[-0.7, n_rows + 2.5])
    px = 44
    base_layout(fig, title, height or 70 + (px + (0 if shared else 20)) * T, width or 90 + px * k)
    fig.update_layout(margin=dict(l=60, r=10, t=60 if title else 25, b=10), plot_bgcolor="#ffffff")
    return fig


def schedule_from_history(history: History, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(eta_t, mu_t) per inner step as recorded at ``step`` (default: the last) by the ``gtn`` method."""
    names = history.extras
    T = sum(1 for n in names if n.startswith("inner_lr_t"))
    if T == 0 or not len(history):
        raise ValueError("no GTN inner schedule recorded (extras inner_lr_t<t>; a 'gtn' search records them)")
    i = len(history) - 1 if step is None else history.index_of(step)
    lrs = np.array([history.scalar(f"inner_lr_t{t}")[i] for t in range(T)])
    mus = np.array([history.scalar(f"inner_momentum_t{t}")[i] for t in range(T)])
    return lrs, mus


def inner_schedule(lrs: Sequence[float], momenta: Sequence[float], *, initial: tuple[float, float] | None = None,
                   title: str | None = "Learned inner schedule", height: int = 320,
                   width: int | None = None) -> go.Figure:
    """eta_t (bars, left axis) and mu_t (line, right axis) per inner step; ``initial`` (eta_0, mu_0) as dotted
    reference lines."""
    t = np.arange(len(lrs))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=t, y=np.asarray(lrs, dtype=float), name=LR, marker_color=_COLORS[0], opacity=0.8),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=t, y=np.asarray(momenta, dtype=float), name=MOMENTUM, mode="lines+markers",
                             line=dict(color=_COLORS[1], width=2.5)), secondary_y=True)
    if initial is not None:
        fig.add_hline(y=initial[0], line=dict(color=_COLORS[0], dash="dot", width=1), secondary_y=False)
        fig.add_hline(y=initial[1], line=dict(color=_COLORS[1], dash="dot", width=1), secondary_y=True)
    fig.add_trace(go.Scatter(x=[-0.5, len(t) - 0.5], y=[1.0, 1.0], mode="lines", name="μ = 1", hoverinfo="skip",
                             line=dict(color="#999", dash="dash", width=1)), secondary_y=True)
    base_layout(fig, title, height, width)
    fig.update_xaxes(title_text="inner step t", dtick=1, gridcolor=GRID)
    fig.update_yaxes(title_text="η_t", secondary_y=False, gridcolor=GRID, rangemode="tozero")
    fig.update_yaxes(title_text="μ_t", secondary_y=True, showgrid=False, rangemode="tozero", tickformat=".2f")
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def rank_scatter(true: Sequence[float], scores: Mapping[str, np.ndarray], *, labels: Sequence[str] | None = None,
                 rho: Mapping[str, Sequence[float]] | None = None, seconds: Mapping[str, float] | None = None,
                 title: str | None = "Proxy score vs fully trained accuracy", height: int = 420,
                 width: int | None = None) -> go.Figure:
    """One marker per candidate and proxy: mean score over seeds (rows of ``scores[name]``) vs ``true``; error
    bars = std over seeds; legend: the proxy, its Spearman rho (``rho[name]``: per-seed values) and its cost."""
    x = np.asarray(true, dtype=float)
    fig = go.Figure()
    for i, (name, s) in enumerate(scores.items()):
        s = np.atleast_2d(np.asarray(s, dtype=float))
        if s.shape[1] != len(x):
            raise ValueError(f"rank_scatter: {name!r} scores {s.shape[1]} candidates, true has {len(x)}")
        legend = name
        if rho is not None and name in rho:
            r = np.asarray(rho[name], dtype=float)
            legend += f" · ρ = {r.mean():.2f}" + (f" ± {r.std():.2f}" if len(r) > 1 else "")
        if seconds is not None and name in seconds:
            legend += f" · {seconds[name]:.2f} s"
        fig.add_trace(go.Scatter(x=x, y=s.mean(0), mode="markers", name=legend,
                                 error_y=dict(type="data", array=s.std(0), thickness=1, width=0,
                                              visible=s.shape[0] > 1),
                                 marker=dict(size=9, color=_COLORS[i % len(_COLORS)], opacity=0.85,
                                             line=dict(width=0.5, color="#fff")),
                                 text=list(labels) if labels is not None else None,
                                 hovertemplate="%{text}<br>true %{x:.3f}<br>proxy %{y:.3f}<extra></extra>"
                                 if labels is not None else None))
    base_layout(fig, title, height, width, top=80)
    fig.update_xaxes(title_text="fully trained test accuracy", gridcolor=GRID)
    fig.update_yaxes(title_text="proxy: accuracy after a few steps", gridcolor=GRID)
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
    return fig

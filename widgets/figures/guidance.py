"""Adaptive Guidance figures: a guidance policy per sampling step, and sample trajectories in 2-D.

* :func:`policy_bars` -- one bar per sampling step: the probability that the step uses classifier-free guidance
  (the gate pi_k of a relaxed policy, or 0/1 for a discrete one), several policies side by side, a dashed line at
  0.5 (the derived policy keeps CFG above it). Trace layout: one ``go.Bar`` per policy, named by the mapping's
  keys, in order; then the threshold line (``name`` :data:`THRESHOLD`).
* :func:`history_policy` -- the gates of a ``guidance`` search at a recorded step (for :func:`policy_bars`).
* :func:`alignment_curves` -- by sampling step, the mean cosine between the conditional and the guided step in
  each compared quantity (x0_hat, update, eps, ...). Trace layout: one line per quantity, in order.
* :func:`nfe_tradeoff` -- distance to full-CFG samples against network evaluations per sample: a curve for a
  family of policies (fixed cut-offs, cosine-rule thresholds), a large marker for a single policy. Trace
  layout: one trace per series, in order.
* :func:`trajectories` -- one panel per sampler: the paths of some samples from noise (small dot) to their final
  point (large dot), coloured by class, with the class centres as crosses. Trace layout per panel: one line
  trace per class (paths separated by None), one marker trace of final points per class, then the centres.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import GRID, base_layout
from workbench.history import History

__all__ = ["CLASS_COLORS", "THRESHOLD", "alignment_curves", "history_policy", "nfe_tradeoff", "policy_bars",
           "trajectories"]

THRESHOLD = "derived policy: CFG above 0.5"
CLASS_COLORS = ("#3a78b8", "#f28e2b", "#2e9d4f", "#d62728")
_POLICY_COLORS = ("#3a78b8", "#8c8c8c", "#f28e2b", "#2e9d4f", "#9467bd")


def history_policy(history: History, step: int | None = None, group: str = "steps", option: str = "cfg"
                   ) -> np.ndarray:
    """The CFG probability per sampling step of a recorded search at ``step`` (default: the last recorded)."""
    if not len(history):
        raise ValueError("the search has recorded no step yet: there is no policy to show")
    i = len(history) - 1 if step is None else history.index_of(step)
    g = next((g for g in history.groups if g.name == group), None)
    if g is None or option not in g.options:
        raise ValueError(f"a guidance policy needs a choice group {group!r} with an option {option!r}; this search "
                         f"has {', '.join(x.name for x in history.groups)}")
    return np.asarray(history.weights(group)[i][:, g.options.index(option)], dtype=float)


def policy_bars(policies: Mapping[str, np.ndarray | Sequence[float]], *, labels: Sequence[str] | None = None,
                title: str | None = "Guidance policy: P(CFG) at each sampling step", height: int = 320,
                width: int | None = None) -> go.Figure:
    """Grouped bars of each policy's CFG probability per step (noisy -> clean); see the module docstring."""
    if not policies:
        raise ValueError("policy_bars needs at least one policy (name -> probabilities per step)")
    arrays = {name: np.asarray(p, dtype=float).ravel() for name, p in policies.items()}
    n = {len(a) for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"every policy needs one value per sampling step; got lengths "
                         f"{ {k: len(a) for k, a in arrays.items()} }")
    S = n.pop()
    x = [str(k + 1) for k in range(S)]
    hover = list(labels) if labels is not None else [f"step {k}" for k in x]
    fig = go.Figure()
    for i, (name, p) in enumerate(arrays.items()):
        fig.add_trace(go.Bar(x=x, y=p, name=name, marker_color=_POLICY_COLORS[i % len(_POLICY_COLORS)],
                             customdata=hover, hovertemplate="%{customdata}<br>P(CFG) = %{y:.3f}<extra>"
                             f"{name}</extra>"))
    fig.add_trace(go.Scatter(x=[x[0], x[-1]], y=[0.5, 0.5], mode="lines", name=THRESHOLD,
                             line=dict(color="#555", dash="dash", width=1), hoverinfo="skip"))
    base_layout(fig, title, height, width)
    fig.update_layout(barmode="group", bargap=0.2, legend=dict(orientation="h", y=-0.22, x=0))
    fig.update_xaxes(title="sampling step (noisy → clean)", gridcolor=GRID)
    fig.update_yaxes(title="P(CFG)", range=[0, 1.05], gridcolor=GRID)
    return fig


def alignment_curves(profiles: Mapping[str, np.ndarray | Sequence[float]], *,
                     title: str | None = "How close is the conditional step to the guided one?", height: int = 320,
                     width: int | None = None) -> go.Figure:
    """Mean cos(conditional, guided) per sampling step, one line per compared quantity."""
    fig = go.Figure()
    for i, (name, p) in enumerate(profiles.items()):
        p = np.asarray(p, dtype=float).ravel()
        fig.add_trace(go.Scatter(x=np.arange(1, len(p) + 1), y=p, mode="lines+markers", name=name,
                                 line=dict(color=_POLICY_COLORS[i % len(_POLICY_COLORS)]),
                                 hovertemplate="step %{x}: cos = %{y:.4f}<extra>" + name + "</extra>"))
    base_layout(fig, title, height, width)
    fig.update_layout(legend=dict(orientation="h", y=-0.22, x=0))
    fig.update_xaxes(title="sampling step (noisy → clean)", gridcolor=GRID, dtick=1)
    fig.update_yaxes(title="mean cosine", gridcolor=GRID)
    return fig


def nfe_tradeoff(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                 title: str | None = "Closeness to full guidance vs cost", height: int = 360,
                 width: int | None = None) -> go.Figure:
    """Distance to the full-CFG samples (lower is better) against NFE per sample; see the module docstring."""
    fig = go.Figure()
    for i, (name, (nfe, dist)) in enumerate(series.items()):
        nfe, dist = np.asarray(nfe, dtype=float).ravel(), np.asarray(dist, dtype=float).ravel()
        if len(nfe) != len(dist):
            raise ValueError(f"series {name!r}: {len(nfe)} NFE values but {len(dist)} distances")
        single = len(nfe) == 1
        fig.add_trace(go.Scatter(x=nfe, y=dist, name=name, mode="markers" if single else "lines+markers",
                                 marker=dict(size=14 if single else 6, symbol="star" if single else "circle",
                                             color=_POLICY_COLORS[i % len(_POLICY_COLORS)]),
                                 hovertemplate="%{x:.1f} NFE: %{y:.4f}<extra>" + name + "</extra>"))
    base_layout(fig, title, height, width)
    fig.update_layout(legend=dict(orientation="h", y=-0.22, x=0))
    fig.update_xaxes(title="network evaluations per sample (NFE)", gridcolor=GRID)
    fig.update_yaxes(title="mean ‖x − x_CFG‖²", gridcolor=GRID, rangemode="tozero")
    return fig


def trajectories(paths: Mapping[str, np.ndarray], classes: np.ndarray, centres: np.ndarray | None = None, *,
                 max_paths: int = 60, title: str | None = "Sampling trajectories (noise → sample)",
                 height: int = 380, width: int | None = None) -> go.Figure:
    """Panels of 2-D paths (steps + 1, n, 2) per sampler, coloured by class; see the module docstring."""
    if not paths:
        raise ValueError("trajectories needs at least one sampler's paths (name -> (steps + 1, n, 2) array)")
    classes = np.asarray(classes).astype(int)
    fig = make_subplots(rows=1, cols=len(paths), subplot_titles=list(paths), shared_yaxes=True,
                        horizontal_spacing=0.04)
    for col, (name, path) in enumerate(paths.items(), start=1):
        p = np.asarray(path, dtype=float)
        if p.ndim != 3 or p.shape[2] != 2 or p.shape[1] != len(classes):
            raise ValueError(f"paths of {name!r} must be (steps + 1, n, 2) with n = {len(classes)} samples; got "
                             f"{p.shape}")
        keep = np.arange(min(max_paths, p.shape[1]))
        for k in np.unique(classes):
            idx = keep[classes[keep] == k]
            color = CLASS_COLORS[int(k) % len(CLASS_COLORS)]
            xs: list = []
            ys: list = []
            for i in idx:
                xs += [*p[:, i, 0], None]
                ys += [*p[:, i, 1], None]
            first = col == 1
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line=dict(color=color, width=1),
                                     marker=dict(size=3, color=color), opacity=0.55, name=f"class {k}",
                                     legendgroup=f"class {k}", showlegend=first, hoverinfo="skip"), row=1, col=col)
            fig.add_trace(go.Scatter(x=p[-1, idx, 0], y=p[-1, idx, 1], mode="markers",
                                     marker=dict(size=7, color=color, line=dict(color="white", width=1)),
                                     name=f"class {k} sample", legendgroup=f"class {k}", showlegend=False,
                                     hovertemplate="(%{x:.2f}, %{y:.2f})<extra></extra>"), row=1, col=col)
        if centres is not None:
            cx = np.asarray(centres, dtype=float)
            fig.add_trace(go.Scatter(x=cx[:, 0], y=cx[:, 1], mode="markers", name="class centres",
                                     marker=dict(symbol="x", size=10, color="#222"), showlegend=col == 1,
                                     hoverinfo="skip"), row=1, col=col)
    base_layout(fig, title, height, width, top=70)
    fig.update_layout(legend=dict(orientation="h", y=-0.15, x=0))
    fig.update_xaxes(gridcolor=GRID, zeroline=False, matches="x")  # one scale for every panel
    fig.update_yaxes(gridcolor=GRID, zeroline=False, scaleanchor="x", scaleratio=1)
    return fig

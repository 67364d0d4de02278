"""DNIS figures (Cheng, Shen, Huang, arXiv 2006.04466; SEEDS_2 §8): the soft selection mask over the search, and
the embedding dimensions each feature keeps after pruning, against its frequency.

* :func:`mask_evolution` -- the mask W (feature blocks x dimensions) as a heatmap with one frame per shown step
  and a step slider (from a History, or :func:`mask_evolution_from` over recorded arrays). Trace layout: one
  heatmap (``name="mask"``) whose ``z`` is W at the last step; each slider step restyles ``z`` (no frames).
* :func:`block_means` -- the mean mask of each feature block over the steps (one line per block,
  ``name="block i"``), with the warm-start end marked when the history shows one.
* :func:`dims_vs_frequency` -- dimensions kept per feature id after pruning (y) against its training frequency
  (x, log scale): one scatter per field (``name=<field>``) plus the per-block mean (``name="block mean"``).
* :func:`kept_dims_bars` -- mean kept dimensions per feature block, one bar group per labelled result (say,
  after the search vs the same training with the mask fixed at 1).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import GRID, base_layout, decimate
from workbench.history import History

__all__ = ["block_means", "dims_vs_frequency", "kept_dims_bars", "mask_evolution", "mask_evolution_from"]

GROUP = "dims"
SCALE = [[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, "#08306b"]]
BLOCK_COLORS = ("#08306b", "#2171b5", "#6baed6", "#fd8d3c", "#d94801", "#7f2704", "#525252", "#969696")


def _group(history: History) -> Any:
    try:
        return next(g for g in history.groups if g.name == GROUP)
    except StopIteration:
        raise ValueError(f"these figures need an embedding_dims search (a {GROUP!r} choice group); this history's "
                         f"groups are {list(history.group_names)}") from None


def mask_evolution_from(masks: np.ndarray, steps: Sequence[int], rows: Sequence[str], options: Sequence[str], *,
                        title: str | None = "Soft selection mask W", height: int = 360, width: int | None = None,
                        slider: bool = True) -> go.Figure:
    """A heatmap of ``masks[t]`` (T, B_f, B_d) with a slider over ``steps`` (the last one shown first).

    ``slider=False``: the last mask alone (live views: the scrubber picks the step).
    """
    masks = np.asarray(masks, dtype=float)
    if masks.ndim != 3 or len(masks) != len(steps) or len(masks) == 0:
        raise ValueError(f"masks must be (T, rows, options) with T = len(steps) > 0, got {masks.shape} and "
                         f"{len(steps)} steps")
    rows, options = list(rows), list(options)

    def heat(i: int) -> go.Heatmap:
        return go.Heatmap(z=masks[i], x=options, y=rows, zmin=0, zmax=1, colorscale=SCALE, name="mask",
                          colorbar=dict(title="W", thickness=12),
                          hovertemplate="%{y} · %{x}<br>W = %{z:.3f}<extra></extra>")

    last = len(masks) - 1
    fig = base_layout(go.Figure(heat(last)), title, height, width)
    fig.update_layout(xaxis=dict(title="embedding dimension"),
                      yaxis=dict(title="feature block (frequent → rare)", autorange="reversed"))
    if slider:  # each slider step restyles z in the browser: no frames (no autoplay; FigureWidget-friendly)
        control = dict(active=last, currentvalue=dict(prefix="step "), pad=dict(t=40),
                       steps=[dict(label=str(int(st)), method="restyle", args=[{"z": [masks[i]]}, [0]])
                              for i, st in enumerate(steps)])
        fig.update_layout(sliders=[control], margin=dict(b=110))
    return fig


def mask_evolution(history: History, *, frames: int = 12, title: str | None = "Soft selection mask W",
                   height: int = 360, width: int | None = None) -> go.Figure:
    """The recorded mask at ``frames`` evenly spaced steps of ``history`` (first and last kept), with a slider."""
    g = _group(history)
    if not len(history):
        raise ValueError("the history has no recorded step yet")
    idx = decimate(len(history), frames)
    return mask_evolution_from(history.weights(GROUP)[idx], history.steps[idx], g.rows, g.options, title=title,
                               height=height, width=width)


def block_means(history: History, *, max_points: int = 600, title: str | None = "Mean mask per feature block",
                height: int = 320, width: int | None = None) -> go.Figure:
    """Mean of W over each row (feature block) at every recorded step; a dotted line where the search starts."""
    g = _group(history)
    fig = go.Figure()
    n = len(history)
    idx = decimate(n, max_points)
    steps = history.steps[idx] if n else np.zeros(0)
    means = history.weights(GROUP)[idx].mean(-1) if n else np.zeros((0, len(g.rows)))
    for i, row in enumerate(g.rows):
        fig.add_trace(go.Scatter(x=steps, y=means[:, i], mode="lines", name=f"block {i + 1}",
                                 line=dict(color=BLOCK_COLORS[i % len(BLOCK_COLORS)], width=2),
                                 hovertemplate=f"{row}<br>step %{{x}}: mean W %{{y:.3f}}<extra></extra>"))
    warm = _search_start(history)
    if warm is not None:
        fig.add_vline(x=warm, line=dict(color="#999", dash="dot"), annotation_text="search starts",
                      annotation_position="bottom right")
    base_layout(fig, title, height, width)
    fig.update_layout(xaxis=dict(title="step", gridcolor=GRID), yaxis=dict(title="mean W", range=[0, 1.02],
                                                                        gridcolor=GRID),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _search_start(history: History) -> float | None:
    """The first step at which the mask moved (the end of the warm start), if it has."""
    if len(history) < 2:
        return None
    w = history.weights(GROUP)
    moved = np.flatnonzero(np.abs(w - w[0]).reshape(len(w), -1).max(1) > 0)
    return float(history.steps[moved[0]]) - 0.5 if len(moved) else None


def dims_vs_frequency(counts: Sequence[int], kept_per_id: Sequence[float], *, field_of: Sequence[int] | None = None,
                      fields: Sequence[str] = (), block_of: Sequence[int] | None = None,
                      title: str | None = "Dimensions kept after pruning vs feature frequency", height: int = 380,
                      width: int | None = None, seed: int = 0) -> go.Figure:
    """Kept dimensions of every feature id (y, slightly jittered) against its training frequency (x, log)."""
    counts = np.asarray(counts, dtype=float)
    kept = np.asarray(kept_per_id, dtype=float)
    if counts.shape != kept.shape:
        raise ValueError(f"counts and kept_per_id must have one entry per id, got {counts.shape} and {kept.shape}")
    field_idx = np.zeros(len(counts), int) if field_of is None else np.asarray(field_of, int)
    names = list(fields) or [f"field {i + 1}" for i in range(int(field_idx.max()) + 1 if len(field_idx) else 1)]
    jitter = np.random.default_rng(seed).uniform(-0.2, 0.2, len(kept))
    x = np.maximum(counts, 0.5)  # ids never seen in training sit at 0.5 on the log axis
    fig = go.Figure()
    colors = ("#2171b5", "#d94801", "#238b45", "#6a51a3")
    for f, name in enumerate(names):
        sel = field_idx == f
        fig.add_trace(go.Scatter(x=x[sel], y=kept[sel] + jitter[sel], mode="markers", name=name,
                                 marker=dict(size=5, opacity=0.45, color=colors[f % len(colors)]),
                                 customdata=np.stack([counts[sel], kept[sel]], 1),
                                 hovertemplate=f"{name}: seen %{{customdata[0]:.0f}}×, keeps %{{customdata[1]:.0f}} "
                                               "dims<extra></extra>"))
    if block_of is not None:
        b = np.asarray(block_of, int)
        bx = [float(np.exp(np.log(x[b == i]).mean())) for i in range(int(b.max()) + 1)]
        by = [float(kept[b == i].mean()) for i in range(int(b.max()) + 1)]
        fig.add_trace(go.Scatter(x=bx, y=by, mode="lines+markers+text", name="block mean",
                                 text=[f"b{i + 1}" for i in range(len(bx))], textposition="top center",
                                 line=dict(color="#222", width=2), marker=dict(size=9, symbol="diamond"),
                                 hovertemplate="block mean: %{y:.2f} dims<extra></extra>"))
    base_layout(fig, title, height, width)
    fig.update_layout(xaxis=dict(title="times seen in training (log)", type="log", gridcolor=GRID),
                      yaxis=dict(title="embedding dimensions kept", gridcolor=GRID, rangemode="tozero"),
                      legend=dict(orientation="h", y=-0.22))
    return fig


def kept_dims_bars(results: Mapping[str, Sequence[float]], rows: Sequence[str], *, dim: int | None = None,
                   title: str | None = "Mean dimensions kept per feature block", height: int = 340,
                   width: int | None = None) -> go.Figure:
    """One bar group per feature block, one bar per labelled result (e.g. ``{"search": ..., "α ≡ 1": ...}``)."""
    fig = go.Figure()
    colors = ("#2171b5", "#bdbdbd", "#d94801", "#238b45")
    for k, (label, values) in enumerate(results.items()):
        values = np.asarray(values, dtype=float)
        if len(values) != len(rows):
            raise ValueError(f"result {label!r} has {len(values)} values; there are {len(rows)} feature blocks")
        fig.add_trace(go.Bar(x=list(rows), y=values, name=label, marker_color=colors[k % len(colors)],
                             text=[f"{v:.1f}" for v in values], textposition="outside",
                             hovertemplate=f"{label}<br>%{{x}}: %{{y:.2f}} dims<extra></extra>"))
    base_layout(fig, title, height, width)
    top = max([float(np.max(v)) for v in results.values()] + [dim or 0]) * 1.15
    fig.update_layout(barmode="group", yaxis=dict(title="dimensions kept (mean)", range=[0, top], gridcolor=GRID),
                      xaxis=dict(title="feature block (frequent → rare)"), legend=dict(orientation="h", y=-0.25))
    return fig

"""A small graph drawing coloured by node importance or head attention (DARTS-GT's explanations, SEEDS_2 §7.4).

:func:`graph_attention_figure` draws one graph (dense adjacency + node mask) with plotly: edges as grey segments
(optionally widened by an attention matrix), nodes as markers whose size and colour encode an importance vector
(a head's node importance from :mod:`workbench.analysis.graph_explain`), ground-truth nodes (the planted motif)
ringed in black, and a head's top nodes marked with a star. Several importance vectors give small multiples (one
panel per head, same layout). The layout is computed in numpy (no networkx): :func:`spring_layout`
(Fruchterman-Reingold from seeded random positions) or :func:`spectral_layout` (the Laplacian's second and third eigenvectors).

Trace layout per panel: ``edges`` (one line trace, segments separated by None), ``nodes`` (a marker trace;
``customdata`` = node index), and, when given, ``top nodes`` (star markers).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import FONT, base_layout

__all__ = ["graph_attention_figure", "spectral_layout", "spring_layout"]


def spectral_layout(adj: np.ndarray) -> np.ndarray:
    """(n, 2) positions from the eigenvectors of the graph Laplacian for its 2nd and 3rd smallest eigenvalues."""
    a = np.asarray(adj, dtype=float)
    n = len(a)
    if n < 3:
        return np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
    lap = np.diag(a.sum(1)) - a
    _, vecs = np.linalg.eigh(lap)
    pos = vecs[:, 1:3]
    return pos / max(np.abs(pos).max(), 1e-12)


def spring_layout(adj: np.ndarray, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """(n, 2) positions by Fruchterman-Reingold from seeded random positions in the unit square (repulsion k^2/d
    between all nodes, attraction d^2/k along edges, k = 1/sqrt(n)), the step cooled linearly from 0.1; centred
    and scaled into [-1, 1]."""
    a = np.asarray(adj, dtype=float)
    n = len(a)
    pos = np.random.default_rng(seed).random((n, 2))
    k = 1.0 / np.sqrt(max(n, 1))
    temp = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 0.01)
        disp = ((k * k / dist ** 2 - a * dist / k)[..., None] * delta).sum(1)
        length = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 0.01)
        pos = pos + disp * temp / length
        temp -= 0.1 / (iterations + 1)
    pos -= pos.mean(0)
    return pos / max(np.abs(pos).max(), 1e-12)


def _edge_xy(pos: np.ndarray, adj: np.ndarray) -> tuple[list, list]:
    x: list = []
    y: list = []
    for i, j in zip(*np.nonzero(np.triu(adj, 1)), strict=True):
        x += [pos[i, 0], pos[j, 0], None]
        y += [pos[i, 1], pos[j, 1], None]
    return x, y


def graph_attention_figure(adj: np.ndarray, mask: np.ndarray | None = None, importance: np.ndarray | None = None,
                           *, truth: np.ndarray | None = None, top: Sequence[Iterable[int]] | None = None,
                           titles: Sequence[str] | None = None, layout: str | np.ndarray = "spring",
                           title: str | None = None, colorbar_title: str = "importance", scale: str = "shared",
                           seed: int = 0, width: int | None = None, height: int = 340) -> go.Figure:
    """Draw one graph (``adj`` (N, N), real nodes where ``mask`` > 0) coloured by ``importance``: (N,) for one panel
    or (P, N) for P panels; ``top``: per panel the nodes to star; ``truth``: (N,) ground-truth nodes to ring.
    ``scale="panel"`` divides each panel by its largest value (panels of different quantities side by side);
    negative values (a node whose deletion helps) get the smallest markers."""
    a = np.asarray(adj, dtype=float)
    real = np.flatnonzero(np.ones(len(a)) if mask is None else np.asarray(mask) > 0)
    a = a[np.ix_(real, real)]
    imp = None if importance is None else np.atleast_2d(np.asarray(importance, dtype=float))[:, real]
    if scale not in ("shared", "panel"):
        raise ValueError(f"scale must be 'shared' or 'panel', got {scale!r}")
    if imp is not None and scale == "panel":
        imp = imp / np.maximum(np.abs(imp).max(1, keepdims=True), 1e-12)
    panels = 1 if imp is None else len(imp)
    if isinstance(layout, str):
        if layout not in ("spring", "spectral"):
            raise ValueError(f"layout must be 'spring', 'spectral' or an (n, 2) array, got {layout!r}")
        pos = spring_layout(a, seed) if layout == "spring" else spectral_layout(a)
    else:
        pos = np.asarray(layout, dtype=float)[real]
    fig = make_subplots(rows=1, cols=panels, subplot_titles=list(titles) if titles else None,
                        horizontal_spacing=0.03)
    ex, ey = _edge_xy(pos, a)
    ring = None if truth is None else np.asarray(truth, dtype=bool)[real]
    vmax = float(imp.max()) if imp is not None and imp.size and imp.max() > 0 else 1.0
    vmin = min(0.0, float(imp.min())) if imp is not None and imp.size else 0.0
    for p in range(panels):
        col = p + 1
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#bbbbbb", width=1.2), name="edges",
                                 hoverinfo="skip", showlegend=False), row=1, col=col)
        values = imp[p] if imp is not None else np.zeros(len(real))
        size = 7 + 11 * np.clip(values, 0, None) / vmax if imp is not None else np.full(len(real), 10.0)
        fig.add_trace(go.Scatter(
            x=pos[:, 0], y=pos[:, 1], mode="markers", name="nodes", customdata=real, showlegend=False,
            marker=dict(size=size, color=values, colorscale="YlOrRd", cmin=vmin, cmax=vmax,
                        line=dict(color=["#111" if ring is not None and ring[i] else "#777"
                                         for i in range(len(real))],
                                  width=[2.5 if ring is not None and ring[i] else 0.6 for i in range(len(real))]),
                        showscale=p == panels - 1 and imp is not None,
                        colorbar=dict(title=colorbar_title, thickness=10, len=0.8)),
            hovertemplate="node %{customdata}<br>" + colorbar_title + " %{marker.color:.3f}<extra></extra>"),
            row=1, col=col)
        if top is not None and p < len(top):
            index = {int(n): i for i, n in enumerate(real)}
            chosen = [index[int(n)] for n in top[p] if int(n) in index]
            fig.add_trace(go.Scatter(x=pos[chosen, 0], y=pos[chosen, 1], mode="markers", name="top nodes",
                                     marker=dict(symbol="star", size=11, color="#111", line=dict(color="#fff", width=1)),
                                     hoverinfo="skip",
                                     showlegend=p == 0), row=1, col=col)
    base_layout(fig, title, height, width or 60 + 300 * panels)
    fig.update_xaxes(visible=False)
    for p in range(panels):
        fig.update_yaxes(visible=False, scaleanchor=f"x{p + 1 if p else ''}", row=1, col=p + 1)
    fig.update_annotations(font=dict(size=12, family=FONT["family"]))
    fig.update_layout(legend=dict(orientation="h", y=-0.05, x=0))
    return fig

"""Loss landscapes around the current point, in alpha or weight space (Li et al., NeurIPS 2018).

A :class:`~workbench.analysis.Surface` (a 1-D or 2-D slice along random
filter-normalised, Hessian-eigen or trajectory-PCA directions) drawn as a
3-D surface next to its contour map (2-D) or as a line with the accuracy
(1-D), with the optimiser's recorded trajectory projected onto the slice.

Trace layout (traces are found by ``name``): 2-D: "loss surface"
(``go.Surface``, z = the Surface's [iy, ix] array; "accuracy surface" with
``metric="acc"``), "loss contour", "trajectory", "trajectory (3-D)",
"current point", "current point (3-D)"; 1-D: "loss", "accuracy",
"trajectory", "current point".
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import GRID, base_layout
from workbench.analysis.landscape import Surface, project_trajectory

__all__ = ["trajectory_coords", "landscape_figure"]

_GRID = GRID


def _layout(fig: go.Figure, title: str | None, height: int, width: int | None = None) -> go.Figure:
    return base_layout(fig, title, height, width, top=70)


def trajectory_coords(surface: Surface, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (T, 1 or 2) of flat parameter vectors in the surface's directions, and their distance off it."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != surface.origin.shape[0]:
        raise ValueError(f"trajectory points must be (T, {surface.origin.shape[0]}) flat {surface.space} vectors, "
                         f"got shape {pts.shape}")
    return project_trajectory(pts, surface.origin, *surface.directions)


def _interp2(surface: Surface, z: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of z[iy, ix] at (cx, cy); NaN outside the grid."""
    xs, ys = surface.xs, surface.ys
    out = np.full(len(cx), np.nan)
    for i, (a, b) in enumerate(zip(cx, cy, strict=True)):
        if not (xs[0] <= a <= xs[-1] and ys[0] <= b <= ys[-1]):
            continue
        ix = int(np.clip(np.searchsorted(xs, a) - 1, 0, len(xs) - 2))
        iy = int(np.clip(np.searchsorted(ys, b) - 1, 0, len(ys) - 2))
        tx = (a - xs[ix]) / (xs[ix + 1] - xs[ix])
        ty = (b - ys[iy]) / (ys[iy + 1] - ys[iy])
        out[i] = ((1 - tx) * (1 - ty) * z[iy, ix] + tx * (1 - ty) * z[iy, ix + 1]
                  + (1 - tx) * ty * z[iy + 1, ix] + tx * ty * z[iy + 1, ix + 1])
    return out


def _direction_label(surface: Surface, i: int) -> str:
    if surface.eigenvalues is not None and i < len(surface.eigenvalues):
        return f"d{i + 1} (eigenvector, λ = {surface.eigenvalues[i]:.3g})"
    return f"d{i + 1}"


def landscape_figure(surface: Surface, trajectory: np.ndarray | None = None, steps: Sequence[int] | None = None,
                     *, metric: str = "loss", title: str | None = None, height: int | None = None,
                     width: int | None = None) -> go.Figure:
    """A loss landscape: 2-D as a 3-D surface next to its contour map, 1-D as a line (with accuracy).

    ``trajectory``: flat points (T, n) in the surface's parameter space (for
    alpha space: :func:`workbench.analysis.alpha_trajectory`), projected onto
    the directions by least squares and drawn from start to end, coloured by
    ``steps`` (default 1..T). The current point (the origin) is marked.
    ``metric``: ``"loss"`` or ``"acc"`` (2-D only; 1-D shows both).
    """
    if metric not in ("loss", "acc"):
        raise ValueError(f"metric={metric!r} is not accepted; choose 'loss' or 'acc'")
    space = "α" if surface.space == "alpha" else "w"
    default = (f"{'Alpha' if surface.space == 'alpha' else 'Weight'}-space landscape · {surface.kind} · "
               f"{surface.split} split, BN {surface.bn}")
    title = default if title is None else title
    coords = resid = None
    if trajectory is not None and len(trajectory):
        coords, resid = trajectory_coords(surface, trajectory)
        steps = np.arange(1, len(coords) + 1) if steps is None else np.asarray(steps)
        if len(steps) != len(coords):
            raise ValueError(f"steps has {len(steps)} entries but the trajectory {len(coords)} points")
    if surface.ys is None:
        return _landscape_1d(surface, coords, resid, steps, title, space, height, width)
    return _landscape_2d(surface, coords, resid, steps, metric, title, space, height, width)


def _traj_hover(steps: Sequence[int], resid: np.ndarray, zname: str, z: np.ndarray) -> list[str]:
    return [f"step {int(s)}<br>off the plane by {r:.3g}" + ("" if np.isnan(v) else f"<br>{zname} here ≈ {v:.4f}")
            for s, r, v in zip(steps, resid, z, strict=True)]


def _landscape_2d(surface, coords, resid, steps, metric, title, space, height, width) -> go.Figure:
    z = surface.loss if metric == "loss" else surface.acc
    zname = "loss" if metric == "loss" else "accuracy"
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]], column_widths=[0.54, 0.46],
                        horizontal_spacing=0.06, subplot_titles=[f"{zname} surface", "contour map (top view)"])
    scale = "Viridis" if metric == "loss" else "Viridis_r"
    fig.add_trace(go.Surface(x=surface.xs, y=surface.ys, z=z, name=f"{zname} surface", colorscale=scale,
                             showscale=False, opacity=0.95,
                             contours=dict(z=dict(show=True, usecolormap=True, width=1)),
                             hovertemplate="a=%{x:.2f} b=%{y:.2f}<br>" + zname + " %{z:.4f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Contour(x=surface.xs, y=surface.ys, z=z, name=f"{zname} contour", colorscale=scale,
                             ncontours=18, line=dict(width=0.6, color="rgba(255,255,255,0.5)"),
                             colorbar=dict(title=dict(text=zname, side="top"), thickness=12, len=0.85, x=1.0),
                             hovertemplate="a=%{x:.2f} b=%{y:.2f}<br>" + zname + " %{z:.4f}<extra></extra>"),
                  row=1, col=2)
    z0 = float(_interp2(surface, z, np.array([0.0]), np.array([0.0]))[0])
    if coords is not None:
        cx, cy = coords[:, 0], coords[:, 1]
        zt = _interp2(surface, z, cx, cy)
        hover = _traj_hover(steps, resid, zname, zt)
        marker = dict(size=5, color=np.asarray(steps, float), colorscale="Oranges", cmin=float(np.min(steps)) - 0.3 *
                      max(1.0, float(np.ptp(steps))), cmax=float(np.max(steps)), line=dict(width=0))
        fig.add_trace(go.Scatter(x=cx, y=cy, name="trajectory", mode="lines+markers", text=hover,
                                 hovertemplate="%{text}<extra>trajectory</extra>",
                                 line=dict(color="rgba(230,120,30,0.6)", width=1.5), marker=marker), row=1, col=2)
        inside = ~np.isnan(zt)
        fig.add_trace(go.Scatter3d(x=cx[inside], y=cy[inside], z=zt[inside] + 0.004 * (np.ptp(z) + 1e-12),
                                   name="trajectory (3-D)", mode="lines+markers",
                                   text=[h for h, k in zip(hover, inside, strict=True) if k],
                                   hovertemplate="%{text}<extra>trajectory</extra>", showlegend=False,
                                   line=dict(color="rgba(230,120,30,0.8)", width=4),
                                   marker=dict(size=2.5, color="#e67e22")), row=1, col=1)
        start = f"start (step {int(steps[0])})"
        fig.add_annotation(x=cx[0], y=cy[0], text=start, showarrow=True, arrowhead=2, ax=25, ay=-25,
                           font=dict(size=11, color="#a04000"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0.0], y=[0.0], name="current point", mode="markers",
                             marker=dict(symbol="star", size=16, color="#e4572e", line=dict(color="#fff", width=1)),
                             hovertemplate=f"current point<br>{zname} {z0:.4f}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter3d(x=[0.0], y=[0.0], z=[z0], name="current point (3-D)", mode="markers",
                               showlegend=False, marker=dict(size=6, color="#e4572e", symbol="diamond"),
                               hovertemplate=f"current point<br>{zname} {z0:.4f}<extra></extra>"), row=1, col=1)
    d1, d2 = _direction_label(surface, 0), _direction_label(surface, 1)
    fig.update_scenes(xaxis_title=f"a · {d1.split(' ')[0]}", yaxis_title=f"b · {d2.split(' ')[0]}",
                      zaxis_title=zname, camera=dict(eye=dict(x=1.5, y=-1.5, z=0.9)),
                      aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.7), row=1, col=1)
    fig.update_xaxes(title_text=f"a ({space} + a·{d1})", range=[surface.xs[0], surface.xs[-1]], row=1, col=2)
    fig.update_yaxes(title_text=f"b ({space} + b·{d2})", range=[surface.ys[0], surface.ys[-1]],
                     scaleanchor="x2", row=1, col=2)
    _layout(fig, title, height or 520, width)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, x=0.55, font=dict(size=11)),
                      margin=dict(l=40, r=10, t=80, b=60))
    for a in fig.layout.annotations[:2]:
        a.font = dict(size=12, color="#444")
    return fig


def _landscape_1d(surface, coords, resid, steps, title, space, height, width) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    d1 = _direction_label(surface, 0)
    fig.add_trace(go.Scatter(x=surface.xs, y=surface.loss, name="loss", mode="lines+markers",
                             line=dict(color="#1f5aa6", width=2.5), marker=dict(size=5),
                             hovertemplate="a=%{x:.3f}<br>loss %{y:.4f}<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=surface.xs, y=surface.acc, name="accuracy", mode="lines",
                             line=dict(color="#2e9d4f", width=1.8, dash="dot"),
                             hovertemplate="a=%{x:.3f}<br>accuracy %{y:.1%}<extra></extra>"), secondary_y=True)
    l0 = float(np.interp(0.0, surface.xs, surface.loss))
    if coords is not None:
        cx = coords[:, 0]
        inside = (cx >= surface.xs[0]) & (cx <= surface.xs[-1])
        yl = np.where(inside, np.interp(cx, surface.xs, surface.loss), np.nan)
        fig.add_trace(go.Scatter(x=cx[inside], y=yl[inside], name="trajectory", mode="markers",
                                 text=[h for h, k in zip(_traj_hover(steps, resid, "loss", yl), inside, strict=True) if k],
                                 hovertemplate="%{text}<extra>trajectory</extra>",
                                 marker=dict(size=6, color=np.asarray(steps, float)[inside], colorscale="Oranges",
                                             line=dict(width=0.5, color="#a04000"))), secondary_y=False)
    fig.add_trace(go.Scatter(x=[0.0], y=[l0], name="current point", mode="markers",
                             marker=dict(symbol="star", size=16, color="#e4572e", line=dict(color="#fff", width=1)),
                             hovertemplate=f"current point<br>loss {l0:.4f}<extra></extra>"), secondary_y=False)
    _layout(fig, title, height or 360, width)
    fig.update_xaxes(title_text=f"a ({space} + a·{d1})", gridcolor=_GRID, zeroline=False)
    fig.update_yaxes(title_text="loss", gridcolor=_GRID, zeroline=False, secondary_y=False)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", showgrid=False, secondary_y=True)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=11)))
    return fig

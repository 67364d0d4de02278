"""Pure figure functions for the analyses: sharpness track, loss landscapes, perturbation probes.

Figures for the three analyses of :mod:`workbench.analysis` and
:mod:`workbench.analysis.projection`, drawn from their results (never recomputed):

* the dominant eigenvalue of the alpha Hessian over a search, with its top-k
  spectrum and RobustDARTS's early-stopping marks (Zela et al., ICLR 2020,
  Fig. 5 and Sec. 4.3): where the rule fired and the epoch it rolled back to;
* 1-D / 2-D loss landscapes in alpha or weight space (Li et al., NeurIPS
  2018) with the optimiser's trajectory projected onto the plane;
* DARTS-PT's probe (Wang et al., ICLR 2021, Sec. 3): the accuracy the
  supernet loses when each op of an edge is masked, next to softmax(alpha),
  and the per-edge magnitude-vs-perturbation comparison as a heatmap and a
  table, scored in NAS-Bench-201 when a table is given.

Like :mod:`widgets.figures`, nothing here holds state or subscribes to a
bus: live views (:mod:`widgets.analysis_views`) call the ``update_*``
functions on their FigureWidgets; static reports call the builders.

Trace layout (the live layer and the tests rely on it; traces are found by ``name``):

* :func:`sharpness_figure`: "dominant eigenvalue", "top-k spectrum" (λ2..λk
  as None-separated lines), "local average", "rolled back" (results undone
  by a rollback), "early stop fired" (a vertical line), "rolled back to".
* :func:`landscape_figure`: 2-D: "loss surface" (``go.Surface``, z = the
  Surface's [iy, ix] array; "accuracy surface" with ``metric="acc"``), "loss
  contour", "trajectory", "trajectory (3-D)", "current point", "current point
  (3-D)"; 1-D: "loss", "accuracy", "trajectory", "current point".
* :func:`probe_figure`: "accuracy drop" (or "loss rise") and "weight" bars.
* :func:`selection_heatmap`: ``data[0]`` the per-edge, per-op drop heatmap,
  then "perturbation pick" and "magnitude pick" markers.
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures import FONT, edge_labels, op_color
from workbench.analysis.landscape import Surface, project_trajectory
from workbench.events import AnalysisResult
from workbench.history import History
from workbench.spaces.cell.genotype import Genotype, count_param_free

__all__ = [
    "SharpnessTrack", "sharpness_track", "sharpness_figure", "update_sharpness_figure", "sharpness_comparison_figure",
    "trajectory_coords", "landscape_figure", "probe_figure", "selection_heatmap", "selection_rows",
    "selection_table_html", "nb201_scores",
]

_GRID = "#e6e6e6"
_TEMPLATE = "plotly_white"
_EV = "#c0392b"  # the dominant eigenvalue
_SPEC = "#e59866"  # the rest of the spectrum
_AVG = "#34495e"
_BACK = "#b0b0b0"
_STOP = "#2e7d32"


def _layout(fig: go.Figure, title: str | None, height: int, width: int | None = None) -> go.Figure:
    fig.update_layout(template=_TEMPLATE, font=FONT, height=height, width=width,
                      title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)) if title else None,
                      margin=dict(l=60, r=20, t=70 if title else 30, b=45),
                      hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig


# ------------------------------------------------------------------------------ sharpness
class SharpnessTrack:
    """The sharpness results of one search, reduced to arrays (the data behind :func:`sharpness_figure`)."""

    def __init__(self, results: Sequence[AnalysisResult], discarded: Sequence[AnalysisResult] = ()) -> None:
        kept = [r for r in results if r.kind == "sharpness"]
        self.results = kept
        self.discarded = [r for r in discarded if r.kind == "sharpness"]
        stops = [r for r in list(results) + list(discarded) if r.kind == "early_stop"]
        self.early_stop: Mapping[str, Any] | None = dict(stops[-1].values) | {"step": stops[-1].step} \
            if stops else None
        self.step = np.array([r.step for r in kept], dtype=float)
        self.epoch = np.array([_num(r.values.get("epoch")) for r in kept], dtype=float)
        self.eigenvalue = np.array([float(r.values["eigenvalue"]) for r in kept], dtype=float)
        self.top_k = [tuple(float(v) for v in r.values.get("top_k", [r.values["eigenvalue"]])) for r in kept]
        self.local_average = np.array([_num(r.values.get("local_average")) for r in kept], dtype=float)

    def __len__(self) -> int:
        return len(self.results)

    def x_axis(self, x: str = "auto") -> str:
        """'epoch' or 'step': ``auto`` uses epochs when every result has a distinct epoch (per-epoch tracking)."""
        if x not in ("auto", "epoch", "step"):
            raise ValueError(f"x={x!r} is not accepted; choose 'auto', 'epoch' or 'step'")
        if x != "auto":
            return x
        every = list(self.epoch) + [_num(r.values.get("epoch")) for r in self.discarded]
        ok = len(every) > 0 and not np.isnan(every).any() and len(set(self.epoch.tolist())) == len(self.epoch)
        return "epoch" if ok else "step"

    def xs(self, x: str, results: Sequence[AnalysisResult] | None = None) -> np.ndarray:
        rs = self.results if results is None else results
        key = "epoch" if x == "epoch" else None
        return np.array([_num(r.values.get("epoch")) if key else r.step for r in rs], dtype=float)

    def x_of_epoch(self, epoch: int, x: str) -> float | None:
        """Where an epoch sits on the x axis: the epoch itself, or the step of the last result of that epoch."""
        if x == "epoch":
            return float(epoch)
        rs = [r for r in self.results + self.discarded if _num(r.values.get("epoch")) == epoch]
        return float(max(r.step for r in rs)) if rs else None


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def sharpness_track(source: Sequence[AnalysisResult] | History) -> SharpnessTrack:
    """A :class:`SharpnessTrack` from a list of ``AnalysisResult`` events or a History's ``analysis``."""
    results = source.analysis if isinstance(source, History) else list(source)
    return SharpnessTrack(results)


def sharpness_figure(source: Sequence[AnalysisResult] | History | SharpnessTrack, *, x: str = "auto",
                     title: str | None = "Sharpness: dominant eigenvalue of ∇²_α L_val",
                     height: int = 380, width: int | None = None) -> go.Figure:
    """The dominant alpha-Hessian eigenvalue over a search, its top-k spectrum and early-stopping marks.

    ``source``: ``AnalysisResult(kind="sharpness" | "early_stop")`` events (in
    emission order), a History (its ``analysis`` list) or a
    :class:`SharpnessTrack`. ``x``: ``"epoch"``, ``"step"`` or ``"auto"``.
    """
    track = source if isinstance(source, SharpnessTrack) else sharpness_track(source)
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="dominant eigenvalue", mode="lines+markers", line=dict(color=_EV, width=2.5),
                             marker=dict(size=7)))
    fig.add_trace(go.Scatter(name="top-k spectrum", mode="lines+markers", line=dict(color=_SPEC, width=1.2,
                                                                                     dash="dot"),
                             marker=dict(size=5), connectgaps=False))
    fig.add_trace(go.Scatter(name="local average", mode="lines", line=dict(color=_AVG, width=1.5, dash="dash"),
                             hovertemplate="RobustDARTS local average (as known then) %{y:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(name="rolled back", mode="lines+markers", line=dict(color=_BACK, width=1.5),
                             marker=dict(size=6, symbol="circle-open"), opacity=0.8))
    fig.add_trace(go.Scatter(name="early stop fired", mode="lines+text", line=dict(color=_EV, width=1.5,
                                                                                   dash="dash"),
                             textposition="top left", textfont=dict(size=11, color=_EV), hoverinfo="skip"))
    fig.add_trace(go.Scatter(name="rolled back to", mode="markers+text", textposition="bottom center",
                             marker=dict(size=15, symbol="diamond", color=_STOP, line=dict(color="#fff", width=1)),
                             textfont=dict(size=11, color=_STOP)))
    _layout(fig, title, height, width)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=11)),
                      yaxis=dict(title="eigenvalue", gridcolor=_GRID, zeroline=False, rangemode="tozero"),
                      xaxis=dict(gridcolor=_GRID, zeroline=False))
    update_sharpness_figure(fig, track, x=x)
    return fig


def update_sharpness_figure(fig: go.Figure, source: Sequence[AnalysisResult] | History | SharpnessTrack, *,
                            x: str = "auto") -> str:
    """Put a new track into a figure made by :func:`sharpness_figure`, in place; returns the x axis used."""
    track = source if isinstance(source, SharpnessTrack) else sharpness_track(source)
    axis = track.x_axis(x)
    traces = {t.name: t for t in fig.data}
    xs = track.xs(axis)
    hover = [f"step {int(s)} · epoch {'?' if math.isnan(e) else int(e)}<br>λmax = {v:.4f}"
             for s, e, v in zip(track.step, track.epoch, track.eigenvalue, strict=True)]
    ev = traces["dominant eigenvalue"]
    ev.x, ev.y, ev.text, ev.hovertemplate = xs, track.eigenvalue, hover, "%{text}<extra></extra>"
    sx: list[Any] = []
    sy: list[Any] = []
    st: list[Any] = []
    k = max((len(t) for t in track.top_k), default=1)
    for i in range(1, k):  # λ2 over the run, then λ3, ... one polyline each
        for xv, tk in zip(xs, track.top_k, strict=True):
            sx.append(float(xv))
            sy.append(tk[i] if i < len(tk) else None)
            st.append(f"λ{i + 1}")
        sx.append(None)
        sy.append(None)
        st.append("")
    spec = traces["top-k spectrum"]
    spec.x, spec.y, spec.text = sx, sy, st
    spec.hovertemplate = "%{text} = %{y:.4f}<extra></extra>"
    spec.showlegend = k > 1
    la = traces["local average"]
    has_avg = not np.all(np.isnan(track.local_average)) if len(track) else False
    la.x, la.y, la.showlegend = (xs, np.where(np.isnan(track.local_average), None, track.local_average), True) \
        if has_avg else ([], [], False)
    back = traces["rolled back"]
    bx = track.xs(axis, track.discarded)
    back.x, back.y = bx, [float(r.values["eigenvalue"]) for r in track.discarded]
    back.showlegend = bool(track.discarded)
    fired, kept = traces["early stop fired"], traces["rolled back to"]
    ymax = max([float(np.max(track.eigenvalue)) if len(track) else 0.0] +
               [float(r.values["eigenvalue"]) for r in track.discarded] + [1e-9])
    es = track.early_stop
    # each property is assigned exactly once: inside a FigureWidget's batch_update, clearing a value and then
    # setting it back to what is on screen would leave the clearing edit pending
    f_x: list = []
    f_y: list = []
    f_t: list = []
    k_x: list = []
    k_y: list = []
    k_t: list = []
    k_h = None
    if es is not None:
        xt = track.x_of_epoch(int(es["trigger_epoch"]), axis) if axis == "epoch" else float(es["step"])
        ratio = es.get("ratio")
        label = f"early stop fired (ratio {ratio:.2f} > {es.get('factor', float('nan')):.2f})" \
            if ratio is not None else "early stop fired"
        f_x, f_y, f_t = [xt, xt], [0.0, ymax * 1.08], ["", label]
        xs_stop = track.x_of_epoch(int(es["stop_epoch"]), axis)
        if xs_stop is not None:
            ev_at = _eigen_at(track, int(es["stop_epoch"]))
            k_x, k_y = [xs_stop], [ev_at if ev_at is not None else 0.0]
            k_t = [f"rolled back to epoch {int(es['stop_epoch'])}"]
            k_h = f"kept the architecture of epoch {int(es['stop_epoch'])}<extra></extra>"
    fired.x, fired.y, fired.text, fired.showlegend = f_x, f_y, f_t, bool(f_x)
    kept.x, kept.y, kept.text, kept.showlegend = k_x, k_y, k_t, bool(k_x)
    if k_h is not None:
        kept.hovertemplate = k_h
    fig.layout.xaxis.title.text = axis
    return axis


def _eigen_at(track: SharpnessTrack, epoch: int) -> float | None:
    for r in track.results + track.discarded:
        if _num(r.values.get("epoch")) == epoch:
            return float(r.values["eigenvalue"])
    return None


# ------------------------------------------------------------------------------ landscapes
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


# ------------------------------------------------------------------------------ perturbation probe
def _probe_scores(probe: Any) -> tuple[tuple[float, ...], str]:
    if probe.crit == "acc":
        return probe.acc_drop, "accuracy drop"
    return probe.loss_rise, "loss rise"


def probe_figure(probe: Any, labels: Sequence[str] | None = None, *, title: str | None = None,
                 height: int = 330, width: int | None = None) -> go.Figure:
    """One edge's DARTS-PT probe: accuracy drop when each op is masked (left) next to softmax(alpha) (right).

    ``probe`` is a :class:`workbench.analysis.projection.ProbeResult`. The op the
    perturbation rule picks (largest drop; first among ties) and the op the
    magnitude rule picks (largest weight) are outlined and labelled.
    """
    ops = list(probe.ops)
    scores, name = _probe_scores(probe)
    edge = labels[probe.edge] if labels is not None else f"{probe.src}→{probe.node + 1}"
    title = (f"Probe · {probe.cell_type} edge {probe.edge} ({edge}) · supernet accuracy {probe.base_acc:.1%}"
             if title is None else title)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=[f"{name} when the op is masked", "softmax(α) weight"])
    pick_p, pick_m = ops.index(probe.chosen), ops.index(probe.magnitude_op)
    colors = [op_color(o) for o in ops]

    def outline(pick: int) -> dict:
        return dict(color=colors, line=dict(color=["#111" if i == pick else "rgba(0,0,0,0)" for i in range(len(ops))],
                                            width=[3 if i == pick else 0 for i in range(len(ops))]))

    fmt = ".1%" if probe.crit == "acc" else ".4f"
    fig.add_trace(go.Bar(x=ops, y=list(scores), name=name, marker=outline(pick_p), showlegend=False,
                         text=[f"{v:+{fmt}}" for v in scores], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: " + name + " %{y:" + fmt + "}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=ops, y=list(probe.weights), name="weight", marker=outline(pick_m), showlegend=False,
                         text=[f"{v:.3f}" for v in probe.weights], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: weight %{y:.4f}<extra></extra>"), row=1, col=2)
    lo = min(0.0, float(min(scores)))
    hi = max(float(max(scores)), 1e-3)
    fig.update_yaxes(range=[lo - 0.15 * (hi - lo), hi + 0.25 * (hi - lo)], tickformat=fmt,
                     gridcolor=_GRID, zeroline=True, zerolinecolor="#999", row=1, col=1)
    fig.update_yaxes(range=[0, max(probe.weights) * 1.3 + 1e-9], gridcolor=_GRID, row=1, col=2)
    fig.update_xaxes(tickangle=-25, row=1, col=1)
    fig.update_xaxes(tickangle=-25, row=1, col=2)
    fig.add_annotation(x=ops[pick_p], y=scores[pick_p], yshift=26, text="<b>perturbation pick</b>",
                       showarrow=False, font=dict(size=11, color="#111"), row=1, col=1)
    fig.add_annotation(x=ops[pick_m], y=probe.weights[pick_m], yshift=26, text="<b>magnitude pick</b>",
                       showarrow=False, font=dict(size=11, color="#111"), row=1, col=2)
    _layout(fig, title, height, width)
    fig.update_layout(margin=dict(t=80, b=70), bargap=0.25)
    for a in fig.layout.annotations[:2]:
        a.font = dict(size=12, color="#444")
    return fig


def selection_rows(comparison: Any) -> list[dict[str, Any]]:
    """One dict per probed edge of a :class:`workbench.analysis.projection.SelectionComparison` (plain data)."""
    out = []
    for r in comparison.rows:
        p = r.probe
        scores, _ = _probe_scores(p)
        i_m, i_p = p.ops.index(r.magnitude_op), p.ops.index(r.perturbation_op)
        out.append({"cell": p.cell_type, "edge": p.edge, "node": p.node, "src": p.src,
                    "magnitude": r.magnitude_op, "magnitude_weight": p.weights[i_m],
                    "perturbation": r.perturbation_op, "perturbation_score": scores[i_p],
                    "magnitude_score": scores[i_m], "agree": r.agree, "why": r.why, "crit": p.crit})
    return out


def selection_heatmap(comparison: Any, space: Any, *, title: str | None = None, height: int | None = None,
                      width: int | None = None) -> go.Figure:
    """Per (edge, op): the drop when the op is masked; the perturbation pick circled, the magnitude pick starred.

    Rows are ``cell · edge`` in the comparison's order (click a row in the
    live view to probe that edge).
    """
    ops = list(space.ops)
    labels = edge_labels(space)
    rows = comparison.rows
    z = np.full((len(rows), len(ops)), np.nan)
    text = np.full((len(rows), len(ops)), "", dtype=object)
    crit = rows[0].probe.crit if rows else "acc"
    for i, r in enumerate(rows):
        scores, _ = _probe_scores(r.probe)
        for o, v in zip(r.probe.ops, scores, strict=True):
            z[i, ops.index(o)] = v
            text[i, ops.index(o)] = f"{v:+.1%}" if crit == "acc" else f"{v:+.3f}"
    ylab = [f"{r.probe.cell_type} · {labels[r.probe.edge]}" if len(space.cell_types) > 1 else
            f"edge {r.probe.edge} · {labels[r.probe.edge]}" for r in rows]
    name = "accuracy drop" if crit == "acc" else "loss rise"
    m = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    m = max(m, 1e-9)
    xs = list(range(len(ops)))
    py = list(range(len(rows)))
    fig = go.Figure(go.Heatmap(
        x=xs, y=py, z=np.where(np.isnan(z), None, z.astype(object)), name=name,
        text=text, texttemplate="%{text}", textfont=dict(size=11), colorscale="RdBu_r", zmid=0, zmin=-m, zmax=m,
        xgap=2, ygap=2, customdata=[[f"{lab} · {op}" for op in ops] for lab in ylab],
        colorbar=dict(title=dict(text=name, side="top"), thickness=12, tickformat=".1%" if crit == "acc" else ".2f"),
        hovertemplate="%{customdata}<br>" + name + " when masked: %{text}<extra></extra>"))
    bx: list[Any] = []
    by: list[Any] = []
    for k, r in enumerate(rows):  # a closed outline around each edge's perturbation pick
        o = ops.index(r.perturbation_op)
        bx += [o - 0.46, o + 0.46, o + 0.46, o - 0.46, o - 0.46, None]
        by += [k - 0.42, k - 0.42, k + 0.42, k + 0.42, k - 0.42, None]
    fig.add_trace(go.Scatter(x=bx, y=by, name="perturbation pick", mode="lines", hoverinfo="skip",
                             line=dict(color="#111", width=2.5)))
    fig.add_trace(go.Scatter(x=[ops.index(r.magnitude_op) + 0.34 for r in rows], y=[k - 0.24 for k in py],
                             name="magnitude pick", mode="markers", hoverinfo="skip",
                             marker=dict(symbol="star", size=12, color="#e4572e", line=dict(width=0.6, color="#fff"))))
    _layout(fig, "Magnitude vs perturbation, every edge" if title is None else title,
            height or max(280, 34 * len(rows) + 170), width)
    fig.update_layout(xaxis=dict(side="top", tickmode="array", tickvals=xs, ticktext=ops, tickangle=-25,
                                 showgrid=False, zeroline=False, range=[-0.5, len(ops) - 0.5]),
                      yaxis=dict(tickmode="array", tickvals=py,
                                 ticktext=[lab if r.agree else f"<b>{lab} ≠</b>" for lab, r in zip(ylab, rows, strict=True)],
                                 range=[len(rows) - 0.5, -0.5], showgrid=False, zeroline=False),
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0, font=dict(size=11)),
                      plot_bgcolor="#fff", margin=dict(t=120, l=130, b=40))
    return fig


def nb201_scores(genotypes: Mapping[str, Genotype | None], table: Any) -> dict[str, dict[str, Any]]:
    """NAS-Bench-201 CIFAR-10 accuracy and rank of labelled genotypes: ``{label: {genotype, c10, rank, pf}}``.

    ``table`` is a :class:`workbench.spaces.cell.nb201.NB201Table` (or None: no scores);
    genotypes outside the table get ``c10 = None`` and the reason.
    """
    out: dict[str, dict[str, Any]] = {}
    for label, g in genotypes.items():
        if g is None:
            continue
        row: dict[str, Any] = {"genotype": g, "c10": None, "rank": None,
                               "pf": sum(count_param_free(g.cell(c)) for c in g.cell_names)}
        if table is not None:
            try:
                rec = table.lookup(g)
                row.update(c10=float(rec.c10), rank=int(table.rank(g)), n=len(table))
            except Exception as exc:  # not an NB201 cell, or not in this table
                row["error"] = str(exc)
        out[label] = row
    return out


def _gstr(g: Genotype) -> str:
    try:
        return g.to_nb201_str() if g.is_nb201() else str(g)
    except Exception:
        return str(g)


def selection_table_html(comparison: Any, space: Any, table: Any = None, projected: Genotype | None = None) -> str:
    """An HTML table: per edge the magnitude and perturbation choices (disagreements red, with the reason),
    then the genotypes they derive, with their NAS-Bench-201 score when ``table`` is given."""
    labels = edge_labels(space)
    crit = comparison.rows[0].probe.crit if comparison.rows else "acc"
    unit = "acc. drop" if crit == "acc" else "loss rise"
    th = "style='text-align:left;padding:3px 10px;border-bottom:2px solid #ccc;white-space:nowrap'"
    td = "style='padding:3px 10px;border-bottom:1px solid #eee;white-space:nowrap;line-height:1.5'"
    lines = ["<table class='dnas-selection-table' style='border-collapse:collapse;font-size:13px'>",
             f"<tr><th {th}>cell</th><th {th}>edge</th><th {th}>magnitude (weight · {unit})</th>"
             f"<th {th}>perturbation ({unit})</th><th {th}>agree</th></tr>"]
    fmt = (lambda v: f"{v + 0.0:+.1%}") if crit == "acc" else (lambda v: f"{v + 0.0:+.4f}")
    for row in selection_rows(comparison):
        style = "" if row["agree"] else " style='background:#fdecea'"
        tip = f" title='{html.escape(row['why'], quote=True)}'" if row["why"] else ""
        mark = "✓" if row["agree"] else "<b style='color:#c62828'>✗</b>"
        lines.append(
            f"<tr{style}{tip}><td {td}>{html.escape(row['cell'])}</td><td {td}>{row['edge']} · "
            f"{html.escape(labels[row['edge']])}</td>"
            f"<td {td}><span style='color:{op_color(row['magnitude'])}'>■</span> {row['magnitude']} "
            f"({row['magnitude_weight']:.3f} · {fmt(row['magnitude_score'])})</td>"
            f"<td {td}><span style='color:{op_color(row['perturbation'])}'>■</span> {row['perturbation']} "
            f"({fmt(row['perturbation_score'])})</td><td {td}>{mark}</td></tr>")
    lines.append("</table>")
    whys = [r for r in selection_rows(comparison) if r["why"]]
    if whys:
        lines.append("<ul style='font-size:12px;color:#555;margin:4px 0 8px 0;line-height:1.35'>" + "".join(
            f"<li>edge {r['edge']}: {html.escape(r['why'])}</li>" for r in whys) + "</ul>")
    genos = {"magnitude (argmax α)": comparison.magnitude, "perturbation (one-shot probe)": comparison.perturbation,
             "DARTS-PT projection": projected if projected is not None else comparison.projected}
    scores = nb201_scores(genos, table)
    lines.append("<table class='dnas-selection-genotypes' style='border-collapse:collapse;font-size:13px;"
                 "margin-top:6px'>")
    head = f"<tr><th {th}>selection</th><th {th}>genotype</th><th {th}>param-free</th>"
    head += f"<th {th}>NB201 CIFAR-10</th><th {th}>rank</th></tr>" if table is not None else "</tr>"
    lines.append(head)
    for label, s in scores.items():
        text = html.escape(_gstr(s["genotype"])).replace("+", "+<wbr>")
        cells = (f"<td {td}>{html.escape(label)}</td><td {td.replace('white-space:nowrap;', '')}>"
                 f"<code style='font-size:11px'>{text}</code></td><td {td}>{s['pf']}</td>")
        if table is not None:
            if s["c10"] is not None:
                cells += f"<td {td}><b>{s['c10']:.2f}%</b></td><td {td}>{s['rank']:,} / {s['n']:,}</td>"
            else:
                cells += f"<td {td} colspan=2>{html.escape(s.get('error', 'n/a'))}</td>"
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    if table is None:
        lines.append("<div style='font-size:12px;color:#777'>no NAS-Bench-201 table given: no ground-truth "
                     "scores (pass <code>nb201_table=</code>)</div>")
    return "\n".join(lines)


def sharpness_comparison_figure(tracks: Mapping[str, Sequence[AnalysisResult] | History | SharpnessTrack], *,
                                x: str = "auto", title: str | None = "Dominant eigenvalue, method by method",
                                height: int = 360, width: int | None = None) -> go.Figure:
    """Several searches' dominant-eigenvalue tracks in one plot (one trace per label, e.g. DARTS vs SDARTS-RS)."""
    palette = ("#c0392b", "#1f5aa6", "#2e9d4f", "#8e44ad", "#f28e2b")
    built = {k: v if isinstance(v, SharpnessTrack) else sharpness_track(v) for k, v in tracks.items()}
    axes = {t.x_axis(x) for t in built.values() if len(t)}
    axis = "epoch" if axes == {"epoch"} else "step"
    fig = go.Figure()
    for i, (label, t) in enumerate(built.items()):
        fig.add_trace(go.Scatter(x=t.xs(axis), y=t.eigenvalue, name=label, mode="lines+markers",
                                 line=dict(color=palette[i % len(palette)], width=2.5), marker=dict(size=7),
                                 hovertemplate=f"{label}<br>{axis} %{{x}}: λmax %{{y:.4f}}<extra></extra>"))
    _layout(fig, title, height, width)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      xaxis=dict(title=axis, gridcolor=_GRID, zeroline=False),
                      yaxis=dict(title="dominant eigenvalue", gridcolor=_GRID, zeroline=False, rangemode="tozero"))
    return fig

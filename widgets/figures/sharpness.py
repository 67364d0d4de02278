"""The sharpness track of a search: the dominant eigenvalue of the alpha Hessian, with early-stopping marks.

RobustDARTS (Zela et al., ICLR 2020, Fig. 5 and Sec. 4.3) showed that the
dominant eigenvalue of the validation loss's Hessian w.r.t. alpha grows as
DARTS heads for a poor architecture, and stops the search early when it
rises too fast. Drawn from ``AnalysisResult(kind="sharpness" | "early_stop")``
events (never recomputed): the eigenvalue per measurement, the rest of its
top-k spectrum, the rule's local average, where the rule fired and the
epoch it rolled back to; and several searches' tracks in one plot.

Trace layout (the live view and the tests rely on it; traces are found by
``name``): "dominant eigenvalue", "top-k spectrum" (λ2..λk as
None-separated lines), "local average", "rolled back" (results undone by a
rollback), "early stop fired" (a vertical line), "rolled back to".
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import GRID, base_layout
from workbench.events import AnalysisResult
from workbench.history import History

__all__ = ["SharpnessTrack", "sharpness_track", "sharpness_figure", "update_sharpness_figure",
           "sharpness_comparison_figure"]

_GRID = GRID
_EV = "#c0392b"  # the dominant eigenvalue
_SPEC = "#e59866"  # the rest of the spectrum
_AVG = "#34495e"
_BACK = "#b0b0b0"
_STOP = "#2e7d32"


def _layout(fig: go.Figure, title: str | None, height: int, width: int | None = None) -> go.Figure:
    return base_layout(fig, title, height, width, top=70)


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
        # measurements taken on demand ("compute now") sit between epochs (see :func:`_epoch_x`): they never
        # turn a per-epoch track into a per-step one
        tracked = [r for r in self.results if not _on_demand(r)]
        epochs = [_num(r.values.get("epoch")) for r in tracked]
        ok = (len(every) > 0 and not np.isnan(every).any() and len(set(epochs)) == len(epochs)
              and all(_on_demand(r) is False or "steps_per_epoch" in r.values or _unique_epoch(r, self.results)
                      for r in self.results))
        return "epoch" if ok else "step"

    def xs(self, x: str, results: Sequence[AnalysisResult] | None = None) -> np.ndarray:
        rs = self.results if results is None else results
        return np.array([_epoch_x(r) if x == "epoch" else r.step for r in rs], dtype=float)

    def x_of_epoch(self, epoch: int, x: str) -> float | None:
        """Where an epoch sits on the x axis: the epoch itself, or the step of the last result of that epoch."""
        if x == "epoch":
            return float(epoch)
        rs = [r for r in self.results + self.discarded if _num(r.values.get("epoch")) == epoch]
        return float(max(r.step for r in rs)) if rs else None


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _on_demand(r: AnalysisResult) -> bool:
    return r.values.get("source") == "compute now"


def _unique_epoch(r: AnalysisResult, results: Sequence[AnalysisResult]) -> bool:
    return sum(_num(o.values.get("epoch")) == _num(r.values.get("epoch")) for o in results) == 1


def _epoch_x(r: AnalysisResult) -> float:
    """Where a result sits on an epoch axis: a tracked one at its epoch (measured at the epoch's end), an
    on-demand one at the fraction of the epoch it was taken in (step s of an epoch of n: s / n - 1, so the last
    step of epoch e is at e)."""
    spe = r.values.get("steps_per_epoch")
    if _on_demand(r) and spe:
        return r.step / float(spe) - 1.0
    return _num(r.values.get("epoch"))


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

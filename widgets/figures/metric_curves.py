"""Training curves: train/val loss, the task's headline metric and the learning rate, by step.

The metric is the task's own (``history.primary_metric``): accuracy for
classification, drawn in percent, or e.g. ``mse`` for a regression task,
drawn as a number. Per-batch values are faint with an EMA-smoothed line on
top (as TensorBoard's smoothing slider); diamonds are the supernet's
validation metric at each epoch end.

Trace layout (the live view relies on it): traces are found by ``name``
("train loss (per batch)", "train loss", ..., "supernet val acc (epoch)",
"lr (weights)").
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import GRID, base_layout, decimate, epoch_boundaries
from widgets.metrics import is_fraction, primary_metric, series
from workbench.history import History

__all__ = ["loss_curves", "ema", "epoch_name", "boundary_shapes"]


def ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard's smoothing slider)."""
    out = np.empty(len(y))
    m, norm = 0.0, 0.0
    for i, v in enumerate(np.asarray(y, float)):
        if np.isfinite(v):
            m = alpha * m + (1 - alpha) * v
            norm = alpha * norm + (1 - alpha)
        out[i] = m / norm if norm > 0 else np.nan
    return out


def epoch_name(metric: str) -> str:
    """The name of the per-epoch supernet trace."""
    return "supernet val acc (epoch)" if is_fraction(metric) else f"supernet val {metric} (epoch)"


def boundary_shapes(bounds: list[float]) -> list[dict]:
    """Epoch boundaries as plain shape dicts, one line per subplot (set once: add_vline rescans the data per call)."""
    return [dict(type="line", x0=b, x1=b, y0=0, y1=1, xref=f"x{r if r > 1 else ''}",
                 yref=f"y{r if r > 1 else ''} domain", layer="below", line=dict(color="#d5d5d5", width=1))
            for b in bounds for r in (1, 2, 3)]


def loss_curves(history: History, smoothing: float | None = 0.8,
                title: str | None = "Loss, accuracy and learning rate", max_points: int | None = None) -> go.Figure:
    """Train/val loss, train/val headline metric (with the per-epoch supernet value) and lr, by step.

    Raw per-batch values are faint; ``smoothing`` (0..1, EMA factor) adds a bold
    smoothed line, ``None`` disables it. ``max_points`` thins long runs (the
    smoothing is computed on every step first). The default title names the
    task's metric.
    """
    if smoothing is not None and not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1) or None, got {smoothing}")
    primary = primary_metric(history)
    pct = is_fraction(primary)
    if title == "Loss, accuracy and learning rate" and not pct:
        title = f"Loss, {primary} and learning rate"
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.4, 0.4, 0.2],
                        subplot_titles=["loss", primary, "learning rate"])
    idx = decimate(len(history), max_points)
    x = history.steps[idx]
    colors = {"train": "#3a78b8", "val": "#e4572e"}
    for row, metric in ((1, "loss"), (2, primary)):
        for part in ("train", "val"):
            y_all = series(history, f"{part}_{metric}")
            y = y_all[idx]
            name = f"{part} {metric}"
            fmt = ".1%" if is_fraction(metric) else ".3f"
            fig.add_trace(go.Scattergl(x=x, y=y, name=name if smoothing is None else f"{name} (per batch)",
                                       legendgroup=part, mode="lines", opacity=0.35 if smoothing is not None else 1,
                                       line=dict(color=colors[part], width=1),
                                       showlegend=False if smoothing is not None else True,
                                       hovertemplate=f"{name}<br>step %{{x}}: %{{y:{fmt}}}<extra></extra>"),
                          row=row, col=1)
            if smoothing is not None:
                fig.add_trace(go.Scattergl(x=x, y=ema(y_all, smoothing)[idx], name=name, legendgroup=part,
                                           mode="lines", line=dict(color=colors[part], width=2.2),
                                           showlegend=metric == "loss",
                                           hovertemplate=f"{name} (smoothed)<br>step %{{x}}: %{{y:{fmt}}}"
                                                         "<extra></extra>"), row=row, col=1)
    ep = [r for r in history.epochs if r.val_metrics and primary in r.val_metrics]
    fig.add_trace(go.Scatter(x=[r.step for r in ep], y=[r.val_metrics[primary] for r in ep],
                             name=epoch_name(primary), mode="markers+lines",
                             line=dict(color="#222", width=1, dash="dot"),
                             marker=dict(size=8, color="#222", symbol="diamond"),
                             customdata=[r.epoch for r in ep],
                             hovertemplate="epoch %{customdata}: %{y:" + (".1%" if pct else ".4g")
                                           + "}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scattergl(x=x, y=history.scalar("lr")[idx], name="lr (weights)", mode="lines",
                               line=dict(color="#2e9d4f", width=2),
                               hovertemplate="lr<br>step %{x}: %{y:.4g}<extra></extra>"), row=3, col=1)
    fig.update_layout(shapes=boundary_shapes(epoch_boundaries(history)))
    fig.update_yaxes(gridcolor=GRID, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    if pct:
        fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_yaxes(exponentformat="e", row=3, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    for a in fig.layout.annotations:
        a.font = dict(size=12, color="#444")
    base_layout(fig, title, height=640)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0, font=dict(size=11)),
                      margin=dict(t=100 if title else 70))
    return fig

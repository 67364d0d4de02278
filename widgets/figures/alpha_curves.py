"""Alpha evolution: each option's mixing weight over the search, one small multiple per row of a choice group.

The view DARTS's authors used to watch a cell converge (Liu et al., ICLR
2019, Fig. 4), for any space: a row is a cell's edge or a chain's layer.
Epoch boundaries are light vertical lines; option switches made with the op
swapper are annotated on the rows they touched.

Trace layout (the live view relies on it): one ``Scattergl`` per (shown
row, option), row-major (index ``k * n_options + o`` for the k-th shown
row), ``meta=(row, option)``; then one "epochs" boundary trace per subplot.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.choices import group_title, row_noun
from widgets.figures.style import GRID, base_layout, decimate, epoch_boundaries, grid_shape, vlines
from workbench.history import History
from workbench.spaces.palette import op_color

__all__ = ["alpha_curves", "x_range"]


def alpha_curves(history: History, cell_type: str, edges: Sequence[int] | None = None,
                 title: str | None = None, max_points: int | None = None) -> go.Figure:
    """Per-row small multiples of choice group ``cell_type``: each option's weight over steps.

    Option colours are shared with every view. ``edges`` picks the rows
    shown (default: all); ``max_points`` thins long runs to that many evenly
    spaced steps (None: every step).
    """
    space = history.space
    if cell_type not in history.group_names:
        raise ValueError(f"unknown choice group (cell type) {cell_type!r}; this history has "
                         f"{list(history.group_names)}")
    group = space.group(cell_type)
    n_rows = len(group.rows)
    shown = list(range(n_rows)) if edges is None else [int(e) for e in edges]
    if not shown or any(not 0 <= e < n_rows for e in shown):
        raise ValueError(f"edges (rows) must be a non-empty list of row indices in 0..{n_rows - 1}, got {edges}")
    labels, noun = group.rows, row_noun(space)
    rows, cols = grid_shape(len(shown))
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes="all", shared_yaxes="all",
                        subplot_titles=[f"{noun} {labels[e]}" if noun == "edge" else labels[e] for e in shown],
                        horizontal_spacing=0.04, vertical_spacing=min(0.1, 0.35 / rows))
    idx = decimate(len(history), max_points)
    x = history.steps[idx]
    w = history.weights(cell_type)[idx]
    for k, e in enumerate(shown):
        r, c = k // cols + 1, k % cols + 1
        for o, op in enumerate(group.options):
            fig.add_trace(go.Scattergl(
                x=x, y=w[:, e, o], name=op, legendgroup=op, showlegend=k == 0, mode="lines", meta=[e, op],
                line=dict(color=op_color(op), width=2 if op != "none" else 1.5,
                          dash="dot" if op == "none" else "solid"),
                hovertemplate=f"{labels[e]} · {op}<br>step %{{x}}: %{{y:.3f}}<extra></extra>"), row=r, col=c)
    bx, by = vlines(epoch_boundaries(history), 0.0, 1.0)
    for k in range(len(shown)):
        fig.add_trace(go.Scatter(x=bx, y=by, name="epochs", mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color="#c8c8c8", width=1)), row=k // cols + 1, col=k % cols + 1)
    notes, shapes = [], []
    x_lo, x_hi = x_range(history)
    per_panel = [0] * len(shown)  # op switches labelled so far in each panel: later ones are stacked above
    for ch in history.mask_changes:
        if ch.group != cell_type:
            continue
        for k, e in enumerate(shown):
            if e in ch.rows:
                ax = "" if k == 0 else str(k + 1)
                # near the right end the label reads leftwards, so it never widens the x axis
                level, per_panel[k] = per_panel[k] % 4, per_panel[k] + 1
                notes.append(dict(x=ch.step + 0.5, y=0.02 + 0.11 * level, xref=f"x{ax}", yref=f"y{ax} domain", yanchor="bottom",
                                  xanchor="right" if ch.step + 0.5 > x_lo + 0.7 * (x_hi - x_lo) else "left",
                                  text=("+" if ch.enabled else "−") + ch.op, showarrow=False,
                                  font=dict(size=10, color=op_color(ch.op))))
                shapes.append(dict(type="line", x0=ch.step + 0.5, x1=ch.step + 0.5, y0=0, y1=1, xref=f"x{ax}",
                                   yref=f"y{ax} domain", line=dict(color=op_color(ch.op), width=1, dash="dash")))
    for a in fig.layout.annotations:  # the subplot titles
        a.font = dict(size=11, color="#444")
    fig.update_layout(annotations=list(fig.layout.annotations) + notes, shapes=shapes)
    if len(x):  # tight shared range: early in a search all weights sit near 1/n_options
        lo, hi = float(np.nanmin(w[:, shown])), float(np.nanmax(w[:, shown]))
        pad = max(0.05 * (hi - lo), 0.005)
        fig.update_yaxes(range=[max(0.0, lo - pad), min(1.0, hi + pad)])
    fig.update_yaxes(gridcolor=GRID, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False, range=[x_lo, x_hi])  # the steps run, not the labels' width
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="weight" if r == (rows + 1) // 2 else None, row=r, col=1)
    for c in range(1, cols + 1):  # tick labels and title under the lowest panel of each column
        last = max(k for k in range(len(shown)) if k % cols == c - 1) // cols + 1 if c <= len(shown) else None
        if last is not None:
            fig.update_xaxes(title_text="step", showticklabels=True, row=last, col=c)
    legend_rows = _legend_rows(group.options)
    top = LEGEND_TOP + 22 * legend_rows + 28  # title, legend rows, then the first row's subplot titles
    height = top - 95 + 110 + 190 * rows
    base_layout(fig, title if title is not None else f"Mixing weights over steps · {group_title(space, cell_type)}",
                height=height)
    # title and legend anchored to the top of the figure, in pixels: a legend that wraps onto a second row
    # grows downwards into the margin reserved for it, never up over the title
    fig.update_layout(title=dict(yref="container", y=1 - TITLE_TOP / height, yanchor="top"),
                      legend=dict(orientation="h", yref="container", yanchor="top", y=1 - LEGEND_TOP / height,
                                  x=0, font=dict(size=11)),
                      margin=dict(t=top))
    return fig


TITLE_TOP = 8  # px from the top of the figure: the title's top
LEGEND_TOP = 34  # px: the legend's top (below a 15 px title)
LEGEND_WIDTH = 820  # px: the width the legend may take before it wraps (a tab of the dashboard, a report column)


def _legend_rows(options: Sequence[str]) -> int:
    """Rows a horizontal legend of ``options`` takes at :data:`LEGEND_WIDTH` (plotly: ~40 px + the text)."""
    rows, used = 1, 0.0
    for op in options:
        w = 46 + 6.6 * len(op)
        if used and used + w > LEGEND_WIDTH:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def x_range(history: History, n: int | None = None) -> tuple[float, float]:
    """The x range of every panel: the recorded steps (first ``n``), widened to an op switch after the last step."""
    steps = history.steps if n is None else history.steps[:n]
    if not len(steps):
        return 0.0, 1.0
    lo, hi = float(steps[0]), float(steps[-1])
    switched = [ch.step + 0.5 for ch in history.mask_changes]
    if switched:
        hi = max(hi, max(switched))
    return lo, max(hi, lo + 1.0)

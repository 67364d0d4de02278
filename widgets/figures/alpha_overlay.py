"""One edge's op-weight trajectories for several runs in one plot (a method comparison's alpha overlay).

Every op keeps its colour (:mod:`workbench.spaces.palette`), every run its
own line dash, so "the skip weight of run A vs run B" is one colour, two
dashes: where DARTS drifts to ``skip_connect`` and a regularised method
(SDARTS, DARTS-PT, ...) does not.

Trace layout: one ``Scatter`` per (run, op), ``meta=[label, op]``,
run-major; line colour = op colour, line dash = run.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.choices import edge_labels
from widgets.figures.style import FONT
from workbench.history import History
from workbench.spaces.palette import op_color

__all__ = ["RUN_DASHES", "alpha_overlay"]

#: Line dash per run in :func:`alpha_overlay` (cycled).
RUN_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _history(h: Any) -> History:
    if isinstance(h, History):
        return h
    if isinstance(getattr(h, "history", None), History):  # a workbench.runs.Run, a SearchSession
        return h.history
    raise TypeError(f"expected a History (or a Run with .history), got {type(h).__name__}")


def _edge_index(edge: int | str, labels: Sequence[str]) -> int:
    if isinstance(edge, str):
        if edge not in labels:
            raise ValueError(f"unknown edge {edge!r}; the edges are {list(labels)} (or their indices "
                             f"0..{len(labels) - 1})")
        return list(labels).index(edge)
    if not isinstance(edge, (int, np.integer)) or not 0 <= int(edge) < len(labels):
        raise ValueError(f"edge must be an index in 0..{len(labels) - 1} or one of {list(labels)}, got {edge!r}")
    return int(edge)


def alpha_overlay(histories: Mapping[str, Any], cell: str, edge: int | str, title: str | None = None,
                  max_points: int | None = 600, height: int = 380) -> go.Figure:
    """One edge's op-weight trajectories for several runs in one plot.

    ``histories`` maps a run label to its :class:`History` (or a reloaded
    :class:`workbench.runs.Run`). Every op keeps its colour from
    :data:`widgets.figures.OP_COLORS`; every run gets its own line dash
    (:data:`RUN_DASHES`, in the mapping's order), so "the skip weight of run A
    vs run B" is one colour, two dashes. ``edge`` is an edge index or its
    label (``"0→1"``); ``max_points`` thins long runs evenly (None: all steps).
    """
    if not histories:
        raise ValueError("histories is empty: give at least one {label: History}")
    hs = {str(k): _history(v) for k, v in histories.items()}
    first = next(iter(hs.values()))
    labels = edge_labels(first.space)
    e = _edge_index(edge, labels)
    fig = go.Figure()
    for r, (label, h) in enumerate(hs.items()):
        if cell not in h.space.cell_types:
            raise ValueError(f"unknown cell type {cell!r} for run {label!r}; it has {list(h.space.cell_types)}")
        if h.space.n_edges != first.space.n_edges:
            raise ValueError(f"run {label!r} has {h.space.n_edges} edges, the first run {first.space.n_edges}: "
                             "overlay runs of one search space")
        n = len(h)
        idx = np.arange(n) if max_points is None or n <= max_points else np.unique(
            np.linspace(0, n - 1, max_points).round().astype(int))
        x = h.steps[idx]
        w = h.weights(cell)[idx] if n else np.zeros((0, h.space.n_edges, len(h.space.ops)))
        dash = RUN_DASHES[r % len(RUN_DASHES)]
        for o, op in enumerate(h.space.ops):
            fig.add_trace(go.Scatter(
                x=x, y=w[:, e, o], mode="lines", name=op, legendgroup=label, legendgrouptitle_text=label,
                meta=[label, op], line=dict(color=op_color(op), dash=dash, width=2.2 if op != "none" else 1.4),
                hovertemplate=f"{label} · {op}<br>step %{{x}}: %{{y:.3f}}<extra></extra>"))
    where = f" ({cell} cell)" if len(first.space.cell_types) > 1 else ""
    fig.update_layout(
        template="plotly_white", font=FONT, height=height,
        title=dict(text=title if title is not None else
                   f"Edge {labels[e]}{where} · mixing weights, {len(hs)} run{'s' if len(hs) > 1 else ''}",
                   x=0.01, xanchor="left", font=dict(size=15)),
        xaxis=dict(title="step", showgrid=False, zeroline=False),
        yaxis=dict(title="softmax(α) weight", gridcolor="#e6e6e6", zeroline=False, rangemode="tozero"),
        legend=dict(groupclick="toggleitem", font=dict(size=11), tracegroupgap=8),
        margin=dict(l=60, r=20, t=60, b=45), hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig

"""The shared look of every figure: font, template, margins, grid colour, and the helpers curves share.

Besides the layout, the helpers every time series needs: :func:`decimate`
(thin a long run to evenly spaced steps, keeping both ends) and the epoch
boundaries of a History (light vertical lines in every curve plot).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from workbench.history import History

__all__ = ["FONT", "GRID", "TEMPLATE", "base_layout", "decimate", "epoch_boundaries", "vlines", "grid_shape"]

FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=12,
            color="#222")
GRID = "#e6e6e6"
TEMPLATE = "plotly_white"


def base_layout(fig: go.Figure, title: str | None, height: int, width: int | None = None, *,
                top: int = 60) -> go.Figure:
    """Template, font, size, a left-aligned title and margins (``top``: the top margin with a title)."""
    fig.update_layout(template=TEMPLATE, font=FONT, height=height, width=width,
                      title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)) if title else None,
                      margin=dict(l=60, r=20, t=top if title else 30, b=45),
                      hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig


def decimate(n: int, max_points: int | None) -> np.ndarray:
    """Row indices of at most ``max_points`` evenly spaced rows of ``n`` (first and last kept); all if None."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2 or None, got {max_points}")
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def epoch_boundaries(history: History, n: int | None = None) -> list[float]:
    """x positions (half-way between steps) where the epoch changes, over the first ``n`` recorded steps."""
    ep, st = history.scalar("epoch"), history.steps
    if n is not None:
        ep, st = ep[:n], st[:n]
    if len(ep) < 2:
        return []
    return [float(st[i]) + 0.5 for i in np.flatnonzero(np.diff(ep) != 0)]


def vlines(xs: Sequence[float], y0: float, y1: float) -> tuple[list, list]:
    """Vertical segments at ``xs`` as one line trace's (x, y), separated by None."""
    x: list[Any] = []
    y: list[Any] = []
    for b in xs:
        x += [b, b, None]
        y += [y0, y1, None]
    return x, y


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of small multiples for ``n`` panels."""
    cols = 1 if n == 1 else 2 if n == 2 else 3 if n in (3, 5, 6, 9) else 4
    return -(-n // cols), cols

"""The skip-collapse diagnostic of cell spaces: parameter-free ops in the derived cell over the search.

As a DARTS search trains the supernet, the derived cell tends to fill with
parameter-free ops (skip connections, pools) that learn nothing: the
collapse RobustDARTS (Zela et al., ICLR 2020) and DARTS+ (Liang et al.
2019) warn about. Its sign is at least half of a cell's kept edges being
parameter-free. Here: the count per step (:func:`param_free_counts`), the
count over steps with the warning band (:func:`param_free_curve`), a
cell's status (:func:`param_free_status`) and the report's verdict
(:func:`collapse_note_html`). Only for cell spaces (a Genotype per step).
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from widgets.figures.style import GRID, base_layout
from workbench.history import History
from workbench.spaces.cell.genotype import PARAM_FREE_OPS, Genotype, count_param_free

__all__ = ["param_free_status", "param_free_counts", "param_free_curve", "collapse_note_html"]


def param_free_status(genotype: Genotype, cell: str) -> tuple[int, int, dict[str, int]]:
    """(parameter-free edges, kept edges, count per parameter-free op) of one cell of a genotype."""
    c = genotype.cell(cell)
    edges = c.edges()
    per: dict[str, int] = {}
    for _, op, _ in edges:
        if op in PARAM_FREE_OPS:
            per[op] = per.get(op, 0) + 1
    return count_param_free(c), len(edges), per


def _sample_steps(history: History, max_points: int) -> np.ndarray:
    steps = history.steps
    if len(steps) <= max_points:
        return steps.copy()
    idx = np.unique(np.linspace(0, len(steps) - 1, max_points).round().astype(int))
    extra = [int(np.searchsorted(steps, r.step)) for r in history.epochs]
    extra = [i for i in extra if i < len(steps)]
    return steps[np.unique(np.concatenate([idx, extra]).astype(int))]


def param_free_counts(history: History, max_points: int = 400) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {cell_type: count}) of parameter-free ops in the genotype derived at each sampled step.

    At most ``max_points`` steps are evaluated (evenly spaced, plus every epoch
    end and the last step), so the cost does not grow with the run length.
    """
    steps = _sample_steps(history, max_points)
    counts = {c: np.zeros(len(steps), int) for c in history.group_names}
    for i, s in enumerate(steps):
        g = history.genotype_at(int(s))
        for c in history.group_names:
            counts[c][i] = count_param_free(g.cell(c))
    return steps, counts


def param_free_curve(history: History, max_points: int = 400,
                     title: str | None = "Parameter-free ops in the derived cell") -> go.Figure:
    """Count of parameter-free ops (skip, pools) in the genotype over steps, with a skip-collapse band.

    The band starts at half of the cell's kept edges: a derived cell with that
    many parameter-free ops is the collapse RobustDARTS and DARTS+ warn about.
    """
    steps, counts = param_free_counts(history, max_points)
    space = history.space
    cells = history.group_names
    fig = go.Figure()
    if len(history):
        g = history.genotype_at(int(history.steps[-1]))
        n_kept = max(len(g.cell(c).edges()) for c in cells)
    else:
        n_kept = space.n_nodes * (space.edges_per_node if space.genotype_rule == "darts" else 1)
    thr = n_kept / 2
    xmax = float(steps[-1]) if len(steps) else 1.0
    xmin = float(steps[0]) if len(steps) else 0.0
    fig.add_hrect(y0=thr, y1=n_kept + 0.5, fillcolor="#e4572e", opacity=0.08, line_width=0, layer="below")
    fig.add_hline(y=thr, line=dict(color="#e4572e", width=1.5, dash="dash"),
                  annotation_text=f"collapse warning (≥ {thr:g} of {n_kept} kept edges)",
                  annotation_position="top left", annotation_font=dict(size=11, color="#c0392b"))
    dashes = ("solid", "dot", "dash", "dashdot")
    palette = ("#f28e2b", "#6a3d9a", "#2e9d4f", "#3a78b8")
    for i, c in enumerate(cells):
        fig.add_trace(go.Scatter(x=steps, y=counts[c], name=c if c == "cell" else f"{c} cell", mode="lines",
                                 showlegend=len(cells) > 1,
                                 line=dict(shape="hv", width=2.5, color=palette[i % 4], dash=dashes[i % 4]),
                                 hovertemplate=f"{c}: %{{y}} param-free ops at step %{{x}}<extra></extra>"))
    base_layout(fig, title, height=300)
    fig.update_layout(xaxis=dict(title="step", gridcolor=GRID, range=[xmin, xmax] if xmax > xmin else None),
                      yaxis=dict(title="# param-free ops", range=[-0.2, n_kept + 0.5], dtick=1, gridcolor=GRID),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))
    return fig


def collapse_note_html(history: History) -> str:
    """The report's verdict on the last derived cell: a warning box at or above the collapse threshold.

    Only the normal cell is judged when there is one (reduction cells are
    pool-heavy by design, e.g. DARTS_V2).
    """
    if not len(history):
        return ""
    g = history.genotype_at(int(history.steps[-1]))
    cells = history.group_names
    judged = ["normal"] if "normal" in cells else list(cells)
    parts, warn = [], False
    for c in cells:
        k, n, _ = param_free_status(g, c)
        if c in judged:
            warn |= k >= n / 2
        parts.append(f"{c}: {k} of {n}")
    text = html.escape("Parameter-free ops (skip, pools) in the final derived cell — " + ", ".join(parts) + ". ")
    which = " in the normal cell" if judged == ["normal"] else ""
    if warn:
        return (f'<div class="warn"><b>Possible skip collapse.</b> {text}At least half of the kept edges'
                f"{which} are parameter-free: the supernet favours ops that learn nothing (RobustDARTS, "
                "DARTS+).</div>")
    return f'<div class="ok">{text}Below the collapse threshold (half of the kept edges{which}).</div>'

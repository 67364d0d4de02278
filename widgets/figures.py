"""Pure figure functions: History / arrays -> ``plotly.graph_objects.Figure``.

The same functions serve the live views (which wrap the figure in a
``FigureWidget`` and update its traces) and the static HTML report. Nothing
here subscribes to a bus or holds state; every figure is rebuilt from data.

What is drawn follows the DARTS paper's diagnostics (Liu et al., ICLR 2019,
Fig. 3 and 4: softmax(alpha) per edge, the derived cell) and the collapse
diagnostics of RobustDARTS (Zela et al., ICLR 2020) and DARTS+ / P-DARTS
(too many parameter-free ops, mostly ``skip_connect``, in the derived cell).

Trace layout (the live layer relies on it):

* :func:`alpha_heatmap`: ``data[0]`` is the weights heatmap (``z`` = the
  given (edges, ops) array, unchanged), then the "off" (masked ops),
  "strongest op" and "kept by genotype" overlays, found by ``name``;
  refresh all of them with :func:`update_alpha_heatmap`.
* :func:`alpha_curves`: one ``Scattergl`` per (shown edge, op), edge-major
  (index ``k * n_ops + o`` for the k-th shown edge), ``meta=(edge, op)``;
  then one "epochs" boundary trace per subplot.
* :func:`loss_curves` / :func:`param_free_curve`: traces found by ``name``.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.history import History
from workbench.spaces import SearchSpace
from workbench.spaces.cell.genotype import Genotype, count_param_free
from workbench.spaces.palette import OP_COLORS, op_color, op_family

__all__ = [
    "OP_COLORS", "FONT", "op_color", "op_family", "edge_labels", "genotype_edge_ops", "alpha_heatmap",
    "update_alpha_heatmap",
    "alpha_curves", "loss_curves", "param_free_curve", "param_free_counts", "decimate",
]

FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=12,
            color="#222")
_GRID = "#e6e6e6"
_TEMPLATE = "plotly_white"


def _base_layout(fig: go.Figure, title: str | None, height: int, width: int | None = None) -> go.Figure:
    fig.update_layout(template=_TEMPLATE, font=FONT, height=height, width=width,
                      title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)) if title else None,
                      margin=dict(l=60, r=20, t=60 if title else 30, b=45),
                      hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig


# ------------------------------------------------------------------------------ edges
def _state_name(space_or_inputs: SearchSpace | int, state: int) -> str:
    n_inputs = space_or_inputs if isinstance(space_or_inputs, int) else space_or_inputs.n_inputs
    if n_inputs == 1:  # NB201 numbering: input is node 0, intermediate node i is node i+1
        return str(state)
    if n_inputs == 2 and state < 2:
        return ("c_{k-2}", "c_{k-1}")[state]
    if state < n_inputs:
        return f"in{state}"
    return str(state - n_inputs)


def edge_labels(space: SearchSpace) -> list[str]:
    """One label per edge of ``space``: DARTS "c_{k-2}→0", "c_{k-1}→0", "0→1"...; NB201 "0→1", "0→2", "1→2"..."""
    return [f"{_state_name(space, src)}→{_state_name(space, space.n_inputs + node)}"
            for node, src in space.edges]


def genotype_edge_ops(space: SearchSpace, genotype: Genotype, cell_type: str) -> dict[int, str]:
    """Edge index -> op kept by ``genotype`` in ``cell_type`` (the last one when an edge carries two ops)."""
    cell = genotype.cell(cell_type)
    out: dict[int, str] = {}
    for node, op, src in cell.edges():
        try:
            out[space.edge_index(node, src)] = op
        except ValueError:
            raise ValueError(f"genotype cell {cell_type!r} has an edge {src}->{node} that space {space.name!r} "
                             f"lacks; its edges are {list(space.edges)}") from None
    return out


# ------------------------------------------------------------------------------ heatmap
def _check_heatmap_args(w: np.ndarray, n_ops: int, n_edges: int, mask: np.ndarray | None,
                        genotype_edges: Collection[int] | Mapping[int, str] | None, ops: Sequence[str]
                        ) -> tuple[np.ndarray, dict[int, str | None]]:
    if w.ndim != 2 or w.shape != (n_edges, n_ops):
        raise ValueError(f"weights must have shape (edges, ops) = ({n_edges}, {n_ops}) to match "
                         f"edge_labels and ops, got {w.shape}")
    on = np.ones(w.shape, bool) if mask is None else np.asarray(mask, bool)
    if on.shape != w.shape:
        raise ValueError(f"mask must have the weights' shape {w.shape}, got {on.shape}")
    if genotype_edges is None:
        kept: dict[int, str | None] = {}
    elif isinstance(genotype_edges, Mapping):
        kept = {int(e): op for e, op in genotype_edges.items()}
    else:
        kept = {int(e): None for e in genotype_edges}
    for e, op in kept.items():
        if not 0 <= e < n_edges or (op is not None and op not in ops):
            raise ValueError(f"genotype edge {e}->{op!r} is not an (edge index < {n_edges}, op in {list(ops)}) pair")
    return on, kept


def alpha_heatmap(weights: np.ndarray, ops: Sequence[str], edge_labels: Sequence[str],
                  title: str = "Mixing weights softmax(α)", mask: np.ndarray | None = None,
                  genotype_edges: Collection[int] | Mapping[int, str] | None = None,
                  height: int | None = None) -> go.Figure:
    """Heatmap of an (edges, ops) weight matrix with values as text.

    Colours diverge around the uniform weight 1/(enabled ops) (blue: gained,
    red: lost). The strongest enabled op of each edge gets a black outline;
    ``mask`` (bool, True = enabled) greys out disabled ops as "off";
    ``genotype_edges`` (edge indices, or edge index -> kept op) bolds the kept
    edges' labels and stars the kept op. Live views refresh the figure with
    :func:`update_alpha_heatmap`.
    """
    ops, labels = list(ops), list(edge_labels)
    _check_heatmap_args(np.asarray(weights), len(ops), len(labels), mask, genotype_edges, ops)
    xs, ys = list(range(len(ops))), list(range(len(labels)))
    custom = np.array([[f"{lab} · {op}" for op in ops] for lab in labels], dtype=object)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, name="weights", texttemplate="%{text}", textfont=dict(size=11), colorscale="RdBu",
        xgap=2, ygap=2, meta={"ops": ops, "edge_labels": labels},
        colorbar=dict(title=dict(side="top"), thickness=12, len=0.9, tickformat=".2f"),
        customdata=custom, hovertemplate="%{customdata}: %{z:.4f}<extra></extra>"))
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, name="off", texttemplate="%{text}", textfont=dict(size=10, color="#777"),
        colorscale=[[0, "#dcdcdc"], [1, "#dcdcdc"]], showscale=False, xgap=2, ygap=2, hoverinfo="skip"))
    fig.add_trace(go.Scatter(name="strongest op", mode="lines", hoverinfo="skip", line=dict(color="#111", width=2.2)))
    fig.add_trace(go.Scatter(name="kept by genotype", mode="markers", hoverinfo="skip",
                             marker=dict(symbol="star", size=10, color="#e4572e", line=dict(width=0.5, color="#fff"))))
    _base_layout(fig, title, height or max(260, 28 * len(labels) + 150))
    fig.update_layout(
        xaxis=dict(side="top", tickmode="array", tickvals=xs, ticktext=ops, tickangle=-30, showgrid=False,
                   zeroline=False, ticks="", tickfont=dict(size=11), range=[-0.5, len(ops) - 0.5]),
        yaxis=dict(tickmode="array", tickvals=ys, showgrid=False, zeroline=False, ticks="",
                   range=[len(labels) - 0.5, -0.5]),
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, font=dict(size=11)),
        plot_bgcolor="#fff", margin=dict(t=120 if title else 95, l=95, b=40))
    update_alpha_heatmap(fig, weights, mask, genotype_edges)
    return fig


def update_alpha_heatmap(fig: go.Figure, weights: np.ndarray, mask: np.ndarray | None = None,
                         genotype_edges: Collection[int] | Mapping[int, str] | None = None,
                         title: str | None = None) -> None:
    """Put new weights / mask / kept edges into a figure made by :func:`alpha_heatmap`, in place.

    Works on a ``go.Figure`` or a ``FigureWidget`` (call it inside
    ``fig.batch_update()``); ``title=None`` keeps the current title.
    """
    hm = next(t for t in fig.data if t.name == "weights")
    ops, labels = list(hm.meta["ops"]), list(hm.meta["edge_labels"])
    w = np.asarray(weights)
    on, kept = _check_heatmap_args(w, len(ops), len(labels), mask, genotype_edges, ops)
    traces = {t.name: t for t in fig.data}
    # diverging scale centred on the uniform weight 1/(enabled ops): blue gained, red lost
    n_on = on.sum(axis=1)
    mid = float(np.mean(1.0 / n_on[n_on > 0])) if (n_on > 0).any() else 0.5
    vals = w[on] if on.any() else np.array([mid])
    span = max(float(np.nanmax(np.abs(vals - mid))), 0.02 * mid, 1e-9)
    hm.z = w
    hm.text = np.where(on, np.char.mod("%.2f", w.astype(float)), "")
    hm.zmin, hm.zmax = mid - span, mid + span
    hm.colorbar.title.text = f"weight<br><sup>white = 1/{1 / mid:.3g}</sup>"
    off = traces["off"]
    off.z = np.where(on, None, 1.0)  # None, not NaN: NaN is not valid JSON for the widget comm
    off.text = np.where(on, "", "off")
    wm = np.where(on, w, -np.inf)
    bx: list[Any] = []
    by: list[Any] = []
    for k in range(len(labels)):  # one closed outline per edge, in data coordinates so it scales with the cell
        if on[k].any():
            o = int(np.argmax(wm[k]))
            bx += [o - 0.47, o + 0.47, o + 0.47, o - 0.47, o - 0.47, None]
            by += [k - 0.44, k - 0.44, k + 0.44, k + 0.44, k - 0.44, None]
    traces["strongest op"].x, traces["strongest op"].y = bx, by
    star = [(k, ops.index(op)) for k, op in kept.items() if op is not None]
    traces["kept by genotype"].x = [o + 0.33 for _, o in star]  # top-right corner: the value stays readable
    traces["kept by genotype"].y = [k - 0.27 for k, _ in star]
    fig.layout.yaxis.ticktext = [f"<b>{lab} ●</b>" if k in kept else lab for k, lab in enumerate(labels)]
    if title is not None:
        fig.layout.title.text = title


# ------------------------------------------------------------------------------ curves
def _epoch_boundaries(history: History) -> list[float]:
    ep = history.scalar("epoch")
    st = history.steps
    if len(ep) < 2:
        return []
    change = np.flatnonzero(np.diff(ep) != 0)
    return [float(st[i]) + 0.5 for i in change]


def _vlines(xs: Sequence[float], y0: float, y1: float) -> tuple[list, list]:
    x: list[Any] = []
    y: list[Any] = []
    for b in xs:
        x += [b, b, None]
        y += [y0, y1, None]
    return x, y


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n == 2 else 3 if n in (3, 5, 6, 9) else 4
    return -(-n // cols), cols


def decimate(n: int, max_points: int | None) -> np.ndarray:
    """Row indices of at most ``max_points`` evenly spaced rows of ``n`` (first and last kept); all if None."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2 or None, got {max_points}")
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def alpha_curves(history: History, cell_type: str, edges: Sequence[int] | None = None,
                 title: str | None = None, max_points: int | None = None) -> go.Figure:
    """Per-edge small multiples: each op's mixing weight over steps, op colours shared with every view.

    Epoch boundaries are light vertical lines; op-mask changes (op swapper)
    are annotated on the edges they touched. ``max_points`` thins long runs
    to that many evenly spaced steps (None: every step).
    """
    space = history.space
    if cell_type not in space.cell_types:
        raise ValueError(f"unknown cell type {cell_type!r}; this history has {list(space.cell_types)}")
    shown = list(range(space.n_edges)) if edges is None else [int(e) for e in edges]
    if not shown or any(not 0 <= e < space.n_edges for e in shown):
        raise ValueError(f"edges must be a non-empty list of edge indices in 0..{space.n_edges - 1}, got {edges}")
    labels = edge_labels(space)
    rows, cols = _grid(len(shown))
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes="all", shared_yaxes="all",
                        subplot_titles=[f"edge {labels[e]}" for e in shown],
                        horizontal_spacing=0.04, vertical_spacing=min(0.1, 0.35 / rows))
    idx = decimate(len(history), max_points)
    x = history.steps[idx]
    w = history.weights(cell_type)[idx]
    for k, e in enumerate(shown):
        r, c = k // cols + 1, k % cols + 1
        for o, op in enumerate(space.ops):
            fig.add_trace(go.Scattergl(
                x=x, y=w[:, e, o], name=op, legendgroup=op, showlegend=k == 0, mode="lines", meta=[e, op],
                line=dict(color=op_color(op), width=2 if op != "none" else 1.5,
                          dash="dot" if op == "none" else "solid"),
                hovertemplate=f"{labels[e]} · {op}<br>step %{{x}}: %{{y:.3f}}<extra></extra>"), row=r, col=c)
    bx, by = _vlines(_epoch_boundaries(history), 0.0, 1.0)
    for k in range(len(shown)):
        fig.add_trace(go.Scatter(x=bx, y=by, name="epochs", mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color="#c8c8c8", width=1)), row=k // cols + 1, col=k % cols + 1)
    notes, shapes = [], []
    for ch in history.mask_changes:
        if ch.group != cell_type:
            continue
        for k, e in enumerate(shown):
            if e in ch.rows:
                ax = "" if k == 0 else str(k + 1)
                notes.append(dict(x=ch.step + 0.5, y=0.02, xref=f"x{ax}", yref=f"y{ax} domain", yanchor="bottom",
                                  xanchor="left", text=("+" if ch.enabled else "−") + ch.op, showarrow=False,
                                  font=dict(size=10, color=op_color(ch.op))))
                shapes.append(dict(type="line", x0=ch.step + 0.5, x1=ch.step + 0.5, y0=0, y1=1, xref=f"x{ax}",
                                   yref=f"y{ax} domain", line=dict(color=op_color(ch.op), width=1, dash="dash")))
    for a in fig.layout.annotations:  # the subplot titles
        a.font = dict(size=11, color="#444")
    fig.update_layout(annotations=list(fig.layout.annotations) + notes, shapes=shapes)
    if len(x):  # tight shared range: early in a search all weights sit near 1/n_ops
        lo, hi = float(np.nanmin(w[:, shown])), float(np.nanmax(w[:, shown]))
        pad = max(0.05 * (hi - lo), 0.005)
        fig.update_yaxes(range=[max(0.0, lo - pad), min(1.0, hi + pad)])
    fig.update_yaxes(gridcolor=_GRID, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="weight" if r == (rows + 1) // 2 else None, row=r, col=1)
    for c in range(1, cols + 1):  # tick labels and title under the lowest panel of each column
        last = max(k for k in range(len(shown)) if k % cols == c - 1) // cols + 1 if c <= len(shown) else None
        if last is not None:
            fig.update_xaxes(title_text="step", showticklabels=True, row=last, col=c)
    cell_name = cell_type if cell_type == "cell" else f"{cell_type} cell"
    _base_layout(fig, title if title is not None else f"Mixing weights over steps · {cell_name}",
                 height=110 + 190 * rows)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0 + 40 / (110 + 190 * rows), x=0,
                                  font=dict(size=11)), margin=dict(t=95))
    return fig


def _ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard's smoothing slider)."""
    out = np.empty(len(y))
    m, norm = 0.0, 0.0
    for i, v in enumerate(np.asarray(y, float)):
        if np.isfinite(v):
            m = alpha * m + (1 - alpha) * v
            norm = alpha * norm + (1 - alpha)
        out[i] = m / norm if norm > 0 else np.nan
    return out


def loss_curves(history: History, smoothing: float | None = 0.8,
                title: str | None = "Loss, accuracy and learning rate", max_points: int | None = None) -> go.Figure:
    """Train/val loss, train/val accuracy (with the per-epoch supernet val accuracy) and lr, by step.

    Raw per-batch values are faint; ``smoothing`` (0..1, EMA factor) adds a bold
    smoothed line, ``None`` disables it. ``max_points`` thins long runs (the
    smoothing is computed on every step first).
    """
    if smoothing is not None and not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1) or None, got {smoothing}")
    primary = history.primary_metric or "accuracy"
    pct = primary == "accuracy"
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.4, 0.4, 0.2],
                        subplot_titles=["loss", primary, "learning rate"])
    idx = decimate(len(history), max_points)
    x = history.steps[idx]
    colors = {"train": "#3a78b8", "val": "#e4572e"}
    for row, metric in ((1, "loss"), (2, primary)):
        for part in ("train", "val"):
            y_all = history.scalar(f"{part}_{metric}")
            y = y_all[idx]
            name = f"{part} {metric}"
            fmt = ".1%" if metric == "accuracy" else ".3f"
            raw_style = dict(color=colors[part], width=1)
            fig.add_trace(go.Scattergl(x=x, y=y, name=name if smoothing is None else f"{name} (per batch)",
                                       legendgroup=part, mode="lines", opacity=0.35 if smoothing is not None else 1,
                                       line=raw_style, showlegend=False if smoothing is not None else True,
                                       hovertemplate=f"{name}<br>step %{{x}}: %{{y:{fmt}}}<extra></extra>"),
                          row=row, col=1)
            if smoothing is not None:
                fig.add_trace(go.Scattergl(x=x, y=_ema(y_all, smoothing)[idx], name=name, legendgroup=part, mode="lines",
                                           line=dict(color=colors[part], width=2.2), showlegend=metric == "loss",
                                           hovertemplate=f"{name} (smoothed)<br>step %{{x}}: %{{y:{fmt}}}"
                                                         "<extra></extra>"), row=row, col=1)
    ep = [r for r in history.epochs if r.val_metrics and primary in r.val_metrics]
    fig.add_trace(go.Scatter(x=[r.step for r in ep], y=[r.val_metrics[primary] for r in ep],
                             name="supernet val acc (epoch)" if pct else f"supernet val {primary} (epoch)",
                             mode="markers+lines", line=dict(color="#222", width=1, dash="dot"),
                             marker=dict(size=8, color="#222", symbol="diamond"),
                             customdata=[r.epoch for r in ep],
                             hovertemplate="epoch %{customdata}: %{y:" + (".1%" if pct else ".4g")
                                           + "}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scattergl(x=x, y=history.scalar("lr")[idx], name="lr (weights)", mode="lines",
                               line=dict(color="#2e9d4f", width=2),
                               hovertemplate="lr<br>step %{x}: %{y:.4g}<extra></extra>"), row=3, col=1)
    # epoch boundaries as plain shape dicts set once (add_vline rescans the data per call: O(epochs x points))
    fig.update_layout(shapes=[dict(type="line", x0=b, x1=b, y0=0, y1=1, xref=f"x{r if r > 1 else ''}",
                                   yref=f"y{r if r > 1 else ''} domain", layer="below",
                                   line=dict(color="#d5d5d5", width=1))
                              for b in _epoch_boundaries(history) for r in (1, 2, 3)])
    fig.update_yaxes(gridcolor=_GRID, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False)
    if pct:
        fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_yaxes(exponentformat="e", row=3, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    for a in fig.layout.annotations:
        a.font = dict(size=12, color="#444")
    _base_layout(fig, title, height=640)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0, font=dict(size=11)),
                      margin=dict(t=100 if title else 70))
    return fig


# ------------------------------------------------------------------------------ collapse
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
    counts = {c: np.zeros(len(steps), int) for c in history.space.cell_types}
    for i, s in enumerate(steps):
        g = history.genotype_at(int(s))
        for c in history.space.cell_types:
            counts[c][i] = count_param_free(g.cell(c))
    return steps, counts


def param_free_curve(history: History, max_points: int = 400,
                     title: str | None = "Parameter-free ops in the derived cell") -> go.Figure:
    """Count of parameter-free ops (skip, pools) in the genotype over steps, with a skip-collapse band.

    The band starts at half of the cell's kept edges: a derived cell with that
    many parameter-free ops is the collapse RobustDARTS and DARTS+ warn about.
    """
    steps, counts = param_free_counts(history, max_points)
    fig = go.Figure()
    n_kept = 0
    if len(history):
        g = history.genotype_at(int(history.steps[-1]))
        n_kept = max(len(g.cell(c).edges()) for c in history.space.cell_types)
    else:
        n_kept = history.space.n_nodes * (history.space.edges_per_node if history.space.genotype_rule == "darts"
                                          else 1)
    thr = n_kept / 2
    xmax = float(steps[-1]) if len(steps) else 1.0
    xmin = float(steps[0]) if len(steps) else 0.0
    fig.add_hrect(y0=thr, y1=n_kept + 0.5, fillcolor="#e4572e", opacity=0.08, line_width=0, layer="below")
    fig.add_hline(y=thr, line=dict(color="#e4572e", width=1.5, dash="dash"),
                  annotation_text=f"collapse warning (≥ {thr:g} of {n_kept} kept edges)",
                  annotation_position="top left", annotation_font=dict(size=11, color="#c0392b"))
    dashes = ("solid", "dot", "dash", "dashdot")
    palette = ("#f28e2b", "#6a3d9a", "#2e9d4f", "#3a78b8")
    for i, c in enumerate(history.space.cell_types):
        fig.add_trace(go.Scatter(x=steps, y=counts[c], name=c if c == "cell" else f"{c} cell", mode="lines",
                                 showlegend=len(history.space.cell_types) > 1,
                                 line=dict(shape="hv", width=2.5, color=palette[i % 4], dash=dashes[i % 4]),
                                 hovertemplate=f"{c}: %{{y}} param-free ops at step %{{x}}<extra></extra>"))
    _base_layout(fig, title, height=300)
    fig.update_layout(xaxis=dict(title="step", gridcolor=_GRID, range=[xmin, xmax] if xmax > xmin else None),
                      yaxis=dict(title="# param-free ops", range=[-0.2, n_kept + 0.5], dtick=1, gridcolor=_GRID),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))
    return fig

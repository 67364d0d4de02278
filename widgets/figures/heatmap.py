"""The mixing-weight heatmap of one choice group: rows x options, as in DARTS (Liu et al., ICLR 2019, Fig. 3).

For a cell space a group is a cell type (edges x ops); for any other space
its own rows and options. Colours diverge around the uniform weight, the
strongest enabled option of each row is outlined, disabled options are
greyed "off" and the options the decoded architecture keeps are starred.

Trace layout (the live view relies on it): ``data[0]`` is the weights
heatmap (``z`` = the given (rows, options) array, unchanged), then the
"off" (masked options), "strongest op" and "kept by genotype" overlays,
found by ``name``; refresh all of them with :func:`update_alpha_heatmap`.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.choices import group_title, kept_options
from widgets.figures.style import base_layout
from workbench.history import History

__all__ = ["alpha_heatmap", "update_alpha_heatmap", "heatmap_data", "group_heatmap", "colorbar_ticks"]


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
    """Heatmap of a (rows, options) weight matrix with values as text.

    ``ops`` are the option labels (columns), ``edge_labels`` the row labels.
    Colours diverge around the uniform weight 1/(enabled options) (blue:
    gained, red: lost). The strongest enabled option of each row gets a black
    outline; ``mask`` (bool, True = enabled) greys out disabled options as
    "off"; ``genotype_edges`` (row indices, or row index -> kept option)
    bolds the kept rows' labels and stars the kept option. Live views
    refresh the figure with :func:`update_alpha_heatmap`.
    """
    ops, labels = list(ops), list(edge_labels)
    _check_heatmap_args(np.asarray(weights), len(ops), len(labels), mask, genotype_edges, ops)
    xs, ys = list(range(len(ops))), list(range(len(labels)))
    custom = np.array([[f"{lab} · {op}" for op in ops] for lab in labels], dtype=object)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, name="weights", texttemplate="%{text}", textfont=dict(size=11), colorscale="RdBu",
        xgap=2, ygap=2, meta={"ops": ops, "edge_labels": labels},
        colorbar=dict(title=dict(side="top"), thickness=12, len=0.9, tickmode="array"),
        customdata=custom, hovertemplate="%{customdata}: %{z:.4f}<extra></extra>"))
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, name="off", texttemplate="%{text}", textfont=dict(size=10, color="#777"),
        colorscale=[[0, "#dcdcdc"], [1, "#dcdcdc"]], showscale=False, xgap=2, ygap=2, hoverinfo="skip"))
    fig.add_trace(go.Scatter(name="strongest op", mode="lines", hoverinfo="skip", line=dict(color="#111", width=2.2)))
    fig.add_trace(go.Scatter(name="kept by genotype", mode="markers", hoverinfo="skip",
                             marker=dict(symbol="star", size=10, color="#e4572e", line=dict(width=0.5, color="#fff"))))
    base_layout(fig, title, height or max(260, 28 * len(labels) + 150))
    left = min(260, max(95, 7 * max((len(lab) for lab in labels), default=0) + 20))  # long row labels fit
    fig.update_layout(
        xaxis=dict(side="top", tickmode="array", tickvals=xs, ticktext=ops, tickangle=-30, showgrid=False,
                   zeroline=False, ticks="", tickfont=dict(size=11), range=[-0.5, len(ops) - 0.5]),
        yaxis=dict(tickmode="array", tickvals=ys, showgrid=False, zeroline=False, ticks="",
                   range=[len(labels) - 0.5, -0.5]),
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, font=dict(size=11)),
        plot_bgcolor="#fff", margin=dict(t=120 if title else 95, l=left, b=40))
    update_alpha_heatmap(fig, weights, mask, genotype_edges)
    return fig


def colorbar_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], list[str]]:
    """About ``n`` round tick values in [lo, hi] and their labels, with just enough decimals to tell them apart.

    A fixed ".2f" repeats labels on a narrow range (0.13, 0.13, 0.12 for ticks 0.126, 0.128, 0.124).
    """
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [float(lo)], [f"{lo:.2f}"]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    decimals = max(2, int(-np.floor(np.log10(step) + 1e-9)) + (1 if round(step / mag, 6) == 2.5 else 0))
    vals = [round(float(v), decimals + 2) for v in np.arange(np.ceil(lo / step - 1e-9) * step, hi + step * 1e-6,
                                                              step)]
    return vals, [f"{v:.{decimals}f}" for v in vals]


def update_alpha_heatmap(fig: go.Figure, weights: np.ndarray, mask: np.ndarray | None = None,
                         genotype_edges: Collection[int] | Mapping[int, str] | None = None,
                         title: str | None = None) -> None:
    """Put new weights / mask / kept rows into a figure made by :func:`alpha_heatmap`, in place.

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
    hm.colorbar.tickvals, hm.colorbar.ticktext = colorbar_ticks(mid - span, mid + span)
    hm.colorbar.title.text = f"weight<br><sup>white = 1/{1 / mid:.3g}</sup>"
    off = traces["off"]
    off.z = np.where(on, None, 1.0)  # None, not NaN: NaN is not valid JSON for the widget comm
    off.text = np.where(on, "", "off")
    wm = np.where(on, w, -np.inf)
    bx: list[Any] = []
    by: list[Any] = []
    for k in range(len(labels)):  # one closed outline per row, in data coordinates so it scales with the figure
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


def heatmap_data(history: History, group: str, step: int | None, *, pending: bool = False, arch: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[int, str], str]:
    """(weights, mask, kept options, title) of ``group`` at a recorded ``step`` (None: before the first step).

    ``pending``: show option switches made after ``step`` at once (a live view following the search).
    ``arch``: the architecture whose options are starred (default: the one decoded at ``step``).
    """
    space = history.space
    name = group_title(space, group)
    if step is None:  # nothing recorded yet: uniform over the enabled options
        mask = np.asarray(history.initial_masks[group], bool)
        w = mask / np.maximum(mask.sum(1, keepdims=True), 1)
        return w.astype(float), mask, {}, f"softmax(α) · {name} · before the first step"
    w = np.asarray(history.weights_at(step)[group], dtype=float)
    mask = np.asarray(history.masks_at(step + 1 if pending else step)[group], bool)
    kept = kept_options(space, history.genotype_at(step) if arch is None else arch, group)
    return w, mask, kept, f"softmax(α) · {name} · step {step}"


def group_heatmap(history: History, group: str, step: int | None, *, title: str | None = None,
                  arch: Any = None, width: int | None = None) -> go.Figure:
    """The heatmap of ``group`` at a recorded ``step`` (static figures and the report)."""
    w, mask, kept, default = heatmap_data(history, group, step, arch=arch)
    g = history.space.group(group)
    fig = alpha_heatmap(w, g.options, g.rows, title=default if title is None else title, mask=mask,
                        genotype_edges=kept)
    if width is not None:
        fig.update_layout(width=width)
    return fig

"""Pure figure functions for method comparisons: ComparisonResult / Histories -> ``plotly`` figures.

The data come from :class:`workbench.compare.ComparisonResult` (one row per
method x seed) and from the recorded runs' :class:`workbench.history.History`.
What is drawn is the comparison NAS-Bench-201 was built for (Dong & Yang,
ICLR 2020, Table 5: DARTS-V1/V2, GDAS, SETN, ... searched on one space and
scored by the ground-truth accuracy of the derived cell), plus the two
collapse diagnostics of the DARTS family: the number of parameter-free ops
in the derived cell (DARTS+, Liang et al. 2019; P-DARTS, Chen et al. 2019)
and the dominant eigenvalue of the validation-loss Hessian w.r.t. alpha
(RobustDARTS, Zela et al., ICLR 2020).

Trace layout (tests and the widget rely on it):

* :func:`comparison_figure`: first legend-only keys in grey (``meta["kind"] ==
  "legend"``, no data); then per panel (``meta["metric"]``) one ``Bar`` of the
  per-method means (``meta["kind"] == "mean"``), then one ``Scatter`` per seed
  (``meta["kind"] == "seed"``, ``meta["seed"]``, ``customdata`` rows
  ``[method, seed, genotype]``); on the accuracy panel a ``"published"``
  scatter of the published NAS-Bench-201 numbers and one ``"reference"`` line
  per reference value. Accuracies that the engine stores as fractions are
  drawn in percent (:data:`METRIC_SCALE`).
* :func:`alpha_overlay`: one ``Scatter`` per (run, op), ``meta=[label, op]``,
  run-major; line colour = op colour, line dash = run.
"""
from __future__ import annotations

import html
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures import FONT, edge_labels, op_color
from workbench.compare import ComparisonResult
from workbench.history import History

__all__ = ["METHOD_COLORS", "METRIC_LABELS", "METRIC_SCALE", "RUN_DASHES", "method_color", "primary_metric",
           "comparison_table_figure", "comparison_table_html", "comparison_figure", "alpha_overlay"]

#: A fixed colour per method of the DARTS family (others get a stable colour from their name).
METHOD_COLORS: dict[str, str] = {
    "darts-v1": "#4c72b0", "darts-v2": "#1f3f7a", "pc-darts": "#55a868", "gdas": "#c44e52",
    "snas": "#dd8452", "sdarts-rs": "#8172b3", "sdarts-adv": "#5a3e99", "sharpdarts": "#937860",
    "darts-l2": "#64b5cd", "darts-ada": "#2a9d8f", "blank": "#7f7f7f",
}
_OTHER = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#9467bd", "#d62728")
#: Column -> (short label, unit) for tables and axes.
METRIC_LABELS: dict[str, str] = {
    "supernet_val_accuracy": "supernet val acc (%)", "retrain_test_acc": "retrained test acc (%)",
    "param_free": "parameter-free ops", "skips": "skip edges", "nones": "none edges",
    "eigenvalue": "dominant eigenvalue", "search_seconds": "search (s)", "ms_per_step": "ms / step",
    "nb201_c10": "NB201 CIFAR-10 (%)", "nb201_c100": "NB201 CIFAR-100 (%)", "nb201_in16": "NB201 ImageNet16 (%)",
    "nb201_rank_c10": "rank (C10, of 15,625)",
}
_SHORT_LABELS = {"supernet_val_accuracy": "supernet acc %", "retrain_test_acc": "retrain acc %",
                 "param_free": "param-free ops", "skips": "skips", "eigenvalue": "eigen-value",
                 "search_seconds": "search s", "nb201_c10": "NB201 C10 %", "nb201_c100": "NB201 C100 %",
                 "nb201_in16": "NB201 IN16 %",
                 "nb201_rank_c10": "NB201 rank"}
_TABLE_LABELS = {"supernet_val_accuracy": "supernet acc (%)", "retrain_test_acc": "retrained acc (%)",
                 "param_free": "param-free ops", "skips": "skip edges", "eigenvalue": "dominant eigenvalue",
                 "search_seconds": "search (s)", "nb201_c10": "NB201 C10 (%)", "nb201_c100": "NB201 C100 (%)",
                 "nb201_in16": "NB201 IN16 (%)", "nb201_rank_c10": "NB201 rank (C10)"}
#: Columns stored as fractions in [0, 1] and shown in percent.
METRIC_SCALE: dict[str, float] = {"supernet_val_accuracy": 100.0, "retrain_test_acc": 100.0}
#: Table columns, in order; columns the result lacks are left out.
TABLE_COLUMNS = ("supernet_val_accuracy", "retrain_test_acc", "param_free", "skips", "eigenvalue", "search_seconds",
                 "nb201_c10", "nb201_c100", "nb201_in16", "nb201_rank_c10")
_HIGHER_BETTER = ("supernet_val_accuracy", "retrain_test_acc", "nb201_c10", "nb201_c100", "nb201_in16")
_LOWER_BETTER = ("nb201_rank_c10",)
#: Line dash per run in :func:`alpha_overlay` (cycled).
RUN_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_BEST_FILL, _HEAD_FILL, _ROW_FILLS = "#dff0d8", "#eef1f5", ("#ffffff", "#f8f9fb")


def method_color(method: str) -> str:
    """The colour of a method: fixed for the DARTS family, stable from the name otherwise."""
    return METHOD_COLORS.get(method) or _OTHER[zlib.crc32(method.encode()) % len(_OTHER)]


def _check_result(result: Any) -> ComparisonResult:
    if not isinstance(result, ComparisonResult):
        raise TypeError(f"expected a workbench.compare.ComparisonResult (from compare() or "
                        f"ComparisonResult.from_json), got {type(result).__name__}")
    if not result.rows:
        raise ValueError("the comparison has no rows (no method x seed was run)")
    return result


def primary_metric(result: ComparisonResult) -> str:
    """The headline accuracy: NB201 CIFAR-10 ground truth when present, else the supernet's val accuracy."""
    return "nb201_c10" if "nb201_c10" in result.columns else "supernet_val_accuracy"


def _scaled(v: Any, column: str) -> float:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    return float(v) * METRIC_SCALE.get(column, 1.0)


def _gap(v: float) -> float | None:
    """NaN -> None: widget messages are strict JSON, and a missing value is a gap anyway."""
    return None if math.isnan(v) else v


def _digits(column: str) -> int:
    if column == "nb201_rank_c10":
        return 0
    if column in ("eigenvalue",):
        return 3
    return 1


_NBSP = "\u00a0"


def _nowrap(text: str) -> str:
    """Spaces -> non-breaking: plotly's table re-wraps text at spaces by measuring it, which fails in a
    FigureWidget (the text of every cell with a space vanished in JupyterLab); line breaks are explicit."""
    return "".join(part if part.startswith("<") else part.replace(" ", _NBSP)
                   for part in re.split(r"(<[^>]*>)", text))


def _header(text: str, width: int = 14) -> str:
    """A header on lines of at most ``width`` characters (explicit ``<br>``), bold, without breakable spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<b>" + "<br>".join(_nowrap(ln) for ln in lines) + "</b>"


def _wrap_genotype(text: str) -> str:
    """An NB201 string one node per line (``|a~0|+|b~0|c~1|`` -> two lines); other genotypes unchanged."""
    return "<br>".join(text.split("|+|")).replace("<br>", "|<br>|") if "|+|" in text else text


def _cell_text(mean: float, std: float | None, column: str) -> str:
    """``mean`` (and ``± std``) formatted for ``column``; "–" when missing."""
    if math.isnan(mean):
        return "–"
    if std is None and column in ("param_free", "skips", "nones") and float(mean).is_integer():
        return str(int(mean))  # one run's count
    fmt = "{:,.0f}" if column == "nb201_rank_c10" else f"{{:.{_digits(column)}f}}"
    text = fmt.format(mean)
    return text if std is None or math.isnan(std) else text + " ± " + fmt.format(std)


def _stacked(mean: float, std: float | None, column: str) -> str:
    """The mean, with ``± std`` below it, smaller and grey (keeps summary columns narrow)."""
    text = _cell_text(mean, None if std is None else math.nan, column)
    if std is None or math.isnan(std) or text == "–":
        return text
    fmt = "{:,.0f}" if column == "nb201_rank_c10" else f"{{:.{_digits(column)}f}}"
    return f"{text}<br><span style='color:#888;font-size:10px'>± {fmt.format(std)}</span>"


def _visible_len(cell: str) -> int:
    """Characters of the longest line of a table cell as shown (tags dropped)."""
    return max(len(re.sub(r"<[^>]*>", "", line)) for line in cell.split("<br>"))


# ------------------------------------------------------------------------------ table
def _table_content(res: ComparisonResult, per_run: bool
                   ) -> tuple[list[str], list[list[str]], list[str], list[str], dict[str, int]]:
    """(headers, columns of cell text, method per row, measured columns, column -> row index of the best mean)."""
    cols = [c for c in TABLE_COLUMNS if c in res.columns]
    best: dict[str, int] = {}
    if per_run:
        header = ["method", "seed"] + [_SHORT_LABELS[c] for c in cols] + ["genotype"]
        body: list[list[str]] = [[f"<b>{r['method']}</b>" for r in res.rows], [str(r["seed"]) for r in res.rows]]
        body += [[_cell_text(_scaled(r.get(c), c), None, c) for r in res.rows] for c in cols]
        body.append([_wrap_genotype(str(r.get("genotype", ""))) for r in res.rows])
        return header, body, [r["method"] for r in res.rows], cols, best
    summary = res.summary()
    has_pub = any(s.get("published_nb201_c10") is not None for s in summary)
    header = ["method", "seeds"] + [_TABLE_LABELS[c] for c in cols] + (["published NB201 C10 (%)"] if has_pub
                                                                      else [])
    body = [[f"<b>{s['method']}</b>" for s in summary], [str(s["seeds"]) for s in summary]]
    for c in cols:
        means = [_scaled(s.get(c), c) for s in summary]
        stds = [_scaled(s.get(c + "_std"), c) for s in summary]
        body.append([_stacked(m, sd, c) for m, sd in zip(means, stds, strict=True)])
        finite = [(m, i) for i, m in enumerate(means) if not math.isnan(m)]
        if len(finite) > 1 and (c in _HIGHER_BETTER or c in _LOWER_BETTER):
            best[c] = (max if c in _HIGHER_BETTER else min)(finite)[1]
    if has_pub:
        body.append(["–" if s.get("published_nb201_c10") is None else f"{s['published_nb201_c10']:.2f}"
                     for s in summary])
    return header, body, [s["method"] for s in summary], cols, best


def _table_title(res: ComparisonResult, per_run: bool) -> str:
    return (f"{'Per run' if per_run else 'Mean ± std over seeds'} · space {res.space}, dataset {res.dataset}, "
            f"{res.epochs} epochs")


def comparison_table_figure(result: ComparisonResult, per_run: bool = False, title: str | None = None,
                            height: int | None = None) -> go.Figure:
    """The comparison as a plotly table (for static output: notebooks' ``display``, HTML reports).

    ``per_run=False``: one row per method, mean (± std over seeds, below it)
    of every measured column (NB201 ground-truth columns when present) and the
    published NB201 CIFAR-10 number; the best mean of each accuracy column
    (and the best rank) is shaded green. ``per_run=True``: one row per
    (method, seed) with its genotype (an NB201 string one node per line).
    Accuracies stored as fractions are shown in percent. Column widths follow
    their content and every line break is explicit (no text is re-wrapped);
    ``layout.meta["min_width"]`` is the width (px) at which nothing is cut.
    Inside a ``FigureWidget`` plotly mis-measures table text (centred and
    right-aligned cells come out blank); use :func:`comparison_table_html` there.
    """
    res = _check_result(result)
    header, body, methods, cols, best = _table_content(res, per_run)
    n = len(methods)
    heads = [_header(h, 10) for h in header]
    body = [[_nowrap(v) for v in col] for col in body]
    px = [6.2] * len(body)  # ~ pixels per character at 11-12 px; the genotype column a little wider
    if per_run:
        px[-1] = 6.6
    widths = [round(max(6.8 * _visible_len(h), px[k] * max(_visible_len(v) for v in col))) + 16  # bold headers
              for k, (h, col) in enumerate(zip(heads, body, strict=True))]
    stripes = [_ROW_FILLS[i % 2] for i in range(n)]
    fills = [[_BEST_FILL if 2 <= k < 2 + len(cols) and best.get(cols[k - 2]) == i else stripes[i] for i in range(n)]
             for k in range(len(body))]
    align = ["left", "center"] + ["right"] * (len(body) - 2)
    sizes = [12] * len(body)
    if per_run:  # the genotype: left-aligned, a little smaller
        align[-1], sizes[-1] = "left", 11
    font_colors = [[method_color(m) for m in methods]] + [["#222"] * n for _ in body[1:]]
    lines = [max(str(col[i]).count("<br>") + 1 for col in body) for i in range(n)]
    head_px = 15 * max(h.count("<br>") + 1 for h in heads) + 14
    fig = go.Figure(go.Table(
        columnwidth=widths,
        header=dict(values=heads, fill_color=_HEAD_FILL, align="center", height=head_px,
                    font=dict(family=FONT["family"], size=11, color="#222"), line_color="#d5d9e0"),
        cells=dict(values=body, fill_color=fills, align=align, height=28,
                   font=dict(family=FONT["family"], size=sizes, color=font_colors), line_color="#e3e6eb")))
    rows_px = sum(max(28, 16 * k + 12) for k in lines)
    fig.update_layout(template="plotly_white", font=FONT, height=height or 50 + head_px + rows_px + 30,
                      title=dict(text=title if title is not None else _table_title(res, per_run), x=0.01,
                                 xanchor="left", font=dict(size=15)),
                      margin=dict(l=10, r=10, t=50, b=10), meta={"min_width": sum(widths) + 20})
    return fig


def comparison_table_html(result: ComparisonResult, per_run: bool = False, title: str | None = None) -> str:
    """The same table as :func:`comparison_table_figure`, as a self-contained styled HTML ``<table>``.

    For widgets (an ``ipywidgets.HTML``) and anywhere text must be selectable;
    the cell text is the figure's (the genotype escaped for HTML).
    """
    res = _check_result(result)
    header, body, methods, cols, best = _table_content(res, per_run)
    font = FONT["family"].replace('"', "").replace("'", "")  # unquoted family names are valid CSS
    th = ("padding:5px 6px;background:#eef1f5;border:1px solid #d5d9e0;font-weight:600;font-size:11px;"
          "text-align:center;vertical-align:bottom;line-height:1.25")
    out = [f"<div style='font-family:{font};color:#222;overflow-x:auto;max-width:100%'>",
           f"<div style='font-size:15px;margin:4px 0 6px'>{html.escape(title or _table_title(res, per_run))}</div>",
           "<table style='border-collapse:collapse;font-size:12px;table-layout:auto;width:auto;margin:0'><thead><tr>"]
    out += [f"<th style='{th}'>{_header(h, 10)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, m in enumerate(methods):
        out.append("<tr>")
        for k, col in enumerate(body):
            c = cols[k - 2] if 2 <= k < 2 + len(cols) else None
            fill = _BEST_FILL if c is not None and best.get(c) == i else _ROW_FILLS[i % 2]
            align = "left" if k == 0 or (per_run and k == len(body) - 1) else "center" if k == 1 else "right"
            text = col[i]
            if per_run and k == len(body) - 1:
                text = "<br>".join(html.escape(x) for x in text.split("<br>"))
                extra = "font-family:monospace;font-size:11px;"
            else:
                extra = f"color:{method_color(m)};" if k == 0 else ""
            out.append(f"<td style='padding:4px 6px;border:1px solid #e3e6eb;background:{fill};text-align:{align};"
                       f"vertical-align:top;white-space:nowrap;line-height:1.3;{extra}'>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


# ------------------------------------------------------------------------------ figure
def _offsets(n: int) -> np.ndarray:
    return np.zeros(1) if n <= 1 else np.linspace(-0.24, 0.24, n)


_SEED_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "pentagon")


def _legend_keys(fig: go.Figure, seeds: Sequence[Any]) -> None:
    """Legend-only entries in neutral grey (the real traces are coloured by method)."""
    fig.add_trace(go.Bar(x=[None], y=[None], name="mean over seeds", legendgroup="mean", hoverinfo="skip",
                         marker=dict(color="#bbb", line=dict(color="#888", width=1.5)),
                         meta={"kind": "legend"}))
    for k, seed in enumerate(seeds):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"seed {seed}", legendgroup=f"seed {seed}",
                                 marker=dict(symbol=_SEED_SYMBOLS[k % len(_SEED_SYMBOLS)], size=10, color="#bbb",
                                             line=dict(color="#222", width=1)),
                                 hoverinfo="skip", meta={"kind": "legend"}))


def comparison_figure(result: ComparisonResult, metric: str | None = None,
                      references: Mapping[str, float] | None = None, title: str | None = None,
                      height: int = 430) -> go.Figure:
    """One figure for a comparison: the headline accuracy per method, plus collapse diagnostics.

    Left (wide) panel: ``metric`` (default :func:`primary_metric`: the NB201
    CIFAR-10 ground truth of each derived cell, else the supernet's
    validation accuracy) as one point per seed over a bar at the method's
    mean; on the ground-truth panel, each method's published NAS-Bench-201
    number (open diamond) where one exists. ``references`` adds labelled
    horizontal lines there (e.g. ``{"best cell": 94.37}``). Then, when
    measured, the parameter-free op count and the dominant Hessian eigenvalue
    at the end of the search, in the same layout. A seed keeps its marker
    symbol in every panel.
    """
    res = _check_result(result)
    main = metric or primary_metric(res)
    if main not in res.columns:
        raise ValueError(f"metric {main!r} is not in this comparison; measured columns: "
                         f"{[c for c in res.columns if c in METRIC_LABELS]}")
    panels = [main] + [c for c in ("param_free", "eigenvalue") if c in res.columns and c != main]
    widths = [0.5] + [0.5 / (len(panels) - 1)] * (len(panels) - 1) if len(panels) > 1 else [1.0]
    fig = make_subplots(rows=1, cols=len(panels), column_widths=widths, horizontal_spacing=0.07,
                        subplot_titles=[METRIC_LABELS.get(c, c) for c in panels])
    methods = res.methods
    seeds = sorted({r["seed"] for r in res.rows}, key=lambda s: (str(type(s)), s))
    xs = np.arange(len(methods), dtype=float)
    offs = dict(zip(seeds, _offsets(len(seeds)), strict=True))
    colors = [method_color(m) for m in methods]
    published = {m: p for m, p in res.figure_data().get("published_nb201_c10", {}).items() if p is not None}
    summary = {s["method"]: s for s in res.summary()}
    _legend_keys(fig, seeds)
    for p, col in enumerate(panels, start=1):
        means = [_scaled(summary[m].get(col), col) for m in methods]
        fig.add_trace(go.Bar(
            x=xs, y=[_gap(v) for v in means], name="mean over seeds", legendgroup="mean",
            marker=dict(color=colors, opacity=0.35, line=dict(color=colors, width=1.5)),
            width=0.7, meta={"metric": col, "kind": "mean"}, customdata=methods, showlegend=False,
            hovertemplate="%{customdata}: mean %{y:.4g}<extra></extra>"), row=1, col=p)
        for k, seed in enumerate(seeds):
            rows = [r for r in res.rows if r["seed"] == seed]
            fig.add_trace(go.Scatter(
                x=[methods.index(r["method"]) + offs[seed] for r in rows],
                y=[_gap(_scaled(r.get(col), col)) for r in rows], mode="markers", name=f"seed {seed}",
                legendgroup=f"seed {seed}", showlegend=False,
                marker=dict(symbol=_SEED_SYMBOLS[k % len(_SEED_SYMBOLS)], size=10,
                            color=[method_color(r["method"]) for r in rows], line=dict(color="#222", width=1)),
                customdata=[[r["method"], r["seed"], str(r.get("genotype", ""))] for r in rows],
                meta={"metric": col, "kind": "seed", "seed": seed},
                hovertemplate="%{customdata[0]} · seed %{customdata[1]}: %{y:.4g}<br>"
                              "<span style='font-size:10px'>%{customdata[2]}</span><extra></extra>"),
                row=1, col=p)
        if col == "nb201_c10" and published:
            pm = [m for m in methods if m in published]
            fig.add_trace(go.Scatter(
                x=[methods.index(m) for m in pm], y=[published[m] for m in pm], mode="markers",
                name="published (NB201 paper / NATS-Bench)", meta={"metric": col, "kind": "published"},
                marker=dict(symbol="diamond-open", size=15, color="#111", line=dict(width=2.5)),
                customdata=pm, hovertemplate="%{customdata}: published %{y:.2f}<extra></extra>"), row=1, col=p)
        if p == 1:
            for name, value in (references or {}).items():
                fig.add_trace(go.Scatter(
                    x=[-0.5, len(methods) - 0.5], y=[value, value], mode="lines", name=name, showlegend=False,
                    line=dict(color="#999", width=1, dash="dot"), meta={"metric": col, "kind": "reference"},
                    hovertemplate=f"{name}: {value:.2f}<extra></extra>"), row=1, col=p)
                fig.add_annotation(x=len(methods) - 0.5, y=value, xanchor="right", yanchor="bottom",
                                   text=f"{name} {value:.2f}", showarrow=False, font=dict(size=10, color="#777"),
                                   row=1, col=p)
        vals = [v for v in [_scaled(r.get(col), col) for r in res.rows] + means if not math.isnan(v)]
        if col == main:
            vals += [published[m] for m in methods if col == "nb201_c10" and m in published]
            vals += list((references or {}).values())
        if vals and (col in METRIC_SCALE or col.startswith("nb201_c") or col.startswith("nb201_in")):
            lo, hi = min(vals), max(vals)
            pad = max(0.08 * (hi - lo), 1.0)
            fig.update_yaxes(range=[max(0.0, lo - 3 * pad), min(100.0, hi + pad) + pad], row=1, col=p)
        elif vals:
            fig.update_yaxes(range=[0, max(vals) * 1.15 if max(vals) > 0 else 1], row=1, col=p)
        if col == "param_free":
            fig.update_yaxes(dtick=1, row=1, col=p)
        fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=methods, range=[-0.6, len(methods) - 0.4],
                         tickangle=-30 if len(methods) > 3 or len(panels) > 2 else 0, row=1, col=p)
    fig.update_yaxes(gridcolor="#e6e6e6", zeroline=False)
    fig.update_xaxes(showgrid=False)
    for a in fig.layout.annotations[:len(panels)]:  # the subplot titles
        a.font = dict(size=12, color="#444")
    head = title if title is not None else (
        f"{len(methods)} methods × {len(seeds)} seed{'s' if len(seeds) > 1 else ''} · space {res.space}, "
        f"dataset {res.dataset}, {res.epochs} epochs")
    fig.update_layout(template="plotly_white", font=FONT, height=height, barmode="overlay",
                      title=dict(text=head, x=0.01, xanchor="left", font=dict(size=15)),
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, font=dict(size=11)),
                      margin=dict(l=55, r=20, t=80, b=40), hoverlabel=dict(font=dict(family=FONT["family"])))
    return fig


# ------------------------------------------------------------------------------ alpha overlay
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

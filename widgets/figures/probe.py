"""DARTS-PT's perturbation probe (Wang et al., ICLR 2021, Sec. 3): what masking each op of an edge costs.

Drawn from :class:`~workbench.analysis.projection.ProbeResult` and
:class:`~workbench.analysis.projection.SelectionComparison` (never
recomputed): one edge's accuracy drop per masked op next to softmax(alpha)
(:func:`probe_figure`), and for every edge the magnitude pick against the
perturbation pick as a heatmap and a table, scored in NAS-Bench-201 (Dong &
Yang, ICLR 2020) when a table is given. Cell spaces only.

Trace layout: :func:`probe_figure`: "accuracy drop" (or "loss rise") and
"weight" bars; :func:`selection_heatmap`: ``data[0]`` the per-edge, per-op
drop heatmap, then "perturbation pick" and "magnitude pick" markers.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.choices import edge_labels
from widgets.figures.style import GRID, base_layout
from workbench.spaces.cell.genotype import Genotype, count_param_free
from workbench.spaces.palette import op_color

__all__ = ["probe_figure", "selection_heatmap", "selection_rows", "selection_table_html", "nb201_scores"]

_GRID = GRID


def _layout(fig: go.Figure, title: str | None, height: int, width: int | None = None) -> go.Figure:
    return base_layout(fig, title, height, width, top=70)


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

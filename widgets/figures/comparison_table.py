"""The comparison table of a method comparison: one row per method (mean ± std over seeds) or per run.

The data come from :class:`workbench.compare.ComparisonResult` (one row per
method x seed), the comparison NAS-Bench-201 was built for (Dong & Yang,
ICLR 2020, Table 5: DARTS-V1/V2, GDAS, SETN, ... searched on one space and
scored by the ground-truth accuracy of the derived cell), with the collapse
diagnostics of the DARTS family (parameter-free ops, DARTS+ / P-DARTS; the
dominant Hessian eigenvalue, RobustDARTS). Also the shared vocabulary of
comparison figures: method colours, column labels, scales.
"""
from __future__ import annotations

import html
import math
import re
import zlib
from typing import Any

import plotly.graph_objects as go

from widgets.figures.style import FONT
from workbench.compare import ComparisonResult

__all__ = ["METHOD_COLORS", "METRIC_LABELS", "METRIC_SCALE", "TABLE_COLUMNS", "method_color", "primary_metric",
           "comparison_table_figure", "comparison_table_html"]

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

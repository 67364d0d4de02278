"""A static, self-contained HTML report of one search.

Built from the same pure functions as the live views (:mod:`widgets.figures`,
:mod:`widgets.graph`): header with the run's settings and final genotype, the
genotype graph as inline SVG, final alpha heatmaps, alpha evolution, loss /
accuracy / lr curves, the parameter-free-op count (skip-collapse check,
RobustDARTS, Zela et al. 2020) and the genotype of every epoch. plotly.js is
inlined once, so the page opens offline; nothing is fetched at view time.
"""
from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from widgets.figures import (
    alpha_curves,
    alpha_heatmap,
    edge_labels,
    genotype_edge_ops,
    loss_curves,
    op_color,
    param_free_curve,
)
from widgets.graph import GraphvizNotFoundError, genotype_dot, genotype_weights, render_svg
from workbench.history import History
from workbench.spaces.cell.genotype import CellGenotype, Genotype, count_param_free

__all__ = ["report_html", "write_report"]

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "modeBarButtonsToRemove": ["lasso2d", "select2d"], "toImageButtonOptions": {"scale": 2}}
_MAX_POINTS = 1500  # per curve: keeps a 50-epoch DARTS report a few MB
_META_ORDER = ("space", "method", "dataset", "seed", "epochs", "steps", "batch_size", "arch_lr", "lr")

_CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#e4e7eb; --bg:#f5f6f8; --card:#fff; --accent:#1f5aa6; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 28px 24px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header .sub { color: var(--muted); margin-bottom: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
  margin: 0 0 18px; box-shadow: 0 1px 2px rgba(0,0,0,.03); }
.card h2 { margin: 0 0 4px; font-size: 17px; font-weight: 620; }
.card p.note { margin: 0 0 10px; color: var(--muted); font-size: 13px; }
.grid { display: grid; gap: 18px; margin-bottom: 18px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr !important; } }
.grid > .card { margin: 0; min-width: 0; overflow: hidden; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 4px 0 14px; }
.stat { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 120px; background:#fbfbfc; }
.stat .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.stat .v { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
dl.meta { display: grid; grid-template-columns: max-content 1fr max-content 1fr max-content 1fr; gap: 4px 14px;
  margin: 0 0 12px; font-size: 13px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
pre.geno { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
  font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap;
  word-break: break-all; margin: 6px 0 0; }
.svgbox { overflow-x: auto; text-align: center; padding: 6px 0; }
.svgbox svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.changed td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
.op { display: inline-block; border-left: 4px solid; background: #f3f4f6; border-radius: 3px; padding: 0 6px;
  margin: 1px 2px; font: 11.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
.node { display: inline-block; margin-right: 10px; }
.node b { color: var(--muted); font-weight: 500; font-size: 11px; margin-right: 2px; }
.cellname { color: var(--muted); font-size: 11px; text-transform: uppercase; margin-right: 6px; }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px; background: #e8f0fb;
  color: var(--accent); margin-left: 4px; }
.warn { border-left: 4px solid #e4572e; background: #fff5f2; padding: 10px 14px; border-radius: 6px; margin: 0 0 14px; }
.ok { border-left: 4px solid #2e9d4f; background: #f3fbf5; padding: 10px 14px; border-radius: 6px; margin: 0 0 14px; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 24px; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _final_genotype(history: History) -> Genotype | None:
    if history.finished is not None:
        return history.finished.genotype
    if history.epochs:
        return history.epochs[-1].genotype
    if len(history):
        return history.genotype_at(int(history.steps[-1]))
    return None


def _meta_from_history(history: History) -> dict[str, Any]:
    meta: dict[str, Any] = {"space": history.space.name}
    if history.started is not None:
        cfg = dict(history.started.config)
        meta.update(method=history.started.method, dataset=cfg.get("dataset"), seed=cfg.get("seed"),
                    epochs=cfg.get("epochs"), batch_size=cfg.get("batch_size"), arch_lr=cfg.get("arch_lr"),
                    lr=cfg.get("lr"))
        meta["steps"] = f"{len(history)} / {history.started.total_steps}"
    else:
        meta["steps"] = len(history)
    return {k: v for k, v in meta.items() if v is not None}


def _fig_html(fig: go.Figure, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=bool(first), config=_PLOTLY_CONFIG,
                       default_width="100%")


def _cell_chips(cell: CellGenotype) -> str:
    def state(s: int) -> str:
        if cell.n_inputs == 2 and s < 2:
            return ("k-2", "k-1")[s]
        return str(s if cell.n_inputs == 1 else s - cell.n_inputs)

    parts = []
    for i, node in enumerate(cell.nodes):
        name = str(i + 1) if cell.n_inputs == 1 else str(i)
        chips = "".join(f'<span class="op" style="border-color:{op_color(op)}">{_esc(op)}←{state(src)}</span>'
                        for op, src in node)
        parts.append(f'<span class="node"><b>{name}:</b>{chips}</span>')
    return "".join(parts)


def _genotype_text(g: Genotype) -> str:
    out = f'<pre class="geno">{_esc(str(g))}</pre>'
    if g.is_darts() or g.is_nb201():
        return out
    return f'<pre class="geno">{_esc(g.to_json())}</pre>'


def _graph_html(g: Genotype, weights: Mapping[str, Any] | None) -> str:
    try:
        svg = render_svg(genotype_dot(g, weights=weights))
    except GraphvizNotFoundError as exc:
        return (f'<p class="note">{_esc(exc)}</p><pre class="geno">{_esc(genotype_dot(g))}</pre>')
    return f'<div class="svgbox">{svg}</div>'


def _metric_label(metric: str) -> str:
    return "acc" if metric == "accuracy" else metric


def _fmt_metric(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric == "accuracy" else f"{value:.4g}"


def _epoch_table(history: History) -> str:
    metric = history.primary_metric or "accuracy"
    rows = []
    prev: Genotype | None = None
    for r in history.epochs:
        changed = prev is not None and r.genotype != prev
        cells = "<br>".join(
            (f'<span class="cellname">{_esc(n)}</span>' if len(r.genotype.cells) > 1 else "") + _cell_chips(c)
            for n, c in r.genotype.cells)
        acc = "–" if not r.val_metrics else _fmt_metric(metric, r.val_metrics.get(metric, float("nan")))
        loss = "–" if r.val_loss is None else f"{r.val_loss:.3f}"
        badge = '<span class="badge">changed</span>' if changed else ""
        rows.append(f'<tr class="{"changed" if changed else ""}"><td class="num">{r.epoch + 1}{badge}</td>'
                    f'<td class="num">{r.step}</td><td class="num">{acc}</td><td class="num">{loss}</td>'
                    f"<td>{cells}</td></tr>")
        prev = r.genotype
    if not rows:
        return '<p class="note">No epoch finished yet.</p>'
    return (f"<table><thead><tr><th>epoch</th><th>step</th><th>val {_esc(_metric_label(metric))}</th><th>val loss</th><th>genotype "
            "(op←input per node)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _stats(history: History) -> str:
    metric = history.primary_metric or "accuracy"
    items: list[tuple[str, str]] = []
    if len(history):
        items.append(("steps", f"{len(history)}"))
        ep = [r for r in history.epochs if r.val_metrics]
        if ep:
            vals = [r.val_metrics[metric] for r in ep]
            best = max(vals) if (history.started is None or history.started.higher_is_better) else min(vals)
            items.append((f"final val {_metric_label(metric)}", _fmt_metric(metric, vals[-1])))
            items.append((f"best val {_metric_label(metric)}", _fmt_metric(metric, best)))
        items.append(("final train loss", f"{float(history.scalar('train_loss')[-1]):.3f}"))
        items.append(("search time", f"{float(np.nansum(history.scalar('seconds'))):.1f} s"))
    if history.failed is not None:
        items.append(("status", f"failed: {history.failed.error_type}"))
    return '<div class="stats">' + "".join(
        f'<div class="stat"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>'
        for k, v in items) + "</div>"


def _collapse_note(history: History) -> str:
    """Skip-collapse check on the normal cell (reduction cells are pool-heavy by design, e.g. DARTS_V2)."""
    if not len(history):
        return ""
    g = history.genotype_at(int(history.steps[-1]))
    judged = ["normal"] if "normal" in history.space.cell_types else list(history.space.cell_types)
    parts, warn = [], False
    for c in history.space.cell_types:
        edges = g.cell(c).edges()
        k = count_param_free(g.cell(c))
        if c in judged:
            warn |= k >= len(edges) / 2
        parts.append(f"{c}: {k} of {len(edges)}")
    text = "Parameter-free ops (skip, pools) in the final derived cell — " + ", ".join(parts) + ". "
    which = " in the normal cell" if judged == ["normal"] else ""
    if warn:
        return (f'<div class="warn"><b>Possible skip collapse.</b> {_esc(text)}At least half of the kept edges'
                f"{which} are parameter-free: the supernet favours ops that learn nothing (RobustDARTS, "
                "DARTS+).</div>")
    return f'<div class="ok">{_esc(text)}Below the collapse threshold (half of the kept edges{which}).</div>'


def report_html(history: History, genotype: Genotype | None = None, meta: Mapping[str, Any] | None = None,
                *, title: str | None = None) -> str:
    """The report page as one HTML string (plotly.js inlined once; no network at view time)."""
    g = genotype if genotype is not None else _final_genotype(history)
    info = _meta_from_history(history)
    info.update(dict(meta or {}))
    title = title or info.pop("title", None) or (
        "Search report · " + " · ".join(str(info[k]) for k in ("space", "method") if k in info))
    info.pop("title", None)
    space = history.space
    keys = [k for k in _META_ORDER if k in info] + [k for k in info if k not in _META_ORDER]
    meta_html = '<dl class="meta">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(info[k])}</dd>" for k in keys) + "</dl>"
    sub_parts = [str(info["dataset"])] if "dataset" in info else []
    if "seed" in info:
        sub_parts.append(f"seed {info['seed']}")
    if "epochs" in info:
        sub_parts.append(f"{info['epochs']} epochs")
    sub_parts.append("generated " + _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    sub = _esc(" · ".join(sub_parts))

    figs: list[str] = []

    def fig(f: go.Figure) -> str:
        figs.append("x")
        return _fig_html(f, first=len(figs) == 1)

    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_esc(title)}</title>"
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
           f'<body><div class="wrap"><header><h1>{_esc(title)}</h1><div class="sub">{sub}</div></header>']
    head = [f'<section class="card"><h2>Run</h2>{meta_html}{_stats(history)}{_collapse_note(history)}']
    if g is not None:
        head.append("<h2>Final genotype</h2>" + _genotype_text(g))
    head.append("</section>")
    out += head

    last_w = history.weights_at(int(history.steps[-1])) if len(history) else None
    graph_card = ""
    if g is not None:
        w = genotype_weights(g, last_w, space.ops) if last_w is not None and _fits(space, g) else None
        note = ("Edge width and the number under each op: its mixing weight at the last step."
                if w else "")
        graph_card = (f'<section class="card"><h2>Genotype graph</h2><p class="note">{note} Only the nodes in '
                      "the cell's concat list feed the output.</p>" + _graph_html(g, w) + "</section>")

    if last_w is not None:
        masks = history.masks_at(int(history.steps[-1]))
        cards = []
        for c in space.cell_types:
            kept = genotype_edge_ops(space, g, c) if g is not None and _fits(space, g) else None
            f = alpha_heatmap(last_w[c], space.ops, edge_labels(space), title=f"step {history.steps[-1]}",
                              mask=masks[c], genotype_edges=kept)
            cards.append(f'<section class="card"><h2>Final mixing weights · {_esc(c)}</h2><p class="note">'
                         "softmax(α) per edge; black box = strongest op, ★ and bold edge = kept in the genotype."
                         f"</p>{fig(f)}</section>")
        out.append(graph_card)
        pf_card = ('<section class="card"><h2>Parameter-free ops</h2><p class="note">How many skip/pool ops the '
                   "genotype derived at each step keeps; in the shaded zone, DARTS is collapsing.</p>"
                   "{fig}</section>")
        single = len(cards) == 1  # one small cell: its heatmap and the param-free count side by side
        if single:
            cards.append(pf_card.format(fig=fig(param_free_curve(history, title=None))))
        # fixed column count: plotly sizes each figure when its script runs, before later cards exist
        out.append(f'<div class="grid" style="grid-template-columns: repeat({len(cards)}, minmax(0, 1fr))">'
                   + "".join(cards) + "</div>")
        for c in space.cell_types:
            out.append(f'<section class="card"><h2>Alpha evolution · {_esc(c)}</h2><p class="note">Mixing weight '
                       "of each op on each edge over the search; vertical lines mark epochs.</p>"
                       f"{fig(alpha_curves(history, c, title='', max_points=_MAX_POINTS))}</section>")
        out.append('<section class="card"><h2>Training curves</h2><p class="note">Per-batch values faint, '
                   "smoothed bold; diamonds are the supernet's validation accuracy at each epoch end.</p>"
                   f"{fig(loss_curves(history, title=None, max_points=_MAX_POINTS))}</section>")
        if not single:
            out.append(pf_card.format(fig=fig(param_free_curve(history, title=None))))
    else:
        out.append(graph_card + '<section class="card"><p class="note">No step recorded yet.</p></section>')

    out.append(f'<section class="card"><h2>Genotype per epoch</h2>{_epoch_table(history)}</section>')
    out.append("<footer>DNAS Workbench · static report; figures are interactive (hover, zoom, "
               "double-click to reset) and need no network.</footer></div></body></html>")
    return "\n".join(out)


def _fits(space: Any, g: Genotype) -> bool:
    try:
        space.check_genotype(g)
    except ValueError:
        return False
    return True


def write_report(run_dir: str | Path, history: History | None = None, *, title: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` (history loaded from the run folder when not given)."""
    run_dir = Path(run_dir)
    meta: dict[str, Any] = {}
    if history is None:
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run folder {str(run_dir)!r} does not exist; pass a folder written by a "
                                    "search (python -m workbench search --out DIR) or give history=")
        try:
            from workbench.runs import load_run
        except ImportError as exc:  # pragma: no cover - runs.py is written alongside
            raise RuntimeError(f"cannot load a run folder without workbench.runs ({exc}); pass history=") from exc
        run = load_run(run_dir)
        history = run.history
        cfg = getattr(run, "config", None)
        if cfg is not None:
            meta.update(method=cfg.method, dataset=cfg.dataset, seed=cfg.seed, epochs=cfg.epochs,
                        batch_size=cfg.batch_size, arch_lr=cfg.arch_lr, lr=cfg.lr)
            if cfg.removed_ops:
                meta["removed ops"] = ", ".join(cfg.removed_ops)
        if getattr(run, "status", None):
            meta["status"] = run.status
    run_dir.mkdir(parents=True, exist_ok=True)
    meta["run folder"] = str(run_dir)
    page = report_html(history, None, meta, title=title)
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

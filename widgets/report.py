"""A static, self-contained HTML report of one search, in any search space.

Assembled from the report form of every panel of :data:`widgets.panels.PANELS`
that applies to the run's space (the same figure functions as the live
views): a header with the run's settings, headline statistics and final
architecture, the final mixing weights of every choice group, the
architecture drawing as inline SVG, the alpha evolution, the loss / metric /
lr curves, for cell spaces the parameter-free-op count (skip-collapse check,
RobustDARTS, Zela et al. 2020), and the architecture of every epoch.
plotly.js is inlined once, so the page opens offline; nothing is fetched at
view time.
"""
from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from widgets.architecture import final_architecture
from widgets.choices import choice_groups
from widgets.metrics import fmt_metric, metric_label, primary_metric
from widgets.panels import PANELS, ReportContext, Section
from workbench.history import History

__all__ = ["report_html", "write_report"]

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
details.choices { margin: 0 0 12px; font-size: 13px; color: var(--muted); }
details.choices summary { cursor: pointer; }
details.choices ul { margin: 6px 0 0; padding-left: 20px; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 24px; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


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


def _stats(history: History) -> str:
    metric = primary_metric(history)
    items: list[tuple[str, str]] = []
    if len(history):
        items.append(("steps", f"{len(history)}"))
        ep = [r for r in history.epochs if r.val_metrics and metric in r.val_metrics]
        if ep:
            vals = [r.val_metrics[metric] for r in ep]
            best = max(vals) if (history.started is None or history.started.higher_is_better) else min(vals)
            items.append((f"final val {metric_label(metric)}", fmt_metric(metric, vals[-1])))
            items.append((f"best val {metric_label(metric)}", fmt_metric(metric, best)))
        items.append(("final train loss", f"{float(history.scalar('train_loss')[-1]):.3f}"))
        items.append(("search time", f"{float(np.nansum(history.scalar('seconds'))):.1f} s"))
    if history.failed is not None:
        items.append(("status", f"failed: {history.failed.error_type}"))
    return '<div class="stats">' + "".join(
        f'<div class="stat"><div class="k">{_esc(k)}</div><div class="v">{_esc(v)}</div></div>'
        for k, v in items) + "</div>"


def _choices_note(history: History) -> str:
    """What the space chooses: each group's rows and options (the labels every figure uses)."""
    items = "".join(f"<li><b>{_esc(g.name)}</b>: {len(g.rows)} rows ({', '.join(_esc(r) for r in g.rows)}) × "
                    f"{len(g.options)} options ({', '.join(_esc(o) for o in g.options)})</li>"
                    for g in choice_groups(history.space))
    return f'<details class="choices"><summary>What the space chooses</summary><ul>{items}</ul></details>'


def _layout(sections: list[Section]) -> list[str]:
    """Cards in order; cards sharing a ``row`` side by side in one grid, where the first of them is."""
    blocks: list[tuple[str | None, list[str]]] = []
    rows: dict[str, list[str]] = {}
    for s in sections:
        if s.row is None:
            blocks.append((None, [s.html]))
        elif s.row in rows:
            rows[s.row].append(s.html)
        else:
            rows[s.row] = [s.html]
            blocks.append((s.row, rows[s.row]))
    # a row has a fixed column count: plotly sizes each figure when its script runs, before later cards exist
    return [b[0] if row is None else
            f'<div class="grid" style="grid-template-columns: repeat({len(b)}, minmax(0, 1fr))">{"".join(b)}</div>'
            for row, b in blocks]


def report_html(history: History, genotype: Any = None, meta: Mapping[str, Any] | None = None,
                *, title: str | None = None) -> str:
    """The report page as one HTML string (plotly.js inlined once; no network at view time).

    ``genotype``: the architecture to report as final (default: the run's, see
    :func:`widgets.architecture.final_architecture`); ``meta``: extra settings shown in the header.
    """
    arch = genotype if genotype is not None else final_architecture(history)
    info = _meta_from_history(history)
    info.update(dict(meta or {}))
    title = title or info.pop("title", None) or (
        "Search report · " + " · ".join(str(info[k]) for k in ("space", "method") if k in info))
    info.pop("title", None)
    keys = [k for k in _META_ORDER if k in info] + [k for k in info if k not in _META_ORDER]
    meta_html = '<dl class="meta">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(info[k])}</dd>" for k in keys) + "</dl>"
    sub_parts = [str(info["dataset"])] if "dataset" in info else []
    if "seed" in info:
        sub_parts.append(f"seed {info['seed']}")
    if "epochs" in info:
        sub_parts.append(f"{info['epochs']} epochs")
    sub_parts.append("generated " + _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    sub = _esc(" · ".join(sub_parts))

    ctx = ReportContext(history, arch, list(history.group_names))
    sections = [s for p in PANELS.for_space(history.space) if p.report is not None for s in p.report(ctx)]
    run = [s.html for s in sections if s.slot == "run"]
    cards = [s for s in sections if s.slot != "run"]
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_esc(title)}</title>"
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
           f'<body><div class="wrap"><header><h1>{_esc(title)}</h1><div class="sub">{sub}</div></header>',
           f'<section class="card"><h2>Run</h2>{meta_html}{_stats(history)}{_choices_note(history)}'
           + "".join(run) + "</section>"]
    if not len(history):
        out.append('<section class="card"><p class="note">No step recorded yet.</p></section>')
    out += _layout(cards)
    out.append("<footer>DNAS Workbench · static report; figures are interactive (hover, zoom, "
               "double-click to reset) and need no network.</footer></div></body></html>")
    return "\n".join(out)


def _network_meta(summary: Path) -> dict[str, str]:
    """The derived network's parameters and FLOPs from the run's ``summary.json`` (counted by the CLI)."""
    import json
    try:
        net = json.loads(summary.read_text(encoding="utf-8")).get("network")
        return {"derived network": f"{net['params']:,} parameters, {net['flops']:,} FLOPs per example"} if net else {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


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
    meta.update(_network_meta(run_dir / "summary.json"))
    run_dir.mkdir(parents=True, exist_ok=True)
    meta["run folder"] = str(run_dir)
    page = report_html(history, None, meta, title=title)
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""``python -m workbench runs list [DIR]`` and ``runs show DIR``: the run folders there are, and what one holds.

``list``: one line per run folder under DIR (default ``runs``): status, steps done, space / method / dataset,
seed and the supernet's primary validation metric when the run finished. ``show``:

Status, config, command, checkpoints, one line per epoch (the primary metric
and ``space.label`` of the architecture), rollbacks and early-stopping triggers
of a method's controller (DARTS-ADA), the final architecture and, when the CLI
wrote a ``summary.json``, the supernet's scores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from workbench.app.cli.common import metric_text, metrics_text, n_text, outcome_text


def cmd_runs_show(args: argparse.Namespace) -> int:
    from workbench.runs import list_checkpoints, load_run
    from workbench.spaces.cell.genotype import Genotype

    run = load_run(args.run_dir)
    cfg, info, h = run.config, run.info, run.history
    space = h.space
    spe = info.get("steps_per_epoch", 0)
    total = spe * cfg.epochs
    done = int(h.steps[-1]) if len(h) else 0
    status = {"finished": "finished", "failed": f"FAILED ({run.error})",
              "incomplete": "incomplete (interrupted or still running)"}[run.status]
    print(f"run folder   {run.path}")
    print(f"status       {status}, step {done} of {total}")
    removed = f", removed {list(cfg.removed_ops)}" if cfg.removed_ops else ""
    print(f"search       {cfg.space} / {cfg.method} / {cfg.dataset}, seed {cfg.seed}, {n_text(cfg.epochs, 'epoch')}, "
          f"supernet {_settings(cfg.supernet)}, batch {cfg.batch_size}{removed}")
    if cfg.method_options:
        print(f"options      {', '.join(f'{k}={v}' for k, v in cfg.method_options.items())}")
    if info.get("command"):
        print(f"command      {' '.join(info['command'])}")
    cks = list_checkpoints(run.path)
    print(f"checkpoints  {', '.join(p.stem for p in cks) or 'none'}")
    m = h.primary_metric or "accuracy"
    rollbacks = _rollback_steps(run.path)  # the read-back history keeps only the re-run epochs
    for rec in h.epochs:
        val = "" if not rec.val_metrics else f"val {metric_text(m, rec.val_metrics.get(m, float('nan')))}  "
        print(f"  epoch {rec.epoch + 1:3d}  step {rec.step:6d}  {val}{space.label(rec.genotype)}")
        for step in rollbacks:  # a controller loaded this epoch's state again (DARTS-ADA rollback)
            if step == rec.step:
                print(f"  -- rolled back to the end of epoch {rec.epoch + 1} (step {step})")
    stops = [a.values for a in h.analysis if a.kind == "early_stop"]
    if stops:
        fired = ", ".join(f"epoch {v['trigger_epoch'] + 1} (ratio {v['ratio']:.3f} > {v['factor']:g})" for v in stops)
        print(f"early stop   fired {n_text(len(stops), 'time')}: {fired}")
    arch = run.genotype
    if arch is not None:
        print(f"{'genotype' if isinstance(arch, Genotype) else 'architecture':12s} {space.label(arch)}")
    summary = _summary(run.path / "summary.json")
    if summary and run.finished:
        sn = summary.get("supernet") or {}
        if sn.get("val_metrics"):
            print(f"supernet     val {metrics_text(sn['val_metrics'], 2)}, test "
                  f"{metrics_text(sn.get('test_metrics') or {}, 2)}")
        if summary.get("controller"):
            print(f"controller   {outcome_text(summary['controller'])}")
    if run.bad_lines:
        print(f"skipped      {n_text(len(run.bad_lines), 'corrupt log line')}:")
        for b in run.bad_lines[:10]:
            print(f"  {b.file} line {b.line}: {b.reason[:160]}")
        if len(run.bad_lines) > 10:
            print(f"  ... and {len(run.bad_lines) - 10} more")
    if (run.path / "report.html").exists():
        print(f"report       {run.path / 'report.html'}")
    if run.status == "incomplete" and cks:
        print(f"continue     python -m workbench resume {run.path}")
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.runs import load_run
    root = Path(args.root)
    if not root.is_dir():
        print(f"workbench: error: {root} is not a folder (run folders are written under runs/ by default)",
              file=sys.stderr)
        return 2
    folders = sorted(p for p in root.iterdir() if (p / "config.json").is_file())
    if not folders:
        print(f"no run folders under {root}")
        return 0
    for path in folders:
        try:
            run = load_run(path)
        except Exception as exc:  # noqa: BLE001 - one unreadable folder must not hide the others
            print(f"{path.name:28s} unreadable: {type(exc).__name__}: {str(exc)[:100]}")
            continue
        cfg, h = run.config, run.history
        done = int(h.steps[-1]) if len(h) else 0
        total = run.info.get("steps_per_epoch", 0) * cfg.epochs
        score = ""
        summary = _summary(path / "summary.json") or {}
        val = (summary.get("supernet") or {}).get("val_metrics") or {}
        m = h.primary_metric or "accuracy"
        if run.finished and m in val:
            score = f"  val {metric_text(m, val[m])}"
        print(f"{path.name:28s} {run.status:10s} step {done:>6d}/{total:<6d} {cfg.space}/{cfg.method}/{cfg.dataset} "
              f"seed {cfg.seed}{score}")
    return 0


def _rollback_steps(path: Any) -> list[int]:
    """Steps that a controller rolled back to: ``RunStarted`` events (resumed) at a step before one already
    logged in ``events.jsonl`` (a resume from the CLI starts where the log ends). Unreadable lines are ignored."""
    out: list[int] = []
    seen = 0
    try:
        lines = (path / "events.jsonl").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for text in lines:
        try:
            d = json.loads(text)
            step = int(d.get("step", 0))
        except (ValueError, TypeError, AttributeError):
            continue
        if d.get("type") == "RunStarted" and d.get("resumed") and step < seen:
            out.append(step)
        seen = max(seen, step)
    return out


def _settings(obj: Any) -> str:
    """A supernet config as its non-default fields (``C=4``), ``defaults`` when there are none."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return "defaults" if obj is None else str(obj)
    try:
        default = type(obj)()
    except TypeError:  # no default instance: show every field
        default = None
    changed = [f"{f.name}={getattr(obj, f.name)}" for f in dataclasses.fields(obj)
               if default is None or getattr(obj, f.name) != getattr(default, f.name)]
    return ", ".join(changed) or "defaults"


def _summary(path: Any) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def add_parser(sub: Any) -> None:
    rs = sub.add_parser("runs", help="inspect run folders")
    rsub = rs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    show = rsub.add_parser("show", help="summary of a run folder")
    show.add_argument("run_dir", metavar="DIR", help="a run folder (written by search)")
    show.set_defaults(func=cmd_runs_show)
    lst = rsub.add_parser("list", help="the run folders under a folder, one line each")
    lst.add_argument("root", metavar="DIR", nargs="?", default="runs", help="where the run folders are (default runs)")
    lst.set_defaults(func=cmd_runs_list)

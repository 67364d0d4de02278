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
import json
import sys
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import metric_text, metrics_text, n_text, outcome_text
from workbench.app.cli.help_names import SPACES

if TYPE_CHECKING:  # pragma: no cover
    from workbench.runs.digest import RunDigest


def read_digest(run_dir: Any) -> RunDigest:
    """The summary of a run folder: from its files alone when they allow it (no torch), else read back by the
    engine (``load_run``: a folder from an older version, a space object passed by hand, corrupt log lines)."""
    from workbench.runs.digest import RunDigest, digest_run

    digest = digest_run(run_dir)
    if digest is not None and digest.config["space"] in SPACES:  # a built-in: load_run would find it registered
        return digest
    from workbench.runs import load_run
    return RunDigest.of_run(load_run(run_dir))


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = read_digest(args.run_dir)
    cfg, info = run.config, run.info
    status = {"finished": "finished", "failed": f"FAILED ({run.error})",
              "incomplete": "incomplete (interrupted or still running)"}[run.status]
    print(f"run folder   {run.path}")
    print(f"status       {status}, step {run.last_step} of {run.total_steps}")
    removed = f", removed {list(cfg['removed_ops'])}" if cfg["removed_ops"] else ""
    print(f"search       {cfg['space']} / {cfg['method']} / {cfg['dataset']}, seed {cfg['seed']}, "
          f"{n_text(cfg['epochs'], 'epoch')}, supernet {run.supernet}, batch {cfg['batch_size']}{removed}")
    if cfg["method_options"]:
        print(f"options      {', '.join(f'{k}={v}' for k, v in cfg['method_options'].items())}")
    if info.get("command"):
        print(f"command      {' '.join(info['command'])}")
    cks = run.checkpoints
    print(f"checkpoints  {', '.join(p.stem for p in cks) or 'none'}")
    m = run.primary_metric
    rollbacks = _rollback_steps(run.path)  # the read-back history keeps only the re-run epochs
    for rec in run.epochs:
        val = "" if not rec.val_metrics else f"val {metric_text(m, rec.val_metrics.get(m, float('nan')))}  "
        print(f"  epoch {rec.epoch + 1:3d}  step {rec.step:6d}  {val}{rec.label}")
        for step in rollbacks:  # a controller loaded this epoch's state again (DARTS-ADA rollback)
            if step == rec.step:
                print(f"  -- rolled back to the end of epoch {rec.epoch + 1} (step {step})")
    if run.early_stops:
        fired = ", ".join(f"epoch {v['trigger_epoch'] + 1} (ratio {v['ratio']:.3f} > {v['factor']:g})"
                          for v in run.early_stops)
        print(f"early stop   fired {n_text(len(run.early_stops), 'time')}: {fired}")
    if run.architecture is not None:
        print(f"{'genotype' if run.is_genotype else 'architecture':12s} {run.architecture}")
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
            run = read_digest(path)
        except Exception as exc:  # noqa: BLE001 - one unreadable folder must not hide the others
            print(f"{path.name:28s} unreadable: {type(exc).__name__}: {str(exc)[:100]}")
            continue
        cfg = run.config
        score = ""
        summary = _summary(path / "summary.json") or {}
        val = (summary.get("supernet") or {}).get("val_metrics") or {}
        m = run.primary_metric
        if run.finished and m in val:
            score = f"  val {metric_text(m, val[m])}"
        print(f"{path.name:28s} {run.status:10s} step {run.last_step:>6d}/{run.total_steps:<6d} "
              f"{cfg['space']}/{cfg['method']}/{cfg['dataset']} seed {cfg['seed']}{score}")
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

"""``python -m workbench resume DIR``: continue a run folder from its newest good checkpoint.

The CPU thread count recorded in the run is used again (results depend on it)
unless ``--threads`` says otherwise; ``--epochs N`` extends a search. The
resumed search steps through :meth:`Searcher.step` like ``search``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.app.cli.common import (
    check_eval_every,
    drive,
    eval_every_flag,
    int_arg,
    tensorboard_flag,
    threads_flag,
)


def recorded_eval_every(command: list[str] | None) -> int | None:
    """The ``--eval-every N`` of a run's recorded command line (None when it has none or it is unreadable)."""
    args = list(command or [])
    for i, item in enumerate(args):
        text = item.split("=", 1)[1] if item.startswith("--eval-every=") else (
            args[i + 1] if item == "--eval-every" and i + 1 < len(args) else None)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                return None
    return None


def cmd_resume(args: argparse.Namespace) -> int:
    from workbench.app.cli.summary import finish
    from workbench.runs import read_run_info, resume

    check_eval_every(args)
    if args.eval_every is None:  # as the search was started
        args.eval_every = recorded_eval_every(read_run_info(args.run_dir).get("command"))
    recorded = read_run_info(args.run_dir).get("torch_threads")
    if args.threads is None and recorded:  # CPU results depend on the thread count: match the run's
        import torch
        torch.set_num_threads(int(recorded))
    searcher, store = resume(args.run_dir, epochs=args.epochs, command=["python", "-m", "workbench", *args.argv])
    last = (read_run_info(args.run_dir).get("resumes") or [{}])[-1]
    for skipped in last.get("skipped") or []:  # also logged, but say it even without --verbose
        print(f"workbench: warning: checkpoint {skipped}", file=sys.stderr)
    if last.get("skipped"):
        print(f"workbench: warning: fell back to the previous checkpoint {last.get('checkpoint')} "
              f"(step {searcher.step_count})", file=sys.stderr)
    if last.get("corrupt_lines"):
        print(f"workbench: warning: dropped {len(last['corrupt_lines'])} corrupt log line(s)", file=sys.stderr)
    if searcher.finished:
        store.close()
        print(f"workbench: {args.run_dir} is already finished ({searcher.config.epochs} epochs); pass "
              f"--epochs N with N > {searcher.config.epochs} to search longer", file=sys.stderr)
        finish(searcher, store.dir, args, 0.0, 0)
        return 0
    if not args.quiet:
        print(f"workbench: resuming {args.run_dir} at step {searcher.step_count} of {searcher.total_steps}",
              file=sys.stderr)
    return drive(searcher, store, args, finish)


def add_parser(sub: Any) -> None:
    r = sub.add_parser("resume", help="continue a run folder from its newest good checkpoint")
    r.add_argument("run_dir", metavar="DIR", help="the run folder to continue (written by search)")
    r.add_argument("--epochs", type=int_arg, help="new total number of epochs (to extend a search)")
    r.add_argument("--nb201-table", metavar="PATH",
                   help="NAS-Bench-201 CSV for ground truth (default: $WORKBENCH_NB201_TABLE, else the shipped table)")
    r.add_argument("--no-report", action="store_true", help="do not write report.html")
    tensorboard_flag(r)
    r.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    threads_flag(r)
    eval_every_flag(r, default=None, extra=" (default: the run's own --eval-every)")
    r.set_defaults(func=cmd_resume)

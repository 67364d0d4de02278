"""``python -m workbench search``: run a search into a new run folder (progress on stderr, summary on stdout).

The search steps through :meth:`Searcher.step`, so a method's controller
(DARTS-ADA's early stopping, rollbacks and weight-decay adaptation) acts
exactly as in the notebooks and in ``compare``; the run folder
(:mod:`workbench.runs`) records every step, epoch and analysis event.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from workbench.app.cli.common import (
    NB201_ENV,
    UsageError,
    check_eval_every,
    drive,
    eval_every_flag,
    int_arg,
    n_text,
    search_config,
    tensorboard_flag,
    threads_flag,
)
from workbench.app.cli.settings import config_file_flags, config_flags, print_config
from workbench.data import nb201_table_path


def cmd_search(args: argparse.Namespace) -> int:
    if args.checkpoint_every < 0:
        raise UsageError(f"--checkpoint-every: expected an integer >= 0 (0: only at the end), got {args.checkpoint_every}")
    if args.keep < 1:
        raise UsageError(f"--keep: expected an integer >= 1, got {args.keep}")
    check_eval_every(args)
    if not args.eval_each_epoch and args.eval_every == 1:
        args.eval_every = None  # --no-eval-each-epoch: no evaluation at epoch ends, by the searcher or the CLI
    cfg = search_config(args)
    if args.print_config:
        extra = {} if args.eval_every in (None, 1) else {"eval_every": args.eval_every}
        return print_config({**cfg.to_dict(), **extra})
    from workbench.app.cli.summary import finish
    from workbench.runs import RunStore, read_run_info

    out = Path(args.out) if args.out else Path("runs") / (
        f"{cfg.space}-{cfg.method}-{cfg.dataset.replace(':', '_')}-seed{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    for where in (out, *out.parents):  # fail now, not after loading data (RunStore would hit NotADirectoryError)
        if where.exists() and not where.is_dir():
            raise UsageError(f"--out {out}: {where} is a file; the run folder must be a new or empty folder")
    if args.overwrite and out.exists() and any(out.iterdir()):
        read_run_info(out)  # only ever delete a folder that holds a workbench run (RunError otherwise)
        shutil.rmtree(out)
        print(f"workbench: removed the previous run in {out} (--overwrite)", file=sys.stderr)
    if out.exists() and any(out.iterdir()):  # fail before loading data; RunStore checks again
        what = "holds a run" if (out / "config.json").is_file() else "is not empty"
        raise UsageError(f"output folder {out} {what}; choose another --out, continue it with "
                         f"`python -m workbench resume {out}`, or replace it with --overwrite")
    table = nb201_table_path(args.nb201_table)  # --nb201-table, $WORKBENCH_NB201_TABLE or the shipped table
    if not table.is_file():  # fail now, not after the search
        raise UsageError(f"NAS-Bench-201 table not found: {table} (--nb201-table / {NB201_ENV})")
    searcher = sys.modules[__name__].Searcher(cfg)  # this module's attribute (tests substitute a subclass)
    store = RunStore(out, searcher, checkpoint_every=args.checkpoint_every, keep=args.keep,
                     command=["python", "-m", "workbench", *args.argv])
    if not args.quiet:
        print(f"workbench: run folder {out} ({searcher.total_steps} steps = {n_text(cfg.epochs, 'epoch')} x "
              f"{searcher.steps_per_epoch})", file=sys.stderr)
    return drive(searcher, store, args, finish)


def __getattr__(name: str) -> Any:
    """``Searcher``, imported on first use (PEP 562): this module imports the engine only when it searches."""
    if name == "Searcher":
        from workbench.search import Searcher
        return Searcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_parser(sub: Any) -> None:
    s = sub.add_parser("search", help="run a search; writes a run folder, a summary and report.html")
    config_flags(s)
    threads_flag(s)
    eval_every_flag(s)
    s.add_argument("--out", help="run folder (must be new or empty; default runs/<space>-<method>-...)")
    s.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (refused for folders that do not hold a run)")
    s.add_argument("--checkpoint-every", type=int_arg, default=1, metavar="EPOCHS",
                   help="checkpoint every N epochs (0: only at the end; default 1)")
    s.add_argument("--keep", type=int_arg, default=3, help="checkpoints to keep (default 3)")
    s.add_argument("--nb201-table", metavar="PATH", help=f"NAS-Bench-201 CSV for ground truth (default: ${NB201_ENV}, else the shipped table)")
    s.add_argument("--no-report", action="store_true", help="do not write report.html")
    tensorboard_flag(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    config_file_flags(s)
    s.set_defaults(func=cmd_search)

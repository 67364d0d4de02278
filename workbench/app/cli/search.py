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
    float_arg,
    int_arg,
    n_text,
    search_config,
    threads_flag,
)
from workbench.app.cli.help_names import DATASETS, METHODS, SEARCH_DEFAULTS, SPACES
from workbench.data import nb201_table_path


def cmd_search(args: argparse.Namespace) -> int:
    if args.checkpoint_every < 0:
        raise UsageError(f"--checkpoint-every: expected an integer >= 0 (0: only at the end), got {args.checkpoint_every}")
    if args.keep < 1:
        raise UsageError(f"--keep: expected an integer >= 1, got {args.keep}")
    check_eval_every(args)
    from workbench.app.cli.summary import finish
    from workbench.runs import RunStore, read_run_info

    cfg = search_config(args)
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
    s.add_argument("--space", default="nb201", help=f"search space: {', '.join(SPACES)} (default nb201)")
    s.add_argument("--method", default="darts-v1", help=f"method: {', '.join(METHODS)} (default darts-v1)")
    s.add_argument("--dataset", default="digits", help=f"dataset: {', '.join(DATASETS)} (default digits)")
    s.add_argument("--data-root", help="folder of a dataset read from disk (cifar10, ...)")
    s.add_argument("--data-limit", type=int_arg, metavar="N", help="keep at most this many training images (stratified)")
    s.add_argument("--remove-op", action="append", default=[], metavar="OP", help="drop a candidate op (repeatable)")
    s.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, VALUE parsed as JSON when possible (repeatable), e.g. r=0.01")
    for flag, typ, what in (("--epochs", int, "search epochs"), ("--batch-size", int, "mini-batch size"),
                            ("--seed", int, "random seed"), ("--C", int, "supernet channels"),
                            ("--layers", int, "cells (DARTS macro)"),
                            ("--cells-per-stage", int, "cells per stage N (NB201 macro)"),
                            ("--lr", float, "weight learning rate (cosine schedule)"),
                            ("--arch-lr", float, "architecture (alpha) learning rate"),
                            ("--arch-weight-decay", float, "alpha weight decay"),
                            ("--weight-decay", float, "weight decay"), ("--momentum", float, "SGD momentum"),
                            ("--grad-clip", float, "gradient-norm clip (0: off)"),
                            ("--train-portion", float, "share of training data for weights (rest: alphas)")):
        dest = flag[2:].replace("-", "_")
        default = SEARCH_DEFAULTS[dest]
        s.add_argument(flag, type=int_arg if typ is int else float_arg, dest=dest, metavar="N" if typ is int else "X",
                       help=f"{what} (default {default})")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto (default cpu)")
    s.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                   help="on CUDA, run every step eagerly instead of replaying captured CUDA graphs")
    s.add_argument("--deterministic", action="store_true",
                   help="on CUDA, deterministic kernels (bit-identical resumes; sets process-wide torch switches)")
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
    s.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    s.set_defaults(func=cmd_search)

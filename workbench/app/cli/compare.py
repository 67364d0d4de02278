"""``python -m workbench compare``: run several methods x seeds on one space and dataset, print the table.

A thin front end to :func:`workbench.compare.compare`, which steps every search
through :meth:`Searcher.run` (so a method's controller acts), keeps one run
folder per (method, seed) under ``--out`` and writes ``comparison.{csv,md,json}``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.app.cli.common import (
    NB201_ENV,
    UsageError,
    dataset_name,
    outcome_text,
    parse_options,
    threads_flag,
)
from workbench.data import nb201_table_path


def cmd_compare(args: argparse.Namespace) -> int:
    """Run several methods x seeds on one space and dataset; print and write the comparison table."""
    from workbench.compare import compare
    from workbench.methods import get_method
    from workbench.search import SearchConfig
    from workbench.spaces import get_space

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    options: dict[str, dict[str, Any]] = {}
    for item in args.method_option:
        method, sep, kv = item.partition(":")
        if not sep or method not in methods:
            raise UsageError(f"--method-option takes METHOD:KEY=VALUE with METHOD one of --methods "
                             f"({', '.join(methods)}), e.g. darts-ada:ev_freq=1; got {item!r}")
        options.setdefault(method, {}).update(parse_options([kv]))
    for m in methods:
        get_method(m, options.get(m))  # unknown names (and options) fail here, listing the valid ones
    try:
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {args.seeds!r}") from None
    space = get_space(args.space)
    dataset = dataset_name(args.dataset)
    # ground truth on the NB201 space: --nb201-table, $WORKBENCH_NB201_TABLE or the shipped table
    table = str(nb201_table_path(args.nb201_table)) if args.space == "nb201" or args.nb201_table else None
    net = {k: getattr(args, k) for k in ("C", "layers", "cells_per_stage") if getattr(args, k) is not None}
    base = SearchConfig(space=args.space, dataset=dataset, epochs=args.epochs, arch_lr=args.arch_lr,
                        batch_size=args.batch_size, data_limit=args.data_limit,
                        supernet=space.supernet_config(None, **net) if net else None)
    retrain = None
    if args.retrain_epochs:
        from workbench.spaces.cell.discrete import EvalConfig
        retrain = EvalConfig(epochs=args.retrain_epochs)

    def on_run(row: dict) -> None:
        if not args.quiet:
            print(f"  done {row.get('method')} seed {row.get('seed')}: {row.get('genotype')}", file=sys.stderr)
            if row.get("controller"):
                print(f"    early stopping: {outcome_text(row['controller'])}", file=sys.stderr)

    result = compare(methods, seeds, args.space, dataset, args.epochs, args.out, table, base_config=base,
                     method_options=options, retrain=retrain, hessian=not args.no_hessian, on_run=on_run)
    print(result.to_text())  # the same tables as comparison.md, aligned for a terminal
    if args.out:
        print(f"\ntables and run folders in {args.out}")
    return 0


def add_parser(sub: Any) -> None:
    c = sub.add_parser("compare", help="run methods x seeds on one space/dataset and tabulate them")
    c.add_argument("--methods", default="darts-v1,darts-v2,pc-darts,gdas,snas,sdarts-rs",
                   help="comma-separated method names (default: the DARTS family comparison)")
    c.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    c.add_argument("--method-option", action="append", default=[], metavar="METHOD:KEY=VALUE",
                   help="an option of one compared method, VALUE parsed as JSON when possible (repeatable), "
                        "e.g. darts-ada:es_start_epoch=5")
    c.add_argument("--space", default="nb201")
    c.add_argument("--dataset", default="digits")
    c.add_argument("--data-limit", type=int, metavar="N", help="keep at most this many training images")
    c.add_argument("--epochs", type=int, default=30)
    c.add_argument("--arch-lr", type=float, default=1e-2, help="alpha learning rate for every method (default 1e-2)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--C", type=int, default=8)
    c.add_argument("--layers", type=int, default=3)
    c.add_argument("--cells-per-stage", type=int, default=1)
    c.add_argument("--retrain-epochs", type=int, default=0, help="retrain each derived cell this long (0: skip)")
    c.add_argument("--no-hessian", action="store_true", help="skip the dominant eigenvalue column")
    c.add_argument("--nb201-table", metavar="PATH", help=f"NAS-Bench-201 CSV for ground truth (default: ${NB201_ENV}, else the shipped table)")
    c.add_argument("--out", help="folder for the run folders and comparison.{csv,md,json}")
    c.add_argument("--quiet", action="store_true")
    threads_flag(c)
    c.set_defaults(func=cmd_compare)

"""``python -m workbench nb201 ARCH``: the NAS-Bench-201 ground truth of a cell (Dong & Yang, ICLR 2020).

Reads the NAS-Bench-201 table (``--table``, else ``$WORKBENCH_NB201_TABLE``, else the
table shipped with the workbench) and prints the cell's index, CIFAR-10/100 and ImageNet16-120 test accuracies
with their ranks, latencies where recorded, and how many cells are isomorphic.
"""
from __future__ import annotations

import argparse
from typing import Any

from workbench.app.cli.common import NB201_ENV, UsageError
from workbench.app.cli.genotype import read_genotype
from workbench.data import load_nb201_table


def cmd_nb201(args: argparse.Namespace) -> int:
    from workbench.spaces.cell.nb201 import canonical_str
    if args.arch == "convert":
        raise UsageError("to build a table from the official NATS-Bench files use "
                         "`python -m workbench nb201-convert --help`")
    table = load_nb201_table(args.table)
    g = read_genotype(args.arch)
    rec = table.lookup(g)
    n = len(table)
    iso = table.isomorphic(rec.arch_str)
    print(f"arch          {rec.arch_str}")
    print(f"index         {rec.index}")
    for label, key in (("CIFAR-10", "c10_test_200ep"), ("CIFAR-100", "c100_test_200ep"),
                       ("ImageNet16", "in16_test_200ep")):
        print(f"{label:13s} {rec.metrics[key]:6.2f}%   rank {table.rank(rec.arch_str, key):5d} of {n}")
    devices = rec.devices()
    if devices:
        print("latency (ms)  " + ", ".join(f"{d} {rec.latency(d):.3g}" for d in devices))
    shown = {"c10_test_200ep", "c100_test_200ep", "in16_test_200ep"} | {f"lat_ms_{d}" for d in devices}
    rest = [f"{k} {v:.4g}" for k, v in rec.metrics.items() if k not in shown]
    if rest:
        print("other         " + ", ".join(rest))
    print(f"isomorphic    {len(iso)} architecture(s) compute the same function (canonical "
          f"{canonical_str(rec.arch_str)})")
    return 0


def add_parser(sub: Any) -> None:
    n = sub.add_parser("nb201", help="NAS-Bench-201 ground truth of an architecture")
    n.add_argument("arch", help="NB201 string (|op~0|+|op~0|op~1|+...), JSON or a file")
    n.add_argument("--table", metavar="PATH", help=f"NAS-Bench-201 CSV (default: ${NB201_ENV}, else the shipped table)")
    n.set_defaults(func=cmd_nb201)

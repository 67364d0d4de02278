"""``python -m workbench nb201-convert``: build a NAS-Bench-201 table from the official NATS-Bench data.

Writes the CSV the workbench reads (the format of the shipped ``nb201_merged.csv.gz``; see
:mod:`workbench.data.nb201_convert`) from one source:

* ``--nats-dir DIR``: the official topology benchmark files (``NATS-tss-v1_0-3ffb9-simple``),
  read through the official ``nats_bench`` package (``pip install nats_bench``);
* ``--nats-csv FILE``: an export of that API with the columns ``ArchitectureString``,
  ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``, ``ImageNetTestAccuracy200Epochs``;

plus any ``--extra FILE`` (CSV keyed by ``arch_str``: 12-epoch or ``lat_ms_*`` latency columns).
Use the result with ``--nb201-table PATH`` or ``$WORKBENCH_NB201_TABLE``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.app.cli.common import NB201_ENV, UsageError


def _nats_api(path: str) -> Any:
    try:
        # the official reader of the official files (not a dependency)
        from nats_bench import create
    except ImportError:
        raise UsageError("--nats-dir needs the official NATS-Bench API: pip install nats_bench "
                         "(or export its numbers to a CSV and pass --nats-csv)") from None
    return create(path, "tss", fast_mode=True, verbose=False)


def cmd_nb201_convert(args: argparse.Namespace) -> int:
    from workbench.data.nb201_convert import ConvertError, convert

    if (args.nats_dir is None) == (args.nats_csv is None):
        raise UsageError("give exactly one source: --nats-dir DIR (official files) or --nats-csv FILE (an API export)")

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\r  {done}/{total} cells", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        out = convert(args.out, nats_csv=args.nats_csv, api=_nats_api(args.nats_dir) if args.nats_dir else None,
                      extra=args.extra, expect_all=not args.partial, progress=progress)
    except ConvertError as exc:
        raise UsageError(str(exc)) from None
    from workbench.spaces.cell.nb201 import NB201Table
    table = NB201Table.load(out)
    print(f"wrote {out}: {len(table)} cells, columns {', '.join(table.metrics())}")
    print(f"use it with --nb201-table {out} (or set {NB201_ENV})")
    return 0


def add_parser(sub: Any) -> None:
    c = sub.add_parser("nb201-convert", help="build a NAS-Bench-201 table (CSV) from the official NATS-Bench data",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--nats-dir", metavar="DIR", help="the official NATS-Bench topology files (needs nats_bench)")
    c.add_argument("--nats-csv", metavar="FILE", help="a CSV export of the NATS-Bench API (nats_bench.csv)")
    c.add_argument("--extra", action="append", default=[], metavar="FILE",
                   help="a CSV keyed by arch_str whose 12-epoch or lat_ms_* columns are added (repeatable; default: none)")
    c.add_argument("--out", required=True, metavar="PATH", help="the table to write (.csv, or .csv.gz for gzip)")
    c.add_argument("--partial", action="store_true",
                   help="accept fewer than the 15,625 cells (default: refuse an incomplete table)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.set_defaults(func=cmd_nb201_convert)

"""``python -m workbench compare``: run several methods x seeds on one space and dataset, print the table.

The same searches as :func:`workbench.compare.compare` (every search steps
through :meth:`Searcher.run`, so a method's controller acts), run as the
tasks of :mod:`workbench.app.sweep`: one after the other here, or with
``--ray`` as Ray tasks; one run folder per (method, seed) under ``--out`` and
``comparison.{csv,md,json}``. It takes every search setting ``search`` takes
(data, learning rates, supernet size, ``--config``), and ``--method-option``
for one method (``METHOD:KEY=VALUE``) or all of them (``KEY=VALUE``). The
same command again continues an interrupted comparison.
"""
from __future__ import annotations

import argparse
from typing import Any

from workbench.app.cli.common import (
    UsageError,
    flag_error,
    parse_options,
)
from workbench.app.cli.settings import (
    check_method,
    config_flags,
    config_from_args,
    preset_defaults,
    print_config,
)
from workbench.app.cli.sweep import run_tasks, seeds_of, sweep_flags

#: compare's own defaults (a comparison at the scale the lessons use), shown in --help
COMPARE_DEFAULTS = {"epochs": 30, "arch_lr": 1e-2}


def method_options(items: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``METHOD:KEY=VALUE`` (one method) or ``KEY=VALUE`` (every compared method) -> {method: options}."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.partition("=")[0]
        if ":" in key:
            method, _, kv = item.partition(":")
            if method not in methods:
                raise UsageError(f"--method-option takes METHOD:KEY=VALUE with METHOD one of --methods "
                                 f"({', '.join(methods)}), e.g. darts-ada:ev_freq=1, or KEY=VALUE for every "
                                 f"method; got {item!r}")
            options.setdefault(method, {}).update(parse_options([kv]))
        else:
            for m in methods:
                options.setdefault(m, {}).update(parse_options([item]))
    return options


def cmd_compare(args: argparse.Namespace) -> int:
    """Run several methods x seeds on one space and dataset; print and write the comparison table."""
    from workbench.errors import ConfigError

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise UsageError(f"--methods takes comma-separated method names, got {args.methods!r}")
    for m in methods:
        check_method(m)
    options = method_options(args.method_option, methods)
    for m in methods:
        preset_defaults(m, options.get(m, {}))  # unknown options fail here, naming the valid ones
    seeds = seeds_of(args)
    base = config_from_args(args, methods[0], options.get(methods[0], {}))
    if args.print_config:
        settings = base.to_dict()
        for key in ("method", "method_options", "seed"):
            settings.pop(key)
        return print_config({**settings, "methods": methods, "seeds": seeds, "method_options": options})
    from workbench.app.sweep import compare_tasks

    try:
        tasks = compare_tasks(base, methods, seeds, options)
    except ConfigError as exc:
        raise flag_error(exc) from None
    return run_tasks(args, tasks)


def add_parser(sub: Any) -> None:
    c = sub.add_parser("compare", help="run methods x seeds on one space/dataset and tabulate them (optionally on Ray)",
                       description="Run every method of --methods for every seed on one space and dataset; each "
                                   "search gets a run folder under --out; one table (mean ± std over seeds). Takes "
                                   "every search setting `search` takes. Running the same command again continues "
                                   "an interrupted comparison.")
    c.add_argument("--methods", default="darts-v1,darts-v2,pc-darts,gdas,snas,sdarts-rs",
                   help="comma-separated method names (default: the DARTS family comparison, "
                        "darts-v1,darts-v2,pc-darts,gdas,snas,sdarts-rs)")
    c.add_argument("--method-option", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="an option of one compared method (METHOD:KEY=VALUE) or of all of them (KEY=VALUE), VALUE "
                        "parsed as JSON when possible (repeatable), e.g. darts-ada:es_start_epoch=5 (default: each "
                        "method's own)")
    config_flags(c, method=False, seed=False, method_option=False, defaults=COMPARE_DEFAULTS)
    sweep_flags(c, "0,1,2")
    c.set_defaults(func=cmd_compare)

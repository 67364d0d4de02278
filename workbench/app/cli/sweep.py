"""``python -m workbench sweep``: one method over a grid of settings x seeds, in parallel with Ray if asked.

Each combination of the ``--grid`` values and each seed is one search with
its own run folder under ``--out`` (``darts-v1-arch_lr=0.001-s0``) and one row
of the table (``comparison.{csv,md,json}``, labelled ``darts-v1
arch_lr=0.001``; mean ± std over seeds per combination). The searches are the
tasks of :mod:`workbench.app.sweep`: run here one after the other, or with
``--ray`` as Ray tasks on a local runtime (started and stopped here) or an
existing cluster. Run the same command again after an interruption: finished
runs are read back, interrupted ones resume from their last checkpoint.

This module also holds what ``compare`` shares with it: the flags of the
sweep's outputs and executor, and the loop with its progress bar.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import (
    NB201_ENV,
    UsageError,
    default_threads,
    flag_error,
    int_arg,
    outcome_text,
    parse_options,
    threads_flag,
)
from workbench.app.cli.settings import (
    config_file_flags,
    config_flags,
    config_from_args,
    print_config,
)

if TYPE_CHECKING:  # pragma: no cover
    from workbench.app.sweep import SweepTask


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``KEY=V1,V2,...`` (each value JSON when it parses, else text) or ``KEY=[JSON list]`` -> {key: values}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise UsageError(f"--grid takes KEY=V1,V2,... (e.g. arch_lr=3e-4,1e-3), got {item!r}")
        if key in grid:
            raise UsageError(f"--grid {key}: given twice; list all its values in one --grid {key}=V1,V2,...")
        if text.lstrip().startswith("["):
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--grid {key}: {text!r} is not a JSON list ({exc.msg})") from None
        else:
            values = [parse_options([f"{key}={v.strip()}"], "--grid")[key] for v in text.split(",")]
        if not isinstance(values, list) or not values:
            raise UsageError(f"--grid {key}: expected a non-empty list of values, got {text!r}")
        grid[key] = values
    return grid


def seeds_of(args: argparse.Namespace) -> list[int]:
    from workbench.app.sweep import iter_seeds
    return iter_seeds(args.seeds)


def sweep_flags(p: argparse.ArgumentParser, seeds_default: str) -> None:
    """The flags ``compare`` and ``sweep`` share: seeds, outputs, the executor, config files."""
    p.add_argument("--seeds", nargs="+", default=[seeds_default], metavar="SEED",
                   help=f"seeds, as 0 1 2 or 0,1,2 (default {seeds_default})")
    p.add_argument("--retrain-epochs", type=int_arg, default=0, metavar="N",
                   help="retrain each derived cell this long (default 0: skip)")
    p.add_argument("--no-hessian", action="store_true",
                   help="skip the dominant eigenvalue column (default: measure it)")
    p.add_argument("--nb201-table", metavar="PATH",
                   help=f"NAS-Bench-201 CSV for ground truth (default: ${NB201_ENV}, else the shipped table)")
    p.add_argument("--out", help="folder for the run folders and comparison.{csv,md,json} (default: none, nothing "
                                 "is written); the same command resumes it")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines (default: show them)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the searches as Ray tasks (the ray extra: pip install 'dnas-workbench[ray]'): "
                        "--ray or --ray local starts a local runtime for this command, --ray auto joins the "
                        "cluster `ray start` made, --ray HOST:PORT or ray://HOST:PORT a cluster by address (its "
                        "nodes need the workbench installed and --out on a shared filesystem); each task takes "
                        "--threads CPUs (default: no Ray, one search after the other here)")
    p.add_argument("--ray-cpus", type=int_arg, metavar="N",
                   help="CPUs of the local Ray runtime (default: all cores)")
    threads_flag(p)
    config_file_flags(p)


def executor_for(args: argparse.Namespace, device: str) -> Any:
    """The serial executor, or a Ray executor for ``--ray`` (fails at once, clearly, without Ray)."""
    from workbench.app.sweep import RayExecutor, SerialExecutor

    if args.ray is None:
        if args.ray_cpus is not None:
            raise UsageError("--ray-cpus sets the CPUs of a local Ray runtime: use it with --ray")
        return SerialExecutor()
    if args.ray_cpus is not None and args.ray not in ("local",):
        raise UsageError(f"--ray-cpus applies to a local runtime (--ray local), not to --ray {args.ray}")
    if args.ray_cpus is not None and args.ray_cpus < 1:
        raise UsageError(f"--ray-cpus: expected an integer >= 1, got {args.ray_cpus}")
    gpus = 1 if device.startswith("cuda") else 0
    return RayExecutor(args.ray, threads=args.threads or default_threads(), gpus=gpus, num_cpus=args.ray_cpus)


def run_tasks(args: argparse.Namespace, tasks: list[SweepTask], grid: dict[str, list[Any]] | None = None) -> int:
    """Run the tasks with a progress bar over finished runs; print the table (and where it was written)."""
    from tqdm import tqdm

    from workbench.app.sweep import Finished, run_sweep

    retrain = None
    if args.retrain_epochs:
        from workbench.spaces.cell.discrete import EvalConfig
        retrain = EvalConfig(epochs=args.retrain_epochs)
    executor = executor_for(args, tasks[0].config.device)
    bar = tqdm(total=len(tasks), file=sys.stderr, unit="run", disable=args.quiet, dynamic_ncols=True,
               desc="ray" if args.ray else "runs")

    def on_result(f: Finished) -> None:
        bar.update(1)
        if args.quiet:
            return
        verb = "reused" if f.reused else "done"
        bar.write(f"  {verb} {f.task.label} seed {f.task.config.seed}: {f.row.get('genotype')}", file=sys.stderr)
        if f.row.get("controller"):
            bar.write(f"    early stopping: {outcome_text(f.row['controller'])}", file=sys.stderr)

    try:
        with executor:
            result = run_sweep(tasks, args.out, executor=executor, table_path=args.nb201_table,
                               hessian=not args.no_hessian, retrain=retrain, grid=grid, on_result=on_result)
    except KeyboardInterrupt:
        bar.close()
        if args.out:
            print(f"workbench: run the same command again to continue: the finished runs in {args.out} are "
                  "reused, the interrupted ones resume", file=sys.stderr)
        raise
    finally:
        bar.close()
    print(result.to_text())  # the same tables as comparison.md, aligned for a terminal
    if args.out:
        print(f"\ntables and run folders in {args.out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """One method over a grid of settings x seeds; print and write the table."""
    from workbench.app.sweep import grid_tasks
    from workbench.errors import ConfigError

    grid = parse_grid(args.grid)
    seeds = seeds_of(args)
    base = config_from_args(args, args.method, parse_options(args.method_option))
    if args.print_config:
        settings = base.to_dict()
        settings.pop("seed")
        return print_config({**settings, "grid": grid, "seeds": seeds})
    if not grid:
        raise UsageError("sweep needs at least one --grid KEY=V1,V2,... (to compare methods use `compare`)")
    try:
        tasks = grid_tasks(base, grid, seeds)
    except ConfigError as exc:
        raise flag_error(exc) from None
    return run_tasks(args, tasks, grid)


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "sweep", help="one method over a grid of settings x seeds (optionally on Ray); one table",
        description="Run one method over every combination of the --grid values, for every seed; each search "
                    "gets its own run folder under --out, the table has one row per combination (mean ± std over "
                    "seeds). Example: sweep --method darts-v1 --grid arch_lr=3e-4,1e-3 --seeds 0 1 --out sw "
                    "[--ray]. A grid KEY is a SearchConfig field (arch_lr, lr, epochs, ...), supernet.NAME (e.g. "
                    "supernet.C=4,8) or a method option (r=0.01,0.1; option.NAME when NAME is also a field). "
                    "Running the same command again continues an interrupted sweep.")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values, comma-separated (each parsed as JSON when possible) or a JSON "
                        "list: arch_lr=3e-4,1e-3 or r=[0.01,0.1] (repeatable: every combination is run; "
                        "default: none, at least one is needed)")
    config_flags(s, seed=False)
    sweep_flags(s, "0")
    s.set_defaults(func=cmd_sweep)

"""``python -m workbench project DIR``: DARTS-PT's perturbation-based selection on a finished run's supernet.

Wang et al., "Rethinking Architecture Selection in Differentiable NAS" (ICLR
2021): an op's importance is what the supernet loses when the op is masked,
not the size of its alpha. The run's supernet is rebuilt from its folder at
its newest checkpoint that loads and handed to
:class:`workbench.analysis.projection.Projection` (probe an edge, fix it to
the op whose removal hurts most, tune, repeat; the DARTS space also decides
each node's two inputs). The run folder is only read: the projection tunes a
copy in memory. It prints the selected architecture next to the search's own
(magnitude) choice and writes ``projection.json`` into the run folder (or
``--out``): the settings, both architectures and every projection action.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from workbench.app.cli.common import UsageError, float_arg, int_arg, line, threads_flag

PROJECTION_FILE = "projection.json"


def load_searcher(run_dir: Path) -> Any:
    """The run's searcher at its newest checkpoint that loads (the folder is not changed)."""
    from workbench import serialize
    from workbench.runs import load_run
    from workbench.search import Searcher
    from workbench.serialize import CheckpointError

    run = load_run(run_dir)
    if not run.finished:
        raise UsageError(f"{run_dir} is not a finished run ({run.status}); finish it first with "
                         f"`python -m workbench resume {run_dir}`")
    searcher = Searcher(run.config)
    tried = []
    for ck in reversed(run.checkpoints):
        try:
            searcher.load_state_dict(serialize.load(ck))
        except (CheckpointError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            tried.append(f"{ck.name}: {exc}")
            continue
        return searcher
    raise CheckpointError(f"cannot rebuild the supernet of {run_dir}: no checkpoint loads "
                          f"({'; '.join(tried) or 'there are none'})")


def projection_config(args: argparse.Namespace) -> Any:
    from workbench.analysis.projection import ProjectionConfig

    exclude = {"auto": None, "yes": True, "no": False}[args.exclude_none]
    try:
        return ProjectionConfig(proj_intv=args.proj_intv, crit=args.crit, proj_batches=args.proj_batches or None,
                                batch_size=args.batch_size, bn=args.bn, bn_side_effects=args.bn_side_effects,
                                arch_update=None if args.arch_update == "auto" else args.arch_update,
                                lr_factor=args.lr_factor, tune_steps=args.tune_steps, exclude_none=exclude,
                                seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"projection settings: {exc}") from None


def cmd_project(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workbench.analysis.projection import Projection
    from workbench.serialize import atomic_write_text
    from workbench.spaces.cell.space import CellSpace

    run_dir = Path(args.run_dir)
    config = projection_config(args)  # bad settings fail before the supernet is rebuilt
    for flag, value in (("--batch-size", args.batch_size), ("--tune-steps", args.tune_steps)):
        if value is not None and value < 1:
            raise UsageError(f"{flag}: expected an integer >= 1, got {value}")
    searcher = load_searcher(run_dir)
    if not isinstance(searcher.space, CellSpace):
        raise UsageError(f"DARTS-PT projection works on cell spaces (edges of candidate ops); the run's space "
                         f"{searcher.space.name!r} is not one")
    space = searcher.space
    magnitude = searcher.genotype()
    pt = Projection(searcher, config)
    actions = []
    t0 = time.perf_counter()
    bar = tqdm(total=len(pt.schedule), file=sys.stderr, unit="action", disable=args.quiet, dynamic_ncols=True,
               desc="projection")
    try:
        while not pt.finished:
            ev = pt.step()
            actions.append(ev.values)
            bar.set_postfix_str(str(ev.values["phase"]), refresh=False)
            bar.update(1)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    projected = pt.genotype()
    out = Path(args.out) if args.out else run_dir / PROJECTION_FILE
    record = {"format": "workbench-projection/1", "run_dir": str(run_dir), "step": searcher.step_count,
              "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
              "arch_update": pt.arch_update, "exclude_none": pt.exclude_none,
              "genotype": projected.to_dict(), "label": space.label(projected),
              "magnitude_genotype": magnitude.to_dict(), "magnitude_label": space.label(magnitude),
              "agree": projected == magnitude, "seconds": seconds, "actions": actions}
    atomic_write_text(out, json.dumps(record, indent=1, default=str))
    print(f"projection finished: {run_dir} ({len(actions)} actions, {seconds:.1f} s)")
    print(line("projected (PT)", space.label(projected)))
    print(line("magnitude", space.label(magnitude) + ("  (the same)" if projected == magnitude else "")))
    if projected.is_nb201():
        print(line("genotype (NB201)", projected.to_nb201_str()))
    print(line("genotype (JSON)", projected.to_json()))
    print(line("written", str(out)))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "project", help="DARTS-PT: pick a finished run's architecture by perturbation (writes projection.json)",
        description="Perturbation-based architecture selection (DARTS-PT, Wang et al., ICLR 2021) on the "
                    "supernet of a finished run of a cell space: each edge's op is the one whose masking hurts "
                    "the supernet most, decided edge by edge with tuning in between. The run folder is read, "
                    f"not changed, except for {PROJECTION_FILE}.")
    p.add_argument("run_dir", metavar="DIR", help="a finished run folder (from search, compare or sweep)")
    p.add_argument("--proj-intv", type=int_arg, default=5, metavar="N",
                   help="tuning epochs between projections (0: project every edge back to back, no tuning; "
                        "default 5, the paper's)")
    p.add_argument("--crit", choices=("acc", "loss"), default="acc",
                   help="the op to keep: the one whose masking lowers accuracy most, or raises the loss most "
                        "(default acc)")
    p.add_argument("--proj-batches", type=int_arg, default=4, metavar="N",
                   help="batches of the arch half the probes evaluate (0: the whole half; default 4)")
    p.add_argument("--batch-size", type=int_arg, metavar="N", help="probe batch size (default: the run's)")
    p.add_argument("--bn", choices=("train", "eval"), default="train",
                   help="BatchNorm while probing: batch statistics (train, the reference) or running ones "
                        "(default train)")
    p.add_argument("--bn-side-effects", action="store_true",
                   help="keep the running-statistics updates of train-mode probes, as the reference does "
                        "(default: undo them)")
    p.add_argument("--arch-update", choices=("auto", "darts", "blank"), default="auto",
                   help="while tuning: first-order alpha steps (darts) or frozen alphas (blank); auto: blank for "
                        "methods that never update alphas, else darts (default auto)")
    p.add_argument("--lr-factor", type=float_arg, default=0.1, metavar="X",
                   help="tuning learning rate = the run's lr x this, constant (default 0.1)")
    p.add_argument("--tune-steps", type=int_arg, metavar="N",
                   help="steps per tuning epoch (default: one pass over the weight half)")
    p.add_argument("--exclude-none", choices=("auto", "yes", "no"), default="auto",
                   help="whether probes skip the 'none' op; auto: as the reference (NB201 probes it, the DARTS "
                        "rule does not; default auto)")
    p.add_argument("--seed", type=int_arg, default=0, help="seed of the edge and node order (default 0)")
    p.add_argument("--out", metavar="FILE", help=f"where to write the result (default DIR/{PROJECTION_FILE})")
    p.add_argument("--quiet", action="store_true", help="no progress bar (default: show it)")
    threads_flag(p)
    p.set_defaults(func=cmd_project)


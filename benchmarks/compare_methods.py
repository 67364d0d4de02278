"""Compare the DARTS family on NAS-Bench-201 ground truth: DARTS-V1/V2, PC-DARTS, GDAS, SNAS, SDARTS-RS.

Runs :func:`workbench.compare.compare` for methods x seeds on the NB201 cell
space with digits (8x8; 718 weight / 718 arch examples, batch 64 -> 12 steps
per epoch), one cell per stage (C=8, N=1), and prints the Markdown table.
The derived cells are looked up in the NB201 table (CIFAR-10/100/ImageNet16
200-epoch test accuracy, CIFAR-10 rank among 15,625): a label on the cell,
not a claim about digits.

Budget choices (all methods share one SearchConfig):

* ``--epochs 30`` (360 steps; DARTS's CIFAR-10 search takes ~19,500) and
  ``--arch-lr 1e-2``: at DARTS's 3e-4 the alphas barely move in a few hundred
  steps (PILOT.md), so the arch lr is scaled up for every method alike.
* Schedules keep their *shape* at this length: PC-DARTS warms up for 30% of
  the epochs (15 of 50 in the paper), SNAS anneals its temperature over the
  run (the reference hard-codes 150 epochs, which at 30 epochs would barely
  move it), GDAS's tau and SDARTS's eps are already relative to the run.
* ``train_portion`` 0.5 for every method (SNAS's reference uses all the data
  for its single-level step; here it sees the same weight half as the others).
* Retraining on digits: 10 epochs of the discrete network (C=8, N=1).

Usage: python benchmarks/compare_methods.py [--epochs 30] [--seeds 0,1,2] [--out runs/compare_nb201]
Rerunning with the same --out reuses finished runs and resumes interrupted ones.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from workbench import SearchConfig, SupernetConfig  # noqa: E402
from workbench.compare import compare  # noqa: E402
from workbench.spaces.cell.discrete import EvalConfig  # noqa: E402

TABLE = ROOT.parent / "shared" / "data" / "nb201" / "nb201_merged.csv.gz"
METHODS = "darts-v1,darts-v2,pc-darts,gdas,snas,sdarts-rs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--arch-lr", type=float, default=1e-2)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--cells-per-stage", type=int, default=1)
    ap.add_argument("--retrain-epochs", type=int, default=10)
    ap.add_argument("--snas-anneal-epochs", type=int, default=0,
                    help="SNAS temperature annealing length; 0 = the run's length, 150 = the reference")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--out", default=str(ROOT / "runs" / "compare_nb201"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    base = SearchConfig(space="nb201", dataset="digits", arch_lr=args.arch_lr,
                        supernet=SupernetConfig(C=args.C, cells_per_stage=args.cells_per_stage))
    options = {"pc-darts": {"warmup_epochs": round(0.3 * args.epochs)}, "snas": {"anneal_epochs": args.snas_anneal_epochs or None}}
    options = {k: v for k, v in options.items() if k in methods}
    retrain = EvalConfig(epochs=args.retrain_epochs, C=args.C, cells_per_stage=args.cells_per_stage) \
        if args.retrain_epochs > 0 else None
    table = args.table if Path(args.table).is_file() else None
    t0 = time.perf_counter()

    def progress(row: dict) -> None:
        gt = f" C10 {row['nb201_c10']:.2f} rank {row['nb201_rank_c10']}" if row.get("nb201_c10") is not None else ""
        print(f"[{time.perf_counter() - t0:6.0f}s] {row['method']:10} seed {row['seed']}: "
              f"{row['search_seconds']:.0f}s search, supernet acc {row['supernet_val_accuracy']:.3f}, "
              f"pf {row['param_free']}{gt}  {row['genotype']}", flush=True)

    res = compare(methods, seeds, "nb201", "digits", args.epochs, args.out, table, base_config=base,
                  method_options=options, retrain=retrain, on_run=progress)
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; tables in {args.out}/comparison.{{csv,md,json}}\n")
    print(res.to_markdown())


if __name__ == "__main__":
    main()

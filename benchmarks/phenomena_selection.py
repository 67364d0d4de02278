"""Phenomenon: perturbation-based (DARTS-PT) vs magnitude selection on a skip-heavy supernet, scored in NB201.

Wang et al. (ICLR 2021) argue that alpha magnitudes do not measure how much
the supernet relies on an op, and that selecting by the accuracy drop when
an op is masked avoids DARTS's skip-connection collapse. This script trains
an NB201-space supernet in the regime where PILOT.md saw skips take over
(N = 5 cells per stage, arch lr 1e-2), then derives genotypes by

* magnitude: argmax softmax(alpha) per edge (NB201 rule, ``none`` included);
* one-shot perturbation: every edge probed once on the same supernet;
* the full DARTS-PT projection schedule (proj_intv 5 = 25 tuning epochs),

with BatchNorm in train mode (batch statistics, the reference) and in eval
mode (running statistics) during probes, and scores each genotype by its
CIFAR-10 test accuracy in the NAS-Bench-201 table (a label on the cell, not
a claim about the dataset searched on). Per-edge disagreements are printed
with the numbers that explain them.

Usage: .venv/bin/python benchmarks/phenomena_selection.py [--dataset digits] [--epochs 50] [--cells-per-stage 5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench import SearchConfig, Searcher, SupernetConfig  # noqa: E402
from workbench.analysis import discretisation_gap  # noqa: E402
from workbench.analysis.projection import (  # noqa: E402
    Projection,
    ProjectionConfig,
    clone_searcher,
    compare_selection,
)
from workbench.spaces.cell.genotype import count_param_free  # noqa: E402
from workbench.spaces.cell.nb201 import NB201Table  # noqa: E402

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_merged.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-limit", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--cells-per-stage", type=int, default=5)
    ap.add_argument("--arch-lr", type=float, default=1e-2)
    ap.add_argument("--method", default="darts-v1")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--proj-intv", type=int, default=5)
    ap.add_argument("--proj-batches", type=int, default=4)
    ap.add_argument("--table", default=str(DEFAULT_TABLE))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    table = NB201Table.load(args.table)
    c10 = np.array([table.record(i).c10 for i in range(len(table))])

    cfg = SearchConfig(space="nb201", method=args.method, dataset=args.dataset, data_limit=args.data_limit,
                       epochs=args.epochs, arch_lr=args.arch_lr, seed=args.seed,
                       supernet=SupernetConfig(C=args.C, cells_per_stage=args.cells_per_stage))
    s = Searcher(cfg)
    t0 = time.perf_counter()
    s.run()
    t_search = time.perf_counter() - t0
    val_loss, val_m = s.evaluate()
    val_acc = val_m["accuracy"]
    w = s.probabilities()["cell"]
    print(f"supernet: NB201 space, C={args.C}, N={args.cells_per_stage}, {args.dataset}, {args.epochs} epochs x "
          f"{s.steps_per_epoch} steps, {args.method}, arch lr {args.arch_lr}, seed {args.seed}: {t_search:.0f} s; "
          f"val acc (eval BN) {val_acc:.3f}")
    print("softmax(alpha) per edge (" + ", ".join(s.space.ops) + "):")
    for k, row in enumerate(w):
        print(f"  edge {k} ({s.space.edges[k][1]}->{s.space.edges[k][0] + 1}): " + " ".join(f"{v:.3f}" for v in row))

    rows = []

    def score(label: str, g, seconds: float, tuned=None) -> None:
        rec = table.lookup(g)
        gap = discretisation_gap(s, g)
        after = discretisation_gap(tuned, g).inherited_acc if tuned is not None else float("nan")
        rows.append((label, g.to_nb201_str(), count_param_free(g.cell("cell")), rec.c10, table.rank(g),
                     gap.inherited_acc, after, seconds))

    score("magnitude (argmax)", s.genotype(), 0.0)
    comparisons = {}
    for bn in ("train", "eval"):
        pc = ProjectionConfig(proj_intv=args.proj_intv, proj_batches=args.proj_batches, bn=bn)
        t = time.perf_counter()
        comparisons[bn] = compare_selection(s, pc)
        score(f"one-shot PT, {bn} BN", comparisons[bn].perturbation, time.perf_counter() - t)
    for bn in ("train", "eval"):
        twin = clone_searcher(s)
        pt = Projection(twin, ProjectionConfig(proj_intv=args.proj_intv, proj_batches=args.proj_batches, bn=bn))
        t = time.perf_counter()
        g = pt.run()
        score(f"DARTS-PT schedule, {bn} BN", g, time.perf_counter() - t, twin)

    for bn, cmp in comparisons.items():
        print(f"\nper-edge comparison on the searched supernet, probes with {bn}-mode BN, "
              f"{args.proj_batches} x {cfg.batch_size} validation examples, crit acc:")
        print(cmp.table())
    print(f"\nNB201 CIFAR-10 (200 ep) test accuracy of the derived cells; table median {np.nanmedian(c10):.2f}, "
          f"best {np.nanmax(c10):.2f}, {len(table)} cells")
    print(f"supernet val accuracy (train-mode BN, whole arch half): {discretisation_gap(s).supernet_acc:.3f}")
    print(f"{'selection':<28}{'genotype':<92}{'pf':>3}{'c10':>7}{'rank':>7}{'inherit':>9}{'tuned':>7}{'sec':>6}")
    for label, arch, pf, acc, rank, inh, after, sec in rows:
        print(f"{label:<28}{arch:<92}{pf:>3}{acc:>7.2f}{rank:>7}{inh:>9.3f}{after:>7.3f}{sec:>6.0f}")
    print("pf = parameter-free edges (skip/pool) of 6; inherit = val accuracy of the searched supernet with one-hot "
          "weights on the genotype (train-mode BN); tuned = the same after the DARTS-PT schedule's tuning")


if __name__ == "__main__":
    main()

"""DASS at CPU scale (SEEDS_2 §3.4): the searched cell pruned to 50/70/90% next to a pruned DARTS cell, plus the
per-step cost of the three training variants next to DARTS-V1/V2.

For each seed: a DARTS-V1 search on ``nb201`` and a DASS search (target sparsity 0.9) on ``nb201-sparse``, same
data (digits), budget and seed; each derived cell is trained dense, pruned by magnitude to each sparsity,
fine-tuned and tested (:func:`workbench.methods.dass.prune_then_evaluate`). Sparsity is measured over the
parametric edge convolutions; accuracy, not wall time, is compared (unstructured masks give no dense speed-up).
Then ms/step (median of ``--steps`` steps after 2 warm-up steps, one thread) of darts-v1, darts-v2, sd-darts,
rarts and dass. The paper's claim (DASS cells survive pruning better) is **unverified** at this scale.

Usage: python benchmarks/bench_dass.py [--seeds 0,1,2] [--epochs 10] [--train-epochs 8] [--steps 10]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench import SearchConfig, Searcher
from workbench.methods.dass import PruneConfig, prune_then_evaluate

SPARSITIES = (0.5, 0.7, 0.9)


def search(method: str, space: str, seed: int, epochs: int) -> str:
    s = Searcher(SearchConfig(space=space, method=method, epochs=epochs, seed=seed, eval_each_epoch=False))
    s.run()
    return str(s.genotype())


def ms_per_step(method: str, space: str, steps: int) -> float:
    s = Searcher(SearchConfig(space=space, method=method, epochs=50, seed=0, eval_each_epoch=False))
    s.run(2)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        s.step()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-epochs", type=int, default=8)
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = PruneConfig(epochs=args.train_epochs, finetune_epochs=args.finetune_epochs)
    rows = {"darts-v1": [], "dass": []}
    print(f"prune-then-evaluate (digits; search {args.epochs} epochs, train {cfg.epochs}, fine-tune "
          f"{cfg.finetune_epochs}); test accuracy dense / pruned / fine-tuned")
    for seed in [int(s) for s in args.seeds.split(",")]:
        for method, space in (("darts-v1", "nb201"), ("dass", "nb201-sparse")):
            genotype = search(method, space, seed, args.epochs)
            res = prune_then_evaluate(genotype, space, "digits", SPARSITIES, cfg.__class__(**{**cfg.__dict__,
                                                                                             "seed": seed}))
            rows[method].append(res)
            cells = "  ".join(f"{r.sparsity:.0%}(meas {r.measured:.3f}): {r.pruned_acc:.3f}/{r.finetuned_acc:.3f}"
                              for r in res)
            print(f"seed {seed} {method:8s} {genotype}\n    dense {res[0].dense_acc:.3f}  {cells}")
    print("mean fine-tuned accuracy over seeds:")
    for method, runs in rows.items():
        means = [statistics.mean(r[i].finetuned_acc for r in runs) for i in range(len(SPARSITIES))]
        print(f"  {method:8s} " + "  ".join(f"{s:.0%}: {m:.4f}" for s, m in zip(SPARSITIES, means, strict=True)))
    print(f"ms/step (median of {args.steps}, one thread, digits batch 64, C=8 N=1):")
    for method, space in (("darts-v1", "nb201"), ("darts-v2", "nb201"), ("sd-darts", "nb201"), ("rarts", "nb201"),
                          ("dass", "nb201-sparse")):
        print(f"  {method:8s} on {space:12s} {ms_per_step(method, space, args.steps):7.1f}")


if __name__ == "__main__":
    main()

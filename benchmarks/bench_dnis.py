"""DNIS at CPU scale (SEEDS_2 §8.5): ms/step of the ``dnis`` search on ``embedding_dims``, and the whole default
search with its claims per seed.

1. ms/step (median of ``--steps`` steps after 3 warm-up steps, one thread, batch 1024) in the warm start
   (weights only) and in the search phase (weight step + alpha step), for the FM and the NCF-MLP on ratings
   and for the FM on the 3-field click data; plus the bare forward + backward of the FM on one batch, so the
   searcher's own overhead per step shows;
2. ``--full``: the default search (15 warm + 40 search epochs, the spec's CPU version) per seed -- wall time,
   ms/step over the whole run (epoch-end evaluations included), validation MSE after the warm start and after
   the search, mean mask per feature block, and mean kept dimensions per block after merge-then-prune at 50%
   next to the same training with the mask fixed at 1 (``arch_lr = 0``).

Usage: python benchmarks/bench_dnis.py [--steps 30] [--full] [--seeds 0,1,2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.methods import paper_config
from workbench.spaces.embedding import prune_embeddings


def config(seed: int = 0, dataset: str = "interactions", model: str = "fm", **kw) -> SearchConfig:
    cfg = paper_config(SearchConfig(space="embedding_dims", method="dnis", dataset=dataset, seed=seed,
                                    supernet={"model": model}))
    return cfg.replace(**kw)


def ms_per_step(s: Searcher, steps: int) -> float:
    s.run(3)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        s.step()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bare_ms(steps: int) -> float:
    """Forward + backward of the masked FM on one batch of 1024, no searcher."""
    s = Searcher(config(eval_each_epoch=False))
    x, y = s.train_stream.next()
    w = {"dims": s.model.alphas["dims"]}
    times = []
    for _ in range(steps + 3):
        t = time.perf_counter()
        loss = F.mse_loss(s.model(x, w), y)
        torch.autograd.grad(loss, list(s.model.parameters()))
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times[3:])


def step_table(steps: int) -> None:
    print(f"ms/step (median of {steps}, one thread, batch 1024)")
    print(f"  bare FM forward + backward, one batch: {bare_ms(steps):6.2f}")
    for label, kw in (("FM, ratings", {}), ("NCF-MLP, ratings", {"model": "mlp"}),
                      ("FM, 3-field clicks", {"dataset": "ctr"})):
        warm = ms_per_step(Searcher(config(eval_each_epoch=False, **kw)), steps)
        search = ms_per_step(Searcher(config(eval_each_epoch=False, method_options={"warm_start_epochs": 0}, **kw)),
                             steps)
        print(f"  {label:18s}: warm start {warm:6.2f}   search {search:6.2f}   (ratio {search / warm:.2f})")


def full(seed: int) -> None:
    for arch_lr in (0.01, 0.0):
        s = Searcher(config(seed, arch_lr=arch_lr))
        t = time.perf_counter()
        s.run(15 * s.steps_per_epoch)
        warm = s.evaluate()[0]
        s.run()
        wall = time.perf_counter() - t
        val = s.evaluate()[0]
        means = s.probabilities()["dims"].mean(1)
        kept = prune_embeddings(s.model, 0.5).kept_per_block
        what = "search     " if arch_lr else "mask fixed 1"
        print(f"seed {seed} {what}: {wall:5.1f} s ({1000 * wall / s.total_steps:5.2f} ms/step)  val MSE "
              f"{warm:.4f} -> {val:.4f}  mean W per block {np.round(means, 3)}  kept at 50% {np.round(kept, 2)} "
              f"(b1 - b5 = {kept[0] - kept[-1]:.2f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--full", action="store_true", help="also run the default search per seed (about 1 min each)")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    torch.set_num_threads(1)
    step_table(args.steps)
    if args.full:
        for seed in (int(s) for s in args.seeds.split(",")):
            full(seed)


if __name__ == "__main__":
    main()

"""Adaptive Guidance at CPU scale (SEEDS_2 §10): ms per policy-training step, where the time goes, and (with
``--full``) the fixed-seed searches behind notebook 13's table.

Timings (median of ``--steps`` after 2 warm-up steps, one thread, wall and CPU time):

* one Searcher step of the ``guidance`` preset (batch 128, 20 DDIM steps): the architecture step (forward and
  backward through the whole sampler, both evaluations at every step) plus the weight step, which runs at
  learning rate 0 (the denoiser is frozen) and costs about as much again;
* the sampler alone, forward only, for 1,024 samples: full CFG (40 NFE), a 31-NFE policy, conditional only
  (20 NFE). Time falls with NFE, but less than in proportion: a guided step's two evaluations are one batched
  call of a 10k-parameter MLP (measured on a quiet moment: about 41 / 30-37 / 26 ms CPU);
* one step of the toy denoiser's training.

``--full`` runs the search for each (cost_weight, seed) in ``--grid`` (200 steps each) and prints the derived
policy, its NFE and its distance to the full-CFG samples on the 1,024 held-out noises, next to the fixed cut-off
at the same NFE and the x0 cosine rule interpolated to the same NFE.

Usage: python benchmarks/bench_guidance.py [--steps 20] [--full] [--grid 0.01:0,0.01:1,0.02:0]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from workbench import SearchConfig, Searcher
from workbench.diffusion import (
    CosineRule,
    DenoiserTraining,
    cutoff_gates,
    distance_to,
    sample_adaptive,
)
from workbench.diffusion.toy import train_denoiser
from workbench.spaces import get_space

THRESHOLDS = (0.99, 0.995, 0.998, 0.999, 0.9995, 0.9998, 0.9999)


def timed(fn, steps: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of ``fn()`` over ``steps`` calls."""
    wall, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def config(cost_weight: float = 0.01, seed: int = 0, epochs: int = 25) -> SearchConfig:
    return SearchConfig(space="guidance", method="guidance", dataset="guidance_pairs", epochs=epochs, batch_size=128,
                        seed=seed, method_options={"cost_weight": cost_weight}, eval_each_epoch=False)


def timings(steps: int) -> None:
    space = get_space("guidance")
    space.model()  # train (and cache) the denoiser first
    s = Searcher(config(epochs=50))
    s.run(2)
    wall, cpu = timed(s.step, steps)
    print(f"guidance policy training (batch 128, {space.steps} DDIM steps): {wall:.1f} ms/step wall, {cpu:.1f} ms CPU")
    net, x = s.model, s.dataset.x_test
    gates = torch.zeros(space.steps)
    gates[[0, *range(4, 13), 14]] = 1.0  # the 31-NFE policy of notebook 13
    with torch.no_grad():
        for name, g in (("full CFG, 40 NFE", None), ("31-NFE policy", gates), ("conditional, 20 NFE",
                                                                                torch.zeros(space.steps))):
            wall, cpu = timed(lambda g=g: net.run(x, g), 5)
            print(f"  sampler forward, {len(x)} samples, {name}: {wall:.1f} ms wall, {cpu:.1f} ms CPU")
    train_denoiser(DenoiserTraining(steps=20))  # warm
    t, c = time.perf_counter(), time.process_time()
    train_denoiser(DenoiserTraining(steps=200))
    print(f"  toy denoiser training: {1000 * (time.perf_counter() - t) / 200:.2f} ms/step wall, "
          f"{1000 * (time.process_time() - c) / 200:.2f} ms CPU (default {DenoiserTraining().steps} steps)")


def full(grid: list[tuple[float, int]]) -> None:
    space = get_space("guidance")
    print("| cost_weight (lambda) | seed | derived policy | NFE | searched | first-k cut-off | x0 cosine rule |")
    print("|---|---|---|---|---|---|---|")
    for cw, seed in grid:
        s = Searcher(config(cw, seed))
        s.run()
        arch = s.genotype()
        policy = space.compile(arch, s.task.info)
        x, y = s.dataset.x_test, s.dataset.y_test
        z, c = x[:, :2], x[:, 2].long()
        with torch.no_grad():
            mine = distance_to(policy.run(x).x0, y)
            cut = distance_to(s.model.run(x, cutoff_gates(space.steps, policy.nfe - space.steps)).x0, y)
            rule = [sample_adaptive(policy.denoiser, z, c, space.ddim, space.scale, CosineRule(g)) for g in THRESHOLDS]
        d_rule = float(np.interp(policy.nfe, [r.mean_nfe for r in rule], [distance_to(r.x0, y) for r in rule]))
        pi = s.probabilities()["steps"][:, 1]
        print(f"| {cw} ({2 * cw:g}) | {seed} | {space.label(arch).split(' · ')[0]} | {policy.nfe} | {mine:.4f} | "
              f"{cut:.4f} | {d_rule:.4f} |  max P(CFG) of the last 5 steps {pi[-5:].max():.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--grid", default="0.01:0,0.01:1,0.02:0")
    args = ap.parse_args()
    torch.set_num_threads(1)
    timings(args.steps)
    if args.full:
        full([(float(a), int(b)) for a, b in (item.split(":") for item in args.grid.split(","))])


if __name__ == "__main__":
    main()

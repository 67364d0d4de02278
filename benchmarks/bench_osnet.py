"""OSNet-AIN's norm-placement search at CPU scale (SEEDS_2 §5.6-5.7): ms/step, the time of a whole search at the
default size, and (``--full``) the pilot's table: searches on style-mixed digits and on the no-style control, each
derived network retrained next to all-BN and all-IN and scored on seen and unseen styles.

ms/step: median of ``--steps`` steps after 2 warm-up steps, one thread, batch 64, of the ``osnet-ain`` preset on
``norm_placement`` (C = 16, 3 blocks x 4 candidates, all computed every step), next to darts-v1 on the same space
and the discrete derived network's training step (the retraining's cost), with the ratio. The whole search is
:func:`workbench.methods.osnet.cpu_config` (30 epochs of 1200 digits, 570 steps).

Usage: python benchmarks/bench_osnet.py [--steps 20] [--search] [--full --seeds 0,1 --retrain-epochs 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import median_ms  # noqa: E402
from workbench import SearchConfig, Searcher
from workbench.methods.osnet import cpu_config
from workbench.methods.osnet_eval import RetrainConfig, candidate_networks, retrain_placements
from workbench.spaces.norm import placement


def search_ms(method: str, steps: int) -> float:
    cfg = cpu_config() if method == "osnet-ain" else SearchConfig(space="norm_placement", method=method, epochs=30,
                                                                  data_limit=1200, seed=0, eval_each_epoch=False)
    return median_ms(Searcher(cfg).step, steps)


def discrete_ms(steps: int) -> float:
    s = Searcher(cpu_config())
    net = s.space.compile(placement(s.space, ("in_residual", "plain", "plain")), s.task.info)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def step() -> None:
        x, y = s.train_stream.next()
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return median_ms(step, steps)


def full(seeds: list[int], retrain_epochs: int) -> None:
    print(f"searches ({cpu_config().epochs} epochs) and retraining ({retrain_epochs} epochs); accuracy seen/unseen")
    for dataset, runs in (("digits_styles", seeds), ("digits_styles_control", seeds[:1])):
        for seed in runs:
            s = Searcher(cpu_config(dataset=dataset, seed=seed))
            t = time.perf_counter()
            s.run()
            took = time.perf_counter() - t
            arch = s.genotype()
            print(f"\n{dataset} seed {seed}: search {took:.0f} s, derived [{s.space.label(arch)}]")
            print("  relu(w)/sum:", " | ".join(" ".join(f"{v:.3f}" for v in row) for row in s.probabilities()["blocks"]))
            tab = retrain_placements(s.dataset, candidate_networks(s.space, arch), s.space,
                                     RetrainConfig(epochs=retrain_epochs, seed=seed))
            print("  " + tab.to_text().replace("\n", "\n  "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--search", action="store_true", help="also time one whole search at the default size")
    ap.add_argument("--full", action="store_true", help="the pilot's table (searches and retraining; minutes)")
    ap.add_argument("--seeds", default="0,1,2", help="style-mixed searches; the no-style control uses the first")
    ap.add_argument("--retrain-epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    osnet, darts, child = search_ms("osnet-ain", args.steps), search_ms("darts-v1", args.steps), discrete_ms(args.steps)
    print(f"ms/step (median of {args.steps}, one thread, digits 8x8, batch 64, C=16, 3 blocks x 4 placements):")
    print(f"  osnet-ain search step   {osnet:7.1f}   (single level: w step + weight step on the training batch)")
    print(f"  darts-v1 on the space   {darts:7.1f}   (ratio osnet-ain / darts-v1 {osnet / darts:.2f})")
    print(f"  derived net, training   {child:7.1f}   (ratio search / retraining step {osnet / child:.1f})")
    if args.search:
        s = Searcher(cpu_config())
        t = time.perf_counter()
        s.run()
        took = time.perf_counter() - t
        print(f"whole search at the default size ({s.total_steps} steps): {took:.1f} s "
              f"({1000 * took / s.total_steps:.0f} ms/step), derived [{s.space.label(s.genotype())}]")
    if args.full:
        full([int(x) for x in args.seeds.split(",")], args.retrain_epochs)


if __name__ == "__main__":
    main()

"""CovidNet3D at CPU scale (SEEDS_2 §6.6): ms/step of the search, its warm-up and the fine-tune, and the 3-D
depthwise convolution against PyTorch's grouped ``conv3d``.

* search steps (``covidnet3d`` on ``mbconv3d`` / ``ct_volumes``, the notebook's settings
  :data:`workbench.methods.covidnet3d.CPU_SCALE`): a warm-up step (weights only, a sampled path), a search step
  (arch step on the validation batch + weight step) with the straight-through sample and ``gradient="released"``;
  median of ``--steps`` steps after 2, one thread; then the whole search's predicted time (steps x ms);
* a fine-tune step of a derived network (batch 16, forward + backward + SGD);
* one MBConv3d block forward + backward (batch 16) with the workbench's depthwise convolution
  (:func:`workbench.spaces.volume.blocks.depthwise_conv3d`) and with ``F.conv3d(groups=C)``, and their ratio.

Usage: python benchmarks/bench_covid3d.py [--steps 10]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import median_ms  # noqa: E402
from workbench import SearchConfig, Searcher
from workbench.methods.covidnet3d import CPU_SCALE
from workbench.spaces import Choices
from workbench.spaces.volume import GROUP
from workbench.spaces.volume.blocks import MBConv3d


def search_ms(steps: int, **options: object) -> tuple[float, Searcher]:
    cfg = SearchConfig(space="mbconv3d", method="covidnet3d", dataset="ct_volumes", method_options=options, seed=0,
                       **{**CPU_SCALE, "epochs": 50})
    s = Searcher(cfg)
    return median_ms(s.step, steps), s


def finetune_ms(s: Searcher, picks: tuple[str, ...], steps: int) -> float:
    net = s.space.compile(Choices(s.space.name, {GROUP: picks}), s.task.info)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = s.dataset.x_train[:16], s.dataset.y_train[:16]

    def step() -> None:
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return median_ms(step, steps)


def block_ms(C: int, shape: tuple[int, int, int], kernel: int, expansion: int, steps: int, grouped: bool) -> float:
    torch.manual_seed(0)
    block = MBConv3d(C, kernel, expansion)
    if grouped:  # PyTorch's grouped conv3d instead of depthwise_conv3d (same weights)
        for m in block:
            if type(m).__name__ == "DepthwiseConv3d":
                m.forward = lambda z, m=m: F.conv3d(z, m.weight, padding=m.padding, groups=m.groups)
    x = torch.randn(16, C, *shape, requires_grad=True)
    return median_ms(lambda: block(x).sum().backward(), steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warm, s = search_ms(args.steps)  # warm-up epochs come first: these are weight-only steps
    s.run(2 * s.steps_per_epoch - s.step_count)
    search = median_ms(s.step, args.steps)
    released, _ = search_ms(args.steps, gradient="released", warmup_epochs=0)
    per_epoch = s.steps_per_epoch
    total = (2 * warm + (CPU_SCALE["epochs"] - 2) * search) * per_epoch / 1000
    print(f"covidnet3d on mbconv3d / ct_volumes {s.dataset.input_shape}, batch {CPU_SCALE['batch_size']}, "
          f"{per_epoch} steps/epoch, one thread (median of {args.steps}):")
    print(f"  warm-up step (weights only)      {warm:8.1f} ms/step")
    print(f"  search step (straight-through)   {search:8.1f} ms/step")
    print(f"  search step (released)           {released:8.1f} ms/step")
    print(f"  predicted search ({CPU_SCALE['epochs']} epochs, 2 warm-up)  {total:6.1f} s")
    for picks in (("k3_e2",) * 3, ("k5_e2", "k3_e4", "skip"), ("k3_e4",) * 3):
        print(f"  fine-tune step {' | '.join(picks):22s} {finetune_ms(s, picks, args.steps):8.1f} ms/step")
    print("MBConv3d block forward + backward, batch 16 (ms): depthwise_conv3d vs F.conv3d(groups=C), ratio")
    for C, shape in ((12, (16, 12, 12)), (24, (8, 6, 6))):
        for k, e in ((3, 2), (5, 2), (3, 4)):
            ours = block_ms(C, shape, k, e, args.steps, grouped=False)
            ref = block_ms(C, shape, k, e, args.steps, grouped=True)
            print(f"  C={C:2d} {shape} k{k}_e{e}: {ours:7.1f} vs {ref:7.1f}  x{ref / ours:4.1f}")


if __name__ == "__main__":
    main()

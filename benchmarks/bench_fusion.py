"""Does fusing a wave's ops across op types pay on this CPU? (issue 17, item 1)

One wave of a DARTS cell runs, on the same ReLU'd input of E edges x C channels, the first stage of four
conv ops: sep_conv_3x3, sep_conv_5x5, dil_conv_3x3 and dil_conv_5x5 (depthwise k x k, pointwise 1x1,
BatchNorm with the mixing weight folded in), summed. Three ways to run it, forward + backward, side by side:

* ``per type`` -- what the supernet does: one depthwise, one pointwise and one BN call per op type
  (kernels cropped to the map as the supernet crops them);
* ``embedded`` -- one depthwise call for all four (each kernel zero-embedded in the largest, the input
  replicated per op), one block pointwise call over 4E groups, one BN, a sum over the op axis;
* ``pw+bn fused`` -- depthwise per type, then the outputs concatenated for one pointwise and one BN call.

Shapes: the waves of the digits-sized config (batch 64; maps 8, 4, 2) and of the small CIFAR config (batch 16;
maps 32, 16, 8). Median of ``--repeats`` runs, process CPU time (robust on a shared machine), one thread.

Usage: python benchmarks/bench_fusion.py [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import median_ms  # noqa: E402
from workbench.conv_kernels import crop_to_map, depthwise_conv2d  # noqa: E402

KERNELS = (3, 5, 5, 9)  # sep3, sep5, and the dilated 3x3 / 5x5 as zero-filled kernels


def wave(B: int, E: int, C: int, H: int, repeats: int) -> tuple[float, float, float]:
    M, EC = len(KERNELS), E * C
    x = torch.randn(B, EC, H, H).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    full = [torch.randn(EC, 1, k, k, requires_grad=True) for k in KERNELS]
    pws = [torch.randn(EC, C, 1, 1, requires_grad=True) for _ in range(M)]
    scale = torch.rand(EC)

    def cropped() -> list[tuple[torch.Tensor, tuple[int, int]]]:
        return [crop_to_map(w, (w.shape[-1] - 1) // 2, H, H) for w in full]

    def per_type() -> None:
        out = None
        for (w, pad), pw in zip(cropped(), pws):
            y = F.batch_norm(F.conv2d(depthwise_conv2d(x, w, 1, pad), pw, None, 1, 0, 1, E), None, None, scale,
                             None, True)
            out = y if out is None else out + y
        assert out is not None
        out.sum().backward()

    def embedded() -> None:
        ks = cropped()
        K = max(w.shape[-1] for w, _ in ks)
        w = torch.cat([F.pad(w, [(K - w.shape[-1]) // 2] * 4) for w, _ in ks])
        b, _, h, wd = x.shape
        xm = x.permute(0, 2, 3, 1).unsqueeze(3).expand(b, h, wd, M, EC).reshape(b, h, wd, M * EC).permute(0, 3, 1, 2)
        y = F.conv2d(depthwise_conv2d(xm, w, 1, (K - 1) // 2), torch.cat(pws), None, 1, 0, 1, M * E)
        y = F.batch_norm(y, None, None, scale.repeat(M), None, True)
        y.permute(0, 2, 3, 1).reshape(b, h, wd, M, EC).sum(3).sum().backward()

    def pw_bn_fused() -> None:
        y = torch.cat([depthwise_conv2d(x, w, 1, pad) for w, pad in cropped()], 1)
        y = F.conv2d(y, torch.cat(pws), None, 1, 0, 1, M * E)
        y = F.batch_norm(y, None, None, scale.repeat(M), None, True)
        b, _, h, wd = y.shape
        y.permute(0, 2, 3, 1).reshape(b, h, wd, M, EC).sum(3).sum().backward()

    def cpu_us(fn: Callable[[], None]) -> float:
        return 1000 * median_ms(fn, repeats, warmup=3, clock=time.process_time)

    return cpu_us(per_type), cpu_us(embedded), cpu_us(pw_bn_fused)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {os.cpu_count()} logical CPUs, load {os.getloadavg()[0]:.2f}; torch {torch.__version__}, "
          "1 thread; process CPU time, median")
    print(f"{'wave (B, E, C, map)':<22}{'per type us':>12}{'embedded':>10}{'ratio':>7}{'pw+bn fused':>13}{'ratio':>7}")
    shapes = [(64, 4, 8, 8), (64, 3, 8, 8), (64, 4, 16, 4), (64, 4, 32, 2), (64, 2, 32, 2),
              (16, 4, 8, 32), (16, 4, 16, 16), (16, 4, 32, 8)]
    for B, E, C, H in shapes:
        base, emb, fused = wave(B, E, C, H, args.repeats)
        print(f"{str((B, E, C, H)):<22}{base:>12.0f}{emb:>10.0f}{base / emb:>7.2f}{fused:>13.0f}{base / fused:>7.2f}")
    print("ratio > 1: the fused form is faster than one call per op type")


if __name__ == "__main__":
    main()

"""Minimal reproducer: input gradients of a 3x3 average pool on CUDA, by memory layout.

Issue 15 found the ``avg_pool_3x3`` op of the DARTS supernet giving wrong gradients on CUDA while the forward
agreed to 1e-16. This script computes d(sum(g * pool(x)))/dx for the ways the workbench writes average pools --
``avg_pool2d`` with and without ``count_include_pad``, NB201's 2x2 stride-2 pool, and the depthwise all-ones
convolution times inverse counts -- for every combination of input layout, gradient layout, stride and the
supernet's shapes, and compares each with the same function in float64 on the CPU. Runs on the CPU too (errors
~1e-16 there).

Found on an H200 (torch 2.11.0+cu130, cuDNN 9.19): ``avg_pool2d(x, 3, s, 1, count_include_pad=False)`` with a
channels-last ``x`` returns input gradients with ~100% relative error, in float64 and float32, for every shape
tried; the same call on a contiguous ``x``, and the all-ones convolution in either layout, are right. The issue's
first diagnosis had it backwards: the per-op "oracle" was the path running the faulty kernel.
Usage: python benchmarks/cuda_pool_repro.py
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def avg_pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)


def avg_pool_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride, 1, count_include_pad=True)


def avg_pool_2x2(x: torch.Tensor, stride: int) -> torch.Tensor:
    return F.avg_pool2d(x, 2, 2)


def conv_pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    ones = x.new_ones(x.shape[1], 1, 3, 3)
    counts = F.avg_pool2d(x.new_ones(1, 1, *x.shape[-2:]), 3, stride, 1, count_include_pad=True) * 9.0
    return F.conv2d(x, ones, None, stride, 1, 1, x.shape[1]) / counts


def layout(t: torch.Tensor, fmt: str) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if fmt == "channels_last" else t.contiguous()


# (channels, size, stride) of every average pool in the failing supernet (DARTS space, C=8, 3 cells, 16x16)
SUPERNET_SHAPES = ((32, 4, 1), (64, 4, 1), (96, 4, 1), (128, 8, 2), (16, 8, 1), (32, 8, 1), (48, 8, 1), (64, 16, 2),
                   (8, 16, 1), (16, 16, 1), (24, 16, 1), (32, 16, 1), (96, 9, 1), (96, 9, 2))


def main() -> None:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__}, device {dev}",
          f"({torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()})" if dev.type == "cuda" else "")
    torch.manual_seed(0)
    B = 4
    print(f"{'pool':>12} {'C':>4} {'H':>3} {'stride':>6} {'input':>14} {'grad_out':>14} {'rel.err f64':>12} "
          f"{'rel.err f32':>12}")
    wrong = 0
    for fn, (C, H, stride), fin, fgrad in itertools.product(
            (avg_pool, avg_pool_pad, avg_pool_2x2, conv_pool), SUPERNET_SHAPES, ("contiguous", "channels_last"), ("contiguous", "channels_last")):
        x64 = torch.randn(B, C, H, H, dtype=torch.float64)
        Ho = H // 2 if fn is avg_pool_2x2 else (H - 1) // stride + 1
        g64 = torch.randn(B, C, Ho, Ho, dtype=torch.float64)
        x_ref = x64.clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(fn(x_ref, stride), [x_ref], g64)
        errs = []
        for dtype in (torch.float64, torch.float32):
            x = layout(x64.to(dev, dtype), fin).requires_grad_(True)
            g = layout(g64.to(dev, dtype), fgrad)
            (gx,) = torch.autograd.grad(fn(x, stride), [x], g)
            errs.append(float((gx.double().cpu() - ref).norm() / ref.norm()))
        if max(errs) > 1e-3 or (C, H) == (96, 9):  # print the wrong ones, and one control per variant
            wrong += max(errs) > 1e-3
            flag = "  <-- WRONG" if max(errs) > 1e-3 else ""
            print(f"{fn.__name__:>12} {C:>4} {H:>3} {stride:>6} {fin:>14} {fgrad:>14} {errs[0]:12.2e} {errs[1]:12.2e}"
                  f"{flag}")
    print(f"{wrong} of {4 * len(SUPERNET_SHAPES) * 4} combinations wrong")


if __name__ == "__main__":
    main()

"""Minimal reproducer: gradient of a 3x3 average pool written as a depthwise all-ones convolution.

Issue 15 found the batched ``avg_pool_3x3`` of the DARTS supernet (``workbench/spaces/cell/ops.py``
``Pool.run``: ``F.conv2d(x, ones(C,1,3,3), groups=C) * inv_counts``) giving wrong input gradients on CUDA
(65% relative error) while the forward agreed to 1e-16. This script isolates the convolution: for each
variant (memory format of the input, whether the all-ones kernel requires grad, cuDNN on/off, stride) it
compares d(sum(g * conv(x)))/dx against the same function computed in float64 on the CPU, and prints the
relative error. Runs on CPU too (all errors ~1e-16 there). Usage: python benchmarks/cuda_pool_repro.py
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def grad_of(x: torch.Tensor, w: torch.Tensor, g: torch.Tensor, stride: int) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    y = F.conv2d(x, w, None, stride, 1, 1, x.shape[1])
    (gx,) = torch.autograd.grad((y * g).sum(), [x])
    return gx


def main() -> None:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__}, device {dev}",
          f"({torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()})" if dev.type == "cuda" else "")
    torch.manual_seed(0)
    B, C, H = 4, 96, 9
    rows = []
    for stride, fmt, w_grad, cudnn, dtype in itertools.product(
            (1, 2), ("contiguous", "channels_last"), (False, True), (True, False), (torch.float32, torch.float64)):
        x64 = torch.randn(B, C, H, H, dtype=torch.float64)
        w64 = torch.ones(C, 1, 3, 3, dtype=torch.float64)
        Ho = (H - 1) // stride + 1
        g64 = torch.randn(B, C, Ho, Ho, dtype=torch.float64)
        ref = grad_of(x64, w64, g64, stride)
        x = x64.to(dev, dtype)
        if fmt == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        w = w64.to(dev, dtype).requires_grad_(w_grad)
        with torch.backends.cudnn.flags(enabled=cudnn):
            gx = grad_of(x, w, g64.to(dev, dtype), stride)
        err = float((gx.double().cpu() - ref).norm() / ref.norm())
        rows.append((stride, fmt, w_grad, cudnn, str(dtype).split(".")[1], err))
    print(f"{'stride':>6} {'input':>14} {'w.grad':>6} {'cudnn':>5} {'dtype':>8} {'rel.err':>10}")
    for r in rows:
        flag = "  <-- WRONG" if r[-1] > 1e-3 else ""
        print(f"{r[0]:>6} {r[1]:>14} {str(r[2]):>6} {str(r[3]):>5} {r[4]:>8} {r[5]:>10.2e}{flag}")


if __name__ == "__main__":
    main()

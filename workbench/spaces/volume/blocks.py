"""3-D MBConv blocks and the calibration layer: the ops of CovidNet3D's cells (He et al., AAAI 2021;
`marsggbo/CovidNet3D: networks/mobile3d_ops.py`, SEEDS_2 §6.2).

* :class:`MBConv3d` -- a 3-D inverted residual block without its shortcut (MobileNetV2's block, Sandler et al.
  CVPR 2018, Table 1, in 3-D): 1x1x1 expansion to ``e * C`` channels, BN, ReLU6, a k x k x k depthwise conv, BN,
  ReLU6, a 1x1x1 linear projection back to ``C``, BN. Always stride 1 and C_in = C_out: in CovidNet3D the
  cell's calibration layer carries the stride and the width change, so every candidate keeps the shape.
* :class:`Calibration` -- that layer: a 1x1x1 conv with the cell's stride and width change, then BN.
* :class:`DepthwiseConv3d` -- ``nn.Conv3d(C, C, k, groups=C)`` (same weights, same initialisation) computed on
  the CPU as k depthwise 2-D convolutions, one per depth offset, on the volume folded into (N * D, C, H, W)
  channels-last slices: out[d] = sum_a conv2d(x_pad[d + a], w[:, :, a]). PyTorch's CPU grouped 3-D convolution
  has no fast backward; this form is 2-3x faster per MBConv block (``benchmarks/bench_covid3d.py``) and equal up
  to float rounding. On other devices it is the plain 3-D convolution.

Candidate names are the chain space's (``k3_e2`` = kernel 3, expansion 2; parsed by
:func:`workbench.spaces.chain.blocks.parse_block`) plus ``skip``, CovidNet3D's "Zero": the cell outputs its
calibrated input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.spaces.chain.blocks import parse_block

__all__ = ["Calibration", "DepthwiseConv3d", "MBConv3d", "depthwise_conv3d", "make_block3d"]

Stride = int | tuple[int, int, int]


def depthwise_conv3d(x: Tensor, weight: Tensor) -> Tensor:
    """Depthwise 3-D convolution (stride 1, "same" padding) of (N, C, D, H, W) ``x`` with (C, 1, k, k, k) ``weight``."""
    N, C, D, H, W = x.shape
    k = weight.shape[-1]
    p = k // 2
    if x.device.type != "cpu":
        return F.conv3d(x, weight, padding=p, groups=C)
    xp = F.pad(x, (0, 0, 0, 0, p, p)).transpose(1, 2)  # (N, D + 2p, C, H, W)
    out = None
    for a in range(k):  # depth offset a: every slice d sees x[d + a - p]
        s = xp[:, a:a + D].reshape(N * D, C, H, W).contiguous(memory_format=torch.channels_last)
        y = F.conv2d(s, weight[:, :, a], padding=p, groups=C)
        out = y if out is None else out + y
    assert out is not None  # k >= 1 depth offsets
    return out.reshape(N, D, C, H, W).transpose(1, 2)


class DepthwiseConv3d(nn.Conv3d):
    """``nn.Conv3d(C, C, kernel, padding=kernel // 2, groups=C, bias=False)``, computed by :func:`depthwise_conv3d`."""

    def __init__(self, C: int, kernel: int) -> None:
        super().__init__(C, C, kernel, 1, kernel // 2, groups=C, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return depthwise_conv3d(x, self.weight)


class MBConv3d(nn.Sequential):
    """1x1x1 expand -> BN -> ReLU6 -> kxkxk depthwise -> BN -> ReLU6 -> 1x1x1 project -> BN (stride 1)."""

    def __init__(self, C: int, kernel: int, expansion: int) -> None:
        hidden = C * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv3d(C, hidden, 1, bias=False), nn.BatchNorm3d(hidden), nn.ReLU6(inplace=True)]
        layers += [DepthwiseConv3d(hidden, kernel),
                   nn.BatchNorm3d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv3d(hidden, C, 1, bias=False), nn.BatchNorm3d(C)]
        super().__init__(*layers)
        self.kernel, self.expansion = kernel, expansion


class Calibration(nn.Sequential):
    """CovidNet3D's ``CalibrationLayer``: a 1x1x1 conv (stride, C_in -> C_out) and BN."""

    def __init__(self, C_in: int, C_out: int, stride: Stride) -> None:
        super().__init__(nn.Conv3d(C_in, C_out, 1, stride, bias=False), nn.BatchNorm3d(C_out))


def make_block3d(name: str, C: int) -> MBConv3d | None:
    """The module of candidate ``name`` on ``C`` channels (None for ``skip``: it computes nothing)."""
    if name == "skip":
        return None
    try:
        kernel, expansion = parse_block(name)
    except ValueError:
        raise ValueError(f"unknown 3-D block {name!r}; blocks are 'skip' or 'k<odd kernel>_e<expansion>', "
                         "e.g. k3_e4") from None
    return MBConv3d(C, kernel, expansion)

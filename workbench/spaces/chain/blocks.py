"""MBConv blocks, the candidates of a chain layer (Sandler et al., MobileNetV2, CVPR 2018, Table 1;
ProxylessNAS `search/modules/layers.py::MBInvertedConvLayer`; FBNet's ``ir_k{3,5}_e{1,3,6}``).

An inverted residual block without its shortcut: a 1x1 expansion to ``e * C_in``
channels (left out when e = 1), BN, ReLU6, a k x k depthwise conv with the
layer's stride, BN, ReLU6, a 1x1 linear projection to ``C_out``, BN. The
shortcut belongs to the *layer* (it is added once, outside the mixture, when
stride = 1 and C_in = C_out), so the ``skip`` candidate is ProxylessNAS's
"Zero" op: it contributes nothing and the layer becomes the identity.
"""
from __future__ import annotations

from typing import cast

from torch import Tensor, nn

from workbench.conv_kernels import depthwise_conv2d
from workbench.spaces.chain.block_names import parse_block

__all__ = ["MBConv", "make_block", "make_mbconv", "parse_block", "run_block"]


class MBConv(nn.Sequential):
    """1x1 expand (e > 1) -> BN -> ReLU6 -> kxk depthwise (stride) -> BN -> ReLU6 -> 1x1 project -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel: int, expansion: int, stride: int) -> None:
        hidden = C_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(C_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, C_out, 1, bias=False), nn.BatchNorm2d(C_out)]
        super().__init__(*layers)
        self.kernel, self.expansion, self.stride = kernel, expansion, stride
        self.dw_index = len(layers) - 5  # the depthwise conv's position

    def forward(self, x: Tensor) -> Tensor:
        """The modules in order; the depthwise conv through :func:`workbench.conv_kernels.depthwise_conv2d` (the
        same function, with a faster CPU weight gradient where the kernel reaches past the map)."""
        for i, m in enumerate(self._modules.values()):
            if i == self.dw_index:
                dw = cast(nn.Conv2d, m)
                x = depthwise_conv2d(x, dw.weight, dw.stride, cast("tuple[int, int]", dw.padding))
            else:
                x = m(x)
        return x


def make_block(name: str, C_in: int, C_out: int, stride: int) -> nn.Module | None:
    """The module of candidate ``name`` (None for ``skip``: it computes nothing)."""
    if name == "skip":
        return None
    return make_mbconv(name, C_in, C_out, stride)


def make_mbconv(name: str, C_in: int, C_out: int, stride: int) -> MBConv:
    """The MBConv of a candidate other than ``skip`` (``k3_e6``: kernel 3, expansion 6)."""
    k, e = parse_block(name)
    return MBConv(C_in, C_out, k, e, stride)


def run_block(block: nn.Module | None, x: Tensor) -> Tensor | None:
    return None if block is None else block(x)

"""Candidate operations, batched over the edges that share a source state.

Liu et al., "DARTS: Differentiable Architecture Search" (ICLR 2019), Sec. 2 and
`quark0/darts:cnn/operations.py`; NAS-Bench-201 ops from Dong & Yang (ICLR
2020) / `D-X-Y/AutoDL-Projects:xautodl/models/cell_operations.py`.

Every op here holds the parameters of ``E`` independent copies (one per edge)
and has two ways to run them, which compute the same function:

* ``forward(x)`` on ``x`` of shape (B, E*C, H, W): all E edges in one call per
  layer, with depthwise convolutions over E*C groups and pointwise/full
  convolutions over E groups. This is what the supernet uses: a DARTS cell
  runs 5 batched "waves" per op type instead of 14 separate edges, which is
  where most of our speed over the reference code comes from.
* ``forward_edge(x, e)`` on ``x`` of shape (B, C, H, W): edge ``e`` alone, by
  slicing the same parameters. This is the straightforward per-op execution of
  the reference code; tests use it as the oracle for ``forward`` and the
  benchmark uses it as the baseline.

BatchNorm layers (``affine=False`` in the search model, as in DARTS) are run
with ``F.batch_norm`` on slices of the running buffers, so both paths update
the same statistics.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import native
from workbench.conv_kernels import (
    crop_to_map,
    depthwise_conv2d,
    polyphase_applies,
    polyphase_depthwise_conv2d,
    tracing,
)
from workbench.registry import Registry
from workbench.spaces.cell.genotype import PARAM_FREE_OPS

Factory = Callable[..., "EdgeOp"]
OPS: Registry[Factory] = Registry("op")

#: Ops with no trainable parameters (counted by the skip-collapse warning); defined with genotypes.
PARAM_FREE = PARAM_FREE_OPS


def _sl(e: int | None, n: int) -> slice:
    return slice(None) if e is None else slice(e * n, (e + 1) * n)


def cuda_safe_pool_input(x: Tensor) -> Tensor:
    """``x`` as :func:`torch.nn.functional.avg_pool2d` computes correct input gradients for it.

    On CUDA (torch 2.11 + CUDA 13, H200; issue 15) the backward of ``avg_pool2d(count_include_pad=False)`` on a
    channels-last input returns wrong gradients (~100% relative error; the forward is right), so DARTS
    searches on a GPU silently followed wrong architecture gradients. ``benchmarks/cuda_pool_repro.py`` is the
    minimal reproducer. A contiguous (NCHW) input takes the correct kernel; on the CPU nothing changes.
    """
    return x if x.device.type == "cpu" else x.contiguous()


class _BN(nn.BatchNorm2d):
    """BatchNorm whose per-edge slices can be run alone (same buffers)."""

    def run(self, x: Tensor, e: int | None, C: int, scale: Tensor | None = None) -> Tensor:
        """BN over edge ``e``'s channels (all edges when None); ``scale`` (per channel) multiplies the output:
        scale * (x_hat * weight + bias) = x_hat * (weight * scale) + bias * scale."""
        s = _sl(e, C)
        w = self.weight[s] if self.weight is not None else None
        b = self.bias[s] if self.bias is not None else None
        if scale is not None:
            w = scale if w is None else w * scale
            b = None if b is None else b * scale
        rm = self.running_mean[s] if self.running_mean is not None else None
        rv = self.running_var[s] if self.running_var is not None else None
        use_batch = self.training or rm is None
        assert self.momentum is not None  # _BN keeps BatchNorm's default momentum (no cumulative average)
        if use_batch and not tracing() and native.batch_norm_applies(x, w, b, use_batch, rm, rv):
            return native.batch_norm(x, rm, rv, w, b, self.momentum, self.eps)
        return F.batch_norm(x, rm, rv, w, b, use_batch, self.momentum, self.eps)


class _Conv(nn.Module):
    """E independent convolutions C_in -> C_out (groups=E), or depthwise (groups=E*C)."""

    def __init__(self, E: int, c_in: int, c_out: int, k: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] = 0, dilation: int = 1, depthwise: bool = False) -> None:
        super().__init__()
        kh, kw = (k, k) if isinstance(k, int) else k
        self.E, self.c_in, self.c_out = E, c_in, c_out
        self.stride, self.padding, self.dilation, self.depthwise = stride, padding, dilation, depthwise
        per_group_in = 1 if depthwise else c_in
        self.weight = nn.Parameter(torch.empty(E * c_out, per_group_in, kh, kw))
        # Same init as nn.Conv2d (kaiming uniform, a=sqrt(5)) per edge: fan_in is per group.
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def run(self, x: Tensor, e: int | None) -> Tensor:
        if e is None:
            groups = self.E * self.c_in if self.depthwise else self.E
            stride = self.stride
            if tracing():  # the plain convolution: no shape-dependent or computed kernels in a trace or export
                return F.conv2d(x, self.weight, None, stride, self.padding, self.dilation, groups)
            if self.depthwise and native.depthwise_applies(x, self.weight, stride, self.padding, self.dilation):
                # taps that only ever see padding are skipped inside the kernel: no cropping, no polyphase split
                return native.depthwise_conv2d(x, self.weight, stride, self.padding, self.dilation)
            H, W = x.shape[-2:]
            k = self.weight.shape[-1]
            if (self.depthwise and isinstance(stride, int) and isinstance(self.padding, int)
                    and self.weight.shape[-2] == k and polyphase_applies(H, W, k, stride, self.padding, self.dilation)):
                return polyphase_depthwise_conv2d(x, self.weight, self.dilation)
            if stride == 2 and self.dilation == 2 and isinstance(self.padding, int):
                # stride 2 with dilation 2 only ever reads even pixels: subsample, then an undilated conv
                x, stride = x[:, :, ::2, ::2], 1
                w, padding, dilation = self._effective_kernel(x.shape[-2], x.shape[-1], undilate=True)
            else:
                w, padding, dilation = self._effective_kernel(x.shape[-2], x.shape[-1])
            if self.depthwise:
                return depthwise_conv2d(x, w, stride, padding, dilation)
            if w.shape[-1] == 1 and w.shape[-2] == 1 and stride == 1 and padding == 0:
                return native.pointwise_conv2d(x, w, groups)
            return F.conv2d(x, w, None, stride, padding, dilation, groups)
        groups = self.c_in if self.depthwise else 1
        w = self.weight[_sl(e, self.c_out)]
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, groups)

    def _effective_kernel(self, H: int, W: int, undilate: bool = False) -> tuple[Tensor, int | tuple[int, int], int]:
        """The same convolution as a cheaper one: dilation folded into a zero-filled kernel, and
        taps that can only ever see padding cropped away (a 5x5 kernel on a 2x2 map acts as 3x3).

        Only for square "same"-padded kernels; CPU convolution kernels are slow for
        dilation and for kernels larger than the feature map (measured in benchmarks/).
        """
        w: Tensor
        w, k, d, pad = self.weight, self.weight.shape[-1], self.dilation, self.padding
        if undilate:  # caller subsampled the input by the dilation: same kernel, dilation 1
            assert isinstance(pad, int)  # the caller checked
            d, pad = 1, pad // self.dilation
        if (not isinstance(pad, int) or w.shape[-2] != k or k == 1 or pad != d * (k - 1) // 2
                or (d == 1 and pad <= min(H, W) - 1)):
            return w, pad, d
        if d > 1:  # zero-insert the dilation
            K = d * (k - 1) + 1
            full = w.new_zeros(*w.shape[:2], K, K)
            full[:, :, ::d, ::d] = w
            w = full
        w, m = crop_to_map(w, pad, H, W)  # rows (columns) further than H-1 (W-1) from the centre never touch the input
        return w, m, 1


class EdgeOp(nn.Module):
    """Base class: ``E`` copies of one op; ``C`` channels in and out per edge.

    Ops that start with a ReLU set ``relu_first`` and implement ``body`` (the op
    after its ReLU): the supernet then computes ReLU(x) once per wave and feeds
    it to all of them, instead of once per op.
    """

    relu_first = False

    def __init__(self, C: int, E: int, stride: int) -> None:
        super().__init__()
        self.C, self.E, self.stride = C, E, stride

    def run(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        """The op on edge ``e`` (all edges when None); ``scale`` (one factor per output channel)
        multiplies the output -- folded into the final BatchNorm where there is one, which is
        how the supernet applies mixing weights at no extra cost."""
        return self.body(F.relu(x), e, scale)

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x, None)

    def forward_edge(self, x: Tensor, e: int) -> Tensor:
        return self.run(x, e)


class Zero(EdgeOp):
    """``none``: outputs zeros (subsampled by the stride). Supernets skip it entirely."""

    def run(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Identity(EdgeOp):
    def run(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return x if scale is None else x * scale.view(1, -1, 1, 1)


class Pool(EdgeOp):
    """3x3 max or average pooling (``count_include_pad=False``), optionally followed by BN (DARTS search)."""

    def __init__(self, C: int, E: int, stride: int, kind: str, bn: bool, affine: bool) -> None:
        super().__init__(C, E, stride)
        self.kind = kind
        self.bn = _BN(E * C, affine=affine) if bn else None

    def run(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        if self.kind == "max":
            y = F.max_pool2d(x, 3, self.stride, 1)
        elif e is None and x.device.type == "cpu" and not tracing():  # batched: a depthwise sum, 3-4x faster
            # than avg_pool2d on CPU
            ones, inv = self._sum_kernel(x)
            y = depthwise_conv2d(x, ones, self.stride, 1)  # native where it applies, else F.conv2d
            if self.bn is None and scale is not None:  # fold the mixing weight into the same multiply
                return y * (inv * scale.view(-1, 1, 1))
            y = y * inv
        else:
            y = F.avg_pool2d(cuda_safe_pool_input(x), 3, self.stride, 1, count_include_pad=False)
        if self.bn is not None:
            return self.bn.run(y, e, self.C, scale)
        return y if scale is None else y * scale.view(1, -1, 1, 1)

    def _sum_kernel(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The all-ones depthwise kernel and 1 / (in-bounds pixels under each 3x3 window), cached per shape."""
        key = (x.shape[1], x.shape[-2], x.shape[-1], x.dtype, x.device)
        cache = self.__dict__.setdefault("_sum_cache", {})
        if key not in cache:
            counts = F.avg_pool2d(x.new_ones(1, 1, *x.shape[-2:]), 3, self.stride, 1, count_include_pad=True) * 9.0
            cache[key] = (x.new_ones(x.shape[1], 1, 3, 3), (1.0 / counts)[0])
        return cache[key]


class FactorizedReduce(EdgeOp):  # noqa: D101 (docstring below)
    """ReLU, two stride-2 1x1 convs (on x and x shifted by one pixel), concatenated, BN.

    Odd spatial sizes are handled by zero-padding the shifted input (the
    reference code fails on them); for even sizes this is the reference op.
    """

    def __init__(self, C_in: int, C: int, E: int, affine: bool) -> None:
        super().__init__(C, E, 2)
        if C % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got C={C}")
        self.C_in = C_in
        self.conv1 = _Conv(E, C_in, C // 2, 1, stride=2)
        self.conv2 = _Conv(E, C_in, C // 2, 1, stride=2)
        self.bn = _BN(E * C, affine=affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        if e is None and not tracing():
            return self.bn.run(self._one_conv(x), e, self.C, scale)
        a = self.conv1.run(x, e)
        b = self.conv2.run(F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:], e)
        n = 1 if e is not None else self.E
        B, _, H, W = a.shape
        # per edge: [conv1 channels, conv2 channels]; built in (B, H, W, E, C) so either memory format works
        a = a.permute(0, 2, 3, 1).reshape(B, H, W, n, self.C // 2)
        b = b.permute(0, 2, 3, 1).reshape(B, H, W, n, self.C // 2)
        y = torch.cat([a, b], 4).reshape(B, H, W, n * self.C).permute(0, 3, 1, 2)
        return self.bn.run(y, e, self.C, scale)

    def _one_conv(self, x: Tensor) -> Tensor:
        """Both convolutions of every edge as one stride-2 2x2 convolution: conv1's weight at tap (0, 0) reads
        x[2i, 2j], conv2's at tap (1, 1) reads x[2i+1, 2j+1] (the shifted input; the zero row/column of an odd
        side is the padding), output channels per edge already in [conv1, conv2] order. 1.3-2.3x faster than
        two convolutions, a pad, a slice and the concatenation (forward + backward), exactly the same values."""
        E, half, c_in = self.E, self.C // 2, self.C_in
        w1 = F.pad(self.conv1.weight, (0, 1, 0, 1)).view(E, half, c_in, 2, 2)
        w2 = F.pad(self.conv2.weight, (1, 0, 1, 0)).view(E, half, c_in, 2, 2)
        w = torch.cat([w1, w2], 1).view(E * self.C, c_in, 2, 2)
        H, W = x.shape[-2:]
        if H % 2 or W % 2:
            x = F.pad(x, (0, W % 2, 0, H % 2))
        if native.pointwise_channels_ok(self.C) and native.takes(x):
            # the same convolution as a pointwise one over [x[2i, 2j], x[2i+1, 2j+1]] per edge (space-to-depth):
            # taps (0, 0) and (1, 1) of the 2x2 kernel, in that order
            B, _, H, W = x.shape
            xn = x.permute(0, 2, 3, 1).view(B, H // 2, 2, W // 2, 2, E, 1, c_in)
            xs = torch.cat([xn[:, :, 0, :, 0], xn[:, :, 1, :, 1]], 4).view(B, H // 2, W // 2, E * 2 * c_in)
            w_pw = w.reshape(E * self.C, c_in, 4)[:, :, ::3].transpose(1, 2).reshape(E * self.C, 2 * c_in, 1, 1)
            return native.pointwise_conv2d(xs.permute(0, 3, 1, 2), w_pw, E)
        return F.conv2d(x, w, None, 2, 0, 1, E)


class ReLUConvBN(EdgeOp):
    """ReLU, conv k x k (C_in -> C), BN: DARTS preprocessing and NB201's ``nor_conv_kxk``."""

    def __init__(self, C_in: int, C: int, E: int, k: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(C, E, stride)
        self.conv = _Conv(E, C_in, C, k, stride, padding)
        self.bn = _BN(E * C, affine=affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return self.bn.run(self.conv.run(x, e), e, self.C, scale)


class DilConv(EdgeOp):
    """ReLU, depthwise (dilated) k x k conv, pointwise 1x1 conv, BN."""

    def __init__(self, C: int, E: int, k: int, stride: int, padding: int, dilation: int, affine: bool) -> None:
        super().__init__(C, E, stride)
        self.dw = _Conv(E, C, C, k, stride, padding, dilation, depthwise=True)
        self.pw = _Conv(E, C, C, 1)
        self.bn = _BN(E * C, affine=affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return self.bn.run(self.pw.run(self.dw.run(x, e), e), e, self.C, scale)


class SepConv(EdgeOp):
    """DARTS separable conv: the ReLU-depthwise-pointwise-BN block applied twice (stride in the first)."""

    def __init__(self, C: int, E: int, k: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(C, E, stride)
        self.a = DilConv(C, E, k, stride, padding, 1, affine)
        self.b = DilConv(C, E, k, 1, padding, 1, affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return self.b.run(self.a.body(x, e), e, scale)


class Conv7x1x7(EdgeOp):
    """ReLU, 1x7 conv, 7x1 conv, BN (used by the NASNet/AmoebaNet genotypes)."""

    def __init__(self, C: int, E: int, stride: int, affine: bool) -> None:
        super().__init__(C, E, stride)
        self.c1 = _Conv(E, C, C, (1, 7), (1, stride), (0, 3))
        self.c2 = _Conv(E, C, C, (7, 1), (stride, 1), (3, 0))
        self.bn = _BN(E * C, affine=affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        return self.bn.run(self.c2.run(self.c1.run(x, e), e), e, self.C, scale)


class Noise(EdgeOp):
    """RobustDARTS S4 ``noise``: standard normal noise shaped like the (strided) input, ignoring its values."""

    def run(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        y = torch.randn_like(x[:, :, :: self.stride, :: self.stride])
        return y if scale is None else y * scale.view(1, -1, 1, 1)


def _skip(C: int, E: int, stride: int, affine: bool, pool_bn: bool = False) -> EdgeOp:
    return Identity(C, E, 1) if stride == 1 else FactorizedReduce(C, C, E, affine)


OPS.register("none", lambda C, E, stride, affine, pool_bn=False: Zero(C, E, stride))
OPS.register("max_pool_3x3", lambda C, E, stride, affine, pool_bn=False: Pool(C, E, stride, "max", pool_bn, affine))
OPS.register("avg_pool_3x3", lambda C, E, stride, affine, pool_bn=False: Pool(C, E, stride, "avg", pool_bn, affine))
OPS.register("skip_connect", _skip)
OPS.register("sep_conv_3x3", lambda C, E, stride, affine, pool_bn=False: SepConv(C, E, 3, stride, 1, affine))
OPS.register("sep_conv_5x5", lambda C, E, stride, affine, pool_bn=False: SepConv(C, E, 5, stride, 2, affine))
OPS.register("sep_conv_7x7", lambda C, E, stride, affine, pool_bn=False: SepConv(C, E, 7, stride, 3, affine))
OPS.register("dil_conv_3x3", lambda C, E, stride, affine, pool_bn=False: DilConv(C, E, 3, stride, 2, 2, affine))
OPS.register("dil_conv_5x5", lambda C, E, stride, affine, pool_bn=False: DilConv(C, E, 5, stride, 4, 2, affine))
OPS.register("conv_7x1_1x7", lambda C, E, stride, affine, pool_bn=False: Conv7x1x7(C, E, stride, affine))
OPS.register("nor_conv_1x1", lambda C, E, stride, affine, pool_bn=False: ReLUConvBN(C, C, E, 1, stride, 0, affine))
OPS.register("nor_conv_3x3", lambda C, E, stride, affine, pool_bn=False: ReLUConvBN(C, C, E, 3, stride, 1, affine))
OPS.register("noise", lambda C, E, stride, affine, pool_bn=False: Noise(C, E, stride))


def make_op(name: str, C: int, E: int = 1, stride: int = 1, affine: bool = True, pool_bn: bool = False) -> EdgeOp:
    """Build ``E`` copies of op ``name`` (an unknown name lists the known ones)."""
    return OPS.get(name)(C, E, stride, affine, pool_bn=pool_bn)


def op_names() -> list[str]:
    return OPS.names()


# ---------------------------------------------------------------------------- sharpDARTS ops
class SharpSepConv(EdgeOp):
    """sharpDARTS ``SharpSepConv`` (Hundt et al. 2019, `ahundt/sharpDARTS:cnn/operations.py`; ALGORITHMS.md §6.3).

    ReLU, depthwise k x k (stride, padding, dilation), 1x1 conv C -> c_mid, BN,
    ReLU, depthwise k x k (stride 1, padding (k-1)//2, no dilation), 1x1 conv
    c_mid -> C, BN. Unlike DARTS's SepConv the stride and dilation act only in
    the first depthwise conv and the middle width is configurable:
    c_mid = ``c_mid`` if given, else int(C * ``mid_mult``) (``flood`` ops use 4).
    """

    def __init__(self, C: int, E: int, k: int, stride: int, padding: int, dilation: int, affine: bool,
                 c_mid: int | None = None, mid_mult: float = 1.0) -> None:
        super().__init__(C, E, stride)
        self.c_mid = int(c_mid) if c_mid is not None else int(C * mid_mult)
        if self.c_mid < 1:
            raise ValueError(f"SharpSepConv needs a middle width >= 1, got {self.c_mid} (C={C}, mid_mult={mid_mult})")
        self.dw1 = _Conv(E, C, C, k, stride, padding, dilation, depthwise=True)
        self.pw1 = _Conv(E, C, self.c_mid, 1)
        self.bn1 = _BN(E * self.c_mid, affine=affine)
        self.dw2 = _Conv(E, self.c_mid, self.c_mid, k, 1, (k - 1) // 2, 1, depthwise=True)
        self.pw2 = _Conv(E, self.c_mid, C, 1)
        self.bn2 = _BN(E * C, affine=affine)

    relu_first = True

    def body(self, x: Tensor, e: int | None, scale: Tensor | None = None) -> Tensor:
        y = self.bn1.run(self.pw1.run(self.dw1.run(x, e), e), e, self.c_mid)  # (B, E*c_mid, H', W')
        return self.bn2.run(self.pw2.run(self.dw2.run(F.relu(y), e), e), e, self.C, scale)  # (B, E*C, H', W')


def _sharp(k: int, padding: int, dilation: int = 1, mid_mult: float = 1.0) -> Factory:
    def make(C: int, E: int, stride: int, affine: bool, pool_bn: bool = False) -> EdgeOp:
        return SharpSepConv(C, E, k, stride, padding, dilation, affine, mid_mult=mid_mult)
    return make


# sharpDARTS maps its sep_conv_* and dil_conv_* names to SharpSepConv; here they get a ``sharp_`` prefix so the
# DARTS ops keep their names. flood = 4x middle width (the second, pad-1 definition of flood_conv_3x3 wins there).
OPS.register("sharp_sep_conv_3x3", _sharp(3, 1))
OPS.register("sharp_sep_conv_5x5", _sharp(5, 2))
OPS.register("sharp_sep_conv_7x7", _sharp(7, 3))
OPS.register("sharp_dil_conv_3x3", _sharp(3, 2, 2))
OPS.register("sharp_dil_conv_5x5", _sharp(5, 4, 2))
OPS.register("flood_conv_3x3", _sharp(3, 1, 1, 4.0))
OPS.register("flood_conv_5x5", _sharp(5, 2, 1, 4.0))
OPS.register("dil_flood_conv_3x3", _sharp(3, 2, 2, 4.0))

"""Depthwise convolution with a faster CPU weight gradient on small feature maps.

A depthwise convolution (groups = channels; Howard et al., "MobileNets", 2017, Sec. 3.1) is the
first half of every separable and dilated op in DARTS (Liu et al. 2019) and of every MBConv block
(Sandler et al. 2018). Its weight gradient is, per channel c and kernel tap (i, j),

    dL/dw[c, i, j] = sum_{b, p, q} g[b, c, p, q] * x_pad[b, c, s*p + d*i, s*q + d*j]          (1)

with stride s, dilation d and ``x_pad`` the zero-padded input. On CPU, oneDNN computes (1) slowly
whenever the kernel reaches past the feature map (2 * padding >= the map's side: a 3x3 kernel on a
2x2 map, 5x5 on 4x4, the 9x9 zero-inserted dil_conv_5x5 on 8x8): 5-20x slower than the forward
pass, and in a DARTS search at digits scale that single kernel was ~40% of the step
(``benchmarks/bench_search.py``, profile). Those are exactly the maps a reduced cell sees.

Equation (1) is itself a depthwise convolution -- of the input, with the output gradient as the
kernel -- once the batch becomes a depth axis that the kernel spans whole: a 3-D depthwise convolution
of the input seen as (1, C, B, H, W) (a view of a channels-last input) with the kernel
(C, 1, B, H', W'), stride d, dilation s, giving (C, 1, k, k) with the batch already summed. For those
maps that is one small, fast call (1.1-2.3x faster again than folding the batch into the groups). The input gradient stays oneDNN's
(it is as fast as the forward). Both are built from differentiable operators, so a second
derivative (Hessian-vector products of the analyses) flows through them.

Dilated "same" depthwise convolutions (DARTS's dil_conv_3x3/5x5, dilation 2) run as d*d undilated ones on
the polyphase components of the input (the "space-to-batch" form of atrous convolution: Chen et al.,
"DeepLab", 2017, Sec. 3.1; Yu & Koltun 2016). With y and x split by (row mod d, column mod d),

    y[d*p + i, d*q + j] = sum_t w[t] x[d*(p + t - c) + i, d*(q + t' - c) + j],   c = (k - 1) / 2      (2)

i.e. component (i, j) of the output is an undilated k x k convolution of component (i, j) of the input with
padding c: k*k taps per output instead of the (d(k-1)+1)^2 of a zero-inserted kernel (25 vs 81 for
dil_conv_5x5) and without CPU convolution's slow dilated kernels.

Only eager CPU runs take these paths; CUDA, traces and exports use ``F.conv2d`` unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench import native
from workbench.native import pair as _pair

Pair = tuple[int, int]


Size = int | tuple[int, ...]  # an int, or (height, width)


def tracing() -> bool:
    """Whether the forward is being traced, scripted, compiled or exported (TorchScript, ONNX, ``torch.export``).

    Shape-dependent speed tricks (cropping kernel taps that only see padding, the polyphase split) and the custom
    gradient of :func:`depthwise_conv2d` are then skipped: they would be baked into the graph as constants (an
    export at 8x8 would fail at 32x32) or cannot be exported. Eager runs keep them.
    """
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
                or torch.onnx.is_in_onnx_export())


def reaches_past_map(height: int, width: int, padding: Size) -> bool:
    """Whether a "same"-padded kernel reaches past the map (2 * padding >= side): oneDNN's slow weight gradient."""
    ph, pw = _pair(padding)
    return 2 * ph >= height or 2 * pw >= width


def depthwise_weight_grad(x: Tensor, grad: Tensor, kernel: Pair, stride: Pair, padding: Pair,
                          dilation: Pair) -> Tensor:
    """Equation (1): the weight gradient of a depthwise convolution, as one grouped 3-D convolution.

    ``x``: (B, C, H, W) input; ``grad``: (B, C, H', W') output gradient. Returns (C, 1, kh, kw). The batch
    becomes a depth axis that the kernel (the output gradient) spans whole, so the sum over the batch happens
    inside the call; for a channels-last ``x`` the (1, C, B, H, W) input is a view, no copy.
    """
    x5 = x.permute(1, 0, 2, 3).unsqueeze(0)  # (1, C, B, H, W)
    g5 = grad.permute(1, 0, 2, 3).unsqueeze(1)  # (C, 1, B, H', W')
    out = F.conv3d(x5, g5, None, (1, *dilation), (0, *padding), (1, *stride), x.shape[1])  # (1, C, 1, >=kh, >=kw)
    kh, kw = kernel
    return out[0, :, :, :kh, :kw]


class _Depthwise(torch.autograd.Function):
    """Depthwise conv2d whose backward takes the input gradient from oneDNN and the weight gradient from (1)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, stride: Pair, padding: Pair,
                dilation: Pair) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation)
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.ops.aten.convolution_backward(
                grad, x, weight, None, list(stride), list(padding), list(dilation), False, [0, 0], x.shape[1],
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            gw = depthwise_weight_grad(x, grad, tuple(weight.shape[-2:]), stride, padding, dilation)
        return gx, gw, None, None, None


def depthwise_conv2d(x: Tensor, weight: Tensor, stride: Size = 1, padding: Size = 0, dilation: Size = 1) -> Tensor:
    """``F.conv2d(x, weight, None, stride, padding, dilation, groups=x.shape[1])`` for a (C, 1, kh, kw) weight.

    The same function and gradients; on CPU, when the kernel reaches past the map, the weight gradient is
    computed as equation (1) (5-20x faster there). Elsewhere (larger maps, CUDA, traces) it is ``F.conv2d``.
    """
    if weight.shape[0] != x.shape[1] or weight.shape[1] != 1:
        raise ValueError(f"depthwise_conv2d: weight {tuple(weight.shape)} is not depthwise for an input of "
                         f"{x.shape[1]} channels (expected ({x.shape[1]}, 1, kh, kw))")
    if not tracing() and native.depthwise_applies(x, weight, stride, padding, dilation):
        return native.depthwise_conv2d(x, weight, stride, padding, dilation)
    fast = (x.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled()
            and reaches_past_map(x.shape[-2], x.shape[-1], padding) and not tracing())
    if not fast:
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])
    out: Tensor = _Depthwise.apply(x, weight, _pair(stride), _pair(padding), _pair(dilation))
    return out


def crop_to_map(weight: Tensor, padding: int, height: int, width: int) -> tuple[Tensor, tuple[int, int]]:
    """A "same"-padded square kernel without the taps that can only ever see padding: rows further than
    height - 1 and columns further than width - 1 from the centre. Returns the kernel and its (row, column) padding."""
    mh, mw = min(padding, height - 1), min(padding, width - 1)
    if mh < padding or mw < padding:
        weight = weight[:, :, padding - mh: padding + mh + 1, padding - mw: padding + mw + 1]
    return weight, (mh, mw)


def polyphase_applies(height: int, width: int, kernel: int, stride: int, padding: int, dilation: int) -> bool:
    """Whether equation (2) computes this convolution: stride 1, "same" padding, sides divisible by the
    dilation, and components of at least 2x2 (1x1 components gain nothing)."""
    return (dilation > 1 and stride == 1 and kernel % 2 == 1 and padding == dilation * (kernel - 1) // 2
            and height % dilation == 0 and width % dilation == 0 and min(height, width) // dilation >= 2)


def polyphase_depthwise_conv2d(x: Tensor, weight: Tensor, dilation: int) -> Tensor:
    """Equation (2): a stride-1, "same"-padded, dilated depthwise convolution as undilated ones on the d*d
    polyphase components (batched as d*d more images). Check :func:`polyphase_applies` first."""
    B, C, H, W = x.shape
    d, k = dilation, weight.shape[-1]
    h, w = H // d, W // d
    parts = x.permute(0, 2, 3, 1).reshape(B, h, d, w, d, C).permute(0, 2, 4, 1, 3, 5).reshape(B * d * d, h, w, C)
    kernel, pad = crop_to_map(weight, (k - 1) // 2, h, w)
    y = depthwise_conv2d(parts.permute(0, 3, 1, 2), kernel, 1, pad, 1)  # (B*d*d, C, h, w), channels-last
    y = y.permute(0, 2, 3, 1).reshape(B, d, d, h, w, C).permute(0, 3, 1, 4, 2, 5).reshape(B, H, W, C)
    return y.permute(0, 3, 1, 2)

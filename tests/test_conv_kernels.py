"""The depthwise convolution with the folded weight gradient equals F.conv2d: values, gradients, second derivatives."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from workbench.conv_kernels import (
    depthwise_conv2d,
    depthwise_weight_grad,
    polyphase_applies,
    polyphase_depthwise_conv2d,
    reaches_past_map,
)


@pytest.mark.parametrize(("H", "W", "k", "stride", "dilation"), [
    (h, w, k, s, d) for h, w, k, s, d in itertools.product([2, 3, 4, 5], [2, 4], [3, 5], [1, 2], [1, 2])])
def test_equals_conv2d_with_second_derivatives(H: int, W: int, k: int, stride: int, dilation: int) -> None:
    torch.manual_seed(H * 100 + W * 10 + k)
    pad = dilation * (k - 1) // 2
    x = torch.randn(3, 4, H, W, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 1, k, k, dtype=torch.float64, requires_grad=True)
    ours, ref = depthwise_conv2d(x, w, stride, pad, dilation), F.conv2d(x, w, None, stride, pad, dilation, 4)
    assert (ours.grad_fn is not None and "Depthwise" in type(ours.grad_fn).__name__) == reaches_past_map(H, W, pad)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(ref)
    a = torch.autograd.grad(ours, (x, w), g, create_graph=True)
    b = torch.autograd.grad(ref, (x, w), g, create_graph=True)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-11)
    # a second derivative through both gradients (what Hessian-vector products of the analyses need)
    aa = torch.autograd.grad(sum((t ** 2).sum() for t in a), (x, w))
    bb = torch.autograd.grad(sum((t ** 2).sum() for t in b), (x, w))
    for u, v in zip(aa, bb):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-10)


def test_weight_grad_formula_by_hand() -> None:
    """Equation (1) on a 1-channel 2x2 map, 3x3 kernel, padding 1: each tap sums g times the shifted input."""
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    g = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]], dtype=torch.float64)  # only output (0, 0) matters
    gw = depthwise_weight_grad(x, g, (3, 3), (1, 1), (1, 1), (1, 1))
    # output (0, 0) sees x_pad[0:3, 0:3] = [[0,0,0],[0,1,2],[0,3,4]]
    torch.testing.assert_close(gw[0, 0], torch.tensor([[0.0, 0, 0], [0, 1, 2], [0, 3, 4]], dtype=torch.float64))


def test_rejects_a_non_depthwise_weight() -> None:
    with pytest.raises(ValueError, match=r"not depthwise .*expected \(4, 1, kh, kw\)"):
        depthwise_conv2d(torch.zeros(1, 4, 2, 2), torch.zeros(8, 1, 3, 3), 1, 1)


@pytest.mark.parametrize(("H", "W", "k", "d"), [(4, 4, 3, 2), (6, 8, 5, 2), (8, 8, 5, 2), (6, 6, 3, 3), (4, 8, 5, 2)])
def test_polyphase_dilated_conv_equals_conv2d(H: int, W: int, k: int, d: int) -> None:
    """Equation (2): the dilated "same" conv as undilated convs on the polyphase components, values and gradients."""
    torch.manual_seed(H + W + k + d)
    pad = d * (k - 1) // 2
    assert polyphase_applies(H, W, k, 1, pad, d)
    x = torch.randn(2, 3, H, W, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(3, 1, k, k, dtype=torch.float64, requires_grad=True)
    ours, ref = polyphase_depthwise_conv2d(x, w, d), F.conv2d(x, w, None, 1, pad, d, 3)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(ref)
    for u, v in zip(torch.autograd.grad(ours, (x, w), g), torch.autograd.grad(ref, (x, w), g)):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-11)


def test_polyphase_refuses_what_it_cannot_compute() -> None:
    assert not polyphase_applies(5, 6, 3, 1, 2, 2)  # odd side
    assert not polyphase_applies(8, 8, 3, 2, 2, 2)  # stride 2
    assert not polyphase_applies(8, 8, 3, 1, 1, 2)  # not "same" padding
    assert not polyphase_applies(2, 2, 3, 1, 2, 2)  # 1x1 components
    assert not polyphase_applies(8, 8, 3, 1, 1, 1)  # no dilation


def _batched_equals_each_edge(m: torch.nn.Module, E: int, c_in: int, H: int, W: int, batch: int = 3) -> None:
    """``m`` (E edges' copies of an op) run on all edges at once == each edge alone: values and gradients, float64."""
    x = torch.randn(batch, E * c_in, H, W, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    batched = m(x)
    edges = torch.cat([m.forward_edge(x[:, e * c_in:(e + 1) * c_in], e) for e in range(E)], 1)
    torch.testing.assert_close(batched, edges, rtol=0, atol=1e-12)
    g = torch.randn_like(edges)
    params = [x, *m.parameters()]
    for u, v in zip(torch.autograd.grad(batched, params, g), torch.autograd.grad(edges, params, g)):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-10)


@pytest.mark.parametrize("op", ["sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "sep_conv_3x3"])
@pytest.mark.parametrize(("H", "W"), [(2, 8), (8, 2), (4, 6), (3, 3), (8, 8)])
def test_batched_ops_on_any_map_equal_the_per_edge_oracle(op: str, H: int, W: int) -> None:
    """Cropped, polyphase and folded-gradient kernels inside the batched ops, on square and non-square maps
    (a square crop by the shorter side once dropped taps the longer side needs)."""
    from workbench.spaces.cell.ops import make_op
    torch.manual_seed(H * 10 + W)
    _batched_equals_each_edge(make_op(op, 4, 2, 1, affine=False).double(), 2, 4, H, W)


@pytest.mark.parametrize(("H", "W"), [(8, 8), (7, 7), (4, 5), (1, 1)])
def test_factorized_reduce_as_one_conv_equals_the_per_edge_oracle(H: int, W: int) -> None:
    """The batched FactorizedReduce (one 2x2 stride-2 conv) against each edge's two 1x1 convs + pad + concat."""
    from workbench.spaces.cell.ops import FactorizedReduce
    torch.manual_seed(H * 7 + W)
    _batched_equals_each_edge(FactorizedReduce(4, 6, 3, affine=True).double(), 3, 4, H, W, batch=2)

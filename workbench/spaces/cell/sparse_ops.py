"""DASS's sparse parametric operations: SparseConv and SparseLinear with magnitude masks (Mousavi, Loni,
Alibeigi, Daneshtalab, "DASS: Differentiable Architecture Search for Sparse Neural Networks", arXiv 2207.06968,
ACM TECS 2023; SEEDS_2 §3.2).

**What is reconstructed** (no code is public; **unverified**): a weight W is used through a binary mask M that keeps
the top k = ceil((1 - s) |W|) entries by |W| (ties broken by position, so the mask is deterministic), recomputed
at every forward from the current W (projected SGD whose projection is the forward itself):

    forward:  W ⊙ M(W)
    backward: ``mask_grad="ste"`` (default) the dense gradient dL/d(W ⊙ M) reaches every entry of W
              (straight-through, pruned weights can regrow); ``"masked"`` only the kept entries get it.

Granularity: ``"op"`` (default) one mask per edge's copy of the op (each edge is an op of its own);
``"layer"`` one mask over the batched tensor of all edges sharing the layer.

The raw weight stays registered as ``weight`` (so the state dict, the optimizers and ``functional_call`` see
the dense tensor and the names of the dense op); reading ``module.weight`` gives W ⊙ M. At s = 0 it is the raw
weight itself, so a sparse op equals its dense op bit for bit.

Ops registered here (same factory signature as :mod:`workbench.spaces.cell.ops`):
``sparse_conv_1x1`` (SparseLinear applied per pixel: ReLU, sparse 1x1 conv, BN), ``sparse_conv_3x3`` (ReLU,
sparse 3x3 conv, BN: NB201's ``nor_conv`` made sparse) and ``sparse_sep_conv_3x3`` (DARTS's separable conv with
sparse depthwise and pointwise convs). Their sparsity is set after construction by the space
(:func:`configure`); a freshly made op is at s = 0.9, the spec's CPU target.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import Tensor, nn

from workbench.spaces.cell.ops import _BN, OPS, DilConv, EdgeOp, ReLUConvBN, SepConv, _Conv
from workbench.spaces.cell.settings import DEFAULT_SPARSITY, GRANULARITIES, MASK_GRADS

M = TypeVar("M", bound=nn.Module)

__all__ = ["DEFAULT_SPARSITY", "GRANULARITIES", "MASK_GRADS", "SparseConv", "SparseLinear", "configure",
           "kept", "magnitude_mask", "project", "sparse_modules", "sparsity_of"]


def kept(n: int, sparsity: float) -> int:
    """How many of ``n`` weights a mask at ``sparsity`` keeps: ceil((1 - s) n)."""
    return min(n, math.ceil((1.0 - sparsity) * n - 1e-9))


def magnitude_mask(weight: Tensor, sparsity: float, groups: int = 1) -> Tensor:
    """The binary mask keeping the ``kept(n, s)`` largest |w| of each of ``groups`` equal row blocks of ``weight``
    (ties: the earlier position wins)."""
    w = weight.detach().reshape(groups, -1).abs()
    k = kept(w.shape[1], sparsity)
    order = torch.argsort(w, dim=1, descending=True, stable=True)[:, :k]
    mask = torch.zeros_like(w).scatter_(1, order, 1.0)
    return mask.reshape(weight.shape)


def project(weight: Tensor, sparsity: float, groups: int = 1) -> Tensor:
    """W ⊙ M(W): the projection onto weights with at most ceil((1 - s) n) non-zeros per group (idempotent)."""
    return weight * magnitude_mask(weight, sparsity, groups)


class _Sparse:
    """The masked-weight view shared by SparseConv and SparseLinear (see the module docstring)."""

    sparsity: float = 0.0  # dense while nn.init runs on ``weight`` in the constructor; ops then set their own
    mask_grad: str = "ste"
    granularity: str = "op"

    def _groups(self) -> int:
        return 1

    @property
    def weight(self) -> Tensor:
        raw = self._parameters.get("weight")  # type: ignore[attr-defined]
        if raw is None:  # during construction, before the parameter is registered
            raise AttributeError("weight")
        if self.sparsity == 0.0:
            return raw
        mask = magnitude_mask(raw, self.sparsity, self._groups())
        if self.mask_grad == "masked":
            return raw * mask
        return raw + (raw * mask - raw).detach()  # value W ⊙ M, gradient straight through to every entry

    def mask(self) -> Tensor:
        return magnitude_mask(self._parameters["weight"], self.sparsity, self._groups())  # type: ignore[attr-defined]


class SparseConv(_Sparse, _Conv):  # type: ignore[misc]  # the masked view (a Tensor) shadows the weight Parameter
    """E independent convolutions (as :class:`~workbench.spaces.cell.ops._Conv`) through magnitude masks."""

    def _groups(self) -> int:
        return self.E if self.granularity == "op" else 1


class SparseLinear(_Sparse, nn.Linear):  # type: ignore[override]  # as SparseConv
    """``nn.Linear`` through a magnitude mask of its weight (one mask; the bias is dense)."""


class SparseReLUConvBN(ReLUConvBN):
    """ReLU, sparse k x k conv, BN (``sparse_conv_1x1`` / ``sparse_conv_3x3``)."""

    def __init__(self, C_in: int, C: int, E: int, k: int, stride: int, padding: int, affine: bool) -> None:
        EdgeOp.__init__(self, C, E, stride)
        self.conv = SparseConv(E, C_in, C, k, stride, padding)
        self.bn = _BN(E * C, affine=affine)


class SparseDilConv(DilConv):
    def __init__(self, C: int, E: int, k: int, stride: int, padding: int, dilation: int, affine: bool) -> None:
        EdgeOp.__init__(self, C, E, stride)
        self.dw = SparseConv(E, C, C, k, stride, padding, dilation, depthwise=True)
        self.pw = SparseConv(E, C, C, 1)
        self.bn = _BN(E * C, affine=affine)


class SparseSepConv(SepConv):
    def __init__(self, C: int, E: int, k: int, stride: int, padding: int, affine: bool) -> None:
        EdgeOp.__init__(self, C, E, stride)
        self.a = SparseDilConv(C, E, k, stride, padding, 1, affine)
        self.b = SparseDilConv(C, E, k, 1, padding, 1, affine)


OPS.register("sparse_conv_1x1", lambda C, E, stride, affine, pool_bn=False:
             configure(SparseReLUConvBN(C, C, E, 1, stride, 0, affine), DEFAULT_SPARSITY))
OPS.register("sparse_conv_3x3", lambda C, E, stride, affine, pool_bn=False:
             configure(SparseReLUConvBN(C, C, E, 3, stride, 1, affine), DEFAULT_SPARSITY))
OPS.register("sparse_sep_conv_3x3", lambda C, E, stride, affine, pool_bn=False:
             configure(SparseSepConv(C, E, 3, stride, 1, affine), DEFAULT_SPARSITY))


def sparse_modules(net: nn.Module) -> Iterator[_Sparse]:
    return (m for m in net.modules() if isinstance(m, _Sparse))


def configure(net: M, sparsity: float, mask_grad: str = "ste", granularity: str = "op",
              dense_too: bool = False) -> M:
    """Set every sparse op of ``net`` to ``sparsity`` (in place); ``dense_too`` also turns every dense edge conv
    (``_Conv``) into a SparseConv at that sparsity (same parameters, same state-dict names). Returns ``net``."""
    for m in list(net.modules()):
        if dense_too and type(m) is _Conv:
            m.__class__ = SparseConv  # adds no parameters or buffers: only the masked view of ``weight``
        if isinstance(m, _Sparse):
            m.sparsity, m.mask_grad, m.granularity = float(sparsity), mask_grad, granularity
    return net


def sparsity_of(net: nn.Module) -> tuple[int, int]:
    """(zeros, total) over the weights of the sparse ops of ``net`` as they are used (W ⊙ M)."""
    zeros = total = 0
    with torch.no_grad():
        for m in sparse_modules(net):
            w = m.weight
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros, total

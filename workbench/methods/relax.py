"""Relaxations: from architecture parameters to the supernet's mixing weights.

DARTS (Liu et al. 2019, Eq. 2): w[e, o] = softmax_o(alpha[e, o]) over the ops
enabled on edge e. Disabled (masked) ops get alpha = -inf, i.e. exactly zero
weight, and the softmax renormalises over the rest; that is what removing an
op from the candidate set means. Other relaxations (Gumbel, Max-W, edge
normalisation) follow the same contract.

Relaxations here (each returns ``(weights, active)``, weights carrying the
autograd graph to alpha; ``active`` says which ops the supernet must compute):

* :class:`Softmax` (DARTS, PC-DARTS, SDARTS): every enabled op is computed.
* :class:`GumbelHard` (GDAS, Dong & Yang, CVPR 2019; `D-X-Y/AutoDL-Projects:
  xautodl/models/cell_searchs/search_model_gdas.py`): per edge, G = -log(E),
  E ~ Exp(1); probs = softmax((log_softmax(alpha) + G) / tau); h = onehot(argmax)
  - stopgrad(probs) + probs. The forward value is one-hot, the backward is the
  softmax's (straight-through Gumbel), and only the sampled op is computed
  (``active``); with ``SupernetConfig(inactive_bias=True)`` the other ops'
  zero-valued weights still enter the sum, so every alpha receives gradient.
  Samples with a non-finite G or NaN probs are redrawn, as in the reference.
* :class:`GumbelSoft` (SNAS, Xie et al., ICLR 2019; `SNAS-Series/SNAS/
  model_search.py::_get_categ_mask`): Z = softmax((alpha + G) / lambda), a
  soft concrete sample, every op computed.
* :class:`MaxW` (sharpDARTS, Hundt et al. 2019, `cnn/model_search.py`,
  ``--weighting_algorithm max_w``): w = softmax(alpha), coefficient
  1 - max(w) + w_o, so the strongest op gets exactly 1.

Sampling uses ``ctx.generator`` (the searcher's, saved with its state), so a
resumed search draws the same noise. In evaluation (``ctx.training=False``)
the sampling relaxations are deterministic: GDAS uses the argmax op of alpha
(the mode of its sampler), SNAS softmax(alpha / lambda) without noise.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.methods.context import StepContext
from workbench.methods.noise import draw_now, gumbel
from workbench.methods.schedules import GdasTau, SnasTau
from workbench.spaces.base import host_mask, masked_softmax

#: a temperature schedule: (epoch, epochs) -> tau
TauSchedule = Callable[[int, int], float]


class Relaxation(Protocol):
    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        """Return (weights of shape (edges, ops), bool array of ops to compute)."""
        ...


@dataclass(frozen=True)
class Softmax:
    """DARTS's relaxation: w = softmax(alpha) over enabled ops; every enabled op is computed."""

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        return masked_softmax(alpha, mask), host_mask(mask)


def gumbel_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard Gumbel noise -log(E), E ~ Exp(1), drawn on the CPU from ``generator`` (redrawn if not finite),
    on ``like``'s device and dtype. The methods draw through :meth:`StepContext.draw` instead (graph-capturable)."""
    return draw_now(tuple(shape), gumbel, generator, like)


@dataclass(frozen=True)
class GumbelHard:
    """GDAS's straight-through hard Gumbel-softmax with a temperature schedule (default 10 -> 0.1)."""

    tau: TauSchedule = GdasTau()

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        masked = alpha.masked_fill(~mask, float("-inf"))
        if not ctx.training:
            hard = F.one_hot(masked.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
            return hard, hard.bool().cpu().numpy()
        tau = float(self.tau(ctx.epoch, ctx.epochs))
        if not tau > 0:
            raise ValueError(f"GDAS temperature must be > 0, got {tau} at epoch {ctx.epoch}")
        logp = torch.log_softmax(masked, dim=-1)
        for _ in range(10):  # the reference redraws until nothing is inf or NaN
            probs = torch.softmax((logp + ctx.draw(alpha.shape, gumbel, alpha)) / tau, dim=-1)
            if not torch.isnan(probs).any():
                break
        else:
            raise FloatingPointError("GDAS sampling kept producing NaN probabilities")
        hard = F.one_hot(probs.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
        if not torch.is_grad_enabled():  # the weight step: exactly one-hot (h - p + p can be off by an ulp)
            return hard, hard.bool().cpu().numpy()
        weights = hard - probs.detach() + probs  # (edges, ops): one-hot forward, softmax backward
        return weights, hard.bool().cpu().numpy()


@dataclass(frozen=True)
class GumbelSoft:
    """SNAS's soft Gumbel (concrete) sample Z = softmax((alpha + G) / lambda); every enabled op computed."""

    tau: TauSchedule = SnasTau()

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        tau = float(self.tau(ctx.epoch, ctx.epochs))
        if not tau > 0:
            raise ValueError(f"SNAS temperature must be > 0, got {tau} at epoch {ctx.epoch}")
        masked = alpha.masked_fill(~mask, float("-inf"))
        if ctx.training:
            masked = masked + ctx.draw(alpha.shape, gumbel, alpha)
        return torch.softmax(masked / tau, dim=-1), host_mask(mask)


@dataclass(frozen=True)
class MaxW:
    """sharpDARTS Max-W weighting: coefficient 1 - max(w) + w_o on w = softmax(alpha); masked ops stay 0."""

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        w = masked_softmax(alpha, mask)
        coeff = 1.0 - w.max(dim=-1, keepdim=True).values + w
        return coeff.masked_fill(~mask, 0.0), host_mask(mask)

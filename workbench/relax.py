"""Relaxations: from architecture parameters to the supernet's mixing weights.

DARTS (Liu et al. 2019, Eq. 2): w[e, o] = softmax_o(alpha[e, o]) over the ops
enabled on edge e. Disabled (masked) ops get alpha = -inf, i.e. exactly zero
weight, and the softmax renormalises over the rest; that is what removing an
op from the candidate set means. Other relaxations (Gumbel, Max-W, edge
normalisation) live with their methods and follow the same contract.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class RelaxContext:
    """What a relaxation may depend on: the schedule position and a seeded generator."""

    epoch: int
    epochs: int
    step: int
    generator: torch.Generator | None = None
    training: bool = True


class Relaxation(Protocol):
    def __call__(self, alpha: Tensor, mask: Tensor, ctx: RelaxContext) -> tuple[Tensor, np.ndarray]:
        """Return (weights of shape (edges, ops), bool array of ops to compute)."""
        ...


def masked_softmax(alpha: Tensor, mask: Tensor) -> Tensor:
    """softmax over the enabled ops of each edge; disabled ops get exactly 0."""
    return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)


@dataclass(frozen=True)
class Softmax:
    """DARTS's relaxation: w = softmax(alpha) over enabled ops; every enabled op is computed."""

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: RelaxContext) -> tuple[Tensor, np.ndarray]:
        return masked_softmax(alpha, mask), mask.cpu().numpy()

"""Cost models and additive loss terms (hardware-aware and regularised DNAS).

FBNet (Wu et al., CVPR 2019, Eq. 5), ProxylessNAS (Cai et al., ICLR 2019,
Eq. 5), Single-Path NAS (Stamoulis et al., 2019, Eq. 6), SNAS's resource
constraint and DASS's sparsity term all add a differentiable *expected cost*
of the architecture to the architecture loss. A :class:`CostModel`
(:mod:`workbench.methods.cost_model`, torch-free, re-exported here) holds one
cost per (row, option) of each choice group and returns

    E[cost] = sum_groups sum_rows sum_options p[row, option] * cost[row, option],

given the relaxation's probabilities ``p``, so d E / d p = cost exactly (the
additive model of a lookup table: each layer's latency depends only on its
own choice). Options a row does not allow get cost 0 and probability 0.

Loss terms are the method slots that use it:

* :class:`ArchCostTerm` -- ``weight * E[cost]`` (or ``weight * relu(E[cost] - budget)``
  with a budget), added to the architecture loss;
* weight-loss terms (distillation, SD-DARTS) have the signature
  ``(ctx, output, batch) -> Tensor`` and are added to the weight-step loss.

Each term returns a 0-d tensor; the searcher adds its gradient to the
estimator's (gradients of sums are sums of gradients, so any estimator,
first or second order, composes with any term) and reports its value in the
step's extras under the term's ``name``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from workbench.methods.context import Batch, StepContext
from workbench.methods.cost_model import CostModel as CostModel  # (re-exported: it lived here)


class ArchLossTerm(Protocol):
    name: str

    def __call__(self, ctx: StepContext) -> Tensor: ...


class WeightLossTerm(Protocol):
    name: str

    def __call__(self, ctx: StepContext, output: Tensor, batch: Batch) -> Tensor: ...


@dataclass(frozen=True)
class ArchCostTerm:
    """``weight * E[cost]`` (or ``weight * max(E[cost] - budget, 0)``) under ``model.probabilities``."""

    cost: CostModel
    weight: float = 1.0
    budget: float | None = None
    name: str = "arch_cost"

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, (int, float)) and np.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"cost weight must be a finite number >= 0, got {self.weight!r}")
        if self.budget is not None:
            lowest = self.cost.minimum()
            if not np.isfinite(self.budget) or self.budget < lowest:
                raise ValueError(f"budget {self.budget} {self.cost.unit} is below the cheapest architecture's "
                                 f"{self.cost.name} ({lowest:.4g} {self.cost.unit}); choose a budget >= that")

    def __call__(self, ctx: StepContext) -> Tensor:
        probs = {g.name: ctx.model.probabilities(g.name) for g in ctx.model.groups if g.name in self.cost.costs}
        e = self.cost.expected(probs)
        if self.budget is not None:
            e = torch.relu(e - self.budget)
        return self.weight * e

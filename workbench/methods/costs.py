"""Cost models and additive loss terms (hardware-aware and regularised DNAS).

FBNet (Wu et al., CVPR 2019, Eq. 5), ProxylessNAS (Cai et al., ICLR 2019,
Eq. 5), Single-Path NAS (Stamoulis et al., 2019, Eq. 6), SNAS's resource
constraint and DASS's sparsity term all add a differentiable *expected cost*
of the architecture to the architecture loss. A :class:`CostModel` holds one
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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from workbench.methods.context import Batch, StepContext


class ArchLossTerm(Protocol):
    name: str

    def __call__(self, ctx: StepContext) -> Tensor: ...


class WeightLossTerm(Protocol):
    name: str

    def __call__(self, ctx: StepContext, output: Tensor, batch: Batch) -> Tensor: ...


@dataclass(frozen=True)
class CostModel:
    """One non-negative cost per (row, option) of each choice group; ``unit`` says what it measures."""

    costs: Mapping[str, np.ndarray]
    unit: str = "ms"
    name: str = "cost"
    _tensors: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for g, c in self.costs.items():
            a = np.asarray(c, dtype=np.float64)
            if a.ndim != 2:
                raise ValueError(f"cost table of group {g!r} must be rows x options, got shape {a.shape}")
            if not np.isfinite(a).all() or (a < 0).any():
                raise ValueError(f"cost table of group {g!r} must be finite and >= 0")

    def table(self, group: str, like: Tensor) -> Tensor:
        key = (group, like.dtype, like.device)
        t = self._tensors.get(key)
        if t is None:
            t = torch.as_tensor(np.asarray(self.costs[group]), dtype=like.dtype, device=like.device)
            self._tensors[key] = t
        return t

    def expected(self, probs: Mapping[str, Tensor]) -> Tensor:
        """E[cost] under per-group (rows x options) probabilities; differentiable in ``probs``."""
        missing = sorted(set(self.costs) - set(probs))
        if missing:
            raise ValueError(f"probabilities missing for group(s) {missing} of cost model {self.name!r}")
        total = None
        for g, p in probs.items():
            if g not in self.costs:
                continue
            c = self.table(g, p)
            if c.shape != p.shape:
                raise ValueError(f"cost table of group {g!r} is {tuple(c.shape)} but the group is {tuple(p.shape)}")
            term = (p * c).sum()
            total = term if total is None else total + term
        if total is None:
            raise ValueError(f"cost model {self.name!r} covers none of the groups {sorted(probs)}")
        return total

    def of(self, picks: Mapping[str, np.ndarray]) -> float:
        """The cost of a discrete choice: ``picks[group]`` = chosen option index per row."""
        return float(sum(np.asarray(self.costs[g])[np.arange(len(ix)), np.asarray(ix)].sum()
                         for g, ix in picks.items() if g in self.costs))

    def minimum(self, allowed: Mapping[str, np.ndarray] | None = None) -> float:
        """The cheapest architecture's cost (over allowed options)."""
        total = 0.0
        for g, c in self.costs.items():
            a = np.asarray(c, dtype=np.float64)
            if allowed is not None and g in allowed:
                a = np.where(np.asarray(allowed[g], dtype=bool), a, np.inf)
            total += float(a.min(axis=1).sum())
        return total


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

"""A cost model: one cost per (row, option) of each choice group, and the architecture's expected cost.

The additive model of FBNet (Wu et al., CVPR 2019, Eq. 5), ProxylessNAS (Cai et al., ICLR 2019, Eq. 5) and
Single-Path NAS (Stamoulis et al., 2019, Eq. 6): given the relaxation's probabilities ``p``,

    E[cost] = sum_groups sum_rows sum_options p[row, option] * cost[row, option],

so d E / d p = cost exactly (each layer's latency depends only on its own choice). Options a row does not
allow get cost 0 and probability 0. The tables are numpy arrays: this module imports no torch (the command
line prints a space's cost table without it); :meth:`CostModel.expected` is evaluated on the torch
probabilities it is given. The loss terms that use a cost model are in :mod:`workbench.methods.costs`, which
re-exports :class:`CostModel`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor


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
        """The cost table of ``group`` as a tensor of ``like``'s dtype and device (cached)."""
        key = (group, like.dtype, like.device)
        t = self._tensors.get(key)
        if t is None:
            import torch

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

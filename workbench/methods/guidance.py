"""``guidance``: Adaptive Guidance's policy search as a composition of the Searcher's slots (Castillo et al., AAAI
2025, arXiv 2312.12487; SEEDS_2.md §10.2 -- the formulation is a reconstruction, **unverified**).

On the ``guidance`` space (:mod:`workbench.diffusion.space`: a row per sampling step, options ``cond`` / ``cfg``,
a frozen toy denoiser inside a gated DDIM sampler) and the ``guidance_pairs`` task (noise -> the sample of full
classifier-free guidance), the architecture loss is §10.2's

    L(alpha) = E_z || x0^pi(z) - x0^cfg(z) ||^2 / 2 + lambda * E_pi[NFE],   E_pi[NFE] = sum_k (1 + pi_k)

backpropagated through the whole sampling chain (first-order arch gradient on the architecture half). The
first term is the task's ``mse`` objective (a mean over the 2 coordinates, hence the / 2: ``cost_weight`` 0.01
here is the pilot's lambda = 0.02 on the summed squared distance). The second is an
:class:`~workbench.methods.costs.ArchCostTerm` over the NFE :class:`~workbench.methods.costs.CostModel` (1
evaluation for ``cond``, 2 for ``cfg``; :func:`nfe_cost`), so dE/dpi_k = lambda exactly. The derived policy is
pi_k > 0.5 (the space's argmax).

Slots (no new loop, no flag on another method):

* ``relaxation``: ``"sigmoid"`` -- the softmax over the row's two options, i.e. pi_k = sigmoid(alpha_cfg -
  alpha_cond) (logits start at 0); ``"concrete"`` -- a relaxed Bernoulli gate (Gumbel-softmax over the two
  options with a constant temperature ``tau``; the cost stays the expectation under softmax(alpha));
* ``arch_optimizer``: Adam(``lr``, betas (0.9, 0.999), no weight decay). Each logit of a row gets the opposite
  gradient of the other, so Adam at ``lr`` on both is Adam at 2 ``lr`` on the gate logit (the default 0.025 =
  the pilot's 0.05 on theta_k). ``lr=None`` uses the config's DARTS Adam (``arch_lr``, ``arch_betas``,
  ``arch_weight_decay``) instead;
* ``trains_weights`` = False, ``lr_schedule`` = 0 -- **the denoiser is frozen**. The Searcher's weight step
  only evaluates the weight half's batch (the relaxed policy's loss, reported as ``train_mse``; no backward, no
  optimizer step) and changes no weight, bit for bit: one extra no-grad forward per step, the price of running
  on the Searcher, in exchange for run folders, resume, the CLI and the dashboard.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.methods import arch_grad
from workbench.methods.context import StepContext
from workbench.methods.costs import ArchCostTerm, CostModel
from workbench.methods.family_options import GUIDANCE_RELAXATIONS
from workbench.methods.presets import Method, preset
from workbench.methods.relax import GumbelSoft, Softmax

__all__ = ["RELAXATIONS", "ConstantTau", "FrozenWeights", "GateAdam", "NfeCostTerm", "guidance", "nfe_cost"]

RELAXATIONS = GUIDANCE_RELAXATIONS
GROUP = "steps"


@lru_cache(maxsize=16)
def nfe_cost(steps: int) -> CostModel:
    """Network evaluations per (step, option) of a ``steps``-step sampler: ``cond`` 1, ``cfg`` 2."""
    return CostModel({GROUP: np.tile(np.array([1.0, 2.0]), (steps, 1))}, unit="NFE", name="network evaluations")


@dataclass(frozen=True)
class NfeCostTerm:
    """``weight * E_pi[NFE]`` for the model's step count (an :class:`ArchCostTerm` over :func:`nfe_cost`)."""

    weight: float
    name: str = "nfe_cost"

    def __call__(self, ctx: StepContext) -> Tensor:
        groups = {g.name: g for g in ctx.model.groups}
        if GROUP not in groups:
            raise ValueError(f"the NFE cost prices a choice group {GROUP!r} (the 'guidance' space); this model has "
                             f"{', '.join(groups)}")
        return ArchCostTerm(nfe_cost(len(groups[GROUP].rows)), self.weight, name=self.name)(ctx)


@dataclass(frozen=True)
class ConstantTau:
    """A constant temperature (the ``concrete`` relaxation's)."""

    tau: float = 1.0

    def __call__(self, epoch: int, epochs: int) -> float:
        return self.tau


@dataclass(frozen=True)
class FrozenWeights:
    """An lr schedule that is 0 at every epoch: the weight step leaves the (frozen) denoiser unchanged."""

    def __call__(self, epoch: int, epochs: int, lr: float, lr_min: float) -> float:
        return 0.0


@dataclass(frozen=True)
class GateAdam:
    """Adam(lr, betas (0.9, 0.999), no weight decay) on the gate logits."""

    lr: float

    def __call__(self, params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999))


@preset("guidance")
def guidance(o: dict[str, Any]) -> Method:
    """Adaptive Guidance's policy search; see the module docstring. Options checked by
    :func:`workbench.methods.family_options.guidance`."""
    relax = Softmax() if o["relaxation"] == "sigmoid" else GumbelSoft(ConstantTau(o["tau"]))
    extra: dict[str, Any] = {} if o["lr"] is None else {"arch_optimizer": GateAdam(o["lr"])}
    return Method("guidance", arch_gradient=arch_grad.first_order, relaxation=relax,
                  arch_loss_terms=(NfeCostTerm(o["cost_weight"]),), lr_schedule=FrozenWeights(), trains_weights=False,
                  spaces=("guidance",), options=o, **extra)

"""CovidNet3D's search: a straight-through hard Gumbel sample per cell, arch step first (He et al., AAAI 2021,
arXiv 2101.05442; `marsggbo/CovidNet3D: mutator/onehot_mutator.py, trainer/onehot_trainer.py`; SEEDS_2 §6.3-6.4).

**The relaxation** (:class:`StraightThroughGumbel`). Per cell (row) i, with the enabled candidates' logits
alpha_i and Gumbel noise G = -log(E), E ~ Exp(1) (:func:`workbench.methods.noise.gumbel`, the searcher's
seeded generator):

    p_i = softmax((alpha_i + G_i) / tau),    h_i = onehot(argmax p_i),    w_i = h_i + (p_i - stopgrad(p_i)),

i.e. ``F.gumbel_softmax(alpha, tau, hard=True)``: the forward value is exactly one-hot (``p - stopgrad(p)`` is
exactly 0, so w_i *is* h_i, not h - p + p off by an ulp), only the selected candidate is computed, and the backward
is the soft sample's: dL/dalpha_ij = sum_o dL/dw_io * dp_io/dalpha_ij, nonzero for every j through the selected
output's weight. The temperature is tau = 1 throughout (the code's ``F.gumbel_softmax`` default; the config has no
schedule); ``tau_min`` anneals it linearly from ``tau`` to ``tau_min`` over the run (GDAS's schedule,
:class:`~workbench.methods.schedules.GdasTau`) for experiments. In evaluation the relaxation is the mode
(argmax alpha). This is GDAS's estimator (:class:`~workbench.methods.relax.GumbelHard`) with alpha for logits instead
of log-softmax(alpha) (the same probabilities) and the exact one-hot forward; it is not that class because of both.

**As released** (``gradient="released"``, SEEDS_2 §6.4, a pitfall kept as a named option). ``OnehotMutator``
turns the hard sample into a *bool* mask, and NNI 1.x's ``Mutator._select_with_mask`` then runs the selected
candidate for a BoolTensor mask without multiplying by the mask: the graph to alpha is cut and ``alpha.grad`` stays
None, so PyTorch's Adam skips alpha and the logits keep their 1e-3 * N(0, 1) initial values -- the search is
uniform single-path one-shot training, and the exported architectures (``sample_final()`` draws a new sample) are
random paths. Here the released mode returns the detached one-hot sample (the same forward value; no graph to
alpha), the gradient slot finds that autograd reaches no alpha (reported as the step extra
``alpha_grad_reached`` = 0) and hands Adam zeros; the released preset's Adam has no weight decay, so, as with
NNI's skipped update, alpha stays exactly at its initial values. Decoding the untouched alphas (argmax of the
initial noise) is again an arbitrary path. Not run against the original (it needs NNI 1.3 and torch 1.2).

**The step** (the ``covidnet3d`` preset): the architecture step on a validation batch first, then the weight step
on a training batch (NNI's DartsTrainer order, ``Method.order = "arch_first"``), a fresh sample for each;
weights only for ``warmup_epochs`` (2, SEEDS_2 §6.6's pilot: uniform path sampling while alpha is untouched);
arch Adam with betas (0.5, 0.999) and weight decay 1e-3 (the config's ``arch_*`` fields). Deviations: the
reference trains the weights with Adam (lr 1e-3, weight decay 5e-4, cosine, label smoothing 0.1); the searcher's
weight optimizer is momentum SGD (cosine lr, clipping 5), so ``paper_defaults`` leaves ``lr`` out. The
second-order (unrolled) path of the code is not offered (as released it would fail: alpha is unused).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.family_options import GRADIENTS
from workbench.methods.noise import gumbel
from workbench.methods.presets import Method, darts_v1, preset
from workbench.methods.relax import TauSchedule

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import SearchConfig
from workbench.methods.schedules import GdasTau

__all__ = ["CPU_SCALE", "GRADIENTS", "ConstantTau", "StraightThroughGumbel", "covidnet3d", "released_adam",
           "straight_through_gradient"]

#: SearchConfig values of the CPU-scale search (SEEDS_2 §6.6 on ``ct_volumes``: 360 volumes for the weights, 120 for
#: the architecture, 2 warm-up + 6 search epochs, arch Adam 3e-3); the weights' momentum-SGD lr replaces the
#: pilot's Adam 3e-3 (the searcher's weight optimizer is SGD)
CPU_SCALE = {"epochs": 8, "batch_size": 16, "lr": 0.05, "lr_min": 0.0, "arch_lr": 3e-3, "weight_decay": 5e-4,
             "train_portion": 0.75, "eval_each_epoch": False}

#: ``"straight_through"`` (the intended method, the default) or ``"released"`` (the official code's bool mask)


@dataclass(frozen=True)
class ConstantTau:
    """A constant temperature (CovidNet3D: tau = 1)."""

    tau: float = 1.0

    def __call__(self, epoch: int, epochs: int) -> float:
        return self.tau


@dataclass(frozen=True)
class StraightThroughGumbel:
    """The hard Gumbel sample with the softmax's gradient (or, ``gradient="released"``, none); module docstring."""

    tau: TauSchedule = ConstantTau(1.0)
    gradient: str = "straight_through"

    def __post_init__(self) -> None:
        if self.gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {', '.join(GRADIENTS)}, got {self.gradient!r}")

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        masked = alpha.masked_fill(~mask, float("-inf"))
        if not ctx.training:  # evaluation: the mode of the sampler
            hard = F.one_hot(masked.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
            return hard, hard.bool().cpu().numpy()
        tau = float(self.tau(ctx.epoch, ctx.epochs))
        if not tau > 0:
            raise ValueError(f"the Gumbel temperature must be > 0, got {tau} at epoch {ctx.epoch}")
        probs = torch.softmax((masked + ctx.draw(alpha.shape, gumbel, alpha)) / tau, dim=-1)
        hard = F.one_hot(probs.argmax(-1), alpha.shape[-1]).to(alpha.dtype)
        active = hard.bool().cpu().numpy()
        if self.gradient == "released" or not torch.is_grad_enabled():
            return hard, active  # the bool mask as a value: nothing connects it to alpha
        return hard + (probs - probs.detach()), active  # exactly one-hot forward, softmax backward


def straight_through_gradient(ctx: StepContext) -> ArchGradResult:
    """dL_val/dalpha through one sample on the validation batch; the extra ``alpha_grad_reached`` is the fraction
    of architecture tensors autograd reached (1 with the straight-through sample, 0 as released: the others get 0)."""
    assert ctx.batch_v is not None
    x, y = ctx.batch_v
    out = ctx.model(x, *ctx.mixing_weights())
    loss = ctx.loss(out, y)
    params = list(ctx.arch_params)
    raw: Sequence[Tensor | None] = (torch.autograd.grad(loss, params, allow_unused=True) if loss.requires_grad
                                    else [None] * len(params))
    reached = sum(g is not None for g in raw) / max(len(params), 1)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(raw, params, strict=True)]
    return ArchGradResult(grads, loss.detach(), out.detach(), {"alpha_grad_reached": float(reached)})


def released_adam(params: list[torch.nn.Parameter], config: SearchConfig) -> torch.optim.Optimizer:
    """The released code's arch optimizer as it acts on alpha: Adam whose update is skipped (alpha.grad is None).

    The searcher hands every architecture parameter a gradient tensor (zeros here), so this Adam has no weight
    decay: a zero gradient then moves nothing, exactly like NNI's skipped update."""
    return torch.optim.Adam(params, lr=config.arch_lr, betas=config.arch_betas, weight_decay=0.0)


@preset("covidnet3d")
def covidnet3d(o: dict[str, Any]) -> Method:
    """CovidNet3D's search (module docstring). ``gradient``: ``"straight_through"`` (the intended method) or
    ``"released"`` (the official code: no gradient reaches alpha); ``tau`` the Gumbel temperature (1 in the code),
    annealed linearly to ``tau_min`` if given; ``warmup_epochs`` of weight-only training (uniform paths). Options
    checked, and the paper's settings, in :func:`workbench.methods.family_options.covidnet3d`."""
    tau, tau_min, gradient = o["tau"], o["tau_min"], o["gradient"]
    schedule: TauSchedule = ConstantTau(tau) if tau_min is None else GdasTau(tau, tau_min)
    base = replace(darts_v1(), name="covidnet3d", relaxation=StraightThroughGumbel(schedule, gradient),
                   arch_gradient=straight_through_gradient, arch_start_epoch=o["warmup_epochs"],
                   order="arch_first", spaces=("mbconv3d",), options=o)
    return replace(base, arch_optimizer=released_adam) if gradient == "released" else base

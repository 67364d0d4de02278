"""SDARTS perturbations of the mixing weights for the weight step (Chen & Hsieh, ICML 2020).

SDARTS smooths the inner problem w*(alpha) = argmin_w E_delta / max_delta
L_train(w, softmax(alpha) + delta) (`xiangning-chen/SmoothDARTS:attacker/perturb.py`,
`attacker/linf_sgd.py`, `sota/cnn/train_search.py`; ALGORITHMS.md §5). Per step,
after the plain DARTS arch update, the weight step runs on perturbed weights
A = softmax(alpha) + delta; alpha itself is never changed:

* :class:`RandomSmoothing` (SDARTS-RS): A = clip(A0 + U(-eps, eps)), i.i.d. per entry.
* :class:`AdversarialPGD` (SDARTS-ADV): in *eval mode* (BN on running
  statistics), loss_before = L_train(A0); random start A = clip(A0 + U(-eps, eps));
  7 times: A = A + lr sign(dL_train/dA) with lr = 2 eps / 7, project to the
  L-inf ball A = A0 + clamp(A - A0, -eps, eps), then A = clip(A); finally, if
  L_train(A) < loss_before the attack failed and A = A0. Train mode is restored.

``clip`` is the reference's simplex projection, per edge row: remember the
argmax, clamp to [0, 1], if the row sums to 0 set the argmax to 1, divide by
the row sum. (So the L-inf bound eps holds for the perturbation *before* the
final renormalisation, as in the reference; after it, a row can move further.)
Disabled ops (masked) stay exactly 0: noise is added to enabled ops only.

eps follows :func:`workbench.methods.schedules.sdarts_epsilon` (0.03 -> eps_max = 0.3 over
the run). Noise is drawn from the searcher's generator, so resumes are exact.

Differences from the reference: the reference writes A into the alpha
tensors and restores alpha afterwards (``softmax_arch_parameters`` /
``restore_arch_parameters``); here the weight step receives A as an argument
and alpha is never touched, which gives the same update without the
write-and-restore. Our supernet skips ``none`` (its output is zero), so its
perturbed weight has no effect on the forward pass, as in the reference.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.methods.context import StepContext
from workbench.methods.noise import draw_now, uniform
from workbench.methods.schedules import sdarts_epsilon

Weights = dict[str, Tensor]
EpsSchedule = Callable[[int, int], float]


def simplex_clip(a: Tensor, mask: Tensor | None = None) -> Tensor:
    """SDARTS ``clip``: per row, clamp to [0, 1], revive the argmax if all clamp to 0, renormalise."""
    if mask is not None:
        a = a.masked_fill(~mask, float("-inf"))
    top = a.argmax(dim=-1, keepdim=True)
    a = a.clamp(0.0, 1.0)
    dead = a.sum(dim=-1, keepdim=True) == 0
    a = torch.where(dead, torch.zeros_like(a).scatter(-1, top, 1.0), a)
    return a / a.sum(dim=-1, keepdim=True)


def uniform_noise(like: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """U(-eps, eps) with the shape of ``like``, drawn on the CPU from ``generator``. The slots draw through
    :meth:`StepContext.draw` with :func:`workbench.methods.noise.uniform` instead (graph-capturable)."""
    return draw_now(tuple(like.shape), uniform(eps), generator, like)


@dataclass(frozen=True)
class Epsilon:
    """The SDARTS eps schedule as ``(epoch, epochs) -> eps``."""

    eps_max: float = 0.3
    eps_min: float = 0.03

    def __post_init__(self) -> None:
        if not 0 <= self.eps_min <= self.eps_max:
            raise ValueError(f"need 0 <= eps_min <= eps_max, got eps_min={self.eps_min}, eps_max={self.eps_max}")

    def __call__(self, epoch: int, epochs: int) -> float:
        return sdarts_epsilon(epoch, epochs, self.eps_max, self.eps_min)


@dataclass(frozen=True)
class RandomSmoothing:
    """SDARTS-RS: A = clip(A0 + U(-eps, eps)) for the weight step."""

    eps: EpsSchedule = Epsilon()

    def __call__(self, ctx: StepContext, weights: Weights, active: dict[str, np.ndarray]) -> Weights:
        eps = float(self.eps(ctx.epoch, ctx.epochs))
        masks = ctx.masks()
        return {c: simplex_clip(w + ctx.draw(w.shape, uniform(eps), w), masks[c]) for c, w in weights.items()}


@dataclass(frozen=True)
class AdversarialPGD:
    """SDARTS-ADV: an L-inf PGD attack on A (``steps`` sign steps of 2 eps / steps) in eval mode."""

    eps: EpsSchedule = Epsilon()
    steps: int = 7
    random_start: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"SDARTS-ADV needs at least 1 attack step, got {self.steps}")

    def __call__(self, ctx: StepContext, weights: Weights, active: dict[str, np.ndarray]) -> Weights:
        eps = float(self.eps(ctx.epoch, ctx.epochs))
        lr = 2.0 * eps / self.steps
        model, masks = ctx.model, ctx.masks()
        assert ctx.batch_t is not None
        x, y = ctx.batch_t
        a0 = {c: w.detach() for c, w in weights.items()}
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                loss_before = ctx.loss(model(x, a0, active), y)
            a = dict(a0)
            if self.random_start:
                a = {c: simplex_clip(w + ctx.draw(w.shape, uniform(eps), w), masks[c]) for c, w in a.items()}
            for _ in range(self.steps):
                leaves = {c: w.detach().requires_grad_(True) for c, w in a.items()}
                loss = ctx.loss(model(x, leaves, active), y)
                grads = torch.autograd.grad(loss, list(leaves.values()))
                a = {}
                for (c, w), g in zip(leaves.items(), grads, strict=True):
                    step = w.detach() + lr * g.sign()  # ascend the training loss
                    a[c] = simplex_clip(a0[c] + (step - a0[c]).clamp(-eps, eps), masks[c])
            with torch.no_grad():
                loss_after = ctx.loss(model(x, a, active), y)
        finally:
            model.train(was_training)
        failed = loss_before > loss_after  # decided on the device: no read back (the step stays graph-capturable)
        return {c: torch.where(failed, a0[c], a[c]) for c in a0}

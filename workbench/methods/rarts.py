"""RARTS: relaxed architecture search with two weight copies and one architecture (Xue, Qi, Xin;
arXiv 2008.03901, IEEE Access; SEEDS_2 §2).

**What is reconstructed.** No code was found and only the abstract could be read (single level, data and network
splitting, two networks with different but related weights sharing one architecture, Gauss-Seidel iterations,
no mixed second derivatives). The equations are SEEDS_2 §2.2's reconstruction and are **unverified**:

    L_beta(w, y, alpha) = L_val(y, alpha) + lambda L_train(w, alpha) + (beta / 2) ||y - w||^2,

one Gauss-Seidel sweep per step, each update using the newest values:

1. w <- w - eta grad_w [lambda L_train(w, alpha) + (beta/2) ||y - w||^2]     (train batch)
2. y <- y - eta grad_y [L_val(y, alpha) + (beta/2) ||y - w||^2]              (val batch, the new w)
3. alpha <- alpha - eta_a grad_alpha [L_val(y, alpha) + lambda L_train(w, alpha)]   (the new w and y)

Options (defaults: the spec's; the paper's values are unknown): ``coupling`` beta = 1 (``inf``: y is w, see
below), ``train_weight`` lambda = 1, ``penalty_in_w`` (the coupling enters step 1; else w trains on lambda
L_train alone), ``lambda_in_alpha`` (lambda L_train enters step 3), ``reuse_val_grad`` (see passes below).
w and y use the same momentum SGD (the searcher's lr schedule, momentum, weight decay, gradient clipping);
alpha uses DARTS's Adam. y starts equal to w, with its own BatchNorm statistics. Genotype: the space's rule.

**How it is composed from the slots** (no copied step loop, no engine change):

* ``order="weight_first"``: the searcher's weight step is step 1; its loss is the objective's L_train plus the
  weight-loss term :class:`Coupling` = (lambda - 1) L_train + (beta/2) ||w - y||^2;
* the second copy y is **method-owned state**: flat buffers (y, its momentum, its BatchNorm statistics) of
  ``model.method_state.rarts`` (:mod:`workbench.methods.owned_state`), attached by the ``arch_parameters`` slot,
  so it is saved and restored with the search state and undone with a failed step;
* the ``arch_gradient`` slot :class:`RartsSweep` does steps 2 and 3: it updates y in place (momentum SGD on
  a functional copy of the supernet holding y and y's statistics) and returns alpha's gradient.

``coupling=inf`` is the beta -> infinity limit, implemented as y = w: step 1 becomes one single-level joint
step on lambda L_train + L_val (the term adds L_val on the validation batch to the weight loss) and step 3 the
alpha step on the same sum -- single-level training on both halves.

Passes (forward + backward through the supernet) per step: 4 (step 1; step 2; alpha through y on the val
batch; alpha through w on the train batch), against DARTS-V2's 5 (weight step, virtual step, val gradient at
w', two finite-difference train gradients). The spec's 3-pass Jacobi variant reuses step 1's alpha gradient of
lambda L_train, which the searcher's weight step does not compute (it detaches the mixing weights);
``reuse_val_grad=True`` is the 3-pass Jacobi variant this composition can offer: alpha's L_val gradient is taken
from step 2's backward, at y before its update.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from workbench.methods.context import ArchGradResult, Batch, StepContext
from workbench.methods.owned_state import (
    AttachState,
    FlatLayout,
    owned,
    supernet_state,
    weight_names,
)
from workbench.methods.presets import Method, darts_v1, preset
from workbench.spaces.base import ChoiceSupernet

NAME = "rarts"
__all__ = ["Coupling", "RartsCopy", "RartsSettings", "RartsSweep", "rarts"]


@dataclass(frozen=True)
class RartsSettings:
    coupling: float = 1.0  # beta; math.inf = one weight copy (y is w)
    train_weight: float = 1.0  # lambda
    penalty_in_w: bool = True
    lambda_in_alpha: bool = True
    reuse_val_grad: bool = False

    @property
    def tied(self) -> bool:
        return math.isinf(self.coupling)


class RartsCopy(nn.Module):
    """The second weight copy y (flat), its SGD momentum and its BatchNorm statistics; y starts equal to w."""

    y: Tensor
    momentum: Tensor
    bn: Tensor

    def __init__(self, model: ChoiceSupernet) -> None:
        super().__init__()
        state = supernet_state(model)
        names = weight_names(model)
        params = dict(model.named_parameters())
        self.weights = FlatLayout({n: params[n] for n in names})
        arch = {id(p) for p in model.arch_parameters()}
        param_names = {n for n, p in params.items()}
        self.stats = FlatLayout({n: t for n, t in state.items() if n not in param_names and id(t) not in arch})
        self.register_buffer("y", self.weights.pack(params).clone())
        self.register_buffer("momentum", torch.zeros_like(self.y))
        self.register_buffer("bn", self.stats.pack(state).clone())
        self._live = [params[n] for n in names]  # the supernet's weights (identity never changes)

    def live_flat(self) -> Tensor:
        """w as one flat tensor (with the graph to the live weights)."""
        return torch.cat([p.reshape(-1) for p in self._live])

    def functional_state(self, y: Tensor, model: nn.Module) -> dict[str, Tensor]:
        """y's weights and statistics by name, for ``functional_call`` (integer buffers: throw-away copies)."""
        extra = {n: b.clone() for n, b in model.named_buffers() if not b.is_floating_point()
                 and not n.startswith("method_state.")}
        return {**self.weights.views(y), **self.stats.views(self.bn), **extra}


def _as_y(ctx: StepContext, copy: RartsCopy, y: Tensor, x: Tensor, weights: dict, active: dict) -> Tensor:
    return functional_call(ctx.model, copy.functional_state(y, ctx.model), (x, weights, active))


@dataclass(frozen=True)
class Coupling:
    """Step 1's weight-loss term: (lambda - 1) L_train + (beta/2) ||w - y||^2 (added to the searcher's L_train);
    with ``coupling=inf`` (y = w): (lambda - 1) L_train + L_val(w) on the validation batch."""

    settings: RartsSettings
    name: str = "rarts_coupling"

    def __call__(self, ctx: StepContext, output: Tensor, batch: Batch) -> Tensor:
        s = self.settings
        term = (s.train_weight - 1.0) * ctx.loss(output, batch[1])
        if s.tied:
            assert ctx.batch_v is not None
            xv, yv = ctx.batch_v
            with torch.no_grad():
                weights, active = ctx.mixing_weights()
            weights = {g: t.detach() for g, t in weights.items()}
            return term + ctx.loss(ctx.model(xv, weights, active), yv)
        if not s.penalty_in_w:
            return term
        copy = owned(ctx.model, NAME)
        assert isinstance(copy, RartsCopy)  # attached by the preset's arch_parameters slot
        return term + 0.5 * s.coupling * (copy.live_flat() - copy.y).pow(2).sum()


def _sgd_(copy: RartsCopy, grad: Tensor, ctx: StepContext) -> None:
    """The searcher's weight update, applied to y: clip, weight decay, momentum, lr (torch.optim.SGD's order)."""
    clip = getattr(ctx.config, "grad_clip", 0.0) if ctx.config is not None else 0.0
    if clip > 0:
        norm = grad.norm()
        grad = grad * (clip / (norm + 1e-6)).clamp(max=1.0)
    with torch.no_grad():
        d = grad + ctx.weight_decay * copy.y if ctx.weight_decay else grad
        copy.momentum.mul_(ctx.momentum).add_(d)
        copy.y.sub_(ctx.lr * copy.momentum)


def _grads(loss: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


@dataclass(frozen=True)
class RartsSweep:
    """The arch-gradient slot: step 2 (y's update, in place) and step 3's alpha gradient."""

    settings: RartsSettings

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        s = self.settings
        alphas = list(ctx.arch_params)
        assert ctx.batch_v is not None and ctx.batch_t is not None
        (xv, yv), (xt, yt) = ctx.batch_v, ctx.batch_t
        if s.tied:  # y is w: step 2 was part of the joint weight step
            out_v = ctx.model(xv, *ctx.mixing_weights())
            loss_v = ctx.loss(out_v, yv)
            loss = loss_v + s.train_weight * ctx.loss(ctx.model(xt, *ctx.mixing_weights()), yt) \
                if s.lambda_in_alpha else loss_v
            return ArchGradResult(_grads(loss, alphas), loss_v.detach(), out_v.detach())
        copy = owned(ctx.model, NAME)
        assert isinstance(copy, RartsCopy)  # attached by the preset's arch_parameters slot
        w = copy.live_flat().detach()
        # step 2: y <- y - eta grad_y [L_val(y) + beta/2 ||y - w||^2], at the new w
        y = copy.y.detach().requires_grad_(True)
        if s.reuse_val_grad:
            weights, active = ctx.mixing_weights()
        else:
            with torch.no_grad():
                weights, active = ctx.mixing_weights()
            weights = {g: t.detach() for g, t in weights.items()}
        out_y = _as_y(ctx, copy, y, xv, weights, active)
        loss_y = ctx.loss(out_y, yv)
        penalty = 0.5 * s.coupling * (y - w).pow(2).sum()
        if s.reuse_val_grad:  # Jacobi: alpha's L_val gradient at y before its update
            g = _grads(loss_y + penalty, [y, *alphas])
            grad_y, val_grads = g[0], g[1:]
        else:
            grad_y, val_grads = _grads(loss_y + penalty, [y])[0], None
        _sgd_(copy, grad_y, ctx)
        # step 3: alpha's gradient of L_val(y_new) + lambda L_train(w_new)
        if val_grads is None:
            out_v = _as_y(ctx, copy, copy.y, xv, *ctx.mixing_weights())
            loss_v = ctx.loss(out_v, yv)
            val_grads = _grads(loss_v, alphas)
        else:
            out_v, loss_v = out_y, loss_y
        if s.lambda_in_alpha:
            train = _grads(s.train_weight * ctx.loss(ctx.model(xt, *ctx.mixing_weights()), yt), alphas)
            val_grads = [a + b for a, b in zip(val_grads, train, strict=True)]
        gap = float((copy.y - w).norm())
        return ArchGradResult(val_grads, loss_v.detach(), out_v.detach(), {"rarts_gap": gap})


@preset("rarts")
def rarts(o: dict[str, Any]) -> Method:
    """RARTS (see the module docstring): ``coupling`` beta (``float("inf")``: y = w), ``train_weight`` lambda;
    options checked by :func:`workbench.methods.family_options.rarts`."""
    s = RartsSettings(**o)
    return replace(darts_v1(), name="rarts", order="weight_first", arch_gradient=RartsSweep(s),
                   weight_loss_terms=(Coupling(s),),
                   arch_parameters=None if s.tied else AttachState(NAME, RartsCopy), options=o)

"""Architecture-gradient estimators (Liu et al. 2019, Sec. 2.3, Eqs. 6-8).

First order (DARTS-V1): grad_alpha = dL_val(w, alpha)/dalpha on one validation batch.

Second order (DARTS-V2), as in `quark0/darts:cnn/architect.py`:

1. virtual step, the weight optimizer's momentum-SGD step without clipping:
   w' = w - xi * (mu * buf + dL_train(w, alpha)/dw + lambda_w * w),
   with xi the current weight lr, mu the momentum, buf the SGD momentum buffer
   (zero before the first weight step) and lambda_w the weight decay;
2. dalpha = dL_val(w', alpha)/dalpha and v = dL_val(w', alpha)/dw';
3. the Hessian-vector product by central finite differences with
   eps = r / ||v||_2 (r = 0.01):
   hvp = (dL_train(w + eps v, alpha)/dalpha - dL_train(w - eps v, alpha)/dalpha) / (2 eps);
4. grad_alpha = dalpha - xi * hvp.

Unlike the reference, which perturbs the live weights in place three times,
every virtual evaluation here runs on a functional copy
(``torch.func.functional_call``) with cloned BatchNorm buffers: the model's
weights and running statistics are never touched by the estimator, even if it
raises. (The reference's extra train-mode forwards also update the running
statistics three times per step; ours do not.)

Only the gradients that are needed are computed: the first-order step asks
autograd for alpha gradients alone, so no weight gradients are built.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from .supernet import Supernet

#: computes mixing weights (with the autograd graph to alpha) for the current step
WeightsFn = Callable[[], tuple[dict[str, Tensor], dict]]


@dataclass
class ArchGradResult:
    """Alpha gradients (in arch_parameters() order) plus the validation loss/logits seen."""

    grads: list[Tensor]
    val_loss: Tensor
    val_logits: Tensor
    extras: dict[str, float] = field(default_factory=dict)


def _bn_buffers(model: Supernet) -> dict[str, Tensor]:
    return {n: b.clone() for n, b in model.named_buffers() if "running" in n or "num_batches" in n}


def _forward(model: Supernet, params: dict[str, Tensor] | None, x: Tensor, weights_fn: WeightsFn) -> Tensor:
    weights, active = weights_fn()
    if params is None:
        return model(x, weights, active)
    return functional_call(model, {**params, **_bn_buffers(model)}, (x, weights, active))


def first_order(model: Supernet, batch_t: tuple[Tensor, Tensor], batch_v: tuple[Tensor, Tensor],
                weights_fn: WeightsFn, **_: object) -> ArchGradResult:
    x, y = batch_v
    logits = model(x, *weights_fn())
    loss = F.cross_entropy(logits, y)
    grads = torch.autograd.grad(loss, model.arch_parameters(), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, model.arch_parameters())]
    return ArchGradResult(grads, loss.detach(), logits.detach())


def virtual_step(model: Supernet, batch_t: tuple[Tensor, Tensor], weights_fn: WeightsFn, lr: float,
                 momentum: float, weight_decay: float, momentum_buffers: dict[str, Tensor],
                 create_graph: bool = False) -> dict[str, Tensor]:
    """w' = w - lr * (momentum * buf + grad L_train + wd * w), by name (no clipping, as in the reference)."""
    named = model.named_weight_parameters()
    x, y = batch_t
    loss = F.cross_entropy(_forward(model, dict(named), x, weights_fn), y)
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=create_graph, allow_unused=True)
    out = {}
    for (n, p), g in zip(named, grads):
        g = torch.zeros_like(p) if g is None else g
        buf = momentum_buffers.get(n)
        d = g + weight_decay * p
        if buf is not None:
            d = d + momentum * buf
        out[n] = p - lr * d
    return out


def second_order(model: Supernet, batch_t: tuple[Tensor, Tensor], batch_v: tuple[Tensor, Tensor],
                 weights_fn: WeightsFn, *, lr: float, momentum: float, weight_decay: float,
                 momentum_buffers: dict[str, Tensor], r: float = 0.01) -> ArchGradResult:
    alphas = model.arch_parameters()
    # 1. virtual step (detached: w' is a new leaf)
    w_virtual = {n: t.detach().requires_grad_(True) for n, t in
                 virtual_step(model, batch_t, weights_fn, lr, momentum, weight_decay, momentum_buffers).items()}
    # 2. validation loss at w'
    xv, yv = batch_v
    logits = _forward(model, w_virtual, xv, weights_fn)
    loss_v = F.cross_entropy(logits, yv)
    names = list(w_virtual)
    g = torch.autograd.grad(loss_v, alphas + [w_virtual[n] for n in names], allow_unused=True)
    dalpha = [torch.zeros_like(a) if t is None else t for t, a in zip(g[: len(alphas)], alphas)]
    v = [torch.zeros_like(w_virtual[n]) if t is None else t for t, n in zip(g[len(alphas):], names)]
    # 3. finite-difference Hessian-vector product around w
    norm = torch.sqrt(sum((t * t).sum() for t in v))
    eps = r / norm.clamp_min(torch.finfo(norm.dtype).tiny)
    current = dict(model.named_weight_parameters())
    xt, yt = batch_t

    def alpha_grad(sign: float) -> list[Tensor]:
        params = {n: (current[n] + sign * eps * vn).detach() for n, vn in zip(names, v)}
        loss = F.cross_entropy(_forward(model, params, xt, weights_fn), yt)
        gs = torch.autograd.grad(loss, alphas, allow_unused=True)
        return [torch.zeros_like(a) if t is None else t for t, a in zip(gs, alphas)]

    gp, gm = alpha_grad(+1.0), alpha_grad(-1.0)
    grads = [da - lr * (p - m) / (2 * eps) for da, p, m in zip(dalpha, gp, gm)]
    return ArchGradResult(grads, loss_v.detach(), logits.detach(),
                          {"hvp_eps": float(eps), "val_grad_norm": float(norm)})


def exact_unrolled_gradient(model: Supernet, batch_t: tuple[Tensor, Tensor], batch_v: tuple[Tensor, Tensor],
                            weights_fn: WeightsFn, *, lr: float, momentum: float, weight_decay: float,
                            momentum_buffers: dict[str, Tensor]) -> list[Tensor]:
    """d L_val(w'(alpha), alpha) / d alpha by differentiating through the virtual step (the oracle for tests)."""
    w_virtual = virtual_step(model, batch_t, weights_fn, lr, momentum, weight_decay, momentum_buffers,
                             create_graph=True)
    xv, yv = batch_v
    loss_v = F.cross_entropy(_forward(model, w_virtual, xv, weights_fn), yv)
    return list(torch.autograd.grad(loss_v, model.arch_parameters()))

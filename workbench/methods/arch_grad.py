"""Architecture-gradient estimators (Liu et al. 2019, Sec. 2.3, Eqs. 6-8).

Each estimator is a method slot ``(ctx: StepContext) -> ArchGradResult`` that
returns the gradient of the objective's loss with respect to ``ctx.arch_params``.

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
autograd for the architecture gradients alone, so no weight gradients are built.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from workbench.methods.context import ArchGradResult, StepContext

__all__ = ["ArchGradResult", "exact_unrolled_gradient", "first_order", "second_order", "single_level",
           "virtual_step"]


def _named_weights(ctx: StepContext) -> list[tuple[str, nn.Parameter]]:
    arch = {id(p) for p in ctx.arch_params}
    return [(n, p) for n, p in ctx.model.named_parameters() if id(p) not in arch]


def _bn_buffers(model: nn.Module) -> dict[str, Tensor]:
    return {n: b.clone() for n, b in model.named_buffers() if "running" in n or "num_batches" in n}


def _forward(ctx: StepContext, params: dict[str, Tensor] | None, x: Tensor) -> Tensor:
    weights, active = ctx.mixing_weights()
    if params is None:
        return ctx.model(x, weights, active)
    return functional_call(ctx.model, {**params, **_bn_buffers(ctx.model)}, (x, weights, active))


def _grads(loss: Tensor, params: list[Tensor]) -> list[Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


def first_order(ctx: StepContext) -> ArchGradResult:
    """dL_val(w, alpha)/dalpha on the validation batch."""
    x, y = ctx.batch_v
    out = ctx.model(x, *ctx.mixing_weights())
    loss = ctx.loss(out, y)
    return ArchGradResult(_grads(loss, list(ctx.arch_params)), loss.detach(), out.detach())


def single_level(ctx: StepContext, *, max_norm: float | None = None) -> ArchGradResult:
    """SNAS's single-level gradient: d L_train(w, alpha) / d alpha on the *training* batch.

    The gradient's total norm is clipped to ``max_norm`` (SNAS: 10) as
    ``clip_grad_norm_`` does. The validation loss and output reported with it
    come from an extra no-grad forward on the validation batch (they are not
    used for the update).
    """
    x, y = ctx.batch_t
    loss = ctx.loss(ctx.model(x, *ctx.mixing_weights()), y)
    grads = _grads(loss, list(ctx.arch_params))
    if max_norm is not None:
        total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        scale = min(1.0, float(max_norm) / (float(total) + 1e-6))
        grads = [g * scale for g in grads]
    xv, yv = ctx.batch_v
    with torch.no_grad():
        out_v = ctx.model(xv, *ctx.mixing_weights())
        loss_v = ctx.loss(out_v, yv)
    return ArchGradResult(grads, loss_v, out_v, {"arch_train_loss": float(loss.detach())})


def virtual_step(ctx: StepContext, create_graph: bool = False) -> dict[str, Tensor]:
    """w' = w - lr * (momentum * buf + grad L_train + wd * w), by name (no clipping, as in the reference)."""
    named = _named_weights(ctx)
    x, y = ctx.batch_t
    loss = ctx.loss(_forward(ctx, dict(named), x), y)
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=create_graph, allow_unused=True)
    out = {}
    for (n, p), g in zip(named, grads, strict=True):
        g = torch.zeros_like(p) if g is None else g
        buf = ctx.momentum_buffers.get(n)
        d = g + ctx.weight_decay * p
        if buf is not None:
            d = d + ctx.momentum * buf
        out[n] = p - ctx.lr * d
    return out


def second_order(ctx: StepContext, *, r: float = 0.01) -> ArchGradResult:
    """DARTS-V2's unrolled gradient with the finite-difference Hessian-vector product (eps = r / ||v||)."""
    alphas = list(ctx.arch_params)
    # 1. virtual step (detached: w' is a new leaf)
    w_virtual = {n: t.detach().requires_grad_(True) for n, t in virtual_step(ctx).items()}
    # 2. validation loss at w'
    xv, yv = ctx.batch_v
    out = _forward(ctx, w_virtual, xv)
    loss_v = ctx.loss(out, yv)
    names = list(w_virtual)
    g = _grads(loss_v, alphas + [w_virtual[n] for n in names])
    dalpha, v = g[: len(alphas)], g[len(alphas):]
    # 3. finite-difference Hessian-vector product around w
    norm = torch.sqrt(sum((t * t).sum() for t in v))
    eps = r / norm.clamp_min(torch.finfo(norm.dtype).tiny)
    current = dict(_named_weights(ctx))
    xt, yt = ctx.batch_t

    def alpha_grad(sign: float) -> list[Tensor]:
        params = {n: (current[n] + sign * eps * vn).detach() for n, vn in zip(names, v, strict=True)}
        return _grads(ctx.loss(_forward(ctx, params, xt), yt), alphas)

    gp, gm = alpha_grad(+1.0), alpha_grad(-1.0)
    grads = [da - ctx.lr * (p - m) / (2 * eps) for da, p, m in zip(dalpha, gp, gm, strict=True)]
    return ArchGradResult(grads, loss_v.detach(), out.detach(), {"hvp_eps": float(eps), "val_grad_norm": float(norm)})


def exact_unrolled_gradient(ctx: StepContext) -> list[Tensor]:
    """d L_val(w'(alpha), alpha) / d alpha by differentiating through the virtual step (the oracle for tests)."""
    w_virtual = virtual_step(ctx, create_graph=True)
    xv, yv = ctx.batch_v
    loss_v = ctx.loss(_forward(ctx, w_virtual, xv), yv)
    return list(torch.autograd.grad(loss_v, list(ctx.arch_params)))

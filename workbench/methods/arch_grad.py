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

Unlike the reference, which perturbs the live weights in place, every
evaluation at *other* weights (w' and w +- eps v) runs on a functional copy
(``torch.func.functional_call``) with cloned BatchNorm buffers: the model's
weights are never touched by the estimator, even if it raises.

BatchNorm running statistics. Every estimator runs the live model in train
mode at the current weights (first order once, on the validation batch;
SNAS's single level on both batches), and those forwards update the running
statistics (momentum 0.1) like any training forward; second order does it in
the virtual step, on the training batch (as the reference's ``_compute_unrolled_model`` does; its two HVP
forwards at w +- eps v also update them, ours do not). Before issue 9 the
virtual step too ran on a functional copy, so a second-order step updated the
statistics once (the weight step) instead of twice: nothing leaked into the
real buffers -- ``functional_call`` swaps the cloned ``running_*`` /
``num_batches_tracked`` tensors in and out, and the in-place updates land in
the clones -- but after a short search the running variances still held
0.9^n of their initial value 1 while the true variances of the cells' op
outputs are ~0.01, i.e. 5-12x too large, and the eval-mode supernet
(``Searcher.evaluate``, analyses with ``bn="eval"``, SDARTS-ADV's eval-mode
attack) was near chance although the weights were fine.

The finite-difference radius. eps = r/||v|| with DARTS's r = 0.01 is
the default, but on small supernets the estimate can differ from the exact
hypergradient by more than 100% (the HVP's truncation error grows with eps
times the third derivatives, and ReLU kinks within eps of w); at r = 1e-5
it agrees to 1e-4 or better in float64 (1e-10 on the smooth toy cell).
:func:`hypergradient_error` reports the relative error of the estimate on a
step's batches, and :func:`second_order_exact` (``darts-v2`` option
``hypergradient="exact"``) differentiates through the unrolled step instead.

Only the gradients that are needed are computed: the first-order step asks
autograd for the architecture gradients alone, so no weight gradients are built.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import torch
from torch import Tensor, nn
from torch.func import functional_call

from workbench.errors import ConfigError
from workbench.methods.context import ArchGradResult, StepContext

__all__ = ["ArchGradResult", "exact_unrolled_gradient", "first_order", "hypergradient_error", "second_order",
           "second_order_exact", "single_level", "virtual_step"]


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


def _grads(loss: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


@contextmanager
def alphas_only(ctx: StepContext) -> Iterator[None]:
    """The weights' ``requires_grad`` off for a pass that differentiates the architecture alone (restored after,
    each to what it was). Autograd already skips weight gradients nobody asks for in built-in operators, but a
    custom ``autograd.Function`` (``conv_kernels.depthwise_conv2d``) only sees ``requires_grad``; and the forward
    records no weight-gradient bookkeeping. The gradients asked for are unchanged."""
    weights = [p for _, p in _named_weights(ctx) if p.requires_grad]
    for p in weights:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in weights:
            p.requires_grad_(True)


def first_order(ctx: StepContext) -> ArchGradResult:
    """dL_val(w, alpha)/dalpha on the validation batch."""
    assert ctx.batch_v is not None
    x, y = ctx.batch_v
    with alphas_only(ctx):
        out = ctx.model(x, *ctx.mixing_weights())
        loss = ctx.loss(out, y)
        grads = _grads(loss, list(ctx.arch_params))
    return ArchGradResult(grads, loss.detach(), out.detach())


def single_level(ctx: StepContext, *, max_norm: float | None = None) -> ArchGradResult:
    """SNAS's single-level gradient: d L_train(w, alpha) / d alpha on the *training* batch.

    The gradient's total norm is clipped to ``max_norm`` (SNAS: 10) as
    ``clip_grad_norm_`` does. The validation loss and output reported with it
    come from an extra no-grad forward on the validation batch (they are not
    used for the update).
    """
    assert ctx.batch_t is not None
    x, y = ctx.batch_t
    with alphas_only(ctx):
        loss = ctx.loss(ctx.model(x, *ctx.mixing_weights()), y)
        grads = _grads(loss, list(ctx.arch_params))
    if max_norm is not None:
        total = torch.sqrt(cast(Tensor, sum((g.double() ** 2).sum() for g in grads)))
        scale = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)  # a tensor: no host sync
        grads = [g * scale.to(g.dtype) for g in grads]
    assert ctx.batch_v is not None
    xv, yv = ctx.batch_v
    with torch.no_grad():
        out_v = ctx.model(xv, *ctx.mixing_weights())
        loss_v = ctx.loss(out_v, yv)
    return ArchGradResult(grads, loss_v, out_v, {"arch_train_loss": loss.detach()})


def virtual_step(ctx: StepContext, create_graph: bool = False) -> dict[str, Tensor]:
    """w' = w - lr * (momentum * buf + grad L_train + wd * w), by name (no clipping, as in the reference)."""
    named = _named_weights(ctx)
    assert ctx.batch_t is not None
    x, y = ctx.batch_t
    # The live model, not a functional copy: this forward is at the current weights, so its train-mode BatchNorm
    # update of the running statistics is a legitimate one (the reference's unrolling makes it too). Running it on
    # cloned buffers left second-order searches with half the statistics updates of first order; see the module
    # docstring.
    loss = ctx.loss(ctx.model(x, *ctx.mixing_weights()), y)
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
    assert ctx.batch_v is not None
    xv, yv = ctx.batch_v
    out = _forward(ctx, w_virtual, xv)
    loss_v = ctx.loss(out, yv)
    names = list(w_virtual)
    g = _grads(loss_v, alphas + [w_virtual[n] for n in names])
    dalpha, v = g[: len(alphas)], g[len(alphas):]
    # 3. finite-difference Hessian-vector product around w
    norm = torch.sqrt(cast(Tensor, sum((t * t).sum() for t in v)))
    eps = r / norm.clamp_min(torch.finfo(norm.dtype).tiny)
    current = dict(_named_weights(ctx))
    assert ctx.batch_t is not None
    xt, yt = ctx.batch_t

    def alpha_grad(sign: float) -> list[Tensor]:
        params = {n: (current[n] + sign * eps * vn).detach() for n, vn in zip(names, v, strict=True)}
        return _grads(ctx.loss(_forward(ctx, params, xt), yt), alphas)

    gp, gm = alpha_grad(+1.0), alpha_grad(-1.0)
    grads = [da - ctx.lr * (p - m) / (2 * eps) for da, p, m in zip(dalpha, gp, gm, strict=True)]
    return ArchGradResult(grads, loss_v.detach(), out.detach(), {"hvp_eps": eps.detach(), "val_grad_norm": norm.detach()})


def _exact(ctx: StepContext) -> tuple[list[Tensor], Tensor, Tensor]:
    w_virtual = virtual_step(ctx, create_graph=True)
    assert ctx.batch_v is not None
    xv, yv = ctx.batch_v
    out = _forward(ctx, w_virtual, xv)
    loss_v = ctx.loss(out, yv)
    raw = torch.autograd.grad(loss_v, list(ctx.arch_params), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(raw, ctx.arch_params, strict=True)]
    return grads, loss_v.detach(), out.detach()


def exact_unrolled_gradient(ctx: StepContext) -> list[Tensor]:
    """d L_val(w'(alpha), alpha) / d alpha by differentiating through the virtual step (the oracle for tests)."""
    return _exact(ctx)[0]


def second_order_exact(ctx: StepContext) -> ArchGradResult:
    """DARTS-V2's unrolled gradient computed exactly: autograd through the virtual step (double backward).

    Same value as :func:`second_order` in the limit r -> 0, without the finite-difference error, at the cost
    of keeping the virtual step's graph (memory ~ 2-3x a first-order step): meant for small supernets.
    """
    grads, loss_v, out = _exact(ctx)
    return ArchGradResult([g.detach() for g in grads], loss_v, out)


def _flat(ts: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1).double() for t in ts])


def hypergradient_error(ctx: StepContext, r: float = 0.01) -> dict[str, float]:
    """How far DARTS's finite-difference hypergradient (radius ``r``) is from the exact one, on ``ctx``'s batches.

    Returns ``{"r", "relative_error", "cosine", "exact_norm", "fd_norm", "hvp_eps"}`` with
    relative_error = ||g_fd - g_exact|| / ||g_exact||. Computes both estimators (the exact one keeps a
    double-backward graph: small supernets only); the model's weights, alphas and BatchNorm buffers are left
    exactly as they were.
    """
    r = float(r)
    if not (math.isfinite(r) and r > 0):
        raise ConfigError(f"hypergradient_error: r={r!r} is not accepted: expected a finite number > 0")
    buffers = [b for b in ctx.model.buffers()]
    saved = [b.detach().clone() for b in buffers]
    try:
        exact = _flat(exact_unrolled_gradient(ctx))
        res = second_order(ctx, r=r)
    finally:
        with torch.no_grad():
            for b, v in zip(buffers, saved, strict=True):
                b.copy_(v)
    fd = _flat(res.grads)
    en, fn = float(exact.norm()), float(fd.norm())
    rel = float((fd - exact).norm()) / en if en > 0 else math.inf
    cos = float(fd @ exact) / (en * fn) if en > 0 and fn > 0 else math.nan
    return {"r": r, "relative_error": rel, "cosine": cos, "exact_norm": en, "fd_norm": fn,
            "hvp_eps": float(res.extras["hvp_eps"])}

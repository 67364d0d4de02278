"""Hardware-aware DNAS on a chain space: FBNet and ProxylessNAS as slot compositions.

* ``fbnet`` (Wu et al., CVPR 2019, Eq. 5; ALGORITHMS.md §7.3, SEEDS_2.md §4.2):
  a soft Gumbel-softmax sample m = softmax((theta + G) / tau) mixes *every*
  candidate of a layer (the sample is soft: every path runs, which is why
  memory grows with the candidates); the architecture loss is
  ``alpha * CE * log(LAT)^beta`` with LAT = sum_layers sum_i m_i LAT(layer, i)
  under the same sample (``form="paper"``), or the third-party code's
  ``alpha * beta * CE * log(LAT)`` (``form="log_power"``: log(LAT^beta)). The
  paper's notation is ambiguous about where the exponent goes; the default is
  the paper's literal form, log(LAT)^beta, and log(LAT) must then be > 0
  (LAT > 1 in the cost's unit) -- a table in ms for a phone satisfies this; for
  other units pass ``reference`` (LAT is divided by it inside the log, as
  ProxylessNAS's 'mul#log' does). tau = tau0 * exp(-0.045 t) with t the
  epochs since architecture updates began (5.0, 4.78, 3.1881, 0.1366 at t =
  0, 1, 10, 80; Appendix A), weights only for ``warmup_epochs`` (10 in the
  code); the weight step comes first (FBNet trains w, then theta).
  Deviation: the reference alternates whole epochs (w on 80% of the data,
  theta on 20%); here the two updates alternate per step on the search split.
* ``proxylessnas`` (Cai et al., ICLR 2019, Sec. 3.2; ALGORITHMS.md §7.4):
  binary gates. The weight step samples one path per layer from p =
  softmax(alpha) and runs only that path. The architecture step (every
  ``arch_every`` = 5 iterations in the code) samples gates g again, runs every
  candidate so that dL/dg_j = <dL/dout, o_j(x)>, and uses the BinaryConnect
  style estimator dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i). It equals
  the gradient of the exact expectation E_p[L] only when L is linear in the
  layer output; otherwise it is biased (SEEDS_2.md §4.3; tests document both).
  The latency term is additive, ``lambda * E_p[LAT]`` (the paper's 'add'
  form, :class:`~workbench.methods.costs.ArchCostTerm`), whose gradient is
  exact. Not built yet: the 'two' mode (pair sampling with the rescale) and
  the multiplicative 'mul#log' loss of the code's default.

Both need a :class:`~workbench.methods.costs.CostModel` over the chain's
choice group (a latency table, FLOPs or parameters: see
:mod:`workbench.spaces.chain.costs`); the presets take it as the ``cost``
option (default: parameters in thousands of the chain's own blocks, so a
search runs without a table). ``cost`` may also be a name, built from the
searcher's space when the search starts: ``"params"``, ``"flops"``, or a
latency table (a shipped name such as ``"proxylessnas_pixel1"`` or a path;
:func:`workbench.spaces.chain.lut.cost_model`) -- a name is plain JSON, so it
can be given as a method option on the command line and recorded in a run
folder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.costs import ArchCostTerm, CostModel
from workbench.methods.presets import Method, darts_v1, register_method
from workbench.methods.relax import GumbelSoft, gumbel_noise
from workbench.spaces.base import masked_softmax

FBNET_FORMS = ("paper", "log_power")


# ------------------------------------------------------------------------ schedules and relaxations
@dataclass(frozen=True)
class FbnetTau:
    """FBNet's temperature: tau0 * exp(-decay * t), t = epochs since architecture updates began (>= 0)."""

    tau0: float = 5.0
    decay: float = 0.045
    start_epoch: int = 0

    def __post_init__(self) -> None:
        if not (self.tau0 > 0 and self.decay >= 0 and self.start_epoch >= 0):
            raise ValueError(f"FBNet temperature needs tau0 > 0, decay >= 0, start_epoch >= 0; got {self}")

    def __call__(self, epoch: int, epochs: int) -> float:
        return self.tau0 * math.exp(-self.decay * max(epoch - self.start_epoch, 0))


def sample_one_hot(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """One option per row drawn from the rows of ``p`` (Gumbel-max on the CPU generator; exact sampling)."""
    logp = torch.log(p.detach().double().clamp_min(0))
    g = gumbel_noise(p.shape, generator, logp)
    return F.one_hot((logp + g).argmax(-1), p.shape[-1]).to(p.dtype)


@dataclass(frozen=True)
class BinaryGates:
    """ProxylessNAS's weight-step relaxation: one sampled path per row (gate 1), only it computed.

    In evaluation (``ctx.training`` False) the most probable path of each row.
    """

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        p = masked_softmax(alpha, mask)
        if ctx.training:
            g = sample_one_hot(p, ctx.generator)
        else:
            g = F.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
        return g, g.bool().cpu().numpy()


# ------------------------------------------------------------------------ estimators
def binary_gate_gradient(grad_g: Tensor, p: Tensor) -> Tensor:
    """dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - sum_j p_j dL/dg_j), row by row."""
    return p * (grad_g - (p * grad_g).sum(-1, keepdim=True))


def proxyless_gradient(ctx: StepContext) -> ArchGradResult:
    """ProxylessNAS's 'full' mode: sampled gates, every candidate computed, the binary-gate estimator.

    Only the choice groups' alphas get this gradient; other architecture
    parameters (if a space adds any) get zero.
    """
    model = ctx.model
    xv, yv = ctx.batch_v
    gates, active, probs = {}, {}, {}
    for g in model.groups:
        mask = model.op_mask(g.name)
        p = masked_softmax(model.alphas[g.name], mask).detach()
        gates[g.name] = sample_one_hot(p, ctx.generator).requires_grad_(True)
        active[g.name] = mask.cpu().numpy()
        probs[g.name] = p
    out = model(xv, gates, active)
    loss = ctx.loss(out, yv)
    grad_g = torch.autograd.grad(loss, list(gates.values()))
    by_group = {name: binary_gate_gradient(gg, probs[name]) for name, gg in zip(gates, grad_g, strict=True)}
    grads = [by_group.get(_group_of(model, p), torch.zeros_like(p)) for p in ctx.arch_params]
    return ArchGradResult(grads, loss.detach(), out.detach())


def _group_of(model: Any, param: Tensor) -> str | None:
    for name, a in model.alphas.items():
        if a is param:
            return name
    return None


def fbnet_gradient(ctx: StepContext, *, cost: CostModel, alpha: float = 0.2, beta: float = 0.6,
                   form: str = "paper", reference: float = 1.0) -> ArchGradResult:
    """Gradient of FBNet's multiplicative loss alpha * CE * log(LAT / reference)^beta under one soft sample."""
    model = ctx.model
    xv, yv = ctx.batch_v
    weights, active = ctx.mixing_weights()
    out = model(xv, weights, active)
    ce = ctx.loss(out, yv)
    lat = cost.expected({g: w for g, w in weights.items() if g in cost.costs})
    log_lat = torch.log(lat / reference)
    if form == "paper":
        if not float(log_lat.detach()) > 0:
            raise ValueError(f"FBNet's paper loss needs log(LAT / reference) > 0, but LAT = {float(lat.detach()):.4g} "
                             f"{cost.unit} with reference {reference}; pass a smaller reference (e.g. the cheapest "
                             f"architecture's {cost.minimum():.4g}) or form='log_power'")
        loss = alpha * ce * log_lat ** beta
    else:
        loss = alpha * beta * ce * log_lat
    grads = torch.autograd.grad(loss, list(ctx.arch_params), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, ctx.arch_params, strict=True)]
    return ArchGradResult(grads, ce.detach(), out.detach(),
                          {"expected_cost": float(lat.detach()), "fbnet_loss": float(loss.detach())})


# ------------------------------------------------------------------------ presets
@dataclass(frozen=True)
class CostFromSpace:
    """A deferred cost model: built from the searcher's space and task when the method is bound (``kind``:
    ``params``, ``flops`` or a latency table's name or path) -- lets a preset run with no table object."""

    kind: str = "params"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"cost must be a CostModel, 'params', 'flops' or a latency table name or path; got "
                             f"{self.kind!r}")
        if self.kind not in ("params", "flops"):
            from workbench.spaces.chain.lut import load_table
            load_table(self.kind)  # fails now, naming the shipped tables, rather than at the first step


def _cost_spec(cost: CostModel | str | None) -> CostModel | CostFromSpace:
    if isinstance(cost, (CostModel, CostFromSpace)):
        return cost
    return CostFromSpace("params" if cost is None else cost)


@dataclass(frozen=True)
class _BuildCostFirst:
    """The ``arch_parameters`` slot of a preset whose cost is a latency table: builds the cost model for the
    searcher's space first, so a table that does not fit the space (e.g. the ProxylessNAS table and e1 blocks)
    fails when the search is built, not at its first architecture step; then the model's own parameters."""

    spec: CostFromSpace

    def __call__(self, model: Any) -> list[Any]:
        _space_cost(model, self.spec.kind)
        return list(model.arch_parameters())


def _arch_params_slot(cost: CostModel | CostFromSpace) -> Any:
    return _BuildCostFirst(cost) if isinstance(cost, CostFromSpace) and cost.kind not in ("params", "flops") else None


def _check_number(name: str, value: Any, low: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= low if strict else value < low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


def fbnet(cost: CostModel | str | None = None, alpha: float = 0.2, beta: float = 0.6, form: str = "paper",
          reference: float | None = None, tau0: float = 5.0, tau_decay: float = 0.045,
          warmup_epochs: int = 2) -> Method:
    """FBNet; ``warmup_epochs`` (weights only) is 10 in the code, 2 by default at CPU scale."""
    if form not in FBNET_FORMS:
        raise ValueError(f"fbnet form must be one of {', '.join(FBNET_FORMS)}, got {form!r}")
    _check_number("alpha", alpha, strict=True)
    _check_number("beta", beta)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be an integer >= 0, got {warmup_epochs!r}")
    cost = _cost_spec(cost)
    ref = 1.0 if reference is None else _check_number("reference", reference, strict=True)
    est = partial(fbnet_gradient, alpha=float(alpha), beta=float(beta), form=form, reference=ref)
    return replace(darts_v1(), name="fbnet", relaxation=GumbelSoft(FbnetTau(tau0, tau_decay, warmup_epochs)),
                   arch_gradient=_bind_cost(est, cost), order="weight_first", arch_start_epoch=warmup_epochs,
                   arch_parameters=_arch_params_slot(cost),
                   paper_defaults={"lr": 0.1, "weight_decay": 1e-4, "arch_lr": 0.01, "arch_weight_decay": 5e-4,
                                   "train_portion": 0.8},
                   options={"alpha": alpha, "beta": beta, "form": form, "reference": reference, "tau0": tau0,
                            "tau_decay": tau_decay, "warmup_epochs": warmup_epochs})


def proxylessnas(cost: CostModel | str | None = None, lam: float = 0.1, warmup_epochs: int = 2) -> Method:
    """ProxylessNAS (binary gates, 'full' mode, additive latency term ``lam * E[LAT]``)."""
    _check_number("lam", lam)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be an integer >= 0, got {warmup_epochs!r}")
    cost = _cost_spec(cost)
    term: Any = (ArchCostTerm(cost, weight=float(lam), name="expected_cost") if isinstance(cost, CostModel)
                 else SpaceCostTerm(cost, float(lam)))
    return replace(darts_v1(), name="proxylessnas", relaxation=BinaryGates(), arch_gradient=proxyless_gradient,
                   arch_loss_terms=(term,), arch_start_epoch=warmup_epochs, arch_parameters=_arch_params_slot(cost),
                   paper_defaults={"lr": 0.025, "weight_decay": 4e-5, "arch_lr": 1e-3, "arch_betas": (0.0, 0.999),
                                   "arch_weight_decay": 0.0},
                   options={"lam": lam, "warmup_epochs": warmup_epochs,
                            "cost": getattr(cost, "name", None) or cost.kind})


def _bind_cost(estimator: Any, cost: CostModel | CostFromSpace) -> Any:
    return partial(estimator, cost=cost) if isinstance(cost, CostModel) else _Deferred(estimator, cost)


@dataclass(frozen=True)
class _Deferred:
    """An estimator whose cost model is built from the model's space on first use (cached per model)."""

    estimator: Any
    spec: CostFromSpace

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        return self.estimator(ctx, cost=_space_cost(ctx.model, self.spec.kind))


@dataclass(frozen=True)
class SpaceCostTerm:
    """``weight * E_p[cost]`` with the cost model built from the model's space (see :class:`CostFromSpace`)."""

    spec: CostFromSpace
    weight: float
    name: str = "expected_cost"

    def __call__(self, ctx: StepContext) -> Tensor:
        cost = _space_cost(ctx.model, self.spec.kind)
        probs = {g.name: ctx.model.probabilities(g.name) for g in ctx.model.groups if g.name in cost.costs}
        return self.weight * cost.expected(probs)


def _space_cost(model: Any, kind: str) -> CostModel:
    """The cost model of ``model``'s space, built once and kept on the model (so it dies with it)."""
    cache = model.__dict__.setdefault("_cost_models", {})
    if kind not in cache:
        if kind in ("params", "flops"):
            from workbench.spaces.chain.costs import block_cost_model
            cache[kind] = block_cost_model(model.space, model.input_shape, kind)
        else:
            from workbench.spaces.chain.lut import cost_model
            cache[kind] = cost_model(kind, model.space, input_shape=model.input_shape)
    return cache[kind]


register_method("fbnet", fbnet)
register_method("proxylessnas", proxylessnas)

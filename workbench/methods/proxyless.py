"""ProxylessNAS on a chain space (Cai, Zhu, Han, ICLR 2019, Sec. 3.2 and 3.3; ``mit-han-lab/proxylessnas``
``search/modules/mix_op.py``, ``nas_manager.py``; ALGORITHMS.md §7.4, SEEDS_2.md §4.2-4.3).

Binary gates. The weight step samples one path per layer from p = softmax(alpha)
and runs only it (:class:`BinaryGates`). The architecture step samples gates g
again and uses the BinaryConnect-style estimator

    dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i),   dL/dg_j = <dL/dout, o_j(x)>,

which equals the gradient of the exact expectation E_p[L] only when L is linear
in the layer output; otherwise it is biased (SEEDS_2.md §4.3; the tests
document both). Modes of the architecture step (``mode``):

* ``"full"``: every candidate runs in the forward pass (memory grows with them);
* ``"full_v2"`` (the code's default): only the sampled candidate runs forward;
  the backward pass recomputes the others one at a time without a graph to get
  dL/dg_j (:class:`_GateMix`), so memory stays that of one path. Same gradient
  as ``"full"`` (tested); needs the chain space's supernet;
* ``"two"``: per layer, two distinct candidates are drawn from p without
  replacement, p' = softmax(alpha over the pair), the active one is drawn
  from p'; the estimator uses p' and touches only the pair's alphas, and after
  the optimizer step the pair is shifted by
  ``log(sum_pair exp(alpha_new) / sum_pair exp(alpha_old))`` so the
  probabilities of the unsampled candidates are unchanged
  (:class:`PairRescaleAdam`, the ``arch_optimizer`` slot). The code's
  optimizer (Adam betas (0, 0.999), weight decay 0) moves nothing outside the
  pair; with other settings the entries outside the pair are restored after the
  step (the code updates "only the two alpha entries involved").

Loss (``loss``):

* ``"add"`` (the paper): CE + lam * E[LAT], E[LAT] = sum_layers sum_j p_j F_j
  with the exact gradient dE/dp_j = F_j; with a ``budget``, lam * max(E[LAT] -
  budget, 0) (a budget below the cheapest architecture is refused, naming the
  minimum). In ``"two"`` mode E[LAT] uses p' on the pair and 0 elsewhere
  (the code's ``current_prob_over_ops``);
* ``"mul#log"`` (the code's default): alpha_r * CE * (log E[LAT] / log ref)^beta_r
  (code defaults alpha_r 0.2, beta_r 0.3; ref the target latency, 80 ms
  there). Here ``reference`` defaults to the budget if one is given, else the
  expected cost of the uniform architecture; E and ref must exceed 1 in the
  cost's unit (else log changes sign and the loss would reward cost).

Deviations: the code skips an edge's update when the sampled op is Zero (its
mixed op is then not even run); here every layer's gates get their gradient.
The code's arch step comes every 5th iteration after a 40-epoch warm-up; here
one per step after ``warmup_epochs``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.costs import CostModel
from workbench.methods.hardware_options import LOSSES, MODES  # noqa: F401  (defined torch-free)
from workbench.methods.presets import Method, darts_v1, preset
from workbench.methods.relax import gumbel_noise
from workbench.methods.space_costs import (
    CostSourced,
    CostSpec,
    arch_params_slot,
    cost_name,
    cost_spec,
    cost_term,
    derive_rule,
    space_cost,
)
from workbench.spaces.base import host_mask, masked_softmax


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


def binary_gate_gradient(grad_g: Tensor, p: Tensor) -> Tensor:
    """dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - sum_j p_j dL/dg_j), row by row."""
    return p * (grad_g - (p * grad_g).sum(-1, keepdim=True))


def sample_pairs(alpha: Tensor, mask: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    """'two' mode: per row two distinct enabled options drawn from p = softmax(alpha) without replacement, and
    the active one drawn from p' = softmax(alpha over the pair). Returns (pair mask, one-hot gates, p') with p'
    on the pair and 0 elsewhere, differentiable in ``alpha``. A row with one enabled option is its own pair."""
    p = masked_softmax(alpha, mask).detach().double().cpu()
    pair = torch.zeros(alpha.shape, dtype=torch.bool)
    for i in range(alpha.shape[0]):
        k = min(2, int((p[i] > 0).sum()))
        pair[i, torch.multinomial(p[i], k, replacement=False, generator=generator)] = True
    pair = pair.to(alpha.device)
    p_pair = masked_softmax(alpha, pair & mask)
    gates = sample_one_hot(p_pair, generator)
    return pair & mask, gates, p_pair


class _GateMix(torch.autograd.Function):
    """sum_j g_j o_j(h) with only the sampled o_a computed forward ('full_v2'): the backward pass gives
    dL/dg_j = <dL/dout, o_j(h)>, recomputing the other candidates one at a time without a graph."""

    @staticmethod
    def forward(ctx: Any, gates: Tensor, y: Tensor, h: Tensor, fns: tuple[Any, ...], a: int) -> Tensor:
        ctx.save_for_backward(gates, y, h)
        ctx.fns, ctx.a = fns, a
        return gates[a] * y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        gates, y, h = ctx.saved_tensors
        grad_g = torch.zeros_like(gates)
        with torch.no_grad():
            for j, fn in enumerate(ctx.fns):
                if fn is not None:
                    grad_g[j] = ((y if j == ctx.a else fn(h)) * grad).sum()
        return grad_g, grad * gates[ctx.a], None, None, None


def gated_forward(model: Any, x: Tensor, gates: Tensor, mask: np.ndarray) -> Tensor:
    """The chain supernet's forward pass in 'full_v2' mode (only the sampled block of each layer runs forward)."""
    from workbench.spaces.chain.space import ChainSupernet
    if not isinstance(model, ChainSupernet):
        raise ValueError(f"ProxylessNAS mode 'full_v2' needs the chain space's supernet, got {type(model).__name__}; "
                         "use mode='full' (every candidate computed) on other spaces")
    picks = gates.detach().argmax(-1).tolist()
    h = model.stem(x)
    for i, (p, layer) in enumerate(zip(model.plan, model.layers, strict=True)):
        fns = tuple(cast(nn.ModuleDict, layer)[b] if b != "skip" and mask[i, j] else None
                    for j, b in enumerate(model.space.blocks))
        a = picks[i]
        y = fns[a](h) if fns[a] is not None else torch.zeros_like(h)
        out = _GateMix.apply(gates[i], y, h, fns, a)
        h = h + out if p.shortcut else out
    return model.classifier(h.mean((2, 3)))


@dataclass(frozen=True)
class ProxylessGradient(CostSourced):
    """The architecture-gradient slot: sampled gates, the binary-gate estimator, and (for 'two' mode or the
    'mul#log' loss) the cost inside the loss; with 'add' in 'full'/'full_v2' the cost is an additive term."""

    source: CostSpec
    mode: str = "full_v2"
    loss: str = "add"
    lam: float = 0.0
    budget: float | None = None
    alpha_r: float = 0.2
    beta_r: float = 0.3
    reference: float | None = None

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        model = ctx.model
        assert ctx.batch_v is not None
        xv, yv = ctx.batch_v
        cost = space_cost(model, self.source)
        gates, active, p_est, p_cost = {}, {}, {}, {}
        for g in model.groups:
            alpha, mask = model.alphas[g.name], model.op_mask(g.name)
            if self.mode == "two":
                pair, gate, p_pair = sample_pairs(alpha, mask, ctx.generator)
                active[g.name], p_cost[g.name] = pair.cpu().numpy(), p_pair
            else:
                p_cost[g.name] = masked_softmax(alpha, mask)
                gate = sample_one_hot(p_cost[g.name], ctx.generator)
                active[g.name] = host_mask(mask)
            gates[g.name] = gate.requires_grad_(True)
            p_est[g.name] = p_cost[g.name].detach()
        if self.mode == "full_v2":
            name = model.groups[0].name
            out = gated_forward(model, xv, gates[name], active[name])
        else:
            out = model(xv, gates, active)
        ce = ctx.loss(out, yv)
        priced = {k: v for k, v in p_cost.items() if k in cost.costs}
        expected = cost.expected(priced)
        extras: dict[str, Any] = {"expected_cost": expected.detach()}
        if self.loss == "mul#log":
            ref = self.reference_for(cost)
            ratio = torch.log(expected) / math.log(ref)
            if not float(expected.detach()) > 1:
                raise ValueError(f"ProxylessNAS's 'mul#log' loss needs E[cost] > 1 (log > 0), but E = "
                                 f"{float(expected.detach()):.4g} {cost.unit}; use a cost in smaller units or "
                                 "loss='add'")
            total = self.alpha_r * ce * ratio ** self.beta_r
            extras["proxyless_loss"] = total.detach()
        elif self.mode == "two":
            e = expected if self.budget is None else torch.relu(expected - self.budget)
            total = ce + self.lam * e
        else:
            total = ce  # the additive cost is an arch_loss_terms entry (exact gradient)
        names = list(gates)
        alphas = [model.alphas[n] for n in names]
        grads = torch.autograd.grad(total, [gates[n] for n in names] + alphas, allow_unused=True)
        by_group = {}
        for k, n in enumerate(names):
            est = binary_gate_gradient(grads[k], p_est[n])
            direct = grads[len(names) + k]
            by_group[n] = est if direct is None else est + direct
        out_grads = [next((by_group[n] for n in names if model.alphas[n] is p), torch.zeros_like(p))
                     for p in ctx.arch_params]
        return ArchGradResult(out_grads, ce.detach(), out.detach(), extras)

    def reference_for(self, cost: CostModel) -> float:
        """'mul#log''s ref: the option, else the budget, else the uniform architecture's expected cost."""
        if self.reference is not None:
            ref = self.reference
        elif self.budget is not None:
            ref = self.budget
        else:
            ref = sum(float((np.where(a, c, 0).sum(1) / a.sum(1)).sum())
                      for c, a in ((np.asarray(cost.costs[g]), _allowed(cost, g)) for g in cost.costs))
        if not ref > 1:
            raise ValueError(f"ProxylessNAS's 'mul#log' loss needs a reference > 1 {cost.unit} (log ref > 0), got "
                             f"{ref:.4g}; pass reference=")
        return ref


def _allowed(cost: CostModel, group: str) -> np.ndarray:
    allowed: Mapping[str, np.ndarray] | None = getattr(cost, "allowed", None)
    c = np.asarray(cost.costs[group])
    return np.ones(c.shape, dtype=bool) if not allowed or group not in allowed else np.asarray(allowed[group], bool)


class PairRescaleAdam(torch.optim.Adam):
    """Adam whose step moves only the entries with a nonzero gradient (the sampled pair of each row), then
    shifts them by log(sum_pair exp(new) / sum_pair exp(old)): the other options' probabilities are unchanged."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        before = [(p, p.detach().clone(), p.grad != 0) for group in self.param_groups for p in group["params"]
                  if p.grad is not None]
        loss = super().step(closure)
        for p, old, inv in before:
            new = torch.where(inv, p, old)
            off = (torch.logsumexp(new.masked_fill(~inv, -math.inf), -1, keepdim=True)
                   - torch.logsumexp(old.masked_fill(~inv, -math.inf), -1, keepdim=True))
            off = torch.where(inv.any(-1, keepdim=True), off, torch.zeros_like(off))
            p.copy_(torch.where(inv, new - off, new))
        return loss


def pair_rescale_adam(params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
    """The ``arch_optimizer`` slot of 'two' mode: :class:`PairRescaleAdam` with the config's arch settings."""
    return PairRescaleAdam(params, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay)


@preset("proxylessnas")
def proxylessnas(o: dict[str, Any]) -> Method:
    """ProxylessNAS: binary gates (``mode`` full / full_v2 / two), loss ``add`` (CE + lam * E[LAT], hinged at
    ``budget``) or ``mul#log`` (alpha_r * CE * (log E[LAT] / log reference)^beta_r). ``derive``: ``"paper"``
    (argmax) or ``"budget"`` (the most probable architecture in [(1 - budget_tol) budget, budget]; the default
    when a budget is set; :mod:`workbench.spaces.chain.budget`). Options checked, paper's and CPU-scale
    settings: :func:`workbench.methods.hardware_options.proxylessnas`."""
    source = cost_spec(o["cost"])
    mode, loss, budget = o["mode"], o["loss"], o["budget"]
    decoder = derive_rule(o["derive"], source, budget, o["budget_tol"], "proxylessnas")
    est = ProxylessGradient(source, mode, loss, float(o["lam"]), budget, float(o["alpha_r"]), float(o["beta_r"]),
                            o["reference"])
    terms: tuple[Any, ...] = ()
    if loss == "add" and mode != "two":
        terms = (cost_term(source, float(o["lam"]), budget, name="cost_term"),)
    return replace(darts_v1(), name="proxylessnas", spaces=("chain",), relaxation=BinaryGates(), arch_gradient=est,
                   arch_loss_terms=terms, arch_start_epoch=o["warmup_epochs"],
                   arch_parameters=arch_params_slot(source, budget), model_rule=decoder,
                   arch_optimizer=pair_rescale_adam if mode == "two" else darts_v1().arch_optimizer,
                   options={**o, "cost": cost_name(source)})

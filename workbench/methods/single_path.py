"""Single-Path NAS on the chain space (Stamoulis et al., "Single-Path NAS: Designing Hardware-Efficient ConvNets
in less than 4 Hours", arXiv 1904.02877, Sec. 3: the runtime model and the loss; code
``nas-search/superkernel.py``, ``search_main.py``; ALGORITHMS.md §8.1, SEEDS_2.md §4.2-4.5).

The preset ``single-path`` is a composition of slots:

* ``supernet_settings={"superkernel": True}``: the chain space builds one
  superkernel MBConv per layer with three learned thresholds
  (:mod:`workbench.spaces.chain.superkernel`: hard indicators forward, sigmoid
  gradients backward); the architecture parameters are the thresholds;
* the runtime model as a differentiable cost of the indicators, per layer

      R_l = d50 * (R50c + d100 * (R100c - R50c)) * (rho + (1 - rho) * d5),   rho = R3x3 / R5x5,

  with R50c the cost of (large kernel, small expansion) = ``k5_e3``, R100c =
  R5x5 that of ``k5_e6`` and R3x3 that of ``k3_e6``, read per layer from any
  cost table of the chain (a latency table, FLOPs, parameters), and
  R_total = ``fixed_cost`` + sum_l R_l (the code adds a constant 19.5999 ms for
  the fixed layers; the chain tables price the searchable layers only, so 0 by
  default). The formula is exact for k5_e6, k5_e3, k3_e6 and skip (0) and
  approximates k3_e3 by R50c * rho (:class:`RuntimeModel`; tested for all 8
  indicator combinations);
* the loss CE + lam * log(R_total), trained jointly (single level):
  the thresholds get d(CE + lam log R)/dt on the *training* batch
  (:func:`workbench.methods.arch_grad.single_level` plus the arch-loss term
  :class:`RuntimeTerm`), and the weights get the same term as a weight-loss
  term (through the indicators, the kernel norms feel it too, as in the
  code's one optimizer). lam(t) = 0 during ``warmup_epochs`` (the code: 6255
  steps); the code's 1e3 factor on the term is absorbed into ``lam``. With a
  ``budget`` B the term is lam * max(log R - log B, 0): no pressure once the
  derived architecture's runtime is within the budget (a budget below the
  cheapest architecture the superkernel can express is refused, naming it);
* the threshold optimizer (``arch_optimizer`` slot): Adam at ``threshold_lr``
  (``None``: the config's ``arch_lr``), no weight decay. Deviation: the code
  trains weights and thresholds with one RMSProp (lr 0.016 per 256 images);
  here they are two updates on the same training batch, thresholds first;
* decoding: the chain space's rule ``"indicators"`` (each indicator's mode),
  a :class:`~workbench.spaces.base.Choices` the chain space compiles.

Unverified in the spec and decided here: the indicator dropout (keep_prob 0.6
during warm-up, TF1 semantics) is not implemented; weight decay does not
apply to the thresholds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.methods import arch_grad
from workbench.methods.context import ArchGradResult, Batch, StepContext
from workbench.methods.costs import CostModel
from workbench.methods.presets import Method, darts_v1, preset
from workbench.methods.space_costs import (
    CostFromSpace,
    CostSourced,
    CostSpec,
    cost_name,
    cost_spec,
    derive_rule,
    space_cost,
)
from workbench.spaces.chain.superkernel import (
    EXPAND,
    KERNEL,
    SKIP,
    SuperkernelPlan,
    superkernel_plan,
)


@dataclass(frozen=True)
class RuntimeModel:
    """Single-Path's runtime model of a chain: per layer R50c, R100c (= R5x5), R3x3, plus a fixed cost."""

    r50: np.ndarray
    r100: np.ndarray
    r3: np.ndarray
    fixed: float = 0.0
    unit: str = "ms"
    skippable: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not (len(self.r50) == len(self.r100) == len(self.r3)) or (np.asarray(self.r100) <= 0).any():
            raise ValueError("the runtime model needs, for every layer, R50c, R3x3 >= 0 and R5x5 = R100c > 0")

    @classmethod
    def from_cost(cls, cost: CostModel, group: str, options: tuple[str, ...], plan: SuperkernelPlan,
                  skippable: tuple[bool, ...], fixed: float = 0.0) -> RuntimeModel:
        """Read R50c = cost(k_large, e_small), R100c = cost(k_large, e_large), R3x3 = cost(k_small, e_large)."""
        c = np.asarray(cost.costs[group], dtype=np.float64)
        col = {o: i for i, o in enumerate(options)}
        r100 = c[:, col[plan.block(True, True)]]
        if (r100 <= 0).any():
            raise ValueError(f"cost model {cost.name!r} gives {plan.block(True, True)} a cost of 0 on layer(s) "
                             f"{np.flatnonzero(r100 <= 0).tolist()}; Single-Path's runtime model divides by it")
        return cls(c[:, col[plan.block(True, False)]], r100, c[:, col[plan.block(False, True)]], float(fixed),
                   cost.unit, tuple(skippable))

    def layers(self, d: Tensor) -> Tensor:
        """R_l for (layers x 3) indicators d (columns d5, d50, d100); differentiable."""
        r50, r100, r3 = (torch.as_tensor(v, dtype=d.dtype, device=d.device) for v in (self.r50, self.r100, self.r3))
        rho = r3 / r100
        d5, d50, d100 = d[:, KERNEL], d[:, SKIP], d[:, EXPAND]
        return d50 * (r50 + d100 * (r100 - r50)) * (rho + (1 - rho) * d5)

    def total(self, d: Tensor) -> Tensor:
        return self.fixed + self.layers(d).sum()

    def minimum(self) -> float:
        """The cheapest architecture the superkernel can express: skip where legal, else the cheapest of the 4."""
        best = 0.0
        for i in range(len(self.r100)):
            if self.skippable and self.skippable[i]:
                continue
            rho = self.r3[i] / self.r100[i]
            best += min(self.r50[i] * rho, self.r100[i] * rho, self.r50[i], self.r100[i])
        return self.fixed + best


def runtime_model(model: Any, spec: CostSpec, fixed: float = 0.0) -> RuntimeModel:
    """The runtime model of ``model``'s superkernels from the cost ``spec`` (built once, kept on the model)."""
    from workbench.spaces.chain.superkernel import SuperkernelSupernet
    if not isinstance(model, SuperkernelSupernet):
        raise ValueError(f"single-path needs the chain space's superkernel supernet, got {type(model).__name__} "
                         "(search the 'chain' space; the preset asks it for superkernel=True)")
    key = (spec.kind if isinstance(spec, CostFromSpace) else id(spec), fixed)
    cache = model.__dict__.setdefault("_runtime_models", {})
    if key not in cache:
        cost = space_cost(model, spec)
        g = model.groups[0]
        cache[key] = RuntimeModel.from_cost(cost, g.name, g.options, superkernel_plan(model.space.blocks),
                                            tuple(p.shortcut for p in model.plan), fixed)
    return cache[key]


def _check_budget(rt: RuntimeModel, budget: float | None) -> None:
    if budget is not None and not budget >= rt.minimum() - 1e-12:
        raise ValueError(f"budget {budget:g} {rt.unit} is below the cheapest architecture's runtime "
                         f"({rt.minimum():.4g} {rt.unit}, Single-Path's runtime model: skip where legal, else the "
                         "cheapest superkernel block); choose a budget >= that")


@dataclass(frozen=True)
class RuntimeLoss(CostSourced):
    """lam(t) * log(R_total) (hinged at log ``budget``) of the model's current indicators; lam(t) = 0 during
    ``warmup_epochs``. Called as an arch-loss term ``(ctx)`` and as a weight-loss term ``(ctx, output, batch)``."""

    source: CostSpec
    lam: float = 0.1
    budget: float | None = None
    warmup_epochs: int = 0
    fixed_cost: float = 0.0
    name: str = "runtime_term"

    def runtime(self, model: Any) -> Tensor:
        return runtime_model(model, self.source, self.fixed_cost).total(model.indicators())

    def __call__(self, ctx: StepContext, output: Tensor | None = None, batch: Batch | None = None) -> Tensor:
        lam = 0.0 if ctx.epoch < self.warmup_epochs else self.lam
        log_r = torch.log(self.runtime(ctx.model))
        if self.budget is not None:
            log_r = torch.relu(log_r - math.log(self.budget))
        return lam * log_r


@dataclass(frozen=True)
class SinglePathGradient:
    """The single-level threshold gradient of the CE (training batch), reporting the runtime R_total."""

    term: RuntimeLoss

    @property
    def cost(self) -> CostModel | None:
        return self.term.cost

    @property
    def spec(self) -> CostFromSpace | None:
        return self.term.spec

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        res = arch_grad.single_level(ctx)
        with torch.no_grad():
            res.extras["expected_cost"] = self.term.runtime(ctx.model)
        return res


@dataclass(frozen=True)
class ThresholdAdam:
    """The ``arch_optimizer`` slot: Adam on the thresholds at ``lr`` (None: the config's arch_lr), no decay."""

    lr: float | None = None

    def __call__(self, params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=config.arch_lr if self.lr is None else self.lr, betas=config.arch_betas,
                                weight_decay=0.0)


@dataclass(frozen=True)
class _BuildRuntimeFirst:
    """The ``arch_parameters`` slot: builds the runtime model for the searcher's supernet (refusing a space the
    superkernel cannot encode, a cost table without a price for R5x5, a budget below the cheapest), then
    returns the thresholds."""

    term: RuntimeLoss

    def __call__(self, model: Any) -> list[Any]:
        _check_budget(runtime_model(model, self.term.source, self.term.fixed_cost), self.term.budget)
        return list(model.arch_parameters())


@preset("single-path")
def single_path(o: dict[str, Any]) -> Method:
    """Single-Path NAS: superkernels with learned thresholds, loss CE + lam * log(R) (hinged at ``budget``).
    ``derive``: ``"paper"`` (the hard indicators) or ``"budget"`` (the most probable architecture under the
    indicators' marginals in [(1 - budget_tol) budget, budget]; the default when a budget is set). Options
    checked, paper's and CPU-scale settings: :func:`workbench.methods.hardware_options.single_path`."""
    source = cost_spec(o["cost"])
    decoder = derive_rule(o["derive"], source, o["budget"], o["budget_tol"], "single-path")
    term = RuntimeLoss(source, float(o["lam"]), o["budget"], o["warmup_epochs"], float(o["fixed_cost"]))
    return replace(darts_v1(), name="single-path", spaces=("chain",), arch_gradient=SinglePathGradient(term),
                   arch_loss_terms=(term,), weight_loss_terms=(term,), supernet_settings={"superkernel": True},
                   genotype_rule="indicators", arch_optimizer=ThresholdAdam(o["threshold_lr"]),
                   arch_parameters=_BuildRuntimeFirst(term), model_rule=decoder,
                   options={**o, "cost": cost_name(source)})

"""Cost models named by the hardware-aware presets and built from the searcher's space (FBNet, Wu et al. CVPR
2019, Eq. 5; ProxylessNAS, Cai et al. ICLR 2019, Eq. 5; Single-Path NAS, Stamoulis et al. 2019, Eq. 6).

A preset's ``cost`` option is a :class:`~workbench.methods.costs.CostModel`
or a *name*: ``"params"``, ``"flops"``, or a latency table (a shipped name
such as ``"proxylessnas_pixel1"`` or a path;
:func:`workbench.spaces.chain.lut.cost_model`). A name is plain JSON, so it
can be given on the command line and recorded in a run folder; the cost model
is built from the searcher's space and task when the search is built
(:class:`BuildCostFirst`, the ``arch_parameters`` slot, so a table that does
not fit the space or a budget below the cheapest architecture fails then, not
at the first architecture step) and kept on the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import Tensor

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.costs import ArchCostTerm, CostModel
from workbench.methods.hardware_options import check_derive


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


CostSpec = CostModel | CostFromSpace


class CostSourced:
    """Mixin for a slot holding its cost as ``source`` (a table, or a spec the space builds): which one it is."""

    source: CostSpec

    @property
    def cost(self) -> CostModel | None:
        return self.source if isinstance(self.source, CostModel) else None

    @property
    def spec(self) -> CostFromSpace | None:
        return self.source if isinstance(self.source, CostFromSpace) else None


def cost_spec(cost: CostModel | str | None) -> CostSpec:
    """A preset's ``cost`` option as a cost model or a deferred one (None: parameters)."""
    if isinstance(cost, (CostModel, CostFromSpace)):
        return cost
    return CostFromSpace("params" if cost is None else cost)


def cost_name(cost: CostSpec) -> str:
    """What a preset records as its ``cost`` option."""
    return cost.kind if isinstance(cost, CostFromSpace) else cost.name


def space_cost(model: Any, spec: CostSpec) -> CostModel:
    """The cost model of ``spec`` for ``model``'s space, built once and kept on the model (so it dies with it)."""
    if isinstance(spec, CostModel):
        return spec
    kind = spec.kind
    cache = model.__dict__.setdefault("_cost_models", {})
    if kind not in cache:
        if kind in ("params", "flops"):
            from workbench.spaces.chain.costs import block_cost_model
            cache[kind] = block_cost_model(model.space, model.input_shape, kind)
        else:
            from workbench.spaces.chain.lut import cost_model
            cache[kind] = cost_model(kind, model.space, input_shape=model.input_shape)
    return cache[kind]


def check_budget(cost: CostModel, budget: float | None) -> None:
    """Refuse a budget below the cheapest legal architecture's cost, naming that minimum."""
    if budget is not None:
        ArchCostTerm(cost, budget=budget)  # its check names the minimum and the unit


@dataclass(frozen=True)
class BuildCostFirst:
    """An ``arch_parameters`` slot that builds the preset's cost model for the searcher's space first (and
    checks the budget against it), then returns the model's own architecture parameters."""

    spec: CostSpec
    budget: float | None = None

    def __call__(self, model: Any) -> list[Any]:
        check_budget(space_cost(model, self.spec), self.budget)
        return list(model.arch_parameters())


def arch_params_slot(cost: CostSpec, budget: float | None = None) -> Any:
    """The ``arch_parameters`` slot a preset needs: None where nothing has to be built or checked early."""
    if isinstance(cost, CostModel):
        check_budget(cost, budget)  # a cost model given as an object is checked when the preset is made
        return None
    if budget is None and cost.kind in ("params", "flops"):
        return None
    return BuildCostFirst(cost, budget)


def bind_cost(estimator: Any, cost: CostSpec) -> Any:
    """``estimator(ctx, cost=...)`` with the cost bound now (a CostModel) or on first use (a deferred one)."""
    return partial(estimator, cost=cost) if isinstance(cost, CostModel) else Deferred(estimator, cost)


@dataclass(frozen=True)
class Deferred:
    """An estimator whose cost model is built from the model's space on first use (cached per model)."""

    estimator: Any
    spec: CostFromSpace

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        return self.estimator(ctx, cost=space_cost(ctx.model, self.spec))


@dataclass(frozen=True)
class SpaceCostTerm:
    """``weight * E_p[cost]`` (or ``weight * max(E_p[cost] - budget, 0)``) with the cost model built from the
    model's space (see :class:`CostFromSpace`)."""

    spec: CostFromSpace
    weight: float
    budget: float | None = None
    name: str = "expected_cost"

    def __call__(self, ctx: StepContext) -> Tensor:
        cost = space_cost(ctx.model, self.spec)
        return ArchCostTerm(cost, self.weight, self.budget, self.name)(ctx)


def cost_term(cost: CostSpec, weight: float, budget: float | None = None, name: str = "expected_cost") -> Any:
    """The additive term ``weight * E[cost]`` (hinged at ``budget``) for a cost model or a deferred one."""
    if isinstance(cost, CostModel):
        return ArchCostTerm(cost, weight=weight, budget=budget, name=name)
    return SpaceCostTerm(cost, weight, budget, name)



@dataclass(frozen=True)
class BudgetDecode:
    """The ``model_rule`` slot of a preset with ``derive="budget"``: the chain space's budget decoding rule
    (:mod:`workbench.spaces.chain.budget`: the most probable architecture whose table cost lies in
    [(1 - tol) budget, budget]) with the search's own cost table, built once the supernet exists."""

    spec: CostSpec
    budget: float
    tol: float = 0.1

    def __call__(self, model: Any) -> str:
        from workbench.spaces.chain.budget import BudgetRule
        cost = space_cost(model, self.spec)
        g = model.groups[0]
        return BudgetRule.of(cost.costs[g.name], self.budget, self.tol, cost.unit).to_rule()


def derive_rule(derive: str | None, cost: CostSpec, budget: float | None, tol: float, method: str) -> Any:
    """The ``model_rule`` slot for a preset's ``derive`` option (None: "budget" when a budget is set, else the
    paper's rule); refuses "budget" without a budget."""
    check_derive(derive, budget, tol, method)
    if derive == "paper" or (derive is None and budget is None):
        return None
    assert budget is not None  # check_derive refused derive="budget" without one
    return BudgetDecode(cost, float(budget), float(tol))

"""Hardware-aware searches seen from the application layer: their cost model, sampled points, the budget knob.

What the hardware views (:mod:`widgets.views.hardware`), notebook 09 and the
``export`` command share, none of it UI:

* :func:`searcher_cost` / :func:`history_cost` -- the cost model a search
  prices its architectures with (the method's own, else the one its
  ``cost`` option names, else parameters: the presets' default);
* :func:`expected_costs` and :func:`arch_cost` -- E[cost] of the relaxed
  architecture (sum of p * c) and the cost of a discrete one;
* :func:`sample_points` -- architectures sampled from the current
  probabilities, each scored by the supernet (its shared weights, eval-mode
  BatchNorm, on the architecture split) and priced by the cost model: the
  points of a latency-accuracy Pareto plot. Nothing of the search changes
  (no gradient, no BatchNorm statistics, its own random generator);
* :func:`target_option` -- which method option a budget knob turns: a
  ``budget`` where the preset takes one, else its cost weight (FBNet's
  ``beta``, ProxylessNAS's ``lam``, ...).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workbench.methods.costs import CostModel
from workbench.spaces.base import Choices

log = logging.getLogger(__name__)

__all__ = ["ArchPoint", "Target", "cost_model_for", "method_cost_spec", "searcher_cost", "history_cost",
           "expected_costs", "arch_cost", "layer_costs", "sample_points", "evaluate_in_supernet",
           "target_option", "WEIGHT_OPTIONS"]

#: Method options read as "the cost weight" when a preset takes no ``budget`` (first match wins).
WEIGHT_OPTIONS = ("lam", "lambda", "lambda_", "beta", "cost_weight", "weight")


# ------------------------------------------------------------------------------------------ cost models
def method_cost_spec(method: Any) -> CostModel | str | None:
    """The cost a method's slots carry: a :class:`CostModel`, a deferred cost's name (``"params"``, a table), or
    None. Looks at the architecture-gradient slot (a bound ``cost`` keyword or a deferred ``spec``) and the
    architecture loss terms (their ``cost`` or ``spec``)."""
    slots = [getattr(method, "arch_gradient", None), *tuple(getattr(method, "arch_loss_terms", ()) or ())]
    for slot in slots:
        if slot is None:
            continue
        cost = (getattr(slot, "keywords", None) or {}).get("cost", getattr(slot, "cost", None))
        if isinstance(cost, CostModel):
            return cost
        spec = getattr(slot, "spec", None)
        kind = getattr(spec, "kind", None)
        if isinstance(kind, str):
            return kind
    return None


def cost_model_for(space: Any, spec: CostModel | str | None, input_shape: Sequence[int] | None = None) -> CostModel:
    """``spec`` as a cost model of ``space``: a CostModel as is; ``"params"`` (also None), ``"flops"`` or a
    latency table's name or path (``input_shape`` is needed for FLOPs and a measured table's check)."""
    if isinstance(spec, CostModel):
        return spec
    kind = "params" if spec is None else str(spec)
    if kind in ("params", "flops"):
        from workbench.spaces.chain.costs import block_cost_model
        if kind == "flops" and input_shape is None:
            raise ValueError("a FLOPs cost model needs the task's input shape")
        return block_cost_model(space, tuple(input_shape or (1, 8, 8)), kind)
    from workbench.spaces.chain.lut import cost_model
    return cost_model(kind, space, input_shape=None if input_shape is None else tuple(input_shape))


def searcher_cost(searcher: Any) -> CostModel:
    """The cost model ``searcher``'s method prices architectures with (parameters where it names none)."""
    spec = method_cost_spec(searcher.method)
    if spec is None:
        opt = dict(searcher.config.method_options).get("cost")
        spec = opt if isinstance(opt, (str, CostModel)) else None
    return cost_model_for(searcher.space, spec, searcher.task.info.input_shape)


def history_cost(history: Any, input_shape: Sequence[int] | None = None) -> CostModel:
    """The cost model of a recorded search, from the ``cost`` method option in its RunStarted config
    (parameters where it names none; ``input_shape`` for FLOPs or a measured table)."""
    cfg = dict(history.started.config) if history.started is not None else {}
    opt = dict(cfg.get("method_options") or {}).get("cost")
    return cost_model_for(history.space, opt if isinstance(opt, (str, CostModel)) else None, input_shape)


def _only_group(cost: CostModel) -> str:
    names = list(cost.costs)
    if len(names) != 1:
        raise ValueError(f"cost model {cost.name!r} prices {len(names)} groups; the chain views expect one")
    return names[0]


def expected_costs(weights: np.ndarray, cost: CostModel, group: str | None = None) -> np.ndarray:
    """E[cost] = sum over rows and options of p * c, for each of (steps, rows, options) probabilities."""
    g = group or _only_group(cost)
    w = np.asarray(weights, dtype=np.float64)
    c = np.asarray(cost.costs[g], dtype=np.float64)
    if w.shape[-2:] != c.shape:
        raise ValueError(f"probabilities of shape {w.shape[-2:]} do not fit cost table {c.shape} of group {g!r}")
    return (w * c).sum(axis=(-2, -1))


def layer_costs(space: Any, arch: Choices, cost: CostModel) -> list[float]:
    """The cost of each row's pick (a chain: of each layer's block), in the cost model's unit."""
    out: list[float] = []
    for g in space.choice_groups():
        if g.name not in cost.costs:
            continue
        table = np.asarray(cost.costs[g.name], dtype=np.float64)
        out += [float(table[i, g.options.index(op)]) for i, op in enumerate(arch.picks[g.name])]
    return out


def arch_cost(space: Any, arch: Choices, cost: CostModel) -> float:
    """The cost of a discrete architecture: the sum of its picks' costs."""
    return float(sum(layer_costs(space, arch, cost)))


# ------------------------------------------------------------------------------------------ sampled points
@dataclass(frozen=True)
class ArchPoint:
    """One architecture on a latency-accuracy plot: its cost, the supernet's metric for it, and where it came
    from (``kind``: "sampled" from the probabilities, "derived" by the decoding rule, or "previous": a derived
    architecture of an earlier target)."""

    label: str
    cost: float
    metric: float
    kind: str = "sampled"
    step: int = 0
    note: str = ""
    arch: Any = None


def _one_hot(space: Any, arch: Choices, like: torch.Tensor | None = None) -> tuple[dict, dict]:
    weights, active = {}, {}
    for g in space.choice_groups():
        m = np.zeros(g.shape, dtype=bool)
        for i, op in enumerate(arch.picks[g.name]):
            m[i, g.options.index(op)] = True
        dtype = torch.float32 if like is None else like.dtype
        weights[g.name] = torch.as_tensor(m, dtype=dtype)
        active[g.name] = m
    return weights, active


@torch.no_grad()
def evaluate_in_supernet(searcher: Any, arch: Choices, x: torch.Tensor, y: torch.Tensor,
                         batch_size: int = 256) -> dict[str, float]:
    """The task's metrics of ``arch`` run through the supernet's shared weights (one-hot mixing, eval-mode BN)."""
    model = searcher.model
    w, a = _one_hot(searcher.space, arch)
    w = {k: v.to(searcher.device) for k, v in w.items()}
    was = model.training
    model.eval()
    try:
        sums: dict[str, float] = {k: 0.0 for k in searcher.objective.metric_names}
        n = 0
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size].to(searcher.device), y[i:i + batch_size].to(searcher.device)
            out = model(xb, w, a)
            for k, v in searcher.objective.evaluate(out, yb).items():
                sums[k] += float(v) * len(yb)
            n += len(yb)
    finally:
        model.train(was)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _sample(space: Any, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray],
            rng: np.random.Generator) -> Choices:
    picks = {}
    for g in space.choice_groups():
        p = np.where(np.asarray(masks[g.name], dtype=bool), np.asarray(probs[g.name], dtype=np.float64), 0.0)
        p = p / p.sum(axis=1, keepdims=True)
        picks[g.name] = tuple(g.options[int(rng.choice(len(g.options), p=row))] for row in p)
    return Choices(space.name, picks)


def sample_points(searcher: Any, n: int = 24, *, cost: CostModel | None = None, seed: int = 0,
                  max_examples: int = 512, include_derived: bool = True) -> list[ArchPoint]:
    """Up to ``n`` distinct architectures sampled from the current probabilities, plus the derived one.

    Each is priced by ``cost`` (default: :func:`searcher_cost`) and scored by
    the supernet on the first ``max_examples`` examples of the architecture
    split (the one-shot estimate, not a trained network's accuracy). Leaves
    the search untouched: own generator, no gradient, eval-mode BatchNorm.
    """
    if n < 0 or max_examples < 1:
        raise ValueError(f"need n >= 0 and max_examples >= 1, got {n}, {max_examples}")
    cost = searcher_cost(searcher) if cost is None else cost
    space = searcher.space
    x, y = searcher.val_data
    x, y = x[:max_examples], y[:max_examples]
    metric = searcher.objective.primary
    probs, masks = searcher.probabilities(), searcher.masks()
    rng = np.random.default_rng(seed)
    step = int(searcher.step_count)
    seen: set[str] = set()
    points: list[ArchPoint] = []
    derived = searcher.genotype()
    if include_derived:
        seen.add(space.label(derived))
        points.append(ArchPoint(space.label(derived), arch_cost(space, derived, cost),
                                evaluate_in_supernet(searcher, derived, x, y)[metric], "derived", step, arch=derived))
    for _ in range(4 * n):  # a peaked distribution repeats itself: stop after 4n draws
        if sum(p.kind == "sampled" for p in points) >= n:
            break
        arch = _sample(space, probs, masks, rng)
        label = space.label(arch)
        if label in seen:
            continue
        seen.add(label)
        points.append(ArchPoint(label, arch_cost(space, arch, cost), evaluate_in_supernet(searcher, arch, x, y)[metric],
                                "sampled", step, arch=arch))
    return points


# ------------------------------------------------------------------------------------------ the budget knob
@dataclass(frozen=True)
class Target:
    """The method option a budget knob sets: ``kind`` "budget" (a cost, in the cost model's unit) or "weight"
    (the cost term's weight); ``value`` its current setting (None: no budget)."""

    method: str
    option: str
    kind: str
    value: float | None

    @property
    def label(self) -> str:
        return "latency budget" if self.kind == "budget" else f"cost weight {self.option}"


def target_option(method: str, options: Mapping[str, Any] | None = None) -> Target | None:
    """The option of registered ``method`` a budget knob turns (its ``budget``, else its cost weight), with the
    value in ``options`` or the preset's default; None for a method without either."""
    from workbench.methods.presets import method_names, method_options
    if method not in method_names():
        return None
    accepted = method_options(method)
    given = dict(options or {})
    for name in ("budget", *WEIGHT_OPTIONS):
        if name in accepted:
            value = given.get(name, accepted[name])
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return Target(method, name, "budget" if name == "budget" else "weight", float(value) if ok else None)
    return None

"""The hardware-aware panels of the registry (:data:`widgets.panels.PANELS`), for chain spaces.

* ``hw_budget`` (top, live searches): the budget / cost-weight slider that restarts the search;
* ``hw_latency`` (tab): the expected-latency curve; static figure and report card too;
* ``hw_pareto`` (tab, live): the latency-accuracy scatter of sampled architectures;
* ``hw_chain`` (tab, follows the scrubber): the architecture as a chain of blocks with per-layer cost;
  static figure and report card too.

They apply to chain spaces (:func:`widgets.views.hardware.is_chain_space`); the
cost model is the search's own (parameters for a method that names none).
"""
from __future__ import annotations

import logging
from typing import Any

from widgets.figures.hardware import latency_curve
from widgets.figures.hardware_chain import chain_figure
from widgets.views.base import Feed
from widgets.views.hardware import (
    BudgetSlider,
    ChainView,
    LatencyView,
    ParetoView,
    feed_cost,
    feed_target,
    is_chain_space,
)
from workbench.history import History

log = logging.getLogger(__name__)

__all__ = ["hardware_panels"]


def _static_latency(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    if step is None:
        return {}
    feed = Feed(h)
    target = feed_target(feed)
    budget = target.value if target is not None and target.kind == "budget" else None
    return {"latency": latency_curve(h, feed_cost(feed), budget=budget)}


def _static_chain(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    if step is None:
        return {}
    return {"chain": chain_figure(h.space, h.genotype_at(step), feed_cost(Feed(h)), probs=h.weights_at(step),
                                  title=f"Derived architecture · step {step}")}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    h = ctx.history
    if ctx.step is None:
        return []
    feed = Feed(h)
    cost = feed_cost(feed)
    target = feed_target(feed)
    budget = target.value if target is not None and target.kind == "budget" else None
    arch = ctx.arch if ctx.arch is not None else h.genotype_at(ctx.step)
    out = [Section(card("Expected cost", f"E[cost] = Σ p·c of the relaxed architecture at each step (blue), the cost "
                        f"of the architecture derived at that step (orange); cost model: {cost.name} ({cost.unit}).",
                        ctx.figure(latency_curve(h, cost, budget=budget, title=None))))]
    try:
        fig = chain_figure(h.space, arch, cost, probs=h.weights_at(ctx.step), title=None)
    except (ValueError, KeyError) as exc:  # an architecture that does not fit the space (a foreign genotype)
        log.warning("no chain drawing in the report: %s", exc)
        return out
    out.append(Section(card("Architecture as a chain of blocks", "Box width = kernel, height = expansion; dashed "
                            "arcs: identity shortcuts; bars: each layer's predicted cost (they add up to the total).",
                            ctx.figure(fig))))
    return out


def hardware_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [
        Panel("hw_budget", "Latency budget", slot="top", applies=is_chain_space, needs_session=True,
              live=lambda ctx: BudgetSlider(ctx.session)),
        Panel("hw_latency", "Expected latency", applies=is_chain_space,
              live=lambda ctx: LatencyView(ctx.feed, width=ctx.width, **ctx.slow),
              static=_static_latency, report=_report),
        Panel("hw_pareto", "Latency vs {metric}", applies=is_chain_space,
              needs_session=True, live=lambda ctx: ParetoView(ctx.feed, width=ctx.width, **ctx.slow)),
        Panel("hw_chain", "Chain of blocks", applies=is_chain_space, follows_scrubber=True,
              live=lambda ctx: ChainView(ctx.feed, width=ctx.width, **ctx.slow), static=_static_chain),
    ]

"""Search methods as compositions of named slots, never copies of the step loop.

A :class:`Method` fills the slots of the one step skeleton in
:mod:`workbench.search`: the relaxation (alphas -> mixing weights), the
architecture-gradient estimator, an optional perturbation of the weight step,
the order of the two updates, the epoch at which arch updates start, the lr
schedule and the genotype rule. Presets are registered by name:

* ``darts-v1``: first-order DARTS (Liu et al. 2019), arch step first.
* ``darts-v2``: second-order DARTS (unrolled, finite-difference HVP with
  eps = r/||v||, r = 0.01).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Mapping

from . import arch_grad
from .registry import Registry
from .relax import Relaxation, Softmax
from .schedules import cosine_lr


@dataclass(frozen=True)
class Method:
    """The slots of one search step; see the module docstring."""

    name: str
    arch_gradient: Callable[..., arch_grad.ArchGradResult] = arch_grad.first_order
    relaxation: Relaxation = field(default_factory=Softmax)
    perturbation: Any = None  # callable(weights, ctx) -> weights for the weight step (SDARTS); None = off
    order: str = "arch_first"  # or "weight_first" (GDAS)
    arch_start_epoch: int = 0  # PC-DARTS warm-up
    lr_schedule: Callable[[int, int, float, float], float] = cosine_lr
    genotype_rule: str | None = None  # None = the space's rule
    supernet_overrides: Mapping[str, Any] = field(default_factory=dict)  # e.g. PC-DARTS partial_channels=4
    options: Mapping[str, Any] = field(default_factory=dict)

    def with_options(self, **kw: Any) -> "Method":
        return replace(self, **kw)


METHODS: Registry[Callable[..., Method]] = Registry("method")


def darts_v1(**options: Any) -> Method:
    if options:
        raise ValueError(f"darts-v1 takes no options, got {sorted(options)}")
    return Method("darts-v1")


def darts_v2(r: float = 0.01, **options: Any) -> Method:
    if options:
        raise ValueError(f"darts-v2 accepts the option 'r' (HVP eps = r/||v||), got {sorted(options)}")
    if not r > 0:
        raise ValueError(f"darts-v2 needs r > 0, got {r}")
    return Method("darts-v2", arch_gradient=partial(arch_grad.second_order, r=r), options={"r": r})


METHODS.register("darts-v1", darts_v1)
METHODS.register("darts-v2", darts_v2)


def get_method(name: str | Method, options: Mapping[str, Any] | None = None) -> Method:
    """A method by registered name (options are the preset's keyword arguments)."""
    if isinstance(name, Method):
        return name
    return METHODS.get(name)(**dict(options or {}))


def method_names() -> list[str]:
    return METHODS.names()

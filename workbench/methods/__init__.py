"""Search methods: the slots of one step and the presets that fill them.

* :mod:`workbench.methods.context` -- the frozen :class:`StepContext` every slot receives;
* :mod:`workbench.methods.presets` -- :class:`Method` (the slots) and the registered presets;
* :mod:`workbench.methods.relax` -- relaxations (softmax, Gumbel, Max-W);
* :mod:`workbench.methods.arch_grad` -- architecture-gradient estimators (first/second order, single level);
* :mod:`workbench.methods.perturb` -- SDARTS perturbations of the weight step;
* :mod:`workbench.methods.costs` -- cost models and additive loss terms;
* :mod:`workbench.methods.schedules` -- lr, temperature and epsilon schedules.
"""
from __future__ import annotations

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.costs import ArchCostTerm, CostModel
from workbench.methods.presets import (
    METHODS,
    AdaDriver,
    Controller,
    Method,
    ScaledWeightDecay,
    adam,
    cpu_scale_config,
    get_method,
    method_names,
    method_options,
    paper_config,
    register_method,
)

__all__ = [
    "METHODS", "AdaDriver", "ArchCostTerm", "ArchGradResult", "Controller", "CostModel", "Method",
    "ScaledWeightDecay", "StepContext", "adam", "cpu_scale_config", "get_method", "method_names", "method_options", "paper_config",
    "register_method",
]

# presets register where they are defined: importing a family module registers its methods
# (fbnet, proxylessnas; sd-darts; rarts; dass)
from workbench.methods import (  # noqa: E402,F401
    covidnet3d,
    darts_gt,
    dass,
    distill,
    dnis,
    gtn,
    guidance,
    hardware,
    osnet,
    rarts,
)

"""Search methods: the slots of one step and the presets that fill them.

* :mod:`workbench.methods.context` -- the frozen :class:`StepContext` every slot receives;
* :mod:`workbench.methods.presets` -- :class:`Method` (the slots) and the registered presets;
* :mod:`workbench.methods.preset_options` -- every built-in preset's option check and paper's settings
  (torch-free: :mod:`~workbench.methods.preset_spec`, the DARTS family here, the hardware presets in
  :mod:`~workbench.methods.hardware_options`, the others in :mod:`~workbench.methods.family_options`);
* :mod:`workbench.methods.noise` -- sampling noise drawn on the host, also inside a CUDA graph;
* :mod:`workbench.methods.relax` -- relaxations (softmax, Gumbel, Max-W);
* :mod:`workbench.methods.arch_grad` -- architecture-gradient estimators (first/second order, single level);
* :mod:`workbench.methods.perturb` -- SDARTS perturbations of the weight step;
* :mod:`workbench.methods.costs` -- cost models and additive loss terms;
* :mod:`workbench.methods.schedules` -- lr, temperature and epsilon schedules.

The names below are exported lazily (PEP 562), as :mod:`workbench.spaces` exports its own: importing this
package, or :mod:`~workbench.methods.preset_options`, imports no torch (``search --method-option ...
--print-config`` starts fast). Presets register where they are defined: the family modules (:data:`FAMILIES`)
register theirs when imported, and the registry imports them all (:func:`load_families`) before it is first
read, listing them in ``FAMILIES`` order whatever imported a family first.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from workbench.lazy import LazyExports

#: the modules that register presets when imported (sd-darts: distill; proxylessnas, fbnet, single-path: proxyless,
#: hardware, single_path), in the order ``method_names()`` lists their presets
FAMILIES = tuple(f"workbench.methods.{m}" for m in (
    "presets", "covidnet3d", "darts_gt", "dass", "distill", "dnis", "gtn", "guidance", "proxyless", "hardware",
    "single_path", "osnet", "rarts"))

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("ArchGradResult", "StepContext"), "workbench.methods.context"),
    **dict.fromkeys(("ArchCostTerm", "CostModel"), "workbench.methods.costs"),
    **dict.fromkeys(("METHODS", "AdaDriver", "Controller", "Method", "ScaledWeightDecay", "adam", "cpu_scale_config",
                     "get_method", "method_names", "method_options", "paper_config", "register_method"),
                    "workbench.methods.presets"),
}

__all__ = [
    "METHODS", "AdaDriver", "ArchCostTerm", "ArchGradResult", "Controller", "CostModel", "Method",
    "ScaledWeightDecay", "StepContext", "adam", "cpu_scale_config", "get_method", "method_names", "method_options", "paper_config",
    "register_method",
]

_ordered = False  # the built-in presets are listed in FAMILIES order (every family has registered)


def load_families() -> bool:
    """Import every family module (once; :mod:`workbench.methods._families`) and list the built-in presets in
    ``FAMILIES`` order (a family imported directly, before this, registered early); True when complete. A call
    while this thread is importing them returns False at once (a registry read during an import sees what is
    registered so far); another thread waits for them."""
    global _ordered
    if _ordered:
        return True
    if not getattr(importlib.import_module("workbench.methods._families"), "LOADED", False):
        return False
    from workbench.methods.presets import METHODS

    METHODS.sort(_family_rank)
    _ordered = True
    return True


def _family_rank(_name: str, factory: object) -> int:
    """The position in FAMILIES of the module defining ``factory`` (the one registering it); ``len(FAMILIES)``
    (last) for a preset registered elsewhere."""
    module = getattr(factory, "__module__", None)
    return FAMILIES.index(module) if module in FAMILIES else len(FAMILIES)


LazyExports(__name__, _EXPORTS, globals())  # installs the package's __getattr__ / __dir__ (PEP 562)


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager imports)
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

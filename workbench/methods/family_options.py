"""The other built-in presets' options and published settings, without torch: RARTS, DNIS, DASS, SD-DARTS, GTN,
Adaptive Guidance, OSNet-AIN, CovidNet3D and DARTS-GT (each preset is defined, and its paper cited, in its own
module: :mod:`~workbench.methods.rarts`, :mod:`~workbench.methods.dnis`, :mod:`~workbench.methods.dass`,
:mod:`~workbench.methods.distill`, :mod:`~workbench.methods.gtn`, :mod:`~workbench.methods.guidance`,
:mod:`~workbench.methods.osnet`, :mod:`~workbench.methods.covidnet3d`, :mod:`~workbench.methods.darts_gt`).

One :class:`~workbench.methods.preset_spec.PresetSpec` per preset (:data:`SPECS`, found through
:data:`workbench.methods.preset_options.PRESETS`): its option check (type and range, :mod:`workbench.validate`,
the error texts naming the method, the option, the value and what is accepted) returning the options as the
preset records them, and its paper's SearchConfig values; the modules build the presets from these specs.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workbench import validate as V
from workbench.errors import ConfigError
from workbench.methods.preset_spec import DARTS_PAPER, PresetSpec, where
from workbench.spaces.cell.settings import GRANULARITIES, MASK_GRADS

__all__ = ["DARTS_GT_PAPER", "DISTILL_IN", "GRADIENTS", "GUIDANCE_RELAXATIONS", "SOURCES", "SPECS", "VOTINGS",
           "WEIGHT_OPTIMIZERS", "covidnet3d", "darts_gt", "dass", "dnis", "dnis_paper", "gtn", "guidance",
           "osnet_ain", "rarts", "sd_darts"]

#: DNIS's weight optimizers; SD-DARTS's teachers, votes and where it distils; Guidance's relaxations;
#: CovidNet3D's gradients
WEIGHT_OPTIMIZERS = ("adam", "sgd")
SOURCES = ("logit_cache", "snapshots")
VOTINGS = ("soft", "hard", "weighted")
DISTILL_IN = ("weights", "arch", "both")
GUIDANCE_RELAXATIONS = ("sigmoid", "concrete")
GRADIENTS = ("straight_through", "released")
#: the interactions' train split (``workbench.tasks.data.interactions.TRAIN_PORTION``): DNIS's train_portion
INTERACTIONS_TRAIN_PORTION = 7 / 9
#: DARTS-GT's SearchConfig values (``workbench.methods.darts_gt``)
DARTS_GT_PAPER = {"epochs": 20, "batch_size": 16, "lr": 0.05, "lr_min": 0.001, "arch_lr": 4e-2,
                  "arch_weight_decay": 1e-3, "weight_decay": 3e-4, "train_portion": 0.6}


# ------------------------------------------------------------------------ the option checks
def rarts(coupling: float = 1.0, train_weight: float = 1.0, penalty_in_w: bool = True,
          lambda_in_alpha: bool = True, reuse_val_grad: bool = False) -> dict[str, Any]:
    w = where("rarts")
    if not (isinstance(coupling, (int, float)) and not isinstance(coupling, bool) and coupling == math.inf):
        coupling = V.real(coupling, "coupling (beta; inf = one weight copy)", low=0, **w)
    return {"coupling": float(coupling), "train_weight": V.real(train_weight, "train_weight (lambda)", low=0,
                                                                low_open=True, **w),
            "penalty_in_w": V.boolean(penalty_in_w, "penalty_in_w", **w),
            "lambda_in_alpha": V.boolean(lambda_in_alpha, "lambda_in_alpha", **w),
            "reuse_val_grad": V.boolean(reuse_val_grad, "reuse_val_grad", **w)}


def dnis(warm_start_epochs: int = 15, search_lr_factor: float = 0.1, l1: float = 1e-5, grad_norm: bool = True,
         freeze_dense: bool = True, weight_optimizer: str = "adam", init_alpha: float = 1.0) -> dict[str, Any]:
    w = where("dnis")
    return {"warm_start_epochs": V.integer(warm_start_epochs, "warm_start_epochs", low=0, **w),
            "search_lr_factor": V.real(search_lr_factor, "search_lr_factor", low=0, low_open=True, **w),
            "l1": V.real(l1, "l1", low=0, **w), "grad_norm": V.boolean(grad_norm, "grad_norm", **w),
            "freeze_dense": V.boolean(freeze_dense, "freeze_dense", **w),
            "weight_optimizer": V.choice(weight_optimizer, "weight_optimizer", WEIGHT_OPTIMIZERS, **w),
            "init_alpha": V.real(init_alpha, "init_alpha", low=0, high=1, low_open=True, **w)}


def dnis_paper(options: Mapping[str, Any]) -> dict[str, Any]:
    """DNIS's CPU-scale SearchConfig (SEEDS_2 §8.5): the warm start then 40 search epochs."""
    return {"epochs": options["warm_start_epochs"] + 40, "batch_size": 1024, "lr": 1e-2, "arch_lr": 0.01,
            "weight_decay": 0.0, "grad_clip": 0.0, "train_portion": INTERACTIONS_TRAIN_PORTION}


def dass(sparsity: float = 0.9, mask_grad: str = "ste", granularity: str = "op", sparsify_dense_ops: bool = False,
         cost_weight: float = 0.05) -> dict[str, Any]:
    w = where("dass")
    return {"sparsity": V.real(sparsity, "sparsity", low=0, high=1, high_open=True, **w),
            "mask_grad": V.choice(mask_grad, "mask_grad", MASK_GRADS, **w),
            "granularity": V.choice(granularity, "granularity", GRANULARITIES, **w),
            "sparsify_dense_ops": V.boolean(sparsify_dense_ops, "sparsify_dense_ops", **w),
            "cost_weight": V.real(cost_weight, "cost_weight", low=0, **w)}


def sd_darts(distill_weight: float = 0.5, temperature: float = 2.0, teachers: int = 3,
             snapshot_every: int | None = None, teacher_source: str = "logit_cache", voting: str = "soft",
             distill_in: str = "weights", cache_size: int = 4096, second_order: bool = False) -> dict[str, Any]:
    w = where("sd-darts")
    o = {"distill_weight": V.real(distill_weight, "distill_weight (lambda)", low=0, high=1, **w),
         "temperature": V.real(temperature, "temperature (T)", low=0, low_open=True, **w),
         "teachers": V.integer(teachers, "teachers (K)", low=1, **w),
         "snapshot_every": V.optional(V.integer, snapshot_every, "snapshot_every (steps; None = one epoch)", low=1,
                                      **w),
         "teacher_source": V.choice(teacher_source, "teacher_source", SOURCES, **w),
         "voting": V.choice(voting, "voting", VOTINGS, **w),
         "cache_size": V.integer(cache_size, "cache_size (examples)", low=1, **w),
         "distill_in": V.choice(distill_in, "distill_in", DISTILL_IN, **w),
         "second_order": V.boolean(second_order, "second_order", **w)}
    if o["distill_in"] != "weights" and o["teacher_source"] != "snapshots":
        raise ConfigError(f"method 'sd-darts' option distill_in={o['distill_in']!r} needs teacher_source='snapshots' "
                          "(the logit cache holds training examples only, the arch step distils on validation ones)")
    return o


def gtn(widths: Any = (32, 64, 128), intermediate_every: int = 0, meta_lr: float = 1e-2, learn_labels: bool = False,
        reverse: bool = False) -> dict[str, Any]:
    w = where("gtn")
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (tuple, list)) or not widths:
        raise V.fail(w["where"], "widths", widths, "a non-empty list of hidden widths (ints >= 1)", type_error=True)
    return {"widths": tuple(V.integer(h, "widths[]", low=1, **w) for h in widths),
            "intermediate_every": V.integer(intermediate_every, "intermediate_every (0 = final loss only)", low=0,
                                            **w),
            "meta_lr": V.real(meta_lr, "meta_lr (Adam)", low=0, low_open=True, **w),
            "learn_labels": V.boolean(learn_labels, "learn_labels", **w), "reverse": V.boolean(reverse, "reverse", **w)}


def _number(name: str, value: Any, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= 0 if strict else value < 0):
        raise ValueError(f"method 'guidance' option {name} must be a finite number {'>' if strict else '>='} 0, "
                         f"got {value!r}")
    return float(value)


def guidance(cost_weight: float = 0.01, lr: float | None = 0.025, relaxation: str = "sigmoid", tau: float = 1.0
             ) -> dict[str, Any]:
    cost_weight = _number("cost_weight", cost_weight)
    if lr is not None:
        lr = _number("lr", lr, strict=True)
    if relaxation not in GUIDANCE_RELAXATIONS:
        raise ValueError(f"method 'guidance' option relaxation must be one of {', '.join(GUIDANCE_RELAXATIONS)}, "
                         f"got {relaxation!r}")
    return {"cost_weight": cost_weight, "lr": lr, "relaxation": relaxation, "tau": _number("tau", tau, strict=True)}


def osnet_ain(lambda_init: float = 10.0, lambda_rate: float = 0.5, lambda_step: int = 5, lambda_min: float = 1.0,
              w_init: float = 1.0) -> dict[str, Any]:
    w = where("osnet-ain")
    lambda_init = V.real(lambda_init, "lambda_init", low=0, low_open=True, **w)
    return {"lambda_init": lambda_init,
            "lambda_rate": V.real(lambda_rate, "lambda_rate", low=0, high=1, low_open=True, **w),
            "lambda_step": V.integer(lambda_step, "lambda_step (<= 0: fixed temperature)", **w),
            "lambda_min": V.real(lambda_min, "lambda_min", low=0, high=lambda_init, low_open=True, **w),
            "w_init": V.real(w_init, "w_init", low=0, low_open=True, **w)}


def covidnet3d(gradient: str = "straight_through", tau: float = 1.0, tau_min: float | None = None,
               warmup_epochs: int = 2) -> dict[str, Any]:
    w = where("covidnet3d")
    gradient = V.choice(gradient, "gradient", GRADIENTS, **w)
    tau = V.real(tau, "tau", low=0, low_open=True, **w)
    return {"gradient": gradient, "tau": tau,
            "tau_min": V.optional(V.real, tau_min, "tau_min (None = constant tau)", low=0, high=tau, low_open=True,
                                  **w),
            "warmup_epochs": V.integer(warmup_epochs, "warmup_epochs", low=0, **w)}


def darts_gt() -> dict[str, Any]:
    return {}


# ------------------------------------------------------------------------ the specs
#: registration order of the family modules (workbench.methods.FAMILIES)
SPECS: dict[str, PresetSpec] = {
    "covidnet3d": PresetSpec(covidnet3d, {"epochs": 100, "batch_size": 64, "arch_lr": 3e-4,
                                          "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3,
                                          "weight_decay": 5e-4, "grad_clip": 5.0, "train_portion": 0.5}),
    "darts-gt": PresetSpec(darts_gt, DARTS_GT_PAPER),
    "dass": PresetSpec(dass, DARTS_PAPER),
    "sd-darts": PresetSpec(sd_darts, DARTS_PAPER),
    "dnis": PresetSpec(dnis, dnis_paper),
    "gtn": PresetSpec(gtn, {"dataset": "digits_std", "epochs": 25, "batch_size": 128, "train_portion": 0.5}),
    "guidance": PresetSpec(guidance, {}),
    "osnet-ain": PresetSpec(osnet_ain, {"epochs": 120, "batch_size": 512, "lr": 0.1, "lr_min": 0.0, "momentum": 0.9,
                                        "weight_decay": 5e-4, "train_portion": 1.0, "grad_clip": 0.0}),
    "rarts": PresetSpec(rarts, DARTS_PAPER)}

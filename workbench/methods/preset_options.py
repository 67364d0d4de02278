"""The built-in presets' options and published settings, without torch (their slots need it).

Each preset of :mod:`workbench.methods.presets` (``darts-v1`` ... ``blank``) is a function of its options that
checks them (type and range, :mod:`workbench.validate`) and builds a :class:`~workbench.methods.presets.Method`
from torch objects. The checks and the papers' SearchConfig values live here, one :class:`PresetSpec` per preset
(:data:`PRESETS`), so a :class:`~workbench.config.SearchConfig` naming one with options, and the command line's
``--method-option`` and ``--paper-defaults`` (``python -m workbench search ... --print-config``), check and read
them without importing torch. The preset functions are built from these specs
(:func:`workbench.methods.presets.preset`): their signatures are the checks' and their ``paper_defaults`` the
specs', so neither is written twice. :func:`accepted_options` is the option-name check every preset shares
(:func:`~workbench.methods.presets.get_method` calls it too). :data:`PRESETS` also holds the other families'
specs (:mod:`~workbench.methods.hardware_options`: fbnet, proxylessnas, single-path;
:mod:`~workbench.methods.family_options`: rarts, dnis, dass, sd-darts, gtn, guidance, osnet-ain, covidnet3d,
darts-gt), which their modules build their presets from in the same way.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from workbench import validate as V
from workbench.errors import ConfigError
from workbench.methods.preset_spec import DARTS_PAPER, PresetSpec
from workbench.methods.preset_spec import where as _where

__all__ = ["PRESETS", "PresetSpec", "accepted_options", "check_preset_options", "option_defaults"]

HYPERGRADIENTS = ("finite_difference", "exact")
#: sharpDARTS's weightings: Max-W (its own) or DARTS's scalar softmax
WEIGHTINGS = ("max_w", "scalar")

#: SearchConfig values as the papers set them (PC-DARTS, GDAS, SNAS, sharpDARTS; DARTS's: preset_spec.DARTS_PAPER)
PC_DARTS_PAPER = {"epochs": 50, "batch_size": 256, "lr": 0.1, "lr_min": 0.0, "arch_lr": 6e-4, "weight_decay": 3e-4,
                  "train_portion": 0.5}
GDAS_PAPER = {"epochs": 250, "batch_size": 64, "lr": 0.025, "lr_min": 0.001, "arch_lr": 3e-4, "weight_decay": 5e-4,
              "train_portion": 0.5}
SNAS_PAPER = {"epochs": 150, "batch_size": 64, "lr": 0.025, "lr_min": 0.001, "arch_lr": 3e-4, "weight_decay": 3e-4,
              "train_portion": 1.0}
SHARPDARTS_PAPER = {"epochs": 50, "batch_size": 64, "lr": 0.025, "lr_min": 1e-4, "arch_lr": 3e-4,
                    "weight_decay": 3e-4, "train_portion": 0.5}


# ------------------------------------------------------------------------ the option checks
# Each takes the preset's options (its keyword arguments, with their defaults) and returns them checked and
# normalised, in the order the preset records them (Method.options); a rejected value raises ConfigError /
# ConfigTypeError naming the method, the option, the value and what is accepted.
def darts_v1() -> dict[str, Any]:
    return {}


def darts_v2(r: float = 0.01, hypergradient: str = "finite_difference") -> dict[str, Any]:
    w = _where("darts-v2")
    return {"r": V.real(r, "r (HVP eps = r/||v||)", low=0, low_open=True, **w),
            "hypergradient": V.choice(hypergradient, "hypergradient", HYPERGRADIENTS, **w)}


def pc_darts(K: int = 4, edge_normalization: bool = True, warmup_epochs: int = 15) -> dict[str, Any]:
    w = _where("pc-darts")
    return {"K": V.integer(K, "K (channel fraction 1/K)", low=1, **w),
            "edge_normalization": V.boolean(edge_normalization, "edge_normalization", **w),
            "warmup_epochs": V.integer(warmup_epochs, "warmup_epochs", low=0, **w)}


def gdas(tau_max: float = 10.0, tau_min: float = 0.1, tau_variant: str = "autodl") -> dict[str, Any]:
    w = _where("gdas")
    tau_max = V.real(tau_max, "tau_max", low=0, low_open=True, **w)
    return {"tau_max": tau_max, "tau_min": V.real(tau_min, "tau_min", low=0, high=tau_max, low_open=True, **w),
            "tau_variant": V.choice(tau_variant, "tau_variant", ("autodl", "naslib"), **w)}


def snas(tau0: float = 1.0, tau_min: float = 0.03, anneal_epochs: int | None = 150,
         arch_grad_clip: float | None = 10.0, alpha_init_std: float = 0.01) -> dict[str, Any]:
    w = _where("snas")
    tau0 = V.real(tau0, "tau0", low=0, low_open=True, **w)
    return {"tau0": tau0, "tau_min": V.real(tau_min, "tau_min", low=0, high=tau0, low_open=True, **w),
            "anneal_epochs": V.optional(V.integer, anneal_epochs, "anneal_epochs (None = the run's epochs)", low=1,
                                        **w),
            "arch_grad_clip": V.optional(V.real, arch_grad_clip, "arch_grad_clip (None = off)", low=0,
                                         low_open=True, **w),
            "alpha_init_std": V.real(alpha_init_std, "alpha_init_std", low=0, low_open=True, **w)}


def _eps(name: str, epsilon: Any, eps_min: Any) -> dict[str, float]:
    w = _where(name)
    epsilon = V.real(epsilon, "epsilon (the final radius)", low=0, **w)
    return {"epsilon": epsilon, "eps_min": V.real(eps_min, "eps_min", low=0, high=epsilon, **w)}


def sdarts_rs(epsilon: float = 0.3, eps_min: float = 0.03, second_order: bool = False) -> dict[str, Any]:
    eps = _eps("sdarts-rs", epsilon, eps_min)
    return {**eps, "second_order": V.boolean(second_order, "second_order", **_where("sdarts-rs"))}


def sdarts_adv(epsilon: float = 0.3, eps_min: float = 0.03, steps: int = 7, second_order: bool = False
               ) -> dict[str, Any]:
    w = _where("sdarts-adv")
    eps = _eps("sdarts-adv", epsilon, eps_min)
    return {**eps, "steps": V.integer(steps, "steps (PGD attack steps)", low=1, **w),
            "second_order": V.boolean(second_order, "second_order", **w)}


def sharpdarts(power: float = 2.0, warmup_epochs: int = 5, weighting: str = "max_w") -> dict[str, Any]:
    w = _where("sharpdarts")
    return {"power": V.real(power, "power", low=1, **w),
            "warmup_epochs": V.integer(warmup_epochs, "warmup_epochs", low=0, **w),
            "weighting": V.choice(weighting, "weighting", WEIGHTINGS, **w)}


def darts_l2(factor: float = 81.0, second_order: bool = True) -> dict[str, Any]:
    w = _where("darts-l2")
    return {"factor": V.real(factor, "factor (weight decay multiplier)", low=0, low_open=True, **w),
            "second_order": V.boolean(second_order, "second_order", **w)}


def darts_ada(mul_factor: float = 10.0, max_weight_decay: float = 0.03, ev_freq: int = 2, window: int = 5,
              delta: int = 4, factor: float = 1.3, es_start_epoch: int = 10, second_order: bool = True
              ) -> dict[str, Any]:
    w = _where("darts-ada")
    return {"mul_factor": V.real(mul_factor, "mul_factor (weight decay multiplier per trigger)", low=1,
                                 low_open=True, **w),
            "max_weight_decay": V.real(max_weight_decay, "max_weight_decay", low=0, low_open=True, **w),
            "ev_freq": V.integer(ev_freq, "ev_freq", low=1, **w), "window": V.integer(window, "window", low=1, **w),
            "delta": V.integer(delta, "delta", low=1, **w),
            "factor": V.real(factor, "factor", low=0, low_open=True, **w),
            "es_start_epoch": V.integer(es_start_epoch, "es_start_epoch", low=0, **w),
            "second_order": V.boolean(second_order, "second_order", **w)}


def blank() -> dict[str, Any]:
    return {}


# ------------------------------------------------------------------------ the specs
#: the built-in presets by registered name: those of :mod:`workbench.methods.presets` in registration order, then
#: the other families' (added below)
PRESETS: dict[str, PresetSpec] = {
    "darts-v1": PresetSpec(darts_v1, DARTS_PAPER), "darts-v2": PresetSpec(darts_v2, DARTS_PAPER),
    "pc-darts": PresetSpec(pc_darts, PC_DARTS_PAPER), "gdas": PresetSpec(gdas, GDAS_PAPER),
    "snas": PresetSpec(snas, SNAS_PAPER), "sdarts-rs": PresetSpec(sdarts_rs, DARTS_PAPER),
    "sdarts-adv": PresetSpec(sdarts_adv, DARTS_PAPER), "sharpdarts": PresetSpec(sharpdarts, SHARPDARTS_PAPER),
    "darts-l2": PresetSpec(darts_l2, DARTS_PAPER), "darts-ada": PresetSpec(darts_ada, DARTS_PAPER),
    "blank": PresetSpec(blank, DARTS_PAPER)}


def option_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The options ``factory`` accepts (its keyword arguments), with their defaults."""
    return {p.name: p.default for p in inspect.signature(factory).parameters.values()}


def accepted_options(method: str, accepted: Mapping[str, Any], options: Any) -> dict[str, Any]:
    """``options`` (a mapping, None for none) when every name is one of ``accepted`` (option -> default) of
    ``method``; else ConfigError naming the unknown ones and listing the accepted ones."""
    options = V.mapping({} if options is None else options, "method_options", where=f"method {method!r} ")
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise ConfigError(f"method {method!r} does not accept option(s) {', '.join(map(repr, unknown))}; "
                          f"accepted: {listing}")
    return options


def check_preset_options(method: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of the preset ``method`` (a name in :data:`PRESETS`) checked as
    ``get_method(method, options)`` checks them, without building it: the checked, normalised options."""
    check = PRESETS[method].check
    return check(**accepted_options(method, option_defaults(check), options))


# the other families' specs (their modules import only preset_spec: no cycle)
from workbench.methods import family_options, hardware_options  # noqa: E402

PRESETS.update(family_options.SPECS)
PRESETS.update(hardware_options.SPECS)

"""The hardware-aware presets' options and published settings, without torch: FBNet (Wu et al., CVPR 2019),
ProxylessNAS (Cai et al., ICLR 2019) and Single-Path NAS (Stamoulis et al., 2019).

One :class:`~workbench.methods.preset_spec.PresetSpec` per preset (:data:`SPECS`, found through
:data:`workbench.methods.preset_options.PRESETS`): its option check (the type and range checks and error texts
of :mod:`workbench.methods.hardware`, :mod:`~workbench.methods.proxyless`, :mod:`~workbench.methods.single_path`,
which build the presets from these specs), its paper's SearchConfig values and its CPU-scale size
(``search_defaults``). The ``cost`` option is checked as :func:`workbench.methods.space_costs.cost_spec` checks it
(a shipped table's name is looked up: :func:`workbench.spaces.chain.lut.load_table`); a cost model object is
passed through to the preset, which checks it against its budget when it is built.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from workbench.methods.cost_model import CostModel
from workbench.methods.preset_spec import PresetSpec
from workbench.spaces.chain.space import CPU_DATA_LIMIT

__all__ = ["CPU_DATA_LIMIT", "DERIVE", "FBNET_FORMS", "LOSSES", "MODES", "SPECS", "FbnetTau", "check_cost",
           "check_derive", "check_epochs", "check_number", "fbnet", "proxylessnas", "single_path"]

FBNET_FORMS = ("paper", "log_power")
#: ProxylessNAS's binary-gate modes and losses
MODES = ("full", "full_v2", "two")
LOSSES = ("add", "mul#log")
#: the derivation rules of the family (``workbench.methods.space_costs.derive_rule``)
DERIVE = ("paper", "budget")


@dataclass(frozen=True)
class FbnetTau:
    """FBNet's temperature: tau0 * exp(-decay * t), t = epochs since architecture updates began (>= 0)."""

    tau0: float = 5.0
    decay: float = 0.045
    start_epoch: int = 0

    def __post_init__(self) -> None:
        if not (self.tau0 > 0 and self.decay >= 0 and self.start_epoch >= 0):
            raise ValueError(f"FBNet temperature needs tau0 > 0, decay >= 0, start_epoch >= 0; got {self}")

    def __call__(self, epoch: int, epochs: int) -> float:
        return self.tau0 * math.exp(-self.decay * max(epoch - self.start_epoch, 0))


def check_number(name: str, value: Any, low: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= low if strict else value < low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


def check_epochs(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def check_cost(cost: Any) -> Any:
    """The ``cost`` option checked as :func:`~workbench.methods.space_costs.cost_spec` checks it: a cost model
    (or a deferred one) as it is, else the name (None: ``"params"``) when it is ``params``, ``flops`` or a latency
    table's name or path."""
    space_costs = sys.modules.get("workbench.methods.space_costs")  # no CostFromSpace exists before it is imported
    if isinstance(cost, CostModel) or (space_costs is not None and isinstance(cost, space_costs.CostFromSpace)):
        return cost
    kind = "params" if cost is None else cost
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"cost must be a CostModel, 'params', 'flops' or a latency table name or path; got "
                         f"{kind!r}")
    if kind not in ("params", "flops"):
        from workbench.spaces.chain.lut import load_table
        load_table(kind)  # fails now, naming the shipped tables
    return kind


def check_derive(derive: str | None, budget: float | None, tol: Any, method: str) -> None:
    """The checks of :func:`~workbench.methods.space_costs.derive_rule`: ``derive`` one of :data:`DERIVE` (or
    None), ``tol`` in [0, 1), a budget for ``derive="budget"``."""
    if derive is None:
        derive = "budget" if budget is not None else "paper"
    if derive not in DERIVE:
        raise ValueError(f"{method} derive must be one of {', '.join(DERIVE)} (or None), got {derive!r}")
    check_number("budget_tol", tol)
    if not tol < 1:
        raise ValueError(f"{method} budget_tol must be in [0, 1) (the band is [(1 - tol) budget, budget]), got {tol}")
    if derive == "budget" and budget is None:
        raise ValueError(f"{method} derive='budget' needs a budget (the derived architecture's target)")


# ------------------------------------------------------------------------ the option checks
# Each returns the options as the preset records them (Method.options; ``cost``: the name, or the cost model
# object given, which the preset records by its name).
def fbnet(cost: Any = None, alpha: float = 0.2, beta: float = 0.6, form: str = "paper",
          reference: float | None = None, tau0: float = 5.0, tau_decay: float = 0.045,
          warmup_epochs: int = 2, budget: float | None = None, budget_weight: float = 1.0, derive: str | None = None,
          budget_tol: float = 0.1) -> dict[str, Any]:
    if form not in FBNET_FORMS:
        raise ValueError(f"fbnet form must be one of {', '.join(FBNET_FORMS)}, got {form!r}")
    check_number("alpha", alpha, strict=True)
    check_number("beta", beta)
    check_epochs("warmup_epochs", warmup_epochs)
    check_number("budget_weight", budget_weight)
    if budget is not None:
        check_number("budget", budget, strict=True)
    cost = check_cost(cost)
    check_derive(derive, budget, budget_tol, "fbnet")
    if reference is not None:
        check_number("reference", reference, strict=True)
    FbnetTau(tau0, tau_decay, warmup_epochs)
    return {"alpha": alpha, "beta": beta, "form": form, "reference": reference, "tau0": tau0,
            "tau_decay": tau_decay, "warmup_epochs": warmup_epochs, "cost": cost, "budget": budget,
            "budget_weight": budget_weight, "derive": derive, "budget_tol": budget_tol}


def proxylessnas(cost: Any = None, lam: float = 0.1, warmup_epochs: int = 2, mode: str = "full_v2",
                 loss: str = "add", budget: float | None = None, alpha_r: float = 0.2, beta_r: float = 0.3,
                 reference: float | None = None, derive: str | None = None, budget_tol: float = 0.1
                 ) -> dict[str, Any]:
    if mode not in MODES:
        raise ValueError(f"proxylessnas mode must be one of {', '.join(MODES)}, got {mode!r}")
    if loss not in LOSSES:
        raise ValueError(f"proxylessnas loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    check_number("lam", lam)
    check_epochs("warmup_epochs", warmup_epochs)
    check_number("alpha_r", alpha_r, strict=True)
    check_number("beta_r", beta_r)
    if budget is not None:
        check_number("budget", budget, strict=True)
    if reference is not None:
        check_number("reference", reference, low=1.0, strict=True)
    cost = check_cost(cost)
    check_derive(derive, budget, budget_tol, "proxylessnas")
    return {"lam": lam, "warmup_epochs": warmup_epochs, "cost": cost, "mode": mode, "loss": loss, "budget": budget,
            "alpha_r": alpha_r, "beta_r": beta_r, "reference": reference, "derive": derive, "budget_tol": budget_tol}


def single_path(cost: Any = None, lam: float = 0.1, budget: float | None = None, warmup_epochs: int = 1,
                threshold_lr: float | None = 0.05, fixed_cost: float = 0.0, derive: str | None = None,
                budget_tol: float = 0.1) -> dict[str, Any]:
    check_number("lam", lam)
    check_epochs("warmup_epochs", warmup_epochs)
    check_number("fixed_cost", fixed_cost)
    if budget is not None:
        check_number("budget", budget, strict=True)
    if threshold_lr is not None:
        check_number("threshold_lr", threshold_lr, strict=True)
    cost = check_cost(cost)
    check_derive(derive, budget, budget_tol, "single-path")
    return {"cost": cost, "lam": lam, "budget": budget, "warmup_epochs": warmup_epochs,
            "threshold_lr": threshold_lr, "fixed_cost": fixed_cost, "derive": derive, "budget_tol": budget_tol}


# ------------------------------------------------------------------------ the specs
SPECS: dict[str, PresetSpec] = {
    "proxylessnas": PresetSpec(proxylessnas, {"lr": 0.025, "weight_decay": 4e-5, "arch_lr": 1e-3,
                                              "arch_betas": (0.0, 0.999), "arch_weight_decay": 0.0},
                               {"epochs": 15, "arch_lr": 0.03, "lr": 0.1, "data_limit": CPU_DATA_LIMIT}),
    "fbnet": PresetSpec(fbnet, {"lr": 0.1, "weight_decay": 1e-4, "arch_lr": 0.01, "arch_weight_decay": 5e-4,
                                "train_portion": 0.8},
                        {"epochs": 5, "arch_lr": 0.03, "data_limit": CPU_DATA_LIMIT}),
    "single-path": PresetSpec(single_path, {"lr": 0.016, "weight_decay": 1e-5, "train_portion": 1.0},
                              {"epochs": 10, "data_limit": CPU_DATA_LIMIT})}

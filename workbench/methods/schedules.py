"""Schedules as pure functions of the epoch (unit-tested against ALGORITHMS.md Appendix A).

* ``cosine_lr``: DARTS's per-epoch cosine annealing (`quark0/darts:cnn/train_search.py`,
  CosineAnnealingLR stepped at the start of each epoch): lr_e = lr_min +
  (lr_max - lr_min) (1 + cos(pi e / T)) / 2, so epoch 0 has lr_max and epoch
  T-1 is just above lr_min (0.025 -> 0.001024 for T = 50).
* ``cosine_power_annealing`` / :class:`CosinePowerAnnealing`: sharpDARTS's lr
  schedule (Hundt et al. 2019, `ahundt/sharpDARTS:cnn/cosine_power_annealing.py`):
  c(e) = (1 + cos(pi e / E')) / 2 on 1-based epochs shifted by the warm-up W,
  q = p^(c + 1) (q = c for p = 1), min-max normalised over the run, the first
  W + 1 entries replaced by a linear ramp ending at 1; lr = q (max - min) + min.
* ``gdas_tau``: GDAS's linear temperature (Dong & Yang 2019; AutoDL
  `exps/NAS-Bench-201-algos/GDAS.py`): tau_e = tau_max - (tau_max - tau_min) e / (E - 1),
  10 -> 0.1. ``naslib_gdas_tau`` is NASLib's variant, which steps before every
  epoch including the first: tau_e = tau_max + (e + 1)(tau_min - tau_max) / E.
* ``snas_temperature``: SNAS's (Xie et al. 2019; `SNAS-Series/SNAS/utils.py::
  Temp_Scheduler`) lambda_e = (1 - e / T)(lambda0 - lambda_min) + lambda_min, clipped at
  lambda_min, with T = 150 hard-coded in the reference.
* ``sdarts_epsilon``: SDARTS's (Chen & Hsieh 2020; `SmoothDARTS:sota/cnn/train_search.py`)
  perturbation radius eps_e = eps_min + (eps_max - eps_min) e / E (0.03 -> 0.3).

lr schedules share the signature ``(epoch, epochs, lr_max, lr_min) -> lr`` (the
:class:`~workbench.methods.Method` slot); the others are plain functions that
methods wrap with ``functools.partial``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def cosine_lr(epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs))


def constant_lr(epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
    return lr_max


@lru_cache(maxsize=64)
def _cpa(epochs: int, lr_max: float, lr_min: float, p: float, warmup: int) -> tuple[float, ...]:
    e = np.arange(1, epochs + 1, dtype=np.float64)  # 1-based, as in the reference
    max_epoch = float(epochs)
    warm = np.zeros(epochs, dtype=bool)
    if warmup > 0:
        warm = e <= warmup + 1  # the first W + 1 entries
        e = e - warmup
        max_epoch -= warmup
    c = (1.0 + np.cos(np.pi * e / max_epoch)) / 2.0
    q = c if p == 1 else np.power(p, c + 1.0)
    span = q.max() - q.min()
    q = (q - q.min()) / span if span > 0 else np.ones_like(q)
    if warmup > 0:
        q[warm] = np.arange(1, warmup + 2, dtype=np.float64) / (1 + warmup)
    return tuple(float(v) for v in q * (lr_max - lr_min) + lr_min)


def cosine_power_annealing(epochs: int, lr_max: float, lr_min: float, p: float = 2.0,
                           warmup: int = 0) -> list[float]:
    """The whole Cosine Power Annealing schedule (one lr per epoch); see the module docstring."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if p < 1:
        raise ValueError(f"the exponent order p must be >= 1, got {p}")
    if warmup < 0 or (warmup > 0 and warmup > epochs - 2):
        raise ValueError(f"warmup must be in [0, epochs - 2] = [0, {epochs - 2}], got {warmup}")
    return list(_cpa(int(epochs), float(lr_max), float(lr_min), float(p), int(warmup)))


@dataclass(frozen=True)
class CosinePowerAnnealing:
    """sharpDARTS's lr schedule as a Method ``lr_schedule`` slot (p = 2, 5 warm-up epochs by default).

    A warm-up that does not fit the run (``warmup >= epochs - 1``) is shortened
    to ``epochs - 2`` (none for runs under 3 epochs) so short teaching runs still work.
    """

    p: float = 2.0
    warmup: int = 5

    def __call__(self, epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
        w = min(self.warmup, max(epochs - 2, 0))
        return cosine_power_annealing(epochs, lr_max, lr_min, self.p, w)[min(epoch, epochs - 1)]


def gdas_tau(epoch: int, epochs: int, tau_max: float = 10.0, tau_min: float = 0.1) -> float:
    """AutoDL GDAS: linear from tau_max at epoch 0 to tau_min at the last epoch."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


def naslib_gdas_tau(epoch: int, epochs: int, tau_max: float = 10.0, tau_min: float = 0.1) -> float:
    """NASLib GDAS: the step is added before every epoch, so epoch 0 already has tau_max + step."""
    return tau_max + (epoch + 1) * (tau_min - tau_max) / epochs


def snas_temperature(epoch: int, tau0: float = 1.0, tau_min: float = 0.03, total: int = 150) -> float:
    """SNAS Temp_Scheduler at scheduler epoch ``epoch`` (the reference trains epoch 0 at scheduler epoch 1)."""
    return max((1.0 - epoch / total) * (tau0 - tau_min) + tau_min, tau_min)


def sdarts_epsilon(epoch: int, epochs: int, eps_max: float = 0.3, eps_min: float = 0.03) -> float:
    """SDARTS: eps grows linearly from eps_min at epoch 0 towards eps_max (reached at epoch ``epochs``)."""
    return eps_min + (eps_max - eps_min) * epoch / epochs


@dataclass(frozen=True)
class GdasTau:
    """GDAS temperature as a ``(epoch, epochs) -> tau`` schedule; ``variant`` "autodl" (default) or "naslib"."""

    tau_max: float = 10.0
    tau_min: float = 0.1
    variant: str = "autodl"

    def __post_init__(self) -> None:
        if not (self.tau_max > 0 and self.tau_min > 0):
            raise ValueError(f"GDAS temperatures must be > 0, got tau_max={self.tau_max}, tau_min={self.tau_min}")
        if self.variant not in ("autodl", "naslib"):
            raise ValueError(f"unknown GDAS tau variant {self.variant!r}; accepted: autodl, naslib")

    def __call__(self, epoch: int, epochs: int) -> float:
        fn = gdas_tau if self.variant == "autodl" else naslib_gdas_tau
        return fn(epoch, epochs, self.tau_max, self.tau_min)


@dataclass(frozen=True)
class SnasTau:
    """SNAS temperature as a ``(epoch, epochs) -> tau`` schedule.

    ``total`` is the annealing length (150, hard-coded in the reference; None =
    the run's own length) and ``offset`` the scheduler epoch of training epoch 0
    (1 in the reference: its constructor consumes epoch 0 and the first epoch steps again).
    """

    tau0: float = 1.0
    tau_min: float = 0.03
    total: int | None = 150
    offset: int = 1

    def __post_init__(self) -> None:
        if not (self.tau0 > 0 and self.tau_min > 0):
            raise ValueError(f"SNAS temperatures must be > 0, got tau0={self.tau0}, tau_min={self.tau_min}")
        if self.total is not None and self.total < 1:
            raise ValueError(f"SNAS annealing length must be >= 1 (or None = the run's epochs), got {self.total}")

    def __call__(self, epoch: int, epochs: int) -> float:
        total = epochs if self.total is None else self.total
        return snas_temperature(epoch + self.offset, self.tau0, self.tau_min, total)

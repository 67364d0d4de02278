"""The ``gtn`` space's supernet settings (:class:`GtnConfig`, the teacher's sizes and initial values), torch-free;
re-exported by :mod:`workbench.spaces.gtn_teacher` (see :mod:`workbench.spaces.settings`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.spaces.settings import space_settings

__all__ = ["GtnConfig", "gtn_supernet_config"]


@dataclass(frozen=True)
class GtnConfig:
    """The teacher's sizes and initial values (SEEDS_2 §9.4): generator ``z_dim + C -> hidden -> pixels`` with
    output ``out_scale * tanh``; inner lr and momentum initialised to ``lr_init`` / ``momentum_init`` at every
    step; the taught learner's hidden width; learned labels; the curriculum read backwards."""

    z_dim: int = 16
    hidden: int = 128
    out_scale: float = 3.0
    lr_init: float = 0.1
    momentum_init: float = 0.5
    learner_width: int = 64
    learn_labels: bool = False
    reverse: bool = False

    def __post_init__(self) -> None:
        for name in ("z_dim", "hidden", "learner_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"GtnConfig.{name}={v!r} is not accepted: expected an int >= 1")
        for name in ("out_scale", "lr_init", "momentum_init"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"GtnConfig.{name}={v!r} is not accepted: expected a finite number > 0")
        for name in ("learn_labels", "reverse"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GtnConfig.{name}={getattr(self, name)!r} is not accepted: expected True or False")


def gtn_supernet_config(space: str, value: Any = None, **overrides: Any) -> GtnConfig:
    """The settings of the GTN teacher space ``space`` (:func:`~workbench.spaces.settings.space_settings`)."""
    return space_settings(GtnConfig, value, overrides, f"space {space!r}")

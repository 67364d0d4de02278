"""The norm-placement spaces' supernet settings (:class:`NormConfig`), torch-free; re-exported by
:mod:`workbench.spaces.norm.space` (see :mod:`workbench.spaces.settings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.spaces.settings import space_settings

__all__ = ["NormConfig", "norm_supernet_config"]


@dataclass(frozen=True)
class NormConfig:
    """Supernet settings of a norm-placement space (see the module docstring)."""

    C: int = 16
    stem_in: bool = False  # the official fixed IN stem (conv1 with IN=True); not with a searched stem
    affine: bool = False  # NORM_AFFINE = False during the official search
    nonneg_weights: bool = False  # OSNet-AIN: non-negative weights w (set by the osnet-ain preset)
    w_init: float = 1.0  # initial w when nonneg_weights (the code: torch.ones)
    alpha_init_std: float = 1e-3  # initial logits otherwise (DARTS)

    def __post_init__(self) -> None:
        if isinstance(self.C, bool) or not isinstance(self.C, int) or self.C < 1:
            raise ValueError(f"C must be an integer >= 1, got {self.C!r}")
        for name in ("stem_in", "affine", "nonneg_weights"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not (isinstance(self.w_init, (int, float)) and self.w_init > 0):
            raise ValueError(f"w_init must be a number > 0 (w <= 0 is a dead candidate), got {self.w_init!r}")
        if not (isinstance(self.alpha_init_std, (int, float)) and 0 <= self.alpha_init_std < 10):
            raise ValueError(f"alpha_init_std must be a number in [0, 10), got {self.alpha_init_std!r}")


def norm_supernet_config(space: str, value: Any = None, *, search_stem: bool = False, **overrides: Any) -> NormConfig:
    """The settings of the norm-placement space ``space`` (:func:`~workbench.spaces.settings.space_settings`);
    ``search_stem``: the space searches the stem's norm (then a fixed IN stem, ``stem_in``, is refused)."""
    cfg = space_settings(NormConfig, value, overrides, f"space {space!r}")
    if cfg.stem_in and search_stem:
        raise ValueError(f"space {space!r} searches the stem's norm; stem_in=True (a fixed IN stem) belongs "
                         "to the space norm_placement")
    return cfg

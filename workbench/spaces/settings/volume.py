"""The ``mbconv3d`` space's supernet settings (:class:`Mbconv3dConfig`), torch-free; re-exported by
:mod:`workbench.spaces.volume.space` (see :mod:`workbench.spaces.settings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.spaces.settings import space_settings

__all__ = ["Mbconv3dConfig", "mbconv3d_supernet_config"]


@dataclass(frozen=True)
class Mbconv3dConfig:
    """Supernet settings of an ``mbconv3d`` space (its shape is the space's): the alpha initialisation std
    (CovidNet3D: 1e-3 * N(0, 1))."""

    alpha_init_std: float = 1e-3

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha_init_std, (int, float)) and 0 < self.alpha_init_std < 10):
            raise ValueError(f"alpha_init_std must be a number in (0, 10), got {self.alpha_init_std!r}")


def mbconv3d_supernet_config(space: str, value: Any = None, **overrides: Any) -> Mbconv3dConfig:
    """The settings of the 3-D MBConv space ``space`` (:func:`~workbench.spaces.settings.space_settings`)."""
    return space_settings(Mbconv3dConfig, value, overrides, f"space {space!r}")

"""Volume spaces: 3-D networks for volumetric data (CT scans).

* :mod:`workbench.spaces.volume.blocks` -- 3-D MBConv blocks and the calibration layer (CovidNet3D's ops);
* :mod:`workbench.spaces.volume.space` -- the ``mbconv3d`` space: a chain of calibrated cells, each choosing a
  3-D MBConv block or ``skip`` (CovidNet3D, He et al., AAAI 2021; SEEDS_2 §6.2, §6.6).

Importing it registers the space and the ``ct_volumes`` datasets (:mod:`workbench.tasks.data.ct_volumes`).
"""
from __future__ import annotations

from workbench.spaces.volume.space import (
    GROUP,
    MBCONV3D_BLOCKS,
    DiscreteMbconv3d,
    Mbconv3dConfig,
    Mbconv3dSpace,
    Mbconv3dSupernet,
    inherit_path_weights,
)

__all__ = ["GROUP", "MBCONV3D_BLOCKS", "DiscreteMbconv3d", "Mbconv3dConfig", "Mbconv3dSpace", "Mbconv3dSupernet",
           "inherit_path_weights"]

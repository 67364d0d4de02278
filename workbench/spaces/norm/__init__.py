"""Norm-placement spaces: where instance normalisation goes in each block (OSNet-AIN, SEEDS_2 §5).

Importing this package registers the spaces ``norm_placement`` and ``norm_placement_stem`` and the styled
datasets they are searched on (:mod:`workbench.tasks.data.styles`: ``digits_styles``, ``fashion_styles`` and
their no-style controls).
"""
from __future__ import annotations

from workbench.spaces.norm.blocks import PLACEMENTS, STEM_NORMS, MixedStem, NormBlock, Stem
from workbench.spaces.norm.space import (
    BLOCKS,
    STEM,
    NormConfig,
    NormPlacementSpace,
    NormSupernet,
    PlacementNet,
    dead_options,
    extract_child,
    one_hot,
    placement,
)
from workbench.tasks.data import styles  # noqa: F401  (registers the styled datasets)

__all__ = ["BLOCKS", "PLACEMENTS", "STEM", "STEM_NORMS", "MixedStem", "NormBlock", "NormConfig", "NormPlacementSpace",
           "NormSupernet", "PlacementNet", "Stem", "dead_options", "extract_child", "one_hot", "placement"]

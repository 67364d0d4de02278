"""Search spaces: what a search chooses, and the protocol every space implements.

:mod:`workbench.spaces.base` defines the protocol (:class:`SearchSpace`,
:class:`ChoiceGroup`, :class:`ChoiceSupernet`, the generic :class:`Choices`
architecture) and the registry; each family of spaces lives in its own
subpackage: :mod:`workbench.spaces.cell` (DARTS, NAS-Bench-201, RobustDARTS
S1-S5, sharpDARTS, a toy cell) and :mod:`workbench.spaces.chain` (a chain of
MBConv layers, the hardware-aware methods' space).
"""
from __future__ import annotations

import importlib

from workbench.spaces.base import (
    SPACES,
    ArchitectureError,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    decode_argmax,
    get_space,
    register_space,
    space_names,
)
from workbench.spaces.cell.space import DARTS_OPS, NB201_OPS, CellSpace, cell_genotype
from workbench.spaces.chain.space import CHAIN_BLOCKS, ChainConfig, ChainSpace

#: every family registers its spaces (and the datasets made for them) when imported; this order is the order
#: ``space_names()`` and ``--help`` list them in (``workbench.app.cli.help_names`` mirrors it)
FAMILIES = (
    "workbench.spaces.cell.space",          # darts, nb201, toy, s1-s5, sharp
    "workbench.spaces.cell.sparse_space",   # nb201-sparse, darts-sparse (DASS)
    "workbench.spaces.chain.space",         # chain (FBNet, ProxylessNAS, Single-Path NAS)
    "workbench.spaces.norm.space",          # norm_placement, norm_placement_stem (OSNet-AIN)
    "workbench.spaces.volume.space",        # mbconv3d (CovidNet3D)
    "workbench.spaces.graph.space",         # graph_transformer (DARTS-GT)
    "workbench.spaces.embedding",           # embedding_dims (DNIS)
    "workbench.spaces.gtn_teacher",         # gtn (GTN)
    "workbench.diffusion.space",            # guidance (Adaptive Guidance)
)
for _family in FAMILIES:
    importlib.import_module(_family)

__all__ = [
    "CHAIN_BLOCKS", "ChainConfig", "ChainSpace", "DARTS_OPS", "NB201_OPS", "SPACES", "ArchitectureError", "CellSpace", "ChoiceGroup", "ChoiceSupernet", "Choices",
    "SearchSpace", "cell_genotype", "decode_argmax", "get_space", "register_space", "space_names",
]

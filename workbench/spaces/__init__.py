"""Search spaces: what a search chooses, and the protocol every space implements.

:mod:`workbench.spaces.protocol` defines the protocol (:class:`SearchSpace`,
:class:`ChoiceGroup`, the generic :class:`Choices` architecture) and the
registry without torch, :mod:`workbench.spaces.base` adds :class:`ChoiceSupernet`;
each family of spaces lives in its own
subpackage: :mod:`workbench.spaces.cell` (DARTS, NAS-Bench-201, RobustDARTS
S1-S5, sharpDARTS, a toy cell) and :mod:`workbench.spaces.chain` (a chain of
MBConv layers, the hardware-aware methods' space).

The names below are exported lazily (PEP 562): importing this package, or a submodule that needs no torch
(:mod:`~workbench.spaces.cell.genotype`, :mod:`~workbench.spaces.cell.zoo`,
:mod:`~workbench.spaces.cell.nb201`, :mod:`~workbench.spaces.cell.draw`, :mod:`~workbench.spaces.chain.lut`'s
table readers), imports neither torch nor any family, so the CLI's commands that only read and print start
fast. ``from workbench.spaces import get_space`` imports the module that defines the name on first use. The
families register their spaces (and datasets) when imported; :func:`load_families` imports all of them, and
the registries run it before they are first read (``get_space`` of a name not registered yet,
``space_names()``, ``dataset_names()``, ``load_dataset``), so every built-in name is there whenever one is
looked up, listed in ``FAMILIES`` order whatever imported a family first.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from workbench.lazy import LazyExports

#: every family registers its spaces (and the datasets made for them) when imported; this order is the order
#: ``space_names()`` and ``--help`` list them in (``workbench.app.cli.help_names`` mirrors it)
FAMILIES = (
    "workbench.spaces.cell.space",          # darts, nb201, toy, s1-s5, sharp
    "workbench.spaces.chain.space",         # chain (FBNet, ProxylessNAS, Single-Path NAS)
    "workbench.spaces.cell.sparse_space",   # nb201-sparse, darts-sparse (DASS)
    "workbench.spaces.norm.space",          # norm_placement, norm_placement_stem (OSNet-AIN)
    "workbench.spaces.volume.space",        # mbconv3d (CovidNet3D)
    "workbench.spaces.graph.space",         # graph_transformer (DARTS-GT)
    "workbench.spaces.embedding",           # embedding_dims (DNIS)
    "workbench.spaces.gtn_teacher",         # gtn (GTN)
    "workbench.diffusion.space",            # guidance (Adaptive Guidance)
)
#: the modules that register the families' datasets, in the order importing ``FAMILIES`` imports them;
#: ``dataset_names()`` lists those datasets in this order (after the image datasets), whatever imported them first
FAMILY_DATASETS = (
    "workbench.tasks.data.styles",          # digits_styles, fashion_styles (+ _control), by norm.space
    "workbench.tasks.data.ct_volumes",      # ct_volumes, ct_volumes_3class, by volume.space
    "workbench.tasks.data.graphs",          # graphs_motifs, graphs_sbm, by graph.space
    "workbench.tasks.data.interactions",    # interactions, ctr, ml100k, by embedding
    "workbench.gtn.data",                   # digits_std, by gtn_teacher
    "workbench.diffusion.space",            # guidance_pairs
)

#: exported name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("SPACES", "ArchitectureError", "ChoiceGroup", "Choices", "SearchSpace", "decode_argmax",
                     "get_space", "register_space", "space_names"), "workbench.spaces.protocol"),
    "ChoiceSupernet": "workbench.spaces.base",
    **dict.fromkeys(("DARTS_OPS", "NB201_OPS", "CellSpace", "cell_genotype"), "workbench.spaces.cell.space"),
    **dict.fromkeys(("CHAIN_BLOCKS", "ChainConfig", "ChainSpace"), "workbench.spaces.chain.space"),
}

__all__ = [
    "CHAIN_BLOCKS", "DARTS_OPS", "FAMILIES", "FAMILY_DATASETS", "NB201_OPS", "SPACES", "ArchitectureError",
    "CellSpace", "ChainConfig", "ChainSpace", "ChoiceGroup", "ChoiceSupernet", "Choices", "SearchSpace",
    "cell_genotype", "decode_argmax", "get_space", "load_families", "register_space", "space_names",
]

_ordered = False  # the built-in spaces are listed in FAMILIES order (every family has registered)


def load_families() -> bool:
    """Import every built-in family (once; :mod:`workbench.spaces._families`), in ``FAMILIES`` order, and list the
    built-in spaces and the families' datasets in that order (a family imported directly, before this,
    registered early); True when complete.

    A call while this thread is importing the families returns False at once (a registry read during an import
    sees what is registered so far); another thread waits for them. When a family was itself still being
    imported (it was imported first and read a registry on its way), the call returns False, and the next one
    orders the spaces again; the datasets stay ordered as they register."""
    global _ordered
    if _ordered:
        return True
    if not getattr(importlib.import_module("workbench.spaces._families"), "LOADED", False):
        return False
    from workbench.spaces.protocol import SPACES
    from workbench.tasks.data.datasets import sort_factories

    ranks: set[int] = set()

    def space_rank(_name: str, space: object) -> int:
        ranks.add(rank := _rank(type(space).__module__, FAMILIES))
        return rank

    SPACES.sort(space_rank)
    sort_factories(_dataset_rank)  # kept for later registrations (a dataset module still being imported)
    _ordered = ranks >= set(range(len(FAMILIES)))  # every family has registered its spaces
    return _ordered


def _dataset_rank(_name: str, factory: object) -> int:
    return _rank(getattr(factory, "__module__", None) or "", FAMILY_DATASETS)


def _rank(module: str, order: tuple[str, ...]) -> int:
    """The position in ``order`` of the (sub)package holding ``module``; ``len(order)`` (last) when none does."""
    for i, package in enumerate(order):
        if module == package or module.startswith(package + "."):
            return i
    return len(order)


LazyExports(__name__, _EXPORTS, globals())  # installs the package's __getattr__ / __dir__ (PEP 562)


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager imports)
    from workbench.spaces.base import ChoiceSupernet
    from workbench.spaces.cell.space import DARTS_OPS, NB201_OPS, CellSpace, cell_genotype
    from workbench.spaces.chain.space import CHAIN_BLOCKS, ChainConfig, ChainSpace
    from workbench.spaces.protocol import (
        SPACES,
        ArchitectureError,
        ChoiceGroup,
        Choices,
        SearchSpace,
        decode_argmax,
        get_space,
        register_space,
        space_names,
    )

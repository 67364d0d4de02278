"""What the views read from a search space: its choice groups, and what an architecture keeps in each.

Every view takes its rows and options from ``space.choice_groups()`` (the
protocol of :mod:`workbench.spaces.base`): a DARTS cell space has one group
per cell type (edges x ops), a user's chain one group of layers x blocks. So
the heatmaps, curves, scrubber, op swapper and architecture drawing work for
any space. Cell spaces (:class:`~workbench.spaces.CellSpace`, DARTS and
NAS-Bench-201 style) additionally get the views that only make sense for a
cell: the parameter-free collapse count, genotype diffs, the DARTS-PT probe;
:func:`is_cell_space` is the one test for that capability.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workbench.spaces import CellSpace, ChoiceGroup, SearchSpace
from workbench.spaces.cell.genotype import Genotype

__all__ = ["is_cell_space", "choice_groups", "group_title", "row_noun", "fits", "kept_options", "edge_labels",
           "genotype_edge_ops"]


def is_cell_space(space: Any) -> bool:
    """Whether ``space`` is a DARTS-style cell space (groups = cell types, rows = edges, architectures = Genotypes)."""
    return isinstance(space, CellSpace)


def choice_groups(space: SearchSpace, names: Sequence[str] | None = None) -> list[ChoiceGroup]:
    """The space's choice groups (all, or those named, in the given order); unknown names list the groups."""
    groups = list(space.choice_groups())
    if names is None:
        return groups
    by = {g.name: g for g in groups}
    unknown = [n for n in names if n not in by]
    if unknown:
        raise ValueError(f"unknown choice group (cell type) {unknown[0]!r}; space {space.name!r} has "
                         f"{list(by)}")
    return [by[n] for n in names]


def group_title(space: SearchSpace, group: str) -> str:
    """How a group is named in titles: "normal cell" / "cell" for cell spaces, else the group's name."""
    if is_cell_space(space):
        return group if group == "cell" else f"{group} cell"
    return group


def row_noun(space: SearchSpace) -> str:
    """What a row is called: "edge" in a cell, "row" elsewhere."""
    return "edge" if is_cell_space(space) else "row"


def fits(space: SearchSpace, arch: Any) -> bool:
    """Whether ``arch`` is an architecture of ``space`` (``space.check`` passes)."""
    try:
        space.check(arch)
    except ValueError:  # ArchitectureError, GenotypeError
        return False
    return True


def kept_options(space: SearchSpace, arch: Any, group: str) -> dict[int, str]:
    """Row index -> the option that ``arch`` keeps in ``group`` (a cell genotype keeps only some edges)."""
    if arch is None:
        return {}
    if isinstance(arch, Genotype):
        return genotype_edge_ops(space, arch, group) if is_cell_space(space) else {}
    picks = getattr(arch, "picks", None)
    if isinstance(picks, Mapping) and group in picks:
        return dict(enumerate(picks[group]))
    return {}


# ------------------------------------------------------------------------------ cell spaces
def edge_labels(space: SearchSpace) -> list[str]:
    """One label per edge of a cell space: DARTS "c_{k-2}→0", "c_{k-1}→0", "0→1"...; NB201 "0→1", "0→2"...

    For any other space: the rows of its first choice group.
    """
    if is_cell_space(space):
        return list(space.edge_labels())
    return list(space.choice_groups()[0].rows)


def genotype_edge_ops(space: Any, genotype: Genotype, cell_type: str) -> dict[int, str]:
    """Edge index -> op kept by ``genotype`` in ``cell_type`` (the last one when an edge carries two ops)."""
    cell = genotype.cell(cell_type)
    out: dict[int, str] = {}
    for node, op, src in cell.edges():
        try:
            out[space.edge_index(node, src)] = op
        except ValueError:
            raise ValueError(f"genotype cell {cell_type!r} has an edge {src}->{node} that space {space.name!r} "
                             f"lacks; its edges are {list(space.edges)}") from None
    return out

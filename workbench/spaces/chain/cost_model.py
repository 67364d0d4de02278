"""A chain space's cost models without torch: a (layers x blocks) table with the space's legal blocks, and
the workbench's measured latency tables read back (FBNet, Wu et al. CVPR 2019, Eq. 5; ProxylessNAS, Cai et al.
ICLR 2019, Eq. 5: E[cost] = sum over layers of p . cost).

Every cost model made for a chain space is a :class:`MaskedCostModel`: it knows which (layer, block) pairs the
space allows, so its ``minimum()`` -- the cheapest architecture, which
:class:`~workbench.methods.costs.ArchCostTerm` checks a budget against -- never counts ``skip`` (cost 0) on a
layer that cannot skip. :func:`layer_inputs` gives the (C, H, W) each layer sees. Counting and timing the
blocks needs torch (:mod:`workbench.spaces.chain.costs`, which re-exports these names); pricing a space by a
table does not (``python -m workbench latency show TABLE --space chain``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.methods.cost_model import CostModel
from workbench.spaces.chain.space import GROUP, ChainSpace

__all__ = ["LATENCY_FORMAT", "MaskedCostModel", "latency_cost_model", "layer_inputs", "load_latency",
           "space_cost_model"]

LATENCY_FORMAT = "workbench-latency-table/1"


@dataclass(frozen=True)
class MaskedCostModel(CostModel):
    """A :class:`CostModel` that remembers the options each row allows (``allowed[group]``, rows x options).

    ``minimum()`` is then the cheapest *legal* architecture's cost (a disallowed
    option's table entry, 0 by convention, is never picked); everything else is
    the plain cost model's (disallowed options get probability 0 anyway).
    """

    allowed: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for g, a in (self.allowed or {}).items():
            if g in self.costs and np.shape(a) != np.shape(self.costs[g]):
                raise ValueError(f"allowed mask of group {g!r} is {np.shape(a)} but its cost table is "
                                 f"{np.shape(self.costs[g])}")

    def minimum(self, allowed: Mapping[str, np.ndarray] | None = None) -> float:
        return super().minimum(self.allowed if allowed is None else allowed)


def space_cost_model(space: ChainSpace, table: np.ndarray, unit: str, name: str) -> MaskedCostModel:
    """A cost model of ``space``'s choice group from a (layers x blocks) table, with the space's legal blocks."""
    g, = space.choice_groups()
    return MaskedCostModel({GROUP: np.asarray(table, dtype=np.float64)}, unit=unit, name=name,
                           allowed={GROUP: g.allowed_matrix()})


def layer_inputs(space: ChainSpace, input_shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(C, H, W) entering each searchable layer for examples of ``input_shape`` (C_in, H, W)."""
    _, h, w = input_shape
    for _ in range(space.stem_stride_for(input_shape).bit_length() - 1):  # the stem's stride-2 convs
        h, w = -(-h // 2), -(-w // 2)
    out = []
    for p in space.plan():
        out.append((p.C_in, h, w))
        if p.stride > 1:
            h, w = -(-h // p.stride), -(-w // p.stride)
    return out


def load_latency(path: str | Path, space: ChainSpace) -> CostModel:
    """A measured latency table as a cost model; refuses a table made for another space (shape or fingerprint)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read latency table {path}: {exc}") from None
    return latency_cost_model(d, space, str(path), label=path.name)


def latency_cost_model(d: Any, space: ChainSpace, source: str, label: str | None = None) -> CostModel:
    """The cost model of a parsed workbench latency table ``d`` (read from ``source``) for ``space``."""
    if not isinstance(d, dict) or d.get("format") != LATENCY_FORMAT:
        raise ValueError(f"{source} is not a workbench latency table (format {LATENCY_FORMAT!r}); make one with "
                         "workbench.spaces.chain.costs.measure_latency")
    g, = space.choice_groups()
    if list(d.get("rows", [])) != list(g.rows) or list(d.get("options", [])) != list(g.options):
        missing = sorted(set(g.rows) - set(d.get("rows", [])))
        raise ValueError(f"latency table {source} was measured for space {d.get('space')!r} with layers "
                         f"{d.get('rows')} and blocks {d.get('options')}; space {space.name!r} needs layers "
                         f"{list(g.rows)} and blocks {list(g.options)} (missing layer shapes: {missing})")
    try:
        table = np.asarray(d["table"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"latency table {source} has no numeric 'table' (rows x blocks): {exc!r}") from None
    if table.shape != g.shape:
        raise ValueError(f"latency table {source}: 'table' is {table.shape}, its rows x blocks are {g.shape}")
    return space_cost_model(space, table, str(d.get("unit", "ms")), f"latency ({label or Path(source).name})")

"""Discretisation: from mixing weights to a genotype.

* ``darts`` (Liu et al. 2019, Sec. 2.4; `quark0/darts:cnn/model_search.py::
  Network.genotype`): for each intermediate node, rank its incoming edges by
  their strongest non-``none`` weight, keep the top k=2 (a stable sort: ties
  keep the lower source first), give each kept edge its strongest non-``none``
  op (first maximum wins), and list them in strength order, not source order.
* ``all_edges`` (NAS-Bench-201; AutoDL ``genotype``): every edge keeps its
  argmax op, *including* ``none`` by default, as in the reference.
* ``gdas_pairs`` (GDAS on the DARTS space, `search_model_gdas_nasnet.py`): the
  top-2 (op, edge) pairs over all incoming edges and non-``none`` ops, so two
  ops may share an input.
* ``snas`` (SNAS): like ``darts`` but ``none`` counts, both for ranking edges
  and as the chosen op.

Disabled (masked) ops never win. Weights are numpy arrays (edges, ops).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from workbench.registry import Registry
from workbench.spaces import CellSpace, cell_genotype
from workbench.spaces.cell.genotype import Genotype

Rule = Callable[..., list[list[tuple[str, int]]]]
RULES: Registry[Rule] = Registry("genotype rule")


def _masked(w: np.ndarray, mask: np.ndarray | None, drop: list[int]) -> np.ndarray:
    w = np.array(w, dtype=np.float64, copy=True)
    if mask is not None:
        w[~np.asarray(mask, dtype=bool)] = -np.inf
    w[:, drop] = -np.inf
    return w


def _first_argmax(row: np.ndarray) -> int:
    return int(np.argmax(row))  # numpy returns the first maximum, like the reference's strict '>'


def darts_rule(space: CellSpace, w: np.ndarray, mask: np.ndarray | None = None, k: int | None = None,
               include_none: bool = False) -> list[list[tuple[str, int]]]:
    k = space.edges_per_node if k is None else k
    none = [space.ops.index("none")] if "none" in space.ops and not include_none else []
    w = _masked(w, mask, none)
    nodes = []
    for i in range(space.n_nodes):
        edges = space.node_edges(i)
        strength = [w[e].max() for e in edges]
        order = sorted(range(len(edges)), key=lambda t: -strength[t])  # stable: ties keep lower source
        nodes.append([(space.ops[_first_argmax(w[edges[t]])], space.edges[edges[t]][1]) for t in order[:k]])
    return nodes


def all_edges_rule(space: CellSpace, w: np.ndarray, mask: np.ndarray | None = None,
                   include_none: bool = True) -> list[list[tuple[str, int]]]:
    none = [space.ops.index("none")] if "none" in space.ops and not include_none else []
    w = _masked(w, mask, none)
    return [[(space.ops[_first_argmax(w[e])], space.edges[e][1]) for e in space.node_edges(i)]
            for i in range(space.n_nodes)]


def gdas_pairs_rule(space: CellSpace, w: np.ndarray, mask: np.ndarray | None = None,
                    k: int = 2) -> list[list[tuple[str, int]]]:
    none = [space.ops.index("none")] if "none" in space.ops else []
    w = _masked(w, mask, none)
    nodes = []
    for i in range(space.n_nodes):
        cands = [(w[e, o], space.ops[o], space.edges[e][1]) for e in space.node_edges(i)
                 for o in range(len(space.ops)) if np.isfinite(w[e, o])]
        cands.sort(key=lambda t: -t[0])  # stable
        nodes.append([(op, src) for _, op, src in cands[:k]])
    return nodes


RULES.register("darts", darts_rule)
RULES.register("all_edges", all_edges_rule)
RULES.register("gdas_pairs", gdas_pairs_rule)
RULES.register("snas", lambda space, w, mask=None: darts_rule(space, w, mask, include_none=True))


def derive_genotype(space: CellSpace, weights: Mapping[str, np.ndarray],
                    masks: Mapping[str, np.ndarray] | None = None, rule: str | None = None) -> Genotype:
    """Apply a genotype rule (default: the space's) to each cell type's weights."""
    fn = RULES.get(rule or space.genotype_rule)
    cells = []
    for c in space.cell_types:
        nodes = fn(space, np.asarray(weights[c]), None if masks is None else masks[c])
        cells.append((c, cell_genotype(space, nodes)))
    return Genotype(tuple(cells))

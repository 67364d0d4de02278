"""Cell search spaces (DARTS-style): frozen descriptions that implement the space protocol.

A :class:`CellSpace` chooses one op per edge of a cell, for each cell type:
its choice groups are the cell types, with the edges as rows (labelled
"c_{k-2}→0", "0→1", ...) and the candidate ops as options. Architectures are
:class:`~workbench.spaces.cell.genotype.Genotype` objects; the supernet is
:class:`~workbench.spaces.cell.supernet.Supernet`, sized by
:class:`~workbench.spaces.cell.supernet.SupernetConfig` (where PC-DARTS's
partial channels and edge normalisation and GDAS's inactive-op terms are
settings of the space's supernet, not engine flags).

* ``darts``: the DARTS CNN cell space (Liu et al. 2019, Sec. 2.1;
  `quark0/darts:cnn/genotypes.py` PRIMITIVES): 8 ops, 2 input states,
  4 intermediate nodes, 14 edges, separate normal and reduction alphas.
* ``nb201``: the NAS-Bench-201 cell (Dong & Yang 2020): 5 ops, 1 input,
  3 nodes, 6 edges, one cell type shared by every cell; op order as in
  AutoDL's ``NAS_BENCH_201`` list.
* ``toy``: a 2-node NB201-style cell with 4 ops (3 edges), for tests and the
  first lesson.
* ``s1``..``s4``: RobustDARTS's reduced DARTS spaces (Zela et al. 2020,
  `automl/RobustDARTS:src/spaces.py`), where each edge has its own op subset,
  expressed as a per-edge mask over the union of ops; ``s5`` is DARTS without
  ``none`` (DARTS-PT / SDARTS).

The candidate op set is editable: ``space.with_ops(remove=..., add=...)``
returns a new space; during a search, ``Supernet.set_op_enabled`` masks ops.

This module imports no torch (op names are checked by :mod:`workbench.spaces.cell.op_names`; the supernet, the
discrete network and the ops are imported when built), so a config naming a cell space and its removed ops is
checked and printed (``python -m workbench search --remove-op OP --print-config``) without it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.spaces.cell.genotype import CellGenotype, Genotype, GenotypeError, state_name
from workbench.spaces.cell.op_names import check_op, registered_ops
from workbench.spaces.protocol import SPACES, ArchitectureError, ChoiceGroup, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from workbench.spaces.cell.supernet import Supernet
    from workbench.tasks.task import TaskInfo

DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@dataclass(frozen=True)
class CellSpace(SearchSpace):
    """A cell search space.

    Edges are ordered node by node, and within a node by source state, as in
    DARTS (node i of a 2-input cell owns edges offset..offset+i+1) and in the
    NB201 string (1<-0, 2<-0, 2<-1, 3<-0, ...).
    """

    name: str
    ops: tuple[str, ...]
    n_inputs: int  # 2 for DARTS cells (c_{k-2}, c_{k-1}); 1 for NB201
    n_nodes: int
    cell_types: tuple[str, ...]
    macro: str  # "darts" (stem, cells, reductions at 1/3 and 2/3) or "nb201" (3 stages + residual blocks)
    genotype_rule: str  # "darts" (top-k edges per node) or "all_edges" (argmax op on every edge)
    pool_bn: bool = False  # DARTS appends BN(affine=False) to pooling ops in the search model
    edges_per_node: int = 2  # kept by the "darts" rule
    # Optional per-cell-type, per-edge op subsets (RobustDARTS S1-S4); None = every op on every edge.
    edge_ops: Mapping[str, tuple[tuple[str, ...], ...]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.ops:
            raise ValueError(f"space {self.name!r} has an empty op set; give at least one op from: "
                             f"{', '.join(registered_ops())}")
        for op in self.ops:
            check_op(op)  # raises with the list of known ops
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"space {self.name!r} lists an op twice: {self.ops}")
        if all(op == "none" for op in self.ops):
            raise ValueError(f"space {self.name!r} has only 'none'; add at least one real op from: "
                             f"{', '.join(registered_ops())}")

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(node, source_state) per edge; node is 0-based, state n_inputs+i is node i."""
        return tuple((i, j) for i in range(self.n_nodes) for j in range(self.n_inputs + i))

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def edge_index(self, node: int, src: int) -> int:
        return self.edges.index((node, src))

    def node_edges(self, node: int) -> list[int]:
        return [k for k, (i, _) in enumerate(self.edges) if i == node]

    def op_allowed(self, cell_type: str, edge: int, op: str) -> bool:
        if op not in self.ops:
            return False
        if self.edge_ops is None:
            return True
        return op in self.edge_ops[cell_type][edge]

    def with_ops(self, remove: Iterable[str] = (), add: Iterable[str] = ()) -> CellSpace:
        """A copy with ops removed or added by name (unknown names list the known ops)."""
        remove, add = list(remove), list(add)
        for op in remove:
            if op not in self.ops:
                raise ValueError(f"cannot remove {op!r}: not in space {self.name!r}; its ops are {', '.join(self.ops)}")
        for op in add:
            check_op(op)
        ops = tuple(o for o in self.ops if o not in remove) + tuple(o for o in add if o not in self.ops)
        edge_ops = self.edge_ops
        if edge_ops is not None:
            edge_ops = {c: tuple(tuple(o for o in e if o not in remove) + tuple(add) for e in es)
                        for c, es in edge_ops.items()}
        return replace(self, ops=ops, edge_ops=edge_ops)

    def check_genotype(self, g: Genotype) -> None:
        """Raise GenotypeError if ``g`` does not fit this space (cells, nodes, inputs, ops)."""
        names = tuple(g.cell_names)
        if set(names) != set(self.cell_types):
            raise GenotypeError(
                f"genotype has cells {names} but space {self.name!r} has cells {self.cell_types}")
        for name in self.cell_types:
            cell = g.cell(name)
            if cell.n_inputs != self.n_inputs:
                raise GenotypeError(f"cell {name!r} has {cell.n_inputs} input state(s); space {self.name!r} "
                                    f"expects {self.n_inputs}")
            if len(cell.nodes) != self.n_nodes:
                raise GenotypeError(f"cell {name!r} has {len(cell.nodes)} intermediate nodes; space "
                                    f"{self.name!r} expects {self.n_nodes}")
            for i, node in enumerate(cell.nodes):
                for op, _src in node:
                    if op not in self.ops:
                        raise GenotypeError(f"cell {name!r} node {i} uses op {op!r}, which is not in space "
                                            f"{self.name!r}; accepted ops: {', '.join(self.ops)}")

    # -- the space protocol ----------------------------------------------------------------------
    @property
    def rules(self) -> tuple[str, ...]:  # type: ignore[override]
        from workbench.spaces.cell.select import RULES
        return tuple(RULES.names())

    @property
    def default_rule(self) -> str:  # type: ignore[override]
        return self.genotype_rule

    def state_name(self, state: int) -> str:
        """DARTS: inputs "c_{k-2}", "c_{k-1}", nodes "0", "1", ...; NB201: states numbered from the input "0"."""
        return state_name(self.n_inputs, state)

    def edge_labels(self) -> tuple[str, ...]:
        """One label per edge: DARTS "c_{k-2}→0", "c_{k-1}→0", "0→1"...; NB201 "0→1", "0→2", "1→2"..."""
        return tuple(f"{self.state_name(src)}→{self.state_name(self.n_inputs + node)}" for node, src in self.edges)

    @cached_property
    def _groups(self) -> tuple[ChoiceGroup, ...]:
        rows = self.edge_labels()
        return tuple(ChoiceGroup(c, rows, self.ops, tuple(tuple(self.op_allowed(c, k, o) for o in self.ops)
                                                           for k in range(self.n_edges)))
                     for c in self.cell_types)

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        """One group per cell type: edges x ops."""
        return self._groups

    def supernet_config(self, value: Any = None, **overrides: Any) -> Any:
        """A :class:`SupernetConfig` from one (or a mapping of its fields, or None), with ``overrides`` applied
        (:func:`workbench.spaces.cell.settings.cell_supernet_config`)."""
        from workbench.spaces.cell.settings import cell_supernet_config
        return cell_supernet_config(self.name, value, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> Supernet:
        from workbench.spaces.cell.supernet import Supernet
        if len(task.input_shape) != 3:
            raise ValueError(f"cell space {self.name!r} needs image inputs (C, H, W); task {task.name!r} has "
                             f"examples of shape {task.input_shape}")
        return Supernet(self, self.supernet_config(config), task.input_shape[0], task.n_outputs)

    def decode(self, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None,
               rule: str | None = None) -> Genotype:
        from workbench.spaces.cell.select import derive_genotype
        return derive_genotype(self, probs, masks, rule)

    def check(self, arch: Any) -> None:
        if not isinstance(arch, Genotype):
            raise ArchitectureError(f"cell space {self.name!r} expects a Genotype, got {type(arch).__name__}")
        self.check_genotype(arch)

    def parse(self, text: str) -> Genotype:
        """A genotype from DARTS text, an NB201 string or JSON, checked against this space."""
        g = Genotype.parse(text)
        self.check_genotype(g)
        return g

    def label(self, arch: Any) -> str:
        return str(arch)

    def arch_from_dict(self, d: Mapping[str, Any]) -> Genotype:
        return Genotype.from_dict(dict(d))

    def to_dot(self, arch: Any, title: str | None = None) -> str:
        from workbench.spaces.cell.draw import genotype_dot
        return genotype_dot(arch, title=title)

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> nn.Module:
        """The discrete network of ``arch`` (:func:`~workbench.spaces.cell.discrete.from_space`); ``options``:
        ``supernet_config`` (size) and :class:`DiscreteNetwork` keywords."""
        from workbench.spaces.cell.discrete import from_space
        return from_space(arch, self, options.pop("supernet_config", None), task.input_shape[0], task.n_outputs,
                          **options)

    def fingerprint(self) -> str:
        payload = {"name": self.name, "ops": list(self.ops), "n_inputs": self.n_inputs, "n_nodes": self.n_nodes,
                   "cell_types": list(self.cell_types), "macro": self.macro, "rule": self.genotype_rule,
                   "pool_bn": self.pool_bn, "edges_per_node": self.edges_per_node,
                   "edge_ops": None if self.edge_ops is None else {c: [list(e) for e in es]
                                                                    for c, es in self.edge_ops.items()}}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (f"{self.name}: {len(self.ops)} ops ({', '.join(self.ops)}), {self.n_inputs} input(s), "
                f"{self.n_nodes} nodes, {self.n_edges} edges, cells {', '.join(self.cell_types)}")


def _darts(name: str, ops: Sequence[str] = DARTS_OPS, edge_ops=None) -> CellSpace:
    return CellSpace(name, tuple(ops), 2, 4, ("normal", "reduce"), "darts", "darts", pool_bn=True,
                       edge_ops=edge_ops)


SPACES.register("darts", _darts("darts"))
SPACES.register("nb201", CellSpace("nb201", NB201_OPS, 1, 3, ("cell",), "nb201", "all_edges"))
SPACES.register("toy", CellSpace("toy", ("none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"), 1, 2,
                                   ("cell",), "nb201", "all_edges"))

# RobustDARTS reduced spaces (src/spaces.py), edges 0..13 in DARTS order.
_S1_NORMAL = [("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"),
              ("skip_connect", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"), ("max_pool_3x3", "skip_connect"),
              ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
              ("skip_connect", "sep_conv_3x3"), ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
              ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5")]
_S1_REDUCE = [("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"), ("max_pool_3x3", "avg_pool_3x3"),
              ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
              ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
              ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
              ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5")]


def _union(*lists: Sequence[Sequence[str]]) -> tuple[str, ...]:
    return tuple(o for o in DARTS_OPS + ("noise",) if any(o in e for es in lists for e in es))


SPACES.register("s1", _darts("s1", _union(_S1_NORMAL, _S1_REDUCE),
                             {"normal": tuple(_S1_NORMAL), "reduce": tuple(_S1_REDUCE)}))
SPACES.register("s2", _darts("s2", ("skip_connect", "sep_conv_3x3")))
SPACES.register("s3", _darts("s3", ("none", "skip_connect", "sep_conv_3x3")))
SPACES.register("s4", _darts("s4", ("sep_conv_3x3", "noise")))
SPACES.register("s5", _darts("s5", DARTS_OPS[1:]))
# sharpDARTS (Hundt et al. 2019): the DARTS cell with SharpSepConv in place of the separable/dilated convs.
SPACES.register("sharp", _darts("sharp", ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                          "sharp_sep_conv_3x3", "sharp_sep_conv_5x5", "sharp_dil_conv_3x3",
                                          "sharp_dil_conv_5x5")))


def cell_genotype(space: CellSpace, nodes: Sequence[Sequence[tuple[str, int]]]) -> CellGenotype:
    concat = tuple(range(space.n_inputs, space.n_inputs + space.n_nodes))
    if space.macro == "nb201":  # the output of an NB201 cell is its last node
        concat = (space.n_inputs + space.n_nodes - 1,)
    return CellGenotype(tuple(tuple(n) for n in nodes), concat, space.n_inputs)

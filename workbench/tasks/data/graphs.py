"""Graph datasets generated offline, packed as dense tensors (DARTS-GT's CPU-scale tasks, SEEDS_2 §7.6).

No torch_geometric and nothing downloaded: graphs are generated with numpy and stored dense, which is enough for
graphs of at most a few dozen nodes.

**Packing** (one example = one graph; examples along axis 0, so every engine piece -- batch streams, the DARTS
split, run folders -- works unchanged). A graph with ``n <= N`` nodes and ``F`` node features is the float32
matrix ``x`` of shape ``(N, 1 + F + N)``, one row per node slot:

* column 0: the node mask (1 for the graph's nodes, 0 for padding rows);
* columns ``1 .. F``: the node features;
* columns ``1 + F ..``: the row of the dense, symmetric, 0/1 adjacency matrix (no self-loops).

Padding rows (and columns) are all zero. :func:`unpack` splits a batch ``(B, N, 1 + F + N)`` back into the mask
``(B, N)``, the features ``(B, N, F)`` and the adjacency ``(B, N, N)``; ``F`` follows from the shape. Node order
inside a graph is random (a seeded permutation), so no model can read the answer from positions.

**Labels.** Graph-level tasks: ``y`` is ``(B,)`` int64 (cross-entropy). Node-level tasks: ``y`` is ``(B, N)``
int64 with :data:`~workbench.tasks.graph_objectives.PAD_LABEL` (-1) on padding rows, and the objective is
``node_cross_entropy`` (:mod:`workbench.tasks.graph_objectives`).

**Datasets** (registered by name with :func:`~workbench.tasks.data.datasets.register_dataset`):

* ``graphs_motifs`` -- BA-2Motifs-style graph classification: a Barabasi-Albert tree (m = 1) of 14-20 nodes plus
  a planted 5-node motif joined by one edge; label 0 = a 5-cycle, 1 = a "house". Node features: the one-hot
  degree (capped at 5; 6 columns). 600 graphs: 450 training (the search splits them), 150 test. ``truth_test``
  marks the motif nodes of every test graph (the ground-truth explanation). SEEDS_2 §7.6 asks for *constant*
  node features (``ba_motif_graphs(features="constant")``); with them the graph transformer underfits at this
  budget, as in the pilot (§7.7: 0.68; measured here 0.56-0.61 test accuracy after 30 epochs, chance 0.5),
  while with the degree one-hot every expert reaches 1.0 in 20 epochs.
* ``graphs_sbm`` -- CLUSTER-style node classification: a stochastic block model with 4 blocks on 20-30 nodes
  (edge probability 0.5 inside a block, 0.1 across); every node's label is its block; one seed node per block
  shows its block as a one-hot feature (features: a constant 1 and the 4-dim one-hot, zeros for non-seeds).
  600 graphs: 450 training, 150 test.

The graphs themselves are generated from a fixed seed (:data:`GENERATOR_SEED`): the dataset is the same for
every search. ``load_dataset(name, seed=s)`` only orders the training graphs (the DARTS split takes the first
part for the weights), and ``limit`` keeps the first ``limit`` of them; the test graphs never change.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from workbench.spaces.settings.graph import LEVELS
from workbench.tasks.data.datasets import dataset_names, register_dataset
from workbench.tasks.graph_objectives import NAME as NODE_OBJECTIVE
from workbench.tasks.graph_objectives import PAD_LABEL

GENERATOR_SEED = 0
__all__ = ["GENERATOR_SEED", "GraphDataset", "LEVELS", "MOTIF_FEATURES", "adjacency_from_edges", "ba_motif_graphs",
           "graph_level", "node_features", "pack", "remove_node", "permute_nodes", "register_graph_task", "sbm_graphs", "unpack"]


# ----------------------------------------------------------------------------------------------- packing
def pack(adjacency: np.ndarray, features: np.ndarray, max_nodes: int) -> np.ndarray:
    """One graph (adjacency ``(n, n)``, features ``(n, F)``) as the padded ``(max_nodes, 1 + F + max_nodes)``
    matrix of the module docstring."""
    a = np.asarray(adjacency, dtype=np.float32)
    f = np.asarray(features, dtype=np.float32)
    n = a.shape[0]
    if a.shape != (n, n) or f.ndim != 2 or f.shape[0] != n:
        raise ValueError(f"pack: adjacency must be (n, n) and features (n, F); got {a.shape} and {f.shape}")
    if n > max_nodes:
        raise ValueError(f"pack: a graph of {n} nodes does not fit max_nodes={max_nodes}")
    if not np.array_equal(a, a.T) or np.any(np.diag(a)) or not np.isin(a, (0, 1)).all():
        raise ValueError("pack: the adjacency must be symmetric, 0/1 and without self-loops")
    k = f.shape[1]
    out = np.zeros((max_nodes, 1 + k + max_nodes), dtype=np.float32)
    out[:n, 0] = 1
    out[:n, 1:1 + k] = f
    out[:n, 1 + k:1 + k + n] = a
    return out


def unpack(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A packed batch ``(B, N, 1 + F + N)`` -> node mask ``(B, N)``, features ``(B, N, F)``, adjacency ``(B, N, N)``."""
    if x.ndim != 3 or x.shape[-1] < 1 + x.shape[-2]:
        raise ValueError(f"a packed graph batch is (B, N, 1 + F + N) with F >= 0; got shape {tuple(x.shape)}")
    n = x.shape[-2]
    k = x.shape[-1] - 1 - n
    return x[..., 0], x[..., 1:1 + k], x[..., 1 + k:]


def permute_nodes(x: Tensor, perm: Tensor) -> Tensor:
    """Relabel the nodes of packed graphs ``(B, N, W)`` (or one graph ``(N, W)``): node ``perm[i]`` becomes ``i``."""
    one = x.ndim == 2
    xb = x.unsqueeze(0) if one else x
    mask, feats, adj = unpack(xb)
    p = perm.to(x.device)
    out = torch.cat([mask[:, p, None], feats[:, p], adj[:, p][:, :, p]], dim=-1)
    return out[0] if one else out


def remove_node(x: Tensor, node: int) -> Tensor:
    """A copy of packed graphs ``(B, N, W)`` with node ``node`` deleted: its row (mask, features, adjacency) and its
    adjacency column are zeroed, so it becomes a padding slot."""
    mask, feats, _ = unpack(x)
    if not 0 <= node < x.shape[-2]:
        raise ValueError(f"node {node} out of range: the graphs have {x.shape[-2]} node slots")
    out = x.clone()
    out[..., node, :] = 0
    out[..., 1 + feats.shape[-1] + node] = 0
    return out


def adjacency_from_edges(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    a = np.zeros((n, n), dtype=np.float32)
    for i, j in edges:
        if i != j:
            a[i, j] = a[j, i] = 1
    return a


# ----------------------------------------------------------------------------------------------- generators
def _ba_tree(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Barabasi-Albert with m = 1: each new node joins one earlier node chosen with probability ~ its degree."""
    edges = [(0, 1)]
    degree = np.zeros(n)
    degree[:2] = 1
    for v in range(2, n):
        u = int(rng.choice(v, p=degree[:v] / degree[:v].sum()))
        edges.append((u, v))
        degree[u] += 1
        degree[v] += 1
    return edges


MOTIFS = {"cycle": [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)],
          "house": [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4)]}


@dataclass(frozen=True)
class RawGraphs:
    """Generated graphs before splitting: packed ``x`` (G, N, W), labels, optional node ground truth (G, N)."""

    x: np.ndarray
    y: np.ndarray
    truth: np.ndarray | None
    classes: tuple[str, ...]


MOTIF_FEATURES = ("degree", "constant")
MAX_DEGREE = 5


def node_features(adjacency: np.ndarray, kind: str) -> np.ndarray:
    """``"degree"``: one-hot of min(degree, 5) (6 columns); ``"constant"``: one column of ones."""
    n = adjacency.shape[0]
    if kind == "constant":
        return np.ones((n, 1), dtype=np.float32)
    if kind == "degree":
        deg = np.minimum(adjacency.sum(1).astype(int), MAX_DEGREE)
        return np.eye(MAX_DEGREE + 1, dtype=np.float32)[deg]
    raise ValueError(f"node features must be one of {MOTIF_FEATURES}, got {kind!r}")


def ba_motif_graphs(n_graphs: int = 600, base_nodes: tuple[int, int] = (14, 20), features: str = "degree",
                    seed: int = GENERATOR_SEED) -> RawGraphs:
    """BA-2Motifs-style graphs (module docstring): label 0 = 5-cycle, 1 = house; ``truth`` = motif nodes."""
    if features not in MOTIF_FEATURES:
        raise ValueError(f"features must be one of {MOTIF_FEATURES}, got {features!r}")
    rng = np.random.default_rng(seed)
    max_nodes = base_nodes[1] + 5
    xs, ys, truths = [], [], []
    labels = np.arange(n_graphs) % 2
    rng.shuffle(labels)
    for label in labels:
        nb = int(rng.integers(base_nodes[0], base_nodes[1] + 1))
        edges = _ba_tree(nb, rng)
        motif = MOTIFS["cycle" if label == 0 else "house"]
        edges += [(nb + i, nb + j) for i, j in motif]
        edges.append((nb + int(rng.integers(5)), int(rng.integers(nb))))
        n = nb + 5
        perm = rng.permutation(n)  # node i of the construction becomes node perm[i]
        edges = [(int(perm[i]), int(perm[j])) for i, j in edges]
        truth = np.zeros(max_nodes, dtype=bool)
        truth[perm[nb:]] = True
        a = adjacency_from_edges(n, edges)
        xs.append(pack(a, node_features(a, features), max_nodes))
        ys.append(label)
        truths.append(truth)
    return RawGraphs(np.stack(xs), np.asarray(ys, dtype=np.int64), np.stack(truths), ("cycle", "house"))


def sbm_graphs(n_graphs: int = 600, nodes: tuple[int, int] = (20, 30), blocks: int = 4, p_in: float = 0.5,
               p_out: float = 0.1, seed: int = GENERATOR_SEED) -> RawGraphs:
    """CLUSTER-style stochastic block models (module docstring); ``y`` per node, -1 on padding rows."""
    rng = np.random.default_rng(seed)
    max_nodes = nodes[1]
    xs, ys = [], []
    for _ in range(n_graphs):
        n = int(rng.integers(nodes[0], nodes[1] + 1))
        block = rng.permutation(np.arange(n) % blocks)
        same = block[:, None] == block[None, :]
        upper = np.triu(rng.random((n, n)) < np.where(same, p_in, p_out), 1)
        a = (upper | upper.T).astype(np.float32)
        feats = np.zeros((n, 1 + blocks), dtype=np.float32)
        feats[:, 0] = 1
        for b in range(blocks):
            seed_node = int(rng.choice(np.flatnonzero(block == b)))
            feats[seed_node, 1 + b] = 1
        y = np.full(max_nodes, PAD_LABEL, dtype=np.int64)
        y[:n] = block
        xs.append(pack(a, feats, max_nodes))
        ys.append(y)
    return RawGraphs(np.stack(xs), np.stack(ys), None, tuple(f"block {b}" for b in range(blocks)))


# ----------------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True, eq=False)
class GraphDataset:
    """Packed graphs (module docstring) with their task level and, when known, the test graphs' node ground truth.

    Satisfies the :class:`~workbench.tasks.task.Dataset` protocol; ``level`` is ``"graph"`` or ``"node"``.
    """

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    n_outputs: int
    level: str
    classes: tuple[str, ...] = ()
    truth_test: Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"{self.name}: level must be one of {LEVELS}, got {self.level!r}")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            unpack(x)  # checks the packed shape
            want = (len(x),) if self.level == "graph" else tuple(x.shape[:2])
            if tuple(y.shape) != want:
                raise ValueError(f"{self.name}: {self.level}-level labels y_{split} must have shape {want}, got "
                                 f"{tuple(y.shape)}")

    @property
    def default_objective(self) -> str:
        return "cross_entropy" if self.level == "graph" else NODE_OBJECTIVE

    @property
    def input_shape(self) -> tuple[int, int]:
        return int(self.x_train.shape[1]), int(self.x_train.shape[2])

    @property
    def max_nodes(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[2]) - 1 - self.max_nodes


def split_graphs(name: str, raw: RawGraphs, level: str, n_test: int, seed: int, limit: int | None) -> GraphDataset:
    """The last ``n_test`` graphs are the test set; the rest, ordered by ``seed`` and cut to ``limit``, train."""
    n = len(raw.y)
    if not 0 < n_test < n:
        raise ValueError(f"{name}: n_test={n_test} must leave training graphs out of {n}")
    train = torch.randperm(n - n_test, generator=torch.Generator().manual_seed(int(seed)))
    if limit is not None:
        train = train[:limit]
    x, y = torch.from_numpy(raw.x), torch.from_numpy(raw.y)
    truth = None if raw.truth is None else torch.from_numpy(raw.truth[n - n_test:]).clone()
    return GraphDataset(name, x[train].contiguous(), y[train].contiguous(), x[n - n_test:].clone(),
                        y[n - n_test:].clone(), len(raw.classes), level, raw.classes, truth)


_CACHE: dict[str, RawGraphs] = {}
#: task name -> level, for spaces that build a graph- or node-level head (see :func:`graph_level`)
_LEVELS: dict[str, str] = {}


def register_graph_task(name: str, level: str) -> None:
    """Declare that the dataset ``name`` is a ``"graph"``- or ``"node"``-level graph task (spaces read it)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    _LEVELS[name.strip().lower().replace("-", "_")] = level


def graph_level(name: str) -> str | None:
    """The level a dataset name was registered with (None if unknown)."""
    return _LEVELS.get(str(name).strip().lower().replace("-", "_"))


def _factory(name: str, make: Callable[[], RawGraphs], level: str) -> Callable[..., GraphDataset]:
    def load(root: Path | None = None, *, seed: int = 0, limit: int | None = None) -> GraphDataset:
        if name not in _CACHE:
            _CACHE[name] = make()
        return split_graphs(name, _CACHE[name], level, 150, seed, limit)

    load.__name__ = f"load_{name}"
    return load


for _name, _make, _level in (("graphs_motifs", ba_motif_graphs, "graph"), ("graphs_sbm", sbm_graphs, "node")):
    register_graph_task(_name, _level)
    if _name not in dataset_names():
        register_dataset(_name, _factory(_name, _make, _level))

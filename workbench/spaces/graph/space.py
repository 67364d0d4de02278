"""The ``graph_transformer`` space: DARTS-GT's per-layer choice of the GNN that feeds keys and values (SEEDS_2 §7).

DARTS-GT ("Differentiable Architecture Search for Graph Transformers with Quantifiable Instance-Specific
Interpretability Analysis", 2025; code shrutiOx/DARTS_GT) searches, for every layer of a graph transformer, which
GNN operator computes the keys and values its attention uses (:mod:`workbench.spaces.graph.layer`); queries
come from the node states. The CPU-scale version (§7.6): d = 32, H = 4 heads, 2 layers, experts
{GIN, GCN, GAT} (:mod:`workbench.spaces.graph.experts`), one alpha row per layer (the reference's
``weight_fix='1:1:...'``), a plain softmax over the experts (DARTS).

Inputs are packed graphs (:mod:`workbench.tasks.data.graphs`): ``(N, 1 + F + N)`` per example. The network embeds
[mask, features] linearly to d, runs the layers, then

* graph-level tasks: a sum readout over real nodes and an MLP head -> (B, classes);
* node-level tasks: an MLP head per node -> (B, N, classes) (objective ``node_cross_entropy``).

Which one is the supernet setting ``task_level``: ``"auto"`` (default) reads the level the dataset was
registered with (``graphs_motifs``: graph, ``graphs_sbm``: node; :func:`~workbench.tasks.data.graphs.graph_level`),
else pass ``supernet={"task_level": "node"}`` (or ``"graph"``).

One choice group, ``layers``: rows ``"L1"``, ``"L2"``, ...; options the expert names. Architectures are
:class:`~workbench.spaces.base.Choices`; ``compile`` builds :class:`DiscreteGraphTransformer` (one expert per
layer), a fresh network: the reference retrains from scratch (§7.3; :mod:`workbench.spaces.graph.retrain`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from torch import Tensor, nn

from workbench.spaces.base import (
    SPACES,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    edited_options,
    host_mask,
)
from workbench.spaces.graph.experts import EXPERTS, graph_batch
from workbench.spaces.graph.layer import GTLayer
from workbench.spaces.settings.graph import (
    GraphTransformerConfig,
    graph_transformer_supernet_config,
)
from workbench.tasks.data.graphs import graph_level, unpack
from workbench.tasks.task import TaskInfo

GROUP = "layers"
GRAPH_EXPERTS = ("gin", "gcn", "gat")
__all__ = ["GRAPH_EXPERTS", "DiscreteGraphTransformer", "GraphTransformerConfig", "GraphTransformerSpace",
           "GraphTransformerSupernet", "graph_choices"]


@dataclass(frozen=True)
class GraphTransformerSpace(SearchSpace):
    """``layers`` graph-transformer layers, each choosing the GNN expert of its keys/values (module docstring)."""

    default_dataset = "graphs_sbm"

    name: str = "graph_transformer"
    experts: tuple[str, ...] = GRAPH_EXPERTS
    layers: int = 2
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [e for e in self.experts if e not in EXPERTS]
        if not self.experts or unknown or len(set(self.experts)) != len(self.experts):
            raise ValueError(f"graph space {self.name!r} needs distinct experts from {', '.join(EXPERTS)}; got "
                             f"{self.experts}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"layers must be an integer >= 1, got {self.layers!r}")

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        if "groups" not in self._cache:
            self._cache["groups"] = (ChoiceGroup(GROUP, tuple(f"L{i + 1}" for i in range(self.layers)),
                                                 self.experts),)
        return self._cache["groups"]

    def with_ops(self, remove: Iterable[str] = (), add: Iterable[str] = ()) -> GraphTransformerSpace:
        """A copy with experts removed or added by name (``SearchConfig.removed_ops``)."""
        return replace(self, experts=edited_options(self.experts, remove, add, f"space {self.name!r}", "expert"), _cache={})

    def supernet_config(self, value: Any = None, **overrides: Any) -> GraphTransformerConfig:
        return graph_transformer_supernet_config(self.name, value, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> GraphTransformerSupernet:
        return GraphTransformerSupernet(self, task, self.supernet_config(config))

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> DiscreteGraphTransformer:
        """The discrete network of ``arch`` (fresh weights); ``options``: :class:`GraphTransformerConfig` fields."""
        self.check(arch)
        return DiscreteGraphTransformer(self, task, arch.picks[GROUP], self.supernet_config(None, **options))

    def label(self, arch: Any) -> str:
        return " | ".join(arch.picks[GROUP])

    def fingerprint(self) -> str:
        return super().fingerprint() + f"-gt{self.layers}"


def _level(task: TaskInfo, cfg: GraphTransformerConfig) -> str:
    if len(task.input_shape) != 2 or task.input_shape[1] < 1 + task.input_shape[0]:
        raise ValueError(f"the graph_transformer space needs packed graphs of shape (N, 1 + F + N) "
                         f"(workbench.tasks.data.graphs); task {task.name!r} has examples of shape {task.input_shape}")
    if cfg.task_level != "auto":
        return cfg.task_level
    level = graph_level(task.name)
    if level is None:
        raise ValueError(f"cannot tell whether task {task.name!r} is graph- or node-level: register it with "
                         "workbench.tasks.data.graphs.register_graph_task(name, level), or pass "
                         "supernet={'task_level': 'graph'} (or 'node')")
    return level


class _GraphTransformerBody(nn.Module):
    """Embedding, layers and head shared by the supernet and the discrete network."""

    def __init__(self, task: TaskInfo, cfg: GraphTransformerConfig, experts: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.level = _level(task, cfg)
        n, width = task.input_shape
        d = cfg.d
        self.embed = nn.Linear(width - n, d)  # [mask, features]: the mask column doubles as a constant feature
        self.layers = nn.ModuleList(GTLayer(d, cfg.heads, names, dropout=cfg.dropout, standardised=cfg.standardise,
                                            query_projection=cfg.query_projection) for names in experts)
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, task.n_outputs))

    def run(self, x: Tensor, weights: Tensor | None, active: np.ndarray | None) -> tuple[Tensor, list[Tensor]]:
        mask, feats, adj = unpack(x)
        g = graph_batch(mask, adj)
        n = x.shape[-2]
        h = self.embed(x[..., :x.shape[-1] - n]) * mask.unsqueeze(-1)
        attention = []
        for i, layer in enumerate(self.layers):
            h, att = layer(h, g, None if weights is None else weights[i], None if active is None else active[i])
            attention.append(att)
        if self.level == "graph":
            return self.head(h.sum(1)), attention
        return self.head(h), attention


class GraphTransformerSupernet(ChoiceSupernet):
    """Every expert in every layer, mixed by the relaxation's weights (only active experts are computed)."""

    def __init__(self, space: GraphTransformerSpace, task: TaskInfo, cfg: GraphTransformerConfig) -> None:
        super().__init__(space.choice_groups(), cfg.alpha_init_std)
        self.space, self.cfg = space, cfg
        self.body = _GraphTransformerBody(task, cfg, [space.experts] * space.layers)

    @property
    def level(self) -> str:
        return self.body.level

    def forward(self, x: Tensor, weights: Mapping[str, Tensor], active: Mapping[str, np.ndarray] | None = None
                ) -> Tensor:
        act = host_mask(self.op_mask(GROUP)) if active is None else active[GROUP]
        return self.body.run(x, weights[GROUP], act)[0]


class DiscreteGraphTransformer(nn.Module):
    """The graph transformer of one expert per layer (``picks``); what is retrained and explained."""

    def __init__(self, space: GraphTransformerSpace, task: TaskInfo, picks: Sequence[str],
                 cfg: GraphTransformerConfig = GraphTransformerConfig()) -> None:  # noqa: B008 (frozen)
        super().__init__()
        if len(picks) != space.layers:
            raise ValueError(f"need one expert per layer ({space.layers}), got {list(picks)}")
        self.picks, self.cfg = tuple(picks), cfg
        self.body = _GraphTransformerBody(task, cfg, [(p,) for p in self.picks])

    @property
    def level(self) -> str:
        return self.body.level

    @property
    def layers(self) -> nn.ModuleList:
        return self.body.layers

    def forward(self, x: Tensor) -> Tensor:
        return self.body.run(x, None, None)[0]

    def forward_with_attention(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The output and each layer's attention (B, H, N_dst, N_src)."""
        return self.body.run(x, None, None)


def graph_choices(space: GraphTransformerSpace, picks: Iterable[str]) -> Choices:
    """An architecture of ``space`` from its expert names (one per layer), checked."""
    arch = Choices(space.name, {GROUP: tuple(picks)})
    space.check(arch)
    return arch


SPACES.register("graph_transformer", GraphTransformerSpace())

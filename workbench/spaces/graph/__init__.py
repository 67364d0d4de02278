"""DARTS-GT's graph-transformer space (SEEDS_2 §7): GNN experts, the layer, the space, retraining.

* :mod:`~workbench.spaces.graph.experts` -- GIN, GCN, GAT on dense padded graphs;
* :mod:`~workbench.spaces.graph.layer` -- the layer: Q from h, K/V from the DARTS mix of experts, edge attention;
* :mod:`~workbench.spaces.graph.space` -- ``graph_transformer``: the space, its supernet and discrete network;
* :mod:`~workbench.spaces.graph.retrain` -- training a derived network from scratch (DARTS-GT's phase 2).

Importing this package registers the space and the graph datasets (``graphs_motifs``, ``graphs_sbm``).
"""
from __future__ import annotations

from workbench.spaces.graph.retrain import RetrainConfig, evaluate_network, train_network
from workbench.spaces.graph.space import (
    GRAPH_EXPERTS,
    DiscreteGraphTransformer,
    GraphTransformerConfig,
    GraphTransformerSpace,
    GraphTransformerSupernet,
    graph_choices,
)

__all__ = ["GRAPH_EXPERTS", "DiscreteGraphTransformer", "GraphTransformerConfig", "GraphTransformerSpace",
           "GraphTransformerSupernet", "RetrainConfig", "evaluate_network", "graph_choices", "train_network"]

"""The node-level objective: cross-entropy per node of padded graphs (DARTS-GT's node tasks, SEEDS_2 §7.6).

A node-level graph task (PATTERN/CLUSTER-style stochastic block models) gives, per example (one graph padded
to a fixed node count), logits ``(nodes, classes)`` and integer labels ``(nodes,)`` in which padding nodes carry
:data:`PAD_LABEL` (-1). A batch is ``(B, nodes, classes)`` against ``(B, nodes)``.

``node_cross_entropy`` (registered in :data:`~workbench.tasks.objectives.OBJECTIVES`):

* loss: per graph, the mean cross-entropy over its real nodes; then the mean over the graphs of the batch;
* metric ``accuracy``: per graph, the share of its real nodes classified correctly; then the mean over graphs.

Both are per-*example* (per-graph) means, the rule of :mod:`workbench.tasks.objectives`, so batches combine by a
weighted mean over graphs (``Searcher.evaluate``). A graph with no labelled node contributes 0 and counts as an
example (a generator never makes one).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from workbench.tasks.objectives import OBJECTIVES, Objective

PAD_LABEL = -1
NAME = "node_cross_entropy"
__all__ = ["NAME", "PAD_LABEL", "node_accuracy", "node_cross_entropy"]


def _check(logits: Tensor, y: Tensor) -> None:
    if logits.ndim != 3 or y.shape != logits.shape[:2]:
        raise ValueError(f"{NAME} expects logits (B, nodes, classes) and labels (B, nodes); got "
                         f"{tuple(logits.shape)} and {tuple(y.shape)}")


def node_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean over graphs of the mean cross-entropy over each graph's labelled nodes (labels -1 are padding)."""
    _check(logits, y)
    real = y != PAD_LABEL
    ce = F.cross_entropy(logits.transpose(1, 2), y.clamp_min(0), reduction="none")  # (B, nodes)
    per_graph = (ce * real).sum(1) / real.sum(1).clamp_min(1)
    return per_graph.mean()


def node_accuracy(logits: Tensor, y: Tensor) -> dict[str, Tensor]:
    """``accuracy``: mean over graphs of each graph's share of correctly classified labelled nodes."""
    _check(logits, y)
    real = y != PAD_LABEL
    hit = (logits.argmax(-1) == y) & real
    return {"accuracy": (hit.sum(1).float() / real.sum(1).clamp_min(1)).mean()}


OBJECTIVE = Objective(NAME, node_cross_entropy, node_accuracy, ("accuracy",), "accuracy", True)
if NAME not in OBJECTIVES.names():
    OBJECTIVES.register(NAME, OBJECTIVE)

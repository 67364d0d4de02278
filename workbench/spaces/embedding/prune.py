"""AutoSrh's fine-grained pruning: merge the soft mask into the embedding table, then zero its smallest entries.

DNIS / AutoSrh (Cheng, Shen, Huang, arXiv 2006.04466; AutoSrh ``pruning_Avazu.ipynb``; SEEDS_2 §8.3 step 3):

1. **merge**: E' = E ⊙ W[block(f)] (each mask entry over its dimension block; with ``normalize``, the normalised
   mask), and the mask set to 1, so the model predicts exactly what it predicted with the mask;
2. **prune**: zero the ``fraction`` of entries of E' with the smallest magnitude, globally over the whole table
   (exactly round(fraction * n) entries: the order is a stable sort of |E'|, ties by position);
3. (AutoSrh retrains the pruned model; :func:`prune_embeddings` does not.)

The notebook's merge line (E <- E ⊙ W) is commented out in AutoSrh; the spec does merge (SEEDS_2 §8.3), and so
does this module: pruning |E| alone would ignore what the search learned. What a feature keeps is the number of
its nonzero entries (``kept_per_id``); ``kept_per_block`` averages it over each frequency block. Pruning the
unmerged table (``merge=False``) is the baseline that separates the mask's effect from the embeddings' own
magnitudes (frequent features are trained more, so their entries are larger anyway).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from torch import nn

from workbench.spaces.embedding.space import GROUP, EmbeddingSupernet

__all__ = ["PruneResult", "embedding_parameters", "merge_mask", "prune_embeddings"]


@dataclass(frozen=True)
class PruneResult:
    """What pruning kept: per id and per feature block (mean), and the pruned model (mask merged, set to 1)."""

    fraction: float
    kept_per_id: np.ndarray  # (n_ids,) nonzero embedding entries of each id
    kept_per_block: np.ndarray  # (B_f,) mean of kept_per_id over each block's ids
    threshold: float  # the largest magnitude zeroed (0 when nothing was)
    model: EmbeddingSupernet = field(repr=False)

    def mean_over(self, group_of_id: np.ndarray | torch.Tensor) -> np.ndarray:
        """Mean kept dimensions per group of ids (e.g. ``dataset.field_of``: the dimension per field)."""
        g = np.asarray(group_of_id, dtype=np.int64)
        if g.shape != self.kept_per_id.shape:
            raise ValueError(f"need one group per id ({self.kept_per_id.shape}), got {g.shape}")
        return np.array([self.kept_per_id[g == k].mean() for k in range(int(g.max()) + 1)])

    @property
    def kept_fraction(self) -> float:
        return float(self.kept_per_id.sum()) / (len(self.kept_per_id) * self.model.net.dim)


def _mask_of(model: EmbeddingSupernet) -> torch.Tensor:
    return model.probabilities(GROUP).detach()


def merge_mask(model: EmbeddingSupernet) -> EmbeddingSupernet:
    """A copy of ``model`` with E' = E ⊙ (effective mask)[block] and every alpha set to 1 (same predictions)."""
    merged = copy.deepcopy(model)
    net = merged.net
    with torch.no_grad():
        m = net.effective_mask(_mask_of(model))[net.block_of_id]  # (n_ids, K)
        net.feature_embedding.weight.mul_(m)
        merged.alphas[GROUP].fill_(1.0)
        merged.op_mask(GROUP).fill_(True)
    return merged


def prune_embeddings(model: EmbeddingSupernet, fraction: float = 0.5, *, merge: bool = True) -> PruneResult:
    """Zero the ``fraction`` smallest-magnitude entries of the (merged) embedding table of ``model``."""
    if not isinstance(model, EmbeddingSupernet):
        raise TypeError(f"prune_embeddings needs an embedding_dims supernet, got {type(model).__name__}")
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if model.net.normalize and not merge:
        raise ValueError("an unmerged table cannot be pruned under normalize=True (its mask is not 1 at α = 1 "
                         "unless merged); use merge=True")
    pruned = merge_mask(model) if merge else _with_unit_mask(model)
    table = pruned.net.feature_embedding.weight
    with torch.no_grad():
        flat = table.abs().flatten()
        k = int(round(fraction * flat.numel()))
        threshold = 0.0
        if k > 0:
            order = torch.sort(flat, stable=True).indices[:k]
            threshold = float(flat[order[-1]])
            table.view(-1)[order] = 0.0
        kept = (table != 0).sum(1).cpu().numpy()
    block = pruned.net.block_of_id.cpu().numpy()
    per_block = np.array([kept[block == b].mean() for b in range(int(block.max()) + 1)])
    return PruneResult(float(fraction), kept, per_block, threshold, pruned)


def _with_unit_mask(model: EmbeddingSupernet) -> EmbeddingSupernet:
    """A copy of ``model`` whose mask is all ones (the table as it is, the search ignored)."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.alphas[GROUP].fill_(1.0)
        out.op_mask(GROUP).fill_(True)
    return out


def embedding_parameters(model: nn.Module) -> int:
    """Nonzero entries of a model's embedding table."""
    net = getattr(model, "net", model)
    table = cast(nn.Embedding, net.feature_embedding).weight
    return int((table != 0).sum())

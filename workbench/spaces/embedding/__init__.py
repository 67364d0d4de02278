"""The ``embedding_dims`` space: DNIS's search over the embedding dimensions of each feature block of a
recommender (Cheng, Shen, Huang, arXiv 2006.04466; AutoSrh, TKDE 2023; SEEDS_2 §8).

* :mod:`~workbench.spaces.embedding.model` -- an FM or NCF-MLP over one frequency-ordered embedding table, each
  entry scaled by a (feature block x dimension block) soft mask;
* :mod:`~workbench.spaces.embedding.space` -- the space (rows: feature blocks; options: dimension blocks), its
  supernet (the mask is the clamped alphas, no softmax), architectures (the kept dimension blocks per feature
  block) and decoding rules;
* :mod:`~workbench.spaces.embedding.prune` -- AutoSrh's merge-then-prune of the embedding table.

Importing it registers the space ``embedding_dims`` and the datasets ``interactions``, ``ctr`` and ``ml100k``
(:mod:`workbench.tasks.data.interactions`). The method is ``dnis`` (:mod:`workbench.methods.dnis`).
"""
from __future__ import annotations

from workbench.spaces.base import register_space
from workbench.spaces.embedding.model import LatentFactorModel, block_of_ids, block_sizes
from workbench.spaces.embedding.prune import (
    PruneResult,
    embedding_parameters,
    merge_mask,
    prune_embeddings,
)
from workbench.spaces.embedding.space import (
    GROUP,
    EmbeddingConfig,
    EmbeddingDims,
    EmbeddingDimsSpace,
    EmbeddingSupernet,
    FixedDimsModel,
    prune_mask,
)

__all__ = ["EMBEDDING_DIMS", "GROUP", "EmbeddingConfig", "EmbeddingDims", "EmbeddingDimsSpace", "EmbeddingSupernet",
           "FixedDimsModel", "LatentFactorModel", "PruneResult", "block_of_ids", "block_sizes",
           "embedding_parameters", "merge_mask", "prune_embeddings", "prune_mask"]

#: the registered space: 16 one-dimension blocks x 5 frequency blocks (10/20/20/20/30%), SEEDS_2 §8.5
EMBEDDING_DIMS = register_space(EmbeddingDimsSpace())

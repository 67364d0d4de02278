"""Latent-factor recommenders whose embedding entries are scaled by DNIS's soft selection mask.

DNIS (Cheng, Shen, Huang, arXiv 2006.04466; code: AutoSrh ``model/nas.py`` ``Dnis``; SEEDS_2 §8.2): every
feature id f has an embedding e_f in R^K (Xavier-normal init). The ids are cut into B_f *feature blocks*
(contiguous id ranges: ids are sorted by frequency, :func:`block_sizes`) and the K dimensions into B_d
*dimension blocks* of K / B_d dimensions. A mask W in R^{B_f x B_d} scales the embedding:

    e'_f = e_f ⊙ W[block(f), :]      (each W entry repeated over its dimension block's K / B_d dimensions)

Option ``normalize`` (AutoSrh's): the mask row is divided by its sum and multiplied by B_d, i.e.
e'_f = e_f ⊙ B_d W[block(f)] / sum_j W[block(f), j]. W = None is the base model (no mask at all); with
W ≡ 1 and ``normalize`` off, e' = e bit for bit.

Models (``kind``), both over the masked embeddings of the F fields of an example:

* ``"fm"`` -- a factorisation machine: y = b0 + sum_f b[f] + sum_{i<j} <e'_i, e'_j>;
* ``"mlp"`` -- NCF-MLP: y = MLP(concat(e'_1, ..., e'_F)) with ReLU hidden layers.

The *dense* parameters (the FM's global bias b0, the MLP tower) are the ones AutoSrh freezes during the mask
search (its optimiser takes only parameters whose name contains ``feature``): ``forward(..., frozen=True)``
uses them detached, so the weight step gives them no gradient.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.spaces.settings.embedding import MODEL_KINDS

__all__ = ["MODEL_KINDS", "LatentFactorModel", "block_of_ids", "block_sizes"]


def block_sizes(n_ids: int, split: Sequence[float]) -> tuple[int, ...]:
    """AutoSrh's ``feature_split``: the number of ids in each feature block, most frequent block first.

    Proportions (every entry <= 1, e.g. (0.1, 0.2, 0.2, 0.2, 0.3)) take round(p * n_ids) ids each; absolute
    counts (first entry > 1, e.g. Criteo's (51, 126, 1763, 17057, 91265, 0)) take that many. Either way the
    **last block takes the remainder** (its own entry is ignored).
    """
    split = [float(s) for s in split]
    if len(split) < 1 or any(s < 0 for s in split):
        raise ValueError(f"feature_split must be a non-empty sequence of numbers >= 0, got {split}")
    counts = split[0] > 1
    if not counts and any(s > 1 for s in split):
        raise ValueError(f"feature_split {split}: proportions must all be <= 1 (counts: make the first entry > 1)")
    head = [int(s) if counts else int(round(s * n_ids)) for s in split[:-1]]
    sizes = (*head, n_ids - sum(head))
    if any(s < 1 for s in sizes):
        raise ValueError(f"feature_split {split} leaves an empty feature block for {n_ids} ids (sizes {sizes}); "
                         "use fewer blocks or more ids")
    return sizes


def block_of_ids(sizes: Sequence[int]) -> Tensor:
    """The feature block of every id (int64, ids in frequency order)."""
    return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(list(sizes)))


class LatentFactorModel(nn.Module):
    """An FM or NCF-MLP over one shared, frequency-ordered embedding table, masked per (feature block, dim block)."""

    block_of_id: Tensor

    def __init__(self, n_ids: int, n_fields: int, dim: int, sizes: Sequence[int], dim_blocks: int, kind: str = "fm",
                 hidden: Sequence[int] = (64, 32), normalize: bool = False) -> None:
        super().__init__()
        if kind not in MODEL_KINDS:
            raise ValueError(f"model {kind!r} is not one of {MODEL_KINDS}")
        if dim % dim_blocks:
            raise ValueError(f"dim {dim} is not a multiple of dim_blocks {dim_blocks}")
        if sum(sizes) != n_ids:
            raise ValueError(f"feature blocks hold {sum(sizes)} ids, the table {n_ids}")
        self.kind, self.n_fields, self.dim, self.normalize = kind, n_fields, dim, normalize
        self.n_ids, self.dim_blocks = n_ids, dim_blocks
        self.feature_embedding = nn.Embedding(n_ids, dim)
        nn.init.xavier_normal_(self.feature_embedding.weight)
        self.register_buffer("block_of_id", block_of_ids(sizes), persistent=False)
        if kind == "fm":
            self.feature_bias = nn.Embedding(n_ids, 1)
            nn.init.zeros_(self.feature_bias.weight)
            self.global_bias = nn.Parameter(torch.zeros(()))
        else:
            widths = [n_fields * dim, *hidden]
            layers: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            layers.append(nn.Linear(widths[-1], 1))
            self.tower = nn.Sequential(*layers)

    def dense_parameters(self) -> list[nn.Parameter]:
        """What AutoSrh freezes during the search: everything but the embeddings and the FM's per-id biases."""
        return [p for n, p in self.named_parameters() if "feature" not in n]

    def effective_mask(self, mask: Tensor) -> Tensor:
        """The (B_f, K) multiplier of the embeddings: the (B_f, B_d) mask (normalised if set) over each block."""
        if self.normalize:
            mask = mask / mask.sum(1, keepdim=True).clamp_min(1e-12) * self.dim_blocks
        return mask.repeat_interleave(self.dim // self.dim_blocks, dim=1)

    def embed(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, F) ids -> (B, F, K) embeddings, masked when ``mask`` (B_f, B_d) is given."""
        try:
            e = self.feature_embedding(x)
        except IndexError:
            raise IndexError(f"feature ids must lie in [0, {self.n_ids - 1}] (the embedding table's n_ids = "
                             f"{self.n_ids}); got ids {int(x.min())}..{int(x.max())}: the space's n_ids does not "
                             "match the dataset's") from None
        if mask is not None:
            e = e * self.effective_mask(mask)[self.block_of_id[x]]
        return e

    def forward(self, x: Tensor, mask: Tensor | None = None, frozen: bool = False) -> Tensor:
        """Predictions (B,) for ids ``x`` (B, F); ``frozen``: dense parameters get no gradient."""
        e = self.embed(x, mask)
        if self.kind == "fm":
            b0 = self.global_bias.detach() if frozen else self.global_bias
            out = b0 + self.feature_bias(x).sum((1, 2))
            for i in range(self.n_fields):
                for j in range(i + 1, self.n_fields):
                    out = out + (e[:, i] * e[:, j]).sum(-1)
            return out
        h = e.flatten(1)
        for layer in self.tower:
            if isinstance(layer, nn.Linear):
                w, b = (layer.weight.detach(), layer.bias.detach()) if frozen else (layer.weight, layer.bias)
                h = F.linear(h, w, b)
            else:
                h = layer(h)
        return h.squeeze(-1)

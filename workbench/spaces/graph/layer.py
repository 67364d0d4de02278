"""One DARTS-GT layer: queries from the node states, keys and values from a DARTS mix of GNN experts (SEEDS_2 §7.2).

For node states h (B, N, d), H heads of width d_h = d / H, and the experts k in the layer's active set:

1. h_k = GNN_k(h) (then dropout);
2. **standardisation across experts** (§7.2 step 2): one scalar mean mu and std sigma per graph over all active
   experts' outputs on its real nodes; h_k <- (h_k - mu) / (sigma + 1e-8) (population std);
3. **DARTS mix**: kv = sum_k w_k h_k with w = softmax(alpha_layer) (the relaxation's row); a discrete layer has
   one expert and kv = its standardised output;
4. **edge-restricted attention**: Q = h split into heads (**no query projection**, as the reference's sparse
   layer; ``query_projection=True`` adds one), K = W_k kv, V = W_v kv (no bias); for node i and neighbour j,
   s_ij = <Q_i, K_j> / sqrt(d_h), softmax over the neighbours j of i (a node without neighbours gets zero
   attention), per-head messages m_i = sum_j a_ij V_j, each multiplied by the layer's ``head_mask`` entry, then
   W_o over the concatenated heads;
5. h' = LayerNorm(h + dropout(W_o m)); h'' = LayerNorm(h' + W_2 ReLU(W_1 h')) with width 2d. Padded rows are
   set to zero after each step.

Choices made here and why (the reference differs):

* the reference normalises every expert with **one BatchNorm shared by the experts** before the scalar
  standardisation, and takes mu and sigma over the whole batch. Here the scalars are per graph and there is no
  shared BatchNorm, so a graph's output never depends on the other graphs of its batch: the causal-ablation
  metrics (:mod:`workbench.analysis.graph_explain`) then do not depend on how the test set is batched;
* the standardisation runs over the *active* experts, so a supernet with every other expert switched off
  computes exactly the discrete layer of that expert (a test checks it);
* residual + LayerNorm instead of BatchNorm (SEEDS_2 §7.6); no edge features, so the reference's gated edge
  term is absent.

**Head masking** (§7.4): zeroing rows [m d_h, (m+1) d_h) of W_k and W_v and the same columns of W_o removes head m
exactly; ``head_mask[m] = 0`` does the same without touching the weights (a test checks they agree).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from workbench.spaces.graph.experts import EXPERTS, GraphBatch

__all__ = ["GTLayer", "standardise"]


def standardise(outs: Tensor, mask: Tensor) -> Tensor:
    """Expert outputs (K, B, N, d) standardised by one mean and (population) std per graph over experts, real
    nodes and features (step 2 of the module docstring)."""
    m = mask[None, :, :, None]
    count = (mask.sum(1) * outs.shape[0] * outs.shape[-1]).clamp_min(1)  # (B,)
    mu = (outs * m).sum((0, 2, 3)) / count
    centred = (outs - mu[None, :, None, None]) * m
    sigma = (centred.square().sum((0, 2, 3)) / count).sqrt()
    return centred / (sigma[None, :, None, None] + 1e-8)


class GTLayer(nn.Module):
    """A graph-transformer layer whose keys/values come from ``experts`` (several: the supernet's mixed layer)."""

    head_mask: Tensor  # (heads,) buffer, not saved: 1 keeps a head's messages, 0 removes them

    def __init__(self, d: int, heads: int, experts: Sequence[str], *, dropout: float = 0.0, standardised: bool = True,
                 query_projection: bool = False) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"the width d={d} must be divisible by the number of heads {heads}")
        unknown = [e for e in experts if e not in EXPERTS]
        if unknown or not experts:
            raise ValueError(f"unknown GNN expert(s) {unknown}; known: {', '.join(EXPERTS)}")
        self.d, self.heads, self.names = d, heads, tuple(experts)
        self.standardised = standardised
        self.experts = nn.ModuleDict({e: EXPERTS[e](d) for e in self.names})
        self.q = nn.Linear(d, d, bias=False) if query_projection else None
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("head_mask", torch.ones(heads), persistent=False)

    def mix(self, h: Tensor, g: GraphBatch, weights: Tensor | None = None, active: Sequence[bool] | None = None
            ) -> Tensor:
        """kv (B, N, d): the (standardised) experts mixed by ``weights`` (one per expert; None: a single expert)."""
        idx = [i for i in range(len(self.names)) if active is None or active[i]]
        if not idx:
            raise ValueError("a graph-transformer layer needs at least one active expert")
        outs = torch.stack([self.drop(self.experts[self.names[i]](h, g)) for i in idx])
        if self.standardised:
            outs = standardise(outs, g.mask)
        if weights is None:
            if len(idx) != 1:
                raise ValueError(f"mixing {len(idx)} experts needs weights")
            kv = outs[0]
        else:
            kv = (weights[idx].view(-1, 1, 1, 1) * outs).sum(0)
        return kv * g.mask.unsqueeze(-1)

    def attention(self, h: Tensor, kv: Tensor, g: GraphBatch) -> tuple[Tensor, Tensor]:
        """Per-head messages (B, H, N, d_h) and attention (B, H, N_dst, N_src), rows summing to 1 over neighbours."""
        b, n, d = h.shape
        dh = d // self.heads

        def split(t: Tensor) -> Tensor:
            return t.view(b, n, self.heads, dh).transpose(1, 2)

        q = split(h if self.q is None else self.q(h))
        k, v = split(self.k(kv)), split(self.v(kv))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        att = torch.softmax(scores.masked_fill(g.no_edge.unsqueeze(1), -1e9), dim=-1) * g.adj.unsqueeze(1)
        return (self.drop(att) @ v) * self.head_mask.view(1, -1, 1, 1), att

    def forward(self, h: Tensor, g: GraphBatch, weights: Tensor | None = None, active: Sequence[bool] | None = None
                ) -> tuple[Tensor, Tensor]:
        """The new node states (B, N, d) and the attention (B, H, N, N)."""
        m = g.mask.unsqueeze(-1)
        kv = self.mix(h, g, weights, active)
        msg, att = self.attention(h, kv, g)
        b, _, n, _ = msg.shape
        out = self.o(msg.transpose(1, 2).reshape(b, n, self.d))
        h = self.norm1(h + self.drop(out)) * m
        h = self.norm2(h + self.ff(h)) * m
        return h, att

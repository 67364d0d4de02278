"""The GNN experts that feed a DARTS-GT layer's keys and values (SEEDS_2 §7.6), on dense padded graphs.

DARTS-GT (2025; code shrutiOx/DARTS_GT, ``gnns_type_used = 1``: GIN, GCN, GAT, SAGE) computes, per layer, every
candidate GNN on the node states h and mixes them with softmax(alpha) (§7.2). Here, on dense adjacency (A: 0/1,
symmetric, padded nodes all zero; m: the node mask):

* ``gin`` (Xu et al. 2019): MLP((1 + eps) h_i + sum_{j in N(i)} h_j), eps learnable (init 0), MLP = d-d-d ReLU;
* ``gcn`` (Kipf & Welling 2017): D^-1/2 (A + I) D^-1/2 h W + b, self-loops on real nodes only;
* ``gat`` (Velickovic et al. 2018), single head: e_ij = LeakyReLU_0.2(a_dst . W h_i + a_src . W h_j) over
  j in N(i) + {i}, softmax over j, out_i = sum_j alpha_ij W h_j + b.

Every expert maps (B, N, d) -> (B, N, d) and is permutation-equivariant; padded rows may hold anything (the layer
zeroes them). :class:`GraphBatch` carries what the experts and the attention share, computed once per forward.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EXPERTS", "GAT", "GCN", "GIN", "GraphBatch", "graph_batch"]


class GraphBatch(NamedTuple):
    """A batch of dense graphs: node mask (B, N), adjacency (B, N, N), adjacency plus self-loops on real nodes,
    GCN's symmetric normalisation of the latter, and the boolean "no edge" masks of both (for softmaxes)."""

    mask: Tensor
    adj: Tensor
    adj_self: Tensor
    gcn: Tensor
    no_edge: Tensor
    no_edge_self: Tensor


def graph_batch(mask: Tensor, adj: Tensor) -> GraphBatch:
    adj_self = adj + torch.diag_embed(mask)
    dinv = adj_self.sum(-1).clamp_min(1).rsqrt() * mask
    return GraphBatch(mask, adj, adj_self, dinv.unsqueeze(-1) * adj_self * dinv.unsqueeze(-2), adj <= 0,
                      adj_self <= 0)


class GIN(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

    def forward(self, h: Tensor, g: GraphBatch) -> Tensor:
        return self.mlp((1 + self.eps) * h + g.adj @ h)


class GCN(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, h: Tensor, g: GraphBatch) -> Tensor:
        return g.gcn @ (h @ self.lin.weight.T) + self.lin.bias


class GAT(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d, d, bias=False)
        self.att_src = nn.Parameter(torch.randn(d) / d ** 0.5)
        self.att_dst = nn.Parameter(torch.randn(d) / d ** 0.5)
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, h: Tensor, g: GraphBatch) -> Tensor:
        wh = self.lin(h)
        e = F.leaky_relu((wh @ self.att_dst).unsqueeze(-1) + (wh @ self.att_src).unsqueeze(-2), 0.2)  # (B, dst, src)
        att = torch.softmax(e.masked_fill(g.no_edge_self, -1e9), dim=-1) * g.adj_self
        return att @ wh + self.bias


#: expert name -> constructor ``(d) -> module``
EXPERTS: dict[str, Callable[[int], nn.Module]] = {"gin": GIN, "gcn": GCN, "gat": GAT}

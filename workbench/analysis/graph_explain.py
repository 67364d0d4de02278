"""Causal-ablation interpretability of a trained graph transformer: DARTS-GT's head deviation, specialisation and
focus (SEEDS_2 §7.4; code shrutiOx/DARTS_GT ``dartsgt/explainer/pk_explainer.py``), per test graph.

For a trained discrete network (:class:`~workbench.spaces.graph.DiscreteGraphTransformer`) and a graph g:

* **head masking** of head m in layer l (:func:`masked_heads`): rows [m d_h, (m+1) d_h) of W_k and W_v and the
  same columns of W_o are set to zero (and restored afterwards, bit for bit): the head then contributes exactly
  nothing (``layer.head_mask`` is the same operation as a multiplicative mask; a test checks they agree);
* **head deviation** delta_{g,l,m} = err_masked(g) - err_base(g), with err = 1 - p(true class) (``error="prob"``,
  the continuous stand-in of §7.6; node-level tasks: the mean over the graph's nodes) or the 0/1 error
  (``error="zero_one"``, the reference's multiclass rule). Positive delta: the head helps on g;
* **specialisation**(g) = the population std (ddof 0) of delta_g over all (l, m);
* **top-k heads**: the k largest delta_g (ties: lower index first) -- the reference's "positives first, then
  fill with the largest negatives" is exactly a descending sort; bottom-k is the mirror;
* **focus**(g) = the mean pairwise Jaccard similarity, over the top-k heads, of each head's top nodes:
  the ``max(1, floor(top_fraction * n))`` most important of the graph's n nodes;
* **node importance** of a head (:func:`node_importance`), from its attention a[i, j] (node i attending to
  neighbour j; rows sum to 1):

  - ``"reference"``: the explainer's rule -- A[src, dst] = a[dst, src], each *source row* renormalised to sum 1,
    importance = column sums (so it accrues to the attending nodes; SEEDS_2 §7.5 notes the double
    normalisation);
  - ``"received"``: the raw attention a node receives, sum_i a[i, j];
  - ``degree_normalised=True`` divides either by the node's degree (the pilot found that summed attention
    tracks degree: BA hubs, not motifs, §7.7).

* **node deletion** (:func:`node_deviation`, ``node_ablation=True``): the causal counterpart of node importance --
  the error with node i deleted (its row, features and edges removed) minus the error of the intact graph; its
  top nodes (same rule as the heads') and, with ground truth, their **ablation overlap** with it. This is not in
  the reference explainer; it is what the attention-derived importance is compared against.

Deviations, each documented because it matters for the numbers:

* nodes tied with the last selected node (within 1e-6 relative) are all kept, so the top-node sets -- and
  focus -- do not depend on how the nodes are numbered (the reference's ``topk`` breaks ties by index);
* when the ground truth is known (``truth``: the motif nodes of BA-2Motifs graphs) the result also reports
  **motif overlap**, the share of the top heads' top nodes that are ground-truth nodes, next to its chance level
  (the share of ground-truth nodes in the graph) -- §7.7's recommendation, since focus measures agreement
  between heads, not correctness.

Everything runs in eval mode under ``torch.no_grad``; the network is left exactly as it was.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from workbench.spaces.graph.layer import GTLayer
from workbench.tasks.data.graphs import remove_node, unpack

IMPORTANCE = ("reference", "received")
ERRORS = ("prob", "zero_one")
__all__ = ["ERRORS", "ExplainConfig", "Explanation", "IMPORTANCE", "explain", "focus", "graph_errors",
           "head_deviation", "jaccard", "masked_heads", "node_deviation", "node_importance", "quadrant",
           "specialisation",
           "bottom_heads", "top_heads", "top_nodes"]


@dataclass(frozen=True)
class ExplainConfig:
    """Settings of :func:`explain` (defaults: SEEDS_2 §7.6's CPU scale, the reference's importance rule)."""

    k_heads: int = 3
    top_fraction: float = 0.1
    importance: str = "reference"
    degree_normalised: bool = False
    error: str = "prob"
    node_ablation: bool = True  # also delete each node in turn (node_deviation): the causal node importance
    batch_size: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.k_heads, bool) or not isinstance(self.k_heads, int) or self.k_heads < 2:
            raise ValueError(f"k_heads must be an integer >= 2 (focus compares pairs of heads), got {self.k_heads!r}")
        if not (isinstance(self.top_fraction, (int, float)) and 0 < self.top_fraction <= 1):
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction!r}")
        if self.importance not in IMPORTANCE:
            raise ValueError(f"importance must be one of {IMPORTANCE}, got {self.importance!r}")
        if self.error not in ERRORS:
            raise ValueError(f"error must be one of {ERRORS}, got {self.error!r}")
        for name in ("degree_normalised", "node_ablation"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


# ----------------------------------------------------------------------------------------------- arithmetic
def specialisation(delta: np.ndarray) -> np.ndarray:
    """Population std of each graph's head deviations: ``delta`` (G, L, H) or (G, heads) -> (G,); (heads,) -> ()."""
    d = np.asarray(delta, dtype=np.float64)
    return d.reshape(-1).std() if d.ndim == 1 else d.reshape(len(d), -1).std(axis=1)


def top_heads(delta_g: Sequence[float], k: int) -> tuple[int, ...]:
    """Indices (into the flattened heads) of the ``k`` largest deviations, largest first; ties: lower index first."""
    d = np.asarray(delta_g, dtype=np.float64).reshape(-1)
    return tuple(int(i) for i in np.argsort(-d, kind="stable")[:k])


def bottom_heads(delta_g: Sequence[float], k: int) -> tuple[int, ...]:
    """The mirror of :func:`top_heads`: the ``k`` smallest deviations, smallest first."""
    d = np.asarray(delta_g, dtype=np.float64).reshape(-1)
    return tuple(int(i) for i in np.argsort(d, kind="stable")[:k])


def jaccard(a: Iterable[int], b: Iterable[int]) -> float:
    """|a ∩ b| / |a ∪ b| (1 for two empty sets)."""
    a, b = set(a), set(b)
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def focus(node_sets: Sequence[Iterable[int]]) -> float:
    """Mean pairwise Jaccard similarity of the heads' top-node sets (at least two sets)."""
    sets = [set(s) for s in node_sets]
    if len(sets) < 2:
        raise ValueError(f"focus compares pairs of heads; got {len(sets)} set(s)")
    return float(np.mean([jaccard(a, b) for a, b in combinations(sets, 2)]))


def top_nodes(importance: np.ndarray, mask: np.ndarray, fraction: float = 0.1) -> frozenset[int]:
    """The ``max(1, floor(fraction * n))`` most important real nodes, plus any tied with the last one (1e-6 rel.)."""
    imp = np.asarray(importance, dtype=np.float64)
    real = np.flatnonzero(np.asarray(mask) > 0)
    if not len(real):
        return frozenset()
    k = max(1, int(np.floor(fraction * len(real))))
    values = imp[real]
    cut = np.sort(values)[::-1][k - 1]
    keep = values >= cut - 1e-6 * max(1.0, abs(cut))
    return frozenset(int(i) for i in real[keep])


def node_importance(att: np.ndarray, adj: np.ndarray, mode: str = "reference", degree_normalised: bool = False
                    ) -> np.ndarray:
    """Node importance of one head from its attention ``att`` (N_dst, N_src) (module docstring)."""
    a = np.asarray(att, dtype=np.float64)
    if mode == "reference":
        src = a.T  # A[src, dst]
        rows = src.sum(1, keepdims=True)
        imp = np.divide(src, rows, out=np.zeros_like(src), where=rows > 0).sum(0)
    elif mode == "received":
        imp = a.sum(0)
    else:
        raise ValueError(f"importance mode must be one of {IMPORTANCE}, got {mode!r}")
    if degree_normalised:
        imp = imp / np.maximum(np.asarray(adj, dtype=np.float64).sum(1), 1.0)
    return imp


def quadrant(spec: float, foc: float, spec_cut: float = 0.1, focus_cut: float = 0.3) -> str:
    """The reference's quadrant of a graph: specialisation > 0.1 and focus > 0.3 (SEEDS_2 §7.4)."""
    return f"{'specialised' if spec > spec_cut else 'shared'} · {'focused' if foc > focus_cut else 'diffuse'}"


# ----------------------------------------------------------------------------------------------- ablation
def _layers(net: nn.Module) -> list[GTLayer]:
    layers = getattr(net, "layers", None)
    if layers is None or not len(layers) or not all(isinstance(layer, GTLayer) for layer in layers):
        raise TypeError(f"expected a discrete graph transformer (with .layers of GTLayer), got {type(net).__name__}")
    return list(layers)


def _heads(net: nn.Module) -> tuple[int, int]:
    layers = _layers(net)
    return len(layers), int(layers[0].heads)


@contextmanager
def masked_heads(net: nn.Module, heads: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Within the block, heads ``(layer, head)`` of ``net`` are removed by zeroing their W_k/W_v rows and W_o
    columns (§7.4); the weights are restored exactly on exit."""
    heads = list(heads)
    n_layers, n_heads = _heads(net)
    saved = []
    for layer_i, m in heads:
        if not (0 <= layer_i < n_layers and 0 <= m < n_heads):
            raise ValueError(f"head ({layer_i}, {m}) out of range: {n_layers} layers x {n_heads} heads")
    try:
        with torch.no_grad():
            layers = _layers(net)
            for layer_i, m in heads:
                layer = layers[layer_i]
                dh = layer.d // layer.heads
                sl = slice(m * dh, (m + 1) * dh)
                for w in (layer.k.weight, layer.v.weight, layer.o.weight):
                    saved.append((w, w.detach().clone()))
                layer.k.weight[sl] = 0
                layer.v.weight[sl] = 0
                layer.o.weight[:, sl] = 0
        yield
    finally:
        with torch.no_grad():
            for w, value in reversed(saved):
                w.copy_(value)


@torch.no_grad()
def _errors(net: nn.Module, x: Tensor, y: Tensor, error: str, batch_size: int) -> np.ndarray:
    """Graph level: per-graph errors (G,); node level: per-node errors (G, N), NaN where the label is -1."""
    if error not in ERRORS:
        raise ValueError(f"error must be one of {ERRORS}, got {error!r}")
    was = net.training
    net.eval()
    out = []
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            logits = net(xb)
            p = torch.softmax(logits.double(), dim=-1)
            if logits.ndim == 2:  # graph level
                e = 1 - p.gather(1, yb[:, None])[:, 0] if error == "prob" else (logits.argmax(1) != yb).double()
            else:  # node level: labels -1 are padding
                yc = yb.clamp_min(0)
                e = (1 - p.gather(2, yc[..., None])[..., 0] if error == "prob"
                     else (logits.argmax(-1) != yc).double())
                e = e.masked_fill(yb < 0, float("nan"))
            out.append(e)
    finally:
        net.train(was)
    return torch.cat(out).cpu().numpy()


def _per_graph(e: np.ndarray) -> np.ndarray:
    if e.ndim == 1:
        return e
    real = ~np.isnan(e)
    return np.where(real, e, 0).sum(1) / np.maximum(real.sum(1), 1)


def graph_errors(net: nn.Module, x: Tensor, y: Tensor, error: str = "prob", batch_size: int = 256) -> np.ndarray:
    """Per-graph error (G,) of ``net`` in eval mode: 1 - p(true class) or 0/1 (node level: mean over real nodes)."""
    return _per_graph(_errors(net, x, y, error, batch_size))


def node_deviation(net: nn.Module, x: Tensor, y: Tensor, error: str = "prob", batch_size: int = 256) -> np.ndarray:
    """Causal node importance (G, N), NaN on padding: per graph, the error with node i deleted
    (:func:`~workbench.tasks.data.graphs.remove_node`) minus the error of the intact graph. Node-level tasks compare
    the mean error over the *other* nodes, before and after the deletion."""
    mask = unpack(x)[0].cpu().numpy() > 0
    base = _errors(net, x, y, error, batch_size)
    out = np.full(mask.shape, np.nan)
    for i in range(mask.shape[1]):
        has = np.flatnonzero(mask[:, i])
        if not len(has):
            continue
        idx = torch.as_tensor(has)
        after = _errors(net, remove_node(x[idx], i), y[idx], error, batch_size)
        if after.ndim == 1:
            out[has, i] = after - base[has]
        else:
            before = base[has].copy()
            before[:, i] = np.nan
            after[:, i] = np.nan
            out[has, i] = _per_graph(after) - _per_graph(before)
    return out


def head_deviation(net: nn.Module, x: Tensor, y: Tensor, error: str = "prob", batch_size: int = 256) -> np.ndarray:
    """delta (G, L, H): per graph, the error with head (l, m) masked minus the error of the whole network."""
    n_layers, n_heads = _heads(net)
    base = graph_errors(net, x, y, error, batch_size)
    delta = np.zeros((len(base), n_layers, n_heads))
    for layer_i in range(n_layers):
        for m in range(n_heads):
            with masked_heads(net, [(layer_i, m)]):
                delta[:, layer_i, m] = graph_errors(net, x, y, error, batch_size) - base
    return delta


@torch.no_grad()
def attention_maps(net: nn.Module, x: Tensor, batch_size: int = 256) -> np.ndarray:
    """Every head's attention (G, L, H, N_dst, N_src) in eval mode."""
    run = getattr(net, "forward_with_attention", None)
    if run is None:
        raise TypeError(f"expected a discrete graph transformer (with forward_with_attention), got "
                        f"{type(net).__name__}")
    was = net.training
    net.eval()
    try:
        parts = [np.stack([a.cpu().numpy() for a in run(x[i:i + batch_size])[1]], axis=1)
                 for i in range(0, len(x), batch_size)]
    finally:
        net.train(was)
    return np.concatenate(parts)


@dataclass(frozen=True)
class Explanation:
    """Per-graph results of :func:`explain` (G graphs, L layers, H heads)."""

    delta: np.ndarray  # (G, L, H)
    specialisation: np.ndarray  # (G,)
    focus: np.ndarray  # (G,)
    top_heads: tuple[tuple[int, ...], ...]  # per graph, flattened head indices l * H + m
    top_nodes: tuple[tuple[frozenset[int], ...], ...]  # per graph, the top nodes of each top head
    importance: np.ndarray  # (G, L, H, N) node importance of every head
    motif_overlap: np.ndarray | None  # (G,) share of the top heads' top nodes that are ground-truth nodes
    chance_overlap: np.ndarray | None  # (G,) share of ground-truth nodes among the graph's nodes
    config: ExplainConfig
    node_delta: np.ndarray | None = None  # (G, N) causal node importance (node_deviation), NaN on padding
    ablation_nodes: tuple[frozenset[int], ...] | None = None  # per graph, its top nodes by node_delta
    ablation_overlap: np.ndarray | None = None  # (G,) share of those that are ground-truth nodes

    @property
    def heads(self) -> int:
        return int(self.delta.shape[2])

    def head_name(self, flat: int) -> str:
        return f"L{flat // self.heads + 1}·h{flat % self.heads + 1}"

    def quadrants(self) -> list[str]:
        return [quadrant(s, f) for s, f in zip(self.specialisation, self.focus, strict=True)]

    def summary(self) -> dict[str, Any]:
        """Means over the graphs (and the share of graphs where some head matters)."""
        out: dict[str, Any] = {"graphs": len(self.delta),
                               "specialisation": float(self.specialisation.mean()),
                               "focus": float(self.focus.mean()),
                               "mean_delta": float(self.delta.mean()),
                               "graphs_with_nonzero_delta": float((np.abs(self.delta).max((1, 2)) > 0).mean())}
        if self.motif_overlap is not None and self.chance_overlap is not None:
            out["motif_overlap"] = float(self.motif_overlap.mean())
            out["chance_overlap"] = float(self.chance_overlap.mean())
        if self.ablation_overlap is not None:
            out["ablation_overlap"] = float(self.ablation_overlap.mean())
        return out


def explain(net: nn.Module, x: Tensor, y: Tensor, truth: Tensor | np.ndarray | None = None,
            config: ExplainConfig = ExplainConfig()) -> Explanation:
    """Head deviation, specialisation and focus (and motif overlap when ``truth`` (G, N) is given) of every graph."""
    n_layers, n_heads = _heads(net)
    if config.k_heads > n_layers * n_heads:
        raise ValueError(f"k_heads={config.k_heads} exceeds the network's {n_layers * n_heads} heads")
    delta = head_deviation(net, x, y, config.error, config.batch_size)
    att = attention_maps(net, x, config.batch_size)
    mask, _, adj = (t.cpu().numpy() for t in unpack(x))
    g_count, n = len(x), x.shape[1]
    importance = np.zeros((g_count, n_layers, n_heads, n))
    focus_g, tops, node_sets = np.zeros(g_count), [], []
    overlap = None if truth is None else np.zeros(g_count)
    chance = None if truth is None else np.zeros(g_count)
    truth_np = None if truth is None else np.asarray(truth, dtype=bool)
    for g in range(g_count):
        for layer_i in range(n_layers):
            for m in range(n_heads):
                importance[g, layer_i, m] = node_importance(att[g, layer_i, m], adj[g], config.importance,
                                                            config.degree_normalised)
        heads_g = top_heads(delta[g], config.k_heads)
        sets = tuple(top_nodes(importance[g].reshape(-1, n)[h], mask[g], config.top_fraction) for h in heads_g)
        focus_g[g] = focus(sets)
        tops.append(heads_g)
        node_sets.append(sets)
        if truth_np is not None and overlap is not None and chance is not None:
            real = mask[g] > 0
            chance[g] = truth_np[g][real].mean()
            overlap[g] = np.mean([np.mean([truth_np[g][i] for i in s]) if s else 0.0 for s in sets])
    node_delta = ablation = ablation_overlap = None
    if config.node_ablation:
        node_delta = node_deviation(net, x, y, config.error, config.batch_size)
        ablation = tuple(top_nodes(np.nan_to_num(node_delta[g], nan=-np.inf), mask[g], config.top_fraction)
                         for g in range(g_count))
        if truth_np is not None:
            ablation_overlap = np.array([np.mean([truth_np[g][i] for i in s]) if s else 0.0
                                         for g, s in enumerate(ablation)])
    return Explanation(delta, specialisation(delta), focus_g, tuple(tops), tuple(node_sets), importance, overlap,
                       chance, config, node_delta, ablation, ablation_overlap)

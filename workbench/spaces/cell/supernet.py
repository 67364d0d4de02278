"""The weight-sharing supernet (DARTS's continuous relaxation, Liu et al. 2019, Eq. 2).

Each edge (i, j) computes the mixed op  x_j -> sum_o w[e, o] * o(x_j), where the
mixing weights ``w`` (edges x ops, per cell type) come from a relaxation of the
architecture parameters (softmax(alpha) for DARTS). This module only mixes: the
relaxation is passed in as ``weights`` (see :mod:`workbench.methods.relax`), so GDAS,
SNAS, SDARTS, PC-DARTS's edge normalisation and Max-W are all just other
weight matrices.

Speed (why a step does far less than the reference code):

* ``none`` is never computed: it contributes exactly zero, and its alpha
  still receives its gradient through the softmax normalisation.
* Masked ops (op swapper, RobustDARTS per-edge subsets) are skipped when no
  edge of a wave uses them.
* Edges are grouped into *waves* by source state: when state j is ready, all
  edges leaving j (to every later node) run together, one batched call per
  op type (grouped convolutions over the concatenated inputs, see
  :mod:`workbench.spaces.cell.ops`). A DARTS cell is 5 waves (sizes 4, 4, 3, 2, 1; one uniform
  stride each) instead of 14 separate edges.
* ``naive=True`` runs the very same parameters edge by edge and op by op, like
  `quark0/darts:cnn/model_search.py`; tests check both paths agree, and the
  benchmark measures one against the other.

Macro structures: DARTS (stem conv 3x3 -> 3C, ``layers`` cells with reductions
at layers//3 and 2*layers//3, global pooling, linear) and NAS-Bench-201 (stem,
three stages of N cells joined by residual blocks with stride 2, BN-ReLU,
global pooling, linear), both scaled down by ``SupernetConfig``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.spaces import ChoiceSupernet, get_space
from workbench.spaces.base import host_mask, masked_softmax
from workbench.spaces.cell.ops import (
    EdgeOp,
    FactorizedReduce,
    ReLUConvBN,
    cuda_safe_pool_input,
    make_op,
)
from workbench.spaces.cell.settings import SupernetConfig  # re-exported: its torch-free home
from workbench.spaces.cell.space import CellSpace


class SearchCell(nn.Module):
    """One cell of the supernet; mixes every candidate op on every edge."""

    def __init__(self, space: CellSpace, cell_type: str, C_pp: int, C_p: int, C: int,
                 reduction: bool, reduction_prev: bool, affine: bool, partial_channels: int = 1,
                 inactive_bias: bool = False) -> None:
        super().__init__()
        self.space, self.cell_type, self.C, self.reduction = space, cell_type, C, reduction
        self.K, self.inactive_bias = partial_channels, inactive_bias
        if C % partial_channels:
            raise ValueError(f"partial_channels K={partial_channels} must divide the cell's channels C={C}")
        C_op = C // partial_channels
        if space.n_inputs == 2:
            self.pre0 = (FactorizedReduce(C_pp, C, 1, affine) if reduction_prev
                         else ReLUConvBN(C_pp, C, 1, 1, 1, 0, affine))
            self.pre1 = ReLUConvBN(C_p, C, 1, 1, 1, 0, affine)
        elif C_p != C:
            raise ValueError("NB201-style cells keep their channel count")
        # Waves: for every source state j, the edges leaving it.
        self.waves: list[list[int]] = []
        self.wave_ops = nn.ModuleList()
        n_states = space.n_inputs + space.n_nodes
        for j in range(n_states - 1):
            edges = [k for k, (_, src) in enumerate(space.edges) if src == j]
            self.waves.append(edges)
            stride = 2 if reduction and j < space.n_inputs else 1
            ops = nn.ModuleDict()
            for name in space.ops:
                if name == "none" or not any(space.op_allowed(cell_type, k, name) for k in edges):
                    continue
                ops[name] = make_op(name, C_op, len(edges), stride, affine, pool_bn=space.pool_bn)
            self.wave_ops.append(ops)
        self.op_index = {name: o for o, name in enumerate(space.ops)}
        self._none = self.op_index.get("none")
        for j, edges in enumerate(self.waves):
            self.register_buffer(f"wave_idx{j}", torch.tensor(edges, dtype=torch.long), persistent=False)

    def preprocess(self, inputs: tuple[Tensor, ...]) -> list[Tensor]:
        if self.space.n_inputs == 2:
            return [self.pre0(inputs[0]), self.pre1(inputs[1])]
        return [inputs[-1]]

    def forward(self, inputs: tuple[Tensor, ...], weights: Tensor, active: np.ndarray,
                edge_scale: Tensor | None = None) -> Tensor:
        """``weights``: (edges, ops) mixing weights; ``active``: (edges, ops) bool, ops to compute;
        ``edge_scale``: optional (edges,) factor on each whole edge output (PC-DARTS's beta).

        Works in channels-last memory: a wave's input is E copies of its source laid
        out as (B, H, W, E, C), seen by the ops as an (B, E*C, H, W) channels-last
        tensor (grouped and depthwise convolutions are 2-3x faster so on CPU), and
        each op's output is viewed back as (B, H', W', E, C) for mixing.
        """
        return self.run_waves(self.preprocess(inputs), [None] * self.space.n_nodes, 0, weights, active, edge_scale)

    def run_waves(self, states: list[Tensor], partial: list[Tensor | None], start: int, weights: Tensor,
                  active: np.ndarray, edge_scale: Tensor | None = None,
                  record: list[tuple[list[Tensor], list[Tensor | None]]] | None = None) -> Tensor:
        """Waves ``start``, ``start`` + 1, ... of :meth:`forward`; the cell's output.

        ``states``: the preprocessed inputs and the nodes completed before wave ``start`` (NCHW);
        ``partial``: the node sums of the earlier waves, (B, H, W, C). ``record``: if given, receives
        (states, partial) as they stand before each wave and at the end (shallow copies: a replay from
        any wave). ``weights`` may carry a leading probe axis under ``torch.func.vmap`` (P, edges, ops).
        DARTS-PT's probes (:mod:`workbench.analysis.projection`) replay from the wave leaving the node a
        masked edge feeds instead of evaluating the whole supernet.
        """
        space, states, partial = self.space, list(states), list(partial)
        for j in range(start, len(self.waves)):
            if record is not None:
                record.append((list(states), list(partial)))
            edges, x = self.waves[j], states[j]
            E = len(edges)
            x_op, bypass = self._split(x, j)
            B, C, H, W = x_op.shape
            xs = _nhwc(x_op).unsqueeze(3).expand(B, H, W, E, C).reshape(B, H, W, E * C).permute(0, 3, 1, 2)
            idx = getattr(self, f"wave_idx{j}")
            w_wave = weights.index_select(-2, idx)  # (E, ops); (P, E, ops) under vmap
            wave_active = active[edges]
            if self.inactive_bias:  # an op computed for a sibling edge only enters as a scalar below
                w_run = w_wave * torch.as_tensor(wave_active, dtype=w_wave.dtype, device=w_wave.device)
            else:
                w_run = w_wave
            mixed = None  # sum over ops of weight * op output, (B, E*C, H', W')
            xs_relu = None  # ReLU(xs), shared by every op that starts with a ReLU
            for name, op in cast("Mapping[str, EdgeOp]", self.wave_ops[j]).items():  # ModuleDicts of EdgeOps
                o = self.op_index[name]
                if not wave_active[:, o].any():
                    continue
                scale = w_run[..., o].repeat_interleave(C, -1)  # the mixing weight, per output channel
                if op.relu_first:
                    xs_relu = F.relu(xs) if xs_relu is None else xs_relu
                    y = op.body(xs_relu, None, scale)
                else:
                    y = op.run(xs, None, scale)
                mixed = y if mixed is None else mixed + y
            if mixed is not None:
                Ho, Wo = mixed.shape[-2:]
                mixed = _nhwc(mixed).view(B, Ho, Wo, E, C)
            if mixed is None:
                Ho, Wo = self._out_hw(x, j)
                mixed = x.new_zeros(B, Ho, Wo, E, C)
            if self.inactive_bias:
                off = torch.as_tensor(~wave_active, dtype=w_wave.dtype, device=w_wave.device)
                mixed = mixed + (w_wave * off).sum(-1).view(E, 1)
            mixed = self._merge_bypass(mixed, bypass)
            if edge_scale is not None:
                mixed = mixed * edge_scale.index_select(0, idx).view(E, 1)
            # unbind, not one select per edge: each select's backward would zero-fill the whole wave's gradient
            for k, contrib in zip(edges, mixed.unbind(3), strict=True):
                node = space.edges[k][0]
                prev = partial[node]
                partial[node] = contrib if prev is None else prev + contrib
            done = j - space.n_inputs + 1  # node completed after this wave
            if 0 <= done < space.n_nodes:
                value = partial[done]
                states.append(self._node_state(None if value is None else value.permute(0, 3, 1, 2), x, B))
        if record is not None:
            record.append((list(states), list(partial)))
        return self._output(states)

    def _stride(self, src: int) -> int:
        return 2 if self.reduction and src < self.space.n_inputs else 1

    def _out_hw(self, x: Tensor, src: int) -> tuple[int, int]:
        H, W = x.shape[-2:]
        if self._stride(src) == 2:
            return (H + 1) // 2, (W + 1) // 2
        return H, W

    def _split(self, x: Tensor, src: int) -> tuple[Tensor, Tensor | None]:
        """PC-DARTS: the first C/K channels go through the ops, the rest bypass them (max-pooled if strided)."""
        if self.K == 1:
            return x, None
        c = x.shape[1] // self.K
        rest = x[:, c:]
        if self._stride(src) == 2:
            rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
        return x[:, :c], rest

    def _merge_bypass(self, mixed: Tensor, bypass: Tensor | None) -> Tensor:
        """(B, H, W, E, C/K) op outputs + bypassed channels -> (B, H, W, E, C), channel-shuffled with K groups."""
        if bypass is None:
            return mixed
        B, H, W, E, c = mixed.shape
        rest = _nhwc(bypass)
        both = torch.cat([mixed, rest.unsqueeze(3).expand(B, H, W, E, rest.shape[-1])], 4)
        C = both.shape[-1]
        return both.view(B, H, W, E, self.K, C // self.K).transpose(4, 5).reshape(B, H, W, E, C)

    def forward_naive(self, inputs: tuple[Tensor, ...], weights: Tensor, active: np.ndarray,
                      edge_scale: Tensor | None = None) -> Tensor:
        """Edge by edge, op by op (the reference code's execution order); same parameters."""
        space = self.space
        states = self.preprocess(inputs)
        for i in range(space.n_nodes):
            acc = None
            for k in space.node_edges(i):
                src = space.edges[k][1]
                j, slot = src, self.waves[src].index(k)
                x_op, bypass = self._split(states[src], src)
                edge = None
                if self._none is not None and active[k, self._none]:  # the reference computes x * 0 too
                    s = self._stride(src)
                    edge = weights[k, self._none] * x_op[:, :, ::s, ::s].mul(0.0)
                for name, op in cast("Mapping[str, EdgeOp]", self.wave_ops[j]).items():  # ModuleDicts of EdgeOps
                    o = self.op_index[name]
                    if active[k, o]:
                        term = weights[k, o] * op.forward_edge(x_op, slot)
                    elif self.inactive_bias:
                        term = weights[k, o]
                    else:
                        continue
                    edge = term if edge is None else edge + term
                if edge is None:
                    continue
                if bypass is not None:
                    edge = self._merge_bypass(_nhwc(edge).unsqueeze(3), bypass)[:, :, :, 0].permute(0, 3, 1, 2)
                if edge_scale is not None:
                    edge = edge * edge_scale[k]
                acc = edge if acc is None else acc + edge
            states.append(self._node_state(acc, states[0], states[0].shape[0]))
        return self._output(states)

    def _node_state(self, value: Tensor | None, like: Tensor, B: int) -> Tensor:
        if value is not None:
            return value
        # Every incoming op of this node is masked or `none`: the node is zero.
        H, W = like.shape[-2:]
        if self.reduction:
            H, W = (H + 1) // 2, (W + 1) // 2
        return like.new_zeros(B, self.C, H, W)

    def _output(self, states: list[Tensor]) -> Tensor:
        if self.space.n_inputs == 2:
            return torch.cat(states[self.space.n_inputs:], dim=1)
        return states[-1]


def _nhwc(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H, W, C); free for channels-last tensors, a copy otherwise."""
    return x.permute(0, 2, 3, 1).contiguous()


class _AvgPool2x2(nn.Module):
    """2x2 average pooling, stride 2, on an input layout whose CUDA backward is right (see cuda_safe_pool_input)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(cuda_safe_pool_input(x), 2, 2)


class ResBlock(nn.Module):
    """NB201's residual reduction block (AutoDL ``ResNetBasicblock``), stride 2."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.a = ReLUConvBN(C_in, C_out, 1, 3, 2, 1, True)
        self.b = ReLUConvBN(C_out, C_out, 1, 3, 1, 1, True)
        self.down = nn.Sequential(_AvgPool2x2(), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.down(x) + self.b(self.a(x))


def macro_plan(space: CellSpace, cfg: SupernetConfig) -> list[tuple[str, int, bool]]:
    """The layer sequence: (kind, channels, is_reduction) for kind in {"cell", "resblock"}."""
    plan = []
    if space.macro == "darts":
        C = cfg.C
        for i in range(cfg.layers):
            red = cfg.layers >= 3 and i in (cfg.layers // 3, 2 * cfg.layers // 3)
            if red:
                C *= 2
            plan.append(("reduce" if red and "reduce" in space.cell_types else space.cell_types[0], C, red))
    else:
        C = cfg.C
        for stage in range(3):
            if stage:
                plan.append(("resblock", C * 2, True))
                C *= 2
            plan += [(space.cell_types[0], C, False)] * cfg.cells_per_stage
    return plan


class Supernet(ChoiceSupernet):
    """The supernet of a cell space: weights, one alpha matrix per cell type (its choice groups), and op masks."""

    def __init__(self, space: CellSpace | str, cfg: SupernetConfig = SupernetConfig(),  # noqa: B008 (frozen)
                 in_channels: int = 1, n_classes: int = 10) -> None:
        resolved = get_space(space)
        if not isinstance(resolved, CellSpace):
            raise TypeError(f"Supernet builds cell spaces; {resolved.name!r} is a {type(resolved).__name__} "
                            "(use space.build_supernet(task))")
        space = resolved
        if space.macro == "darts" and (cfg.C // cfg.partial_channels) % 2:
            raise ValueError(f"DARTS-style cells need an even number of channels per op (C/K = {cfg.C}/"
                             f"{cfg.partial_channels}) for the stride-2 skip (FactorizedReduce); "
                             f"choose C divisible by {2 * cfg.partial_channels}")
        super().__init__(space.choice_groups(), cfg.alpha_init_std)
        self.space, self.cfg = space, cfg
        self.in_channels, self.n_classes = in_channels, n_classes
        self.betas = nn.ParameterDict({
            c: nn.Parameter(cfg.alpha_init_std * torch.randn(space.n_edges)) for c in space.cell_types
        } if cfg.edge_normalization else {})
        self.cells = nn.ModuleList()
        if space.macro == "darts":
            C_stem = 3 * cfg.C
            self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
            C_pp, C_p, red_prev = C_stem, C_stem, False
            for kind, C, red in macro_plan(space, cfg):
                self.cells.append(SearchCell(space, kind, C_pp, C_p, C, red, red_prev, cfg.affine,
                                             cfg.partial_channels, cfg.inactive_bias))
                C_pp, C_p, red_prev = C_p, space.n_nodes * C, red
            self.head_norm: nn.Module = nn.Identity()
            C_last = C_p
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, cfg.C, 3, padding=1, bias=False), nn.BatchNorm2d(cfg.C))
            C_p = cfg.C
            for kind, C, _ in macro_plan(space, cfg):
                self.cells.append(ResBlock(C_p, C) if kind == "resblock" else
                                  SearchCell(space, kind, C, C, C, False, False, cfg.affine,
                                             cfg.partial_channels, cfg.inactive_bias))
                C_p = C
            self.head_norm = nn.Sequential(nn.BatchNorm2d(C_p), nn.ReLU())
            C_last = C_p
        self.classifier = nn.Linear(C_last, n_classes)

    # -- architecture state ---------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """Alphas (one (edges, ops) matrix per cell type), then PC-DARTS betas if enabled."""
        return [self.alphas[c] for c in self.space.cell_types] + [self.betas[c] for c in self.betas]

    def edge_weights(self, cell_type: str) -> Tensor | None:
        """PC-DARTS edge normalisation: softmax(beta) over each node's incoming edges (None when off)."""
        if not self.betas:
            return None
        beta = self.betas[cell_type]
        return torch.cat([torch.softmax(beta[self.space.node_edges(i)], 0) for i in range(self.space.n_nodes)])

    def probabilities(self, group: str) -> Tensor:
        """softmax(alpha) over enabled ops; with PC-DARTS edge normalisation each row times its edge weight
        (the PC-DARTS genotype rule, ALGORITHMS.md §2.2)."""
        w = masked_softmax(self.alphas[group], self.op_mask(group))
        edge = self.edge_weights(group)
        return w if edge is None else w * edge[:, None]

    def empty_options(self, group: str) -> tuple[str, ...]:
        return ("none",)

    # -- forward, and its pieces (DARTS-PT's probes replay from a given cell) --------------------------------
    def forward(self, x: Tensor, weights: dict[str, Tensor], active: dict[str, np.ndarray] | None = None,
                naive: bool = False) -> Tensor:
        """Logits for ``x`` under mixing weights ``weights[cell_type]`` of shape (edges, ops)."""
        if active is None:
            active = {c: host_mask(self.op_mask(c)) for c in self.space.cell_types}
        return self.head(self.forward_cells(self.stem_states(x, naive), weights, active, naive=naive))

    def stem_states(self, x: Tensor, naive: bool = False) -> tuple[Tensor, Tensor]:
        """The input states of the first cell: the stem's output, twice (channels-last unless ``naive``)."""
        s = self.stem(x.contiguous() if naive else x.contiguous(memory_format=torch.channels_last))
        return s, s

    def forward_cells(self, states: tuple[Tensor, ...], weights: Mapping[str, Tensor],
                      active: Mapping[str, np.ndarray], start: int = 0, stop: int | None = None,
                      naive: bool = False) -> tuple[Tensor, ...]:
        """Cells ``start`` .. ``stop`` - 1 from the input states of cell ``start``; the input states of cell
        ``stop`` (the last two outputs). ``naive``: each cell's per-op path (:meth:`SearchCell.forward_naive`)."""
        for cell in self.cells[start:stop]:
            if isinstance(cell, SearchCell):
                run = cell.forward_naive if naive else cell.forward
                out = run(states, weights[cell.cell_type], active[cell.cell_type], self.edge_weights(cell.cell_type))
            else:
                out = cell(states[-1])
            states = (states[-1], out)
        return states

    def head(self, states: tuple[Tensor, ...]) -> Tensor:
        """Logits from the last cell's output states."""
        y = self.head_norm(states[-1])
        return self.classifier(F.adaptive_avg_pool2d(y, 1).flatten(1))

"""Shared plumbing for the analyses: exact state restoration, fixed batches, evaluation.

Every analysis perturbs a live supernet (alphas, weights, BatchNorm running
statistics, train/eval mode) and must leave it exactly as it found it, even
when it raises: :func:`preserved` snapshots all of that and restores it in
``finally`` (the remedy for loss-landscapes' ``deepcopy_model=False`` walk and
PyHessian's forced ``model.eval()``, ECOSYSTEM.md §3).

BatchNorm modes used throughout (``bn=``):

* ``"train"``: batch statistics, as the search step, RobustDARTS's Hessian
  (`src/search/analyze.py`) and DARTS-PT's ``infer(_eval=False)`` use them.
  The running statistics that a train-mode forward updates are restored.
* ``"eval"``: the running statistics accumulated by the search.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from workbench.spaces.base import ChoiceSupernet, masked_softmax
from workbench.spaces.cell.space import CellSpace

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher
    from workbench.tasks import Objective

Batches = list[tuple[Tensor, Tensor]]
BN_MODES = ("train", "eval")
SPLITS = ("val", "train", "test")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not accepted; choose one of {', '.join(map(repr, choices))}")
    return value


@contextmanager
def preserved(model: nn.Module, params: bool = True, buffers: bool = True) -> Iterator[None]:
    """Restore parameters (bit for bit, and their ``.grad``), buffers and every module's mode on exit."""
    saved_p = {n: p.detach().clone() for n, p in model.named_parameters()} if params else {}
    saved_g = {n: p.grad for n, p in model.named_parameters()} if params else {}
    saved_b = {n: b.detach().clone() for n, b in model.named_buffers()} if buffers else {}
    modes = {n: m.training for n, m in model.named_modules()}
    try:
        yield
    finally:
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in saved_p:
                    p.copy_(saved_p[n])
                    p.grad = saved_g[n]
            for n, b in model.named_buffers():
                if n in saved_b:
                    b.copy_(saved_b[n])
        for n, m in model.named_modules():
            if n in modes:
                m.training = modes[n]


def set_bn_mode(model: nn.Module, bn: str) -> None:
    check_choice("bn", bn, BN_MODES)
    model.train(bn == "train")


def split_data(searcher: Searcher, split: str) -> tuple[Tensor, Tensor]:
    """The examples of a split: ``val`` = the arch half, ``train`` = the weight half, ``test`` = held out."""
    check_choice("split", split, SPLITS)
    if split == "val":
        return searcher.val_data
    if split == "train":
        return searcher.train_stream.x, searcher.train_stream.y
    ds = searcher.dataset
    return ds.x_test.to(searcher.device), ds.y_test.to(searcher.device)


def fixed_batches(x: Tensor, y: Tensor, batch_size: int, n_batches: int | None) -> Batches:
    """The first ``n_batches`` consecutive batches (all of them for None): the same data at every call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_batches is not None and n_batches < 1:
        raise ValueError(f"the number of batches must be >= 1 (or None for all), got {n_batches}")
    out = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]
    return out if n_batches is None else out[:n_batches]


def searcher_batches(searcher: Searcher, split: str = "val", batches: int | Batches | None = 1,
                     batch_size: int | None = None) -> Batches:
    """Explicit batches pass through; an int takes that many fixed batches of the split (None: all)."""
    if isinstance(batches, list):
        if not batches:
            raise ValueError("an explicit list of batches must not be empty")
        return batches
    x, y = split_data(searcher, split)
    return fixed_batches(x, y, batch_size or searcher.config.batch_size, batches)


def cell_space(searcher: Searcher, what: str) -> CellSpace:
    """The searcher's space, which ``what`` (an analysis of edges and ops) needs to be a cell space."""
    space = searcher.space
    if not isinstance(space, CellSpace):
        raise TypeError(f"{what} needs a cell space (edges of candidate ops, e.g. 'nb201' or 'darts'); "
                        f"the search's space is {space.name!r}")
    return space


def alpha_parameters(model: ChoiceSupernet) -> list[nn.Parameter]:
    """The alphas alone, one (rows, options) matrix per choice group (no PC-DARTS betas)."""
    return [model.alphas[g.name] for g in model.groups]


def softmax_weights(model: ChoiceSupernet, alphas: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """DARTS's relaxation softmax(alpha) over enabled options, per choice group (with the graph to alpha)."""
    table = model.alphas if alphas is None else alphas
    return {g.name: masked_softmax(table[g.name], model.op_mask(g.name)) for g in model.groups}


def active_ops(model: ChoiceSupernet, weights: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """Ops worth computing: enabled and with a non-zero weight (DARTS-PT's MixedOp skips ``w == 0``)."""
    return {g.name: (model.op_mask(g.name) & (weights[g.name].detach() != 0)).cpu().numpy() for g in model.groups}


def batch_loss(model: nn.Module, batches: Batches, weights: Mapping[str, Tensor],
               active: Mapping[str, np.ndarray] | None = None, *, objective: Objective) -> Tensor:
    """The objective's loss averaged over all examples of ``batches`` (each batch one forward), with the graph."""
    n = sum(len(yb) for _, yb in batches)
    total: Tensor | None = None
    for xb, yb in batches:
        term = objective.loss(model(xb, weights, active), yb) * len(yb)
        total = term if total is None else total + term
    assert total is not None, "batch_loss needs at least one batch"
    return total / n


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, weights: Mapping[str, Tensor],
             active: Mapping[str, np.ndarray] | None = None, *, objective: Objective) -> tuple[float, float]:
    """(mean loss, mean primary metric) over ``batches`` in the model's current mode."""
    loss_sum, metric_sum, n = 0.0, 0.0, 0
    for xb, yb in batches:
        out = model(xb, weights, active)
        loss_sum += float(objective.loss(out, yb)) * len(yb)
        metric_sum += float(objective.metrics(out, yb)[objective.primary]) * len(yb)
        n += len(yb)
    return loss_sum / n, metric_sum / n


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vec: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    out, i = [], 0
    for t in like:
        out.append(vec[i:i + t.numel()].view_as(t))
        i += t.numel()
    return out

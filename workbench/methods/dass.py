"""DASS: DARTS for sparse networks -- the method, its sparsity-aware loss term, and prune-then-evaluate (Mousavi,
Loni, Alibeigi, Daneshtalab; arXiv 2207.06968, ACM TECS 22(5s) 2023; SEEDS_2 §3).

**What is reconstructed** (no code is public; the abstract says: sparse parametric ops SparseConv/SparseLinear in
the DARTS space, and an objective modified "to train the architecture based on the sparsity of the search space
operations"; everything below is **unverified**):

* the space: dense ops plus sparse ones (:mod:`workbench.spaces.cell.sparse_space`, ``nb201-sparse`` /
  ``darts-sparse``); the sparse ops use W ⊙ M(W) with a magnitude mask at the target ``sparsity`` s = 0.9,
  recomputed at every forward (projected SGD: :mod:`workbench.spaces.cell.sparse_ops`);
* the sparsity-aware bilevel problem min_alpha L_val(w*(alpha) ⊙ M, alpha), w* = argmin_w L_train(w ⊙ M, alpha),
  ||w ⊙ M||_0 <= (1 - s)|w| per parametric op: the masks in the forward make both losses the masked network's;
  the alpha step is DARTS first order on it;
* :class:`SparsityCost`, the loss term: ``cost_weight`` x E_p[density], where the density of an op is its
  non-zero weights at the deployment sparsity over the largest op's weights (parameter-free ops: 0), averaged
  over the rows -- an additive cost model (:class:`~workbench.methods.costs.CostModel`) that makes the alpha step
  prefer ops that stay small when pruned (``cost_weight=0`` turns it off);
* options: ``sparsity``, ``mask_grad`` ("ste" | "masked"), ``granularity`` ("op" | "layer"),
  ``sparsify_dense_ops`` (False), ``cost_weight`` (0.05), all passed to the space as supernet settings.

:func:`prune_then_evaluate` is the evaluation protocol of SEEDS_2 §3.4 at CPU scale: train the derived network
dense, then for each target sparsity prune every edge convolution by magnitude, test, fine-tune a few epochs
with the masks recomputed each step, test again. Sparsity is reported over the parametric cell ops only (never
stem or classifier), and accuracy, not wall time: dense PyTorch gains no speed from unstructured masks.
"""
from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.methods.context import StepContext
from workbench.methods.costs import CostModel
from workbench.methods.presets import Method, darts_v1, preset
from workbench.spaces.base import ChoiceSupernet
from workbench.spaces.cell.genotype import Genotype
from workbench.spaces.cell.ops import make_op
from workbench.spaces.cell.sparse_ops import (
    _Sparse,
    configure,
    sparsity_of,
)
from workbench.tasks import ImageDataset, load_dataset
from workbench.tasks.data.streams import BatchStream, eval_batches

log = logging.getLogger(__name__)
__all__ = ["PruneConfig", "PruneResult", "SparsityCost", "dass", "op_density", "prune_then_evaluate"]


def op_density(op: str, C: int, sparsity: float, dense_too: bool = False) -> float:
    """Non-zero weights of one edge's ``op`` (C channels) at ``sparsity`` (dense ops: all, unless ``dense_too``)."""
    module = make_op(op, C, 1, 1, affine=False)
    n = sum(p.numel() for p in module.parameters())
    sparse = any(isinstance(m, _Sparse) for m in module.modules())
    return n * (1.0 - sparsity) if (sparse or dense_too) else float(n)


@dataclass(frozen=True)
class SparsityCost:
    """The arch-loss term ``weight`` x E_p[density] (see the module docstring); the table is built once per model
    from its ops and its sparsity settings."""

    weight: float = 0.05
    name: str = "sparsity_cost"
    _tables: dict = field(default_factory=dict, compare=False, repr=False)

    def cost_model(self, model: ChoiceSupernet) -> CostModel:
        key = id(model)
        if key not in self._tables:
            cfg = getattr(model, "cfg", None)
            s, dense_too = getattr(cfg, "sparsity", 0.0), getattr(cfg, "sparsify_dense_ops", False)
            C = getattr(cfg, "C", 8)
            costs = {}
            for g in model.groups:
                dens = np.array([op_density(o, C, s, dense_too) for o in g.options])
                table = np.tile(dens / max(dens.max(), 1.0), (len(g.rows), 1)) / len(g.rows)
                costs[g.name] = np.where(g.allowed_matrix(), table, 0.0)
            self._tables[key] = CostModel(costs, unit="density", name="weight density")
        return self._tables[key]

    def __call__(self, ctx: StepContext) -> Tensor:
        cost = self.cost_model(ctx.model)
        probs = {g.name: ctx.model.probabilities(g.name) for g in ctx.model.groups}
        return self.weight * cost.expected(probs) / len(probs)


@preset("dass")
def dass(o: dict[str, Any]) -> Method:
    """DASS on a sparse cell space (``nb201-sparse`` or ``darts-sparse``; other spaces refuse its settings);
    options checked by :func:`workbench.methods.family_options.dass`."""
    settings = {k: o[k] for k in ("sparsity", "mask_grad", "granularity", "sparsify_dense_ops")}
    return replace(darts_v1(), name="dass", spaces=("nb201-sparse", "darts-sparse"), supernet_settings=settings,
                   arch_loss_terms=(SparsityCost(o["cost_weight"]),) if o["cost_weight"] > 0 else (), options=o)


# ------------------------------------------------------------------------------------------- prune, then evaluate
@dataclass(frozen=True)
class PruneConfig:
    """Budget of :func:`prune_then_evaluate` (dense training, then per-sparsity fine-tuning)."""

    epochs: int = 8
    finetune_epochs: int = 2
    batch_size: int = 64
    lr: float = 0.05
    finetune_lr: float = 0.01
    C: int = 8
    cells_per_stage: int = 1
    layers: int = 3
    seed: int = 0
    data_limit: int | None = None


@dataclass(frozen=True)
class PruneResult:
    sparsity: float  # the target
    measured: float  # zeros / weights over the sparse (pruned) edge convolutions
    dense_acc: float
    pruned_acc: float  # right after magnitude pruning
    finetuned_acc: float


def _train(net: nn.Module, stream: BatchStream, epochs: int, lr: float) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    for epoch in range(epochs):
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))
        net.train()
        for _ in range(stream.batches_per_epoch):
            x, y = stream.next()
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()


@torch.no_grad()
def _accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    net.eval()
    correct = sum(int((net(xb).argmax(1) == yb).sum()) for xb, yb in eval_batches(x, y, 512))
    return correct / len(y)


def prune_then_evaluate(genotype: Genotype | str, space: str = "nb201", dataset: str | ImageDataset = "digits",
                        sparsities: Sequence[float] = (0.5, 0.7, 0.9), config: PruneConfig = PruneConfig()
                        ) -> list[PruneResult]:
    """Train ``genotype`` dense, prune every edge conv to each sparsity by magnitude, fine-tune, test (seeded)."""
    from workbench.spaces import get_space
    from workbench.spaces.cell.discrete import from_space
    from workbench.spaces.cell.supernet import SupernetConfig

    cfg = config
    ds = load_dataset(dataset, seed=cfg.seed, limit=cfg.data_limit) if isinstance(dataset, str) else dataset
    torch.manual_seed(cfg.seed)
    net = from_space(Genotype.parse(genotype), get_space(space), SupernetConfig(
        C=cfg.C, layers=cfg.layers, cells_per_stage=cfg.cells_per_stage), ds.input_shape[0], ds.n_classes)
    configure(net, 0.0, dense_too=True)  # every edge conv becomes a SparseConv, at s = 0 (dense) for now
    stream = BatchStream(ds.x_train, ds.y_train, cfg.batch_size, seed=cfg.seed * 1000 + 7)
    _train(net, stream, cfg.epochs, cfg.lr)
    dense = _accuracy(net, ds.x_test, ds.y_test)
    out = []
    for s in sparsities:
        pruned = configure(copy.deepcopy(net), float(s))
        before = _accuracy(pruned, ds.x_test, ds.y_test)
        _train(pruned, stream, cfg.finetune_epochs, cfg.finetune_lr)
        zeros, total = sparsity_of(pruned)
        out.append(PruneResult(float(s), zeros / max(total, 1), dense, before, _accuracy(pruned, ds.x_test, ds.y_test)))
        log.info("%s at sparsity %.2f: dense %.4f pruned %.4f fine-tuned %.4f", genotype, s, dense, before,
                 out[-1].finetuned_acc)
    return out

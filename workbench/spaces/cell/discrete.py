"""Compile a genotype into a discrete network and train it: the DARTS "evaluation stage", scaled down.

Implements ``NetworkCIFAR`` of `quark0/darts:cnn/model.py` (Liu et al., ICLR
2019, Sec. 3.2; ALGORITHMS.md §1.3) and the NAS-Bench-201 inference network
(Dong & Yang, ICLR 2020; AutoDL ``InferCell`` / ``TinyNetwork``):

* **DARTS macro** (2-input cells, ``normal`` + ``reduce``): stem conv 3x3 -> 3C
  + BN, ``layers`` cells with reductions at layers//3 and 2*layers//3 (the
  plan of :func:`workbench.spaces.cell.supernet.macro_plan`), global pooling, linear. A
  cell preprocesses s0 (FactorizedReduce after a reduction cell, else
  ReLU-conv1x1-BN) and s1 (ReLU-conv1x1-BN); node i sums ``op(state[src])``
  over its (op, src) pairs (any number of nodes and pairs: NASNet and
  AmoebaNet have 5 nodes); the output concatenates the ``concat`` states, so
  the next cell sees ``len(concat) * C`` channels. In a reduction cell the
  edges reading the two inputs have stride 2.
* **NB201 macro** (1-input cell): stem conv 3x3 -> C + BN, three stages of N
  cells joined by residual reduction blocks, BN-ReLU, pooling, linear. Node i
  sums its inputs; the cell output is its ``concat`` state (the last node);
  ``none`` edges output zeros.

Ops are built with :func:`workbench.spaces.cell.ops.make_op` (E=1, ``affine=True`` as in
the DARTS evaluation model; pools carry no BN).

**drop_path** (``NetworkCIFAR``): during training each non-identity,
non-``none`` op output is zeroed per example with probability p and scaled by
1/(1-p). DARTS ramps p linearly from 0 to ``drop_path_prob`` over the epochs
(``train.py``); :func:`evaluate_genotype` does the same. Default p = 0: at our
tiny scale it only slows learning.

**Auxiliary head** (``AuxiliaryHeadCIFAR``, off by default): taps the output
of the last reduction layer (DARTS's cell 2*layers//3; for NB201 the second
residual block) during training: ReLU, average pool to 2x2, conv 1x1 -> H,
BN, ReLU, conv 2x2 -> 6H, BN, ReLU, linear. DARTS taps 576 channels (C=36)
and uses H=128; we use H = C'/4 of the C' tapped channels (at least 8), so the
head scales with the net instead of dwarfing it. Its loss is added with
weight 0.4 (``EvalConfig.auxiliary_weight``); it is not counted in
``EvalResult.params``.

:func:`evaluate_genotype` trains on the *whole* training split (DARTS
evaluation has no architecture half) with SGD + momentum, weight decay,
grad-norm clipping and a per-epoch cosine learning rate down to 0, and reports
test-split loss and accuracy after every epoch.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.methods.schedules import cosine_lr
from workbench.spaces import CellSpace, SearchSpace, get_space
from workbench.spaces.cell.genotype import CellGenotype, Genotype, GenotypeError
from workbench.spaces.cell.ops import (
    FactorizedReduce,
    Identity,
    ReLUConvBN,
    Zero,
    make_op,
    op_names,
)
from workbench.spaces.cell.supernet import ResBlock, SupernetConfig, macro_plan
from workbench.tasks.data import BatchStream, ImageDataset, derive_seed, eval_batches, load_dataset

__all__ = ["DiscreteCell", "DiscreteNetwork", "EpochRecord", "EvalConfig", "EvalResult", "MACROS",
           "count_params", "evaluate_genotype", "from_space", "infer_macro"]

log = logging.getLogger(__name__)

MACROS = ("darts", "nb201")


def drop_path(x: Tensor, p: float) -> Tensor:
    """Zero whole examples of ``x`` with probability ``p``, scale the rest by 1/(1-p) (NetworkCIFAR)."""
    keep = 1.0 - p
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x * mask / keep


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def infer_macro(genotype: Genotype) -> str:
    """``"darts"`` for normal+reduce 2-input cells, ``"nb201"`` for a single 1-input cell."""
    if genotype.is_darts():
        return "darts"
    if len(genotype.cells) == 1 and genotype.cells[0][1].n_inputs == 1:
        return "nb201"
    raise GenotypeError(f"cannot infer the macro structure for cells "
                        f"{[(n, c.n_inputs) for n, c in genotype.cells]}: 'darts' needs cells 'normal' and "
                        "'reduce' with 2 inputs each, 'nb201' one cell with 1 input")


class DiscreteCell(nn.Module):
    """One cell of a compiled genotype: only the chosen ops, summed per node."""

    def __init__(self, cell: CellGenotype, C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.cell, self.C, self.reduction = cell, C, reduction
        if cell.n_inputs == 2:
            self.pre0 = FactorizedReduce(C_pp, C, 1, True) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 1, 0, True)
            self.pre1 = ReLUConvBN(C_p, C, 1, 1, 1, 0, True)
        elif cell.n_inputs != 1 or C_p != C or reduction:
            raise GenotypeError(f"a {cell.n_inputs}-input cell cannot be placed here (needs 2 inputs, or 1 input "
                                "in a non-reducing layer that keeps its channel count)")
        if reduction and any(s < cell.n_inputs for s in cell.concat):
            raise GenotypeError(f"reduction cell concatenates input state(s) {[s for s in cell.concat if s < 2]}, "
                                "which keep the input resolution; concat may only list nodes "
                                f"{list(range(cell.n_inputs, cell.n_inputs + cell.n_nodes))} in a reduction cell")
        # ops[i][k] is the k-th input op of node i
        self.ops = nn.ModuleList(
            nn.ModuleList(make_op(op, C, 1, 2 if reduction and src < cell.n_inputs else 1, True) for op, src in node)
            for node in cell.nodes)
        self.drop_path_prob = 0.0

    @property
    def multiplier(self) -> int:
        return len(self.cell.concat)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)] if self.cell.n_inputs == 2 else [s1]
        p = self.drop_path_prob if self.training else 0.0
        for node, ops in zip(self.cell.nodes, self.ops, strict=True):
            acc = None
            for (_, src), op in zip(node, cast(nn.ModuleList, ops), strict=True):
                h = op(states[src])
                if p > 0 and not isinstance(op, (Identity, Zero)):
                    h = drop_path(h, p)
                acc = h if acc is None else acc + h
            states.append(acc)
        if len(self.cell.concat) == 1:
            return states[self.cell.concat[0]]
        return torch.cat([states[s] for s in self.cell.concat], dim=1)


class _AuxHead(nn.Module):
    """NetworkCIFAR's auxiliary classifier, widths scaled to the tapped channel count (module docstring)."""

    def __init__(self, C_in: int, n_classes: int) -> None:
        super().__init__()
        H = max(C_in // 4, 8)
        self.features = nn.Sequential(
            nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C_in, H, 1, bias=False), nn.BatchNorm2d(H), nn.ReLU(),
            nn.Conv2d(H, 6 * H, 2, bias=False), nn.BatchNorm2d(6 * H), nn.ReLU())
        self.classifier = nn.Linear(6 * H, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class DiscreteNetwork(nn.Module):
    """A trainable network compiled from a genotype (see the module docstring for both macros).

    ``macro=None`` infers it from the genotype. ``layers`` (DARTS macro) is the
    number of cells; ``cells_per_stage`` (NB201 macro) is N.
    ``forward(x)`` returns logits; ``forward(x, return_aux=True)`` returns
    ``(logits, aux_logits)``, with ``aux_logits`` None unless the auxiliary head
    exists and the network is in training mode.

    Example:
        >>> from workbench.spaces.cell import zoo
        >>> net = DiscreteNetwork(zoo.published("DARTS_V2"), "darts", C=8, layers=3)
        >>> net(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, genotype: Genotype | str, macro: str | None = None, C: int = 8, layers: int = 3,
                 cells_per_stage: int = 1, in_channels: int = 1, n_classes: int = 10,
                 drop_path_prob: float = 0.0, auxiliary: bool = False) -> None:
        super().__init__()
        genotype = Genotype.parse(genotype)
        genotype.check_ops(op_names())  # unknown ops: GenotypeError naming them and listing the known ones
        genotype.check_connected()  # nodes that never reach the output would be computed and silently dropped
        macro = infer_macro(genotype) if macro is None else macro
        if macro not in MACROS:
            raise ValueError(f"unknown macro {macro!r}; accepted: {', '.join(MACROS)}")
        for name, value, low in (("C", C, 2), ("layers", layers, 1), ("cells_per_stage", cells_per_stage, 1),
                                 ("in_channels", in_channels, 1), ("n_classes", n_classes, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if macro == "darts" and C % 2:
            raise ValueError(f"the DARTS macro needs an even C (FactorizedReduce halves it), got C={C}")
        self.genotype, self.macro = genotype, macro
        self.C, self.layers, self.cells_per_stage = C, layers, cells_per_stage
        self.in_channels, self.n_classes = in_channels, n_classes
        macro_space = get_space(macro)
        assert isinstance(macro_space, CellSpace)  # every name in MACROS is a cell space
        plan = macro_plan(macro_space, SupernetConfig(C=C, layers=layers, cells_per_stage=cells_per_stage))
        red_layers = [i for i, (_, _, red) in enumerate(plan) if red]
        self.aux_index = red_layers[-1] if auxiliary and red_layers else None
        if auxiliary and self.aux_index is None:
            raise ValueError(f"the auxiliary head taps the last reduction layer, but layers={layers} has none "
                             "(use layers >= 3)")
        self.cells = nn.ModuleList()
        C_aux = 0
        if macro == "darts":
            if not genotype.is_darts():
                raise GenotypeError(f"the 'darts' macro needs cells 'normal' and 'reduce' with 2 inputs each; "
                                    f"got {[(n, c.n_inputs) for n, c in genotype.cells]} (NB201 cells use "
                                    "macro='nb201')")
            C_stem = 3 * C
            self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
            C_pp, C_p, red_prev = C_stem, C_stem, False
            for i, (kind, C_cell, red) in enumerate(plan):
                cell = DiscreteCell(genotype.cell(kind), C_pp, C_p, C_cell, red, red_prev)
                self.cells.append(cell)
                C_pp, C_p, red_prev = C_p, cell.multiplier * C_cell, red
                if i == self.aux_index:
                    C_aux = C_p
            self.head_norm: nn.Module = nn.Identity()
        else:
            cell_g = genotype.cells[0][1]
            if len(genotype.cells) != 1 or cell_g.n_inputs != 1 or len(cell_g.concat) != 1:
                raise GenotypeError(f"the 'nb201' macro needs one 1-input cell whose output is one state "
                                    f"(concat of length 1); got {[(n, c.n_inputs, list(c.concat)) for n, c in genotype.cells]}")
            self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
            C_p = C
            for i, (kind, C_cell, _) in enumerate(plan):
                self.cells.append(ResBlock(C_p, C_cell) if kind == "resblock"
                                  else DiscreteCell(cell_g, C_cell, C_cell, C_cell, False, False))
                C_p = C_cell
                if i == self.aux_index:
                    C_aux = C_p
            self.head_norm = nn.Sequential(nn.BatchNorm2d(C_p), nn.ReLU())
        self.aux_head = _AuxHead(C_aux, n_classes) if self.aux_index is not None else None
        self.classifier = nn.Linear(C_p, n_classes)
        self.drop_path_prob = 0.0
        self.set_drop_path_prob(drop_path_prob)

    def set_drop_path_prob(self, p: float) -> None:
        """Set the drop-path probability of every cell (DARTS ramps it per epoch)."""
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {p}")
        self.drop_path_prob = float(p)
        for cell in self.cells:
            if isinstance(cell, DiscreteCell):
                cell.drop_path_prob = float(p)

    def forward(self, x: Tensor, return_aux: bool = False) -> Tensor | tuple[Tensor, Tensor | None]:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            out = cell(s0, s1) if isinstance(cell, DiscreteCell) else cell(s1)
            s0, s1 = s1, out
            if i == self.aux_index and self.training:
                assert self.aux_head is not None  # built whenever aux_index is set
                aux = self.aux_head(s1)
        logits = self.classifier(F.adaptive_avg_pool2d(self.head_norm(s1), 1).flatten(1))
        return (logits, aux) if return_aux else logits


def from_space(genotype: Genotype | str, space: SearchSpace | str | None = None,
               supernet_config: SupernetConfig | None = None, in_channels: int = 1, n_classes: int = 10,
               **kw: Any) -> DiscreteNetwork:
    """The discrete network of ``genotype`` at the size of ``supernet_config`` (the supernet's macro).

    With a ``space`` the genotype is checked against it (``space.check_genotype``,
    GenotypeError on mismatch) and the space's macro is used; with ``space=None``
    any DARTS-format or NB201-format genotype compiles (NASNet, AmoebaNet, ...).
    ``kw`` goes to :class:`DiscreteNetwork` (``drop_path_prob``, ``auxiliary``).
    """
    genotype = Genotype.parse(genotype)
    supernet_config = SupernetConfig() if supernet_config is None else supernet_config
    macro = None
    if space is not None:
        space = get_space(space)
        if not isinstance(space, CellSpace):
            raise TypeError(f"from_space compiles cell genotypes; space {space.name!r} is not a cell space")
        space.check_genotype(genotype)
        macro = space.macro
    return DiscreteNetwork(genotype, macro, supernet_config.C, supernet_config.layers,
                           supernet_config.cells_per_stage, in_channels, n_classes, **kw)


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class EvalConfig:
    """Training of a compiled genotype. Defaults: DARTS ``cnn/train.py`` (§1.6), scaled down (C, layers, epochs)."""

    epochs: int = 20
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0  # CosineAnnealingLR's eta_min default in train.py
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    drop_path_prob: float = 0.0  # DARTS: 0.2, ramped linearly over epochs
    auxiliary: bool = False
    auxiliary_weight: float = 0.4
    C: int = 8
    layers: int = 3  # DARTS macro
    cells_per_stage: int = 1  # NB201 macro (N)
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    data_limit: int | None = None  # keep at most this many training examples (stratified)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "C", "layers", "cells_per_stage"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "auxiliary_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {self.drop_path_prob}")

    def replace(self, **kw: Any) -> EvalConfig:
        return dataclasses.replace(self, **kw)


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one training epoch: train metrics are running means over its batches (train mode)."""

    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float


@dataclass(frozen=True)
class EvalResult:
    """Outcome of :func:`evaluate_genotype`; the scalar metrics are those of the last epoch."""

    genotype: Genotype
    test_acc: float
    test_loss: float
    train_acc: float
    params: int
    history: tuple[EpochRecord, ...]
    seconds: float
    config: EvalConfig

    def convergence_note(self, min_epochs: int = 5, still_falling: float = 0.1) -> str | None:
        """Why the numbers are not converged, or None: fewer than ``min_epochs`` epochs, or a training loss
        that still fell by more than ``still_falling`` (relative) over the last quarter of the epochs, where
        the cosine schedule's learning rate is already small."""
        n = len(self.history)
        if n < min_epochs:
            return (f"only {n} epoch{'s' if n != 1 else ''} (< {min_epochs}): the accuracy is not converged and "
                    "ranks architectures poorly; use --epochs 20 or more")
        start = self.history[(3 * n) // 4 - 1].train_loss
        end = self.history[-1].train_loss
        if start > 0 and (start - end) / start > still_falling:
            return (f"the training loss still fell {(start - end) / start:.0%} over the last quarter of the "
                    "epochs: the accuracy is not converged; train longer (--epochs)")
        return None


@torch.no_grad()
def _test(net: nn.Module, x: Tensor, y: Tensor, device: torch.device, batch_size: int = 512) -> tuple[float, float]:
    was = net.training
    net.eval()
    loss_sum, correct = 0.0, 0
    for xb, yb in eval_batches(x, y, batch_size, device=device):
        logits = net(xb)
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    net.train(was)
    return loss_sum / len(y), correct / len(y)


def evaluate_genotype(genotype: Genotype | str, space: SearchSpace | str | None = None,
                      dataset: ImageDataset | str = "digits", config: EvalConfig = EvalConfig(),
                      on_epoch: Callable[[EpochRecord], None] | None = None) -> EvalResult:
    """Train the compiled ``genotype`` from scratch on the full training split; test after each epoch.

    Deterministic for ``config.seed`` (init, data order, drop-path masks) on CPU.
    ``space`` (optional) validates the genotype and fixes the macro; ``on_epoch``
    receives each :class:`EpochRecord` as it is made.
    """
    t_start = time.perf_counter()
    cfg = config
    genotype = Genotype.parse(genotype)
    device = torch.device(cfg.device)
    ds = dataset if isinstance(dataset, ImageDataset) else load_dataset(
        dataset, cfg.data_root, seed=cfg.seed, limit=cfg.data_limit)
    torch.manual_seed(cfg.seed)
    net = from_space(genotype, space, SupernetConfig(C=cfg.C, layers=cfg.layers, cells_per_stage=cfg.cells_per_stage),
                     ds.input_shape[0], ds.n_classes, auxiliary=cfg.auxiliary).to(device)
    params = count_params(net)
    if net.aux_head is not None:
        params -= count_params(net.aux_head)  # DARTS reports the size without the training-only head
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    stream = BatchStream(ds.x_train, ds.y_train, cfg.batch_size, seed=derive_seed(cfg.seed, "eval"), device=device)
    history: list[EpochRecord] = []
    log.info("evaluating %s: %d params, %d epochs of %d steps", genotype, params, cfg.epochs,
             stream.batches_per_epoch)
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        lr = cosine_lr(epoch, cfg.epochs, cfg.lr, cfg.lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        net.set_drop_path_prob(cfg.drop_path_prob * epoch / cfg.epochs)
        net.train()
        loss_sum, correct, n = 0.0, 0, 0
        for _ in range(stream.batches_per_epoch):
            x, y = stream.next()
            logits, aux = net(x, return_aux=True)
            loss = F.cross_entropy(logits, y)
            if aux is not None:
                loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            n += len(y)
        test_loss, test_acc = _test(net, ds.x_test, ds.y_test, device)
        rec = EpochRecord(epoch, lr, loss_sum / n, correct / n, test_loss, test_acc, time.perf_counter() - t0)
        history.append(rec)
        log.info("epoch %d: lr %.4g train %.4f/%.3f test %.4f/%.3f", epoch, lr, rec.train_loss, rec.train_acc,
                 test_loss, test_acc)
        if on_epoch is not None:
            try:
                on_epoch(rec)
            except Exception:  # an observer must not kill the run (DESIGN.md, events)
                log.exception("on_epoch callback failed at epoch %d; training continues", epoch)
    last = history[-1]
    return EvalResult(genotype, last.test_acc, last.test_loss, last.train_acc, params, tuple(history),
                      time.perf_counter() - t_start, cfg)

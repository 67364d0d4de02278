"""Perturbation-based architecture selection: DARTS-PT's probe and projection schedule.

Wang et al., "Rethinking Architecture Selection in Differentiable NAS" (ICLR
2021; `ruocwang/darts-pt:sota/cnn/projection.py`, `nasbench201/projection.py`,
ALGORITHMS.md §3.3-3.4). An op's importance is what the supernet loses when
the op is taken away, not the size of its alpha:

* **probe(edge)**: for each candidate op o, multiply the edge's mixing
  weights by a mask that is 0 at o (no renormalisation) and evaluate the
  supernet on the projection batches; with ``crit="acc"`` the op whose removal
  gives the lowest accuracy is chosen (first minimum), with ``"loss"`` the one
  giving the highest loss. Decided edges use their one-hot weights, the rest
  softmax(alpha); other cell types keep their own projected weights.
* **op projection**: an undecided edge drawn uniformly at random (seeded, one
  draw per cell type) is probed and fixed to one-hot(best op).
* **topology projection** (DARTS rule only): a random undecided node with more
  than 2 inputs; while more than 2 candidate edges remain, zero each one in
  turn (fresh projected weights each time) and drop the one whose removal
  gives the highest accuracy (ties: the last), or the lowest loss.
* **schedule**: the weight optimizer is reset to SGD at lr * 0.1, constant;
  DARTS space: tune_epochs = proj_intv * (edges + nodes_to_decide - 1) + 1
  with projections (op, then edge) at epochs where epoch % proj_intv == 0 or
  the last one; NB201: tune_epochs = proj_intv * (edges - 1), op projections
  only. Between projections the supernet is tuned on its projected weights:
  a first-order alpha step on a validation batch (``arch_update="darts"``;
  ``"blank"`` freezes the alphas, blank-PT) and a weight step on a training
  batch, clipped at the search's grad_clip.

Deviations, all knobs: the projection set is ``proj_batches`` fixed batches of
the arch half (the reference uses the whole half); BatchNorm during probes is
``bn="train"`` (batch statistics, the reference) or ``"eval"``, and the
running-statistics updates that train-mode probing makes as a side effect are
undone unless ``bn_side_effects=True``; ``proj_intv=0`` makes every projection
back to back without tuning; on NB201 with proj_intv=1 the reference formula
leaves an edge undecided, so that case tunes ``edges`` epochs.

Cost (the probe's arithmetic is the reference's; only repeated work is cut). Masking
an op whose output is zero (``none``) or whose weight is already 0 changes nothing: it
reuses the unmasked evaluation. Every other probe *replays* (``replay=True``, the
default; :func:`replayed_probes`): per batch, one unmasked forward records the stem's
output, the cells upstream of the first cell of each type, and inside that cell the
states and node sums before every wave. Masking op o of edge k (node i, input x_j)
changes nothing upstream of node i, and node i only by w[k, o] * o(x_j) (the mix is
linear and an op's BatchNorm precedes its weight): the probe starts from node i minus
that term at the wave leaving node i, then runs the later cells and the head. The
probes of one edge run as one ``torch.func.vmap``-batched forward, each with its own
batch statistics and, in later cells of the same type, its own masked weights; the
running statistics are detached meanwhile (train-mode outputs never read them) and
restored. :meth:`Projection.probe_edges` (``compare_selection``) shares one unmasked pass
per batch among all the edges it probes. Topology projection (:meth:`Projection.project_edge`)
replays the same way: removing edge k subtracts its whole mix, sum_o w[k, o] * o(x_j), and
the candidate edges of one round (all into the same node) run as one batched forward. The values equal those of evaluating each
masked supernet up to rounding (float64: 1e-12 relative; tests). Side by side on the
digits DARTS config (``benchmarks/bench_pt_sweep.py``, CPU time, one thread) the full
sweep is 10.4x faster than darts-pt's loop on the reference execution structure and
3.1x faster than ``replay=False`` (each probe a whole forward of our supernet, 3.3x);
on NB201 (``benchmarks/bench_analysis.py`` [3]) 2.5x faster than evaluating every
probe, 1.7x than ``replay=False``. With ``bn_side_effects=True``, or PC-DARTS partial
channels / edge normalisation / GDAS's inactive bias, every probe is evaluated whole,
as in the reference (the former moves the running statistics at each probe).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial as partial_fn
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from workbench.analysis.common import (
    Batches,
    active_ops,
    cell_space,
    check_choice,
    evaluate,
    preserved,
    searcher_batches,
    set_bn_mode,
    softmax_weights,
)
from workbench.events import AnalysisResult
from workbench.spaces.cell.genotype import Genotype
from workbench.spaces.cell.ops import EdgeOp
from workbench.spaces.cell.select import derive_genotype
from workbench.spaces.cell.space import CellSpace
from workbench.spaces.cell.supernet import SearchCell, Supernet

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher
    from workbench.tasks import Objective


@dataclass(frozen=True)
class ProjectionConfig:
    proj_intv: int = 5  # tuning epochs between projection events (scripts: 5)
    crit: str = "acc"  # "acc" or "loss", for op and edge selection
    proj_batches: int | None = 4  # size of the projection set in batches (None: the whole arch half)
    batch_size: int | None = None  # default: the search's
    bn: str = "train"  # BatchNorm while probing: "train" (batch statistics, reference) or "eval"
    bn_side_effects: bool = False  # keep the running-stat updates of train-mode probing (the reference does)
    arch_update: str | None = None  # "darts": first-order alpha steps while tuning; "blank": alphas frozen;
    # None: "blank" when the search's method never updates alphas (the ``blank`` preset), else "darts"
    lr_factor: float = 0.1  # tuning lr = search lr * lr_factor, constant
    tune_steps: int | None = None  # steps per tuning epoch (None: one pass over the weight half)
    exclude_none: bool | None = None  # None: as the reference (NB201 probes 'none', DARTS rule does not)
    seed: int = 0  # edge / node order
    replay: bool = True  # probes replay from the masked edge, one edge's probes batched (False: each evaluated whole)

    def __post_init__(self) -> None:
        check_choice("crit", self.crit, ("acc", "loss"))
        check_choice("bn", self.bn, ("train", "eval"))
        if self.arch_update is not None:
            check_choice("arch_update", self.arch_update, ("darts", "blank"))
        if self.proj_intv < 0 or (self.tune_steps is not None and self.tune_steps < 1):
            raise ValueError(f"proj_intv must be >= 0 and tune_steps >= 1, got {self.proj_intv}, {self.tune_steps}")
        if not self.lr_factor > 0:
            raise ValueError(f"lr_factor must be > 0, got {self.lr_factor}")


def topology_nodes(space: CellSpace) -> list[int]:
    """Nodes whose inputs the topology projection decides (DARTS rule: more than edges_per_node inputs)."""
    if space.genotype_rule != "darts":
        return []
    return [i for i in range(space.n_nodes) if len(space.node_edges(i)) > space.edges_per_node]


def projection_schedule(space: CellSpace, proj_intv: int = 5) -> list[tuple[int, str]]:
    """(tuning epoch, "op" | "edge" | "tune") in order; every op/edge event covers each cell type once."""
    n_op, n_topo = space.n_edges, len(topology_nodes(space))
    if proj_intv == 0:
        return [(0, "op")] * n_op + [(0, "edge")] * n_topo
    if n_topo:
        epochs = proj_intv * (n_op + n_topo - 1) + 1
    else:
        epochs = proj_intv * (n_op - 1) if proj_intv > 1 else n_op
    out = []
    for e in range(epochs):
        if e % proj_intv == 0 or e == epochs - 1:
            out.append((e, "op" if e < proj_intv * n_op else "edge"))
        out.append((e, "tune"))
    return out


@dataclass(frozen=True)
class ProbeResult:
    """What the supernet loses when each op of one edge is masked."""

    cell_type: str
    edge: int
    node: int
    src: int
    ops: tuple[str, ...]
    weights: tuple[float, ...]  # the ops' current mixing weights
    base_loss: float
    base_acc: float
    masked_loss: tuple[float, ...]
    masked_acc: tuple[float, ...]
    crit: str
    chosen: str

    @property
    def acc_drop(self) -> tuple[float, ...]:
        return tuple(self.base_acc - a for a in self.masked_acc)

    @property
    def loss_rise(self) -> tuple[float, ...]:
        return tuple(v - self.base_loss for v in self.masked_loss)

    @property
    def magnitude_op(self) -> str:
        return self.ops[int(np.argmax(self.weights))]

    def to_dict(self) -> dict[str, Any]:
        return {"cell_type": self.cell_type, "edge": self.edge, "node": self.node, "src": self.src,
                "ops": list(self.ops), "weights": list(self.weights), "base_loss": self.base_loss,
                "base_acc": self.base_acc, "masked_loss": list(self.masked_loss),
                "masked_acc": list(self.masked_acc), "crit": self.crit, "chosen": self.chosen,
                "magnitude_op": self.magnitude_op}


class Projection:
    """DARTS-PT's phase 2 on a trained supernet, one action (projection or tuning epoch) per :meth:`step`.

    The projection takes over ``searcher`` (its weights, alphas, optimizer
    and data streams move on); work on :func:`clone_searcher` to keep the
    original. Each action emits ``AnalysisResult(kind="projection")`` on
    ``searcher.bus`` and returns it.
    """

    def __init__(self, searcher: Searcher, config: ProjectionConfig = ProjectionConfig()) -> None:
        self.searcher, self.config, self.space = searcher, config, cell_space(searcher, "DARTS-PT projection")
        self.model = searcher.model
        self.exclude_none = (self.space.genotype_rule == "darts") if config.exclude_none is None else config.exclude_none
        self.arch_update = config.arch_update or ("blank" if searcher.method.arch_gradient is None else "darts")
        self.data = searcher_batches(searcher, "val", config.proj_batches, config.batch_size)
        self.generator = torch.Generator().manual_seed(config.seed)
        n_edges, n_ops = self.space.n_edges, len(self.space.ops)
        like = self.model.arch_parameters()[0]
        self.proj = {c: torch.zeros(n_edges, n_ops, dtype=like.dtype, device=like.device) for c in self.space.cell_types}
        self.decided = {c: torch.zeros(n_edges, dtype=torch.bool, device=like.device) for c in self.space.cell_types}
        self.keep = {c: torch.ones(n_edges, dtype=like.dtype, device=like.device) for c in self.space.cell_types}
        self.nodes_done: dict[str, dict[int, list[int]]] = {c: {} for c in self.space.cell_types}
        self.schedule = projection_schedule(self.space, config.proj_intv)
        self.position = 0
        self.tune_count = 0
        self._optimizer_reset = False

    @property
    def finished(self) -> bool:
        return self.position >= len(self.schedule)

    # -- weights --------------------------------------------------------------------------
    def weights(self, grad: bool = False) -> dict[str, Tensor]:
        """softmax(alpha) with decided edges one-hot and edges removed by topology projection zeroed."""
        with torch.set_grad_enabled(grad):
            w = softmax_weights(self.model)
            return {c: torch.where(self.decided[c][:, None], self.proj[c], w[c]) * self.keep[c][:, None]
                    for c in self.space.cell_types}

    def genotype(self) -> Genotype:
        """The genotype of the projected weights (the space's rule; once all is projected, the projections)."""
        w = {c: t.detach().cpu().numpy() for c, t in self.weights().items()}
        masks = {c: self.model.op_mask(c).cpu().numpy() for c in self.space.cell_types}
        return derive_genotype(self.space, w, masks)

    @contextmanager
    def _probing(self) -> Iterator[None]:
        """The model in the probes' BatchNorm mode; on exit its modes (and, unless ``bn_side_effects``, its
        running statistics) are restored. Train-mode forwards use batch statistics, so the statistics moved by
        one probe never change the next probe's result."""
        cfg = self.config
        # The reference lets train-mode probing move the running statistics; by default we undo that.
        keep_stats = cfg.bn == "train" and cfg.bn_side_effects
        with preserved(self.model, params=False, buffers=not keep_stats):
            set_bn_mode(self.model, cfg.bn)
            yield

    def _eval(self, weights: dict[str, Tensor]) -> tuple[float, float]:
        """(loss, primary metric) on the projection batches, in the current mode (inside :meth:`_probing`)."""
        return evaluate(self.model, self.data, weights, active_ops(self.model, weights),
                        objective=self.searcher.objective)

    def _evaluate(self, weights: dict[str, Tensor]) -> tuple[float, float]:
        with self._probing():
            return self._eval(weights)

    def base_evaluation(self) -> tuple[float, float]:
        """(loss, primary metric) of the unmasked projected supernet (what :meth:`probe` compares against)."""
        return self._evaluate(self.weights())

    def _masking_is_identity(self, weights: dict[str, Tensor], cell_type: str, edge: int, op: int) -> bool:
        """Whether zeroing this op's weight leaves the supernet's output unchanged: the op is ``none`` (its
        output is zero) or its weight is already 0. Never with ``bn_side_effects`` (the reference evaluates
        every probe, moving the running statistics each time)."""
        if self.config.bn_side_effects:
            return False
        return self.space.ops[op] == "none" or float(weights[cell_type][edge, op]) == 0.0

    # -- the probe and the two projections ---------------------------------------------------
    def candidate_ops(self, cell_type: str, edge: int) -> list[int]:
        mask = self.model.op_mask(cell_type)[edge]
        return [o for o, name in enumerate(self.space.ops)
                if bool(mask[o]) and not (self.exclude_none and name == "none")]

    def probe(self, cell_type: str, edge: int, base: tuple[float, float] | None = None) -> ProbeResult:
        """Mask each candidate op of ``edge`` in turn and measure the supernet (nothing is committed).

        ``base``: the unmasked supernet's (loss, metric) when the caller has it (:meth:`base_evaluation` of
        the same state); otherwise it is evaluated here, once, and reused for the ops whose masking changes
        nothing."""
        return self.probe_edges([(cell_type, edge)], base)[0]

    def probe_edges(self, edges: Sequence[tuple[str, int]], base: tuple[float, float] | None = None
                    ) -> list[ProbeResult]:
        """:meth:`probe` of each (cell type, edge) on the same, unchanged supernet, sharing one unmasked
        evaluation (and, with ``replay``, one pass of the stem and of the cells upstream of each edge)."""
        for cell_type, edge in edges:
            if cell_type not in self.space.cell_types or not 0 <= edge < self.space.n_edges:
                raise ValueError(f"no edge {edge} in cell {cell_type!r}; cells {self.space.cell_types}, "
                                 f"edges 0..{self.space.n_edges - 1}")
        weights = self.weights()
        todo = {(c, e): [o for o in self.candidate_ops(c, e) if not self._masking_is_identity(weights, c, e, o)]
                for c, e in edges}
        with self._probing():
            if self._replay_applies():
                own_base, masked = replayed_probes(cast(Supernet, self.model), self.data, weights,
                                                   {key: [[o] for o in ops] for key, ops in todo.items()},
                                                   self.searcher.objective)
                base = own_base if base is None else base
            else:
                base = self._eval(weights) if base is None else base
                masked = {key: [self._eval(_masked(weights, *key, o)) for o in ops] for key, ops in todo.items()}
        return [self._probe_result(weights, c, e, base, dict(zip(todo[(c, e)], masked[(c, e)], strict=True)))
                for c, e in edges]

    def _replay_applies(self) -> bool:
        """Replays and batched probes need plain DARTS mixing and probes that leave the running statistics alone."""
        if not isinstance(self.model, Supernet) or not self.config.replay or self.config.bn_side_effects:
            return False
        cfg = self.model.cfg
        return cfg.partial_channels == 1 and not cfg.inactive_bias and not cfg.edge_normalization

    def _probe_result(self, weights: dict[str, Tensor], cell_type: str, edge: int, base: tuple[float, float],
                      masked: dict[int, tuple[float, float]]) -> ProbeResult:
        ops = self.candidate_ops(cell_type, edge)
        losses, accs = zip(*[masked.get(o, base) for o in ops], strict=True)
        best = int(np.argmin(accs)) if self.config.crit == "acc" else int(np.argmax(losses))  # first extremum
        node, src = self.space.edges[edge]
        return ProbeResult(cell_type, edge, node, src, tuple(self.space.ops[o] for o in ops),
                           tuple(float(weights[cell_type][edge, o]) for o in ops), base[0], base[1],
                           tuple(losses), tuple(accs), self.config.crit, self.space.ops[ops[best]])

    def _draw(self, items: list[int]) -> int:
        return items[int(torch.randint(len(items), (1,), generator=self.generator))]

    def project_op(self, cell_type: str, edge: int | None = None) -> ProbeResult:
        """Probe an undecided edge (random by default) and fix it to one-hot(best op)."""
        undecided = [e for e in range(self.space.n_edges) if not self.decided[cell_type][e]]
        if not undecided:
            raise RuntimeError(f"every edge of the {cell_type!r} cell is already projected")
        edge = self._draw(undecided) if edge is None else edge
        res = self.probe(cell_type, edge)
        self.proj[cell_type][edge].zero_()
        self.proj[cell_type][edge, self.space.ops.index(res.chosen)] = 1.0
        self.decided[cell_type][edge] = True
        return res

    def project_edge(self, cell_type: str, node: int | None = None) -> dict[str, Any]:
        """Decide a node's inputs (random undecided node by default) by removing its least important edges."""
        todo = [i for i in topology_nodes(self.space) if i not in self.nodes_done[cell_type]]
        if not todo:
            raise RuntimeError(f"no node of the {cell_type!r} cell is left for topology projection")
        node = self._draw(todo) if node is None else node
        eids = list(self.space.node_edges(node))
        rounds = []
        while len(eids) > self.space.edges_per_node:
            losses, accs = (list(v) for v in zip(*self._edges_removed(cell_type, eids), strict=True))
            scores = np.array(accs if self.config.crit == "acc" else [-v for v in losses])
            drop = int(np.flatnonzero(scores == scores.max())[-1])  # the reference keeps the last extremum
            rounds.append({"edges": list(eids), "acc": accs, "loss": losses, "removed": eids[drop]})
            del eids[drop]
        for k in self.space.node_edges(node):
            if k not in eids:
                self.keep[cell_type][k] = 0.0
        self.nodes_done[cell_type][node] = eids
        return {"cell_type": cell_type, "node": node, "kept": list(eids), "rounds": rounds}

    def _edges_removed(self, cell_type: str, eids: Sequence[int]) -> list[tuple[float, float]]:
        """(loss, metric) of the supernet without edge k (its whole row of weights zeroed), for each k in
        ``eids``: replayed from the node they enter when the replay applies, else each evaluated whole."""
        weights = self.weights()
        if not self._replay_applies():
            out = []
            for k in eids:
                w = {c: t.clone() for c, t in weights.items()}
                w[cell_type][k] = 0.0
                out.append(self._evaluate(w))
            return out
        every_op = list(range(len(self.space.ops)))
        with self._probing():
            _, masked = replayed_probes(cast(Supernet, self.model), self.data, weights,
                                        {(cell_type, k): [every_op] for k in eids}, self.searcher.objective)
        return [masked[(cell_type, k)][0] for k in eids]

    # -- tuning ---------------------------------------------------------------------------
    def _reset_optimizer(self) -> None:
        opt, lr = self.searcher.optimizer, self.searcher.config.lr * self.config.lr_factor
        opt.state.clear()  # = a fresh SGD(lr/10, momentum, wd), as the reference's reset_optimizer
        for g in opt.param_groups:
            g["lr"] = lr
        self._optimizer_reset = True

    def tune_step(self) -> tuple[float, float]:
        """One alpha step (unless blank) and one weight step on the projected weights; (train loss, acc)."""
        s, model = self.searcher, self.model
        if not self._optimizer_reset:
            self._reset_optimizer()
        model.train()
        xt, yt = s.train_stream.next()
        batch_v = s.val_stream.next()
        objective = s.objective
        if self.arch_update == "darts":  # first order on the projected weights
            w = self.weights(grad=True)
            xv, yv = batch_v
            arch = model.arch_parameters()
            grads = torch.autograd.grad(objective.loss(model(xv, w, active_ops(model, w)), yv), arch,
                                        allow_unused=True)
            for p, g in zip(arch, grads, strict=True):
                p.grad = torch.zeros_like(p) if g is None else g.detach()
            s.arch_optimizer.step()
            s.arch_optimizer.zero_grad(set_to_none=True)
        w = self.weights()
        logits = model(xt, w, active_ops(model, w))
        loss = objective.loss(logits, yt)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"tuning loss is {value}; lower the lr_factor ({self.config.lr_factor})")
        params = model.weight_parameters()
        for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True)):
            p.grad = g
        if s.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, s.config.grad_clip)
        s.optimizer.step()
        s.optimizer.zero_grad(set_to_none=True)
        self.tune_count += 1
        return value, float(objective.metrics(logits.detach(), yt)[objective.primary])

    # -- schedule ---------------------------------------------------------------------------
    def step(self) -> AnalysisResult:
        """Run the next action of the schedule; returns (and emits) its AnalysisResult."""
        if self.finished:
            raise RuntimeError("the projection schedule is complete; read .genotype()")
        epoch, kind = self.schedule[self.position]
        values: dict[str, Any] = {"phase": kind, "epoch": epoch, "action": self.position,
                                  "actions": len(self.schedule)}
        if kind == "op":
            values["probes"] = [self.project_op(c).to_dict() for c in self.space.cell_types]
        elif kind == "edge":
            values["nodes"] = [self.project_edge(c) for c in self.space.cell_types]
        else:
            n = self.config.tune_steps or self.searcher.steps_per_epoch
            stats = np.array([self.tune_step() for _ in range(n)])
            values.update(steps=n, train_loss=float(stats[:, 0].mean()), train_acc=float(stats[:, 1].mean()))
        self.position += 1
        values["genotype"] = str(self.genotype())
        event = AnalysisResult(self.searcher.step_count, "projection", values)
        self.searcher.bus.emit(event)
        return event

    def run(self) -> Genotype:
        """Run the rest of the schedule; returns the projected genotype."""
        while not self.finished:
            self.step()
        return self.genotype()


def _masked(weights: dict[str, Tensor], cell_type: str, edge: int, op: int) -> dict[str, Tensor]:
    """The mixing weights with one op's weight zeroed (DARTS-PT's mask: no renormalisation)."""
    w = {c: t.clone() for c, t in weights.items()}
    w[cell_type][edge, op] = 0.0
    return w


@contextmanager
def _batch_statistics_only(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers without running statistics until exit: train-mode outputs never read them, and a
    batched (vmapped) forward cannot update them in place. Restored, untouched, on exit."""
    saved = [(m, m.running_mean, m.running_var) for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]
    try:
        for m, _, _ in saved:
            m.running_mean, m.running_var = None, None
        yield
    finally:
        for m, mean, var in saved:
            m.running_mean, m.running_var = mean, var


@torch.no_grad()
def replayed_probes(model: Supernet, batches: Batches, weights: dict[str, Tensor],
                    todo: Mapping[tuple[str, int], Sequence[Sequence[int]]], objective: Objective
                    ) -> tuple[tuple[float, float], dict[tuple[str, int], list[tuple[float, float]]]]:
    """(loss, metric) of the unmasked supernet and of each probe of ``todo[(cell type, edge)]``, a list of
    probes, each the ops of that edge it masks (``[o]``: one op, DARTS-PT's op probe; every op: the edge
    removed, its topology probe), in the model's current BatchNorm mode, as :func:`evaluate` of each masked
    supernet would give them.

    Per batch, one unmasked forward records the input states of the first cell of each type and, inside it,
    the states and node sums before every wave (:meth:`SearchCell.run_waves`). Masking ops O of edge k (node
    i, source j) changes nothing upstream of node i, and node i only by the sum over o in O of w[k, o] * o(x_j)
    (the mix is linear; an op's BatchNorm precedes its weight; ops with weight 0 are not computed): the probe
    replays from the wave leaving node i with node i minus
    that term, then runs the later cells and the head. The probes of one edge run as one batched forward
    (``torch.func.vmap`` over probes: each keeps its own batch statistics and its own weights in later cells
    of the same type). Equal to evaluating each masked supernet up to rounding."""
    space = model.space
    n_in = space.n_inputs
    active = active_ops(model, weights)
    first: dict[str, int] = {}  # the first cell of each type (a type without cells: its probes change nothing)
    for i, cell in enumerate(model.cells):
        if isinstance(cell, SearchCell) and any(c == cell.cell_type for c, _ in todo):
            first.setdefault(cell.cell_type, i)
    sums = {key: np.zeros((len(ops), 2)) for key, ops in todo.items()}
    groups: dict[tuple[str, int], list[tuple[int, Sequence[int], int]]] = {}  # (cell type, node) -> (edge, ops, index)
    for (c, k), masks in todo.items():
        if c in first:
            groups.setdefault((c, space.edges[k][0]), []).extend((k, ops, i) for i, ops in enumerate(masks))
    base, n = np.zeros(2), 0
    train_mode = any(m.training for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    with _batch_statistics_only(model) if train_mode else contextlib.nullcontext():
        for xb, yb in batches:
            states: tuple[Tensor, ...] = model.stem_states(xb)
            inputs: dict[str, tuple[Tensor, ...]] = {}
            records: dict[str, list[tuple[list[Tensor], list[Tensor | None]]]] = {}
            for idx, cell in enumerate(model.cells):
                if isinstance(cell, SearchCell) and first.get(cell.cell_type) == idx:
                    kind = cell.cell_type
                    inputs[kind], records[kind] = states, []
                    out = cell.run_waves(cell.preprocess(states), [None] * space.n_nodes, 0, weights[kind],
                                         active[kind], record=records[kind])
                    states = (states[-1], out)
                else:
                    states = model.forward_cells(states, weights, active, idx, idx + 1)
            base += _scores(model.head(states), yb, objective)
            n += len(yb)
            for (c, node), probes in groups.items():
                cell = cast(SearchCell, model.cells[first[c]])
                before, partial = records[c][n_in + node]  # the states before the wave leaving node i
                nodes = before[n_in + node] - torch.stack([_mix(cell, weights[c], active[c], k, ops, before)
                                                           for k, ops, _ in probes])  # (probes, B, C, H, W)
                w_c = weights[c].expand(len(probes), *weights[c].shape).clone()
                for p, (k, ops, _) in enumerate(probes):
                    w_c[p, k, list(ops)] = 0.0
                replay = partial_fn(_replay, model, first[c], inputs[c][-1], before[:-1], partial, weights, active, c)
                logits = torch.func.vmap(replay)(nodes, w_c)
                for p, (k, _, i) in enumerate(probes):
                    sums[(c, k)][i] += _scores(logits[p], yb, objective)
    unmasked = (float(base[0] / n), float(base[1] / n))
    return unmasked, {(c, k): [(float(a / n), float(b / n)) for a, b in v] if c in first else [unmasked] * len(v)
                      for (c, k), v in sums.items()}


def _mix(cell: SearchCell, w: Tensor, active: np.ndarray, edge: int, ops: Sequence[int], states: list[Tensor]
         ) -> Tensor:
    """sum over o in ``ops`` of w[edge, o] * o(x_j): what those ops of ``edge`` (source j) add to its node
    (ops that are inactive, ``none`` or weighted 0 are not computed, as the forward does not compute them)."""
    src = cell.space.edges[edge][1]
    wave = cast("Mapping[str, EdgeOp]", cell.wave_ops[src])
    total = torch.zeros_like(states[cell.space.n_inputs + cell.space.edges[edge][0]])
    for o in ops:
        name = cell.space.ops[o]
        if active[edge, o] and name in wave and bool(w[edge, o] != 0):
            total = total + w[edge, o] * wave[name].forward_edge(states[src], cell.waves[src].index(edge))
    return total


def _replay(model: Supernet, index: int, previous: Tensor, before: list[Tensor], partial: list[Tensor | None],
            weights: dict[str, Tensor], active: dict[str, np.ndarray], cell_type: str, node: Tensor, w: Tensor
            ) -> Tensor:
    """Logits of one probe: cell ``index`` (of ``cell_type``) replayed from the wave leaving ``node`` (the
    masked node's new value; ``before``: the states before it), then the later cells (``w``: this type's
    masked weights) and the head. ``previous``: the cell's second input state (the next cell's first)."""
    cell = cast(SearchCell, model.cells[index])
    out = cell.run_waves([*before, node], partial, len(before), w, active[cell_type])
    return model.head(model.forward_cells((previous, out), {**weights, cell_type: w}, active, index + 1))


def _scores(out: Tensor, y: Tensor, objective: Objective) -> np.ndarray:
    """(loss, primary metric) times the batch size, as :func:`evaluate` sums them."""
    return np.array([float(objective.loss(out, y)) * len(y), float(objective.metrics(out, y)[objective.primary]) * len(y)])


def clone_searcher(searcher: Searcher) -> Searcher:
    """An independent copy of a search at its current state (same data object, fresh bus)."""
    from workbench.search import Searcher
    twin = Searcher(searcher.config, dataset=searcher.dataset, space=searcher.space, method=searcher.method)
    twin.load_state_dict(searcher.state_dict())
    return twin


@dataclass(frozen=True)
class EdgeComparison:
    probe: ProbeResult
    magnitude_op: str
    perturbation_op: str
    agree: bool
    why: str


@dataclass(frozen=True)
class SelectionComparison:
    rows: tuple[EdgeComparison, ...]
    magnitude: Genotype  # the search's own rule on softmax(alpha)
    perturbation: Genotype  # every edge probed once on the same, untouched supernet
    projected: Genotype | None = None  # from a full Projection schedule, if given
    edge_labels: tuple[str, ...] = ()  # the space's edge names ("0→3"), as every view writes them

    def table(self) -> str:
        """A plain-text table: one line per edge, then the genotypes."""
        lines = [f"{'cell':<7}{'edge':>5} {'from→to':<10}{'magnitude (w)':<26}{'perturbation (drop)':<30}agree"]
        for r in self.rows:
            p = r.probe
            i_m, i_p = p.ops.index(r.magnitude_op), p.ops.index(r.perturbation_op)
            score = p.acc_drop if p.crit == "acc" else p.loss_rise
            name = self.edge_labels[p.edge] if p.edge < len(self.edge_labels) else f"{p.src}→node {p.node}"
            lines.append(f"{p.cell_type:<7}{p.edge:>5} {name:<10}"
                         f"{f'{r.magnitude_op} ({p.weights[i_m]:.4f})':<26}"
                         f"{f'{r.perturbation_op} ({score[i_p] + 0.0:+.4f})':<30}{'yes' if r.agree else 'NO'}")
        lines += [f"why: edge {r.probe.edge} ({r.probe.cell_type}): {r.why}" for r in self.rows if not r.agree]
        lines += [f"magnitude:    {self.magnitude}", f"perturbation: {self.perturbation}"]
        if self.projected is not None:
            lines.append(f"projected:    {self.projected}")
        return "\n".join(lines)


def _why(p: ProbeResult, m: str, q: str) -> str:
    score, unit = (p.acc_drop, "accuracy") if p.crit == "acc" else (p.loss_rise, "loss")
    i_m, i_q = p.ops.index(m), p.ops.index(q)
    change = [(-v if p.crit == "acc" else v) + 0.0 for v in score]  # + 0.0: no "-0.0000"
    text = (f"magnitude picks {m} (weight {p.weights[i_m]:.4f}) but masking it changes {unit} by "
            f"{change[i_m]:+.4f}; masking {q} (weight {p.weights[i_q]:.4f}) changes it by {change[i_q]:+.4f}")
    ties = [o for o, v in zip(p.ops, score) if v == score[i_q]]
    if len(ties) > 1:
        text += f" (a tie among {', '.join(ties)}: the first wins, as in the reference)"
    return text


def compare_selection(searcher: Searcher, config: ProjectionConfig = ProjectionConfig(),
                      projected: Genotype | None = None) -> SelectionComparison:
    """Magnitude (argmax) vs perturbation selection on the same supernet, edge by edge; nothing changes."""
    pt = Projection(searcher, replace(config, proj_intv=0))
    rows, strength = [], {c: np.full((pt.space.n_edges, len(pt.space.ops)), -1e9) for c in pt.space.cell_types}
    # nothing changes during the sweep (no projection is committed): one unmasked evaluation serves every edge,
    # unless train-mode probes are to move the running statistics (bn_side_effects: each edge its own)
    edges = [(c, e) for c in pt.space.cell_types for e in range(pt.space.n_edges)]
    probes = ([pt.probe(c, e) for c, e in edges] if config.bn_side_effects else pt.probe_edges(edges))
    for p in probes:
        m = p.magnitude_op
        rows.append(EdgeComparison(p, m, p.chosen, m == p.chosen, "" if m == p.chosen else _why(p, m, p.chosen)))
        i = p.ops.index(p.chosen)
        score = p.acc_drop[i] if p.crit == "acc" else p.loss_rise[i]
        strength[p.cell_type][p.edge, pt.space.ops.index(p.chosen)] = score
    return SelectionComparison(tuple(rows), searcher.genotype(), derive_genotype(pt.space, strength), projected,
                               tuple(pt.space.edge_labels()))

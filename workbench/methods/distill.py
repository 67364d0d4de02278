"""SD-DARTS: DARTS whose weight step distils from earlier supernets, "voting teachers" (Zhu, Li, Liu, Wang;
arXiv 2302.05629, Neural Networks; SEEDS_2 §1).

**What is reconstructed.** No code is public and only the abstract could be read: it says that knowledge from
previous steps of the supernet guides its training in the current step, and that several previous supernets
vote. Everything below is the reconstruction of SEEDS_2 §1.2 and is **unverified**; every uncertain choice is an
option of the ``sd-darts`` preset with the spec's default:

* teacher pool (``teachers`` K = 3, ``snapshot_every`` Δ = one epoch): the K most recent supernets, none younger
  than Δ steps -- at step s the snapshots taken at periods p <= s//Δ - 1 (empty for the first Δ steps, when
  SD-DARTS equals DARTS). ``teacher_source``:

  - ``"logit_cache"`` (default at CPU scale; temporal ensembling): every training example's logits from the
    weight steps of the last K periods, tagged with their period (so "K previous supernets" keeps its meaning);
    examples are identified by a hash of their content and the cache holds ``cache_size`` examples;
  - ``"snapshots"``: K copies of the supernet (weights, alphas, BatchNorm statistics), each run in eval mode under
    no_grad on the batch: K extra forwards per step;

* voting (``voting``): ``"soft"`` p_T = (1/K) sum_k softmax(z_k / T); ``"hard"`` one-hot of the majority argmax,
  ties broken by the soft vote; ``"weighted"`` the soft vote weighted by each teacher's accuracy (snapshots:
  on the validation batch of the step it was taken; logit cache: on the training examples of its period);
* the weight-step loss (``distill_weight`` lambda = 0.5, ``temperature`` T = 2):
  L_w = (1 - lambda) CE(y, softmax(z_S)) + lambda T^2 KL(p_T || softmax(z_S / T)),
  added to the searcher's CE as the weight-loss term lambda (T^2 KL - CE) (0 while the pool is empty);
  KL as ``kl_div(log_softmax(z_S/T), p_T, reduction="batchmean")`` (the teacher is the target);
* ``distill_in`` = ``"weights"`` (default), ``"arch"`` or ``"both"``: in the alpha step, lambda T^2 KL on the
  validation batch is added to L_val (needs ``teacher_source="snapshots"``: the cache only knows training examples);
* everything else is DARTS: first order (``second_order=True``: DARTS-V2), Adam for alpha, the space's rule.

With ``distill_weight=0`` the term is computed but multiplied by 0, so the run equals DARTS bit for bit.

State. The pool lives in buffers of ``model.method_state.sd_darts`` (:mod:`workbench.methods.owned_state`), so it
is saved, checked and restored with the search state and undone with a failed step: resuming is bit for bit.
Logged (in each step's extras, from the *previous* weight step): ``kd`` (T^2 KL), ``teacher_agreement`` (share
of the batch where the student's argmax equals the vote's) and ``teachers`` (pool size).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from workbench.methods.context import ArchGradResult, Batch, StepContext
from workbench.methods.family_options import DISTILL_IN, SOURCES, VOTINGS  # noqa: F401  (defined torch-free)
from workbench.methods.owned_state import AttachState, FlatLayout, owned, supernet_state
from workbench.methods.presets import Method, darts_v1, darts_v2, preset

NAME = "sd_darts"

__all__ = ["DISTILL_IN", "SOURCES", "VOTINGS", "ArchDistill", "Distill", "DistillSettings", "LogitCache",
           "ReportDistill", "TeacherPool", "kd_loss", "pool_periods", "sd_darts", "vote"]


# ------------------------------------------------------------------------------------------- arithmetic
def vote(logits: Tensor, temperature: float, mode: str = "soft", weights: Tensor | None = None) -> Tensor:
    """The teachers' vote p_T (B x classes) from their logits (K x B x classes)."""
    probs = torch.softmax(logits / temperature, dim=-1)
    if mode == "weighted":
        w = weights.to(probs) / weights.sum().clamp_min(1e-12) if weights is not None and weights.sum() > 0 \
            else torch.full((len(logits),), 1.0 / len(logits), dtype=probs.dtype, device=probs.device)
        return torch.einsum("k,kbc->bc", w, probs)
    soft = probs.mean(0)
    if mode == "soft":
        return soft
    votes = F.one_hot(logits.argmax(-1), logits.shape[-1]).sum(0).to(soft)  # B x classes: count of argmax votes
    winner = (votes + 0.5 * soft).argmax(-1)  # majority; soft probabilities (< 1 apart) only break ties
    return F.one_hot(winner, logits.shape[-1]).to(soft)


def kd_loss(student: Tensor, target: Tensor, temperature: float, rows: Tensor | None = None) -> Tensor:
    """T^2 KL(target || softmax(student / T)), summed over classes and averaged over the batch ("batchmean");
    ``rows`` (bool, B) leaves out examples without teachers (still divided by the full batch size)."""
    log_p = F.log_softmax(student / temperature, dim=-1)
    per_row = F.kl_div(log_p, target, reduction="none").sum(-1)
    if rows is not None:
        per_row = per_row * rows.to(per_row)
    return temperature ** 2 * per_row.sum() / student.shape[0]


def _period(ctx: StepContext, every: int | None) -> int:
    """The snapshot period of this step: its epoch (Δ = one epoch) or step // Δ."""
    return ctx.epoch if every is None else ctx.step // every


def _n_outputs(model: nn.Module) -> int:
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise ValueError("sd-darts with teacher_source='logit_cache' needs a supernet whose output layer is "
                         "`classifier` (nn.Linear); use teacher_source='snapshots'")
    return head.out_features


# ------------------------------------------------------------------------------------------- state
class TeacherPool(nn.Module):
    """K+1 ring slots of the supernet's floating state (weights, alphas, BN statistics), one flat buffer each;
    ``taken[i]`` is the period slot i was taken at (-1: empty), ``accuracy[i]`` its validation-batch accuracy."""

    slots: Tensor
    taken: Tensor
    accuracy: Tensor
    last: Tensor

    def __init__(self, model: nn.Module, k: int) -> None:
        super().__init__()
        state = supernet_state(model)
        self.layout = FlatLayout(state)
        self.register_buffer("slots", self.layout.pack(state).repeat(k + 1, 1).zero_())
        self.register_buffer("taken", torch.full((k + 1,), -1, dtype=torch.int64))
        self.register_buffer("accuracy", torch.zeros(k + 1))
        self.register_buffer("last", torch.zeros(3))  # kd, agreement, pool size of the last weight step

    def snapshot(self, model: nn.Module, period: int) -> tuple[int, bool]:
        """Copy the supernet into the slot of ``period`` unless taken already; returns (slot, newly taken)."""
        slot = period % len(self.taken)
        if int(self.taken[slot]) == period:
            return slot, False
        with torch.no_grad():
            self.slots[slot].copy_(self.layout.pack(supernet_state(model)))
        self.taken[slot] = period
        return slot, True

    def pool(self, period: int, k: int) -> list[int]:
        """Slots of the K most recent snapshots taken before ``period`` (oldest first)."""
        tags = self.taken.tolist()
        ready = sorted((t, i) for i, t in enumerate(tags) if 0 <= t <= period - 1)
        return [i for _, i in ready[-k:]]

    @torch.no_grad()
    def logits(self, ctx: StepContext, slot: int, x: Tensor) -> Tensor:
        """Teacher ``slot``'s logits on ``x``: the snapshot's weights, alphas and BN statistics, eval mode."""
        model = ctx.model
        state = self.layout.views(self.slots[slot])
        eval_ctx = replace(ctx, training=False)
        assert ctx.relaxation is not None
        weights, active = {}, {}
        for g in model.groups:
            alpha = state.get(f"alphas.{g.name}", model.alphas[g.name])
            weights[g.name], active[g.name] = ctx.relaxation(alpha, model.op_mask(g.name), eval_ctx)
        was = model.training
        model.eval()
        try:
            return functional_call(model, state, (x, weights, active))
        finally:
            model.train(was)


class LogitCache(nn.Module):
    """Per-example logits of the last K periods (temporal ensembling), in fixed-size buffers.

    ``keys`` holds a 64-bit hash of each cached example's content (``count`` of them), ``logits[slot, row]`` its
    logits in the period ``tags[slot, row]`` (-1: none), ``hits``/``seen`` each slot's correct/seen counts (for
    weighted voting). Rows are appended, never moved, so the key -> row index is rebuilt from the buffers alone.
    """

    keys: Tensor
    count: Tensor
    logits: Tensor
    tags: Tensor
    hits: Tensor
    seen: Tensor
    last: Tensor

    def __init__(self, model: nn.Module, k: int, capacity: int) -> None:
        super().__init__()
        n_out = _n_outputs(model)
        self.register_buffer("keys", torch.zeros(capacity, dtype=torch.int64))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.register_buffer("logits", torch.zeros(k + 1, capacity, n_out))
        self.register_buffer("tags", torch.full((k + 1, capacity), -1, dtype=torch.int64))
        self.register_buffer("hits", torch.zeros(k + 1))
        self.register_buffer("seen", torch.zeros(k + 1))
        self.register_buffer("last", torch.zeros(3))
        self._index: dict[int, int] = {}
        self._signature: tuple[int, int] = (-1, 0)

    def rows(self, x: Tensor) -> Tensor:
        """The cache row of every example in ``x`` (new examples are appended)."""
        n = int(self.count)
        signature = (n, int(self.keys[:n].sum()))
        if signature != self._signature:  # a loaded or undone state: rebuild the index from the buffers
            self._index = {int(k): i for i, k in enumerate(self.keys[:n].tolist())}
        flat = x.detach().reshape(len(x), -1).cpu().contiguous().numpy()
        rows = []
        for example in flat:
            key = int.from_bytes(hashlib.blake2b(example.tobytes(), digest_size=8).digest(), "little", signed=True)
            row = self._index.get(key)
            if row is None:
                row = len(self._index)
                if row >= len(self.keys):
                    raise RuntimeError(f"sd-darts logit cache is full ({len(self.keys)} examples): raise the "
                                       "method option cache_size to at least the size of the weight half")
                self._index[key] = row
                self.keys[row] = key
            rows.append(row)
        self.count.fill_(len(self._index))
        self._signature = (len(self._index), int(self.keys[: len(self._index)].sum()))
        return torch.as_tensor(rows, dtype=torch.int64, device=self.keys.device)

    def teachers(self, rows: Tensor, period: int, k: int) -> tuple[Tensor, Tensor, Tensor]:
        """(logits K' x B x classes, valid K' x B, slot accuracies K') of the last K periods before ``period``."""
        slots = [(period - d) % len(self.tags) for d in range(k, 0, -1) if period - d >= 0]
        if not slots:
            return self.logits[:0, :0], self.tags[:0, :0].bool(), self.hits[:0]
        idx = torch.as_tensor(slots, device=rows.device)
        logits = self.logits[idx][:, rows]
        valid = self.tags[idx][:, rows] == torch.as_tensor([period - d for d in range(len(slots), 0, -1)],
                                                            device=rows.device)[:, None]
        return logits, valid, self.hits[idx] / self.seen[idx].clamp_min(1.0)

    @torch.no_grad()
    def store(self, rows: Tensor, logits: Tensor, target: Tensor, period: int) -> None:
        slot = period % len(self.tags)
        fresh = self.tags[slot] != period
        if bool(fresh.all()):  # first write of this period into a recycled slot
            self.hits[slot] = 0.0
            self.seen[slot] = 0.0
        self.logits[slot, rows] = logits.detach().to(self.logits)
        self.tags[slot, rows] = period
        self.hits[slot] += float((logits.argmax(-1) == target).sum())
        self.seen[slot] += float(len(target))


# ------------------------------------------------------------------------------------------- slots
@dataclass(frozen=True)
class DistillSettings:
    """SD-DARTS's options (see the module docstring); ``snapshot_every=None`` = one epoch."""

    distill_weight: float = 0.5
    temperature: float = 2.0
    teachers: int = 3
    snapshot_every: int | None = None
    teacher_source: str = "logit_cache"
    voting: str = "soft"
    cache_size: int = 4096

    def state(self, model: nn.Module) -> nn.Module:
        """The state module this configuration keeps on the supernet."""
        if self.teacher_source == "snapshots":
            return TeacherPool(model, self.teachers)
        return LogitCache(model, self.teachers, self.cache_size)


def _state(model: nn.Module) -> TeacherPool | LogitCache:
    state = owned(model, NAME)
    assert isinstance(state, (TeacherPool, LogitCache))  # DistillSettings.state built it
    return state


def _teacher_logits(s: DistillSettings, ctx: StepContext, pool: TeacherPool, x: Tensor, y: Tensor
                    ) -> tuple[Tensor, Tensor | None]:
    """Snapshot teachers' logits (K' x B x classes) and accuracies for weighted voting."""
    period = _period(ctx, s.snapshot_every)
    slot, new = pool.snapshot(ctx.model, period)
    if new and s.voting == "weighted" and ctx.batch_v is not None:
        xv, yv = ctx.batch_v
        pool.accuracy[slot] = (pool.logits(ctx, slot, xv).argmax(-1) == yv).float().mean()
    slots = pool.pool(period, s.teachers)
    if not slots:
        return x.new_zeros(0), None
    return torch.stack([pool.logits(ctx, i, x) for i in slots]), pool.accuracy[slots]


@dataclass(frozen=True)
class Distill:
    """The weight-loss term lambda (T^2 KL(p_T || softmax(z_S/T)) - CE): SD-DARTS's weight-step loss."""

    settings: DistillSettings
    name: str = "kd"

    def __call__(self, ctx: StepContext, output: Tensor, batch: Batch) -> Tensor:
        s = self.settings
        x, y = batch
        state = _state(ctx.model)
        period = _period(ctx, s.snapshot_every)
        rows: Tensor | None = None
        valid: Tensor | None = None
        acc: Tensor | None
        if isinstance(state, LogitCache):
            idx = state.rows(x)
            teachers, valid, acc = state.teachers(idx, period, s.teachers)
            state.store(idx, output, y, period)
            if len(teachers):
                rows = valid.any(0)
                # an example missing from a period is voted on by the others (its entry gets weight 0)
                teachers = torch.where(valid[..., None], teachers, teachers.new_zeros(()))
        else:
            teachers, acc = _teacher_logits(s, ctx, state, x, y)
        if len(teachers) == 0 or (rows is not None and not bool(rows.any())):
            state.last.zero_()
            return output.new_zeros(())
        p_t = self._vote(teachers, acc, valid if rows is not None else None)
        kd = kd_loss(output, p_t, s.temperature, rows)
        with torch.no_grad():
            agree = (output.argmax(-1) == p_t.argmax(-1)).float()
            agree = agree[rows].mean() if rows is not None else agree.mean()
            state.last.copy_(torch.stack([kd.detach(), agree, torch.tensor(float(len(teachers)))]))
        return s.distill_weight * (kd - ctx.loss(output, y))

    def _vote(self, teachers: Tensor, acc: Tensor | None, valid: Tensor | None) -> Tensor:
        s = self.settings
        if valid is None:
            return vote(teachers, s.temperature, s.voting, acc)
        # per example, only the periods that saw it: a masked (weighted) mean of the teachers' votes
        k = valid.to(teachers.dtype)  # K x B
        if s.voting == "weighted":
            assert acc is not None  # the logit cache's slot accuracies
            k = k * acc[:, None]
        probs = torch.softmax(teachers / s.temperature, dim=-1)
        soft = torch.einsum("kb,kbc->bc", k, probs) / k.sum(0).clamp_min(1e-12)[:, None]
        if s.voting != "hard":
            return soft
        votes = torch.einsum("kb,kbc->bc", valid.to(probs), F.one_hot(teachers.argmax(-1), teachers.shape[-1])
                             .to(probs))
        return F.one_hot((votes + 0.5 * soft).argmax(-1), teachers.shape[-1]).to(soft)


@dataclass(frozen=True)
class ArchDistill:
    """``distill_in="arch"/"both"``: lambda T^2 KL on the validation batch, added to the architecture loss
    (one more student forward, with the graph to alpha; snapshot teachers)."""

    settings: DistillSettings
    name: str = "kd_arch"

    def __call__(self, ctx: StepContext) -> Tensor:
        s = self.settings
        assert ctx.batch_v is not None  # the arch step always has a validation batch
        xv, yv = ctx.batch_v
        pool = _state(ctx.model)
        assert isinstance(pool, TeacherPool)  # sd_darts: distill_in != 'weights' needs teacher_source='snapshots'
        teachers, acc = _teacher_logits(s, ctx, pool, xv, yv)
        out = ctx.model(xv, *ctx.mixing_weights())
        if len(teachers) == 0:
            return out.sum() * 0.0  # keeps the graph to alpha: a zero gradient
        return s.distill_weight * kd_loss(out, vote(teachers, s.temperature, s.voting, acc), s.temperature)


@dataclass(frozen=True)
class ReportDistill:
    """An arch-gradient slot: ``estimator``'s result with the last weight step's distillation statistics in its
    extras (``kd``, ``teacher_agreement``, ``teachers``)."""

    estimator: Any

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        res = self.estimator(ctx)
        kd, agree, n = _state(ctx.model).last.tolist()
        res.extras.update({"kd": kd, "teacher_agreement": agree, "teachers": n})
        return res


def pool_periods(model: nn.Module, period: int, k: int) -> list[int]:
    """The periods of the snapshot teachers a weight step in ``period`` uses (snapshots only; for tests/lessons)."""
    pool = owned(model, NAME)
    if not isinstance(pool, TeacherPool):
        raise TypeError("pool_periods reads a snapshot pool (teacher_source='snapshots')")
    return [int(pool.taken[i]) for i in pool.pool(period, k)]


# ------------------------------------------------------------------------------------------- the preset
@preset("sd-darts")
def sd_darts(o: dict[str, Any]) -> Method:
    """SD-DARTS = DARTS + the distillation weight-loss term (+ optionally the arch term); see the module docstring.
    ``snapshot_every``: Δ in steps (None = one epoch). Options checked by
    :func:`workbench.methods.family_options.sd_darts`."""
    s = DistillSettings(**{k: o[k] for k in DistillSettings.__dataclass_fields__})
    distill_in = o["distill_in"]
    base = darts_v2() if o["second_order"] else darts_v1()
    return replace(base, name="sd-darts", arch_gradient=ReportDistill(base.arch_gradient),
                   arch_parameters=AttachState(NAME, s.state),
                   weight_loss_terms=(Distill(s),) if distill_in != "arch" else (),
                   arch_loss_terms=(ArchDistill(s),) if distill_in != "weights" else (), options=o)

"""Sharpness of the validation loss in alpha space, tracked during a search; RobustDARTS early stopping.

Zela et al., "Understanding and Robustifying Differentiable Architecture
Search" (ICLR 2020; `automl/RobustDARTS`, ALGORITHMS.md §4): the dominant
eigenvalue of H = d2 L_val / d alpha2 + lambda_alpha I grows when DARTS
degenerates. As in their ``Analyzer.compute_Hw`` the loss is the validation
loss on a validation batch with the model in train mode (batch statistics)
and DARTS's relaxation softmax(alpha); unlike their code the BatchNorm
running statistics that the forward would update are restored. Deviation:
the batch is a *fixed* one (the first ``batches`` batches of the arch half)
instead of the last batch drawn in the epoch, so the track shows the
landscape changing, not batch noise.

:class:`EarlyStopping` is ``EVLocalAvg`` (`src/utils.py`) with the same
semantics: eigenvalues every ``ev_freq`` epochs; once ceil(window/2) exist a
local average (of all values while fewer than ``window`` exist, then a
sliding window) is assigned to epoch e - ev_freq * floor(window/2); at epoch
e (not the last) the search stops when that epoch minus ev_freq * delta is
>= ``start`` and avg[-1] / avg[-1-delta] > ``factor``, and the architecture
to keep is the one of epoch la(e) - ev_freq * delta (= e - 12 with the
defaults; the first possible check is at e = 22).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from workbench.analysis.common import (
    Batches,
    alpha_parameters,
    batch_loss,
    check_choice,
    preserved,
    searcher_batches,
    set_bn_mode,
    softmax_weights,
)
from workbench.analysis.hessian import HessianOperator, dense_hessian, lanczos, power_iteration
from workbench.events import AnalysisResult, EpochEnded, StepEnded

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher

log = logging.getLogger(__name__)
METHODS = ("dense", "power", "lanczos")


@dataclass(frozen=True)
class SharpnessResult:
    eigenvalue: float  # largest eigenvalue of H (incl. weight_decay * I)
    top_k: tuple[float, ...]  # descending
    eigenvectors: np.ndarray  # (len(top_k), n_alphas) or (1, n) for power; unit rows
    method: str
    n_alphas: int
    hvps: int  # Hessian-vector products used
    seconds: float
    loss: float


def alpha_loss_fn(searcher: Searcher, batches: Batches) -> Callable[[], torch.Tensor]:
    """Closure: mean validation loss on ``batches`` under softmax(alpha), with the graph to the alphas."""
    model = searcher.model
    return lambda: batch_loss(model, batches, softmax_weights(model), objective=searcher.objective)


def compute_sharpness(searcher: Searcher, method: str = "dense", k: int = 1, batches: int | Batches | None = 1,
                      split: str = "val", bn: str = "train", weight_decay: float | None = None, seed: int = 0,
                      iters: int = 200, tol: float = 1e-6) -> SharpnessResult:
    """Top eigenvalue(s) of the alpha Hessian of the ``split`` loss; the model is restored exactly afterwards.

    ``method``: ``dense`` (RobustDARTS: the explicit matrix, exact), ``power``
    (HVP power iteration, an approximation; k > 1 adds Lanczos) or ``lanczos``.
    ``weight_decay`` defaults to the search's ``arch_weight_decay``.
    """
    check_choice("method", method, METHODS)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    wd = searcher.config.arch_weight_decay if weight_decay is None else float(weight_decay)
    data = searcher_batches(searcher, split, batches)
    model = searcher.model
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    with preserved(model):
        set_bn_mode(model, bn)
        op = HessianOperator(alpha_loss_fn(searcher, data), alpha_parameters(model), wd)
        if method == "dense":
            evals, evecs = torch.linalg.eigh(dense_hessian(op))
            order = torch.argsort(evals, descending=True)[:k]
            top, vecs = evals[order], evecs[:, order].T
        elif method == "lanczos":
            res = lanczos(op, k=min(k, op.n), tol=tol, generator=gen)  # stops once the top k are stable
            top, vecs = res.eigenvalues, res.eigenvectors
        else:
            power = power_iteration(op, iters=iters, tol=tol, generator=gen)
            top, vecs = torch.tensor([power.eigenvalue]), power.eigenvector[None]
            if k > 1:
                spec = lanczos(op, k=min(k, op.n), generator=gen)
                top = torch.cat([top, spec.eigenvalues[1:].cpu()])
        loss = float(op.loss)
        hvps = op.matvecs
    top_k = tuple(float(v) for v in top)
    return SharpnessResult(top_k[0], top_k, vecs.detach().cpu().numpy(), method, op.n, hvps,
                           time.perf_counter() - t0, loss)


@dataclass
class EarlyStopping:
    """RobustDARTS's ``EVLocalAvg`` + ``early_stop`` (see the module docstring); feed it with :meth:`observe`."""

    window: int = 5
    delta: int = 4
    factor: float = 1.3
    ev_freq: int = 2
    start: int = 10  # es_start_epoch
    epochs: int = 50
    ev: list[float] = field(default_factory=list)
    ev_epochs: list[int] = field(default_factory=list)
    local_avg: list[float] = field(default_factory=list)
    la_epochs: dict[int, int] = field(default_factory=dict)
    genotypes: dict[int, Any] = field(default_factory=dict)
    triggered: bool = False
    trigger_epoch: int | None = None
    stop_epoch: int | None = None
    ratio: float | None = None
    _slide: int = 0

    def __post_init__(self) -> None:
        for name in ("window", "ev_freq", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.delta < 1:
            raise ValueError(f"delta must be >= 1, got {self.delta}")
        if not self.factor > 0:
            raise ValueError(f"factor must be > 0, got {self.factor}")

    @property
    def offset(self) -> int:
        """Epochs between an eigenvalue and the epoch its local average is assigned to."""
        return self.ev_freq * (self.window // 2)

    def first_check_epoch(self) -> int:
        """The first epoch (a multiple of ev_freq) at which :meth:`check` can fire."""
        e = 0
        need = math.ceil(self.window / 2) + self.delta  # eigenvalues for delta + 1 local averages
        while e - self.offset - self.ev_freq * self.delta < self.start or e // self.ev_freq + 1 < need:
            e += self.ev_freq
        return e

    def update(self, epoch: int, ev: float, genotype: Any = None) -> None:
        """Record the eigenvalue computed at ``epoch`` (``EVLocalAvg.update``)."""
        self.ev.append(float(ev))
        self.ev_epochs.append(int(epoch))
        self.genotypes[int(epoch)] = genotype
        half = math.ceil(self.window / 2)
        if len(self.ev) >= half and epoch < self.epochs - 1:
            if len(self.ev) < self.window:
                self.local_avg.append(float(np.mean(self.ev)))
            else:
                self.local_avg.append(float(np.mean(self.ev[self._slide:self._slide + self.window])))
                self._slide += 1
            self.la_epochs[int(epoch)] = int(epoch) - self.offset
        elif len(self.ev) < half:
            self.la_epochs[int(epoch)] = -1
        elif epoch == self.epochs - 1:  # last epoch: the shrinking windows that the offset left out
            for i in range(half):
                self.local_avg.append(float(np.mean(self.ev[-(self.window - i):])))

    def check(self, epoch: int) -> bool:
        """The stopping rule at ``epoch`` (call after :meth:`update` at that epoch, never at the last epoch)."""
        la = self.la_epochs.get(int(epoch))
        if la is None:
            raise ValueError(f"no eigenvalue was recorded at epoch {epoch}; checks happen right after update()")
        if la - self.ev_freq * self.delta < self.start or len(self.local_avg) <= self.delta:
            return False
        current, previous = self.local_avg[-1], self.local_avg[-1 - self.delta]
        self.ratio = current / previous if previous != 0 else math.inf
        if self.ratio > self.factor:
            self.triggered = True
            self.trigger_epoch = int(epoch)
            self.stop_epoch = la - self.ev_freq * self.delta
        return self.triggered

    def observe(self, epoch: int, ev: float, genotype: Any = None) -> bool:
        """update + check (skipped at the last epoch, as in RobustDARTS); True when the search should stop."""
        self.update(epoch, ev, genotype)
        if epoch != self.epochs - 1 and not self.triggered:
            return self.check(epoch)
        return self.triggered

    def local_average_epochs(self) -> list[int]:
        """The epoch each local average belongs to (aligned with ``local_avg``)."""
        return self.ev_epochs[: len(self.local_avg)]

    def reset_trigger(self) -> None:
        self.triggered, self.trigger_epoch, self.stop_epoch, self.ratio = False, None, None, None

    def snapshot(self) -> EarlyStopping:
        return copy.deepcopy(self)


class SharpnessTracker:
    """Computes the alpha-Hessian spectrum every ``every`` steps (or epochs) and emits it on the search's bus.

    Emits ``AnalysisResult(kind="sharpness", values={"eigenvalue", "top_k",
    ...})``; with ``early_stopping`` (requires ``unit="epoch"``) it feeds
    :class:`EarlyStopping`, keeps a checkpoint at every measured epoch, emits
    ``AnalysisResult(kind="early_stop")`` when the rule fires and sets
    :attr:`triggered`. The tracker never changes the search on its own:
    :meth:`rollback` (or :func:`run_with_early_stopping`) does, when called.
    """

    def __init__(self, searcher: Searcher, every: int = 1, unit: str = "step", method: str = "dense", k: int = 1,
                 batches: int | Batches | None = 1, split: str = "val", bn: str = "train",
                 weight_decay: float | None = None, seed: int = 0, early_stopping: EarlyStopping | None = None) -> None:
        check_choice("unit", unit, ("step", "epoch"))
        check_choice("method", method, METHODS)
        check_choice("bn", bn, ("train", "eval"))
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if early_stopping is not None:
            if unit != "epoch" or early_stopping.ev_freq != every:
                raise ValueError(f"early stopping needs unit='epoch' and every == ev_freq "
                                 f"(got unit={unit!r}, every={every}, ev_freq={early_stopping.ev_freq})")
            if early_stopping.epochs != searcher.config.epochs:
                raise ValueError(f"EarlyStopping(epochs={early_stopping.epochs}) does not match the search's "
                                 f"{searcher.config.epochs} epochs")
        self.searcher, self.every, self.unit = searcher, every, unit
        self.options: dict[str, Any] = dict(method=method, k=k, batches=searcher_batches(searcher, split, batches), bn=bn,
                            weight_decay=weight_decay, seed=seed)
        self.early_stopping = early_stopping
        self.results: list[AnalysisResult] = []
        self.checkpoints: dict[int, tuple[dict, EarlyStopping]] = {}
        kinds = (StepEnded,) if unit == "step" else (EpochEnded,)
        self._unsubscribe = searcher.bus.subscribe(self._on_event, kinds=kinds)

    @property
    def triggered(self) -> bool:
        return self.early_stopping is not None and self.early_stopping.triggered

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: Any) -> None:
        if isinstance(event, StepEnded):
            if event.step % self.every == 0:
                self.measure(event.step, event.epoch)
        elif event.epoch % self.every == 0 or event.epoch == self.searcher.config.epochs - 1:
            self.measure(event.step, event.epoch, event.genotype)

    def measure(self, step: int, epoch: int, genotype: Any = None) -> AnalysisResult:
        r = compute_sharpness(self.searcher, **self.options)
        values = {"eigenvalue": r.eigenvalue, "top_k": list(r.top_k), "method": r.method, "epoch": epoch,
                  "n_alphas": r.n_alphas, "hvps": r.hvps, "seconds": r.seconds, "loss": r.loss,
                  "bn": self.options["bn"], "examples": sum(len(y) for _, y in self.options["batches"])}
        es = self.early_stopping
        fired = False
        if es is not None and not es.triggered:
            fired = es.observe(epoch, r.eigenvalue, genotype)
            values["local_average"] = es.local_avg[-1] if es.local_avg else None
            self.checkpoints[epoch] = (self.searcher.state_dict(), es.snapshot())  # one per measured epoch
        event = AnalysisResult(step, "sharpness", values)
        self.results.append(event)
        self.searcher.bus.emit(event)
        if fired:
            assert es is not None and es.stop_epoch is not None  # observe() fired: the stop epoch is set
            g = es.genotypes.get(es.stop_epoch)
            self.searcher.bus.emit(AnalysisResult(step, "early_stop", {
                "trigger_epoch": es.trigger_epoch, "stop_epoch": es.stop_epoch, "ratio": es.ratio,
                "factor": es.factor, "genotype": None if g is None else str(g)}))
            log.info("early stopping fired at epoch %d (ratio %.3f > %.3f): keep epoch %d", es.trigger_epoch,
                     es.ratio, es.factor, es.stop_epoch)
        return event

    def rollback(self, epoch: int | None = None) -> int:
        """Load the search state saved at the end of ``epoch`` (default: the stop epoch); returns that epoch."""
        es = self.early_stopping
        if epoch is None:
            if es is None or es.stop_epoch is None:
                raise RuntimeError("nothing to roll back to: early stopping has not fired")
            epoch = es.stop_epoch
        if epoch not in self.checkpoints:
            raise ValueError(f"no checkpoint for epoch {epoch}; kept: {sorted(self.checkpoints)}")
        state, es_state = self.checkpoints[epoch]
        self.searcher.load_state_dict(copy.deepcopy(state))  # the optimizer may alias what it loads
        self.early_stopping = es_state.snapshot()
        for e in [e for e in self.checkpoints if e > epoch]:
            del self.checkpoints[e]
        return epoch


def track_sharpness(searcher: Searcher, every: int = 1, method: str = "dense", batches: int | Batches | None = 1,
                    **options: Any) -> SharpnessTracker:
    """Attach a :class:`SharpnessTracker` to ``searcher`` (see its options); ``tracker.close()`` detaches it."""
    return SharpnessTracker(searcher, every=every, method=method, batches=batches, **options)


@dataclass(frozen=True)
class EarlyStopOutcome:
    stopped: bool
    stop_epoch: int | None  # the epoch whose architecture was kept (stop mode)
    rollbacks: tuple[tuple[int, int, float], ...]  # (trigger epoch, rolled back to, new weight decay)
    weight_decay: float


class EarlyStopController:
    """RobustDARTS early stopping as a searcher controller (DARTS-ES ``stop``, DARTS-ADA ``ada``).

    Consulted by the searcher after every step (``Method.driver`` builds one
    for DARTS-ADA, so the CLI, the dashboard and ``compare`` honour it). When
    the tracker's rule has fired: ``mode="stop"`` rolls back to the stop epoch
    and ends the search (``searcher.genotype()`` is then that epoch's
    architecture); ``mode="ada"`` (§4.4) rolls back to stop_epoch -
    extra_rollback_epochs, multiplies the weight decay by ``mul_factor`` and
    goes on, until the weight decay has reached ``max_weight_decay`` (then
    further triggers are ignored). :attr:`outcome` says what happened.
    """

    def __init__(self, tracker: SharpnessTracker, mode: str = "stop", mul_factor: float = 10.0,
                 max_weight_decay: float = 0.03, extra_rollback_epochs: int = 0) -> None:
        check_choice("mode", mode, ("stop", "ada"))
        es = tracker.early_stopping
        if es is None:
            raise ValueError("the tracker has no EarlyStopping; build it with early_stopping=EarlyStopping(...)")
        if extra_rollback_epochs % es.ev_freq:
            raise ValueError(f"extra_rollback_epochs must be a multiple of ev_freq={es.ev_freq}")
        self.tracker, self.mode = tracker, mode
        self.mul_factor, self.max_weight_decay, self.extra = mul_factor, max_weight_decay, extra_rollback_epochs
        self.weight_decay = tracker.searcher.optimizer.param_groups[0]["weight_decay"]
        self.rollbacks: list[tuple[int, int, float]] = []
        self.stopped_at: int | None = None

    @property
    def outcome(self) -> EarlyStopOutcome:
        return EarlyStopOutcome(self.stopped_at is not None, self.stopped_at, tuple(self.rollbacks), self.weight_decay)

    def after_step(self, searcher: Searcher, event: Any) -> None:
        tracker = self.tracker
        if not tracker.triggered:
            return
        es = tracker.early_stopping
        assert es is not None
        if self.mode == "stop":
            self.stopped_at = tracker.rollback()
            searcher.stop()
            return
        wd = self.weight_decay
        if wd > 0 and round(math.log(self.max_weight_decay) / math.log(wd), 1) == 1:
            es.triggered = False  # at the maximum: RobustDARTS stops adapting
            es.start = searcher.config.epochs  # and never checks again
            return
        trigger = es.trigger_epoch
        assert trigger is not None and es.stop_epoch is not None  # set when the rule fired
        epoch = tracker.rollback(max(es.stop_epoch - self.extra, 0))
        self.weight_decay = wd * self.mul_factor
        searcher.set_weight_decay(self.weight_decay)
        self.rollbacks.append((trigger, epoch, self.weight_decay))
        log.info("DARTS-ADA: rolled back to epoch %d, weight decay now %g", epoch, self.weight_decay)


def run_with_early_stopping(searcher: Searcher, tracker: SharpnessTracker, mode: str = "stop",
                            mul_factor: float = 10.0, max_weight_decay: float = 0.03,
                            extra_rollback_epochs: int = 0) -> EarlyStopOutcome:
    """Step the search until it ends or early stopping fires, under an :class:`EarlyStopController`.

    The controller replaces the searcher's own (if any) for the duration of the call.
    """
    controller = EarlyStopController(tracker, mode, mul_factor, max_weight_decay, extra_rollback_epochs)
    previous, searcher.controller = searcher.controller, controller
    try:
        searcher.run()
    finally:
        searcher.controller = previous
    return controller.outcome

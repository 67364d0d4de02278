"""The search loop: one step = one architecture update + one weight update.

DARTS's bilevel loop (Liu et al. 2019, Alg. 1; `quark0/darts:cnn/train_search.py`):
for every mini-batch of the weight half, (1) update alpha on a batch of the
arch half (first or second order), then (2) update w on the training batch
with momentum SGD (weight decay, grad-norm clipping at 5), the lr following a
per-epoch cosine schedule. Alphas are kept out of the weight optimizer and
updated by Adam (lr 3e-4, betas (0.5, 0.999), L2 weight decay 1e-3).

The :class:`Searcher` is synchronous, deterministic (seeded: init, data
order, any sampling noise) and silent. ``step()`` returns the
:class:`~workbench.events.StepEnded` it emitted; ``run(n)`` steps n times;
``state_dict()``/``load_state_dict()`` capture everything needed to resume bit
for bit on CPU. Methods (:mod:`workbench.methods`) fill the step's slots.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .data import BatchStream, ImageDataset, eval_batches, load_dataset, search_split
from .events import (
    EpochEnded,
    EventBus,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)
from .genotype import Genotype
from .methods import Method, get_method
from .relax import RelaxContext, masked_softmax
from .select import derive_genotype
from .spaces import SearchSpace, get_space
from .supernet import Supernet, SupernetConfig

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the step was not applied."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search. Defaults are DARTS's (`cnn/train_search.py`), scaled-down supernet."""

    space: str = "nb201"
    method: str = "darts-v1"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_root: str | None = None
    data_limit: int | None = None
    removed_ops: tuple[str, ...] = ()
    supernet: SupernetConfig = SupernetConfig()
    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    train_portion: float = 0.5
    seed: int = 2
    device: str = "cpu"
    eval_each_epoch: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "arch_lr"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.train_portion <= 1:
            raise ValueError(f"train_portion must be in (0, 1], got {self.train_portion}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["removed_ops"] = list(self.removed_ops)
        d["arch_betas"] = list(self.arch_betas)
        d["method_options"] = dict(self.method_options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown search config field(s) {sorted(unknown)}; accepted: {sorted(known)}")
        d = dict(d)
        if "supernet" in d and isinstance(d["supernet"], Mapping):
            d["supernet"] = SupernetConfig(**d["supernet"])
        for key in ("removed_ops", "arch_betas"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def replace(self, **kw: Any) -> SearchConfig:
        return dataclasses.replace(self, **kw)


class Searcher:
    """Runs a differentiable architecture search one step at a time."""

    def __init__(self, config: SearchConfig = SearchConfig(), *, dataset: ImageDataset | None = None,
                 space: SearchSpace | None = None, method: Method | None = None, bus: EventBus | None = None) -> None:
        self.config = config
        self.bus = bus if bus is not None else EventBus()
        self.device = torch.device(config.device)
        space = space if space is not None else get_space(config.space)
        if config.removed_ops:
            space = space.with_ops(remove=config.removed_ops)
        self.space = space
        method = method if method is not None else get_method(config.method, config.method_options)
        self.method = method.for_space(space)  # resolves a per-space genotype rule (GDAS) to a name
        if self.method.arch_gradient is not None and self.method.arch_start_epoch >= config.epochs:
            log.warning("method %s starts arch updates at epoch %d but the search has only %d epochs: the alphas "
                        "will never be updated", self.method.name, self.method.arch_start_epoch, config.epochs)
        self.dataset = dataset if dataset is not None else load_dataset(
            config.dataset, config.data_root, seed=config.seed, limit=config.data_limit)
        torch.manual_seed(config.seed)
        C_in = self.dataset.input_shape[0]
        net_cfg = dataclasses.replace(config.supernet, **dict(self.method.supernet_overrides))
        self.model = Supernet(space, net_cfg, C_in, self.dataset.n_classes).to(self.device)
        (xw, yw), (xa, ya) = search_split(self.dataset, config.train_portion)
        self.train_stream = BatchStream(xw, yw, config.batch_size, seed=config.seed * 1000 + 1, device=self.device)
        self.val_stream = BatchStream(xa, ya, config.batch_size, seed=config.seed * 1000 + 2, device=self.device)
        self.val_data = (xa.to(self.device), ya.to(self.device))
        # parameter lists never change after construction: look them up once (walking the module tree is slow)
        self._named_weights = self.model.named_weight_parameters()
        self._weights = [p for _, p in self._named_weights]
        self.optimizer = torch.optim.SGD(self._weights, lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay, foreach=True)
        self.arch_optimizer = torch.optim.Adam(self.model.arch_parameters(), lr=config.arch_lr,
                                               betas=config.arch_betas, weight_decay=config.arch_weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + 3)
        self.steps_per_epoch = self.train_stream.batches_per_epoch
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step_count = 0
        self._started = False
        self.failed: str | None = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch of the next step (0-based)."""
        return min(self.step_count // self.steps_per_epoch, self.config.epochs - 1)

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    def lr(self, epoch: int | None = None) -> float:
        e = self.epoch if epoch is None else epoch
        return self.method.lr_schedule(e, self.config.epochs, self.config.lr, self.config.lr_min)

    def _ctx(self, training: bool = True) -> RelaxContext:
        return RelaxContext(self.epoch, self.config.epochs, self.step_count, self.generator, training)

    def mixing_weights(self, training: bool = True) -> tuple[dict[str, Tensor], dict[str, np.ndarray]]:
        """Current mixing weights (with the graph to alpha) and ops to compute, per cell type."""
        ctx = self._ctx(training)
        weights, active = {}, {}
        for c in self.space.cell_types:
            weights[c], active[c] = self.method.relaxation(self.model.alphas[c], self.model.op_mask(c), ctx)
        return weights, active

    def alphas(self) -> dict[str, np.ndarray]:
        return {c: self.model.alphas[c].detach().cpu().numpy().copy() for c in self.space.cell_types}

    def softmax_weights(self) -> dict[str, np.ndarray]:
        """softmax(alpha) over enabled ops, the weights genotypes are derived from.

        With PC-DARTS edge normalisation each row is multiplied by its edge's
        weight softmax(beta) (the PC-DARTS genotype rule, ALGORITHMS.md §2.2).
        """
        out = {}
        with torch.no_grad():
            for c in self.space.cell_types:
                w = masked_softmax(self.model.alphas[c], self.model.op_mask(c))
                edge = self.model.edge_weights(c)
                out[c] = (w if edge is None else w * edge[:, None]).cpu().numpy()
        return out

    def masks(self) -> dict[str, np.ndarray]:
        return {c: self.model.op_mask(c).cpu().numpy().copy() for c in self.space.cell_types}

    def genotype(self) -> Genotype:
        """The genotype derived now, by the method's rule (default: the space's)."""
        return derive_genotype(self.space, self.softmax_weights(), self.masks(), self.method.genotype_rule)

    # -- commands -----------------------------------------------------------------------------
    def set_op_enabled(self, cell_type: str, op: str, enabled: bool, edges: list[int] | None = None) -> None:
        """Switch a candidate op on/off (on all or some edges); takes effect from the next step."""
        changed = self.model.set_op_enabled(cell_type, op, enabled, edges)
        if changed:
            self.bus.emit(OpMaskChanged(self.step_count, cell_type, op, changed, bool(enabled)))

    def run(self, n: int | None = None) -> list[StepEnded]:
        """Take ``n`` steps (default: to the end of the search); returns their events."""
        n = self.total_steps - self.step_count if n is None else n
        return [self.step() for _ in range(min(n, self.total_steps - self.step_count))]

    def step(self) -> StepEnded:
        """One architecture update and one weight update; emits and returns StepEnded."""
        if self.failed:
            raise RuntimeError(f"this search failed earlier ({self.failed}); load a checkpoint to continue")
        if self.finished:
            raise RuntimeError(f"the search is finished ({self.total_steps} steps = {self.config.epochs} epochs); "
                               "start a new one or load an earlier state")
        if not self._started:
            self._started = True
            self.bus.emit(RunStarted(self.step_count, self.total_steps, self.steps_per_epoch, self.space.name,
                                     self.method.name, self.space.cell_types, self.space.ops,
                                     self.config.to_dict(), resumed=self.step_count > 0))
        try:
            event = self._step()
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.bus.emit(RunFailed(self.step_count, str(exc), type(exc).__name__))
            raise
        return event

    def _step(self) -> StepEnded:
        t0 = time.perf_counter()
        cfg, epoch = self.config, self.epoch
        lr = self.lr(epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        if self.method.weight_decay is not None:  # method slot (RobustDARTS L2); else leave the groups' value
            wd = self.method.weight_decay(epoch, cfg.epochs, cfg.weight_decay)
            for g in self.optimizer.param_groups:
                g["weight_decay"] = wd
        if not self.model.training:
            self.model.train()
        batch_t = self.train_stream.next()
        batch_v = self.val_stream.next()
        # Snapshot what an aborted step must restore: a failing step leaves the search as it was.
        undo = self._snapshot()
        try:
            if self.method.order == "weight_first":
                train_loss, train_acc = self._weight_step(batch_t)
                val_loss, val_acc, extras = self._arch_step(batch_t, batch_v, lr, epoch)
            else:
                val_loss, val_acc, extras = self._arch_step(batch_t, batch_v, lr, epoch)
                train_loss, train_acc = self._weight_step(batch_t)
        except NonFiniteLossError:
            self._restore(undo)
            raise
        self.step_count += 1
        event = StepEnded(self.step_count, epoch, train_loss, train_acc, val_loss, val_acc, lr,
                          self.arch_optimizer.param_groups[0]["lr"], self.alphas(), self.softmax_weights(),
                          time.perf_counter() - t0, extras)
        self.bus.emit(event)
        if self.step_count % self.steps_per_epoch == 0 or self.finished:
            self._end_epoch(epoch)
        return event

    def _check(self, loss: Tensor, what: str) -> float:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"{what} loss is {value} at step {self.step_count + 1} (epoch {self.epoch}); the step was not "
                f"applied and the search is left at its last good state. Lower the learning rates "
                f"(lr={self.config.lr}, arch_lr={self.config.arch_lr}) or check the data.")
        return value

    def _arch_step(self, batch_t, batch_v, lr: float, epoch: int) -> tuple[float, float, dict]:
        xv, yv = batch_v
        if self.method.arch_gradient is None or epoch < self.method.arch_start_epoch:
            # fixed alphas (DARTS-PT "blank") or warm-up: weights only, still report validation metrics
            with torch.no_grad():
                w, a = self.mixing_weights()
                logits = self.model(xv, w, a)
                loss = F.cross_entropy(logits, yv)
            return self._check(loss, "validation"), _acc(logits, yv), {}
        momentum_buffers = {}
        for n, p in self._named_weights:
            st = self.optimizer.state.get(p, {})
            if st.get("momentum_buffer") is not None:
                momentum_buffers[n] = st["momentum_buffer"]
        res = self.method.arch_gradient(
            self.model, batch_t, batch_v, self.mixing_weights, lr=lr, momentum=self.config.momentum,
            weight_decay=self.optimizer.param_groups[0]["weight_decay"], momentum_buffers=momentum_buffers)
        val_loss = self._check(res.val_loss, "validation (architecture step)")
        for g, p in zip(res.grads, self.model.arch_parameters()):
            if not torch.isfinite(g).all():
                raise NonFiniteLossError(f"architecture gradient is not finite at step {self.step_count + 1}")
            p.grad = g.detach().clone()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        return val_loss, _acc(res.val_logits, yv), res.extras

    def _weight_step(self, batch_t) -> tuple[float, float]:
        x, y = batch_t
        with torch.no_grad():
            w, active = self.mixing_weights()
        w = {c: t.detach() for c, t in w.items()}
        if self.method.perturbation is not None:
            w = self.method.perturbation(self, w, active, batch_t)
        logits = self.model(x, w, active)
        loss = F.cross_entropy(logits, y)
        value = self._check(loss, "training")
        params = self._weights
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return value, _acc(logits, y)

    def _snapshot(self) -> dict[str, Any]:
        return {"alphas": [p.detach().clone() for p in self.model.arch_parameters()],
                "arch_opt": _clone_state(self.arch_optimizer.state_dict())}

    def _restore(self, undo: dict[str, Any]) -> None:
        with torch.no_grad():
            for p, a in zip(self.model.arch_parameters(), undo["alphas"]):
                p.copy_(a)
        self.arch_optimizer.load_state_dict(undo["arch_opt"])

    def _end_epoch(self, epoch: int) -> None:
        val_loss = val_acc = None
        if self.config.eval_each_epoch:
            val_loss, val_acc = self.evaluate()
        self.bus.emit(EpochEnded(epoch, self.step_count, self.genotype(), val_loss, val_acc))
        if self.finished:
            self.bus.emit(RunFinished(self.step_count, self.genotype()))

    @torch.no_grad()
    def evaluate(self, x: Tensor | None = None, y: Tensor | None = None, batch_size: int = 512) -> tuple[float, float]:
        """Supernet loss and accuracy (eval-mode BN) on (x, y), default: the arch half."""
        if x is None:
            x, y = self.val_data
        was = self.model.training
        self.model.eval()
        w, a = self.mixing_weights(training=False)
        loss_sum, correct, n = 0.0, 0, 0
        for xb, yb in eval_batches(x, y, batch_size):
            logits = self.model(xb.to(self.device), w, a)
            loss_sum += float(F.cross_entropy(logits, yb.to(self.device), reduction="sum"))
            correct += int((logits.argmax(1) == yb.to(self.device)).sum())
            n += len(yb)
        self.model.train(was)
        return loss_sum / max(n, 1), correct / max(n, 1)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit for bit: weights, alphas, masks, optimizers, data order, RNG."""
        return {
            "format": "workbench-search-state/1",
            "step": self.step_count,
            "space_ops": list(self.space.ops),
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone_state(self.optimizer.state_dict()),
            "arch_optimizer": _clone_state(self.arch_optimizer.state_dict()),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "generator": self.generator.get_state().clone(),
            "torch_rng": torch.get_rng_state().clone(),
        }

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        if sd.get("format") != "workbench-search-state/1":
            raise ValueError(f"not a workbench search state (format={sd.get('format')!r}); "
                             "expected 'workbench-search-state/1'")
        if list(sd["space_ops"]) != list(self.space.ops):
            raise ValueError(f"checkpoint was made with ops {list(sd['space_ops'])} but this search has "
                             f"{list(self.space.ops)}; build the searcher with the same config")
        own = self.model.state_dict()
        bad = [k for k, v in sd["model"].items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
        missing = [k for k in own if k not in sd["model"]]
        if bad or missing:
            raise ValueError(f"checkpoint does not fit this supernet (config differs?): "
                             f"mismatched {bad[:5]}, missing {missing[:5]}")
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.arch_optimizer.load_state_dict(sd["arch_optimizer"])
        self.train_stream.load_state_dict(sd["train_stream"])
        self.val_stream.load_state_dict(sd["val_stream"])
        self.generator.set_state(sd["generator"])
        torch.set_rng_state(sd["torch_rng"])
        self.step_count = int(sd["step"])
        self.failed = None
        self._started = False


def _acc(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


def _clone_state(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_state(v) for v in obj)
    return obj

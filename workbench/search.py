"""The search loop: one step = one architecture update + one weight update, for any space, task and method.

DARTS's bilevel loop (Liu et al. 2019, Alg. 1; `quark0/darts:cnn/train_search.py`)
is the skeleton: for every mini-batch of the weight half, (1) update the
architecture parameters on a batch of the architecture half, then (2) update
the weights on the training batch with momentum SGD (weight decay, grad-norm
clipping at 5), the lr following a per-epoch schedule. The architecture
parameters are kept out of the weight optimizer and updated by their own
optimizer (DARTS: Adam, lr 3e-4, betas (0.5, 0.999), L2 weight decay 1e-3).

What is searched comes from the space (:mod:`workbench.spaces`), what is
optimised from the task (:mod:`workbench.tasks`), and how from the method's
slots (:mod:`workbench.methods`), each of which receives one frozen
:class:`~workbench.methods.context.StepContext`. A method's controller (a
loop over the loop, e.g. DARTS-ADA's rollbacks) is consulted after every
step, so every way of stepping -- ``step()``, ``run()``, the dashboard, the
CLI, ``compare`` -- honours it.

The :class:`Searcher` is synchronous, deterministic (seeded: init, data
order, any sampling noise) and silent. ``step()`` returns the
:class:`~workbench.events.StepEnded` it emitted; ``run(n)`` steps n times;
``state_dict()``/``load_state_dict()`` capture everything needed to resume bit
for bit on CPU.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench import validate as V
from workbench.errors import ConfigError, ConfigTypeError
from workbench.events import (
    EpochEnded,
    EventBus,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)
from workbench.methods import METHODS, Method, get_method
from workbench.methods.context import StepContext
from workbench.serialize import CheckpointError
from workbench.spaces import SearchSpace, get_space
from workbench.tasks import Task, load_dataset
from workbench.tasks.data import BatchStream, eval_batches, search_split

log = logging.getLogger(__name__)
STATE_FORMAT = "workbench-search-state/2"


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the step was not applied."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search. Defaults are DARTS's (`cnn/train_search.py`), scaled-down supernet.

    ``space``, ``method``, ``dataset`` and ``objective`` are registered names
    (objects passed to :class:`Searcher` directly are recorded by their own
    name and fingerprint in a run folder). ``supernet`` is the space's size
    settings: its config object (``SupernetConfig`` for cell spaces), a mapping
    of its fields, or None for the space's defaults. ``objective`` None means
    the dataset's default (cross-entropy for image classification).

    Every field is checked by type and range when the config is built (so are
    a registered space's supernet settings, ``removed_ops`` against its ops,
    and a registered method's options, by its preset): a rejected value raises
    :class:`~workbench.errors.ConfigError` (a ``ValueError``) or
    :class:`~workbench.errors.ConfigTypeError` (also a ``TypeError``) naming the
    field, the value and what is accepted. Accepted values are normalised (a
    numpy integer becomes an ``int``, a list a tuple).
    """

    space: str = "nb201"
    method: str = "darts-v1"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_root: str | None = None
    data_limit: int | None = None
    objective: str | None = None
    removed_ops: tuple[str, ...] = ()
    supernet: Any = None
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
        for name, value in _validated_fields(self).items():
            object.__setattr__(self, name, value)
        if self.space in _space_names():  # else: a space object's name; the Searcher resolves it with the object
            object.__setattr__(self, "supernet", _resolve_supernet(self.space, self.supernet))
            if self.removed_ops:
                _check_removed_ops(self.space, self.removed_ops)
        if self.method in METHODS:  # options of a registered preset: checked now, by the preset itself
            try:
                get_method(self.method, self.method_options)
            except ConfigError as exc:
                raise type(exc)(f"{_WHERE}method_options={V.show(self.method_options)} is not accepted for method "
                                f"{self.method!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        sn = self.supernet
        d["supernet"] = dataclasses.asdict(sn) if dataclasses.is_dataclass(sn) else (
            dict(sn) if isinstance(sn, Mapping) else sn)
        d["removed_ops"] = list(self.removed_ops)
        d["arch_betas"] = list(self.arch_betas)
        d["method_options"] = dict(self.method_options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """The inverse of :meth:`to_dict`; unknown fields and invalid values raise :class:`ConfigError`."""
        d = V.mapping(d, "SearchConfig.from_dict(d)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown search config field(s) {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**d)

    def replace(self, **kw: Any) -> SearchConfig:
        if "space" in kw and "supernet" not in kw and kw["space"] != self.space:
            kw["supernet"] = None  # another space: its own default size
        return dataclasses.replace(self, **kw)


_WHERE = "SearchConfig."


def _validated_fields(c: SearchConfig) -> dict[str, Any]:
    """Every field but ``supernet``, checked by type and range and normalised (see :mod:`workbench.validate`)."""
    w = {"where": _WHERE}
    out: dict[str, Any] = {
        "space": V.string(c.space, "space", **w),
        "method": V.string(c.method, "method", **w),
        "method_options": V.mapping(c.method_options, "method_options", **w),
        "dataset": V.string(c.dataset, "dataset", **w),
        "data_root": V.optional(V.path, c.data_root, "data_root", **w),
        "data_limit": V.optional(V.integer, c.data_limit, "data_limit", low=1, **w),
        "objective": V.optional(V.string, c.objective, "objective", **w),
        "removed_ops": V.strings(c.removed_ops, "removed_ops", **w),
        "epochs": V.integer(c.epochs, "epochs", low=1, **w),
        "batch_size": V.integer(c.batch_size, "batch_size", low=1, **w),
        "lr": V.real(c.lr, "lr", low=0, **w),
        "lr_min": V.real(c.lr_min, "lr_min", low=0, **w),
        "momentum": V.real(c.momentum, "momentum", low=0, high=1, high_open=True, **w),
        "weight_decay": V.real(c.weight_decay, "weight_decay", low=0, **w),
        "grad_clip": V.real(c.grad_clip, "grad_clip", low=0, **w),
        "arch_lr": V.real(c.arch_lr, "arch_lr", low=0, **w),
        "arch_weight_decay": V.real(c.arch_weight_decay, "arch_weight_decay", low=0, **w),
        "train_portion": V.real(c.train_portion, "train_portion", low=0, high=1, low_open=True, **w),
        "seed": V.seed(c.seed, "seed", **w),
        "device": _device(c.device),
        "eval_each_epoch": V.boolean(c.eval_each_epoch, "eval_each_epoch", **w),
    }
    betas = c.arch_betas
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise V.fail(_WHERE, "arch_betas", betas, "a pair (beta1, beta2) of numbers in [0, 1)",
                     type_error=not isinstance(betas, Sequence) or isinstance(betas, (str, bytes)))
    out["arch_betas"] = tuple(V.real(b, f"arch_betas[{i}]", low=0, high=1, high_open=True, **w)
                              for i, b in enumerate(betas))
    return out


def _device(value: Any) -> str:
    text = V.string(value, "device", where=_WHERE)
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise V.fail(_WHERE, "device", value, "a torch device such as 'cpu', 'cuda' or 'cuda:0'") from None
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise V.fail(_WHERE, "device", value, "a 'cpu', 'cuda', 'mps' or 'xpu' device")
    return text


def _check_removed_ops(space_name: str, removed: tuple[str, ...]) -> None:
    """``removed`` must name options of the registered space and leave every row a real option ('none' is not)."""
    space = get_space(space_name)
    if not hasattr(space, "with_ops"):
        raise V.fail(_WHERE, "removed_ops", removed, f"() for space {space_name!r}, which has no options to remove")
    known = list(dict.fromkeys(o for g in space.choice_groups() for o in g.options))
    unknown = [op for op in removed if op not in known]
    if unknown:
        raise V.fail(_WHERE, "removed_ops", removed, f"options of space {space_name!r} ({', '.join(known)}); "
                     f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not among them")
    try:
        groups = space.with_ops(remove=removed).choice_groups()
    except (ValueError, KeyError, TypeError) as exc:
        groups, reason = (), str(exc)
    else:
        reason = ""
        for g in groups:
            real = [i for i, o in enumerate(g.options) if o != "none"]
            allowed = g.allowed_matrix()
            if empty := [g.rows[r] for r in range(len(g.rows)) if not allowed[r, real].any()]:
                reason = f"group {g.name!r} row(s) {empty} would have no option other than 'none'"
                break
    if reason:
        raise V.fail(_WHERE, "removed_ops", removed, f"options of space {space_name!r} whose removal leaves every "
                     f"row at least one option other than 'none' ({reason})")


def _resolve_supernet(space: str, value: Any) -> Any:
    """The registered space's supernet settings from ``value``; its errors become ConfigErrors naming the field."""
    try:
        return get_space(space).supernet_config(value)
    except (TypeError, ValueError) as exc:
        cls = type(exc) if isinstance(exc, ConfigError) else ConfigTypeError if isinstance(exc, TypeError) \
            else ConfigError
        raise cls(f"{_WHERE}supernet={V.show(value)} is not accepted for space {space!r}: {exc}") from None


def _check_device_available(device: str) -> None:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{_WHERE}device={device!r} is not available: torch sees no CUDA device here; use 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"{_WHERE}device={device!r} is not available: torch sees {torch.cuda.device_count()} "
                          f"CUDA device(s), cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"{_WHERE}device={device!r} is not available on this machine; use 'cpu'")


def _space_names() -> list[str]:
    from workbench.spaces import space_names
    return space_names()


def _space_provenance(config: SearchConfig, space: SearchSpace) -> str:
    """"registered" when ``config.space`` (minus ``removed_ops``) rebuilds exactly ``space``."""
    if config.space not in _space_names():
        return "object"
    registered = get_space(config.space)
    if config.removed_ops:
        registered = registered.with_ops(remove=config.removed_ops)  # type: ignore[attr-defined]
    return "registered" if registered.fingerprint() == space.fingerprint() else "object"


def adam(params: list[torch.nn.Parameter], config: SearchConfig) -> torch.optim.Optimizer:
    """DARTS's architecture optimizer: Adam(arch_lr, arch_betas, L2 weight decay arch_weight_decay)."""
    return torch.optim.Adam(params, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay)


class Searcher:
    """Runs a differentiable architecture search one step at a time."""

    def __init__(self, config: SearchConfig = SearchConfig(), *, dataset: Any = None, task: Task | None = None,
                 space: SearchSpace | None = None, method: Method | None = None, bus: EventBus | None = None) -> None:
        if not isinstance(config, SearchConfig):
            raise ConfigTypeError(f"Searcher(config={config!r}) is not accepted: expected a SearchConfig "
                                  f"(got {type(config).__name__}); build one with SearchConfig(...) or "
                                  "SearchConfig.from_dict(...)")
        _check_device_available(config.device)
        if space is not None and space.name != config.space:
            config = config.replace(space=space.name)  # record the space the search really uses
        self.config = config
        self.bus = bus if bus is not None else EventBus()
        self.device = torch.device(config.device)
        space = space if space is not None else get_space(config.space)
        if config.removed_ops:
            if not hasattr(space, "with_ops"):
                raise ValueError(f"space {space.name!r} cannot remove options (removed_ops={config.removed_ops})")
            space = space.with_ops(remove=config.removed_ops)
        self.space = space
        #: how each piece was obtained: "registered" (rebuilt from the config alone) or "object" (passed in)
        self.provenance = {"space": _space_provenance(config, space), "task": "registered",
                           "method": "registered" if method is None else "object"}
        method = method if method is not None else get_method(config.method, config.method_options)
        self.method = method.for_space(space)  # resolves a per-space decoding rule (GDAS) to a name
        if self.method.arch_gradient is not None and self.method.arch_start_epoch >= config.epochs:
            log.warning("method %s starts arch updates at epoch %d but the search has only %d epochs: the "
                        "architecture will never be updated", self.method.name, self.method.arch_start_epoch,
                        config.epochs)
        if task is not None or dataset is not None:
            self.provenance["task"] = "object"
        if task is None:
            if dataset is None:
                dataset = load_dataset(config.dataset, config.data_root, seed=config.seed, limit=config.data_limit)
            task = Task.of(dataset, config.objective)
        self.task = task
        self.objective = task.objective
        self.dataset = task.dataset
        torch.manual_seed(config.seed)
        net_cfg = space.supernet_config(config.supernet, **dict(self.method.supernet_settings))
        self.model = space.build_supernet(task.info, net_cfg).to(self.device)
        (xw, yw), (xa, ya) = search_split(self.dataset, config.train_portion)
        self.train_stream = BatchStream(xw, yw, config.batch_size, seed=config.seed * 1000 + 1, device=self.device)
        self.val_stream = BatchStream(xa, ya, config.batch_size, seed=config.seed * 1000 + 2, device=self.device)
        self.val_data = (xa.to(self.device), ya.to(self.device))
        # parameter lists never change after construction: look them up once (walking the module tree is slow)
        self.arch_params = list(self.method.arch_parameters(self.model) if self.method.arch_parameters
                                else self.model.arch_parameters())
        arch_ids = {id(p) for p in self.arch_params}
        self._named_weights = [(n, p) for n, p in self.model.named_parameters() if id(p) not in arch_ids]
        self._weights = [p for _, p in self._named_weights]
        self.optimizer = torch.optim.SGD(self._weights, lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay, foreach=True)
        self.arch_optimizer = self.method.arch_optimizer(self.arch_params, config)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + 3)
        self.steps_per_epoch = self.train_stream.batches_per_epoch
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step_count = 0
        self._started = False
        self._stopped = False
        self.failed: str | None = None
        self._undo = _StepUndo(self)
        self.controller = self.method.driver(self) if self.method.driver is not None else None

    # -- properties ---------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch of the next step (0-based)."""
        return min(self.step_count // self.steps_per_epoch, self.config.epochs - 1)

    @property
    def finished(self) -> bool:
        return self._stopped or self.step_count >= self.total_steps

    @property
    def groups(self) -> tuple[str, ...]:
        """The names of the space's choice groups (a cell space: its cell types)."""
        return tuple(g.name for g in self.model.groups)

    def lr(self, epoch: int | None = None) -> float:
        e = self.epoch if epoch is None else epoch
        return self.method.lr_schedule(e, self.config.epochs, self.config.lr, self.config.lr_min)

    def context(self, training: bool = True, batch_t: Any = None, batch_v: Any = None, lr: float = 0.0
                ) -> StepContext:
        """The frozen context the method's slots receive for the next step."""
        buffers = {}
        if batch_t is not None:
            for n, p in self._named_weights:
                st = self.optimizer.state.get(p)
                if st and st.get("momentum_buffer") is not None:
                    buffers[n] = st["momentum_buffer"]
        return StepContext(self.epoch, self.config.epochs, self.step_count, self.generator, training,
                           model=self.model, objective=self.objective, relaxation=self.method.relaxation,
                           arch_params=self.arch_params, batch_t=batch_t, batch_v=batch_v, lr=lr,
                           momentum=self.config.momentum, weight_decay=self.optimizer.param_groups[0]["weight_decay"],
                           momentum_buffers=buffers, config=self.config)

    def mixing_weights(self, training: bool = True) -> tuple[dict[str, Tensor], dict[str, np.ndarray]]:
        """Current mixing weights (with the graph to alpha) and options to compute, per choice group."""
        return self.context(training).mixing_weights()

    def alphas(self) -> dict[str, np.ndarray]:
        return {g: self.model.alphas[g].detach().cpu().numpy().copy() for g in self.groups}

    def probabilities(self) -> dict[str, np.ndarray]:
        """Per group, what architectures are decoded from (``model.probabilities``: softmax over enabled options;
        PC-DARTS multiplies each row by its edge weight, ALGORITHMS.md §2.2)."""
        with torch.no_grad():
            return {g: self.model.probabilities(g).cpu().numpy() for g in self.groups}

    def masks(self) -> dict[str, np.ndarray]:
        return {g: self.model.op_mask(g).cpu().numpy().copy() for g in self.groups}

    def genotype(self) -> Any:
        """The architecture decoded now, by the method's rule (default: the space's)."""
        return self.space.decode(self.probabilities(), self.masks(), self.method.genotype_rule)

    # -- commands -----------------------------------------------------------------------------
    def set_op_enabled(self, group: str, op: str, enabled: bool, rows: list[int] | None = None) -> None:
        """Switch a candidate option on/off (in all or some rows of a group); takes effect from the next step."""
        where = "set_op_enabled: "
        group = V.choice(group, "group", self.groups, where=where)
        options = next(g.options for g in self.model.groups if g.name == group)
        op = V.choice(op, "op", tuple(options), where=where)
        enabled = V.boolean(enabled, "enabled", where=where)
        if rows is not None:
            n = next(len(g.rows) for g in self.model.groups if g.name == group)
            if isinstance(rows, (str, bytes)) or not isinstance(rows, (Sequence, np.ndarray)):
                raise V.fail(where, "rows", rows, f"None or a list of row indices in [0, {n - 1}]", type_error=True)
            rows = [V.integer(k, "rows", low=0, high=n - 1, where=where) for k in list(rows)]
        try:
            changed = self.model.set_op_enabled(group, op, enabled, rows)
        except ConfigError:
            raise
        except ValueError as exc:  # e.g. a row would be left without a real option
            raise ConfigError(f"{where}{exc}") from None
        if changed:
            self.bus.emit(OpMaskChanged(self.step_count, group, op, changed, bool(enabled)))

    def set_weight_decay(self, weight_decay: float) -> None:
        """Set the weight optimizer's weight decay (DARTS-ADA's adaptation)."""
        for g in self.optimizer.param_groups:
            g["weight_decay"] = weight_decay

    def stop(self) -> None:
        """End the search now (a controller's early stop): ``finished`` becomes true and RunFinished is emitted."""
        if not self._stopped:
            self._stopped = True
            self.bus.emit(RunFinished(self.step_count, self.genotype()))

    def run(self, n: int | None = None) -> list[StepEnded]:
        """Take ``n`` steps (default: until the search is finished); returns their events."""
        events = []
        while not self.finished and (n is None or len(events) < n):
            events.append(self.step())
        return events

    def step(self) -> StepEnded:
        """One architecture update and one weight update; emits and returns StepEnded."""
        if self.failed:
            raise RuntimeError(f"this search failed earlier ({self.failed}); load a checkpoint to continue")
        if self.finished:
            raise RuntimeError(f"the search is finished (step {self.step_count} of {self.total_steps}, "
                               f"{self.config.epochs} epochs); start a new one or load an earlier state")
        if not self._started:
            self._started = True
            self.bus.emit(RunStarted(self.step_count, self.total_steps, self.steps_per_epoch, self.space.name,
                                     self.method.name, tuple(self.model.groups), self.objective.name,
                                     self.objective.metric_names, self.objective.primary,
                                     self.objective.higher_is_better, self.config.to_dict(),
                                     resumed=self.step_count > 0))
        try:
            event = self._step()
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.bus.emit(RunFailed(self.step_count, str(exc), type(exc).__name__))
            raise
        if self.controller is not None:
            self.controller.after_step(self, event)
        return event

    def _step(self) -> StepEnded:
        t0 = time.perf_counter()
        # Snapshot everything a step touches, so that a failing step (a NaN loss, or any error) leaves the search
        # exactly as it was: weights, alphas, BN buffers, both optimizers, the RNGs and the data streams.
        self._undo.save()
        epoch = self.epoch
        try:
            event = self._updates(epoch, t0)
        except BaseException:  # an error, or Ctrl-C in the middle of the step: never leave it half applied
            self._undo.restore()
            raise
        self.step_count += 1  # committed
        self.bus.emit(event)
        if self.step_count % self.steps_per_epoch == 0 or self.step_count >= self.total_steps:
            self._end_epoch(epoch)
        return event

    def _updates(self, epoch: int, t0: float) -> StepEnded:
        """The step's two updates; returns the (not yet emitted) StepEnded."""
        cfg = self.config
        lr = self.lr(epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        if self.method.weight_decay is not None:  # method slot (RobustDARTS L2); else leave the groups' value
            self.set_weight_decay(self.method.weight_decay(epoch, cfg.epochs, cfg.weight_decay))
        if not self.model.training:
            self.model.train()
        ctx = self.context(True, self.train_stream.next(), self.val_stream.next(), lr)
        if self.method.order == "weight_first":
            train_loss, train_m = self._weight_step(ctx)
            val_loss, val_m, extras = self._arch_step(ctx)
        else:
            val_loss, val_m, extras = self._arch_step(ctx)
            train_loss, train_m = self._weight_step(ctx)
        return StepEnded(self.step_count + 1, epoch, train_loss, val_loss, train_m, val_m, lr,
                         self.arch_optimizer.param_groups[0]["lr"], self.alphas(), self.probabilities(),
                         time.perf_counter() - t0, extras)

    def _check(self, loss: Tensor, what: str) -> float:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"{what} loss is {value} at step {self.step_count + 1} (epoch {self.epoch}); the step was not "
                f"applied and the search is left at its last good state. Lower the learning rates "
                f"(lr={self.config.lr}, arch_lr={self.config.arch_lr}) or check the data.")
        return value

    def _arch_step(self, ctx: StepContext) -> tuple[float, dict[str, float], dict[str, float]]:
        xv, yv = ctx.batch_v
        if self.method.arch_gradient is None or ctx.epoch < self.method.arch_start_epoch:
            # fixed architecture (DARTS-PT "blank") or warm-up: weights only, still report validation metrics
            with torch.no_grad():
                out = self.model(xv, *ctx.mixing_weights())
                loss = self.objective.loss(out, yv)
            return self._check(loss, "validation"), self.objective.evaluate(out, yv), {}
        res = self.method.arch_gradient(ctx)
        val_loss = self._check(res.val_loss, "validation (architecture step)")
        grads = list(res.grads)
        extras = dict(res.extras)
        for term in self.method.arch_loss_terms:
            value = term(ctx)
            extras[term.name] = self._check(value, f"architecture term {term.name!r}")
            tg = torch.autograd.grad(value, self.arch_params, allow_unused=True)
            grads = [g if t is None else g + t for g, t in zip(grads, tg, strict=True)]
        for g, p in zip(grads, self.arch_params, strict=True):
            if not torch.isfinite(g).all():
                raise NonFiniteLossError(
                    f"architecture gradient is not finite at step {self.step_count + 1} (epoch {self.epoch}); the "
                    "step was not applied and the search is left at its last good state. Lower the learning rates "
                    f"(lr={self.config.lr}, arch_lr={self.config.arch_lr}) or check the data.")
            p.grad = g.detach().clone()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        return val_loss, self.objective.evaluate(res.val_output, yv), extras

    def _weight_step(self, ctx: StepContext) -> tuple[float, dict[str, float]]:
        x, y = ctx.batch_t
        with torch.no_grad():
            w, active = ctx.mixing_weights()
        w = {c: t.detach() for c, t in w.items()}
        if self.method.perturbation is not None:
            w = self.method.perturbation(ctx, w, active)
        out = self.model(x, w, active)
        loss = self.objective.loss(out, y)
        value = self._check(loss, "training")
        for term in self.method.weight_loss_terms:
            loss = loss + term(ctx, out, ctx.batch_t)
        if self.method.weight_loss_terms:
            self._check(loss, "training (with the method's weight-loss terms)")
        params = self._weights
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return value, self.objective.evaluate(out.detach(), y)

    def _end_epoch(self, epoch: int) -> None:
        val_loss = val_metrics = None
        if self.config.eval_each_epoch:
            val_loss, val_metrics = self.evaluate()
        genotype = self.genotype()
        self.bus.emit(EpochEnded(epoch, self.step_count, genotype, val_loss, val_metrics))
        if self.step_count >= self.total_steps:
            self.bus.emit(RunFinished(self.step_count, genotype))

    @torch.no_grad()
    def evaluate(self, x: Tensor | None = None, y: Tensor | None = None, batch_size: int = 512
                 ) -> tuple[float, dict[str, float]]:
        """Supernet loss and metrics (eval-mode BN) on (x, y), default: the arch half. Metrics are
        per-example means combined over batches."""
        if x is None:
            x, y = self.val_data
        was = self.model.training
        self.model.eval()
        w, a = self.mixing_weights(training=False)
        loss_sum, sums, n = 0.0, {k: 0.0 for k in self.objective.metric_names}, 0
        for xb, yb in eval_batches(x, y, batch_size):
            xb, yb = xb.to(self.device), yb.to(self.device)
            out = self.model(xb, w, a)
            b = len(yb)
            loss_sum += float(self.objective.loss(out, yb)) * b
            for k, v in self.objective.evaluate(out, yb).items():
                sums[k] += v * b
            n += b
        self.model.train(was)
        n = max(n, 1)
        return loss_sum / n, {k: v / n for k, v in sums.items()}

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit for bit: weights, architecture, masks, optimizers, data order, RNG."""
        return {
            "format": STATE_FORMAT,
            "step": self.step_count,
            "stopped": self._stopped,
            "space_groups": [g.to_dict() for g in self.model.groups],
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone_state(self.optimizer.state_dict()),
            "arch_optimizer": _clone_state(self.arch_optimizer.state_dict()),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "generator": self.generator.get_state().clone(),
            "torch_rng": torch.get_rng_state().clone(),
        }

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`. Everything is checked against this search first (keys, shapes, dtypes,
        finite values, option masks, optimizer states, streams, generators); a state that does not fit raises
        :class:`~workbench.serialize.CheckpointError` and nothing is applied."""
        self._check_state(sd)
        backup = self.state_dict()
        try:
            self._apply_state(sd)
        except Exception:
            self._apply_state(backup)  # leave the search as it was
            raise

    def _apply_state(self, sd: Mapping[str, Any]) -> None:
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.arch_optimizer.load_state_dict(sd["arch_optimizer"])
        self.train_stream.load_state_dict(sd["train_stream"])
        self.val_stream.load_state_dict(sd["val_stream"])
        self.generator.set_state(sd["generator"].clone())
        torch.set_rng_state(sd["torch_rng"].clone())
        self.step_count = int(sd["step"])
        self._stopped = bool(sd.get("stopped", False))
        self.failed = None
        self._started = False

    def _check_state(self, sd: Any) -> None:
        """Raise CheckpointError naming the first thing in ``sd`` that does not fit this search."""
        def bad(msg: str) -> CheckpointError:
            return CheckpointError(f"the search state does not fit this search: {msg}")

        if not isinstance(sd, Mapping):
            raise bad(f"expected a mapping (Searcher.state_dict()), got {type(sd).__name__}")
        fmt = sd.get("format")
        if fmt not in (STATE_FORMAT, "workbench-search-state/1"):
            raise CheckpointError(f"not a workbench search state (format={fmt!r}); expected {STATE_FORMAT!r}")
        need = ["step", "model", "optimizer", "arch_optimizer", "train_stream", "val_stream", "generator",
                "torch_rng", "space_ops" if fmt == "workbench-search-state/1" else "space_groups"]
        if missing := [k for k in need if k not in sd]:
            raise bad(f"it lacks {missing}")
        if fmt == "workbench-search-state/1":  # cell spaces before choice groups: one op list
            ops = list(getattr(self.space, "ops", ()))
            if not isinstance(sd["space_ops"], (list, tuple)) or list(sd["space_ops"]) != ops:
                raise CheckpointError(f"checkpoint was made with ops {sd['space_ops']!r} but this search has {ops}; "
                                      "build the searcher with the same config")
        else:
            mine = [g.to_dict() for g in self.model.groups]
            theirs = sd["space_groups"]
            theirs = list(theirs) if isinstance(theirs, (list, tuple)) else theirs
            if theirs != mine:
                def listing(groups: Any) -> Any:
                    try:
                        return [(g["name"], g["options"]) for g in groups]
                    except (TypeError, KeyError):
                        return groups
                raise CheckpointError(f"checkpoint was made with choice groups (name, ops) {listing(theirs)} but "
                                      f"this search has {listing(mine)}; build the searcher with the same space "
                                      "and config")
        step = sd["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise bad(f"step={step!r} is not an int >= 0")
        if not isinstance(sd.get("stopped", False), bool):
            raise bad(f"stopped={sd['stopped']!r} is not a bool")
        self._check_model_state(sd["model"], bad)
        for key, opt in (("optimizer", self.optimizer), ("arch_optimizer", self.arch_optimizer)):
            _check_optimizer_state(key, sd[key], opt, bad)
        for key, stream in (("train_stream", self.train_stream), ("val_stream", self.val_stream)):
            try:
                stream.check_state(sd[key])
            except ValueError as exc:
                raise bad(f"{key}: {exc}") from None
        for key, want in (("generator", self.generator.get_state()), ("torch_rng", torch.get_rng_state())):
            v = sd[key]
            if not isinstance(v, Tensor) or v.dtype != torch.uint8 or v.shape != want.shape:
                raise bad(f"{key} must be a uint8 tensor of shape {tuple(want.shape)} (a torch generator state), "
                          f"got {_describe(v)}")

    def _check_model_state(self, model_sd: Any, bad: Any) -> None:
        own = self.model.state_dict()
        if not isinstance(model_sd, Mapping):
            raise bad(f"model must be a mapping of tensors, got {type(model_sd).__name__}")
        unknown = [k for k in model_sd if k not in own]
        missing = [k for k in own if k not in model_sd]
        if unknown or missing:
            raise bad(f"the supernet differs (config differs?): unknown entries {unknown[:5]}, missing {missing[:5]}")
        for k, mine in own.items():
            v = model_sd[k]
            if not isinstance(v, Tensor):
                raise bad(f"model.{k} must be a tensor, got {type(v).__name__}")
            if v.dtype != mine.dtype or tuple(v.shape) != tuple(mine.shape):
                raise bad(f"model.{k} is {_describe(v)}, this supernet has {_describe(mine)}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise bad(f"model.{k} holds NaN or infinite values")
        for g in self.model.groups:
            key = f"mask_{g.name}"
            if key not in model_sd:
                continue
            mask = model_sd[key].cpu().numpy()
            allowed = g.allowed_matrix()
            if (mask & ~allowed).any():
                r, o = (int(i[0]) for i in np.nonzero(mask & ~allowed))
                raise bad(f"model.{key} enables option {g.options[o]!r} in row {r}, which the space does not allow "
                          "there")
            real = [i for i, name in enumerate(g.options) if name not in self.model.empty_options(g.name)]
            empty = [r for r in range(len(g.rows)) if not mask[r, real].any()]
            if empty:
                raise bad(f"model.{key} leaves row(s) {empty} of group {g.name!r} without any enabled option "
                          f"(other than {list(self.model.empty_options(g.name))})")


def _describe(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a {str(v.dtype).replace('torch.', '')} tensor of shape {tuple(v.shape)}"
    return f"a {type(v).__name__}"


def _check_optimizer_state(key: str, sd: Any, opt: torch.optim.Optimizer, bad: Any) -> None:
    """``sd`` must be a state dict of ``opt`` over ``params``: same groups, per-parameter tensors shaped as the
    parameters (momentum, Adam moments), scalar steps, finite numbers."""
    if not isinstance(sd, Mapping) or not isinstance(sd.get("state"), Mapping) \
            or not isinstance(sd.get("param_groups"), (list, tuple)):
        raise bad(f"{key} must be an optimizer state dict with 'state' and 'param_groups', got "
                  f"{type(sd).__name__}")
    own = opt.state_dict()["param_groups"]
    theirs = sd["param_groups"]
    if len(theirs) != len(own):
        raise bad(f"{key} has {len(theirs)} parameter group(s), this search {len(own)}")
    for i, (g, mine) in enumerate(zip(theirs, own, strict=True)):
        if not isinstance(g, Mapping) or list(g.get("params", ())) != list(mine["params"]):
            raise bad(f"{key}.param_groups[{i}] does not list the same parameters as this search's optimizer")
        for name, value in g.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(f"{key}.param_groups[{i}].{name}={value} is not finite")
    flat = [p for g in opt.param_groups for p in g["params"]]
    index = dict(zip([i for g in own for i in g["params"]], flat, strict=True))  # state_dict numbers them in order
    for idx, entry in sd["state"].items():
        if idx not in index:
            raise bad(f"{key}.state has an entry for parameter {idx!r}, which this search does not have")
        if not isinstance(entry, Mapping):
            raise bad(f"{key}.state[{idx}] must be a mapping, got {type(entry).__name__}")
        p = index[idx]
        for name, v in entry.items():
            if v is None or isinstance(v, (int, float)) and not isinstance(v, bool):
                continue
            if not isinstance(v, Tensor):
                raise bad(f"{key}.state[{idx}].{name} must be a tensor, got {type(v).__name__}")
            if name == "step":
                if v.numel() != 1 or not v.is_floating_point() and v.dtype not in (torch.int64, torch.int32):
                    raise bad(f"{key}.state[{idx}].step must be a scalar number, got {_describe(v)}")
            elif v.dtype != p.dtype or tuple(v.shape) != tuple(p.shape):
                raise bad(f"{key}.state[{idx}].{name} is {_describe(v)}; its parameter is {_describe(p)}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise bad(f"{key}.state[{idx}].{name} holds NaN or infinite values")


class _StepUndo:
    """What one step may change, copied before the step and put back if the step fails.

    Tensors (weights, architecture parameters, every model buffer -- BatchNorm running statistics included -- and
    the tensors of both optimizers' states) are copied with one ``torch._foreach_copy_`` into buffers allocated
    once (again only when the optimizers' state tensors change, e.g. after the first step); the rest is small:
    which parameters have optimizer state, the param groups' hyper-parameters, the searcher's generator, torch's
    global RNG and the positions of both data streams. A step that raises is undone completely, whatever it had
    already applied (the weight update of a ``weight_first`` method, running statistics updated by a NaN batch).
    """

    def __init__(self, searcher: Searcher) -> None:
        self.s = searcher
        self._fixed = [*searcher._weights, *searcher.arch_params,
                       *(b for b in searcher.model.buffers())]  # identity never changes (load_state_dict copies)
        self._ids: list[int] = []
        self._by_device: dict[torch.device, tuple[list[Tensor], list[Tensor]]] = {}  # device -> (live, copies)
        self._opt_state: list[tuple[torch.optim.Optimizer, dict[Any, dict[str, Any]]]] = []
        self._groups: list[list[dict[str, Any]]] = []
        self._rest: tuple[Any, ...] = ()

    def _optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return self.s.optimizer, self.s.arch_optimizer

    def save(self) -> None:
        s = self.s
        live = list(self._fixed)
        self._opt_state = []
        for opt in self._optimizers():
            snap: dict[Any, dict[str, Any]] = {}
            for p, st in opt.state.items():
                entry = {}
                for k, v in st.items():
                    if isinstance(v, Tensor):
                        live.append(v)
                        entry[k] = v  # the live tensor itself: its value comes back from the copy
                    else:
                        entry[k] = _clone_state(v)
                snap[p] = entry
            self._opt_state.append((opt, snap))
        ids = [id(t) for t in live]
        if ids != self._ids:  # first use, or the optimizers created / replaced state tensors
            self._ids = ids
            self._by_device = {}
            for t in live:  # foreach kernels want one device per list (Adam's step counters stay on the CPU)
                pair = self._by_device.setdefault(t.device, ([], []))
                pair[0].append(t.detach())
                pair[1].append(t.detach().clone())
        else:
            with torch.no_grad():
                for lives, copies in self._by_device.values():
                    torch._foreach_copy_(copies, lives)
        self._groups = [[{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
                        for opt in self._optimizers()]
        cuda = torch.cuda.get_rng_state_all() if s.device.type == "cuda" else None
        self._rest = (s.generator.get_state(), torch.get_rng_state(), cuda, s.train_stream.mark(),
                      s.val_stream.mark(), s.model.training)

    def restore(self) -> None:
        s = self.s
        with torch.no_grad():
            for lives, copies in self._by_device.values():
                torch._foreach_copy_(lives, copies)
        for opt, snap in self._opt_state:
            for p in [p for p in opt.state if p not in snap]:
                del opt.state[p]  # state the failed step created (the first step's momentum buffers)
            for p, entry in snap.items():
                opt.state[p] = dict(entry)
        for opt, groups in zip(self._optimizers(), self._groups, strict=True):
            for g, saved in zip(opt.param_groups, groups, strict=True):
                g.update(saved)
            opt.zero_grad(set_to_none=True)
        for p in s.arch_params:
            p.grad = None
        gen, rng, cuda, train_mark, val_mark, training = self._rest
        s.generator.set_state(gen)
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        s.train_stream.reset(train_mark)
        s.val_stream.reset(val_mark)
        s.model.train(training)


def _clone_state(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_state(v) for v in obj)
    return obj

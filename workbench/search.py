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

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench import validate as V
from workbench.config import SearchConfig, _check_device_available, _space_provenance
from workbench.cuda_graphs import StepGraphs
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
from workbench.methods import Method, get_method
from workbench.methods.context import StepContext
from workbench.search_state import SearchState, _StepUndo
from workbench.spaces import SearchSpace, get_space
from workbench.step_values import StepOutputs, StepValues
from workbench.tasks import Task, load_dataset
from workbench.tasks.data import BatchStream, eval_batches, search_split

log = logging.getLogger(__name__)
__all__ = ["NonFiniteLossError", "SearchConfig", "Searcher"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the step was not applied."""


class Searcher(SearchState):
    """Runs a differentiable architecture search one step at a time."""

    def __init__(self, config: SearchConfig | None = None, *, dataset: Any = None, task: Task | None = None,
                 space: SearchSpace | None = None, method: Method | None = None, bus: EventBus | None = None) -> None:
        config = SearchConfig() if config is None else config
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
        try:
            net_cfg = space.supernet_config(config.supernet, **dict(self.method.supernet_settings))
            self.model = space.build_supernet(task.info, net_cfg).to(self.device)
        except (ValueError, TypeError) as exc:
            if self.method.spaces and space.name not in self.method.spaces:
                raise ConfigError(f"method {self.method.name!r} is built for the space(s) "
                                  f"{', '.join(self.method.spaces)}, not {space.name!r}: {exc}") from exc
            raise
        (xw, yw), (xa, ya) = search_split(self.dataset, config.train_portion)
        self.train_stream = BatchStream(xw, yw, config.batch_size, seed=config.seed * 1000 + 1, device=self.device)
        self.val_stream = BatchStream(xa, ya, config.batch_size, seed=config.seed * 1000 + 2, device=self.device)
        self.val_data = (xa.to(self.device), ya.to(self.device))
        # parameter lists never change after construction: look them up once (walking the module tree is slow)
        self.arch_params = list(self.method.arch_parameters(self.model) if self.method.arch_parameters
                                else self.model.arch_parameters())
        self.method = self.method.for_model(self.model)  # a decoding rule that needs the supernet (a budget's table)
        arch_ids = {id(p) for p in self.arch_params}
        self._named_weights = [(n, p) for n, p in self.model.named_parameters() if id(p) not in arch_ids]
        self._weights = [p for _, p in self._named_weights]
        self.optimizer = self.method.weight_optimizer(self._weights, config)  # momentum SGD unless the method says
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
        self._graphs: StepGraphs | None = None
        if self.device.type == "cuda":
            if config.deterministic:
                _cuda_deterministic()
            if config.cuda_graphs:
                self._graphs = StepGraphs(self)

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
        rule = self.method.genotype_rule
        assert not isinstance(rule, Mapping)  # Method.for_space resolved a per-space rule to a name
        return self.space.decode(self.probabilities(), self.masks(), rule)

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
        events: list[StepEnded] = []
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
        """The step's two updates; returns the (not yet emitted) StepEnded.

        The updates run without reading anything back (:meth:`_device_updates`); their values come to the host
        in one read (:class:`~workbench.step_values.StepOutputs`), which is also where a non-finite loss or
        gradient is found and the step refused. On CUDA the updates may be a replayed graph
        (:mod:`workbench.cuda_graphs`).
        """
        cfg = self.config
        lr = self.lr(epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        if self.method.weight_decay is not None:  # method slot (RobustDARTS L2); else leave the groups' value
            self.set_weight_decay(self.method.weight_decay(epoch, cfg.epochs, cfg.weight_decay))
        if not self.model.training:
            self.model.train()
        ctx = self.context(True, self.train_stream.next(), self.val_stream.next(), lr)
        values = self._graphs.run(ctx) if self._graphs is not None else None
        if values is None:
            outs = StepOutputs()
            try:
                self._device_updates(ctx, outs)
            except NonFiniteLossError:
                raise
            except Exception as exc:  # an error caused by a non-finite value computed earlier: report that
                self._raise_if_failed(_read_partial(outs), exc)
                raise
            values = outs.read()
        self._raise_if_failed(values)
        alphas = values.arrays_of("alpha") if values.arrays else self.alphas()
        probs = values.arrays_of("prob") if values.arrays else self.probabilities()
        return StepEnded(self.step_count + 1, epoch, values.scalars["train_loss"], values.scalars["val_loss"],
                         values.group("train"), values.group("val"), lr,
                         self.arch_optimizer.param_groups[0]["lr"], alphas, probs,
                         time.perf_counter() - t0, values.group("extra"))

    def _device_updates(self, ctx: StepContext, outs: StepOutputs) -> None:
        """Both updates, in the method's order, recording their values in ``outs``; reads nothing back."""
        if self.method.order == "weight_first":
            self._weight_step(ctx, outs)
            self._arch_step(ctx, outs)
        else:
            self._arch_step(ctx, outs)
            self._weight_step(ctx, outs)
        if self.device.type != "cpu":  # the event's snapshots travel in the step's one read
            with torch.no_grad():
                for g in self.groups:
                    outs.array(f"alpha/{g}", self.model.alphas[g])
                    outs.array(f"prob/{g}", self.model.probabilities(g))

    def _raise_if_failed(self, values: StepValues | None, cause: BaseException | None = None) -> None:
        if values is None or values.failure is None:
            return
        kind, label, value = values.failure
        hint = (f"the step was not applied and the search is left at its last good state. Lower the learning "
                f"rates (lr={self.config.lr}, arch_lr={self.config.arch_lr}) or check the data.")
        where = f"at step {self.step_count + 1} (epoch {self.epoch})"
        if kind == "grad":
            raise NonFiniteLossError(f"{label} is not finite {where}; {hint}") from cause
        raise NonFiniteLossError(f"{label} loss is {value} {where}; {hint[0].upper()}{hint[1:]}") from cause

    def _arch_step(self, ctx: StepContext, outs: StepOutputs) -> None:
        assert ctx.batch_v is not None
        xv, yv = ctx.batch_v
        if self.method.arch_gradient is None or ctx.epoch < self.method.arch_start_epoch:
            # fixed architecture (DARTS-PT "blank") or warm-up: weights only, still report validation metrics
            with torch.no_grad():
                out = self.model(xv, *ctx.mixing_weights())
                loss = self.objective.loss(out, yv)
            outs.loss("val_loss", loss, "validation")
            outs.metrics("val", self.objective.metrics(out, yv))
            return
        res = self.method.arch_gradient(ctx)
        outs.loss("val_loss", res.val_loss, "validation (architecture step)")
        grads = list(res.grads)
        for k, v in res.extras.items():
            outs.scalar(f"extra/{k}", v)
        for term in self.method.arch_loss_terms:
            value = term(ctx)
            outs.loss(f"extra/{term.name}", value, f"architecture term {term.name!r}")
            tg = torch.autograd.grad(value, self.arch_params, allow_unused=True)
            grads = [g if t is None else g + t for g, t in zip(grads, tg, strict=True)]
        outs.finite(grads, "architecture gradient")
        for g, p in zip(grads, self.arch_params, strict=True):
            p.grad = g.detach().clone()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        outs.metrics("val", self.objective.metrics(res.val_output, yv))

    def _weight_step(self, ctx: StepContext, outs: StepOutputs) -> None:
        assert ctx.batch_t is not None
        x, y = ctx.batch_t
        with torch.no_grad():
            w, active = ctx.mixing_weights()
        w = {c: t.detach() for c, t in w.items()}
        if self.method.perturbation is not None:
            w = self.method.perturbation(ctx, w, active)
        if not self.method.trains_weights:  # nothing to train: the batch is evaluated for the curves only
            with torch.no_grad():
                out = self.model(x, w, active)
                outs.loss("train_loss", self.objective.loss(out, y), "training")
            outs.metrics("train", self.objective.metrics(out, y))
            return
        out = self.model(x, w, active)
        loss = self.objective.loss(out, y)
        outs.loss("train_loss", loss, "training")
        for term in self.method.weight_loss_terms:
            loss = loss + term(ctx, out, ctx.batch_t)
        if self.method.weight_loss_terms:
            outs.loss("check/train_total", loss, "training (with the method's weight-loss terms)")
        params = self._weights
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        outs.metrics("train", self.objective.metrics(out.detach(), y))

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
        if y is None:
            raise TypeError("Searcher.evaluate(x, y): give the targets y with the examples x")
        was = self.model.training
        self.model.eval()
        w, a = self.mixing_weights(training=False)
        outs, n = [], 0  # per batch: (size, loss, metrics) as tensors; read once at the end (one sync)
        for xb, yb in eval_batches(x, y, batch_size):
            xb, yb = xb.to(self.device), yb.to(self.device)
            out = self.model(xb, w, a)
            outs.append((len(yb), self.objective.loss(out, yb), self.objective.metrics(out, yb)))
            n += len(yb)
        self.model.train(was)
        names = self.objective.metric_names
        rows = [[float(v) if not isinstance(v, Tensor) else v.detach().double().reshape(())
                 for v in (loss, *(m[k] for k in names))] for _, loss, m in outs]
        values = (torch.stack([torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.device)
                                            for v in row]) for row in rows]).cpu().tolist() if rows else [])
        sums = [0.0] * (1 + len(names))
        for (b, _, _), row in zip(outs, values, strict=True):
            for i, v in enumerate(row):
                sums[i] += v * b
        n = max(n, 1)
        return sums[0] / n, {k: sums[1 + i] / n for i, k in enumerate(names)}



def _read_partial(outs: StepOutputs) -> StepValues | None:
    try:
        return outs.read()
    except Exception:  # the values themselves are unreadable: the caller reports the original error
        return None


def _cuda_deterministic() -> None:
    """``SearchConfig.deterministic`` on CUDA: deterministic kernels wherever PyTorch has them.

    Sets process-wide switches (PyTorch has no per-model ones): cuDNN's deterministic algorithms without
    autotuning, ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an op without a deterministic CUDA
    kernel warns instead of failing) and cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which
    cuBLAS reads when its handle is created: set it before the first CUDA matrix product for it to apply).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)

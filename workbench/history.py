"""History: the recorded course of a search, the model every view reads.

An observer of the event bus that appends each step's losses, metrics (by
name: ``train_accuracy``, ``val_mse``, ...), architecture logits and
probabilities per choice group to growing numpy buffers (amortised O(1) per
step, never a quadratic ``torch.cat``), plus the per-epoch architectures,
option-mask changes and analysis results. Any recorded step can be shown
again: ``genotype_at(step)`` re-decodes the architecture from the
probabilities and option masks of that step with the space's rule, so a time
scrubber needs nothing but a History, live or reloaded from a run folder.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.events import (
    AnalysisResult,
    EpochEnded,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)

if TYPE_CHECKING:  # pragma: no cover  (a History needs only the space's choice groups: reading one needs no torch)
    from workbench.spaces import SearchSpace

SCALARS = ("epoch", "train_loss", "val_loss", "lr", "arch_lr", "seconds")


class _Growing:
    """An append-only array with doubling capacity."""

    def __init__(self, shape: tuple[int, ...] = (), dtype=np.float64) -> None:
        self._buf = np.zeros((16, *shape), dtype)
        self.n = 0

    def append(self, value: Any) -> None:
        if self.n == len(self._buf):
            self._buf = np.concatenate([self._buf, np.zeros_like(self._buf)])
        self._buf[self.n] = value
        self.n += 1

    def view(self) -> np.ndarray:
        return self._buf[: self.n]


@dataclass
class EpochRecord:
    epoch: int
    step: int
    genotype: Any
    val_loss: float | None
    val_metrics: Mapping[str, float] | None


class History:
    """Records StepEnded / EpochEnded / OpMaskChanged / AnalysisResult events of one search."""

    def __init__(self, space: SearchSpace, genotype_rule: str | None = None, metrics: tuple[str, ...] = (),
                 primary_metric: str | None = None) -> None:
        self.space = space
        self.genotype_rule = genotype_rule
        self.groups = space.choice_groups()
        self.group_names = tuple(g.name for g in self.groups)
        self._steps = _Growing(dtype=np.int64)
        self._scalars = {k: _Growing() for k in SCALARS}
        self._alphas = {g.name: _Growing(g.shape, np.float32) for g in self.groups}
        self._weights = {g.name: _Growing(g.shape, np.float32) for g in self.groups}
        self._metrics: dict[str, _Growing] = {}
        self._primary = primary_metric
        self._declare_metrics(metrics)
        self._extras: dict[str, _Growing] = {}
        self.epochs: list[EpochRecord] = []
        self.mask_changes: list[OpMaskChanged] = []
        self.analysis: list[AnalysisResult] = []
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None
        # masks in force at step 0; changes are replayed from mask_changes
        self.initial_masks = {g.name: g.allowed_matrix() for g in self.groups}

    @classmethod
    def attach(cls, searcher: Any) -> History:
        """A History subscribed to ``searcher.bus`` (starting from the searcher's current masks)."""
        h = cls(searcher.space, searcher.method.genotype_rule, searcher.objective.metric_names,
                searcher.objective.primary)
        h.initial_masks = searcher.masks()
        searcher.bus.subscribe(h)
        return h

    # -- recording ----------------------------------------------------------------------------
    def check_step(self, event: StepEnded) -> None:
        """Raise ValueError if ``event`` cannot be recorded (wrong array shapes, non-numeric values).

        :meth:`__call__` checks first and appends after, so a bad event never leaves the series of unequal
        lengths (a run folder's corrupt line is skipped whole, see :func:`workbench.runs.load_run`).
        """
        def number(name: str, v: Any) -> None:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"step {event.step!r}: {name}={v!r} is not a number")

        if isinstance(event.step, (bool, np.bool_)) or not isinstance(event.step, (int, np.integer)):
            raise ValueError(f"step {event.step!r} is not an integer")
        for k in SCALARS:
            number(k, getattr(event, k))
        for what in ("alphas", "weights"):
            arrays = getattr(event, what)
            for g in self.groups:
                a = arrays.get(g.name) if isinstance(arrays, Mapping) else None
                if a is None or np.shape(a) != tuple(g.shape):
                    raise ValueError(f"step {event.step}: {what}[{g.name!r}] has shape "
                                     f"{None if a is None else np.shape(a)}, the space's group has {tuple(g.shape)}")
        for what in ("train_metrics", "val_metrics", "extras"):
            values = getattr(event, what)
            if not isinstance(values, Mapping):
                raise ValueError(f"step {event.step}: {what} is not a mapping")
            for k, v in values.items():
                number(f"{what}[{k!r}]", v)

    def __call__(self, event: Any) -> None:
        if isinstance(event, StepEnded):
            self.check_step(event)
            self._steps.append(event.step)
            for k in SCALARS:
                self._scalars[k].append(getattr(event, k))
            for c in self.group_names:
                self._alphas[c].append(event.alphas[c])
                self._weights[c].append(event.weights[c])
            values = {f"{split}_{k}": v for split, m in (("train", event.train_metrics), ("val", event.val_metrics))
                      for k, v in m.items()}
            self._append_named(self._metrics, values)
            self._append_named(self._extras, event.extras)
        elif isinstance(event, EpochEnded):
            self.epochs.append(EpochRecord(event.epoch, event.step, event.genotype, event.val_loss,
                                           event.val_metrics))
        elif isinstance(event, OpMaskChanged):
            self.mask_changes.append(event)
        elif isinstance(event, AnalysisResult):
            self.analysis.append(event)
        elif isinstance(event, RunStarted):
            if self.started is None:
                self.started = event
                self._primary = event.primary_metric
                self._declare_metrics(event.metrics)
            if event.resumed:  # a rollback or a resume from an earlier checkpoint: forget the undone steps
                self.truncate(event.step)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.failed = event

    def _declare_metrics(self, names: tuple[str, ...]) -> None:
        """Create the (empty, NaN-filled to the current length) series of the task's metrics."""
        self._append_named(self._metrics, {}, declare=[f"{s}_{m}" for m in names for s in ("train", "val")])

    def _append_named(self, series: dict[str, _Growing], values: Mapping[str, float],
                      declare: list[str] | tuple[str, ...] = ()) -> None:
        """Append one value per named series (a series first seen now is back-filled with NaN); with
        ``declare``, only create those series, filled to the current length."""
        for k in [*values, *declare]:
            if k not in series:
                g = _Growing()
                for _ in range(self._steps.n - (0 if declare else 1)):
                    g.append(np.nan)
                series[k] = g
        if declare:
            return
        for k, g in series.items():
            g.append(values.get(k, np.nan))

    def truncate(self, step: int) -> None:
        """Drop everything recorded after ``step`` (steps > step; mask changes made at or after it)."""
        keep = int(np.searchsorted(self.steps, step, side="right"))
        for g in [self._steps, *self._scalars.values(), *self._alphas.values(), *self._weights.values(),
                  *self._metrics.values(), *self._extras.values()]:
            g.n = min(g.n, keep)
        self.epochs = [e for e in self.epochs if e.step <= step]
        self.mask_changes = [m for m in self.mask_changes if m.step < step]
        # an early-stopping trigger is what caused the rollback: keep it so views can mark it
        self.analysis = [a for a in self.analysis if a.step <= step or a.kind == "early_stop"]
        self.finished = None
        self.failed = None

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._steps.n

    @property
    def steps(self) -> np.ndarray:
        return self._steps.view()

    def scalar(self, name: str) -> np.ndarray:
        """A per-step series: a scalar (``train_loss``, ``lr``, ...), a metric (``val_accuracy``) or an extra."""
        for series in (self._scalars, self._metrics, self._extras):
            if name in series:
                return series[name].view()
        known = list(self._scalars) + list(self._metrics) + list(self._extras)
        raise KeyError(f"unknown series {name!r}; recorded: {', '.join(known)}")

    @property
    def metrics(self) -> list[str]:
        """Recorded metric series, ``train_<name>`` and ``val_<name>``."""
        return list(self._metrics)

    @property
    def primary_metric(self) -> str | None:
        """The task's headline metric (from RunStarted), e.g. ``accuracy``; None before a run started."""
        return self._primary

    @property
    def extras(self) -> list[str]:
        return list(self._extras)

    def alphas(self, group: str) -> np.ndarray:
        """(steps, rows, options) architecture logits after each step."""
        return self._alphas[group].view()

    def weights(self, group: str) -> np.ndarray:
        """(steps, rows, options) probabilities (softmax(alpha) over the enabled options) at each step."""
        return self._weights[group].view()

    def index_of(self, step: int) -> int:
        """Row of a recorded step (1-based step numbers; the last row at or before ``step``)."""
        steps = self.steps
        if not len(steps):
            raise IndexError("no step recorded yet")
        i = int(np.searchsorted(steps, step, side="right")) - 1
        if i < 0:
            raise IndexError(f"step {step} is before the first recorded step {int(steps[0])}")
        return i

    def masks_at(self, step: int) -> dict[str, np.ndarray]:
        masks = {c: m.copy() for c, m in self.initial_masks.items()}
        options = {g.name: g.options for g in self.groups}
        for ch in self.mask_changes:
            if ch.step >= step:  # a change made after step s takes effect from step s+1
                break
            masks[ch.group][list(ch.rows), options[ch.group].index(ch.op)] = ch.enabled
        return masks

    def weights_at(self, step: int) -> dict[str, np.ndarray]:
        i = self.index_of(step)
        return {c: self.weights(c)[i] for c in self.group_names}

    def genotype_at(self, step: int) -> Any:
        """The architecture decoded from the probabilities recorded at ``step``."""
        return self.space.decode(self.weights_at(step), self.masks_at(step), self.genotype_rule)

    def genotype_changes(self) -> list[tuple[int, Any]]:
        """(step, architecture) each time the decoded architecture changed."""
        out: list[tuple[int, Any]] = []
        for s in self.steps:
            g = self.genotype_at(int(s))
            if not out or out[-1][1] != g:
                out.append((int(s), g))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All per-step arrays by name (for npz export)."""
        d = {"step": self.steps.copy()}
        d.update({k: self.scalar(k).copy() for k in SCALARS})
        d.update({f"metric/{k}": g.view().copy() for k, g in self._metrics.items()})
        d.update({f"extra/{k}": g.view().copy() for k, g in self._extras.items()})
        for c in self.group_names:
            d[f"alphas/{c}"] = self.alphas(c).copy()
            d[f"weights/{c}"] = self.weights(c).copy()
        return d

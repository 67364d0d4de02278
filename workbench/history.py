"""History: the recorded course of a search, the model every view reads.

An observer of the event bus that appends each step's metrics, alphas and
mixing weights to growing numpy buffers (amortised O(1) per step, never a
quadratic ``torch.cat``), plus the per-epoch genotypes, op-mask changes and
analysis results. Any recorded step can be shown again: ``genotype_at(step)``
re-derives the genotype from the weights and op masks of that step, so a time
scrubber needs nothing but a History, live or reloaded from a run folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .events import (
    AnalysisResult,
    EpochEnded,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)
from .genotype import Genotype
from .select import derive_genotype
from .spaces import SearchSpace

SCALARS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "arch_lr", "seconds")


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
    genotype: Genotype
    val_loss: float | None
    val_acc: float | None


class History:
    """Records StepEnded / EpochEnded / OpMaskChanged / AnalysisResult events of one search."""

    def __init__(self, space: SearchSpace, genotype_rule: str | None = None) -> None:
        self.space = space
        self.genotype_rule = genotype_rule
        shape = (space.n_edges, len(space.ops))
        self._steps = _Growing(dtype=np.int64)
        self._scalars = {k: _Growing() for k in SCALARS}
        self._alphas = {c: _Growing(shape, np.float32) for c in space.cell_types}
        self._weights = {c: _Growing(shape, np.float32) for c in space.cell_types}
        self._extras: dict[str, _Growing] = {}
        self.epochs: list[EpochRecord] = []
        self.mask_changes: list[OpMaskChanged] = []
        self.analysis: list[AnalysisResult] = []
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None
        # masks in force at step 0; changes are replayed from mask_changes
        self.initial_masks = {c: np.array([[space.op_allowed(c, k, o) for o in space.ops]
                                           for k in range(space.n_edges)]) for c in space.cell_types}

    @classmethod
    def attach(cls, searcher: Any) -> History:
        """A History subscribed to ``searcher.bus`` (starting from the searcher's current masks)."""
        h = cls(searcher.space, searcher.method.genotype_rule)
        h.initial_masks = searcher.masks()
        searcher.bus.subscribe(h)
        return h

    # -- recording ----------------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        if isinstance(event, StepEnded):
            self._steps.append(event.step)
            for k in SCALARS:
                self._scalars[k].append(getattr(event, k))
            for c in self.space.cell_types:
                self._alphas[c].append(event.alphas[c])
                self._weights[c].append(event.weights[c])
            for k in event.extras:
                if k not in self._extras:
                    g = _Growing()
                    for _ in range(self._steps.n - 1):
                        g.append(np.nan)
                    self._extras[k] = g
            for k, g in self._extras.items():
                g.append(event.extras.get(k, np.nan))
        elif isinstance(event, EpochEnded):
            self.epochs.append(EpochRecord(event.epoch, event.step, event.genotype, event.val_loss, event.val_acc))
        elif isinstance(event, OpMaskChanged):
            self.mask_changes.append(event)
        elif isinstance(event, AnalysisResult):
            self.analysis.append(event)
        elif isinstance(event, RunStarted):
            if self.started is None:
                self.started = event
            if event.resumed:  # a rollback or a resume from an earlier checkpoint: forget the undone steps
                self.truncate(event.step)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.failed = event

    def truncate(self, step: int) -> None:
        """Drop everything recorded after ``step`` (steps > step; mask changes made at or after it)."""
        keep = int(np.searchsorted(self.steps, step, side="right"))
        for g in [self._steps, *self._scalars.values(), *self._alphas.values(), *self._weights.values(),
                  *self._extras.values()]:
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
        if name in self._scalars:
            return self._scalars[name].view()
        if name in self._extras:
            return self._extras[name].view()
        raise KeyError(f"unknown metric {name!r}; recorded: {', '.join(list(self._scalars) + list(self._extras))}")

    @property
    def extras(self) -> list[str]:
        return list(self._extras)

    def alphas(self, cell_type: str) -> np.ndarray:
        """(steps, edges, ops) architecture logits after each step."""
        return self._alphas[cell_type].view()

    def weights(self, cell_type: str) -> np.ndarray:
        """(steps, edges, ops) softmax(alpha) over the ops enabled at each step."""
        return self._weights[cell_type].view()

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
        o = {name: i for i, name in enumerate(self.space.ops)}
        for ch in self.mask_changes:
            if ch.step >= step:  # a change made after step s takes effect from step s+1
                break
            masks[ch.cell_type][list(ch.edges), o[ch.op]] = ch.enabled
        return masks

    def weights_at(self, step: int) -> dict[str, np.ndarray]:
        i = self.index_of(step)
        return {c: self.weights(c)[i] for c in self.space.cell_types}

    def genotype_at(self, step: int) -> Genotype:
        """The genotype derived from the weights recorded at ``step``."""
        return derive_genotype(self.space, self.weights_at(step), self.masks_at(step), self.genotype_rule)

    def genotype_changes(self) -> list[tuple[int, Genotype]]:
        """(step, genotype) each time the derived genotype changed."""
        out: list[tuple[int, Genotype]] = []
        for s in self.steps:
            g = self.genotype_at(int(s))
            if not out or out[-1][1] != g:
                out.append((int(s), g))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All per-step arrays by name (for npz export)."""
        d = {"step": self.steps.copy()}
        d.update({k: self.scalar(k).copy() for k in SCALARS})
        d.update({f"extra/{k}": g.view().copy() for k, g in self._extras.items()})
        for c in self.space.cell_types:
            d[f"alphas/{c}"] = self.alphas(c).copy()
            d[f"weights/{c}"] = self.weights(c).copy()
        return d

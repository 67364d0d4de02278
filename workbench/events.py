"""Typed search events and the bus that delivers them to observers.

The engine emits frozen dataclasses at fixed points of a search; observers
(the run store, widgets, progress bars, tests) subscribe to a bus. An observer
that raises is logged and isolated: it never stops the search (unless the bus
is ``strict``, which tests use). Events carry detached CPU copies (numpy
arrays), never live tensors, so an observer cannot change the search.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from workbench.spaces.base import ChoiceGroup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStarted:
    """A search is about to take its first step (also emitted on resume)."""

    step: int
    total_steps: int
    steps_per_epoch: int
    space: str
    method: str
    groups: tuple[ChoiceGroup, ...]  # what the space chooses: rows x options per group, with labels
    objective: str
    metrics: tuple[str, ...]  # metric names every StepEnded / EpochEnded carries
    primary_metric: str
    higher_is_better: bool
    config: Mapping[str, Any]
    resumed: bool = False


@dataclass(frozen=True)
class StepEnded:
    """One architecture update and one weight update are done.

    ``alphas`` maps each choice group to its (rows, options) logits and
    ``weights`` to the probabilities architectures are decoded from (softmax
    over enabled options for DARTS). ``train_metrics`` / ``val_metrics`` hold
    the task's metrics by name (e.g. ``{"accuracy": 0.93}``).
    """

    step: int  # 1-based count of completed steps
    epoch: int  # 0-based epoch the step belongs to
    train_loss: float
    val_loss: float
    train_metrics: Mapping[str, float]
    val_metrics: Mapping[str, float]
    lr: float
    arch_lr: float
    alphas: Mapping[str, np.ndarray]
    weights: Mapping[str, np.ndarray]
    seconds: float
    extras: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnded:
    """The last step of an epoch is done; the architecture decoded at that point (``genotype``) and, when the
    search evaluates each epoch, the supernet's loss and metrics on the architecture half."""

    epoch: int
    step: int
    genotype: Any
    val_loss: float | None = None
    val_metrics: Mapping[str, float] | None = None


@dataclass(frozen=True)
class OpMaskChanged:
    """Candidate options were switched on or off (op swapper) in some rows of a choice group."""

    step: int
    group: str
    op: str
    rows: tuple[int, ...]
    enabled: bool


@dataclass(frozen=True)
class AnalysisResult:
    """A measurement taken during or after a search (sharpness, gap, ...)."""

    step: int
    kind: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RunFinished:
    step: int
    genotype: Any


@dataclass(frozen=True)
class RunFailed:
    step: int
    error: str
    error_type: str


Event = RunStarted | StepEnded | EpochEnded | OpMaskChanged | AnalysisResult | RunFinished | RunFailed
Observer = Callable[[Any], None]


class EventBus:
    """Delivers events to subscribers, isolating their failures."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._subs: list[tuple[Observer, tuple[type, ...]]] = []

    def subscribe(self, fn: Observer, kinds: tuple[type, ...] = ()) -> Callable[[], None]:
        """Call ``fn(event)`` for every event (or only those of ``kinds``); returns an unsubscribe function."""
        entry = (fn, tuple(kinds))
        self._subs.append(entry)

        def unsubscribe() -> None:
            if entry in self._subs:
                self._subs.remove(entry)

        return unsubscribe

    def wants(self, kind: type) -> bool:
        return any(not kinds or kind in kinds for _, kinds in self._subs)

    def emit(self, event: Any) -> None:
        for fn, kinds in list(self._subs):
            if kinds and not isinstance(event, kinds):
                continue
            try:
                fn(event)
            except Exception:
                if self.strict:
                    raise
                log.exception("observer %r failed on %s; the search continues", fn, type(event).__name__)

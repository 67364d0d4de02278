"""Objectives: a task's loss and its named metrics.

An :class:`Objective` is the one place where the engine learns what "good"
means for a task. The search loop, the events, History, the run store, the
CLI summary, the report and ``compare`` only ever see ``objective.loss`` and
the metric names it declares; nothing else in the engine names a particular
loss or metric.

* ``cross_entropy`` -- multi-class classification (DARTS and every image task):
  mean cross-entropy of logits (N, K) against integer labels (N,); metric
  ``accuracy`` (top-1).
* ``mse`` -- regression (ratings in DNIS, points in the custom-task example):
  mean squared error of predictions against targets of the same shape;
  metrics ``mse`` and ``mae`` (no RMSE: the root of a mean does not combine
  over batches; take the root of ``mse``).
* ``log_loss`` -- binary prediction (CTR in DNIS): mean binary cross-entropy of
  logits against {0, 1} targets; metrics ``accuracy`` (threshold 0.5) and
  ``log_loss``.

Every metric is a *per-example mean* so that batches combine by a weighted
mean (``Searcher.evaluate``); metrics that do not decompose (AUC, R^2) belong
in analyses, not here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from workbench.registry import Registry

LossFn = Callable[[Tensor, Tensor], Tensor]
MetricsFn = Callable[[Tensor, Tensor], Mapping[str, Tensor]]


@dataclass(frozen=True)
class Objective:
    """A differentiable loss plus named per-example-mean metrics.

    ``metrics(output, target)`` returns 0-d tensors (no host sync); ``primary``
    names the metric that summaries lead with and ``higher_is_better`` says
    which way it improves.
    """

    name: str
    loss: LossFn
    metrics: MetricsFn
    metric_names: tuple[str, ...]
    primary: str
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.primary not in self.metric_names:
            raise ValueError(f"objective {self.name!r}: primary metric {self.primary!r} is not one of its "
                             f"metrics {self.metric_names}")

    def evaluate(self, output: Tensor, target: Tensor) -> dict[str, float]:
        """Metrics of one batch as floats (one host sync)."""
        values = self.metrics(output, target)
        return {k: float(v) for k, v in values.items()}


def _accuracy(logits: Tensor, y: Tensor) -> dict[str, Tensor]:
    return {"accuracy": (logits.argmax(1) == y).float().mean()}


def _regression(pred: Tensor, y: Tensor) -> dict[str, Tensor]:
    pred = pred.reshape(y.shape)
    d = (pred - y).float()
    return {"mse": (d * d).mean(), "mae": d.abs().mean()}


def _mse(pred: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(pred.reshape(y.shape), y)


def _log_loss(logit: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logit.reshape(y.shape), y.float())


def _binary(logit: Tensor, y: Tensor) -> dict[str, Tensor]:
    logit = logit.reshape(y.shape)
    return {"accuracy": ((logit > 0) == (y > 0.5)).float().mean(),
            "log_loss": F.binary_cross_entropy_with_logits(logit, y.float())}


OBJECTIVES: Registry[Objective] = Registry("objective")
OBJECTIVES.register("cross_entropy", Objective("cross_entropy", F.cross_entropy, _accuracy, ("accuracy",),
                                               "accuracy", True))
OBJECTIVES.register("mse", Objective("mse", _mse, _regression, ("mse", "mae"), "mse", False))
OBJECTIVES.register("log_loss", Objective("log_loss", _log_loss, _binary, ("accuracy", "log_loss"), "accuracy",
                                          True))


def get_objective(name: str | Objective) -> Objective:
    """An objective by registered name (or pass an :class:`Objective` through)."""
    return name if isinstance(name, Objective) else OBJECTIVES.get(name)


def objective_names() -> list[str]:
    return OBJECTIVES.names()

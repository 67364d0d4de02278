"""The task's metrics by name: which one heads the views, how each is labelled and formatted.

A task reports its own metrics (classification: ``accuracy``; the MSE
regression task: ``mse`` and ``mae``); the History records them as
``train_<name>`` / ``val_<name>`` series and names the headline one
(``primary_metric``). Accuracy is a fraction shown in percent; every other
metric is shown as a plain number.
"""
from __future__ import annotations

import numpy as np

from workbench.history import History

__all__ = ["primary_metric", "is_fraction", "metric_label", "fmt_metric", "d3_format", "series"]


def primary_metric(history: History) -> str:
    """The headline metric: the run's (from RunStarted), else the first recorded one, else ``accuracy``."""
    if history.primary_metric:
        return history.primary_metric
    for name in history.metrics:
        for split in ("train_", "val_"):
            if name.startswith(split):
                return name[len(split):]
    return "accuracy"


def is_fraction(metric: str) -> bool:
    """Metrics stored as fractions in [0, 1] and shown in percent."""
    return metric == "accuracy"


def metric_label(metric: str) -> str:
    """A short label: ``acc`` for accuracy, the name otherwise."""
    return "acc" if metric == "accuracy" else metric


def fmt_metric(metric: str, value: float | None, digits: int = 4) -> str:
    """``93.1%`` for accuracy, ``0.01234`` for anything else; "–" when missing."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.1%}" if is_fraction(metric) else f"{value:.{digits}g}"


def d3_format(metric: str) -> str:
    """The plotly (d3) number format of a metric's values in hover text."""
    return ".1%" if is_fraction(metric) else ".4g"


def series(history: History, name: str) -> np.ndarray:
    """A recorded per-step series, or NaN for every step when it was never recorded (a metric the task lacks)."""
    try:
        return history.scalar(name)
    except KeyError:
        return np.full(len(history), np.nan)

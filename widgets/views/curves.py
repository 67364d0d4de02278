"""Live training curves: train/val loss, the task's headline metric, the per-epoch supernet value and the lr.

The figure is :func:`widgets.figures.metric_curves.loss_curves`, updated in
place: per-batch values faint, EMA-smoothed lines bold (extended
incrementally, not recomputed), curves decimated to ``max_points``. The
metric is the task's (accuracy in percent, e.g. ``mse`` as a number).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from widgets.figures.metric_curves import boundary_shapes, loss_curves
from widgets.figures.style import decimate, epoch_boundaries
from widgets.metrics import primary_metric, series
from widgets.views.base import LiveView, figure_widget

__all__ = ["CurvesView"]


class _EMA:
    """Debiased exponential moving average, extended incrementally (the smoothing of ``loss_curves``)."""

    def __init__(self, alpha: float) -> None:
        self.alpha, self.m, self.norm, self.out = alpha, 0.0, 0.0, np.zeros(0)

    def extend(self, y: np.ndarray) -> np.ndarray:
        new = np.empty(len(y) - len(self.out))
        a = self.alpha
        for i, v in enumerate(y[len(self.out):]):
            if np.isfinite(v):
                self.m = a * self.m + (1 - a) * v
                self.norm = a * self.norm + (1 - a)
            new[i] = self.m / self.norm if self.norm > 0 else np.nan
        self.out = np.concatenate([self.out, new])
        return self.out


class CurvesView(LiveView):
    """Train/val loss and the task's metric, the per-epoch supernet value and the learning rate (``loss_curves``)."""

    def __init__(self, source: Any, *, smoothing: float | None = 0.8, max_points: int = 1000,
                 height: int | None = None, width: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        self.smoothing, self.max_points = smoothing, max_points
        fig = loss_curves(self.history, smoothing=smoothing, max_points=max_points)
        fig.update_layout(width=width)
        if height:
            fig.update_layout(height=height)
        self.figure = figure_widget(fig, "dnas-curves")
        self.widget = self.figure
        self._reset()
        self.refresh()

    def _keys(self) -> tuple[str, ...]:
        m = primary_metric(self.history)
        return "train_loss", "val_loss", f"train_{m}", f"val_{m}"

    def _reset(self) -> None:
        self._n_bounds = -1
        self._ema = {k: _EMA(self.smoothing) for k in self._keys()} if self.smoothing is not None else {}

    def _draw(self) -> None:
        h = self.history
        n = len(h)
        steps = h.steps[:n]
        idx = decimate(n, self.max_points)
        m = primary_metric(h)
        values = {k: series(h, k)[:n] for k in (*self._keys(), "lr")}
        smooth = {k: e.extend(values[k]) for k, e in self._ema.items()}
        ep = [r for r in h.epochs if r.val_metrics and m in r.val_metrics]
        with self.figure.batch_update():
            for tr in self.figure.data:
                key = _curve_key(tr.name)
                if key is None or (key != "epoch" and key not in values):
                    continue
                if key == "epoch":
                    tr.x, tr.y, tr.customdata = ([r.step for r in ep], [r.val_metrics[m] for r in ep],
                                                 [r.epoch for r in ep])
                    continue
                raw = tr.name.endswith("(per batch)") or self.smoothing is None or key == "lr"
                y = values[key] if raw else smooth[key]
                tr.x, tr.y = steps[idx], y[idx]
            b = epoch_boundaries(h, n)
            if len(b) != self._n_bounds:  # epoch boundaries, one line per subplot as loss_curves draws them
                self._n_bounds = len(b)
                self.figure.layout.shapes = boundary_shapes(b)


def _curve_key(name: str | None) -> str | None:
    if not name:
        return None
    if name.startswith("supernet val"):
        return "epoch"
    if name.startswith("lr"):
        return "lr"
    words = name.split(" ")
    if words[0] in ("train", "val") and len(words) > 1:
        return f"{words[0]}_{words[1]}"  # "train accuracy (per batch)" -> train_accuracy
    return None

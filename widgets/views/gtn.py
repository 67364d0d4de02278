"""GTN's live views and panels (Such et al., ICML 2020, arXiv 1912.07768): the learned inner schedule and the
generated curriculum, for searches on the ``gtn`` teacher space.

* :class:`ScheduleView` -- the learned inner lr eta_t and momentum mu_t per inner step, from the History (the
  ``gtn`` method records them as extras); follows the scrubber, so any recorded step can be inspected;
* :class:`SamplesView` -- the synthetic examples the teacher generates *now*, one row per inner step (needs
  the live search: the generator's weights are not in the History);
* :func:`gtn_panels` -- the two panels for :data:`widgets.panels.PANELS` (``gtn_schedule``: live, static and
  report; ``gtn_samples``: live only), applying to teacher spaces.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from widgets.figures.gtn import (
    LR,
    MOMENTUM,
    SAMPLES,
    inner_schedule,
    mosaic,
    samples_grid,
    schedule_from_history,
)
from widgets.figures.hardware import trace
from widgets.views.base import LiveView, figure_widget, require_session
from workbench.history import History
from workbench.spaces.gtn_teacher import TeacherSpace

__all__ = ["SamplesView", "ScheduleView", "gtn_panels", "is_teacher_space", "teacher_samples"]


def is_teacher_space(space: Any) -> bool:
    return isinstance(space, TeacherSpace)


def teacher_samples(teacher: Any, dataset: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's curriculum as grey images (T, B, H, W) in [0, 1] and labels (T, B): through the dataset's
    ``to_grey`` when it has one (``digits_std``), else each image scaled to its own range."""
    x, y = teacher.samples()
    x = x.detach().float().cpu()
    if dataset is not None and hasattr(dataset, "to_grey"):
        g = dataset.to_grey(x)
    else:
        flat = x.flatten(2)
        lo, hi = flat.min(2, keepdim=True).values, flat.max(2, keepdim=True).values
        g = ((flat - lo) / (hi - lo).clamp_min(1e-8)).view_as(x)
    g = g.numpy()
    if g.ndim == 5:
        g = g[:, :, 0]
    return g, y.cpu().numpy()


class ScheduleView(LiveView):
    """Learned eta_t and mu_t per inner step at the shown step (bars and a line; see :func:`inner_schedule`)."""

    def __init__(self, source: Any, *, width: int | None = None, height: int = 320, **kw: Any) -> None:
        super().__init__(source, **kw)
        self.figure = figure_widget(inner_schedule([], [], title=None, width=width, height=height), "dnas-gtn-schedule")
        self.widget = self.figure
        self.refresh()

    def _draw(self) -> None:
        step = self.shown_step()
        try:
            lrs, mus = schedule_from_history(self.history, step)
        except (ValueError, IndexError):
            return
        t = np.arange(len(lrs))
        with self.figure.batch_update():
            trace(self.figure, LR).update(x=t, y=lrs)
            trace(self.figure, MOMENTUM).update(x=t, y=mus)
            trace(self.figure, "μ = 1").update(x=[-0.5, len(t) - 0.5], y=[1.0, 1.0])
            self.figure.layout.title.text = f"step {step}"


class SamplesView(LiveView):
    """The teacher's generated curriculum now (a grid: one row per inner step), redrawn as the search runs."""

    def __init__(self, source: Any, *, per_step: int = 10, **kw: Any) -> None:
        super().__init__(source, **kw)
        self.session = require_session(self.feed, "the generated-samples view")
        self.per_step = per_step
        images, labels = self._samples()
        self.figure = figure_widget(samples_grid(images, labels, per_step=per_step, title=None), "dnas-gtn-samples")
        self.widget = self.figure

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.session.searcher
        with torch.no_grad():
            return teacher_samples(s.model, s.dataset)

    def _draw(self) -> None:
        images, labels = self._samples()
        k = min(self.per_step, images.shape[1])
        fresh = samples_grid(images, labels, per_step=k, title=None)
        with self.figure.batch_update():
            z = mosaic(images[:, :k], 1, 1 if (labels[:, :k] == labels[:1, :k]).all() else 4)[::-1]
            trace(self.figure, SAMPLES).update(z=np.where(np.isnan(z), None, z.astype(object)))
            self.figure.layout.annotations = fresh.layout.annotations
            self.figure.layout.title.text = f"step {self.session.searcher.step_count}"


def _static_schedule(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    if step is None:
        return {}
    return {"gtn_schedule": inner_schedule(*schedule_from_history(h, step), title=f"Learned inner schedule · step "
                                                                             f"{step}")}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    if ctx.step is None:
        return []
    lrs, mus = schedule_from_history(ctx.history)
    note = ("The learned learning rate η_t (bars) and momentum μ_t (line) of each inner step, at the last step "
            "(unconstrained: μ_t > 1 is possible).")
    return [Section(card("Learned inner schedule", note, ctx.figure(inner_schedule(lrs, mus, title=None))))]


def gtn_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [
        Panel("gtn_schedule", "Inner schedule", applies=is_teacher_space, follows_scrubber=True,
              live=lambda ctx: ScheduleView(ctx.feed, width=ctx.width, **ctx.slow), static=_static_schedule,
              report=_report),
        Panel("gtn_samples", "Generated samples", applies=is_teacher_space, needs_session=True,
              live=lambda ctx: SamplesView(ctx.feed, **ctx.slow)),
    ]

"""The time scrubber: a slider over the recorded steps that pins every linked view to one step.

Any recorded step of a search can be shown again: the History re-decodes the
architecture from that step's probabilities and option masks, so the
heatmaps, the architecture drawing and the collapse count all show that
step, live (while the search runs on) or for a finished or reloaded run.
"""
from __future__ import annotations

import time
from typing import Any

import ipywidgets as W

from widgets.choices import is_cell_space
from widgets.views.architecture import arch_text_html
from widgets.views.base import Feed, LiveView, latest_step
from workbench import StepEnded
from workbench.app.session import SearchSession

__all__ = ["ScrubberView"]


class ScrubberView:
    """A slider over the recorded steps that pins the linked views to the chosen step.

    While a search runs and "follow" is on, the slider tracks the newest step;
    dragging it back pins every linked view (weights, architecture, collapse count)
    to that step, also after the search ended and for a reloaded run.
    """

    def __init__(self, source: Any, views: list[LiveView] | None = None, *, min_interval: float = 0.25) -> None:
        self.feed = source if isinstance(source, Feed) else Feed(source)
        self.views: list[LiveView] = list(views or [])
        self.min_interval = min_interval
        self._quiet = False
        self._t = 0.0
        self.slider = W.IntSlider(value=0, min=0, max=0, description="step", continuous_update=True,
                                  layout=W.Layout(width="640px"))
        self.slider.add_class("dnas-scrubber")
        self.follow = W.Checkbox(value=self.feed.live, description="follow the search", indent=False,
                                 layout=W.Layout(width="150px", display="" if self.feed.live else "none"))
        self.label = W.HTML()
        self.slider.observe(self._on_slider, "value")
        self.follow.observe(self._on_follow, "value")
        self.widget = W.VBox([W.HBox([self.slider, self.follow], layout=W.Layout(align_items="center")),
                              self.label])
        self._unsubs = []
        if self.feed.live:
            s = self.feed.session
            self._unsubs = [s.bus.subscribe(self._on_step, kinds=(StepEnded,)), s.add_listener(self._on_session)]
        self.sync_range()
        if not self.feed.live:
            self.scrub(self.slider.max if len(self.feed.history) else None)

    @property
    def step(self) -> int | None:
        """The pinned step, or None while following the search."""
        if self.feed.live and self.follow.value:
            return None
        return int(self.slider.value) if len(self.feed.history) else None

    def link(self, view: LiveView) -> None:
        self.views.append(view)
        view.show_step(self.step)

    def sync_range(self) -> None:
        """Extend the slider to the recorded steps (and move it along when following)."""
        with self.feed.lock():
            self._sync_range()

    def _sync_range(self) -> None:
        h = self.feed.history
        self._quiet = True
        try:
            if not len(h):
                self.slider.min, self.slider.max, self.slider.value = 0, 0, 0
                self.slider.disabled = True
            else:
                lo, hi = int(h.steps[0]), int(h.steps[-1])
                self.slider.disabled = False
                if hi > self.slider.max:
                    self.slider.max = hi
                self.slider.min = lo
                self.slider.max = hi
                if self.feed.live and self.follow.value:
                    self.slider.value = hi
        finally:
            self._quiet = False
        self._show_label()

    def scrub(self, step: int | None) -> None:
        """Pin the views to ``step`` (None: follow the search again)."""
        if step is None:
            self.follow.value = True
            self.sync_range()
            for v in self.views:
                v.show_step(None)
            return
        h = self.feed.history
        if not len(h):
            raise ValueError("nothing recorded yet: take at least one step before scrubbing")
        lo, hi = int(h.steps[0]), int(h.steps[-1])
        if not lo <= step <= hi:
            raise ValueError(f"step {step} was not recorded; recorded steps are {lo}..{hi}")
        self._quiet = True
        try:
            self.follow.value = False
            self.slider.value = int(step)
        finally:
            self._quiet = False
        self._apply()

    def _apply(self) -> None:
        with self.feed.lock():
            step = self.step
            for v in self.views:
                v.show_step(step)
            self._show_label()

    def _show_label(self) -> None:
        h = self.feed.history
        step = self.step if self.step is not None else latest_step(h)
        if step is None:
            self.label.value = "<span style='color:#555'>no step recorded yet</span>"
            return
        i = h.index_of(step)
        epoch = int(h.scalar("epoch")[i])
        pin = "following the search" if self.step is None else "pinned"
        what = "genotype" if is_cell_space(h.space) else "architecture"
        self.label.value = (f"<span style='color:#555'>step {step} · epoch {epoch + 1} · {pin} · "
                            f"{what}</span> {arch_text_html(h.space, h.genotype_at(step))}")

    def _on_slider(self, change: dict) -> None:
        if self._quiet:
            return
        if self.feed.live:
            self._quiet = True
            try:  # dragging to the newest step re-joins the live search
                self.follow.value = change["new"] >= self.slider.max
            finally:
                self._quiet = False
        self._apply()

    def _on_follow(self, change: dict) -> None:
        if self._quiet:
            return
        if change["new"]:
            self.sync_range()
        self._apply()

    def _on_step(self, ev: StepEnded) -> None:
        now = time.perf_counter()
        if now - self._t >= self.min_interval:
            self._t = now
            self.sync_range()

    def _on_session(self, kind: str, session: SearchSession) -> None:
        if kind == "reset":
            self._quiet = True
            try:
                self.follow.value = True
            finally:
                self._quiet = False
        if kind in ("idle", "reset"):
            self.sync_range()

    def close(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []

"""The Adaptive Guidance live view and its panel (Castillo et al., AAAI 2025; SEEDS_2 §10): the guidance policy
of a ``guidance`` search as a bar per sampling step, live.

:class:`PolicyView` shows P(CFG) of every sampling step at the shown step (the step the scrubber pins, else the
latest) and, under it, the derived policy in words (which steps keep guidance, how many network evaluations).
The generic "Architecture weights" heatmap shows the same numbers as a steps x {cond, cfg} matrix.

Panel (:func:`guidance_panels`, registered in :mod:`widgets.panels` for guidance spaces):

* ``guidance_policy`` (tab, follows the scrubber) -- :class:`PolicyView` live; statically and in the report,
  :func:`~widgets.figures.guidance.policy_bars` of the last recorded step.
"""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
import numpy as np

from widgets.figures.guidance import history_policy, policy_bars
from widgets.views.base import LiveView, figure_widget
from workbench.history import History

__all__ = ["PolicyView", "guidance_panels", "is_guidance_space"]

_NAME = "P(CFG)"


def is_guidance_space(space: Any) -> bool:
    """Whether ``space`` is a guidance space (one ``steps`` group of ``cond`` / ``cfg``)."""
    from workbench.diffusion.space import GuidanceSpace
    return isinstance(space, GuidanceSpace)


def _labels(h: History) -> list[str]:
    return list(next(g for g in h.groups if g.name == "steps").rows)


class PolicyView(LiveView):
    """P(CFG) per sampling step at the shown step, and the derived policy."""

    def __init__(self, source: Any, *, width: int | None = 960, height: int = 320, **kw: Any) -> None:
        super().__init__(source, **kw)
        labels = _labels(self.history)
        self.fig = figure_widget(policy_bars({_NAME: np.full(len(labels), 0.5)}, labels=labels, height=height,
                                             width=width, title="Guidance policy · no step yet"), "dnas-guidance")
        self.label = W.HTML()
        self.widget = W.VBox([self.fig, self.label])
        self.refresh()

    def _draw(self) -> None:
        step = self.shown_step()
        if step is None:
            return
        p = history_policy(self.history, step)
        with self.fig.batch_update():
            self.fig.data[0].y = p
            self.fig.layout.title.text = f"Guidance policy · step {step}"
        arch = self.history.genotype_at(step)
        self.label.value = (f"<span style='font-size:12px'>derived policy: "
                            f"<b>{html.escape(self.history.space.label(arch))}</b></span>")


def _static(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    if step is None or "steps" not in h.group_names:
        return {}
    return {"guidance_policy": policy_bars({_NAME: history_policy(h, step)}, labels=_labels(h),
                                           title=f"Guidance policy · step {step}")}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    figs = _static(ctx.history, ctx.step, ctx.groups)
    if not figs:
        return []
    note = ("The probability that each sampling step (noisy → clean) uses classifier-free guidance (2 network "
            "evaluations) rather than the conditional step alone (1); the derived policy keeps CFG above 0.5.")
    return [Section(card("Guidance policy", note, ctx.figure(figs["guidance_policy"])))]


def guidance_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [Panel("guidance_policy", "Guidance policy", applies=is_guidance_space, follows_scrubber=True,
                  live=lambda ctx: PolicyView(ctx.feed, width=ctx.width, **ctx.slow), static=_static,
                  report=_report)]

"""The DNIS live view and its panels (Cheng, Shen, Huang, arXiv 2006.04466; SEEDS_2 §8): the soft selection mask
of an ``embedding_dims`` search, live.

:class:`MaskView` shows, side by side, the mask W (feature blocks x dimensions) at the shown step -- the step the
scrubber pins, else the latest -- and the mean mask of every feature block over the steps so far (frequent
blocks should stay high, rare ones sink once the warm start ends). The generic "Architecture weights" heatmap
shows W too; this view adds the per-block trend and the kept dimensions of the decoded architecture.

Panels (:func:`dnis_panels`, registered in :mod:`widgets.panels` for ``embedding_dims`` spaces):

* ``dnis_mask`` (tab, follows the scrubber) -- :class:`MaskView` live; statically and in the report, the mask
  with a step slider (:func:`~widgets.figures.dnis.mask_evolution`) and the per-block means.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np

from widgets.figures.dnis import GROUP, block_means, mask_evolution_from
from widgets.figures.style import decimate
from widgets.views.base import LiveView, figure_widget
from workbench.history import History

__all__ = ["MaskView", "dnis_panels", "is_embedding_space"]


def is_embedding_space(space: Any) -> bool:
    """Whether ``space`` is an ``embedding_dims`` space (DNIS): one ``dims`` group, architectures = kept dims."""
    from workbench.spaces.embedding import EmbeddingDimsSpace
    return isinstance(space, EmbeddingDimsSpace)


class MaskView(LiveView):
    """The mask at the shown step (heatmap) and the mean mask per feature block over the steps (curves)."""

    def __init__(self, source: Any, *, width: int | None = 960, height: int = 340, max_points: int = 600,
                 **kw: Any) -> None:
        super().__init__(source, **kw)
        g = next(g for g in self.history.groups if g.name == GROUP)
        self.rows, self.options, self.max_points = g.rows, g.options, max_points
        half = None if width is None else width // 2
        empty = np.ones((1, len(g.rows), len(g.options)))
        self.heatmap = figure_widget(mask_evolution_from(empty, [0], g.rows, g.options, title="Mask W · no step yet",
                                                         height=height, width=half, slider=False), "dnas-dnis-mask")
        self.curves = figure_widget(block_means(self.history, max_points=max_points, height=height, width=half),
                                    "dnas-dnis-blocks")
        self.label = W.HTML()
        self.widget = W.VBox([W.HBox([self.heatmap, self.curves]), self.label])
        self.refresh()

    def _draw(self) -> None:
        h: History = self.history
        step = self.shown_step()
        n = len(h)
        with self.heatmap.batch_update():
            if step is None:
                self.heatmap.data[0].z = np.ones((len(self.rows), len(self.options)))
                self.heatmap.layout.title.text = "Mask W · no step yet"
            else:
                w = h.weights_at(step)[GROUP]
                self.heatmap.data[0].z = w
                self.heatmap.layout.title.text = f"Mask W · step {step}"
        idx = decimate(n, self.max_points)
        means = h.weights(GROUP)[idx].mean(-1) if n else np.zeros((0, len(self.rows)))
        with self.curves.batch_update():
            for i, tr in enumerate(self.curves.data[: len(self.rows)]):
                tr.x, tr.y = h.steps[idx], means[:, i]
        if step is not None:
            arch = h.genotype_at(step)
            dims = getattr(arch, "dims", None)
            if dims is not None:
                self.label.value = ("<span style='font-size:12px'>kept dimensions per block (top half of W): "
                                    + ", ".join(f"b{i + 1} <b>{d}</b>" for i, d in enumerate(dims)) + "</span>")


def _static(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    if step is None or GROUP not in h.group_names:
        return {}
    g = next(g for g in h.groups if g.name == GROUP)
    idx = decimate(h.index_of(step) + 1, 12)
    return {"dnis_mask": mask_evolution_from(h.weights(GROUP)[idx], h.steps[idx], g.rows, g.options),
            "dnis_blocks": block_means(h)}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    h = ctx.history
    if ctx.step is None or GROUP not in h.group_names:
        return []
    figs = _static(h, ctx.step, ctx.groups)
    return [Section(card("Soft selection mask", "W = clamp(α, 0, 1) per feature block (rows, most frequent "
                         "first) and embedding dimension; drag the slider to see it evolve.",
                         ctx.figure(figs["dnis_mask"]))),
            Section(card("Mean mask per feature block", "Rare blocks' masks sink once the warm start ends, "
                         "frequent ones stay high.", ctx.figure(figs["dnis_blocks"])))]


def dnis_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [Panel("dnis_mask", "Soft selection mask", applies=is_embedding_space, follows_scrubber=True,
                  live=lambda ctx: MaskView(ctx.feed, width=ctx.width, **ctx.slow), static=_static, report=_report)]

"""The DARTS-GT panel of the registry (:data:`widgets.panels.PANELS`), for the ``graph_transformer`` space (SEEDS_2 §7).

``gt_operators`` (tab; live, static and report): :func:`widgets.figures.graph_operators.operator_figure` of the
shown step -- each layer's softmax weights over the GNN experts and the derived expert (★); the live view follows
the scrubber. The graph drawing with node importance (:mod:`widgets.figures.graph_attention`) needs a retrained
network and the causal-ablation analysis, which are not part of a search's History, so it is a notebook figure.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from widgets.figures.graph_operators import operator_figure
from widgets.views.base import LiveView, figure_widget
from workbench.history import History
from workbench.spaces.graph.space import GROUP, GraphTransformerSpace

__all__ = ["OperatorView", "graph_panels", "history_operator_figure", "is_graph_space"]


def is_graph_space(space: Any) -> bool:
    return isinstance(space, GraphTransformerSpace)


def history_operator_figure(h: History, step: int | None, **kw: Any) -> Any:
    """:func:`operator_figure` of ``h`` at ``step`` (uniform weights, no step yet, when ``step`` is None)."""
    g = next(c for c in h.groups if c.name == GROUP)
    if step is None:
        probs = np.full(g.shape, 1 / len(g.options))
        return operator_figure(probs, g.options, g.rows, **{"title": "Derived operator per layer · no step yet",
                                                            **kw})
    arch = h.genotype_at(step)
    kw.setdefault("title", f"Derived operator per layer · step {step}")
    return operator_figure(h.weights_at(step)[GROUP], g.options, g.rows, arch.picks[GROUP], **kw)


class OperatorView(LiveView):
    """:func:`history_operator_figure` of the shown step, updated in place."""

    def __init__(self, source: Any, *, width: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        self.width = width
        self.figure = figure_widget(history_operator_figure(self.history, self.shown_step(), width=width),
                                    "dnas-gt-operators")
        self.widget = self.figure
        self.refresh()

    def _draw(self) -> None:
        new = history_operator_figure(self.history, self.shown_step(), width=self.width)
        with self.figure.batch_update():
            for old, fresh in zip(self.figure.data, new.data, strict=True):
                old.update(x=fresh.x, text=fresh.text)
            self.figure.layout.annotations = new.layout.annotations
            self.figure.layout.title = new.layout.title


def _static(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    return {} if step is None else {"gt_operators": history_operator_figure(h, step)}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    if ctx.step is None:
        return []
    note = ("softmax(α) over the GNN experts that compute each layer's keys and values at the last step; ★: the "
            "derived expert (argmax), which a fresh network is retrained with (DARTS-GT's phase 2).")
    return [Section(card("Derived GNN operator per layer", note,
                         ctx.figure(history_operator_figure(ctx.history, ctx.step, title=None))))]


def graph_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [Panel("gt_operators", "GNN operator per layer", applies=is_graph_space, follows_scrubber=True,
                  live=lambda ctx: OperatorView(ctx.feed, width=ctx.width, **ctx.slow), static=_static,
                  report=_report)]

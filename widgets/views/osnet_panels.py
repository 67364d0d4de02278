"""The norm-placement panel of the registry (:data:`widgets.panels.PANELS`), for OSNet-AIN's spaces (SEEDS_2 §5).

``norm_placement`` (tab; live, static and report): :func:`widgets.figures.norm_placement.placement_figure`, the
normalised weights relu(w) / sum of every block's placements with the dead candidates (w <= 0) crossed; the live
view follows the scrubber. The retrained networks' seen-vs-unseen accuracy
(:func:`~widgets.figures.norm_placement.style_accuracy_figure`) needs retraining, which is not part of a search's
History, so it is a figure for notebooks, not a panel.
"""
from __future__ import annotations

from typing import Any

from widgets.figures.norm_placement import DEAD, placement_figure
from widgets.views.base import LiveView, figure_widget
from workbench.history import History
from workbench.spaces.norm import BLOCKS, NormPlacementSpace

__all__ = ["PlacementView", "is_norm_space", "norm_placement_panels"]


def is_norm_space(space: Any) -> bool:
    return isinstance(space, NormPlacementSpace)


class PlacementView(LiveView):
    """:func:`placement_figure` of the shown step, updated in place (bars' heights and the dead crosses)."""

    def __init__(self, source: Any, *, width: int | None = None, height: int = 340, **kw: Any) -> None:
        super().__init__(source, **kw)
        self._size = dict(width=width, height=height)
        self.figure = figure_widget(self._figure(), "dnas-norm-placement")
        self.widget = self.figure
        self.refresh()

    def _figure(self) -> Any:
        step = self.shown_step()
        if step is None:
            return _placeholder(self.history, **self._size)
        return placement_figure(self.history, step, **self._size)

    def _draw(self) -> None:
        if self.shown_step() is None:
            return
        new = self._figure()
        with self.figure.batch_update():
            for old, fresh in zip(self.figure.data, new.data, strict=True):
                old.update(x=fresh.x, y=fresh.y, customdata=fresh.customdata)
            self.figure.layout.title = new.layout.title


def _placeholder(h: History, width: int | None, height: int) -> Any:
    """The figure's layout with zero bars (nothing recorded yet)."""
    import plotly.graph_objects as go

    from widgets.figures.style import base_layout
    g = next(c for c in h.groups if c.name == BLOCKS)
    fig = go.Figure([go.Bar(x=list(range(len(g.rows))), y=[0.0] * len(g.rows), name=o) for o in g.options] +
                    [go.Scatter(x=[], y=[], name=DEAD, mode="markers")])
    return base_layout(fig, "Normalised placement weights · no step yet", height, width)


def _static(h: History, step: int | None, groups: list[str]) -> dict[str, Any]:
    return {} if step is None else {"norm_placement": placement_figure(h, step)}


def _report(ctx: Any) -> list[Any]:
    from widgets.panels import Section, card
    if ctx.step is None:
        return []
    note = ("relu(w) / Σ relu(w) per block at the last step: the probability that the concrete relaxation's "
            "Gumbel-max picks each placement. ✕: a dead candidate (w ≤ 0, pushed there by weight decay): zero "
            "weight, zero gradient, never chosen again.")
    return [Section(card("Norm placement", note, ctx.figure(placement_figure(ctx.history, ctx.step, title=None))))]


def norm_placement_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [Panel("norm_placement", "Norm placement", applies=is_norm_space, follows_scrubber=True,
                  live=lambda ctx: PlacementView(ctx.feed, width=ctx.width, **ctx.slow), static=_static,
                  report=_report)]

"""Live mixing weights of every choice group: a heatmap (rows x options) and per-row curves over steps.

DARTS's own diagnostics (Liu et al., ICLR 2019, Fig. 3 and 4), for any
space: the group's rows and options come from ``space.choice_groups()`` (a
cell's edges x ops, a chain's layers x blocks). The heatmap
(:mod:`widgets.figures.heatmap`) outlines each row's strongest option, stars
the options the decoded architecture keeps and greys switched-off options;
the curves (:mod:`widgets.figures.alpha_curves`) mark epochs and op swaps.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from widgets.choices import choice_groups, group_title
from widgets.figures.alpha_curves import alpha_curves, x_range
from widgets.figures.heatmap import alpha_heatmap, heatmap_data, update_alpha_heatmap
from widgets.figures.style import decimate, epoch_boundaries, vlines
from widgets.views.base import LiveView, figure_widget, json_safe

__all__ = ["AlphaView"]


class AlphaView(LiveView):
    """Per choice group: a heatmap of softmax(alpha) (rows x options) and per-row curves of each option's weight.

    ``cell_types`` picks the groups shown (default: all; for cell spaces the
    groups are the cell types). ``heatmaps[group]`` and ``curves[group]`` are
    the FigureWidgets; the heatmap marks each row's argmax option and stars
    the options the decoded architecture keeps (for DARTS cells: the top-k
    edges per node); disabled options are greyed "off".
    """

    def __init__(self, source: Any, cell_types: list[str] | None = None, *, heatmaps: bool = True,
                 curves: bool = True, max_points: int = 400, width: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        space = self.feed.space
        self.groups = {g.name: g for g in choice_groups(space, cell_types)}
        self.cell_types = list(self.groups)
        self.max_points = max_points
        self.heatmaps: dict[str, go.FigureWidget] = {}
        self._shadow: dict[str, go.Figure] = {}
        self.curves: dict[str, go.FigureWidget] = {}
        h = self.history
        self._n_changes = len(h.mask_changes)
        for name, g in self.groups.items():
            if heatmaps:
                w, mask, kept, title = self._heat_data(name, self.shown_step())
                fig = alpha_heatmap(w, g.options, g.rows, title=title, mask=mask, genotype_edges=kept)
                fig.update_layout(width=width)
                self._shadow[name] = go.Figure(fig)  # update_alpha_heatmap writes here; changes are copied over
                self.heatmaps[name] = figure_widget(fig, "dnas-heatmap")
                self.heatmaps[name].add_class(f"dnas-heatmap-{name}")
            if curves:
                fig = alpha_curves(h, name, max_points=max_points,
                                   title=f"Mixing weights over steps · {group_title(space, name)}")
                fig.update_layout(width=width)
                self.curves[name] = figure_widget(fig, "dnas-alpha-curves")
        self._curve_x: dict[str, int] = {}  # epoch-boundary segments drawn, per group
        parts: list[W.Widget] = [W.HBox(list(self.heatmaps.values()))] if heatmaps else []
        parts += list(self.curves.values())
        self.widget = W.VBox(parts)
        self.refresh()

    def _heat_data(self, group: str, step: int | None) -> tuple[np.ndarray, np.ndarray, dict[int, str], str]:
        # following a live search: show switches made since the last step at once
        pending = self.step is None and self.feed.live
        return heatmap_data(self.history, group, step, pending=pending)

    def _draw(self) -> None:
        step = self.shown_step()
        for name, fw in self.heatmaps.items():
            w, mask, kept, title = self._heat_data(name, step)
            shadow = self._shadow[name]
            update_alpha_heatmap(shadow, w, mask, kept, title=title)
            json_safe(shadow)
            with fw.batch_update():  # only what update_alpha_heatmap touches, and only what changed is sent
                for live, new in zip(fw.data, shadow.data, strict=True):
                    for key in (("z", "text", "zmin", "zmax") if new.type == "heatmap" else ("x", "y")):
                        live[key] = new[key]
                fw.data[0].colorbar.title.text = shadow.data[0].colorbar.title.text
                fw.data[0].colorbar.tickvals = shadow.data[0].colorbar.tickvals
                fw.data[0].colorbar.ticktext = shadow.data[0].colorbar.ticktext
                fw.layout.yaxis.ticktext = shadow.layout.yaxis.ticktext
                fw.layout.title.text = shadow.layout.title.text
        self._draw_curves()

    def _draw_curves(self) -> None:
        if not self.curves:
            return
        h = self.history
        steps = h.steps
        changes = len(h.mask_changes)
        for name, fw in self.curves.items():
            options = list(self.groups[name].options)
            wts = h.weights(name)
            n = min(len(steps), len(wts))
            idx = decimate(n, self.max_points)
            x = steps[idx]
            wi = wts[idx].astype(float)
            ymax = float(np.nanmax(wi)) if n else 1.0
            rng = [0, min(1.0, round(ymax * 1.08 + 0.01, 2))]
            bx, by = vlines(epoch_boundaries(h, n), 0.0, 1.0)
            xr = list(x_range(h, n))
            with fw.batch_update():
                for tr in fw.data:
                    if tr.name == "epochs":
                        if self._curve_x.get(name) != len(bx):  # only when an epoch ended
                            tr.x, tr.y = bx, by
                    elif tr.meta is not None:
                        tr.x = x
                        tr.y = wi[:, int(tr.meta[0]), options.index(tr.meta[1])]
                if fw.layout.yaxis.range is None or list(fw.layout.yaxis.range) != rng:
                    fw.update_yaxes(range=rng)
                if fw.layout.xaxis.range is None or list(fw.layout.xaxis.range) != xr:
                    fw.update_xaxes(range=xr)  # the steps run: an op switch's label never stretches it
                if changes != self._n_changes:  # op swaps: annotations/shapes from the pure figure
                    ref = alpha_curves(h, name, max_points=2)
                    fw.layout.annotations = ref.layout.annotations
                    fw.layout.shapes = ref.layout.shapes
            self._curve_x[name] = len(bx)
        self._n_changes = changes

    def _reset(self) -> None:
        self._n_changes = -1
        self._curve_x = {}

"""The live skip-collapse warning of a cell search: parameter-free ops in the derived cell, and their count.

A badge counts the parameter-free ops (skip connections, pools) the derived
cell keeps and turns red when at least half of a cell's kept edges are
parameter-free: the collapse RobustDARTS (Zela et al., ICLR 2020) and
DARTS+ (Liang et al. 2019) warn about. Optionally the count over steps
(:func:`widgets.figures.collapse.param_free_curve`). Cell spaces only.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np

from widgets.choices import group_title, is_cell_space
from widgets.figures.collapse import param_free_curve, param_free_status
from widgets.views.base import LiveView, figure_widget

__all__ = ["ParamFreeWarning", "param_free_status"]


class ParamFreeWarning(LiveView):
    """How many parameter-free ops (skip, pools) the derived cell has, and a warning near skip collapse.

    The warning fires when at least half of a cell's kept edges are
    parameter-free (the band of :func:`~widgets.figures.param_free_curve`):
    the derived cell is drifting towards the skip-connection collapse of
    RobustDARTS / DARTS+. With ``curve=True`` the count over steps is drawn too.
    """

    def __init__(self, source: Any, *, badge: bool = True, curve: bool = True, width: int | None = None,
                 **kw: Any) -> None:
        super().__init__(source, **kw)
        if not is_cell_space(self.feed.space):
            raise TypeError(f"the parameter-free op warning needs a cell space (its architectures are cell "
                            f"genotypes); space {self.feed.space.name!r} is a {type(self.feed.space).__name__}")
        self.badge = W.HTML() if badge else None
        if self.badge is not None:
            self.badge.add_class("dnas-param-free")
        self.figure = None
        if curve:
            fig = param_free_curve(self.history)
            fig.update_layout(width=width)
            self.figure = figure_widget(fig, "dnas-param-free-curve")
        self.widget = W.VBox([w for w in (self.badge, self.figure) if w is not None])
        self.warning = False
        self._reset()
        self.refresh()

    def _reset(self) -> None:
        self._steps: list[int] = []
        self._counts: dict[str, list[int]] = {c: [] for c in self.history.group_names}

    def _extend(self) -> None:
        """Count parameter-free ops for every step recorded since the last redraw (cheap: no figure rebuild)."""
        h = self.history
        steps = h.steps
        for s in steps[len(self._steps):len(h)]:
            g = h.genotype_at(int(s))
            for c in self._counts:
                self._counts[c].append(param_free_status(g, c)[0])
            self._steps.append(int(s))

    def _draw(self) -> None:
        if self.badge is not None:
            self._draw_badge()
        if self.figure is not None:
            self._extend()
            with self.figure.batch_update():
                for tr in self.figure.data:
                    c = tr.name if tr.name in self._counts else (tr.name or "").removesuffix(" cell")
                    if c in self._counts:
                        tr.x, tr.y = np.asarray(self._steps), np.asarray(self._counts[c])
                if len(self._steps) > 1:
                    self.figure.layout.xaxis.range = [self._steps[0], self._steps[-1]]

    def _draw_badge(self) -> None:
        h = self.history
        step = self.shown_step()
        if step is None:
            self.warning = False
            self.badge.value = _badge("no step yet: the derived cell appears after the first step", "#555")
            return
        g = h.genotype_at(step)
        parts, warn, skips = [], False, False
        for c in h.group_names:
            n_pf, n_kept, per = param_free_status(g, c)
            warn |= n_pf >= n_kept / 2
            skips |= per.get("skip_connect", 0) >= n_kept / 2
            detail = ", ".join(f"{op} ×{k}" for op, k in sorted(per.items())) or "none"
            parts.append(f"{group_title(h.space, c)}: <b>{n_pf}</b> of {n_kept} kept edges parameter-free ({detail})")
        self.warning = warn
        msg = f"step {step} · " + " · ".join(parts)
        if warn:
            what = "skip-connection collapse" if skips else "a parameter-free cell"
            msg = (f"⚠ drifting towards {what}: " + msg + ". DARTS tends to prefer parameter-free ops as the "
                   "supernet trains (RobustDARTS, DARTS+); consider early stopping, or switching "
                   f"{'skip_connect' if skips else 'those ops'} off below.")
        self.badge.value = _badge(msg, "#c62828" if warn else "#2e7d32", warn)


def _badge(text: str, color: str, strong: bool = False) -> str:
    bg = "#fdecea" if strong else "#f4f8f4"
    return (f"<div style='border-left:4px solid {color};background:{bg};padding:4px 10px;color:{color};"
            f"font-size:13px;line-height:1.4'>{text}</div>")

"""The live loss-landscape view: a 1-D or 2-D slice of the loss around the current point (Li et al., NeurIPS 2018).

In alpha or weight space, along random filter-normalised, Hessian-eigen or
trajectory-PCA directions, with the recorded alpha trajectory projected onto
the slice (:mod:`widgets.figures.landscape`). The computation runs on the
search's worker thread between two steps, a progress bar counting the
supernet's forward passes. Works for any space (alphas of every group).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from widgets.figures.landscape import landscape_figure
from widgets.figures.style import decimate
from widgets.views.base import Feed, error_html, figure_widget, require_session, status_html
from workbench.analysis import (
    Surface,
    alpha_landscape,
    alpha_trajectory,
    pca_directions,
    weight_landscape,
)
from workbench.analysis.common import searcher_batches

__all__ = ["LandscapeView", "SPANS", "DIRECTIONS"]


class _ForwardCounter:
    """Counts the supernet's forward passes while a landscape is computed (the engine has no progress hook)."""

    def __init__(self, model: Any, total: int, on_progress: Callable[[int, int], None]) -> None:
        self.model, self.total, self.on_progress, self.count = model, max(int(total), 1), on_progress, 0
        self._handle = None

    def __enter__(self) -> _ForwardCounter:
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        self.count += 1
        self.on_progress(min(self.count, self.total), self.total)

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()


SPANS = (("fit the trajectory", "fit"), ("0.1", 0.1), ("0.25", 0.25), ("0.5", 0.5), ("1", 1.0), ("2", 2.0),
         ("5", 5.0))
DIRECTIONS = (("random (Li et al.)", "random"), ("Hessian eigenvectors", "eigen"),
              ("trajectory PCA (alpha only)", "pca"))


class LandscapeView:
    """Loss landscape around the current point: 2-D surface + contour or a 1-D line, with the trajectory.

    Controls: space (alpha / weights), directions (random filter-normalised,
    top Hessian eigenvectors, or the PCA plane of the recorded alpha
    trajectory), 1-D / 2-D, resolution (11 / 21 / 31 points per axis) and
    span (in units of the directions, or fitted to the trajectory). The
    computation runs on the search's worker thread, the progress bar counting
    the supernet's forward passes. Weight-space trajectories are not drawn:
    the History records alphas, not weights.
    """

    def __init__(self, source: Any, *, space: str = "alpha", directions: str = "random", dims: int = 2,
                 steps: int = 21, span: float | str = 1.0, seed: int = 0, batches: int = 1, bn: str = "train",
                 metric: str = "loss", max_trajectory: int = 300, height: int | None = None,
                 width: int | None = 980) -> None:
        self.feed = source if isinstance(source, Feed) else Feed(source)
        require_session(self.feed, "a landscape")
        if space not in ("alpha", "weights", "weight"):
            raise ValueError(f"space={space!r} is not accepted; choose 'alpha' or 'weights'")
        if directions not in [v for _, v in DIRECTIONS]:
            raise ValueError(f"directions={directions!r} is not accepted; choose one of "
                             f"{[v for _, v in DIRECTIONS]}")
        self.batches, self.bn, self.metric = batches, bn, metric
        self.max_trajectory, self.height, self.width = max_trajectory, height, width
        self.surface: Surface | None = None
        self.trajectory: np.ndarray | None = None
        self.trajectory_steps: np.ndarray | None = None
        self.figure: go.FigureWidget | None = None
        style = {"description_width": "80px"}
        self.space_w = W.ToggleButtons(options=[("alpha", "alpha"), ("weights", "weight")],
                                       value="weight" if space.startswith("weight") else "alpha",
                                       description="space", style={**style, "button_width": "80px"})
        self.directions_w = W.Dropdown(options=DIRECTIONS, value=directions, description="directions", style=style,
                                       layout=W.Layout(width="300px"))
        self.dims_w = W.ToggleButtons(options=[("1-D", 1), ("2-D", 2)], value=dims, description="slice",
                                      style={**style, "button_width": "60px"})
        self.steps_w = W.Dropdown(options=[11, 21, 31], value=steps if steps in (11, 21, 31) else 21,
                                  description="resolution", style=style, layout=W.Layout(width="170px"))
        span_opts = list(SPANS) + ([(str(span), span)] if span not in [v for _, v in SPANS] else [])
        self.span_w = W.Dropdown(options=span_opts, value=span, description="span", style=style,
                                 layout=W.Layout(width="240px"))
        self.seed_w = W.BoundedIntText(value=seed, min=0, max=2 ** 31 - 1, description="seed", style=style,
                                       layout=W.Layout(width="170px"))
        self.button = W.Button(description="Compute landscape", icon="area-chart", layout=W.Layout(width="auto"))
        self.button.add_class("dnas-landscape-compute")
        self.button.on_click(lambda _: self.compute())
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="260px", visibility="hidden"))
        self.progress.add_class("dnas-landscape-progress")
        self.status = W.HTML(status_html("choose a slice and press <b>Compute landscape</b>"))
        self.status.add_class("dnas-landscape-status")
        self.plot = W.Box()
        self.plot.add_class("dnas-landscape")
        controls = W.VBox([W.HBox([self.space_w, self.dims_w]),
                           W.HBox([self.directions_w, self.steps_w, self.span_w, self.seed_w],
                                  layout=W.Layout(flex_flow="row wrap")),
                           W.HBox([self.button, self.progress, self.status], layout=W.Layout(align_items="center"))])
        self.widget = W.VBox([controls, self.plot])
        self._t_progress = 0.0

    # -- computation ------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return dict(space=self.space_w.value, directions=self.directions_w.value, dims=self.dims_w.value,
                    steps=self.steps_w.value, span=self.span_w.value, seed=self.seed_w.value)

    def compute(self, **overrides: Any) -> Future:
        """Compute the slice chosen in the controls (``overrides`` set them first); the Future holds the Surface."""
        for key, value in overrides.items():
            widget = {"space": self.space_w, "directions": self.directions_w, "dims": self.dims_w,
                      "steps": self.steps_w, "span": self.span_w, "seed": self.seed_w}.get(key)
            if widget is None:
                raise ValueError(f"unknown landscape option {key!r}; accepted: space, directions, dims, steps, "
                                 "span, seed")
            if key == "space":
                value = "weight" if str(value).startswith("weight") else value
            if key == "span" and value not in [v for _, v in widget.options]:
                widget.options = list(widget.options) + [(str(value), value)]
            widget.value = value
        opts = self.options()
        session = require_session(self.feed, "a landscape")
        if opts["directions"] == "pca" and opts["space"] == "weight":
            fut: Future = Future()
            fut.set_exception(ValueError("trajectory PCA needs a recorded trajectory: only alphas are recorded, so "
                                         "use it in alpha space (weights: random or eigen directions)"))
            self.status.value = error_html(fut.exception())
            return fut
        self.button.disabled = True
        self.progress.value = 0
        self.progress.layout.visibility = "visible"
        self.progress.bar_style = "info"
        self.status.value = status_html("computing…", "#1f5aa6")
        fut = session.submit(lambda s: self._job(s, opts))

        def done(f: Future) -> None:
            self.button.disabled = False
            exc = f.exception()
            if exc is not None:
                self.progress.bar_style = "danger"
                self.status.value = error_html(exc)
                return
            self.progress.value = 1
            self.progress.bar_style = "success"
            surface, traj, steps, seconds = f.result()
            self.show(surface, traj, steps)
            self.status.value = status_html(self._describe(surface, seconds))

        out: Future = Future()

        def relay(f: Future) -> None:
            try:
                done(f)
            finally:
                if f.exception() is not None:
                    out.set_exception(f.exception())
                else:
                    out.set_result(f.result()[0])

        fut.add_done_callback(relay)
        return out

    def _job(self, searcher: Any, opts: dict[str, Any]) -> tuple[Surface, np.ndarray | None, np.ndarray | None, float]:
        t0 = time.perf_counter()
        space, dims, steps = opts["space"], opts["dims"], opts["steps"]
        split = "val" if space == "alpha" else "train"
        data = searcher_batches(searcher, split, self.batches)
        traj, traj_steps = self._trajectory(searcher) if space == "alpha" else (None, None)
        directions: Any = opts["directions"]
        span = opts["span"]
        if directions == "pca":
            if traj is None or len(traj) < dims + 1:
                raise ValueError(f"trajectory PCA needs at least {dims + 1} recorded steps; take some steps first")
            directions = list(pca_directions(traj, k=dims, origin=traj[-1]))
        if span == "fit":
            span = 1.0
            if traj is not None and len(traj) > 1:
                A = np.stack(list(directions)) if not isinstance(directions, str) else None
                if A is not None:  # fitted to the path's extent in these directions
                    coords = (traj - traj[-1]) @ A.T
                    span = float(max(1.15 * np.abs(coords).max(), 0.05))
                else:
                    span = float(max(1.15 * np.linalg.norm(traj - traj[-1], axis=1).max(), 0.05))
        total = (steps ** dims) * len(data) + (len(data) if directions == "eigen" else 0)
        kw = dict(directions=directions, dims=dims, steps=steps, span=span, batches=data, bn=self.bn,
                  seed=opts["seed"])
        with _ForwardCounter(searcher.model, total, self._on_progress):
            if space == "alpha":
                surface = alpha_landscape(searcher, split=split, **kw)
            else:
                surface = weight_landscape(searcher, split=split, **kw)
        return surface, traj, traj_steps, time.perf_counter() - t0

    def _trajectory(self, searcher: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        h = self.feed.history
        if not len(h):
            return None, None
        idx = decimate(len(h), self.max_trajectory)
        traj = alpha_trajectory(h, searcher.space.group_names)[idx].astype(np.float64)
        return traj, h.steps[idx].copy()

    def _on_progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - self._t_progress > 0.1:
            self._t_progress = now
            self.progress.value = done / total

    @staticmethod
    def _describe(s: Surface, seconds: float) -> str:
        n = s.loss.size
        lo, hi = float(np.min(s.loss)), float(np.max(s.loss))
        at0 = float(s.loss[tuple(np.array(s.loss.shape) // 2)])
        ev = "" if s.eigenvalues is None else " · eigenvalues " + ", ".join(f"{v:.3g}" for v in s.eigenvalues)
        return (f"{'alpha' if s.space == 'alpha' else 'weight'} space · {s.kind} · {n} points in {seconds:.1f} s · "
                f"loss {lo:.3f}..{hi:.3f} (centre {at0:.3f}){ev}")

    # -- drawing ----------------------------------------------------------------------------------
    def show(self, surface: Surface, trajectory: np.ndarray | None = None, steps: np.ndarray | None = None) -> None:
        """Draw a Surface (computed here or elsewhere), with an optional flat trajectory (T, n)."""
        self.surface, self.trajectory, self.trajectory_steps = surface, trajectory, steps
        fig = landscape_figure(surface, trajectory, steps, metric=self.metric, height=self.height,
                                  width=self.width)
        old, self.figure = self.figure, figure_widget(fig, "dnas-landscape-figure")
        self.plot.children = (self.figure,)
        if old is not None:
            old.close()  # its traces differ (1-D vs 2-D): a new widget, and the old one's comm is released

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

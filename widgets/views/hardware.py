"""Live views of a hardware-aware search on a chain space: latency curve, Pareto scatter, budget knob, chain drawing.

* :class:`LatencyView` -- :func:`widgets.figures.hardware.latency_curve`
  updated in place: E[cost] of the relaxed architecture and the cost of the
  derived one at every step, the budget and the cheapest architecture;
* :class:`ParetoView` -- :func:`widgets.figures.hardware.pareto_figure`: a
  button samples architectures from the current probabilities (scored by the
  supernet on the worker thread, between two steps), and it samples again
  when the search finishes; after a restart with another target the old
  derived architecture stays on the plot as an "earlier target";
* :class:`BudgetSlider` -- a slider for the method's budget (or its cost
  weight) and a button that restarts the search with it, through
  :meth:`SearchSession.restart` and :meth:`SearchSession.run` (the engine never
  sees the widget);
* :class:`ChainView` -- :func:`widgets.figures.hardware_chain.chain_figure`
  of the architecture at the shown step (it follows the scrubber).

The cost model is the search's own (:func:`workbench.app.hardware.searcher_cost`;
for a recorded run, the one its ``cost`` option names), unless one is passed.
"""
from __future__ import annotations

import html
import logging
from concurrent.futures import Future
from typing import Any

import ipywidgets as W
import numpy as np

from widgets.figures.hardware import (
    BUDGET,
    CHEAPEST,
    DERIVED,
    EXPECTED,
    cost_axis_title,
    latency_curve,
    pareto_figure,
    trace,
)
from widgets.figures.hardware_chain import chain_figure
from widgets.figures.style import decimate
from widgets.metrics import primary_metric
from widgets.views.base import Feed, LiveView, error_html, figure_widget, status_html
from workbench import RunFinished
from workbench.app.hardware import (
    ArchPoint,
    Target,
    arch_cost,
    cost_model_for,
    expected_costs,
    history_cost,
    sample_points,
    searcher_cost,
    target_option,
)
from workbench.methods.costs import CostModel

log = logging.getLogger(__name__)

__all__ = ["LatencyView", "ParetoView", "BudgetSlider", "ChainView", "feed_cost", "feed_target", "is_chain_space"]


def is_chain_space(space: Any) -> bool:
    """True for the chain spaces the hardware views draw (layers x blocks, a cost per block)."""
    from workbench.spaces.chain.space import ChainSpace
    return isinstance(space, ChainSpace)


def feed_cost(feed: Feed) -> CostModel:
    """The cost model of the feed's search: the live searcher's, else the recorded run's (parameters if unknown)."""
    if feed.session is not None:
        return searcher_cost(feed.session.searcher)
    try:
        return history_cost(feed.history)
    except (ValueError, KeyError) as exc:  # e.g. FLOPs of a run whose input shape is not recorded
        log.warning("cannot rebuild the run's cost model (%s); showing parameters instead", exc)
        return cost_model_for(feed.history.space, "params")


def feed_target(feed: Feed) -> Target | None:
    """The budget/weight option of the feed's method and its current value (None: the method has neither)."""
    if feed.session is not None:
        cfg = feed.session.searcher.config
        return target_option(cfg.method, cfg.method_options)
    started = feed.history.started
    if started is None:
        return None
    return target_option(str(started.config.get("method")), started.config.get("method_options") or {})


def _budget(target: Target | None) -> float | None:
    return target.value if target is not None and target.kind == "budget" else None


class LatencyView(LiveView):
    """The expected-latency curve of the search (``cost``/``budget`` override the search's own)."""

    def __init__(self, source: Any, *, cost: CostModel | None = None, budget: float | None = None,
                 max_points: int = 600, width: int | None = None, height: int = 360, **kw: Any) -> None:
        super().__init__(source, **kw)
        self._fixed_cost, self._fixed_budget = cost, budget
        self.max_points = max_points
        self._reset()
        self.figure = figure_widget(latency_curve(self.history, self.cost, budget=self.budget, max_points=max_points,
                                                  width=width, height=height), "dnas-latency")
        self.widget = self.figure
        self.refresh()

    def _reset(self) -> None:
        self.cost = self._fixed_cost if self._fixed_cost is not None else feed_cost(self.feed)
        self.budget = self._fixed_budget if self._fixed_budget is not None else _budget(feed_target(self.feed))
        self._derived: list[float] = []  # cost of the derived architecture per History row, extended incrementally
        self._steps_seen = np.zeros(0, dtype=np.int64)

    def series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, expected cost, derived cost) of every recorded step."""
        h = self.history
        n = len(h)
        steps = h.steps[:n]
        k = len(self._derived)
        if k > n or not np.array_equal(self._steps_seen[:k], steps[:k]):  # a rollback rewrote the tail
            self._derived, k = [], 0
        group = next(g for g in h.group_names if g in self.cost.costs)
        for i in range(k, n):
            self._derived.append(arch_cost(h.space, h.genotype_at(int(steps[i])), self.cost))
        self._steps_seen = steps.copy()
        return steps, expected_costs(h.weights(group)[:n], self.cost), np.asarray(self._derived, dtype=float)

    def _draw(self) -> None:
        steps, expected, derived = self.series()
        idx = decimate(len(steps), self.max_points)
        x0, x1 = (float(steps[0]), float(steps[-1])) if len(steps) else (0.0, 1.0)
        with self.figure.batch_update():
            trace(self.figure, EXPECTED).update(x=steps[idx], y=expected[idx])
            trace(self.figure, DERIVED).update(x=steps[idx], y=derived[idx])
            b = self.budget
            trace(self.figure, BUDGET).update(x=[x0, x1] if b is not None else [], y=[b, b] if b is not None else [])
            low = self.cost.minimum()
            trace(self.figure, CHEAPEST).update(x=[x0, x1], y=[low, low])
            self.figure.layout.yaxis.title.text = cost_axis_title(self.cost, short=True)


class ParetoView(LiveView):
    """Latency-accuracy scatter of sampled architectures; ``sample()`` (or the button) draws new ones."""

    kinds = (RunFinished,)

    def __init__(self, source: Any, *, cost: CostModel | None = None, n: int = 24, points: list[ArchPoint] | None = None,
                 sample_at_end: bool = True, width: int | None = None, height: int = 420, **kw: Any) -> None:
        super().__init__(source, **kw)
        self._fixed_cost, self.n, self.sample_at_end = cost, n, sample_at_end
        self.points: list[ArchPoint] = list(points or [])
        self.previous: list[ArchPoint] = []
        self._seed = 0
        self.cost = cost if cost is not None else feed_cost(self.feed)
        self.target = feed_target(self.feed)
        self.figure = figure_widget(self._figure(width, height), "dnas-pareto")
        self.button = W.Button(description="Sample architectures", icon="random",
                               tooltip="sample architectures from the current probabilities and score them with the "
                                       "supernet", disabled=not self.feed.live, layout=W.Layout(width="190px"))
        self.button.add_class("dnas-pareto-sample")
        self.button.on_click(lambda _: self.sample())
        self.status = W.HTML(status_html("sampled architectures are scored by the supernet (one-shot), not trained"
                                         if self.feed.live else "a recorded run: no supernet to sample from"))
        self.widget = W.VBox([W.HBox([self.button, self.status], layout=W.Layout(align_items="center")),
                              self.figure])

    def _figure(self, width: int | None = None, height: int | None = None) -> Any:
        fig = pareto_figure([*self.previous, *self.points], self.cost, metric=primary_metric(self.history),
                            budget=_budget(self.target), width=width, height=height or 420)
        return fig

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, RunFinished) and self.sample_at_end and self.feed.live:
            self.sample()

    def _on_session(self, kind: str, session: Any) -> None:
        if kind == "reset":  # a restart (new target): keep the old derived architecture as an earlier target
            note = "" if self.target is None or self.target.value is None else \
                f"{self.target.option}={self.target.value:g}"
            self.previous += [ArchPoint(p.label, p.cost, p.metric, "previous", p.step, note, p.arch)
                              for p in self.points if p.kind == "derived"]
            self.points = []
            self.cost = self._fixed_cost if self._fixed_cost is not None else feed_cost(self.feed)
            self.target = feed_target(self.feed)
            self.refresh()

    def sample(self, n: int | None = None) -> Future:
        """Sample ``n`` (default ``self.n``) architectures on the worker, between two steps; redraws when done."""
        session = self.feed.session
        if session is None:
            raise RuntimeError("sampling needs a live search (a SearchSession or Searcher)")
        self._seed += 1
        n, seed, cost = self.n if n is None else n, self._seed, self.cost
        self.status.value = status_html(f"sampling {n} architectures…")
        fut = session.submit(lambda s: sample_points(s, n, cost=cost, seed=seed))
        fut.add_done_callback(self._sampled)
        return fut

    def _sampled(self, fut: Future) -> None:
        exc = fut.exception()
        if exc is not None:
            self.status.value = error_html(exc)
            return
        self.points = list(fut.result())
        d = [p for p in self.points if p.kind == "derived"]
        self.status.value = status_html(f"{len(self.points) - len(d)} sampled at step {self.points[0].step}"
                                        if self.points else "nothing sampled")
        self.refresh()

    def _draw(self) -> None:
        fig = self._figure()
        with self.figure.batch_update():
            for old, new in zip(self.figure.data, fig.data, strict=True):
                old.update(x=new.x, y=new.y, text=new.text, customdata=new.customdata)
            self.figure.layout.xaxis.title.text = fig.layout.xaxis.title.text


class BudgetSlider:
    """A slider for the search's latency budget (or cost weight) and a button that restarts the search with it.

    Commands go through the session only: ``session.restart({option: value})``,
    then ``session.run()`` once the new searcher is in place (``run_after``).
    """

    def __init__(self, session: Any, *, target: Target | None = None, cost: CostModel | None = None,
                 low: float | None = None, high: float | None = None, run_after: bool = True) -> None:
        self.session, self.run_after = session, run_after
        feed = Feed(session) if target is None or (cost is None and target.kind == "budget") else None
        self.target = target if target is not None else feed_target(feed)  # type: ignore[arg-type]
        self.status = W.HTML()
        self.restarts = 0
        if self.target is None:
            self.slider = None
            self.button = None
            self.widget = W.HTML(status_html("this method takes no latency budget or cost weight"))
            return
        t = self.target
        if t.kind == "budget":
            self.cost = cost if cost is not None else feed_cost(feed)  # type: ignore[arg-type]
            lo = self.cost.minimum() if low is None else low
            hi = _most_expensive(self.cost) if high is None else high
            unit = f" {self.cost.unit}"
        else:
            self.cost = cost
            lo = 0.0 if low is None else low
            hi = max(3.0 * (t.value or 0.0), 1.0) if high is None else high
            unit = ""
        value = float(np.clip(t.value if t.value is not None else hi, lo, hi))
        self.slider = W.FloatSlider(value=value, min=lo, max=hi, step=(hi - lo) / 200 or 0.01, readout_format=".3g",
                                    description=t.label, continuous_update=False,
                                    style={"description_width": "initial"}, layout=W.Layout(width="460px"))
        self.slider.add_class("dnas-budget-slider")
        self.button = W.Button(description="Restart with this target", icon="refresh", button_style="warning",
                               layout=W.Layout(width="210px"))
        self.button.add_class("dnas-budget-restart")
        self.button.on_click(lambda _: self.apply())
        self.status.value = status_html(f"{t.method}: {t.option} = {t.value if t.value is not None else '—'}{unit}")
        self.widget = W.HBox([self.slider, self.button, self.status], layout=W.Layout(align_items="center"))

    def apply(self, value: float | None = None) -> Future:
        """Restart the search with ``value`` (default: the slider's) as the method's target option."""
        if self.target is None or self.slider is None:
            raise RuntimeError("this method takes no latency budget or cost weight")
        value = float(self.slider.value if value is None else value)
        self.slider.value = value
        option = self.target.option
        self.status.value = status_html(f"restarting with {option} = {value:.4g}…")
        fut = self.session.restart({option: value})
        fut.add_done_callback(lambda f: self._restarted(f, value))
        return fut

    def _restarted(self, fut: Future, value: float) -> None:
        exc = fut.exception()
        if exc is not None:
            self.status.value = error_html(exc)
            return
        self.restarts += 1
        self.target = Target(self.target.method, self.target.option, self.target.kind, value)  # type: ignore[union-attr]
        self.status.value = status_html(f"restarted with {self.target.option} = {value:.4g}"
                                        + (": searching" if self.run_after else ""), "#2e7d32")
        if self.run_after:
            self.session.run()

    def close(self) -> None:
        """Nothing to unsubscribe (the slider only sends commands)."""

    def set_visible(self, visible: bool) -> None:
        """Always current (part of the dashboard's interface)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def _most_expensive(cost: CostModel) -> float:
    total = 0.0
    allowed = getattr(cost, "allowed", None) or {}
    for g, c in cost.costs.items():
        a = np.asarray(c, dtype=float)
        if g in allowed:
            a = np.where(np.asarray(allowed[g], dtype=bool), a, -np.inf)
        total += float(a.max(axis=1).sum())
    return total


class ChainView(LiveView):
    """The architecture at the shown step drawn as a chain of blocks with each layer's predicted cost."""

    def __init__(self, source: Any, *, cost: CostModel | None = None, width: int | None = None,
                 height: int | None = None, **kw: Any) -> None:
        super().__init__(source, **kw)
        self._fixed_cost, self.width, self.height = cost, width, height
        self._reset()
        self.figure = figure_widget(self._figure(), "dnas-chain")
        self.note = W.HTML()
        self.widget = W.VBox([self.figure, self.note])
        self.refresh()

    def _reset(self) -> None:
        self.cost = self._fixed_cost if self._fixed_cost is not None else feed_cost(self.feed)
        self.input_shape = None
        self.n_outputs = None
        if self.feed.session is not None:
            info = self.feed.session.searcher.task.info
            self.input_shape, self.n_outputs = info.input_shape, info.n_outputs

    def arch(self) -> Any:
        """The architecture on screen: decoded at the shown step (the space's cheapest-first default before any)."""
        step = self.shown_step()
        h = self.history
        if step is None:
            return h.space.decode({g.name: g.allowed_matrix().astype(float) for g in h.groups}, h.initial_masks)
        return h.genotype_at(step)

    def _figure(self) -> Any:
        step = self.shown_step()
        probs = self.history.weights_at(step) if step is not None else None
        title = "Derived architecture" + (f" · step {step}" if step is not None else " (before the first step)")
        return chain_figure(self.history.space, self.arch(), self.cost, probs=probs, input_shape=self.input_shape,
                            n_outputs=self.n_outputs, title=title, width=self.width, height=self.height)

    def _draw(self) -> None:
        fig = self._figure()
        with self.figure.batch_update():
            for old, new in zip(self.figure.data, fig.data, strict=True):
                old.update(new.to_plotly_json())
            self.figure.update_layout(shapes=fig.layout.shapes, annotations=fig.layout.annotations,
                                      title=fig.layout.title, yaxis2=fig.layout.yaxis2)
        arch = self.arch()
        self.note.value = status_html(f"{html.escape(self.history.space.label(arch))} · predicted "
                                      f"{arch_cost(self.history.space, arch, self.cost):.4g} {self.cost.unit} "
                                      f"({html.escape(self.cost.name)})")

"""The live sharpness track: the dominant eigenvalue of the alpha Hessian over a search, with "compute now".

RobustDARTS (Zela et al., ICLR 2020) tracks the dominant eigenvalue of
∇²_α L_val: it grows as DARTS heads for a poor architecture, and its rise
triggers early stopping. The view draws the ``AnalysisResult(kind=
"sharpness")`` events of :func:`workbench.analysis.track_sharpness` (live,
or a History's ``analysis`` list for a finished or reloaded run) with the
early-stopping marks (:mod:`widgets.figures.sharpness`); a "compute now"
button measures it on demand, on the search's worker between two steps.
Works for any space (the Hessian is over all of the space's alphas).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import ipywidgets as W

from widgets.figures import sharpness as SF
from widgets.views.base import LiveView, error_html, figure_widget, require_session, status_html
from workbench import AnalysisResult, RunStarted
from workbench.analysis import compute_sharpness

__all__ = ["SharpnessView", "sharpness_event", "SHARPNESS_KINDS"]

SHARPNESS_KINDS = ("sharpness", "early_stop")


def sharpness_event(searcher: Any, method: str = "auto", k: int = 3, batches: int = 1, bn: str = "train",
                    seed: int = 0, source: str = "compute now") -> AnalysisResult:
    """Measure the alpha-Hessian spectrum now and emit it on the searcher's bus, like the tracker does.

    ``method="auto"``: the dense Hessian (exact) up to 256 alphas, else power
    iteration (+ Lanczos for k > 1). Call it on the thread that owns the
    searcher (``session.submit``); returns the emitted event.
    """
    n = sum(a.numel() for a in searcher.model.alphas.values())
    m = ("dense" if n <= 256 else "power") if method == "auto" else method
    r = compute_sharpness(searcher, method=m, k=min(k, n), batches=batches, bn=bn, seed=seed)
    s = searcher.step_count
    values = {"eigenvalue": r.eigenvalue, "top_k": list(r.top_k), "method": r.method,
              "epoch": (s - 1) // searcher.steps_per_epoch if s > 0 else None, "n_alphas": r.n_alphas,
              "hvps": r.hvps, "seconds": r.seconds, "loss": r.loss, "bn": bn, "source": source,
              "steps_per_epoch": searcher.steps_per_epoch}
    event = AnalysisResult(s, "sharpness", values)
    searcher.bus.emit(event)
    return event


class SharpnessView(LiveView):
    """Dominant eigenvalue of ∇²_α L_val over the search, top-k spectrum, early-stop marks, "compute now".

    ``source``: a SearchSession / Searcher (live: listens to the bus) or a
    History / Run / run folder (its recorded ``analysis`` list). A rollback
    (``RunStarted(resumed=True)`` after early stopping) keeps the undone
    measurements on screen, greyed as "rolled back". ``x``: ``"epoch"``,
    ``"step"`` or ``"auto"`` (epochs when each measurement has its own).
    ``method``/``k``/``batches``/``bn`` configure the "compute now" button
    (see :func:`sharpness_event`).
    """

    kinds = (AnalysisResult, RunStarted)

    def __init__(self, source: Any, *, x: str = "auto", method: str = "auto", k: int = 3, batches: int = 1,
                 bn: str = "train", seed: int = 0, height: int = 380, width: int | None = 900, **kw: Any) -> None:
        self.x = x
        self.options = dict(method=method, k=k, batches=batches, bn=bn, seed=seed)
        self._data_lock = threading.Lock()
        self.results: list[AnalysisResult] = []
        self.discarded: list[AnalysisResult] = []
        super().__init__(source, **kw)
        with self.feed.lock():
            self._load_history()
        self.figure = figure_widget(SF.sharpness_figure(self.track(), x=x, height=height, width=width),
                                     "dnas-sharpness")
        self.button = W.Button(description="Compute now", icon="calculator", tooltip=(
            "measure the alpha-Hessian spectrum at the current step (between two search steps)"),
            layout=W.Layout(width="auto"), disabled=not self.feed.live)
        self.button.add_class("dnas-sharpness-compute")
        self.button.on_click(lambda _: self.compute_now())
        self.status = W.HTML()
        self.status.add_class("dnas-sharpness-status")
        self.widget = W.VBox([self.figure, W.HBox([self.button, self.status],
                                                  layout=W.Layout(align_items="center"))])
        self.refresh()

    def _load_history(self) -> None:
        with self._data_lock:
            self.results = [r for r in self.history.analysis if r.kind in SHARPNESS_KINDS]
            self.discarded = []

    def _reset(self) -> None:
        self._load_history()

    def track(self) -> SF.SharpnessTrack:
        with self._data_lock:
            return SF.SharpnessTrack(list(self.results), list(self.discarded))

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, AnalysisResult):
            if ev.kind not in SHARPNESS_KINDS:
                return
            with self._data_lock:
                self.results.append(ev)
        elif isinstance(ev, RunStarted):
            if not ev.resumed:
                return
            with self._data_lock:  # a rollback: measurements after the restored step were undone
                undone = [r for r in self.results if r.kind == "sharpness" and r.step > ev.step]
                self.results = [r for r in self.results if r not in undone]
                self.discarded += undone
        super()._on_event(ev)

    def _draw(self) -> None:
        if not hasattr(self, "figure"):  # an event arrived while the view was being built
            return
        track = self.track()
        with self.figure.batch_update():
            SF.update_sharpness_figure(self.figure, track, x=self.x)
        if not len(track):
            hint = "press <b>Compute now</b>, or attach <code>track_sharpness(searcher)</code>" if self.feed.live \
                else "this run recorded no sharpness measurements"
            self.status.value = status_html(f"no measurement yet: {hint}")
            return
        last = track.results[-1]
        v = last.values
        ep = "" if v.get("epoch") is None else f" (epoch {v['epoch']})"
        text = (f"{len(track)} measurement{'s' if len(track) > 1 else ''} · last: λmax = <b>{v['eigenvalue']:.4f}</b> "
                f"at step {last.step}{ep} · {v.get('method', '?')}, {v.get('seconds', float('nan')):.2f} s")
        es = track.early_stop
        if es is not None:
            text += (f" · <b style='color:#c0392b'>early stop fired at epoch {es['trigger_epoch']}</b>, keeps "
                     f"epoch {es['stop_epoch']}")
        self.status.value = status_html(text)

    def compute_now(self) -> Future:
        """Measure now (on the search's worker, between two steps); the Future holds the emitted event."""
        session = require_session(self.feed, "compute now")
        self.button.disabled = True
        self.status.value = status_html("computing the alpha-Hessian spectrum…", "#1f5aa6")
        opts = dict(self.options)
        fut = session.submit(lambda s: sharpness_event(s, **opts))

        def done(f: Future) -> None:
            self.button.disabled = False
            if f.exception() is not None:
                self.status.value = error_html(f.exception())
            else:
                self.refresh()

        fut.add_done_callback(done)
        return fut

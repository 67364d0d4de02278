"""What every live view shares: its data feed, subscription, throttling, step pinning and FigureWidget helpers.

Each view reads a :class:`workbench.history.History` (live from a
:class:`~workbench.app.session.SearchSession`, or finished / reloaded from a
run folder) and, when live, subscribes to the searcher's bus. Updates follow
the rules of ECOSYSTEM.md 4.1: throttled (``every`` N steps and at most one
redraw per ``min_interval`` seconds, with a trailing redraw when the worker
goes idle), applied inside ``fig.batch_update()`` to figures built ONCE by the
pure functions of :mod:`widgets.figures` (their documented trace layout is
updated in place), sending only reduced data. ``close()`` unsubscribes. Any
view can be pinned to a past step with ``show_step(step)`` (the scrubber does
this); ``show_step(None)`` follows the latest step again.
"""
from __future__ import annotations

import contextlib
import html
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from workbench import EpochEnded, OpMaskChanged, Searcher, StepEnded
from workbench.app.session import SearchSession, as_session
from workbench.history import History

__all__ = ["Feed", "LiveView", "latest_step", "figure_widget", "json_safe", "status_html", "error_html",
           "require_session"]


class Feed:
    """What a view reads: a History, and the session when the search is live."""

    def __init__(self, source: Any) -> None:
        self.session: SearchSession | None = None
        self._history: History | None = None
        if isinstance(source, Feed):
            self.session, self._history = source.session, source._history
        elif isinstance(source, (SearchSession, Searcher)):
            self.session = as_session(source)
        elif isinstance(source, History):
            self._history = source
        elif isinstance(getattr(source, "history", None), History):  # workbench.runs.Run
            self._history = source.history
        elif isinstance(source, (str, os.PathLike)):
            from workbench.runs import load_run
            self._history = load_run(Path(source)).history
        else:
            raise TypeError(f"a view needs a SearchSession, Searcher, History, Run or run folder path, got "
                            f"{type(source).__name__}")

    @property
    def history(self) -> History:
        return self.session.history if self.session is not None else self._history  # type: ignore[return-value]

    @property
    def space(self):
        return self.history.space

    @property
    def live(self) -> bool:
        return self.session is not None

    def lock(self) -> Any:
        """The session lock (a live History only changes while the worker holds it), else a no-op."""
        return self.session.lock if self.session is not None else contextlib.nullcontext()


def latest_step(h: History) -> int | None:
    steps = h.steps
    return int(steps[-1]) if len(steps) else None


class LiveView:
    """Base class: subscription, throttling, step pinning, thread-safe redraws."""

    kinds: tuple[type, ...] = (StepEnded, EpochEnded, OpMaskChanged)

    def __init__(self, source: Any, *, every: int = 1, min_interval: float = 0.25) -> None:
        if every < 1 or min_interval < 0:
            raise ValueError(f"every must be >= 1 and min_interval >= 0, got {every}, {min_interval}")
        self.feed = source if isinstance(source, Feed) else Feed(source)
        self.every, self.min_interval = every, min_interval
        self.step: int | None = None  # pinned step; None follows the latest
        self.visible = True  # a hidden view (e.g. in a closed tab) only notes that it is stale
        self.redraws = 0
        self._t_drawn = 0.0
        self._dirty = False
        self._draw_lock = threading.RLock()
        self._unsubs: list[Callable[[], None]] = []
        if self.feed.live:
            s = self.feed.session
            self._unsubs.append(s.bus.subscribe(self._on_event, kinds=self.kinds))
            self._unsubs.append(s.add_listener(self._on_session))

    @property
    def history(self) -> History:
        return self.feed.history

    def shown_step(self) -> int | None:
        """The step on screen: the pinned one, else the latest recorded (None before the first step)."""
        return self.step if self.step is not None else latest_step(self.history)

    def _on_event(self, ev: Any) -> None:
        self._dirty = True
        if not self.visible:
            return
        if isinstance(ev, StepEnded) and ev.step % self.every:
            return
        if time.perf_counter() - self._t_drawn >= self.min_interval:
            self.refresh()

    def _on_session(self, kind: str, session: SearchSession) -> None:
        if kind == "reset":
            self.step = None
            self._reset()
            self.refresh()
        elif kind == "idle" and self._dirty and self.visible:
            self.refresh()

    def set_visible(self, visible: bool) -> None:
        """Hidden views skip redraws; showing a stale view redraws it at once."""
        self.visible = bool(visible)
        if self.visible and self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Redraw now (from any thread; waits for the current search step to end)."""
        with self.feed.lock(), self._draw_lock:
            self._dirty = False
            self._t_drawn = time.perf_counter()
            self.redraws += 1
            self._draw()

    def show_step(self, step: int | None) -> None:
        """Show the state at a recorded ``step`` (None: follow the latest)."""
        self.step = None if step is None else int(step)
        if self.visible:
            self.refresh()
        else:
            self._dirty = True

    def close(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs = []

    def _draw(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset(self) -> None:
        """Forget caches tied to the old History (after a session reset)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)  # type: ignore[attr-defined]



def json_safe(fig: go.Figure | go.FigureWidget) -> None:
    """Replace NaN in heatmap ``z`` by None (a gap): widget messages travel as strict JSON, where NaN is invalid.

    plotly sends 2-D ``z`` as nested lists, and jupyter_client rejects NaN in them
    ("Out of range float values are not JSON compliant").
    """
    for tr in fig.data:
        if tr.type == "heatmap" and tr.z is not None:
            z = np.asarray(tr.z, dtype=float)
            if np.isnan(z).any():
                tr.z = np.where(np.isnan(z), None, z.astype(object))


def figure_widget(fig: go.Figure, css: str) -> go.FigureWidget:
    json_safe(fig)
    fw = go.FigureWidget(fig)
    fw.add_class(css)
    return fw




def status_html(text: str, color: str = "#555") -> str:
    """A one-line status message (HTML)."""
    return f"<span style='color:{color};font-size:12px'>{text}</span>"


def error_html(exc: BaseException) -> str:
    """An exception as a red status line (HTML)."""
    return status_html(f"⚠ {html.escape(type(exc).__name__)}: {html.escape(str(exc))}", "#c62828")


def require_session(feed: Feed, what: str) -> SearchSession:
    """The feed's live session, or a clear error for a view built from a recorded History or run folder."""
    if feed.session is None:
        raise RuntimeError(f"{what} needs a live search (a SearchSession or Searcher); this view was built from a "
                           "recorded History or run folder, which holds no supernet")
    return feed.session

"""Run a search in a background thread so the notebook stays responsive, and the buttons that drive it.

Why a thread: in JupyterLab 4 with ipykernel 7 a cell that loops blocks the
kernel's shell, so button clicks (comm messages) are not processed until the
loop ends; polling helpers (jupyter-ui-poll) and comms over subshells did not
deliver clicks either (ECOSYSTEM.md 4.2, verified). A worker thread leaves the
shell idle, so widgets, sliders and other cells keep working while it steps.

The rules that keep this safe (the engine stays synchronous and unaware):

* :class:`SearchSession` owns exactly ONE worker thread and a command queue.
  Every mutation of the search (steps, op swaps, reset, arbitrary calls) runs
  on the worker, between two steps; the session lock is held meanwhile.
* Pause is a ``threading.Event`` checked before every step: a pause takes
  effect within one step. Views read immutable data (event payloads, the
  History's arrays), never live tensors.
* Nothing here prints (ipykernel >= 7 no longer routes thread output to a
  cell); failures are stored on the session, logged, and shown by the panel.
* ``threaded=False`` runs the very same command code inline in the caller's
  thread, for scripts, tests and benchmarks.
"""
from __future__ import annotations

import html
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import ipywidgets as W

from workbench import EventBus, OpMaskChanged, SearchConfig, Searcher, StepEnded
from workbench.history import History

log = logging.getLogger(__name__)

__all__ = ["SearchSession", "ControlPanel", "OpSwapper", "as_session", "progress_text"]

_WAKE = ("wake",)
_CLOSE = ("close",)
Listener = Callable[[str, "SearchSession"], None]


class SearchSession:
    """A searcher plus the one worker thread allowed to touch it.

    Commands return immediately; those that change the search return a
    :class:`concurrent.futures.Future` (``.result()`` waits and re-raises a
    refusal such as switching off the last real op of an edge). ``wait()``
    blocks until the worker is idle, which is how scripts and headless
    notebooks run a search to a known point.

    Listeners (``add_listener(fn)``) get ``fn(kind, session)`` with kind
    ``"state"`` (running/paused/idle changed), ``"reset"`` (a fresh searcher
    and History replaced the old ones), ``"idle"`` (the worker has nothing left
    to do: views flush what their throttle held back) and ``"error"``.
    """

    def __init__(self, searcher: Searcher | SearchConfig, *, threaded: bool = True) -> None:
        if isinstance(searcher, SearchConfig):
            searcher = Searcher(searcher)
        if not isinstance(searcher, Searcher):
            raise TypeError(f"SearchSession needs a workbench.Searcher or a SearchConfig, got "
                            f"{type(searcher).__name__}")
        self.searcher = searcher
        self.threaded = threaded
        self.lock = threading.RLock()  # held by whoever mutates the searcher (the worker, or inline mode)
        self._state_lock = threading.Lock()  # orders queue puts against the idle decision
        self._queue: queue.Queue = queue.Queue()
        self._go = threading.Event()
        self._go.set()
        self._idle = threading.Event()
        self._idle.set()
        self._remaining = 0
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []
        self.error: str | None = None
        self.steps_per_second = 0.0
        self._t_last: float | None = None
        self._unsub_history: Callable[[], None] | None = None
        self.history = self._attach_history()
        _SESSIONS[id(searcher)] = self

    # -- read-only state ---------------------------------------------------------------------------
    @property
    def bus(self) -> EventBus:
        return self.searcher.bus

    @property
    def space(self):
        return self.searcher.space

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    @property
    def running(self) -> bool:
        """True while the worker has steps to take and is not paused."""
        return self._has_work()

    @property
    def remaining(self) -> int:
        return self._remaining

    def status(self) -> str:
        """'error', 'finished', 'running', 'paused' or 'idle'."""
        if self.error:
            return "error"
        if self.searcher.finished:
            return "finished"
        if self.running:
            return "running"
        if self.paused and self._remaining > 0:
            return "paused"
        return "idle"

    def add_listener(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(kind, session)`` on state changes; returns a function that removes it."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    # -- commands ----------------------------------------------------------------------------------
    def run(self, n: int | None = None) -> None:
        """Take ``n`` more steps (default: to the end of the search) in the background; unpauses."""
        if n is not None and (not isinstance(n, int) or n < 0):
            raise ValueError(f"run(n) needs a step count n >= 0 or None (to the end), got {n!r}")
        left = self.searcher.total_steps - self.searcher.step_count
        with self._state_lock:
            self._remaining = left if n is None else min(n, left)
        self.error = None
        self._go.set()
        self._send(_WAKE)

    def step(self, n: int = 1) -> None:
        """Take ``n`` steps (default one); the same as ``run(n)``."""
        self.run(n)

    def pause(self) -> None:
        """Stop before the next step (the current one finishes); ``resume()`` continues."""
        self._go.clear()
        self._send(_WAKE)

    def resume(self) -> None:
        self._go.set()
        self._send(_WAKE)

    def stop(self) -> None:
        """Drop the remaining step budget (the current step finishes)."""
        self._remaining = 0
        self._send(_WAKE)

    def set_op_enabled(self, cell_type: str, op: str, enabled: bool, edges: list[int] | None = None) -> Future:
        """Switch a candidate op on/off at the next step boundary (see ``Searcher.set_op_enabled``)."""
        return self.submit(lambda s: s.set_op_enabled(cell_type, op, enabled, edges))

    def reset(self) -> Future:
        """Replace the searcher by a fresh one built from the same config (same seed, all ops on)."""
        return self._send(("reset",))

    def submit(self, fn: Callable[[Searcher], Any]) -> Future:
        """Run ``fn(searcher)`` on the worker between two steps; the Future holds its result."""
        return self._send(("call", fn))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is idle (budget spent, paused or finished); False on timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop the worker thread after its current step (a later command starts a new one)."""
        self._remaining = 0
        with self._state_lock:
            thread = self._thread
            if thread is not None:
                self._queue.put((_CLOSE, Future()))
        if thread is not None and threading.current_thread() is not thread:
            thread.join(timeout=60)

    # -- worker ------------------------------------------------------------------------------------
    IDLE_EXIT_S = 30.0  # an idle worker thread exits after this long; the next command starts a new one

    def _send(self, cmd: Any) -> Future:
        fut: Future = Future()
        with self._state_lock:
            self._idle.clear()
            self._queue.put((cmd, fut))
            if self.threaded and self._thread is None:
                self._thread = threading.Thread(target=self._work, args=(True,), name="dnas-search-worker",
                                                daemon=True)
                self._thread.start()
        if not self.threaded and not self._draining:
            self._draining = True
            try:
                self._work(block=False)
            finally:
                self._draining = False
        return fut

    _draining = False

    def _has_work(self) -> bool:
        return (self._remaining > 0 and self._go.is_set() and not self.searcher.finished
                and self.error is None)

    def _work(self, block: bool) -> None:
        """The worker loop: commands first, then one step, repeat; announce idleness once."""
        was_busy: bool | None = None
        announced = False
        while True:
            busy = self._has_work()
            if busy != was_busy:
                was_busy = busy
                self._notify("state")
            item = None
            if busy:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    pass
            else:
                if not announced:
                    with self._state_lock:
                        empty = self._queue.empty()
                    if empty:
                        self._t_last = None
                        self._notify("idle")  # views flush before wait() returns
                        with self._state_lock:
                            if self._queue.empty():
                                self._idle.set()
                                announced = True
                if not block and self._queue.empty():
                    return
                try:
                    item = self._queue.get(timeout=self.IDLE_EXIT_S if block else None)
                except queue.Empty:
                    with self._state_lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
            if item is not None:
                announced = False
                if item[0] is _CLOSE:
                    with self._state_lock:
                        self._thread = None
                        self._idle.set()
                    return
                self._execute(*item)
                continue
            self._one_step()

    def _execute(self, cmd: Any, fut: Future) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            with self.lock:
                if cmd == _WAKE:
                    result = None
                elif cmd[0] == "call":
                    result = cmd[1](self.searcher)
                elif cmd[0] == "reset":
                    result = self._reset()
                else:  # pragma: no cover - internal commands only
                    raise ValueError(f"unknown command {cmd!r}")
        except BaseException as exc:  # the caller sees it through the Future
            fut.set_exception(exc)
            return
        fut.set_result(result)

    def _one_step(self) -> None:
        try:
            with self.lock:
                self.searcher.step()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self._remaining = 0
            log.warning("search step failed: %s", self.error)
            self._notify("error")
            return
        with self._state_lock:
            self._remaining = max(0, self._remaining - 1)
        now = time.perf_counter()
        if self._t_last is not None:
            rate = 1.0 / max(now - self._t_last, 1e-9)
            self.steps_per_second = rate if self.steps_per_second == 0 else 0.8 * self.steps_per_second + 0.2 * rate
        self._t_last = now

    def _attach_history(self) -> History:
        """A fresh History for the current searcher, fed by the session's own (first) bus subscription.

        The session subscribes once, before any view, and forwards to whichever
        History is current; so a view handling a StepEnded always finds it recorded,
        also after a reset.
        """
        s = self.searcher
        h = History(s.space, s.method.genotype_rule)
        h.initial_masks = s.masks()
        if self._unsub_history is None:
            self._unsub_history = s.bus.subscribe(lambda ev: self.history(ev))
        return h

    def _reset(self) -> Searcher:
        old = self.searcher
        kw: dict[str, Any] = dict(dataset=old.dataset, method=old.method, bus=old.bus)
        if not old.config.removed_ops:  # a space with ops removed by the config is rebuilt from the config
            kw["space"] = old.space
        fresh = Searcher(old.config, **kw)  # the same bus: every subscription carries over
        _SESSIONS.pop(id(old), None)
        self.searcher = fresh
        _SESSIONS[id(fresh)] = self
        self.history = self._attach_history()
        self._remaining, self.error, self.steps_per_second = 0, None, 0.0
        self._go.set()
        self._notify("reset")
        return fresh

    def _notify(self, kind: str) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, self)
            except Exception:
                log.exception("session listener %r failed on %r", fn, kind)

    def __repr__(self) -> str:
        s = self.searcher
        return f"SearchSession(step {s.step_count}/{s.total_steps}, {self.status()})"


# id(searcher) -> its session, weakly: one session per searcher, so two dashboards never step it from two threads
_SESSIONS: weakref.WeakValueDictionary[int, SearchSession] = weakref.WeakValueDictionary()


def as_session(obj: SearchSession | Searcher | SearchConfig) -> SearchSession:
    """The session that owns a searcher (created on first use)."""
    if isinstance(obj, SearchSession):
        return obj
    if isinstance(obj, Searcher):
        found = _SESSIONS.get(id(obj))
        if found is not None and found.searcher is obj:
            return found
    return SearchSession(obj)


# ------------------------------------------------------------------------------ the panel
def progress_text(ev: StepEnded | None, session: SearchSession) -> str:
    """One line: step, epoch, losses, accuracies, lr, steps/s."""
    s = session.searcher
    if ev is None:
        return (f"step 0/{s.total_steps} · {s.steps_per_epoch} steps per epoch · "
                f"{s.config.epochs} epochs · {s.space.name} space, {s.method.name}")
    return (f"step <b>{ev.step}</b>/{s.total_steps} · epoch {ev.epoch + 1}/{s.config.epochs} · "
            f"loss train {ev.train_loss:.3f} val {ev.val_loss:.3f} · "
            f"acc train {ev.train_acc:.1%} val {ev.val_acc:.1%} · lr {ev.lr:.4f} · "
            f"{session.steps_per_second:.1f} steps/s")


class ControlPanel:
    """Step / Run N / Run to end / Pause / Resume / Reset buttons and a live progress line."""

    def __init__(self, session: SearchSession | Searcher, run_n: int = 12, min_interval: float = 0.25) -> None:
        self.session = as_session(session)
        self.min_interval = min_interval
        self._last_ev: StepEnded | None = None
        self._t_shown = 0.0

        def button(desc: str, icon: str, cls: str, tip: str) -> W.Button:
            b = W.Button(description=desc, icon=icon, tooltip=tip, layout=W.Layout(width="auto"))
            b.add_class("dnas-btn")
            b.add_class(cls)
            return b

        self.step_btn = button("Step", "step-forward", "dnas-step", "one architecture + one weight update")
        self.run_n_btn = button("Run", "forward", "dnas-run-n", "run the number of steps on the right")
        self.n_box = W.BoundedIntText(value=run_n, min=1, max=10 ** 7, layout=W.Layout(width="72px"))
        self.run_btn = button("Run to end", "fast-forward", "dnas-run", "run the rest of the search")
        self.pause_btn = button("Pause", "pause", "dnas-pause", "stop after the current step")
        self.resume_btn = button("Resume", "play", "dnas-resume", "continue the paused run")
        self.reset_btn = button("Reset", "undo", "dnas-reset", "a fresh search from the same config and seed")
        self.status = W.HTML(layout=W.Layout(margin="0 0 0 8px"))
        self.status.add_class("dnas-status")
        self.progress = W.HTML(progress_text(None, self.session))
        self.progress.add_class("dnas-progress")
        self.step_btn.on_click(lambda _: self.session.step())
        self.run_n_btn.on_click(lambda _: self.session.run(int(self.n_box.value)))
        self.run_btn.on_click(lambda _: self.session.run())
        self.pause_btn.on_click(lambda _: self.session.pause())
        self.resume_btn.on_click(lambda _: self.session.resume())
        self.reset_btn.on_click(lambda _: self.session.reset())
        buttons = W.HBox([self.step_btn, self.run_n_btn, self.n_box, self.run_btn, self.pause_btn,
                          self.resume_btn, self.reset_btn, self.status],
                         layout=W.Layout(align_items="center", flex_flow="row wrap"))
        self.widget = W.VBox([buttons, self.progress])
        self.widget.add_class("dnas-controls")
        self._unsub = [self.session.bus.subscribe(self._on_step, kinds=(StepEnded,)),
                       self.session.add_listener(self._on_session)]
        self._show_state()

    def _on_step(self, ev: StepEnded) -> None:
        self._last_ev = ev
        now = time.perf_counter()
        if now - self._t_shown >= self.min_interval:
            self._t_shown = now
            self.progress.value = progress_text(ev, self.session)

    def _on_session(self, kind: str, session: SearchSession) -> None:
        if kind == "reset":
            self._last_ev = None
        if kind in ("idle", "reset", "error"):
            self.progress.value = progress_text(self._last_ev, session)
        self._show_state()

    def _show_state(self) -> None:
        st = self.session.status()
        colors = {"running": "#2e7d32", "paused": "#b26a00", "finished": "#555", "idle": "#555", "error": "#c62828"}
        text = st if st != "error" else f"error: {self.session.error}"
        self.status.value = f"<span style='color:{colors[st]};font-weight:600'>● {text}</span>"
        running = st == "running"
        done = st in ("finished",)
        self.step_btn.disabled = running or done
        self.run_n_btn.disabled = running or done
        self.run_btn.disabled = running or done
        self.pause_btn.disabled = not running
        self.resume_btn.disabled = st != "paused"

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub = []

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


# ------------------------------------------------------------------------------ the op swapper
class OpSwapper:
    """Toggles for the candidate ops of each cell type, on all edges or on one chosen edge.

    Switching an op off masks it from the next step on (it gets exactly zero
    weight; the softmax renormalises over the rest) while the search keeps
    running; the change is an ``OpMaskChanged`` event, so the History records
    it and the alpha views grey the op out. Refusals (e.g. the last real op of
    an edge) are shown and the toggle springs back.
    """

    def __init__(self, session: SearchSession | Searcher, cell_types: list[str] | None = None) -> None:
        from .figures import edge_labels

        self.session = as_session(session)
        space = self.session.space
        self.cell_types = list(cell_types or space.cell_types)
        self._quiet = False
        self.edge_pickers: dict[str, W.Dropdown] = {}
        self.toggles: dict[str, dict[str, W.ToggleButton]] = {}
        self.message = W.HTML("<span style='color:#555'>click an op to switch it off or on; "
                              "the search keeps running</span>")
        self.message.add_class("dnas-swap-status")
        labels = edge_labels(space)
        rows = []
        for c in self.cell_types:
            picker = W.Dropdown(options=[("all edges", -1)] + [(f"edge {lab}", k) for k, lab in enumerate(labels)],
                                layout=W.Layout(width="150px"))
            picker.observe(lambda _: self.sync(), "value")
            self.edge_pickers[c] = picker
            self.toggles[c] = {}
            for op in space.ops:
                t = W.ToggleButton(value=True, description=op, tooltip=f"{op} in the {c} cell: on/off",
                                   layout=W.Layout(width="auto"))
                t.add_class("dnas-op-toggle")
                t.add_class(f"dnas-op-{c}-{op}")
                t.observe(lambda ch, c=c, op=op: self._on_toggle(c, op, ch), "value")
                self.toggles[c][op] = t
            rows.append(W.HBox([W.HTML(f"<b>{c}</b>", layout=W.Layout(width="64px")), picker],
                               layout=W.Layout(align_items="center")))
            rows.append(W.HBox(list(self.toggles[c].values()), layout=W.Layout(flex_flow="row wrap")))
        self.widget = W.VBox(rows + [self.message])
        self.widget.add_class("dnas-op-swapper")
        self._unsub = [self.session.bus.subscribe(lambda ev: self.sync(), kinds=(OpMaskChanged,)),
                       self.session.add_listener(lambda kind, s: self.sync() if kind == "reset" else None)]
        self.sync()

    def masks(self) -> dict:
        """The op masks in force for the next step (from the History: no access to live tensors)."""
        return self.session.history.masks_at(2 ** 62)

    def _edges(self, c: str) -> list[int] | None:
        k = self.edge_pickers[c].value
        return None if k == -1 else [int(k)]

    def sync(self) -> None:
        """Show the current masks on the toggles (on = enabled on every chosen edge where allowed)."""
        with self.session.lock:
            masks, space = self.masks(), self.session.space
        self._quiet = True
        try:
            for c in self.cell_types:
                edges = self._edges(c) or list(range(space.n_edges))
                for o, op in enumerate(space.ops):
                    allowed = [k for k in edges if space.op_allowed(c, k, op)]
                    on = bool(allowed) and bool(masks[c][allowed, o].all())
                    t = self.toggles[c][op]
                    t.value = on
                    t.icon = "check" if on else "ban"
                    t.button_style = "" if on else "danger"
                    t.disabled = not allowed
        finally:
            self._quiet = False

    def _on_toggle(self, c: str, op: str, change: dict) -> None:
        if self._quiet:
            return
        enabled, edges = bool(change["new"]), self._edges(c)
        where = "all edges" if edges is None else f"edge {edges[0]}"
        fut = self.session.set_op_enabled(c, op, enabled, edges)

        def done(f) -> None:
            exc = f.exception()
            if exc is not None:
                self.message.value = f"<span style='color:#c62828'>refused: {html.escape(str(exc))}</span>"
            else:
                cell = c if c == "cell" else f"{c} cell"
                self.message.value = (f"{op} switched <b>{'on' if enabled else 'off'}</b> on {where} of the {cell} "
                                      f"after step {self.session.searcher.step_count}")
            self.sync()

        fut.add_done_callback(done)

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub = []

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

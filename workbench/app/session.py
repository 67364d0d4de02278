"""A search run in a background thread, driven by commands between steps (the application layer).

Why a thread: in JupyterLab 4 with ipykernel 7 a cell that loops blocks the
kernel's shell, so button clicks (comm messages) are not processed until the
loop ends; polling helpers (jupyter-ui-poll) and comms over subshells did not
deliver clicks either (ECOSYSTEM.md 4.2, verified). A worker thread leaves the
shell idle, so widgets, sliders and other cells keep working while it steps.
Nothing here imports a UI library: the widgets (:mod:`widgets.controls`) and
any other front end drive a :class:`SearchSession` through its methods.

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
* Stepping goes through ``Searcher.step``, so a method's controller
  (DARTS-ADA's early stopping and rollbacks) acts exactly as in the CLI.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from workbench.events import EventBus
from workbench.history import History
from workbench.search import SearchConfig, Searcher

log = logging.getLogger(__name__)

__all__ = ["SearchSession", "as_session"]

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

    def set_op_enabled(self, group: str, op: str, enabled: bool, rows: list[int] | None = None) -> Future:
        """Switch a candidate option on/off at the next step boundary (see ``Searcher.set_op_enabled``)."""
        return self.submit(lambda s: s.set_op_enabled(group, op, enabled, rows))

    def reset(self) -> Future:
        """Replace the searcher by a fresh one built from the same config (same seed, all ops on)."""
        return self._send(("reset",))

    def restart(self, method_options: Mapping[str, Any] | None = None, **changes: Any) -> Future:
        """Start the search again from step 0 with new method options (e.g. a latency ``budget`` or a cost
        weight) and/or config fields, keeping the task and the bus: a reset with another target. The method
        must be a registered name (its options are checked by its preset; a refusal comes back through the
        Future and the search is left as it was). Call ``run()`` to search with the new target."""
        return self._send(("reset", dict(method_options or {}), dict(changes)))

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
                    result = self._reset(*cmd[1:])
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
        rule = s.method.genotype_rule
        assert not isinstance(rule, Mapping)  # Method.for_space resolved a per-space rule to a name
        h = History(s.space, rule, s.objective.metric_names, s.objective.primary)
        h.initial_masks = s.masks()
        if self._unsub_history is None:
            self._unsub_history = s.bus.subscribe(lambda ev: self.history(ev))
        return h

    def _reset(self, method_options: Mapping[str, Any] | None = None, changes: Mapping[str, Any] | None = None
               ) -> Searcher:
        old = self.searcher
        config = old.config
        kw: dict[str, Any] = dict(task=old.task, method=old.method, bus=old.bus)
        if method_options or changes:  # a restart with another target: the method is rebuilt from its options
            if old.provenance.get("method") == "object":
                raise ValueError(f"cannot restart method {old.method.name!r} with new options: it was passed as a "
                                 "Method object; pass its registered name in the SearchConfig instead")
            config = config.replace(method_options={**dict(config.method_options), **dict(method_options or {})},
                                    **dict(changes or {}))
            del kw["method"]
        if not config.removed_ops:  # a space with ops removed by the config is rebuilt from the config
            kw["space"] = old.space
        fresh = Searcher(config, **kw)  # the same bus: every subscription carries over
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

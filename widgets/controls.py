"""The buttons that drive a search session: the control panel and the op swapper.

The background-thread session itself lives in the application layer,
:mod:`workbench.app.session` (no UI imports there); this module only adds
ipywidgets on top of it.
"""
from __future__ import annotations

import html
import logging
import time

import ipywidgets as W

from workbench import OpMaskChanged, Searcher, StepEnded
from workbench.app.session import SearchSession, as_session

log = logging.getLogger(__name__)

__all__ = ["SearchSession", "ControlPanel", "OpSwapper", "as_session", "progress_text"]

# ------------------------------------------------------------------------------ the panel
def _metrics_text(ev: StepEnded) -> str:
    parts = []
    for k in ev.train_metrics:
        fmt = ".1%" if k == "accuracy" else ".3g"
        label = "acc" if k == "accuracy" else k
        parts.append(f"{label} train {ev.train_metrics[k]:{fmt}} val {ev.val_metrics.get(k, float('nan')):{fmt}}")
    return " · ".join(parts)


def progress_text(ev: StepEnded | None, session: SearchSession) -> str:
    """One line: step, epoch, losses, accuracies, lr, steps/s."""
    s = session.searcher
    if ev is None:
        return (f"step 0/{s.total_steps} · {s.steps_per_epoch} steps per epoch · "
                f"{s.config.epochs} epochs · {s.space.name} space, {s.method.name}")
    return (f"step <b>{ev.step}</b>/{s.total_steps} · epoch {ev.epoch + 1}/{s.config.epochs} · "
            f"loss train {ev.train_loss:.3f} val {ev.val_loss:.3f} · "
            f"{_metrics_text(ev)} · lr {ev.lr:.4f} · "
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
        from widgets.figures import edge_labels

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

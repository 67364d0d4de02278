"""The buttons that drive a search session: the control panel and the op swapper (any search space).

The background-thread session itself lives in the application layer,
:mod:`workbench.app.session` (no UI imports there); this module only adds
ipywidgets on top of it.
"""
from __future__ import annotations

import html
import logging
import time

import ipywidgets as W

from widgets.choices import choice_groups, group_title, row_noun
from widgets.metrics import fmt_metric, metric_label
from workbench import OpMaskChanged, Searcher, StepEnded
from workbench.app.session import SearchSession, as_session

log = logging.getLogger(__name__)

__all__ = ["SearchSession", "ControlPanel", "OpSwapper", "as_session", "progress_text"]


# ------------------------------------------------------------------------------ the panel
def _metrics_text(ev: StepEnded) -> str:
    return " · ".join(f"{metric_label(k)} train {fmt_metric(k, v, 3)} val {fmt_metric(k, ev.val_metrics.get(k), 3)}"
                      for k, v in ev.train_metrics.items())


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
    """Toggles for the candidate options of each choice group, in all rows or in one chosen row.

    For a cell space a group is a cell type and a row an edge; for any other
    space its own groups and rows (``space.choice_groups()``). Switching an
    option off masks it from the next step on (it gets exactly zero weight;
    the softmax renormalises over the rest) while the search keeps running;
    the change is an ``OpMaskChanged`` event, so the History records it and
    the weight views grey the option out. Options a row does not allow are
    disabled there. Refusals (e.g. the last real option of a row) are shown
    and the toggle springs back.
    """

    def __init__(self, session: SearchSession | Searcher, cell_types: list[str] | None = None) -> None:
        self.session = as_session(session)
        space = self.session.space
        self.groups = {g.name: g for g in choice_groups(space, cell_types)}
        self.cell_types = list(self.groups)
        self._title = {c: ("the " if row_noun(space) == "edge" else "") + group_title(space, c) for c in self.groups}
        self._noun = row_noun(space)
        self._quiet = False
        self.edge_pickers: dict[str, W.Dropdown] = {}
        self.toggles: dict[str, dict[str, W.ToggleButton]] = {}
        self.message = W.HTML("<span style='color:#555'>click an op to switch it off or on; "
                              "the search keeps running</span>")
        self.message.add_class("dnas-swap-status")
        rows = []
        for c, g in self.groups.items():
            named = [f"{self._noun} {lab}" if self._noun == "edge" else lab for lab in g.rows]
            picker = W.Dropdown(options=[(f"all {self._noun}s", -1)] + [(n, k) for k, n in enumerate(named)],
                                layout=W.Layout(width="150px" if self._noun == "edge" else "190px"))
            picker.observe(lambda _: self.sync(), "value")
            self.edge_pickers[c] = picker
            self.toggles[c] = {}
            for op in g.options:
                t = W.ToggleButton(value=True, description=op, tooltip=f"{op} in {self._title[c]}: on/off",
                                   layout=W.Layout(width="auto"))
                t.add_class("dnas-op-toggle")
                t.add_class(f"dnas-op-{c}-{op}")
                t.observe(lambda ch, c=c, op=op: self._on_toggle(c, op, ch), "value")
                self.toggles[c][op] = t
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(c)}</b>", layout=W.Layout(width="64px")), picker],
                               layout=W.Layout(align_items="center")))
            rows.append(W.HBox(list(self.toggles[c].values()), layout=W.Layout(flex_flow="row wrap")))
        self.widget = W.VBox(rows + [self.message])
        self.widget.add_class("dnas-op-swapper")
        self._unsub = [self.session.bus.subscribe(lambda ev: self.sync(), kinds=(OpMaskChanged,)),
                       self.session.add_listener(lambda kind, s: self.sync() if kind == "reset" else None)]
        self.sync()

    def masks(self) -> dict:
        """The option masks in force for the next step (from the History: no access to live tensors)."""
        return self.session.history.masks_at(2 ** 62)

    def _edges(self, c: str) -> list[int] | None:
        k = self.edge_pickers[c].value
        return None if k == -1 else [int(k)]

    def sync(self) -> None:
        """Show the current masks on the toggles (on = enabled in every chosen row where allowed)."""
        with self.session.lock:
            masks = self.masks()
        self._quiet = True
        try:
            for c, g in self.groups.items():
                rows = self._edges(c) or list(range(len(g.rows)))
                allowed_m = g.allowed_matrix()
                for o, op in enumerate(g.options):
                    allowed = [k for k in rows if allowed_m[k, o]]
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
        enabled, rows = bool(change["new"]), self._edges(c)
        where = f"all {self._noun}s" if rows is None else f"{self._noun} {rows[0]}"
        fut = self.session.set_op_enabled(c, op, enabled, rows)

        def done(f) -> None:
            exc = f.exception()
            if exc is not None:
                self.message.value = f"<span style='color:#c62828'>refused: {html.escape(str(exc))}</span>"
            else:
                self.message.value = (f"{html.escape(op)} switched <b>{'on' if enabled else 'off'}</b> on {where} "
                                      f"of {html.escape(self._title[c])} after step "
                                      f"{self.session.searcher.step_count}")
            self.sync()

        fut.add_done_callback(done)

    def close(self) -> None:
        for u in self._unsub:
            u()
        self._unsub = []

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

"""Genotype diffs of a cell search: two derived cells in one drawing, and the list of changed edges.

Edges added in ``b`` are red and bold, removed ones dashed grey
(:func:`workbench.spaces.cell.draw.genotype_diff_dot`); by default the diff
is between the first and the latest genotype of one run, or against another
run (``compare_with``). How a DARTS cell drifts over a search, e.g. towards
skip connections (RobustDARTS, Zela et al., ICLR 2020). Cell spaces only.
"""
from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W

from widgets import graph as G
from widgets.choices import is_cell_space
from widgets.views.base import Feed, latest_step
from workbench.spaces.cell.genotype import Genotype, state_name

__all__ = ["GenotypeDiffView", "genotype_edge_changes"]


def _state(cell: Any, state: int) -> str:
    """A state's name as the genotype drawings label it (NB201: 0..3; DARTS: c_{k-2}, c_{k-1}, 0..3)."""
    return state_name(cell.n_inputs, state)


def genotype_edge_changes(a: Genotype, b: Genotype) -> list[str]:
    """Human-readable changes from ``a`` to ``b``, per cell and node: '− op←input' removed, '+ op←input' added.

    Nodes are named as in the drawings; a node whose inputs are the same set in both is not listed.
    """
    out = []
    for name, cb in b.cells:
        ca = a.cell(name) if name in a.cell_names else None
        for i, node in enumerate(cb.nodes):
            old = set(ca.nodes[i]) if ca is not None and i < ca.n_nodes else set()
            new = set(node)
            if old != new:
                rem = ", ".join(f"− {op}←{_state(cb, src)}" for op, src in sorted(old - new, key=lambda t: t[1]))
                add = ", ".join(f"+ {op}←{_state(cb, src)}" for op, src in sorted(new - old, key=lambda t: t[1]))
                out.append(f"{name} node {_state(cb, cb.n_inputs + i)}: " + "; ".join(x for x in (rem, add) if x))
    return out


class GenotypeDiffView:
    """Two genotypes in one drawing: edges added in ``b`` red and bold, removed ones dashed grey.

    ``a`` and ``b`` are sources (a live session, a History, a Run, a run
    folder) or fixed Genotypes; for a source a dropdown offers every step at
    which its derived genotype changed, plus "latest". By default the diff is
    between the first and the latest genotype of one run.
    """

    def __init__(self, a: Any, b: Any = None, *, step_a: int | None = None, step_b: int | None = None) -> None:
        b = a if b is None else b
        self.sides = [self._side(a, "a", step_a, first=step_a is None and b is a), self._side(b, "b", step_b)]
        self.html = W.HTML()
        self.html.add_class("dnas-genotype-diff")
        self.changes = W.HTML()
        refresh = W.Button(description="Refresh", icon="refresh", layout=W.Layout(width="auto"))
        refresh.on_click(lambda _: self.refresh())
        pickers = [s["picker"] for s in self.sides if s["picker"] is not None]
        self.widget = W.VBox([W.HBox(pickers + [refresh]), self.html, self.changes])
        self.refresh()

    def _side(self, src: Any, label: str, step: int | None, first: bool = False) -> dict:
        if isinstance(src, (Genotype, str)) and not (isinstance(src, str) and Path(src).is_dir()):
            return {"genotype": Genotype.parse(src) if isinstance(src, str) else src, "feed": None,
                    "picker": None}
        feed = src if isinstance(src, Feed) else Feed(src)
        if not is_cell_space(feed.space):
            raise TypeError(f"a genotype diff needs a cell space; space {feed.space.name!r} is a "
                            f"{type(feed.space).__name__} (its architectures: compare space.label(arch) texts)")
        picker = W.Dropdown(description=label, layout=W.Layout(width="260px"))
        picker.observe(lambda _: self._locked(self._draw), "value")
        return {"genotype": None, "feed": feed, "picker": picker, "step": step, "first": first}

    def refresh(self) -> None:
        """Re-read the steps at which each run's genotype changed, then redraw."""
        self._locked(self._refresh)

    def _locked(self, fn: Callable[[], None]) -> None:
        with contextlib.ExitStack() as stack:
            for s in self.sides:
                if s["feed"] is not None:
                    stack.enter_context(s["feed"].lock())
            fn()

    def _refresh(self) -> None:
        for s in self.sides:
            if s["feed"] is None:
                continue
            changes = s["feed"].history.genotype_changes()
            opts = [("latest", -1)] + [(f"step {st}", st) for st, _ in changes]
            want = s["picker"].value if s["picker"].options else (
                s["step"] if s["step"] is not None else (changes[0][0] if s["first"] and changes else -1))
            s["picker"].options = opts
            s["picker"].value = want if want in [v for _, v in opts] else -1
        self._draw()

    def genotypes(self) -> tuple[Genotype | None, Genotype | None]:
        out = []
        for s in self.sides:
            if s["feed"] is None:
                out.append(s["genotype"])
                continue
            h = s["feed"].history
            step = s["picker"].value if s["picker"].value not in (None, -1) else latest_step(h)
            out.append(None if step is None else h.genotype_at(step))
        return out[0], out[1]

    def _draw(self) -> None:
        a, b = self.genotypes()
        if a is None or b is None:
            self.html.value = "<i>nothing to compare yet</i>"
            self.changes.value = ""
            return
        self.html.value = G.svg_or_dot(G.genotype_diff_dot(a, b, title="genotype diff: b compared to a"))
        lines = genotype_edge_changes(a, b)
        self.changes.value = ("<b>identical genotypes</b>" if not lines else
                              "<br>".join(html.escape(x) for x in lines))

    def set_visible(self, visible: bool) -> None:
        """Shown (e.g. its dashboard tab opened): re-read both runs and redraw."""
        if visible:
            self.refresh()

    def close(self) -> None:
        """Nothing to unsubscribe: the diff is redrawn on demand."""

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

"""Checks for the lessons: a failed expectation reads as a sentence, not as a bare ``AssertionError``.

Every lesson checks the phenomena it shows (CI executes the notebooks
headless), but a learner should meet a sentence, not an ``assert`` line and
a traceback::

    from widgets.lesson import check
    check(gap < 1e-3, "the finite-difference gap to shrink below 1e-3", got=gap,
          meaning="the analytic gradient matches the numerical one")

A failed check raises :class:`LessonCheckFailed` ("This lesson expected ...;
got ...; what it means: ..."); in IPython it is shown as that message alone,
without a traceback. It is an ``AssertionError``, so test runners and
nbclient still report it as a failure.
"""
from __future__ import annotations

import ast
import html
import linecache
import sys
from typing import Any

import numpy as np

__all__ = ["LessonCheckFailed", "check", "check_close"]

_AGAIN = ("Run the notebook again from the top (Kernel → Restart Kernel and Run All Cells); if it still fails, "
          "your library versions or edits differ from the ones this lesson was written with.")


class LessonCheckFailed(AssertionError):
    """A lesson's expectation did not hold; ``str()`` is the friendly message."""

    def __init__(self, expected: str, got: Any = None, meaning: str | None = None) -> None:
        self.expected, self.got, self.meaning = expected, got, meaning
        super().__init__(self.message())

    def message(self) -> str:
        text = f"This lesson expected {self.expected}"
        if self.got is not None:
            text += f"; got {_show(self.got)}"
        text += "."
        if self.meaning:
            text += f"\nWhat it means: {self.meaning}"
        return text + f"\n{_AGAIN}"

    def _render_traceback_(self) -> list[str]:  # IPython: show the sentence, not a traceback
        red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
        lines = self.message().split("\n")
        return [f"{red}{bold}Lesson check failed{reset}", f"{red}{lines[0]}{reset}", *lines[1:]]

    def _repr_html_(self) -> str:
        return "<br>".join(html.escape(line) for line in self.message().split("\n"))


def _show(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=4, threshold=12, separator=", ")
    text = repr(x) if not isinstance(x, str) else x
    return text if len(text) <= 300 else text[:297] + "..."


def check(ok: Any, expected: str | None = None, *, got: Any = None, meaning: str | None = None) -> None:
    """Raise :class:`LessonCheckFailed` when ``ok`` is false.

    ``expected``: what the lesson expected, as the end of "This lesson
    expected ..." (default: the source text of ``ok``, e.g. ``gap < 1e-3``);
    ``got``: the value actually seen (shown when given); ``meaning``: what
    the expectation says about the method.
    """
    if not bool(ok):
        raise LessonCheckFailed(expected if expected is not None else _caller_condition(), got, meaning)


def _caller_condition() -> str:
    """The source text of the first argument of the ``check(...)`` call that failed (a one-line call)."""
    frame = sys._getframe(2)
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    try:
        call = ast.parse(line).body[0].value  # type: ignore[attr-defined]
        if isinstance(call, ast.Call) and call.args:
            return f"`{ast.get_source_segment(line, call.args[0])}` to be true"
    except (SyntaxError, IndexError, AttributeError):
        pass
    return f"the check on line {frame.f_lineno} to hold"


def check_close(actual: Any, desired: Any, expected: str | None = None, *, rtol: float = 1e-7, atol: float = 0.0,
                meaning: str | None = None) -> None:
    """:func:`check` that ``actual`` equals ``desired`` elementwise within ``rtol``/``atol`` (as numpy's allclose).

    ``expected`` defaults to "the two arrays to match (within rtol, atol)".
    """
    if expected is None:
        expected = f"the two arrays to match (within rtol={rtol:g}, atol={atol:g})"
    a, d = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    ok = a.shape == d.shape and bool(np.allclose(a, d, rtol=rtol, atol=atol, equal_nan=True))
    if not ok:
        got = a if a.shape != d.shape else f"{_show(a)} (largest difference {float(np.nanmax(np.abs(a - d))):.3g})"
        raise LessonCheckFailed(expected, got, meaning)

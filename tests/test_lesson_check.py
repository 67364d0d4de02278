"""The lessons' checking helper: friendly failures, no bare asserts in the learner-facing cells."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from widgets.lesson import LessonCheckFailed, check, check_close

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))


def test_a_passing_check_is_silent():
    check(True, "nothing")
    check(np.float64(1.0) > 0)
    check_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-12]))


def test_a_failed_check_reads_as_a_sentence():
    with pytest.raises(LessonCheckFailed) as err:
        check(False, "the gap to shrink below 1e-3", got=0.25, meaning="the analytic gradient is right")
    text = str(err.value)
    assert text.startswith("This lesson expected the gap to shrink below 1e-3; got 0.25.")
    assert "What it means: the analytic gradient is right" in text
    assert "Run All" in text
    assert isinstance(err.value, AssertionError)  # nbclient and pytest still report a failure


def test_without_expected_the_condition_source_is_quoted():
    x = 3
    with pytest.raises(LessonCheckFailed, match=r"expected `x > 5` to be true"):
        check(x > 5, meaning="x grows")


def test_ipython_shows_the_message_without_a_traceback():
    err = LessonCheckFailed("a", got=[1, 2], meaning="b")
    lines = err._render_traceback_()
    assert "Lesson check failed" in lines[0]
    assert not any("Traceback" in line or "File " in line for line in lines)
    assert "got [1, 2]" in lines[1]


def test_check_close_reports_the_largest_difference():
    with pytest.raises(LessonCheckFailed, match="largest difference 0.5"):
        check_close([1.0, 2.0], [1.0, 2.5], meaning="the view draws what was emitted")
    with pytest.raises(LessonCheckFailed, match="to match"):
        check_close([1.0], [1.0, 2.0])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lessons_use_the_helper_not_bare_asserts(path):
    nb = json.loads(path.read_text())
    code = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    for src in code:
        tree = ast.parse(src)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Assert)], f"{path.name}: a bare assert in\n{src}"
        assert "np.testing.assert" not in src, f"{path.name}: np.testing in a learner-facing cell"
    if any("check(" in s or "check_close(" in s for s in code):
        assert any("from widgets.lesson import" in s for s in code), f"{path.name} uses check without importing it"

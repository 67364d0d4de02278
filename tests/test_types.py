"""The engine type-checks: mypy, configured in pyproject.toml ([tool.mypy]: files = workbench), reports no error.

A cold run takes about 40 s (most of it reading torch's stubs); mypy's incremental cache (.mypy_cache/, ignored
by git) brings a repeated run down to a few seconds.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_reports_no_errors():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    res = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-pretty",
                          "--no-error-summary"],
                         cwd=ROOT, capture_output=True, text=True)
    report = res.stdout + res.stderr
    assert res.returncode == 0, f"mypy found type errors in workbench/:\n{report}"
    assert "error:" not in report, report

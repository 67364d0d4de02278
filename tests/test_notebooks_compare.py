"""Notebook 08 (the DARTS family side by side) matches its generator, is stored clean, and executes headless.

The execution runs a copy in a temporary folder, as a user would run a copy
elsewhere: the NAS-Bench-201 table is handed over through ``DNAS_NB201_TABLE``
(when ../shared/data has it; without it the notebook skips its ground-truth
checks), and no measured ``runs/`` folder is visible, as in CI.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NB201_CSV, execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOK = NB_DIR / "08_darts_family.ipynb"

nbformat = pytest.importorskip("nbformat")


def test_notebook_08_matches_its_generator():
    res = subprocess.run([sys.executable, str(NB_DIR / "_build_compare.py"), "--check"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_notebook_08_is_stored_without_outputs_and_opens_and_closes_as_a_course():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What you should have seen" in nb.cells[-1].source
    assert sum(("check(" in c.source or "check_close(" in c.source) for c in code) >= 4


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_notebook_08_executes_headless(tmp_path, monkeypatch):
    text = execute_notebook(NOTEBOOK, tmp_path, monkeypatch, timeout=240,
                            env={"DNAS_COMPARE_DIR": str(tmp_path / "no-measured-runs")})
    assert "8 searches in" in text and "measured ranking:" in text
    assert ("skipped: no NAS-Bench-201 table" in text) != NB201_CSV.exists()

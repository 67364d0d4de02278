"""Notebook 09 (hardware-aware DNAS) matches its generator, is stored clean, and executes headless."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOK = NB_DIR / "09_hardware_aware.ipynb"

nbformat = pytest.importorskip("nbformat")


def test_notebook_09_matches_its_generator():
    res = subprocess.run([sys.executable, str(NB_DIR / "_build_hardware.py"), "--check"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_notebook_09_is_stored_without_outputs_and_opens_and_closes_as_a_course():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert nb.cells[0].cell_type == "markdown" and "What you will learn" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What you should have seen" in nb.cells[-1].source
    assert sum(("check(" in c.source or "check_close(" in c.source) for c in code) >= 6


@pytest.mark.notebook
@pytest.mark.timeout(420)
def test_notebook_09_executes_headless(tmp_path, monkeypatch):
    text = execute_notebook(NOTEBOOK, tmp_path, monkeypatch, timeout=360)
    assert "blocks computed in one forward pass" in text and "E[estimator]" in text
    assert "via the slider" in text and "weights.safetensors" in text

"""The teaching notebooks execute headless (nbclient), are stored without outputs, and match their generator.

Each notebook asserts the phenomenon it teaches, so a notebook that runs is a
notebook whose claims held on this run. Kernels get the repository on
PYTHONPATH (so the checkout is imported, installed or not) and run with the
notebooks folder as working directory, as JupyterLab would (a copy in a temporary folder, handed the
NAS-Bench-201 table through DNAS_NB201_TABLE).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
COURSE = ["01_relaxation.ipynb", "02_darts_step_by_step.ipynb", "03_skip_collapse.ipynb",
          "04_published_genotypes.ipynb"]
NOTEBOOKS = [NB_DIR / name for name in COURSE]  # executed here; later lessons have their own test files
ALL_NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))

nbformat = pytest.importorskip("nbformat")


def test_the_four_course_notebooks_exist():
    assert all(p.is_file() for p in NOTEBOOKS)
    assert [p.name for p in ALL_NOTEBOOKS][:4] == COURSE


def test_notebooks_are_stored_without_outputs_and_open_and_close_as_a_course():
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
        first, last = nb.cells[0], nb.cells[-1]
        assert first.cell_type == "markdown" and "What you will learn" in first.source, path.name
        assert last.cell_type == "markdown" and "What you should have seen" in last.source, path.name
        assert any(("check(" in c.source or "check_close(" in c.source) for c in code), f"{path.name} checks nothing"


def test_notebooks_match_their_generator():
    res = subprocess.run([sys.executable, str(NB_DIR / "_build.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.notebook
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_headless(path, tmp_path, monkeypatch):
    execute_notebook(path, tmp_path, monkeypatch)

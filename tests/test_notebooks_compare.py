"""Notebook 08 (the DARTS family side by side) matches its generator, is stored clean, and executes headless.

The execution runs a copy in a temporary folder, as a user would run a copy
elsewhere: the NAS-Bench-201 table is handed over through ``DNAS_NB201_TABLE``
(when ../shared/data has it; without it the notebook skips its ground-truth
checks), and no measured ``runs/`` folder is visible, as in CI.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NB201_CSV

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
    assert sum("assert " in c.source for c in code) >= 4


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_notebook_08_executes_headless(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if NB201_CSV.exists():
        monkeypatch.setenv("DNAS_NB201_TABLE", str(NB201_CSV))
    else:
        monkeypatch.delenv("DNAS_NB201_TABLE", raising=False)
    monkeypatch.setenv("DNAS_COMPARE_DIR", str(tmp_path / "no-measured-runs"))
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    client = NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    t = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on the first failing cell
    print(f"{NOTEBOOK.name}: {time.perf_counter() - t:.1f} s")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "8 searches in" in text and "measured ranking:" in text
    assert ("skipped: no NAS-Bench-201 table" in text) != NB201_CSV.exists()

"""Shared pieces of the notebook generators (`_build*.py`): cells, stable ids, write or --check.

The lessons are written as Python (reviewable diffs) and generated into .ipynb files stored without outputs;
``--check`` reports generated notebooks that are out of date (the tests run it).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


def build(name: str, cells: list) -> nbformat.NotebookNode:
    """A notebook without outputs, with stable cell ids (so rebuilding changes nothing)."""
    stem = name.split("_")[0]
    for i, cell in enumerate(cells):
        cell["id"] = f"nb{stem}-{i:02d}"
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


def main(notebooks: dict[str, list], argv: list[str], script: str) -> int:
    """Write every notebook, or with ``--check`` report the ones that differ from their generator."""
    check = "--check" in argv
    stale = []
    for name, cells in notebooks.items():
        text = nbformat.writes(build(name, cells))
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print("wrote", path.relative_to(HERE.parent))
    if stale:
        print(f"out of date (run python notebooks/{script}):", ", ".join(stale))
        return 1
    return 0

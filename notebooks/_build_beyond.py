"""Generate notebooks 11-13 (beyond the cell: norm placement and 3-D blocks; graphs and embeddings; data and
policies) from their parts.

Each notebook is one short introduction, two or three *parts* and a closing summary. A part lives in its own
module ``_part_<name>.py`` with ``TITLE`` (one line), ``LEARN`` and ``SEEN`` (markdown bullet lists for the
notebook's opening and closing cells) and ``CELLS`` (its cells, built with ``_nbtools.md`` / ``code``). A
part's first code cell imports what the part needs, so a part runs alone (``python notebooks/_run_part.py
NAME`` executes one part headless and prints its time).

Run ``python notebooks/_build_beyond.py`` after editing (``--check`` exits 1 when an ``.ipynb`` is out of date).
"""
from __future__ import annotations

import importlib
import sys

from _nbtools import main, md

#: notebook -> (title, one-paragraph introduction, part modules in order)
BOOK = {
    "11_beyond_the_cell.ipynb": (
        "11 · Beyond the cell: where normalisation goes, and 3-D blocks you can explain",
        "Differentiable search is not only about which op sits on a cell edge. Here it chooses *where instance "
        "normalisation goes* in each block of a network (OSNet-AIN), and which 3-D MBConv block (or none) each "
        "layer of a CT-volume classifier uses (CovidNet3D), which a class activation map then explains.",
        ("osnet", "covid3d")),
    "12_beyond_vision.ipynb": (
        "12 · Beyond vision: GNN operators in a graph transformer, and embedding dimensions",
        "Two searches outside image classification: DARTS-GT chooses the GNN operator that feeds each graph-"
        "transformer layer's keys and values, then explains the trained model by ablation; DNIS chooses how many "
        "embedding dimensions each feature field of a recommender gets, with a soft mask and no softmax at all.",
        ("dartsgt", "dnis")),
    "13_data_and_policies.ipynb": (
        "13 · Searching data and policies: GTN, Adaptive Guidance, and what DSI-QG is not",
        "The furthest stretch of \"differentiable search\": GTN learns the *training data* (a generator and a "
        "curriculum) by meta-gradients and uses it to rank architectures fast; Adaptive Guidance searches a "
        "per-step policy for when classifier-free guidance is worth its cost; DSI-QG shares the name only.",
        ("gtn", "guidance", "dsi")),
}


def part(name: str):
    return importlib.import_module(f"_part_{name}")


def notebook(title: str, intro: str, names: tuple[str, ...]) -> list:
    parts = [part(n) for n in names]
    learn = "\n".join(f"**Part {i}: {p.TITLE}**\n\n{p.LEARN.strip()}\n" for i, p in enumerate(parts, 1))
    seen = "\n".join(f"**Part {i}: {p.TITLE}**\n\n{p.SEEN.strip()}\n" for i, p in enumerate(parts, 1))
    cells = [md(f"# {title}\n\n{intro}\n\n**What you will learn**\n\n{learn}")]
    for i, p in enumerate(parts, 1):
        cells.append(md(f"---\n## Part {i} · {p.TITLE}"))
        cells.extend(p.CELLS)
    cells.append(md(f"## What you should have seen\n\n{seen}"))
    return cells


def notebooks() -> dict[str, list]:
    return {name: notebook(*spec) for name, spec in BOOK.items()}


if __name__ == "__main__":
    sys.exit(main(notebooks(), sys.argv[1:], "_build_beyond.py"))

"""Execute one notebook part (``_part_<name>.py``) alone, headless, and print its output and time.

``python notebooks/_run_part.py NAME [--keep OUT.ipynb]``: for writing a part of notebooks 11-13 without running
its neighbours. One torch thread (as in the tests). Exit status 1 on the first failing cell.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from _nbtools import build
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def run(name: str, keep: str | None = None) -> int:
    p = importlib.import_module(f"_part_{name}")
    nb = build(f"99_{name}.ipynb", list(p.CELLS))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    os.environ["OMP_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": tmp}})
        t = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - t
    failed = False
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                print(o.text, end="")
            elif o.output_type == "error":
                failed = True
                print("\n".join(o.traceback))
    if keep:
        nbformat.write(nb, keep)
    print(f"\n[{name}: {elapsed:.1f} s, {'FAILED' if failed else 'ok'}]")
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    keep = args[args.index("--keep") + 1] if "--keep" in args else None
    sys.exit(run(args[0], keep))

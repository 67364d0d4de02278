"""A git ref checked out beside this tree for side-by-side benchmarks (``bench_vs_commit``, ``bench_startup``)."""
from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """``ref`` checked out (detached) in a temporary ``git worktree``; removed on exit."""
    with tempfile.TemporaryDirectory(prefix="wb-tree-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), ref], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            yield other
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)


def head() -> str:
    """This tree's HEAD, short."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()

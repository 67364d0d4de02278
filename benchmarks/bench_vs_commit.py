"""Search-step time of this tree against an earlier commit, side by side in one run.

Checks out ``--against REF`` into a temporary ``git worktree`` and times the
same search step (first order, digits, batch 64) on both default configs --
NB201 (C=8, one cell per stage) and DARTS (C=8, 3 cells) -- in fresh
subprocesses with one torch thread each, alternating the two trees round by
round (ABAB...) so that machine noise hits both alike. Each round takes the
median of ``--steps`` steps after 3 warm-up steps; the result is the median
over rounds, and the ratio this tree / REF (< 1: faster now).

Usage: python benchmarks/bench_vs_commit.py --against REF [--rounds 5] [--steps 20] [--method darts-v1]
       [--clock wall|cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.worktree import head, worktree  # noqa: E402

MEASURE = r"""
import json, statistics, sys, time, torch
torch.set_num_threads(1)
from workbench import SearchConfig, Searcher, SupernetConfig
space, method, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
clock = time.process_time if sys.argv[4] == "cpu" else time.perf_counter
net = SupernetConfig(C=8, cells_per_stage=1) if space == "nb201" else SupernetConfig(C=8, layers=3)
s = Searcher(SearchConfig(space=space, method=method, supernet=net, batch_size=64, epochs=50))
for _ in range(3):
    s.step()
ts = []
for _ in range(steps):
    t = clock()
    s.step()
    ts.append(clock() - t)
print(json.dumps({"ms": statistics.median(ts) * 1e3}))
"""


def measure(tree: Path, space: str, method: str, steps: int, clock: str = "wall") -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", MEASURE, space, method, str(steps), clock], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ms"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="git ref to compare with (e.g. a commit hash)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--method", default="darts-v1")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall clock, or the process's CPU time (robust when other jobs share the machine)")
    args = ap.parse_args()
    with worktree(args.against) as other:
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.2f}; torch threads 1; method {args.method}; "
              f"{args.clock} clock")
        print(f"this tree: HEAD {head()} + working changes; against: {args.against}")
        print(f"{'config':<8}{'this tree ms':>14}{'against ms':>12}{'ratio':>8}")
        for space in ("nb201", "darts"):
            mine, theirs = [], []
            for _ in range(args.rounds):
                mine.append(measure(ROOT, space, args.method, args.steps, args.clock))
                theirs.append(measure(other, space, args.method, args.steps, args.clock))
            a, b = statistics.median(mine), statistics.median(theirs)
            print(f"{space:<8}{a:>14.1f}{b:>12.1f}{a / b:>8.3f}   (rounds: {[round(x, 1) for x in mine]} vs "
                  f"{[round(x, 1) for x in theirs]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

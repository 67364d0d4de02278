"""Start-up time of the CLI's commands that only read and print, this tree against an earlier commit, side by side.

Issue 17 item 3: ``--help`` and every command that does not search should start without importing torch
(about 2 s of a command's wall time on a laptop). Checks out ``--against REF`` into a temporary ``git
worktree`` and times each command as a user runs it (``python -m workbench ...``, a fresh process each time,
stdout discarded), alternating the two trees (ABAB...) so that machine noise hits both alike; prints the
median of ``--rounds`` processes per command and tree, their ratio, whether the command imported torch
and whether both trees printed the same (one extra probe run per command and tree: its stdout, and the file
a ``--draw`` wrote; with stderr and the exit status, so a command that fails on purpose -- an unknown name --
is compared by its error). ``runs show`` / ``runs list`` read a run folder written by a 1-epoch search of this
tree first (the earlier tree reads it as well: the store's extra records are ignored by older readers). The
``--print-config`` commands print a search's settings without searching: with a DARTS-family preset's
``--method-option``, ``--paper-defaults``, an unknown name or a cell or chain space's ``--remove-op`` they import
no torch, nor does ``latency show TABLE --space chain`` (the chain space's cost model): every command timed here
starts without it.

Usage: python benchmarks/bench_startup.py --against REF [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.worktree import head, worktree  # noqa: E402

NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

# runs the CLI as `python -m workbench ARGS`, then prints its exit status and whether torch was imported
PROBE = """
import json, runpy, sys
sys.argv = ["workbench", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module("workbench", run_name="__main__")
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\nexit " + repr(code) + "\\nTORCH=" + str("torch" in sys.modules) + "\\n")
"""


def commands(tmp: Path) -> list[list[str]]:
    runs = tmp / "runs"
    return [["--help"], ["genotype", "DARTS_V2"], ["genotype", "DARTS_V2", "--to", "json"], ["genotype", "--list"],
            ["genotype", NB201_BEST, "--to", "nb201"], ["genotype", "DARTS_V2", "--draw", str(tmp / "cell.svg")],
            ["nb201", NB201_BEST], ["latency", "show", "proxylessnas_pixel1"],
            ["latency", "fit-nb201", "--device", "pixel3"], ["lessons", str(tmp / "course"), "--overwrite"],
            ["runs", "show", str(runs / "nb201")], ["runs", "list", str(runs)],
            ["search", "--print-config"], ["search", "--space", "chain", "--method", "fbnet", "--print-config"],
            ["search", "--space", "graph_transformer", "--method", "darts-gt", "--supernet", "d=16", "--print-config"],
            ["compare", "--print-config"], ["sweep", "--grid", "lr=0.1,0.2", "--print-config"],
            ["search", "--method", "darts-v2", "--method-option", "r=0.02", "--print-config"],
            ["search", "--paper-defaults", "--print-config"], ["search", "--method", "nosuch", "--print-config"],
            ["search", "--space", "nosuch", "--print-config"], ["search", "--dataset", "nosuch", "--print-config"],
            ["search", "--remove-op", "avg_pool_3x3", "--print-config"],
            ["search", "--remove-op", "max_pool_3x3", "--print-config"],
            ["latency", "show", "proxylessnas_pixel1", "--space", "chain", "--remove-op", "k3_e1", "--remove-op", "k5_e1"],
            ["search", "--space", "chain", "--method", "fbnet", "--method-option", "tau0=4", "--print-config"],
            ["search", "--method", "rarts", "--paper-defaults", "--print-config"],
            ["compare", "--methods", "dnis,sd-darts", "--method-option", "dnis:warm_start_epochs=3", "--paper-defaults",
             "--print-config"]]


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}


def wall(tree: Path, args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", *args], cwd=tree, env=_env(tree), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)  # (an unknown name fails on purpose; probe compares)
    return time.perf_counter() - t


def probe(tree: Path, args: list[str]) -> tuple[bool, str]:
    """Whether the command imported torch, and what it printed (stdout, stderr, exit status) and drew, the tree's
    own path as ``<tree>`` (the shipped tables' paths are printed)."""
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=tree, env=_env(tree),
                         capture_output=True, text=True, check=False)
    *err, torch = out.stderr.strip().splitlines()
    drawn = Path(args[args.index("--draw") + 1]).read_text(encoding="utf-8") if "--draw" in args else ""
    printed = "\n".join([out.stdout, *err, drawn])  # err ends with the exit status
    return torch == "TORCH=True", printed.replace(str(tree), "<tree>")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="git ref to compare with (e.g. the commit before a change)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp, worktree(args.against) as other:
        subprocess.run([sys.executable, "-m", "workbench", "search", "--space", "nb201", "--epochs", "1",
                        "--data-limit", "64", "--batch-size", "32", "--C", "4", "--threads", "1", "--out",
                        str(Path(tmp) / "runs" / "nb201"), "--no-report", "--quiet"], cwd=ROOT, env=_env(ROOT),
                       check=True, capture_output=True)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
              f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; Python {platform.python_version()}")
        print(f"this tree: HEAD {head()} + working changes; against: {args.against}; median of "
              f"{args.rounds} fresh processes each, alternating trees")
        print(f"{'command':<62}{'this tree s':>12}{'against s':>11}{'ratio':>7}  torch (this / against)  output")
        for cmd in commands(Path(tmp)):
            mine, theirs = [], []
            for _ in range(args.rounds):
                mine.append(wall(ROOT, cmd))
                theirs.append(wall(other, cmd))
            a, b = statistics.median(mine), statistics.median(theirs)
            label = " ".join(c if len(c) < 30 else c[:12] + "..." for c in (c.replace(tmp, "$TMP") for c in cmd))
            (t_mine, out_mine), (t_theirs, out_theirs) = probe(ROOT, cmd), probe(other, cmd)
            torch = f"{'yes' if t_mine else 'no'} / {'yes' if t_theirs else 'no'}"
            print(f"{label:<62}{a:>12.2f}{b:>11.2f}{a / b:>7.2f}  {torch:<24}{'same' if out_mine == out_theirs else 'DIFFERS'}")
        print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

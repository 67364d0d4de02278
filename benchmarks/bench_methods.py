"""Per-step cost and memory of every registered search method, on the NB201 and DARTS spaces.

For each (space, method) a fresh subprocess (so memory numbers do not leak
between methods) builds a searcher at the default small configs (digits,
batch 64; NB201: C=8, one cell per stage; DARTS: C=8, 3 cells), resets the
peak-RSS counter (``/proc/self/clear_refs``), takes 2 warm-up steps, then
times ``--steps`` steps; ``--rounds`` repeats the whole plan, interleaved.
Printed per method: ms/step (median within a round, min over rounds), ratio to
DARTS-V1 on the same space (measured in the same run), the peak RSS during
the steps (warm-up included) over the RSS of the built searcher before its
first step (MiB: activations, gradients, optimizer state), and that RSS.
Timings on a shared machine are noisy: compare ratios, rerun. PC-DARTS runs
with its warm-up disabled so its arch step is timed; DARTS-ADA is timed as a
plain step (its driver adds a dense alpha-Hessian every ev_freq epochs).
sharpDARTS also runs on a DARTS space whose convolutions are
SharpSepConv (``sharp``).

Usage: python benchmarks/bench_methods.py [--steps N] [--rounds N] [--threads N] [--methods a,b]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPTIONS = {"pc-darts": {"warmup_epochs": 0}}


def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}


def child(space: str, method: str, steps: int, threads: int) -> dict:
    import torch

    from workbench import SearchConfig, Searcher, SupernetConfig
    from workbench.spaces import get_space
    torch.set_num_threads(threads)
    sp = None
    if space == "sharp":  # DARTS space with sharpDARTS's SharpSepConv convolutions
        darts = get_space("darts")
        convs = ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
        sp = dataclasses.replace(darts.with_ops(remove=convs, add=["sharp_" + c for c in convs]), name="sharp")
    net = SupernetConfig(C=8, cells_per_stage=1) if space == "nb201" else SupernetConfig(C=8, layers=3)
    cfg = SearchConfig(space="darts" if space == "sharp" else space, method=method,
                       method_options=OPTIONS.get(method, {}), supernet=net, batch_size=64, epochs=50,
                       eval_each_epoch=False)
    s = Searcher(cfg, space=sp)
    before = _status()["VmRSS"]  # model, optimizers and data built; no step taken yet
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
        reset = True
    except OSError:
        reset = False
    s.run(2)  # warm-up (included in the peak: the first steps allocate the activations)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        s.step()
        times.append(time.perf_counter() - t0)
    peak = _status()["VmHWM"]
    return {"ms": 1000 * statistics.median(times), "peak_mib": (peak - before) / 1024 if reset else float("nan"),
            "rss_mib": before / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="")
    ap.add_argument("--spaces", default="nb201,darts")
    ap.add_argument("--child", nargs=2, metavar=("SPACE", "METHOD"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.threads)))
        return
    from workbench.methods import method_names
    methods = [m for m in (args.methods.split(",") if args.methods else method_names())]
    spaces = args.spaces.split(",")
    print(f"steps timed: {args.steps} (median per round, min over {args.rounds} rounds), threads: {args.threads}, "
          "batch 64, digits 8x8")
    print(f"{'space':6} {'method':11} {'ms/step':>8} {'x v1':>6} {'peak MiB':>9} {'RSS MiB':>8}")
    plan = [(sp, m) for sp in spaces for m in methods if runs_on(sp, m)]
    plan += [("sharp", "sharpdarts")] if "sharpdarts" in methods else []
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):  # rounds interleave the methods, so a burst of load hits one round of each
        for sp, m in plan:
            out = subprocess.run([sys.executable, __file__, "--child", sp, m, "--steps", str(args.steps),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            results.setdefault((sp, m), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = {sp: min(r["ms"] for r in results[(sp, "darts-v1")]) for sp in spaces if (sp, "darts-v1") in results}
    for sp, m in plan:
        rs = results[(sp, m)]
        ms = min(r["ms"] for r in rs)  # the least disturbed round
        key = "darts" if sp == "sharp" else sp
        ratio = ms / base[key] if key in base else float("nan")
        peak = statistics.median(r["peak_mib"] for r in rs)
        print(f"{sp:6} {m:11} {ms:8.1f} {ratio:6.2f} {peak:9.1f} {rs[0]['rss_mib']:8.1f}", flush=True)

def runs_on(space: str, method: str) -> bool:
    """Whether ``method`` can search ``space`` (hardware methods need a chain space, DASS a sparse one)."""
    from workbench import SearchConfig, Searcher
    try:
        Searcher(SearchConfig(space=space, method=method, epochs=1, batch_size=16, data_limit=64))
    except Exception as exc:  # noqa: BLE001 - any refusal means: not this pair
        print(f"skipped {method} on {space}: {type(exc).__name__}: {str(exc)[:120]}")
        return False
    return True


if __name__ == "__main__":
    main()

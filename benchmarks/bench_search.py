"""Search-step speed and memory: our batched supernet vs the reference-style per-op execution.

Prints, for the DARTS and NB201 spaces at the default small configs (digits,
batch 64; DARTS: C=8, 3 cells; NB201: C=8, one cell per stage):

* ms per search step, first and second order, batched (ours) vs naive (every
  op of every edge called separately, as `quark0/darts` does) -- measured side
  by side in one process, interleaved, median of repeats;
* peak memory per step (max RSS growth, in a fresh subprocess per config);
* our overhead: a step's time divided by the time of the same network's ops
  (each op module's forward+backward) run alone on tensors of the same shapes;
* the wall time of a 50-epoch first-order NB201 search.

Usage: python benchmarks/bench_search.py [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import SearchConfig, Searcher, SupernetConfig  # noqa: E402
from workbench.ops import EdgeOp  # noqa: E402

CONFIGS = {
    "nb201": SearchConfig(space="nb201", supernet=SupernetConfig(C=8, cells_per_stage=1), batch_size=64),
    "darts": SearchConfig(space="darts", supernet=SupernetConfig(C=8, layers=3), batch_size=64),
}


def make(name: str, method: str, naive: bool) -> Searcher:
    s = Searcher(CONFIGS[name].replace(method=method, epochs=50))
    if naive:
        fwd = s.model.forward
        s.model.forward = lambda x, w, a=None, naive=False: fwd(x, w, a, naive=True)
    return s


def time_steps(s: Searcher, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        s.step()
        out.append(time.perf_counter() - t)
    return out


def side_by_side(name: str, method: str, n: int, rounds: int) -> tuple[float, float]:
    fast, slow = make(name, method, False), make(name, method, True)
    time_steps(fast, 2), time_steps(slow, 2)  # warm-up
    tf, ts = [], []
    for _ in range(rounds):  # interleave so machine noise hits both alike
        tf += time_steps(fast, n)
        ts += time_steps(slow, n)
    return statistics.median(tf) * 1e3, statistics.median(ts) * 1e3


def ops_alone_ms(name: str) -> float:
    """Sum over op modules of forward+backward time alone, for one forward+backward of the supernet."""
    s = make(name, "darts-v1", False)
    shapes: list[tuple[EdgeOp, torch.Size]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: shapes.append((mod, inp[0].shape)))
             for m in s.model.modules() if isinstance(m, EdgeOp) or isinstance(m, (torch.nn.Conv2d, torch.nn.Linear,
                                                                                  torch.nn.BatchNorm2d))]
    x, y = s.train_stream.next()
    w, a = s.mixing_weights()
    s.model(x, w, a).sum().backward()
    for h in hooks:
        h.remove()
    total = 0.0
    seen_parents = set()
    for mod, shape in shapes:
        if any(mod is p for p in seen_parents):
            continue
        xin = torch.randn(shape, requires_grad=True)
        for _ in range(2):
            mod(xin).sum().backward()
        reps = []
        for _ in range(5):
            t = time.perf_counter()
            mod(xin).sum().backward()
            reps.append(time.perf_counter() - t)
        total += statistics.median(reps)
    return total * 1e3


def peak_memory_mb(name: str, method: str, naive: bool) -> float:
    code = (f"import sys, resource; sys.path.insert(0, {str(ROOT)!r}); sys.argv=['x'];"
            f"from benchmarks.bench_search import make; import torch; torch.set_num_threads(1);"
            f"s = make({name!r}, {method!r}, {naive}); s.step();"
            f"r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            f"[s.step() for _ in range(3)];"
            f"print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n, rounds = (3, 2) if args.quick else (5, 4)
    results = {}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'space':6} {'method':9} {'ours ms':>8} {'naive ms':>9} {'speed-up':>8} {'peak MB':>8}")
    for name in CONFIGS:
        for method in ("darts-v1", "darts-v2"):
            nn_ = max(1, n // 2) if (method == "darts-v2") else n
            f, s = side_by_side(name, method, nn_, rounds)
            mem = peak_memory_mb(name, method, False)
            results[f"{name}/{method}"] = {"ours_ms": f, "naive_ms": s, "speedup": s / f, "peak_rss_mb": mem}
            print(f"{name:6} {method:9} {f:8.1f} {s:9.1f} {s / f:7.2f}x {mem:8.0f}")
    print()
    for name in CONFIGS:
        alone = ops_alone_ms(name)
        step = results[f"{name}/darts-v1"]["ours_ms"]
        # a first-order step = 2 forward+backward passes (arch on val, weights on train)
        results[f"{name}/overhead"] = step / (2 * alone)
        print(f"{name}: ops alone {alone:.1f} ms per fwd+bwd; first-order step {step:.1f} ms "
              f"= {step / (2 * alone):.2f}x the ops' own time (our overhead)")
    if not args.quick:
        s = Searcher(CONFIGS["nb201"].replace(epochs=50))
        t = time.perf_counter()
        s.run()
        wall = time.perf_counter() - t
        results["nb201/50_epochs_s"] = wall
        print(f"\nNB201 50-epoch first-order search ({s.total_steps} steps incl. per-epoch eval): {wall:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

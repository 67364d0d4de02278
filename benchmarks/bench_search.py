"""Search-step speed and memory: our batched supernet vs the reference-style per-op execution.

Prints, for the DARTS and NB201 spaces at the default small configs (digits,
batch 64; DARTS: C=8, 3 cells; NB201: C=8, one cell per stage):

* ms per search step, first and second order, batched (ours) vs naive (every
  op of every edge called separately, as `quark0/darts` does) -- measured side
  by side in one process, interleaved, median of repeats;
* peak memory per step (max RSS growth, in a fresh subprocess per config);
* our overhead: a step's time divided by the time of the same network's ops
  (each op module's forward+backward) run alone on tensors of the same shapes;
* the wall time of a 50-epoch first-order NB201 search, and in the same run the whole
  ``python -m workbench search --space nb201 --epochs 50 ...`` command in a fresh process (start-up, data,
  search, summary, report), with ``--eval-every 10`` too, next to the search time the command reports;
* the start-up: ``python -m workbench --help``, median of 5 fresh processes.

``--whole`` runs only the last two; ``--before DIR`` (a checkout of an earlier commit, e.g.
``git archive REF | tar -x -C DIR``) times the same commands there too, alternating, side by side.

Usage: python benchmarks/bench_search.py [--quick] [--threads N] [--whole] [--before DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import SearchConfig, Searcher, SupernetConfig  # noqa: E402
from workbench.spaces.cell.ops import EdgeOp  # noqa: E402

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


CLOCK = time.perf_counter  # wall clock; --cpu-time switches to process time (robust on a busy machine)


def time_steps(s: Searcher, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = CLOCK()
        s.step()
        out.append(CLOCK() - t)
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
    """Sum over the network's top-level modules (the batched op modules of every wave, the
    preprocessing, stem, residual blocks and classifier) of forward+backward time when each is run
    alone on a tensor of the shape it sees in the search: the floor our execution cannot go under."""
    s = make(name, "darts-v1", False)
    net = s.model
    units: list[torch.nn.Module] = [net.stem, net.head_norm, net.classifier]
    for cell in net.cells:
        if hasattr(cell, "wave_ops"):
            units += [getattr(cell, n) for n in ("pre0", "pre1") if hasattr(cell, n)]
            units += [op for ops in cell.wave_ops for op in ops.values()]
        else:
            units.append(cell)
    shapes: dict[int, torch.Size] = {}

    def recorder(u: torch.nn.Module, fn):
        def wrapped(x, *rest, **kw):
            shapes.setdefault(id(u), x.shape)
            return fn(x, *rest, **kw)
        return wrapped

    for u in units:  # wave ops are called through run()/body(), not __call__, so wrap those
        for meth in ("run", "body", "forward"):
            if meth in type(u).__dict__ or (meth == "forward" and not isinstance(u, EdgeOp)):
                setattr(u, meth, recorder(u, getattr(u, meth)))
    x, _ = s.train_stream.next()
    w, a = s.mixing_weights()
    net(x, w, a).sum().backward()
    total = 0.0
    for u in units:
        if id(u) not in shapes:
            continue
        for meth in ("run", "body", "forward"):
            u.__dict__.pop(meth, None)
        shape = shapes[id(u)]
        xin = torch.randn(shape).contiguous(memory_format=torch.channels_last) if len(shape) == 4 else torch.randn(shape)
        xin.requires_grad_(True)
        call = (lambda t, u=u: u.run(t, None)) if isinstance(u, EdgeOp) else u
        reps = []
        for i in range(7):
            t = time.process_time()
            call(xin).sum().backward()
            if i >= 2:
                reps.append(time.process_time() - t)
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


def help_seconds(tree: Path, repeats: int = 5) -> list[float]:
    """Wall times of ``python -m workbench --help`` in fresh processes run in ``tree``."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench", "--help"], cwd=tree, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def whole_command(tree: Path, threads: int, extra: tuple[str, ...] = ()) -> tuple[float, float]:
    """(wall seconds of the whole 50-epoch NB201 CLI command, the search seconds it reports in summary.json)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "workbench", "search", "--space", "nb201", "--epochs", "50", "--C", "8",
               "--cells-per-stage", "1", "--batch-size", "64", "--threads", str(threads), "--out", str(run),
               "--quiet", *extra]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=tree, capture_output=True, check=True)
        wall = time.perf_counter() - t
        return wall, float(json.loads((run / "summary.json").read_text())["seconds"])


def whole_job(threads: int, before: Path | None, results: dict) -> None:
    trees = {"this tree": ROOT, **({"before": before} if before else {})}
    helps: dict[str, list[float]] = {k: [] for k in trees}
    for _ in range(5):  # alternating, one fresh process each
        for k, tree in trees.items():
            helps[k] += help_seconds(tree, 1)
    print("\nstart-up: python -m workbench --help, median of 5 fresh processes")
    for k, v in helps.items():
        results[f"help_s/{k}"] = statistics.median(v)
        print(f"  {k:10s} {statistics.median(v):6.2f} s   (all: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"\nNB201 50-epoch first-order search, the whole CLI command in a fresh process ({threads} thread(s))")
    print(f"  {'tree':10s} {'flags':22s} {'command s':>10s} {'search s':>9s} {'outside':>8s}")
    for extra in ((), ("--eval-every", "10")):
        for k, tree in trees.items():
            if extra and k == "before":
                continue  # the flag is new
            wall, search = whole_command(tree, threads, extra)
            results[f"cli_50_epochs/{k}/{' '.join(extra) or 'default'}"] = {"command_s": wall, "search_s": search}
            print(f"  {k:10s} {' '.join(extra) or '(default)':22s} {wall:10.1f} {search:9.1f} {wall - search:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time steps by process CPU time (use with --threads 1 on a machine shared with other work)")
    ap.add_argument("--whole", action="store_true", help="only the start-up and whole-command timings")
    ap.add_argument("--before", type=Path, help="an earlier checkout to time the whole command in, side by side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.whole:
        results: dict = {}
        search_50_epochs(args.threads, results)
        whole_job(args.threads, args.before, results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    n, rounds = (3, 2) if args.quick else (5, 4)
    results = {}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"clock {'process CPU time' if args.cpu_time else 'wall'}")
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
    if not args.quick:  # in a fresh process, as a user would run it
        search_50_epochs(args.threads, results)
        whole_job(args.threads, args.before, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def search_50_epochs(threads: int, results: dict) -> None:
    """The search alone (``Searcher.run()``, 50 epochs) in a fresh process."""
    code = (f"import sys, time, torch; sys.path.insert(0, {str(ROOT)!r}); torch.set_num_threads({threads});"
            f"from benchmarks.bench_search import CONFIGS; from workbench import Searcher;"
            f"s = Searcher(CONFIGS['nb201'].replace(epochs=50)); t = time.perf_counter(); s.run();"
            f"print(time.perf_counter() - t, s.step_count)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall, steps = out.stdout.split()
    results["nb201/50_epochs_s"] = float(wall)
    print(f"\nNB201 50-epoch first-order search ({steps} steps incl. per-epoch eval), Searcher.run() in a fresh "
          f"process, wall clock: {float(wall):.1f} s")


if __name__ == "__main__":
    main()

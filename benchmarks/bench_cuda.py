"""CUDA checks and timings in one run (issue 15); runs on the CPU too (then it times the CPU).

Sections (``--only`` picks some; by default all but ``profile`` and ``compile``):

* ``pool``    -- the minimal reproducer of the average-pool gradient (benchmarks/cuda_pool_repro.py);
* ``grads``   -- batched supernet vs per-op execution on the device, each DARTS op alone and all together:
                 worst relative gradient error (weights and alphas), float64 and float32;
* ``step``    -- ms per search step on the DARTS space at the DARTS paper's search config (3x32x32 inputs,
                 C=16, 8 cells) at batch 64 and 256, first and second order: the reference-style DARTS
                 search (benchmarks/reference_darts.py: quark0/darts's execution structure, on the device),
                 our engine on the supernet's per-op path, ours eager, ours replayed as a CUDA graph --
                 measured side by side in one process, interleaved rounds, median; plus the time of one
                 graph capture;
* ``compile`` -- (opt-in) the supernet's forward under ``torch.compile`` (static shapes, ``reduce-overhead``)
                 against ours eager and our whole-step CUDA graph, with the compile time;
* ``nb201``   -- wall time of a whole 50-epoch first-order NAS-Bench-201 search on digits (default search
                 config), on the GPU (graphed and eager) and on this machine's CPU (``--cpu-threads``).

Usage: python benchmarks/bench_cuda.py [--only pool,grads,profile,step,compile,nb201] [--quick] [--cpu-threads N]
                                      [--compile-budget S] [--smoke]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import os
import platform
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reference_darts import ReferenceSearch, from_supernet  # noqa: E402
from workbench import SearchConfig, Searcher, SupernetConfig, TensorDataset  # noqa: E402
from workbench.methods.relax import masked_softmax  # noqa: E402
from workbench.spaces import get_space  # noqa: E402
from workbench.spaces.cell import ops  # noqa: E402
from workbench.spaces.cell.supernet import Supernet  # noqa: E402

DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SIZE = {"C": 16, "layers": 8, "hw": 32, "batches": (64, 256)}  # the DARTS paper's search config; --smoke shrinks it


def sync() -> None:
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def header() -> None:
    gpu = f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" \
        if DEV.type == "cuda" else "no GPU"
    print(f"# bench_cuda: torch {torch.__version__}; device {DEV} ({gpu}); host {platform.processor() or '?'} "
          f"{os.cpu_count()} cores; python {platform.python_version()}")


# -- grads ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def pool_variant(name: str) -> Iterator[None]:
    """Diagnostics: "channels_last" runs the average pool on its channels-last input, as before the fix."""
    if name == "current":
        yield
        return
    original = ops.Pool.run
    src = textwrap.dedent(inspect.getsource(original)).replace("cuda_safe_pool_input(x)", "x")
    ns: dict[str, object] = {}
    exec(src, ops.__dict__, ns)  # noqa: S102 - a patched copy of our own method, for this diagnostic only
    ops.Pool.run = ns["run"]  # type: ignore[method-assign]
    try:
        yield
    finally:
        ops.Pool.run = original  # type: ignore[method-assign]


def _grad_run(net: Supernet, x: torch.Tensor, naive: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    w = {c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types}
    y = net(x, w, naive=naive)
    ps = net.arch_parameters() + net.weight_parameters()
    gs = torch.autograd.grad(y.square().sum(), ps, allow_unused=True)
    return y.detach().double().cpu(), [(torch.zeros_like(p) if g is None else g).double().cpu()
                                       for g, p in zip(gs, ps, strict=True)]


def _rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    fa, fb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float((fa - fb).norm() / fb.norm())


def grads_section() -> None:
    print(f"\n## gradients on {DEV} vs the batched supernet in float64 on the CPU (relative error of all alpha / all "
          "weight gradients together; float32 with TF32 off)")
    print(f"{'op':>14} {'pool':>13} {'dtype':>8} {'batched a/w':>19} {'per-op a/w':>19}")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for dtype in (torch.float64, torch.float32):
        for op in [None, *[o for o in get_space("darts").ops if o != "none"]]:
            for variant in ("current", "channels_last") if op in (None, "avg_pool_3x3") else ("current",):
                torch.manual_seed(0)
                ref = Supernet("darts", SupernetConfig(C=8, layers=3), in_channels=3, n_classes=10).double()
                if op is not None:
                    for c in ref.space.cell_types:
                        for other in ref.space.ops:
                            if other not in (op, "none"):
                                ref.set_op_enabled(c, other, False)
                for a in ref.arch_parameters():
                    a.data.normal_()
                x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
                _, g_cpu = _grad_run(ref, x, naive=False)
                net = copy.deepcopy(ref).to(DEV, dtype)
                k = len(net.arch_parameters())
                with pool_variant(variant):
                    errs = []
                    for naive in (False, True):
                        _, g = _grad_run(net, x.to(DEV, dtype), naive)
                        errs += [_rel(g[:k], g_cpu[:k]), _rel(g[k:], g_cpu[k:])]
                print(f"{op or 'all ops':>14} {variant:>13} {str(dtype)[6:]:>8} {errs[0]:9.1e} {errs[1]:9.1e} "
                      f"{errs[2]:9.1e} {errs[3]:9.1e}")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True


def nchw_stem_states(net: torch.nn.Module) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``Supernet.stem_states`` without the channels-last conversion (every later layer follows its input)."""
    def stem_states(x: torch.Tensor, naive: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        s = net.stem(x.contiguous())
        return s, s
    return stem_states


# -- profile ---------------------------------------------------------------------------------------------------
def profile_section() -> None:
    """Where a step's GPU time goes at the paper config, batch 256 (eager, first order); cuDNN autotuning and the
    waves' memory layout (channels-last vs NCHW), each A/B on the graphed step."""
    from torch.profiler import ProfilerActivity, profile
    for batch in SIZE["batches"]:
        for bench in (False, True):
            torch.backends.cudnn.benchmark = bench
            s = searcher("darts-v1", batch, "graph", 12)
            s.run(3)
            t = time_steps(s.step, 4)
            print(f"cudnn.benchmark={bench}: batch {batch}: graph step {statistics.median(t) * 1e3:.1f} ms")
    torch.backends.cudnn.benchmark = False
    for batch in SIZE["batches"]:  # the waves' memory layout: channels-last (ours, chosen on a CPU) vs NCHW
        for layout in ("channels_last", "nchw"):
            s = searcher("darts-v1", batch, "graph" if DEV.type == "cuda" else "eager", 12)
            if layout == "nchw":
                s.model.stem_states = nchw_stem_states(s.model)  # the stem's layout is the whole network's
            s.run(3)
            t = time_steps(s.step, 4)
            print(f"layout {layout}: batch {batch}: step {statistics.median(t) * 1e3:.1f} ms")
    if DEV.type != "cuda":
        return
    s = searcher("darts-v1", SIZE["batches"][-1], "eager", 8)
    s.run(2)
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        s.run(2)
        sync()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))


# -- step timings ----------------------------------------------------------------------------------------------
def random_task(batch: int, steps: int, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    n = 2 * batch * steps  # the search uses half for weights, half for alphas: `steps` full batches each
    x = torch.randn(n, 3, SIZE["hw"], SIZE["hw"], generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorDataset("random32", x, y, x[:batch], y[:batch], n_outputs=10, default_objective="cross_entropy")


def searcher(method: str, batch: int, mode: str, steps: int, device: torch.device = DEV) -> Searcher:
    cfg = SearchConfig(space="darts", method=method, supernet=SupernetConfig(C=SIZE["C"], layers=SIZE["layers"]),
                       batch_size=batch, epochs=1000, eval_each_epoch=False, device=str(device),
                       cuda_graphs=(mode == "graph"))
    s = Searcher(cfg, dataset=random_task(batch, steps))
    if mode == "per-op":
        fwd = s.model.forward
        s.model.forward = lambda x, w, a=None, naive=False: fwd(x, w, a, naive=True)
    return s


def reference(ours: Searcher, second_order: bool) -> Callable[[], object]:
    """One step of the reference-style DARTS search (benchmarks/reference_darts.py: quark0/darts's execution
    structure, on the device) from ``ours``' weights, on copies of ours' batch streams."""
    assert isinstance(ours.model, Supernet)
    cfg = ours.config
    ref = ReferenceSearch(from_supernet(ours.model), lr=ours.lr(), momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, unrolled=second_order)
    train, val = copy.deepcopy(ours.train_stream), copy.deepcopy(ours.val_stream)
    return lambda: ref.step(train.next(), val.next())


def time_steps(step: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        sync()
        t = time.perf_counter()
        step()
        sync()
        out.append(time.perf_counter() - t)
    return out


def step_section(quick: bool) -> None:
    """Columns: ``reference`` -- the reference-style search (quark0/darts's structure: a module per op of
    every edge, ``none`` computed, softmax per cell, second order rebuilding the unrolled network with
    ``new()`` each step, in-place finite differences, ``loss.item()`` each step); ``per-op`` -- our engine
    with the supernet's per-op path; ``eager`` -- ours; ``graph`` -- ours replayed as a CUDA graph."""
    print(f"\n## ms per search step, DARTS space, 3x{SIZE['hw']}x{SIZE['hw']}, C={SIZE['C']}, {SIZE['layers']} cells, "
          f"on {DEV} (median; interleaved rounds)")
    modes = ("reference", "per-op", "eager", "graph") if DEV.type == "cuda" else ("reference", "per-op", "eager")
    n, rounds = (3, 2) if quick else (5, 3)
    print(f"{'method':>9} {'batch':>5} " + " ".join(f"{m:>10}" for m in modes)
          + "   ref/ours  per-op/ours  capture ms")
    for method in ("darts-v1", "darts-v2"):
        for batch in SIZE["batches"]:
            steps = 2 + 1 + rounds * n + 2  # warm-up, capture, timed, spare: all inside one epoch
            ss = {m: searcher(method, batch, m, steps) for m in modes if m != "reference"}
            fns: dict[str, Callable[[], object]] = {"reference": reference(ss["eager"], method == "darts-v2")}
            fns |= {m: s.step for m, s in ss.items()}
            fns = {m: fns[m] for m in modes}
            capture_ms = float("nan")
            for m, step in fns.items():
                step()  # warm-up (for "graph": the eager warm-up step)
                if m == "graph":
                    sync()
                    t = time.perf_counter()
                    step()  # capture + first replay
                    sync()
                    capture_ms = (time.perf_counter() - t) * 1e3
                else:
                    step()
            times: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(rounds):
                for m, step in fns.items():
                    times[m] += time_steps(step, n)
            med = {m: statistics.median(v) * 1e3 for m, v in times.items()}
            best = med["graph"] if "graph" in med else med["eager"]
            g = ss.get("graph")
            note = "" if g is None or g._graphs is None or g._graphs.reason is None else f"  ({g._graphs.reason})"
            print(f"{method:>9} {batch:>5} " + " ".join(f"{med[m]:10.1f}" for m in modes)
                  + f"   {med['reference'] / best:7.1f}x  {med['per-op'] / best:10.1f}x  {capture_ms:9.0f}{note}")
            del ss, fns
            if DEV.type == "cuda":
                torch.cuda.empty_cache()


# -- torch.compile -----------------------------------------------------------------------------------------
def compile_section(quick: bool, budget_s: int) -> None:
    """Issue 15 item 3's other candidate: the supernet's forward under ``torch.compile`` with static shapes
    (``mode="reduce-overhead"`` on CUDA: Inductor kernels replayed through CUDA graphs; ``"default"`` on a CPU)
    against ours eager and our whole-step CUDA graph, first order at the paper config's first batch size; the
    first compiled step's time is the compile time. Compiling stops after ``budget_s`` seconds (it took 32
    minutes on a 2-core CPU for the whole DARTS supernet)."""
    import signal
    batch = SIZE["batches"][0]
    n, rounds = (3, 2) if quick else (5, 3)
    steps = 2 + 1 + rounds * n + 2
    modes = ("eager", "graph", "compiled") if DEV.type == "cuda" else ("eager", "compiled")
    ss = {m: searcher("darts-v1", batch, "graph" if m == "graph" else "eager", steps) for m in modes}
    model = ss["compiled"].model
    import torch._dynamo as dynamo
    # the ops' run() sees many shapes (one per wave and cell); the default limit of 8 sends the rest to eager
    dynamo.config.recompile_limit = max(dynamo.config.recompile_limit, 64)
    model.forward = torch.compile(model.forward, mode="reduce-overhead" if DEV.type == "cuda" else "default",
                                  dynamic=False)
    print(f"\n## torch.compile vs CUDA graphs, darts-v1, batch {batch}, on {DEV} (compile budget {budget_s} s)")

    def out_of_time(signum: int, frame: object) -> None:
        raise TimeoutError(f"torch.compile took over {budget_s} s")

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(budget_s)
    try:
        sync()
        t = time.perf_counter()
        ss["compiled"].step()  # compiles
        sync()
        compile_s = time.perf_counter() - t
        ss["compiled"].step()  # the first replay records its graphs (reduce-overhead)
    except TimeoutError as exc:
        print(f"compiled: {exc}; not timed")
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    for m in modes:
        if m != "compiled":
            ss[m].step(), ss[m].step()  # warm-up (graph: capture)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for m in modes:
            times[m] += time_steps(ss[m].step, n)
    med = {m: statistics.median(v) * 1e3 for m, v in times.items()}
    print("  ".join(f"{m} {med[m]:.1f} ms" for m in modes) + f"; first compiled step (compile) {compile_s:.1f} s")
    try:
        print(f"graph breaks / unique graphs: {dynamo.utils.counters['stats'].get('unique_graphs', '?')} graphs, "
              f"{sum(dynamo.utils.counters['graph_break'].values())} breaks")
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        print(f"(dynamo counters unavailable: {exc})")


# -- whole NB201 search --------------------------------------------------------------------------------------
def nb201_section(cpu_threads: int, epochs: int) -> None:
    print(f"\n## whole {epochs}-epoch first-order NB201 search on digits (default config), wall seconds")
    runs = []
    if DEV.type == "cuda":
        runs += [("cuda, graphs", dict(device="cuda")), ("cuda, eager", dict(device="cuda", cuda_graphs=False))]
    runs.append((f"cpu, {cpu_threads} threads", dict(device="cpu")))
    results = {}
    for name, kw in runs:
        threads = torch.get_num_threads()
        if kw["device"] == "cpu":
            torch.set_num_threads(cpu_threads)
        sync()
        t = time.perf_counter()
        s = Searcher(SearchConfig(space="nb201", method="darts-v1", epochs=epochs, **kw))
        s.run()
        sync()
        results[name] = time.perf_counter() - t
        torch.set_num_threads(threads)
        acc = s.evaluate()[1]["accuracy"]
        extra = ""
        if s._graphs is not None:
            extra = f"; {s._graphs.captures} captures, {s._graphs.replays} replays"
        print(f"{name:>18}: {results[name]:6.1f} s  (supernet val acc {acc:.3f}, genotype {s.genotype()}{extra})")
    if DEV.type == "cuda":
        cpu = results[runs[-1][0]]
        print(f"GPU (graphs) vs CPU: {cpu / results['cuda, graphs']:.2f}x faster; "
              f"graphs vs eager on the GPU: {results['cuda, eager'] / results['cuda, graphs']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="pool,grads,step,nb201",
                    help="sections: pool,grads,profile,step,compile,nb201 (default: all but profile and compile)")
    ap.add_argument("--compile-budget", type=int, default=240, help="seconds torch.compile may take (compile)")
    ap.add_argument("--quick", action="store_true", help="fewer timing repeats")
    ap.add_argument("--epochs", type=int, default=50, help="epochs of the whole NB201 search")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script on a CPU)")
    ap.add_argument("--cpu-threads", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()
    if args.smoke:
        SIZE.update(C=4, layers=3, hw=8, batches=(8,))
    header()
    only = set(args.only.split(","))
    if "pool" in only:
        from benchmarks.cuda_pool_repro import main as pool
        print("\n## average pool as a depthwise all-ones convolution: input-gradient error vs float64 CPU")
        pool()
    if "grads" in only:
        grads_section()
    if "profile" in only:
        profile_section()
    if "step" in only:
        step_section(args.quick)
    if "compile" in only:
        compile_section(args.quick, args.compile_budget)
    if "nb201" in only:
        nb201_section(args.cpu_threads, 1 if args.smoke else args.epochs)


if __name__ == "__main__":
    main()

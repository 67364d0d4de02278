"""Search-step time: ours (``workbench.Searcher``) against a reference-style DARTS step, side by side in one run.

The baseline is :mod:`benchmarks.reference_darts`: the execution structure of `quark0/darts` (every op of
every edge its own module, ``none`` computed, softmax per cell, ``loss.backward()`` over everything, the
unrolled model rebuilt with ``new()`` each second-order step, the in-place finite-difference
Hessian-vector product), started from our supernet's very parameters (``from_supernet``; the oracle tests in
``tests/test_reference_baseline.py`` check both compute the same logits and the same steps). Before timing,
each pair's logits are compared once more at the benchmark's own config (float32) and the difference printed.

Configs: ``digits`` -- the digits-sized DARTS search (1x8x8 digits, batch 64, C=8, 3 cells) -- and
``cifar-small`` -- 3x32x32 inputs, batch 16, C=8, 5 cells, on *random* data of that shape (no CIFAR download
here; the step's time does not depend on the pixel values). Each is run first order (``darts-v1``) and second
order (``darts-v2``). One torch thread; per pair, one warm-up step each, then ``--rounds`` rounds of one step
each, the two sides alternating which goes first (ABBA...) so machine noise hits both alike. Reported: median
ms per step of each side and their ratio (reference / ours: how many times faster we are), with the range of
the per-round ratios, by the wall clock and by this process's CPU time (with one thread, the CPU time is what
the step costs even when other processes share the cores and stretch the wall clock). Data loading is not
timed on either side (both draw ready tensors from in-memory streams; the reference's
``next(iter(valid_queue))`` DataLoader cost is left out).

``--count-ops`` also profiles one step of each side and prints its ATen calls and convolutions: the
reference-style first-order digits step makes 54,874 ATen calls and 1,088 convolutions, the counts issue 17
gives for the real reference code.

Usage: python benchmarks/bench_vs_reference.py [--quick] [--rounds N] [--only digits|cifar-small] [--order 1|2]
                                               [--count-ops]
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reference_darts import ReferenceSearch, from_supernet  # noqa: E402
from workbench import SearchConfig, Searcher, SupernetConfig, TensorDataset  # noqa: E402
from workbench.spaces.cell.supernet import Supernet  # noqa: E402

#: the issue-17 ratios measured against the real quark0/darts code (same machine, one thread, 12 pairs)
REAL_REFERENCE = {("digits", 1): "3.6-3.7x", ("cifar-small", 1): "3.1x", ("digits", 2): "3.2x",
                  ("cifar-small", 2): "2.4x"}


@dataclass(frozen=True)
class Bench:
    name: str
    config: SearchConfig
    random_shape: tuple[int, ...] | None  # None: the config's own dataset (digits)


BENCHES = {
    "digits": Bench("digits", SearchConfig(space="darts", supernet=SupernetConfig(C=8, layers=3), batch_size=64),
                    None),
    "cifar-small": Bench("cifar-small", SearchConfig(space="darts", supernet=SupernetConfig(C=8, layers=5),
                                                     batch_size=16), (3, 32, 32)),
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} logical CPUs; {platform.python_implementation()} {platform.python_version()}; "
            f"torch {torch.__version__}; torch threads {torch.get_num_threads()}; load average {load}")


def random_dataset(shape: tuple[int, ...], n: int = 512, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)
    return TensorDataset("random" + "x".join(map(str, shape)), x, y, x[:16], y[:16], n_outputs=10,
                         default_objective="cross_entropy")


def pair(bench: Bench, order: int) -> tuple[Searcher, ReferenceSearch, float]:
    """Ours and the reference-style search from the same weights and alphas; the logits' max difference."""
    cfg = bench.config.replace(method="darts-v1" if order == 1 else "darts-v2", epochs=100, eval_each_epoch=False)
    ours = Searcher(cfg, dataset=None if bench.random_shape is None else random_dataset(bench.random_shape))
    assert isinstance(ours.model, Supernet)
    ref = ReferenceSearch(from_supernet(ours.model), lr=ours.lr(), momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, unrolled=order == 2)
    x, _ = copy.deepcopy(ours.val_stream).next()
    with torch.no_grad():
        ours.model.eval(), ref.model.eval()
        w, active = ours.mixing_weights(training=False)
        diff = float((ours.model(x, w, active) - ref.model(x)).abs().max())
    return ours, ref, diff


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def op_counts(step: Callable[[], object]) -> dict[str, float]:
    """ATen operator calls and convolutions (forward, backward) in one call of ``step``, by the profiler."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    names = [e.name for e in prof.events()]
    return {"aten": sum(n.startswith("aten::") for n in names), "conv": names.count("aten::convolution"),
            "conv_bw": names.count("aten::convolution_backward")}


def time_pair(bench: Bench, order: int, rounds: int, count_ops: bool = False) -> dict[str, float]:
    ours, ref, diff = pair(bench, order)
    train, val = copy.deepcopy(ours.train_stream), copy.deepcopy(ours.val_stream)  # the same batches as ours

    def step_ours() -> tuple[float, float]:
        return _timed(ours.step)

    def step_ref() -> tuple[float, float]:
        batch_t, batch_v = train.next(), val.next()
        return _timed(lambda: ref.step(batch_t, batch_v))

    step_ours(), step_ref()  # warm-up
    out = {"logit_diff": diff}
    if count_ops:
        for side, step in (("ours", step_ours), ("ref", step_ref)):
            out |= {f"{side}_{k}": v for k, v in op_counts(step).items()}
    t_ours, t_ref = [], []
    for r in range(rounds):
        if r % 2:
            t_ref.append(step_ref())
            t_ours.append(step_ours())
        else:
            t_ours.append(step_ours())
            t_ref.append(step_ref())
    for k, clock in enumerate(("wall", "cpu")):
        a, b = [t[k] for t in t_ours], [t[k] for t in t_ref]
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        out |= {f"{clock}_ours_ms": statistics.median(a) * 1e3, f"{clock}_ref_ms": statistics.median(b) * 1e3,
                f"{clock}_ratio": statistics.median(b) / statistics.median(a), f"{clock}_ratio_min": min(ratios),
                f"{clock}_ratio_max": max(ratios)}
    return out


def main(argv: list[str] | None = None) -> dict[tuple[str, int], dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 timed rounds per pair instead of --rounds")
    p.add_argument("--rounds", type=int, default=4, help="timed steps per side and pair (default 4)")
    p.add_argument("--only", choices=sorted(BENCHES), help="one config only (default: both)")
    p.add_argument("--order", type=int, choices=(1, 2), help="first (1) or second (2) order only (default: both)")
    p.add_argument("--count-ops", action="store_true",
                   help="also profile one step of each side: ATen calls and convolutions per step (off by default)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rounds = 2 if args.quick else args.rounds
    t0 = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"ms per search step (median of {rounds} after 1 warm-up, interleaved); ratio = reference-style / ours\n")
    print(" " * 19 + f"{' wall clock ':-^37}   {' CPU time of this process ':-^37}")
    print(f"{'config':12} {'order':5} " + f"{'ours ms':>8} {'ref ms':>8} {'ratio':>6} {'(range)':>12}   " * 2
          + f"{'logits |diff|':>13}  real reference (issue 17)")
    results = {}
    for name in [args.only] if args.only else list(BENCHES):
        for order in [args.order] if args.order else [1, 2]:
            r = time_pair(BENCHES[name], order, rounds, args.count_ops)
            results[(name, order)] = r
            cols = "".join(f"{r[c + '_ours_ms']:8.0f} {r[c + '_ref_ms']:8.0f} {r[c + '_ratio']:5.2f}x "
                           f"{r[c + '_ratio_min']:6.2f}-{r[c + '_ratio_max']:.2f}x   " for c in ("wall", "cpu"))
            print(f"{name:12} {order:5} {cols}{r['logit_diff']:13.1e}  {REAL_REFERENCE[(name, order)]}", flush=True)
    if args.count_ops:
        print("\nper step (torch.profiler): ATen calls / convolutions / convolution backwards")
        for (name, order), r in results.items():
            print(f"{name:12} {order:5}  ours {r['ours_aten']:7.0f} / {r['ours_conv']:5.0f} / {r['ours_conv_bw']:5.0f}"
                  f"   reference-style {r['ref_aten']:7.0f} / {r['ref_conv']:5.0f} / {r['ref_conv_bw']:5.0f}")
        print("(issue 17, the real reference at digits, first order: 54.9k ATen calls and 1,088 convolutions)")
    print(f"\nload average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"whole benchmark {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main()

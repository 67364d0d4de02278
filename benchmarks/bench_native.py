"""The native CPU kernels (``workbench.native``) against ATen/oneDNN, side by side in one process (issue 17, item 1).

Part 1, per kernel: forward + backward (input and weight gradients) of the grouped pointwise, depthwise and
BatchNorm calls a DARTS wave makes, against what the supernet called before (``F.conv2d``/``F.batch_norm``, and
``workbench.conv_kernels``' polyphase and 3-D weight-gradient forms where they applied), at the shapes of the digits-sized config (batch 64; maps 8, 4, 2) and of the
small CIFAR config (batch 16; maps 32, 16, 8): median of ``--repeats`` calls, this process's CPU time, one thread.

Part 2, the whole search step: ``Searcher.step`` at those two configs (``benchmarks/bench_vs_reference.py``'s),
first and second order, with the kernels on and off (``native.disabled()``), interleaved ABBA over ``--rounds``
rounds. The ratio off/on is what the kernels bring; ``bench_vs_reference.py`` compares the step with the
reference-style DARTS code.

Usage: python benchmarks/bench_native.py [--repeats 30] [--rounds 6] [--only kernels|step]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import median_ms  # noqa: E402
from workbench import native  # noqa: E402
from workbench.conv_kernels import depthwise_conv2d, polyphase_applies, polyphase_depthwise_conv2d  # noqa: E402


def _cl(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last).requires_grad_(True)


def _fwd_bwd(fn: Callable[[], torch.Tensor], ins: list[torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        y = fn()
        torch.autograd.grad(y, ins, torch.ones_like(y))
    return run


def _before(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, dilation: int) -> torch.Tensor:
    """What the supernet ran before the native kernels: ``conv_kernels``' forms (the polyphase split for dilated
    "same" convolutions, the 3-D weight gradient where the kernel reaches past the map), else ``F.conv2d``."""
    with native.disabled():
        if polyphase_applies(x.shape[-2], x.shape[-1], w.shape[-1], stride, padding, dilation):
            return polyphase_depthwise_conv2d(x, w, dilation)
        return depthwise_conv2d(x, w, stride, padding, dilation)


def kernels(repeats: int) -> None:
    print("before: ATen/oneDNN in the forms the supernet used before (workbench.conv_kernels)")
    print(f"{'call (fwd + bwd)':44} {'before ms':>9} {'native':>8} {'ratio':>6}")
    cases: list[tuple[str, Callable[[], torch.Tensor], Callable[[], torch.Tensor], list[torch.Tensor]]] = []
    for B, E, C, H in [(64, 4, 8, 8), (64, 4, 16, 4), (64, 4, 32, 2), (16, 4, 8, 32), (16, 4, 16, 16), (16, 4, 32, 8)]:
        x, w = _cl(B, E * C, H, H), torch.randn(E * C, C, 1, 1, requires_grad=True)
        cases.append((f"pointwise B{B} {E}x{C}ch {H}x{H}", lambda x=x, w=w, E=E: native.pointwise_conv2d(x, w, E),
                      lambda x=x, w=w, E=E: F.conv2d(x, w, None, 1, 0, 1, E), [x, w]))
        for k, s, d in [(3, 1, 1), (5, 1, 1), (3, 1, 2), (3, 2, 1)]:
            wd = torch.randn(E * C, 1, k, k, requires_grad=True)
            p = d * (k - 1) // 2
            cases.append((f"depthwise {k}x{k} s{s} d{d} B{B} {E * C}ch {H}x{H}",
                          lambda x=x, wd=wd, s=s, p=p, d=d: native.depthwise_conv2d(x, wd, s, p, d),
                          lambda x=x, wd=wd, s=s, p=p, d=d: _before(x, wd, s, p, d), [x, wd]))
        scale = torch.rand(E * C, requires_grad=True)
        cases.append((f"batch norm B{B} {E * C}ch {H}x{H}",
                      lambda x=x, sc=scale: native.batch_norm(x, None, None, sc, None, 0.1, 1e-5),
                      lambda x=x, sc=scale: F.batch_norm(x, None, None, sc, None, True, 0.1, 1e-5), [x, scale]))
    ratios = []
    for name, nat, ref, ins in cases:
        a = median_ms(_fwd_bwd(ref, ins), repeats, clock=time.process_time)
        b = median_ms(_fwd_bwd(nat, ins), repeats, clock=time.process_time)
        ratios.append(a / b)
        print(f"{name:44} {a:9.3f} {b:8.3f} {a / b:5.2f}x", flush=True)
    print(f"geometric mean {statistics.geometric_mean(ratios):.2f}x over {len(ratios)} calls\n")


def step(rounds: int) -> None:
    from benchmarks.bench_vs_reference import BENCHES, random_dataset
    from workbench import Searcher
    print(f"{'search step':24} {'native off ms':>13} {'on ms':>7} {'ratio':>6}  (CPU time, median of {rounds})")
    for name, bench in BENCHES.items():
        for method in ("darts-v1", "darts-v2"):
            cfg = bench.config.replace(method=method, epochs=100, eval_each_epoch=False)
            data = None if bench.random_shape is None else random_dataset(bench.random_shape)
            on = Searcher(cfg, dataset=data)
            off = Searcher(cfg, dataset=data)
            off.model.load_state_dict(copy.deepcopy(on.model.state_dict()))

            def run_off(off: Searcher = off) -> float:
                with native.disabled():
                    t = time.process_time()
                    off.step()
                    return time.process_time() - t

            def run_on(on: Searcher = on) -> float:
                t = time.process_time()
                on.step()
                return time.process_time() - t

            run_on(), run_off()  # warm-up
            t_on, t_off = [], []
            for r in range(rounds):
                pair = (run_on, run_off) if r % 2 == 0 else (run_off, run_on)
                for fn in pair:
                    (t_on if fn is run_on else t_off).append(fn())
            a, b = statistics.median(t_off) * 1e3, statistics.median(t_on) * 1e3
            print(f"{name + ' ' + method:24} {a:13.0f} {b:7.0f} {a / b:5.2f}x", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=30, help="timed calls per kernel and side (default 30)")
    p.add_argument("--rounds", type=int, default=6, help="timed steps per side and config (default 6)")
    p.add_argument("--only", choices=("kernels", "step"), help="one part only (default: both)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if not native.available():
        sys.exit("the native kernels are unavailable here (no C compiler, or DNAS_WORKBENCH_NATIVE=0)")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    print(f"machine: {cpu}; {os.cpu_count()} CPUs; torch {torch.__version__}, 1 thread; "
          f"load {', '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    if args.only in (None, "kernels"):
        kernels(args.repeats)
    if args.only in (None, "step"):
        step(args.rounds)


if __name__ == "__main__":
    main()

"""Does a lookup table of single blocks predict the latency of whole chains on this CPU?

The additive model behind every latency cost model (FBNet, ProxylessNAS:
LAT(arch) = sum over layers of LAT(layer, block)) is checked against the
machine itself: every (layer, block) of the ``chain`` space is timed alone at
batch 1 (:func:`workbench.spaces.chain.costs.measure_latency`, the host LUT),
and ``--archs`` random legal architectures are compiled (``space.compile``)
and timed end to end at batch 1 (eval mode, no grad, one torch thread). A
shared 2-core machine drifts by tens of percent within seconds, so the two are
measured in the same ``--rounds`` interleaved rounds: each round times the
LUT (median of ``--lut-repeats`` per block) and then every architecture, in a
fresh random order (``--repeats`` calls each). The LUT is the per-entry median
over rounds, an architecture's latency the median of all its calls. The
prediction is the sum of the LUT entries of the architecture's blocks; the
stem, the shortcut additions and the classifier are a constant the sum leaves
out (the intercept of the linear fit; it does not change the ranks).

Printed: one line per architecture (predicted, measured), Spearman's rank
correlation (the target is >= 0.9: the search only needs the order right),
Pearson's r and the fit measured ~= a + b * predicted; ``--stat min`` uses the
minimum instead of the median everywhere (less sensitive to a busy machine).

Usage: python benchmarks/bench_latency.py [--input-shape 1,28,28] [--archs 30] [--seed 0]
       [--rounds 10] [--lut-repeats 10] [--repeats 10] [--stat median|min]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input-shape", default="1,28,28", help="C,H,W of one example (default 1,28,28: Fashion-MNIST)")
    ap.add_argument("--archs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds of LUT + end-to-end timing")
    ap.add_argument("--lut-repeats", type=int, default=10, help="timed calls per block per round")
    ap.add_argument("--repeats", type=int, default=10, help="timed end-to-end calls per architecture per round")
    ap.add_argument("--stat", choices=("median", "min"), default="median")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from workbench.spaces import get_space
    from workbench.spaces.base import Choices
    from workbench.spaces.cell.latency import spearman
    from workbench.spaces.chain.costs import measure_latency
    from workbench.spaces.chain.space import GROUP
    from workbench.tasks.task import TaskInfo

    torch.set_num_threads(1)
    stat = statistics.median if args.stat == "median" else min
    shape = tuple(int(v) for v in args.input_shape.split(","))
    space = get_space("chain")
    g, = space.choice_groups()
    allowed = g.allowed_matrix()
    rng = np.random.default_rng(args.seed)
    archs = []
    for _ in range(args.archs):
        picks = tuple(g.options[int(rng.choice(np.flatnonzero(allowed[i])))] for i in range(len(g.rows)))
        archs.append(Choices(space.name, {GROUP: picks}))
    info = TaskInfo(shape, 10, "bench")
    torch.manual_seed(args.seed)
    nets = [space.compile(a, info).eval() for a in archs]
    x = torch.randn(1, *shape)

    luts, times = [], [[] for _ in archs]
    t_lut = t_e2e = 0.0
    with torch.no_grad():
        for net in nets:  # warm-up
            for _ in range(3):
                net(x)
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            measured = measure_latency(space, shape, warmup=2, repeats=args.lut_repeats)
            luts.append(np.asarray(measured["table"]))
            t1 = time.perf_counter()
            for k in rng.permutation(len(nets)):
                net = nets[k]
                net(x)
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    net(x)
                    times[k].append(time.perf_counter() - t)
            t_lut, t_e2e = t_lut + t1 - t0, t_e2e + time.perf_counter() - t1
    lut = np.median(luts, axis=0) if args.stat == "median" else np.min(luts, axis=0)
    pred = np.array([sum(lut[i, g.options.index(b)] for i, b in enumerate(a.picks[GROUP])) for a in archs])
    meas = np.array([stat(ts) * 1e3 for ts in times])

    host = measured["host"]
    print(f"host: {host['processor']} ({host['machine']}, {host['cpus']} CPUs), {torch.get_num_threads()} torch "
          f"thread, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"space chain at input {shape}, batch 1, statistic: {args.stat}; {args.rounds} interleaved rounds of "
          f"LUT ({len(g.rows)} layers x {len(g.options)} blocks, {args.lut_repeats} calls each; {t_lut:.1f} s) and "
          f"end to end ({args.archs} architectures, {args.repeats} calls each; {t_e2e:.1f} s)")
    print(f"{'#':>3s}  {'predicted ms':>12s}  {'measured ms':>11s}  architecture")
    for k in np.argsort(pred):
        print(f"{k:3d}  {pred[k]:12.3f}  {meas[k]:11.3f}  {space.label(archs[k])}")
    rho = spearman(pred, meas)
    r = float(np.corrcoef(pred, meas)[0, 1])
    b, a = np.polyfit(pred, meas, 1)
    print(f"Spearman rank correlation {rho:.3f} (target >= 0.9: {'met' if rho >= 0.9 else 'NOT met'}); "
          f"Pearson r {r:.3f}; measured ~= {a:.3f} ms + {b:.3f} x predicted")
    return 0


if __name__ == "__main__":
    sys.exit(main())

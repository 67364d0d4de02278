"""DARTS-PT's full perturbation sweep: ours (``compare_selection``) against darts-pt's, side by side in one run.

Wang et al., "Rethinking Architecture Selection in Differentiable NAS" (ICLR 2021). The sweep probes every
edge of both cell types: each op's mixing weight zeroed in turn (no renormalisation) and the supernet
evaluated on the projection batches, train-mode BatchNorm, no gradients.

* **darts-pt** (the baseline): ``project_op``'s loop from `ruocwang/darts-pt:sota/cnn/projection.py` on the
  reference execution structure (:mod:`benchmarks.reference_darts`: every op of every edge its own module,
  DARTS-PT's MixedOp summing ``w * op(x)`` over the ops with ``w != 0``), loaded with our supernet's very
  parameters (:func:`~benchmarks.reference_darts.darts_pt_network`); every op of every edge, ``none``
  included, each probe the whole network on every batch.
* **ours, replay off**: :func:`workbench.analysis.projection.compare_selection` with ``replay=False``: the
  unmasked evaluation shared, every other probe the whole supernet (the state before replays).
* **ours**: ``compare_selection`` as shipped: probes replay from the masked edge, one edge's probes batched.

Then DARTS-PT's topology projection (``Projection.project_edge`` on every node of both cell types), replayed
against ``replay=False`` (the reference's structure has no counterpart here).

Both sides probe the same ops (``exclude_none=False`` on ours: masking ``none`` changes nothing, so ours reuses
the unmasked evaluation there, darts-pt evaluates it). Before timing, the probe accuracies and losses of the
two are compared (float32) and the largest difference printed. Config: the digits-sized DARTS search of
``bench_vs_reference.py`` (1x8x8 digits, batch 64, C=8, 3 cells), ``--batches`` projection batches of 64.
One torch thread; ``--rounds`` interleaved rounds (the order alternates); medians by the wall clock and by
this process's CPU time, ratio = darts-pt / ours.

Usage: python benchmarks/bench_pt_sweep.py [--quick] [--rounds N] [--batches N] [--no-before]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_vs_reference import BENCHES, _timed, machine  # noqa: E402
from benchmarks.reference_darts import darts_pt_network, project_op_sweep  # noqa: E402
from workbench import Searcher  # noqa: E402
from workbench.analysis.common import searcher_batches  # noqa: E402
from workbench.analysis.projection import (  # noqa: E402
    Projection,
    ProjectionConfig,
    SelectionComparison,
    clone_searcher,
    compare_selection,
    topology_nodes,
)
from workbench.spaces.cell.supernet import Supernet  # noqa: E402


def setup(batches: int, search_steps: int = 2) -> tuple[Searcher, dict[str, Callable[[], object]]]:
    """The digits search after a few steps, and the sweeps to time (name -> callable)."""
    cfg = BENCHES["digits"].config.replace(method="darts-v1", epochs=100, eval_each_epoch=False)
    s = Searcher(cfg)
    s.run(search_steps)
    assert isinstance(s.model, Supernet)
    ref, data = darts_pt_network(s.model), searcher_batches(s, "val", batches)
    pc = ProjectionConfig(proj_batches=batches, exclude_none=False)
    sides: dict[str, Callable[[], object]] = {
        "darts-pt": lambda: project_op_sweep(ref, data),
        "ours, replay off": lambda: compare_selection(s, ProjectionConfig(proj_batches=batches, exclude_none=False,
                                                                          replay=False)),
        "ours": lambda: compare_selection(s, pc),
    }
    return s, sides


def agreement(ours: SelectionComparison, ref: dict[tuple[str, int], list[tuple[float, float]]]) -> tuple[float, float]:
    """The largest |difference| of probe loss and of probe accuracy between the two sweeps."""
    d_loss = d_acc = 0.0
    for row in ours.rows:
        p = row.probe
        for o, (loss, acc) in enumerate(ref[(p.cell_type, p.edge)]):
            d_loss = max(d_loss, abs(loss - p.masked_loss[o]))
            d_acc = max(d_acc, abs(acc - p.masked_acc[o]))
    return d_loss, d_acc


def topology(s: Searcher, batches: int, rounds: int) -> dict[str, float]:
    """DARTS-PT's topology projection (every node of both cell types, its edges removed round by round down to
    two), replayed vs ``replay=False`` (each removal the whole supernet), CPU seconds; the kept edges agree."""
    def run(replay: bool) -> list[list[int]]:
        pt = Projection(clone_searcher(s), ProjectionConfig(proj_intv=0, proj_batches=batches, replay=replay))
        return [pt.project_edge(c, node)["kept"] for c in s.space.cell_types for node in topology_nodes(s.space)]
    assert run(True) == run(False)  # also the warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for replay in (True, False) if r % 2 == 0 else (False, True):
            times[replay].append(_timed(lambda: run(replay))[1])  # noqa: B023
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\ntopology projection, every node of both cell types (CPU s, median of {rounds}): replay off "
          f"{med[False]:.2f}, replayed {med[True]:.2f}: {med[False] / med[True]:.2f}x; the same edges kept")
    return {"topology_replay_off": med[False], "topology": med[True]}


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 round, 1 batch")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per side (default 3)")
    p.add_argument("--batches", type=int, default=1, help="projection batches of 64 (default 1)")
    p.add_argument("--no-before", action="store_true", help="skip the 'ours, replay off' column")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rounds, batches = (1, 1) if args.quick else (args.rounds, args.batches)
    t0 = time.perf_counter()
    print(f"machine: {machine()}")
    s, sides = setup(batches)
    if args.no_before:
        del sides["ours, replay off"]
    ops = len(s.space.ops)
    print(f"DARTS-PT full sweep, digits DARTS config (1x8x8, batch 64, C=8, {s.config.supernet.layers} cells): "
          f"2 cell types x {s.space.n_edges} edges x {ops} ops = {2 * s.space.n_edges * ops} probes "
          f"on {batches} batch(es) of 64")
    d_loss, d_acc = agreement(sides["ours"](), sides["darts-pt"]())  # also the warm-up
    print(f"ours vs darts-pt, every probe: max |loss diff| {d_loss:.1e}, max |accuracy diff| {d_acc:.1e}")
    for fn in list(sides.values())[1:]:
        fn()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(_timed(sides[name]))
    out = {}
    print(f"\nseconds per full sweep (median of {rounds}, interleaved)    wall      CPU   darts-pt / this (wall, CPU)")
    for name in names:
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        ref_wall = statistics.median(t[0] for t in times["darts-pt"])
        ref_cpu = statistics.median(t[1] for t in times["darts-pt"])
        out[name] = cpu
        print(f"  {name:<52}{wall:8.2f} {cpu:8.2f}   {ref_wall / wall:5.2f}x {ref_cpu / cpu:5.2f}x")
    topology(s, batches, rounds)
    print(f"\nload average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"whole benchmark {time.perf_counter() - t0:.0f} s")
    return out


if __name__ == "__main__":
    main()

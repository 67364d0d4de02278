"""Costs of the analyses (prints numbers; not a test).

1. Top eigenvalue of the alpha Hessian: dense (RobustDARTS's explicit matrix)
   vs HVP power iteration vs Lanczos, on the default config (NB201, 30 alphas)
   and on the DARTS space (224 alphas), one validation batch of 64. Side by side:
   Lanczos with a fixed budget of 20 steps (before the convergence test) and
   with the convergence test (the dominant eigenvalue at tol 1e-4; top 5 at the
   default tol 1e-6 within the same budget).
2. A 21x21 loss landscape on the default config, in alpha and weight space
   (target: < 20 s on the 2-core machine).
3. One full DARTS-PT projection on the NB201 space (reference schedule:
   proj_intv 5 = 25 tuning epochs, 6 op projections), after a short search;
   and the perturbation sweep (every edge probed on one supernet) three ways,
   interleaved: every probe evaluated, one unmasked evaluation reused
   (``replay=False``), and the default (probes replayed from the masked edge,
   one edge's probes batched).

Usage: .venv/bin/python benchmarks/bench_analysis.py [--threads 1] [--search-epochs 5] [--skip-projection]
                                                   [--skip-landscape] [--skip-sharpness]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from workbench import AnalysisResult, SearchConfig, Searcher, SupernetConfig  # noqa: E402
from workbench.analysis import alpha_landscape, compute_sharpness, weight_landscape  # noqa: E402
from workbench.analysis.common import (  # noqa: E402
    alpha_parameters,
    preserved,
    searcher_batches,
    set_bn_mode,
)
from workbench.analysis.hessian import HessianOperator, lanczos  # noqa: E402
from workbench.analysis.projection import Projection, ProjectionConfig, compare_selection  # noqa: E402
from workbench.analysis.sharpness import alpha_loss_fn  # noqa: E402


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def sharpness_costs(cfg: SearchConfig, label: str, steps: int) -> None:
    s = Searcher(cfg)
    s.run(steps)
    print(f"\n[1] alpha-Hessian top eigenvalue, {label}: {s.space.describe()}")
    print(f"    supernet {cfg.supernet}, {steps} search steps first, 1 validation batch of {cfg.batch_size}")
    dense, td = timed(compute_sharpness, s, "dense", k=1)
    power, tp = timed(compute_sharpness, s, "power", tol=1e-4)
    lanc, tl = timed(compute_sharpness, s, "lanczos", k=5)
    fixed, tf = timed(lanczos_run, s, k=5, m=20, tol=0.0)  # before: always 20 steps
    top1, t1 = timed(lanczos_run, s, k=1, tol=1e-4)
    print(f"    {'method':<28}{'seconds':>9}{'HVPs':>7}{'top eigenvalue':>16}{'rel. err vs dense':>19}")
    rows = [("dense (RobustDARTS)", dense.eigenvalue, dense.hvps, td), ("power, tol 1e-4", power.eigenvalue,
            power.hvps, tp), ("lanczos k=5, fixed 20 steps", *fixed, tf), ("lanczos k=5, tol 1e-6 (<=20)",
            lanc.eigenvalue, lanc.hvps, tl), ("lanczos k=1, tol 1e-4", *top1, t1)]
    for name, ev, hvps, t in rows:
        err = abs(ev - dense.eigenvalue) / abs(dense.eigenvalue)
        print(f"    {name:<28}{t:>9.2f}{hvps:>7}{ev:>16.6f}{err:>19.2e}")
    print(f"    dense / power {td / tp:.2f}x, dense / lanczos-fixed {td / tf:.2f}x, dense / lanczos k=1 tol 1e-4 "
          f"{td / t1:.2f}x, lanczos-fixed / lanczos k=1 tol 1e-4 {tf / t1:.2f}x   (n = {dense.n_alphas} alphas)")


def lanczos_run(s: Searcher, k: int, tol: float, m: int | None = None) -> tuple[float, int]:
    """(top eigenvalue, products) of Lanczos on the same alpha Hessian as compute_sharpness (1 val batch, train BN)."""
    model = s.model
    with preserved(model):
        set_bn_mode(model, "train")
        op = HessianOperator(alpha_loss_fn(s, searcher_batches(s, "val", 1)), alpha_parameters(model),
                             s.config.arch_weight_decay)
        res = lanczos(op, k=k, m=m, tol=tol, generator=torch.Generator().manual_seed(0))
    return float(res.eigenvalues[0]), op.matvecs


def landscape_costs(cfg: SearchConfig) -> None:
    s = Searcher(cfg)
    s.run(24)
    print(f"\n[2] 21x21 landscape on the default config ({s.space.name}, C={cfg.supernet.C}, "
          f"N={cfg.supernet.cells_per_stage}), 1 batch of {cfg.batch_size} per point")
    a, ta = timed(alpha_landscape, s, steps=21, span=1.0, batches=1)
    w, tw = timed(weight_landscape, s, steps=21, span=1.0, batches=1)
    for name, surf, t in (("alpha", a, ta), ("weight", w, tw)):
        print(f"    {name:<7} {t:6.2f} s  ({1000 * t / surf.loss.size:.1f} ms/point)  loss range "
              f"{surf.loss.min():.3f}..{surf.loss.max():.3f}, at origin {surf.loss[10, 10]:.3f}")
    print(f"    target < 20 s: alpha {'met' if ta < 20 else 'MISSED'}, weight {'met' if tw < 20 else 'MISSED'}")


class EveryProbeEvaluated(Projection):
    """The probe before the reuse: every masked op evaluated, the unmasked supernet once per edge."""

    def _masking_is_identity(self, weights, cell_type, edge, op) -> bool:  # noqa: ANN001
        return False


def sweep_side_by_side(s: Searcher, rounds: int = 3) -> None:
    """The perturbation sweep three ways, interleaved, by this process's CPU time (best of ``rounds``)."""
    pc = ProjectionConfig(proj_batches=4)
    edges = [(c, e) for c in s.space.cell_types for e in range(s.space.n_edges)]
    sides = {"every probe evaluated": lambda: [EveryProbeEvaluated(s, replace(pc, replay=False)).probe(c, e)
                                               for c, e in edges],
             "unmasked evaluation reused": lambda: [r.probe for r in compare_selection(s, replace(pc, replay=False)).rows],
             "replayed + batched (default)": lambda: [r.probe for r in compare_selection(s, pc).rows]}
    times: dict[str, list[float]] = {k: [] for k in sides}
    results = {}
    for r in range(rounds):
        for name in list(sides) if r % 2 == 0 else list(sides)[::-1]:
            t = time.process_time()
            results[name] = sides[name]()
            times[name].append(time.process_time() - t)
    every = min(times["every probe evaluated"])
    print(f"    perturbation sweep ({len(edges)} edges, 4 x {s.config.batch_size} examples), CPU s, best of {rounds}:")
    for name, ts in times.items():
        print(f"      {name:<30}{min(ts):7.2f} s  ({every / min(ts):.2f}x)")
    ref, reused, fast = results.values()
    worst = max(abs(a - b) for p, q in zip(ref, fast, strict=True) for a, b in zip(p.masked_loss, q.masked_loss))
    print(f"      reused == every probe: {reused == ref}; replayed: same choices "
          f"{[p.chosen for p in fast] == [p.chosen for p in ref]}, max |probe loss diff| {worst:.1e}")


def projection_cost(cfg: SearchConfig, search_epochs: int) -> None:
    s = Searcher(cfg.replace(epochs=search_epochs, arch_lr=1e-2))
    _, t_search = timed(s.run)
    print(f"\n[3] DARTS-PT on NB201 (search {search_epochs} epochs first: {t_search:.1f} s)")
    sweep_side_by_side(s)
    pc = ProjectionConfig(proj_intv=5, proj_batches=4)
    pt = Projection(s, pc)
    times = {"op": 0.0, "edge": 0.0, "tune": 0.0}
    seen: list[AnalysisResult] = []
    s.bus.subscribe(seen.append, kinds=(AnalysisResult,))
    while not pt.finished:
        kind = pt.schedule[pt.position][1]
        _, t = timed(pt.step)
        times[kind] += t
    total = sum(times.values())
    tunes = sum(1 for _, k in pt.schedule if k == "tune")
    print(f"    proj_intv 5: {tunes} tuning epochs x {s.steps_per_epoch} steps, proj_batches 4 x {cfg.batch_size}")
    print(f"    total {total:.1f} s = probes {times['op']:.1f} s + tuning {times['tune']:.1f} s "
          f"({1000 * times['tune'] / max(pt.tune_count, 1):.0f} ms per tuning step)")
    print(f"    genotype: {pt.genotype()}   events emitted: {len(seen)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--search-epochs", type=int, default=5)
    ap.add_argument("--skip-projection", action="store_true")
    ap.add_argument("--skip-landscape", action="store_true")
    ap.add_argument("--skip-sharpness", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    default = SearchConfig()
    if not args.skip_sharpness:
        sharpness_costs(default, "default config", 24)
        sharpness_costs(SearchConfig(space="darts", supernet=SupernetConfig(C=8, layers=3)), "DARTS space", 4)
    if not args.skip_landscape:
        landscape_costs(default)
    if not args.skip_projection:
        projection_cost(default, args.search_epochs)


if __name__ == "__main__":
    main()

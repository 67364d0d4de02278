"""Phenomenon: the dominant alpha-Hessian eigenvalue over a search, DARTS vs SDARTS-RS (prints tables).

RobustDARTS (Zela et al., ICLR 2020) report that the dominant eigenvalue of
the validation loss's Hessian w.r.t. alpha grows during DARTS searches that
degenerate, and SDARTS (Chen & Hsieh, ICML 2020) that random smoothing keeps
it low. This script measures it at the end of every epoch (dense Hessian,
RobustDARTS form incl. the arch weight decay term, one fixed validation batch,
train-mode BN) for each method on the same seed and data, and prints the
track, its trend and what RobustDARTS's early-stopping rule (window 5,
delta 4, factor 1.3, checked every epoch from ``--es-start``) would have done.

It reports what it measures: if the eigenvalue does not grow at this scale,
the numbers say so.

Usage:
  .venv/bin/python benchmarks/phenomena_sharpness.py --dataset digits --methods darts-v1,sdarts-rs
  .venv/bin/python benchmarks/phenomena_sharpness.py --dataset fashion_mnist --data-limit 2000
  .venv/bin/python benchmarks/phenomena_sharpness.py --dataset synthetic:stripes --cells-per-stage 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench import (  # noqa: E402
    AnalysisResult,
    EpochEnded,
    SearchConfig,
    Searcher,
    SupernetConfig,
    method_names,
)
from workbench.analysis import EarlyStopping, track_sharpness  # noqa: E402
from workbench.spaces.cell.genotype import count_param_free  # noqa: E402


def run(method: str, args: argparse.Namespace) -> dict:
    cfg = SearchConfig(space=args.space, method=method, dataset=args.dataset, data_limit=args.data_limit,
                       epochs=args.epochs, arch_lr=args.arch_lr, seed=args.seed,
                       supernet=SupernetConfig(C=args.C, cells_per_stage=args.cells_per_stage, layers=args.layers))
    s = Searcher(cfg)
    rows: list[dict] = []
    genos: dict[int, object] = {}
    evals: dict[int, dict] = {}
    s.bus.subscribe(lambda e: genos.__setitem__(e.epoch, e), kinds=(EpochEnded,))
    s.bus.subscribe(lambda e: evals.__setitem__(e.values["epoch"], e.values) if e.kind == "sharpness" else None,
                    kinds=(AnalysisResult,))
    tracker = track_sharpness(s, every=args.every, unit="epoch", method="dense", k=2, batches=1)
    skip = s.space.ops.index("skip_connect")
    t0 = time.perf_counter()
    while not s.finished:
        s.step()
    tracker.close()
    for e in sorted(evals):
        g = genos[e]
        w = s.space.cell_types[0]
        rows.append({"epoch": e, "ev": evals[e]["eigenvalue"], "ev2": evals[e]["top_k"][1],
                     "val_acc": g.val_metrics["accuracy"], "pf": count_param_free(g.genotype.cell(w)),
                     "genotype": g.genotype})
    weights = s.probabilities()[s.space.cell_types[0]]
    return {"method": method, "rows": rows, "seconds": time.perf_counter() - t0, "skip": float(weights[:, skip].mean()),
            "steps_per_epoch": s.steps_per_epoch}


def es_verdict(evs: list[float], epochs: int, start: int, every: int) -> str:
    es = EarlyStopping(window=5, delta=4, factor=1.3, ev_freq=every, start=start, epochs=epochs)
    for i, v in enumerate(evs):
        if es.observe(min(i * every, epochs - 1), v):
            return f"fires at epoch {es.trigger_epoch} (ratio {es.ratio:.2f}), keeps epoch {es.stop_epoch}"
    return "never fires" + (f" (last ratio {es.ratio:.2f})" if es.ratio is not None else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="darts-v1,sdarts-rs")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-limit", type=int, default=None)
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--cells-per-stage", type=int, default=1)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--arch-lr", type=float, default=1e-2, help="PILOT.md: 3e-4 barely moves alphas at this scale")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--es-start", type=int, default=6, help="RobustDARTS es_start_epoch (10 of 50), scaled")
    ap.add_argument("--every", type=int, default=1, help="measure every N epochs (and at the last)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"space {args.space}, C={args.C}, N={args.cells_per_stage}, dataset {args.dataset} "
          f"(limit {args.data_limit}), {args.epochs} epochs, arch lr {args.arch_lr}, seed {args.seed}")
    results = []
    for m in args.methods.split(","):
        if m not in method_names():
            print(f"method {m!r} is not available (known: {', '.join(method_names())}); skipped")
            continue
        results.append(run(m, args))
    if not results:
        return
    print(f"\n{'epoch':>5}" + "".join(f"{r['method'] + ' ev':>16}{'val':>7}{'pf':>4}" for r in results))
    for i, row0 in enumerate(results[0]["rows"]):
        line = f"{row0['epoch']:>5}"
        for r in results:
            row = r["rows"][i]
            line += f"{row['ev']:>16.4f}{row['val_acc']:>7.3f}{row['pf']:>4}"
        print(line)
    print("\nsummary (ev = top eigenvalue of d2L_val/dalpha2 + 1e-3 I; pf = parameter-free ops in the genotype)")
    for r in results:
        ev = np.array([row["ev"] for row in r["rows"]])
        epochs = np.array([row["epoch"] for row in r["rows"]])
        half = len(ev) // 2
        peak = int(np.argmax(ev))
        print(f"  {r['method']:<10} {r['seconds']:6.0f} s  ev epoch 0 {ev[0]:.4f}, peak {ev[peak]:.4f} at epoch "
              f"{epochs[peak]}, "
              f"last {ev[-1]:.4f}; mean 1st half {ev[:half].mean():.4f}, 2nd half {ev[half:].mean():.4f} "
              f"(ratio {ev[half:].mean() / ev[:half].mean():.2f}); trend after the first two: "
              f"{np.polyfit(epochs[2:], ev[2:], 1)[0] if len(ev) > 4 else float('nan'):+.5f}/epoch")
        print(f"  {'':<10} final genotype {r['rows'][-1]['genotype']}, pf {r['rows'][-1]['pf']}, "
              f"mean skip weight {r['skip']:.3f}; early stopping (window 5, delta 4, factor 1.3, "
              f"start {args.es_start}): {es_verdict(list(ev), args.epochs, args.es_start, args.every)}")
    if len(results) == 2:
        a, b = (np.array([row["ev"] for row in r["rows"]]) for r in results)
        half = len(a) // 2
        print(f"  {results[0]['method']} / {results[1]['method']} mean eigenvalue, 2nd half: "
              f"{a[half:].mean() / b[half:].mean():.2f}x")


if __name__ == "__main__":
    main()

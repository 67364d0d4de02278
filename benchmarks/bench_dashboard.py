"""What attaching the full dashboard costs a running search (headless; the budget is <= 15%).

Runs the same search steps (fresh searcher, same seed, steps 1..N) three ways,
interleaved over several rounds, and prints steps/s (median over rounds):

* ``bare``      ``Searcher.run(N)`` with nothing subscribed but nothing else;
* ``dashboard`` ``dashboard(SearchSession(searcher))`` built, then
  ``session.run(N); session.wait()``: the worker thread steps, every view
  subscribes, throttles (0.25 s) and updates its FigureWidget in
  ``batch_update()`` (no browser: ipywidgets serialises the state and a dummy
  comm drops it, which is all the kernel side does);
* ``dashboard, inline`` the same with ``threaded=False`` (no thread at all).

Default config: NB201 space, digits, C=8, one cell per stage, batch 64,
arch lr 1e-2 (the dashboard's default small config). Also prints how many
redraws each view made, so the throttle is visible, and a direct account:
the time spent inside the dashboard's own callbacks (redraws, progress line,
scrubber) as a share of the run, which is immune to other load on the machine.

Usage: python benchmarks/bench_dashboard.py [--steps 120] [--rounds 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import SearchConfig, Searcher, SupernetConfig  # noqa: E402

CONFIG = SearchConfig(space="nb201", dataset="digits", supernet=SupernetConfig(C=8, cells_per_stage=1),
                      batch_size=64, arch_lr=1e-2, epochs=50)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _rates(n: int, t0: tuple[float, float]) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second of this process, all threads)."""
    t1 = _clock()
    return n / (t1[0] - t0[0]), n / (t1[1] - t0[1])


def bare(cfg: SearchConfig, n: int, dataset) -> tuple[float, float]:
    s = Searcher(cfg, dataset=dataset)
    t = _clock()
    s.run(n)
    return _rates(n, t)


_SPENT = [0.0]


def _account() -> None:
    """Time every dashboard callback (monkeypatched once; the benchmark is a script, not a library)."""
    import importlib

    # (importlib: the package re-exports the function ``dashboard``, which shadows the submodule's name)
    C, D, V = (importlib.import_module(f"widgets.{m}") for m in ("controls", "dashboard", "views"))

    def timed(cls, name):
        f = getattr(cls, name)

        def g(self, *a, **k):
            t = time.perf_counter()
            try:
                return f(self, *a, **k)
            finally:
                _SPENT[0] += time.perf_counter() - t

        setattr(cls, name, g)

    for cls, names in ((V.LiveView, ("refresh",)), (D.ScrubberView, ("_on_step", "_on_session")),
                       (C.ControlPanel, ("_on_step", "_on_session")), (C.OpSwapper, ("sync",))):
        for name in names:
            timed(cls, name)


def with_dashboard(cfg: SearchConfig, n: int, dataset, threaded: bool,
                   all_visible: bool = False) -> tuple[tuple[float, float], dict[str, int]]:
    from widgets.controls import SearchSession
    from widgets.dashboard import dashboard

    session = SearchSession(Searcher(cfg, dataset=dataset), threaded=threaded)
    d = dashboard(session, static=False)
    if all_visible:  # worst case: every tab's figures redraw as if all were on screen
        for v in d.views.values():
            if hasattr(v, "set_visible"):
                v.set_visible(True)
    _SPENT[0] = 0.0
    t = _clock()
    session.run(n)
    session.wait()
    rate = _rates(n, t)
    share = _SPENT[0] / (n / rate[0])
    redraws = {k: getattr(v, "redraws", 0) for k, v in d.views.items() if hasattr(v, "redraws")}
    redraws["share of the run in dashboard callbacks (%)"] = round(100 * share, 1)
    d.close()
    session.close()
    return rate, redraws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120, help="steps per measurement (12 steps = 1 epoch)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--all-visible", action="store_true",
                    help="redraw the figures of every tab, not only the open one (worst case)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    cfg = CONFIG
    _account()
    dataset = Searcher(cfg).dataset  # load once; every run gets the same data
    bare(cfg, 12, dataset)  # warm-up (allocator, kernels)
    with_dashboard(cfg, 12, dataset, threaded=True)
    rates: dict[str, list[tuple[float, float]]] = {"bare": [], "dashboard": [], "dashboard, inline": []}
    redraws: dict[str, float] = {}
    shares: list[float] = []
    for r in range(args.rounds):
        rates["bare"].append(bare(cfg, args.steps, dataset))
        rate, redraws = with_dashboard(cfg, args.steps, dataset, threaded=True, all_visible=args.all_visible)
        shares.append(redraws.pop("share of the run in dashboard callbacks (%)"))
        rates["dashboard"].append(rate)
        rates["dashboard, inline"].append(with_dashboard(cfg, args.steps, dataset, threaded=False,
                                                         all_visible=args.all_visible)[0])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} ({v[-1][1]:.2f} per CPU s)"
                                             for k, v in rates.items()) + " steps/s", flush=True)
    print(f"\nconfig: nb201, digits, C=8, N=1, batch 64, arch lr 1e-2; {args.steps} steps x {args.rounds} rounds, "
          f"torch threads {args.threads}; {'all tabs redrawn' if args.all_visible else 'default (open tab only)'}; "
          "median over rounds")
    print("  wall: what a user sees (noisy when other processes share the cores); "
          "CPU: this process's CPU time, all threads (robust to other load)")
    for j, what in enumerate(("wall", "CPU")):
        med = {k: statistics.median(x[j] for x in v) for k, v in rates.items()}
        for k, v in med.items():
            print(f"  {what:<4} {k:<18} {v:6.2f} steps/s  ({1000 / v:.1f} ms/step)")
        for k in ("dashboard", "dashboard, inline"):
            slow = med["bare"] / med[k] - 1
            print(f"  {what:<4} {k}: {slow:+.1%} time per step vs bare "
                  f"({'within' if slow <= 0.15 else 'OVER'} the 15% budget)")
    print(f"  time inside the dashboard's callbacks, share of the threaded run: median "
          f"{statistics.median(shares):.1f}% (rounds: {shares})")
    print(f"  redraws in the last {args.steps}-step run: {redraws}")


if __name__ == "__main__":
    main()

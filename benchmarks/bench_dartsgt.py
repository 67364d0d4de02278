"""DARTS-GT at CPU scale (SEEDS_2 §7.6): ms per search step, per retraining step and per explanation, and the
whole default search's wall time, on both graph datasets (one torch thread).

* search step: the ``darts-gt`` preset's default size (d 32, 4 heads, 2 layers, 3 experts; batch 16 graphs):
  one arch step on a validation batch plus one weight step, median of ``--steps`` steps after 3 warm-up steps;
  the whole default search (``paper_config``: 20 epochs, evaluation at each epoch end) is timed once with
  ``--full`` -- the issue's limit is 90 s on this CPU;
* the same supernet step with ``removed_ops`` leaving one expert (the cost of mixing three experts);
* retraining step: the discrete network (one expert per layer) with AdamW, batch 32;
* explanation: :func:`workbench.analysis.graph_explain.explain` over 80 test graphs (9 forwards + node importance).

Usage: python benchmarks/bench_dartsgt.py [--steps 20] [--full]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import median_ms  # noqa: E402
from workbench import SearchConfig, Searcher
from workbench.analysis.graph_explain import explain
from workbench.methods import paper_config
from workbench.spaces.graph import graph_choices
from workbench.tasks import Task, load_dataset

DATASETS = ("graphs_sbm", "graphs_motifs")


def config(dataset: str, **kw: object) -> SearchConfig:
    return paper_config(SearchConfig(space="graph_transformer", method="darts-gt", dataset=dataset, seed=0, **kw))


def retrain_step_ms(dataset: str, steps: int) -> float:
    ds = load_dataset(dataset)
    task = Task.of(ds)
    space = Searcher(config(dataset)).space
    torch.manual_seed(0)
    net = space.compile(graph_choices(space, ["gin", "gat"]), task.info)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, foreach=True)
    x, y = ds.x_train[:32], ds.y_train[:32]

    def step() -> None:
        loss = task.objective.loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_ms(step, steps, warmup=3)


def explain_ms(dataset: str) -> float:
    ds = load_dataset(dataset)
    space = Searcher(config(dataset)).space
    torch.manual_seed(0)
    net = space.compile(graph_choices(space, ["gin", "gat"]), Task.of(ds).info).eval()
    truth = getattr(ds, "truth_test", None)
    t = time.perf_counter()
    explain(net, ds.x_test[:80], ds.y_test[:80], None if truth is None else truth[:80])
    return 1000 * (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--full", action="store_true", help="also time the whole default search once per dataset")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'dataset':14s} {'search ms/step':>15s} {'1-expert ms/step':>17s} {'ratio':>6s} {'retrain ms/step':>16s} "
          f"{'explain 80 ms':>14s}")
    for dataset in DATASETS:
        s3 = Searcher(config(dataset, eval_each_epoch=False))
        s1 = Searcher(config(dataset, eval_each_epoch=False, removed_ops=("gcn", "gat")))
        m3, m1 = median_ms(s3.step, args.steps, warmup=3), median_ms(s1.step, args.steps, warmup=3)
        print(f"{dataset:14s} {m3:15.1f} {m1:17.1f} {m3 / m1:6.2f} {retrain_step_ms(dataset, args.steps):16.1f} "
              f"{explain_ms(dataset):14.0f}", flush=True)
    if args.full:
        for dataset in DATASETS:
            s = Searcher(config(dataset))
            t = time.perf_counter()
            s.run()
            print(f"{dataset}: whole default search ({s.total_steps} steps, {s.config.epochs} epochs) "
                  f"{time.perf_counter() - t:.1f} s -> {s.genotype()}")


if __name__ == "__main__":
    main()

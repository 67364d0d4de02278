"""GTN at CPU scale (SEEDS_2 §9.4): milliseconds per meta-iteration, and optionally the claim over several seeds.

Per meta-iteration (one ``Searcher.step()`` of the ``gtn`` method on the ``gtn`` space, digits_std, meta batch
128; median of ``--steps`` steps after 2 warm-up steps, one thread), with its parts timed alone:

* the meta-gradient: a fresh learner unrolled T steps with the graph kept, then the backward into the teacher;
* teaching the supernet's learner (T steps without a graph);
* everything else in the step (weight-step forward, bookkeeping, events).

Variants: the learner width fixed at 64; intermediate losses at every step (the paper's MNIST setting); a
curriculum of 20 steps. ``--claim-seeds 0,1,2`` also runs the default search (25 epochs = 150 meta-iterations)
per seed and prints GTN-taught vs real-data test accuracy (20 fresh width-64 learners, 10 steps, batch 20,
best real lr of {0.03, 0.1, 0.3, 1.0}).

Usage: python benchmarks/bench_gtn.py [--steps 20] [--claim-seeds 0,1,2]
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
from workbench.gtn.evaluate import compare_with_real
from workbench.gtn.learner import LearnerArch, learner_forward
from workbench.spaces.gtn_teacher import TeacherSpace
from workbench.tasks.data import search_split


def searcher(seed: int = 0, space: object = "gtn", epochs: int = 25, **options: object) -> Searcher:
    cfg = SearchConfig(space="gtn", method="gtn", dataset="digits_std", epochs=epochs, batch_size=128, seed=seed,
                       method_options=options)
    return Searcher(cfg, space=space if not isinstance(space, str) else None)


def parts(s: Searcher, steps: int) -> dict[str, float]:
    teacher = s.model
    xv, yv = s.val_stream.next()
    g = torch.Generator().manual_seed(0)
    arch = LearnerArch((64,))

    def meta() -> None:
        traj = teacher.teach(teacher.fresh_learner(arch, g), arch)
        loss = torch.nn.functional.cross_entropy(learner_forward(arch, traj[-1], xv), yv)
        torch.autograd.grad(loss, teacher.arch_parameters(), allow_unused=True)

    return {"meta-gradient (width 64)": median_ms(meta, steps),
            "teach the taught learner": median_ms(lambda: teacher.teach_learner_(g), steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--claim-seeds", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"ms per meta-iteration (median of {args.steps}; one thread; digits_std, meta batch 128, T = 10, B = 20)")
    rows = [("gtn (widths 32/64/128)", searcher()), ("gtn, width 64 only", searcher(widths=[64])),
            ("gtn, intermediate losses every step", searcher(intermediate_every=1)),
            ("gtn, T = 20 inner steps", searcher(space=TeacherSpace(steps=20)))]
    base = None
    for name, s in rows:
        ms = median_ms(s.step, args.steps)
        base = base or ms
        print(f"  {name:38s} {ms:7.1f} ms/step  ({ms / base:.2f}x)")
        if name.startswith("gtn (widths"):
            for part, pms in parts(s, args.steps).items():
                print(f"    {part:36s} {pms:7.1f} ms")
    seeds = [int(x) for x in args.claim_seeds.split(",") if x.strip()]
    for seed in seeds:
        s = searcher(seed)
        t = time.perf_counter()
        s.run()
        secs = time.perf_counter() - t
        (xw, yw), (xa, ya) = search_split(s.dataset, s.config.train_portion)
        c = compare_with_real(s.model, (xa, ya), (xw, yw), (s.dataset.x_test, s.dataset.y_test), seed=seed)
        print(f"seed {seed}: search {secs:.1f} s ({1000 * secs / s.total_steps:.0f} ms/meta-iteration); test accuracy "
              f"GTN {c.gtn_test:.3f} vs real {c.real_test[c.best_lr]:.3f} (lr {c.best_lr}); margin {c.margin:+.3f}")


if __name__ == "__main__":
    main()

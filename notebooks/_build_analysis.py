"""Generate the analysis notebooks 05-07 from the cell sources below (stored without outputs).

Run ``python notebooks/_build_analysis.py`` after editing (``--check`` only
compares). Like ``_build.py`` for 01-04: each notebook opens with what the
reader will learn, ends with what they should have seen, and asserts the
phenomena it shows on a run small enough for CI (the three notebooks execute
in about two minutes on two CPU cores); where the full phenomenon needs more
compute, the numbers measured by ``benchmarks/phenomena_*.py`` are shown as
tables and only what the small run reliably shows is asserted.
"""
from __future__ import annotations

import sys
from pathlib import Path

from _nbtools import code, main, md

SETUP = """\
import numpy as np
import torch
from IPython.display import HTML, display

from widgets.lesson import check, check_close

torch.set_num_threads(1)  # tiny convs gain nothing from threads, and one thread keeps runs bit-reproducible"""



# ============================================================================== 05
NB05 = [
    md("""
# 05 · Sharp minima: the dominant eigenvalue of the α-Hessian during DARTS

**What you will learn**

* RobustDARTS's diagnosis (Zela et al., *Understanding and Robustifying Differentiable Architecture Search*,
  ICLR 2020): while DARTS searches, the validation loss becomes **sharp in α**: the dominant eigenvalue
  λmax of $\\nabla^2_\\alpha L_{val}$ grows. At a sharp point, the jump from the continuous α to a one-hot
  architecture costs a lot of loss, which is one explanation of why the derived cell can be poor;
* how the workbench measures it: the exact Hessian of the 30 α of a NAS-Bench-201 cell (30 Hessian-vector
  products), tracked every other epoch by `track_sharpness` and drawn live by `SharpnessView`, with
  RobustDARTS's **early-stopping rule** marked where it fires;
* SDARTS's remedy (Chen & Hsieh, *Stabilizing DARTS with Amended Gradient Estimation on Architectural
  Parameters*, ICML 2020): train the weights under **random perturbations of α** (`sdarts-rs`), which keeps the
  landscape flat;
* how far this holds at a CPU scale, honestly: the growth shows on a Fashion-MNIST subset; on scikit-learn's
  8×8 digits it does **not** (a pilot and our own benchmark agree).

**The setting.** NAS-Bench-201 cell (6 edges × 5 ops), 8 channels, one cell per stage; 1,000 Fashion-MNIST
images (500 for the weights, 500 for α) **downsampled from 28 to 16 pixels** so that the notebook runs in under
a minute (the benchmark below used the full 28 pixels); DARTS first order, arch lr 1e-2; 10 epochs × 8 steps.
"""),
    code(SETUP + """
import dataclasses
import time

import torch.nn.functional as nnF

from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.analysis import EarlyStopping, compute_sharpness, track_sharpness
from workbench.tasks.data import load_dataset
from widgets import SearchSession, SharpnessView, sharpness_comparison_figure

try:
    data = load_dataset("fashion_mnist", seed=0, limit=1000)
    DATASET = "fashion_mnist"
except Exception as exc:  # DatasetNotFoundError: the Debian package dataset-fashion-mnist is not installed
    print(f"NOTE: Fashion-MNIST is not available here ({exc}).\\nFalling back to synthetic:stripes: the curves "
          "are drawn, but the numbers quoted below were measured on Fashion-MNIST and its checks are skipped.")
    data = load_dataset("synthetic:stripes", seed=0, limit=1000)
    DATASET = "synthetic:stripes"
if data.input_shape[1] > 16:  # 28x28 -> 16x16: ~3x cheaper per step; the phenomenon survives (see the table below)
    data = dataclasses.replace(data, x_train=nnF.adaptive_avg_pool2d(data.x_train, 16),
                               x_test=nnF.adaptive_avg_pool2d(data.x_test, 16))
CONFIG = SearchConfig(space="nb201", dataset=DATASET, data_limit=1000, epochs=10, arch_lr=1e-2, seed=0,
                      supernet=SupernetConfig(C=8, cells_per_stage=1))
print(f"{DATASET}: {data.n_train} training images of {data.input_shape}, {data.n_classes} classes")"""),
    md("""
## What is measured

$H = \\nabla^2_\\alpha L_{val}(w, \\alpha) + \\lambda_{wd} I$ on one fixed validation batch of 64 images, with
BatchNorm in training mode as in the search step (RobustDARTS's `compute_Hw`; λ_wd = 1e-3 is the α weight
decay). With 30 α the whole matrix is cheap: `method="dense"` builds it from 30 Hessian-vector products (double
backward) and takes its eigenvalues exactly. Large spaces need a matrix-free method instead; Lanczos iteration
agrees with the exact spectrum. Before any training:
"""),
    code("""
searcher = Searcher(CONFIG, dataset=data)
dense = compute_sharpness(searcher, method="dense", k=3)
lanczos = compute_sharpness(searcher, method="lanczos", k=3)
print(f"{dense.n_alphas} alphas; top-3 eigenvalues, dense: {np.round(dense.top_k, 4)} ({dense.hvps} HVPs, "
      f"{dense.seconds:.2f} s); Lanczos: {np.round(lanczos.top_k, 4)} ({lanczos.hvps} HVPs)")
check(dense.n_alphas == 30 and list(dense.top_k) == sorted(dense.top_k, reverse=True))
check(abs(lanczos.eigenvalue - dense.eigenvalue) < 1e-3 * dense.eigenvalue)"""),
    md("""
## Watching λmax during DARTS

`track_sharpness` measures the spectrum at the end of every other epoch (and the last) on the search's own
thread and emits an `AnalysisResult(kind="sharpness")`; `SharpnessView` draws the dominant eigenvalue (red), the
next two (dotted) and RobustDARTS's *local average*. Its **early-stopping rule** (`EarlyStopping`, RobustDARTS's
`EVLocalAvg`) stops the search when the local average has grown by more than `factor` over `delta`
measurements, and keeps the architecture of an earlier epoch. RobustDARTS uses window 5, delta 4, factor 1.3
over 50 epochs; scaled to this 10-epoch search: window 3, delta 2, from epoch 2. Here the rule only *marks*
where it would have stopped (`run_with_early_stopping` would also roll back), so you see what happens after.

In JupyterLab the plot grows while the search runs in the background; press *Compute now* at any time to
measure the current point (it runs between two search steps, never during one).
"""),
    code("""
session = SearchSession(Searcher(CONFIG, dataset=data))
es = EarlyStopping(window=3, delta=2, factor=1.3, ev_freq=2, start=2, epochs=CONFIG.epochs)
tracker = track_sharpness(session.searcher, every=2, unit="epoch", k=3, early_stopping=es)
view = SharpnessView(session, k=3)
view"""),
    code("""
t0 = time.perf_counter()
session.run()
session.wait()
ev = np.array([r.values["eigenvalue"] for r in tracker.results])
epochs = [r.values["epoch"] for r in tracker.results]
print(f"DARTS: {session.searcher.total_steps} steps + {len(ev)} Hessians in {time.perf_counter() - t0:.0f} s")
for e, v in zip(epochs, ev):
    print(f"  epoch {e}: λmax = {v:.4f}")
check_close(np.asarray(view.figure.data[0].y, float), ev, meaning='the view draws what was emitted')
if es.triggered:
    print(f"early stopping fired at epoch {es.trigger_epoch} (local average grew {es.ratio:.2f}x > {es.factor}); "
          f"it would keep epoch {es.stop_epoch}: {es.genotypes[es.stop_epoch].to_nb201_str()}")
print(f"final genotype: {session.searcher.genotype().to_nb201_str()}")
if DATASET == "fashion_mnist":
    check(ev[-1] > 1.5 * ev[0], meaning='the landscape got sharper in alpha: 2.5-3.8x over seeds 0-3')
    check(es.triggered and es.stop_epoch < es.trigger_epoch, meaning="RobustDARTS's rule noticed")"""),
    md("""
## SDARTS-RS: the same search, smoothed

SDARTS-RS changes one thing: the **weight** step sees α perturbed by uniform noise in [-0.03, 0.03]
(relative to the softmax), so the weights are trained to work in a neighbourhood of α, not at one point. The
architecture step is unchanged. Same data, same seed:
"""),
    code("""
smooth = Searcher(CONFIG.replace(method="sdarts-rs"), dataset=data)
smooth_tracker = track_sharpness(smooth, every=2, unit="epoch", k=3)
t0 = time.perf_counter()
smooth.run()
ev_rs = np.array([r.values["eigenvalue"] for r in smooth_tracker.results])
print(f"SDARTS-RS: {time.perf_counter() - t0:.0f} s")
print("epoch    DARTS   SDARTS-RS")
for e, a, b in zip(epochs, ev, ev_rs):
    print(f"{e:>5} {a:>8.4f} {b:>11.4f}")
print(f"at the end DARTS is {ev[-1] / ev_rs[-1]:.1f}x sharper")
if DATASET == "fashion_mnist":
    check(ev[-1] > 2 * ev_rs[-1], meaning='2.6-7.9x over seeds 0-3')
    check(ev[-2:].mean() > ev_rs[-2:].mean())
sharpness_comparison_figure({"DARTS (first order)": tracker.results, "SDARTS-RS": smooth_tracker.results},
                            title="Dominant eigenvalue of the α-Hessian: DARTS vs SDARTS-RS")"""),
    md("""
## How robust is this? The numbers at larger budgets

Measured by `benchmarks/phenomena_sharpness.py` (dense Hessian every epoch or every second epoch, one fixed
validation batch, C = 8, arch lr 1e-2, seed 2; "ratio" = mean λmax of the second half of the run over the first
half; ES = RobustDARTS's rule, window 5, delta 4, factor 1.3):

| data | epochs | DARTS λmax: first → last (ratio) | SDARTS-RS: first → last | DARTS / SDARTS, 2nd half | ES on DARTS |
|---|---:|---|---|---:|---|
| Fashion-MNIST, 1,000 images, 28 px | 30 | 0.121 → **1.288** (2.64) | 0.121 → 0.148 | 6.8× | fires at epoch 16, keeps 4 |
| synthetic:stripes | 30 | 0.103 → 0.466 (1.17) | 0.076 → 0.159 | 3.3× | fires at 12, keeps 6 |
| digits, 8×8, full | 40 | 0.321 → 0.199 (**0.57**: falls) | 0.285 → 0.096 | 2.3× | never fires |
| digits, 5 cells per stage | 30 | 1.950 → 1.097 (1.14) | 0.740 → 0.128 | 7.4× | never fires |

(Measured before a floating-point-level change to average pooling, commit 9243a7f: single runs may differ a
little now; rerun the script for current numbers.) And this notebook's own setting (16 px, 10 epochs), seeds 0,
1, 2, 3, with the current code: DARTS's λmax grew 3.8, 2.8, 2.5 and
2.9-fold from the first to the last measurement, SDARTS-RS's changed 1.5, 0.5, 0.6 and 0.4-fold, and at the
end DARTS was 2.6, 5.5, 3.4 and 7.9× sharper than SDARTS-RS; RobustDARTS's rule (as configured above) fired in
every one of them.

So: **the growth is real on Fashion-MNIST, but it is not universal at this scale.** On digits the eigenvalue
spikes in the first epochs and then *falls* (the pilot, PILOT.md, saw the same: "never grew over a search"),
and RobustDARTS's rule never fires, even though the derived cells fill with parameter-free ops (notebook 03).
Deeper supernets are several times sharper from the start. What holds everywhere we looked is the second
finding: **random smoothing keeps λmax 2-7× lower.** It does not by itself prevent collapse (the pilot saw an
SDARTS-RS run at 5 cells per stage end all-skip).

To see the digits case yourself, set `RUN_DIGITS = True` (about 15 s):
"""),
    code("""
RUN_DIGITS = False
if RUN_DIGITS:
    d = Searcher(SearchConfig(space="nb201", dataset="digits", epochs=10, arch_lr=1e-2, seed=2,
                              supernet=SupernetConfig(C=8, cells_per_stage=1)))
    d_tracker = track_sharpness(d, every=1, unit="epoch")
    d.run()
    print("digits, DARTS:", np.round([r.values["eigenvalue"] for r in d_tracker.results], 3))"""),
    md("""
## What you should have seen

* The dense α-Hessian of 30 α costs 30 Hessian-vector products, and matrix-free Lanczos agreed with it.
* During DARTS on (downsampled) Fashion-MNIST, λmax grew several-fold within 10 epochs, and RobustDARTS's
  early-stopping rule fired, pointing back to an architecture from before the growth.
* SDARTS-RS, trained with random perturbations of α, stayed flat: at the end DARTS was more than twice as sharp.
* At larger budgets (the table) the same holds on Fashion-MNIST, but **on digits λmax does not grow**: a
  diagnostic that is clear in the paper's CIFAR-10 setting is a tendency here, not a law.

Next: [06 · Loss landscapes](06_landscapes.ipynb) looks at the landscape around the point these eigenvalues
describe.
"""),
]

# ============================================================================== 06
NB06 = [
    md("""
# 06 · Loss landscapes in α and in weight space

**What you will learn**

* how to look at a loss function of thousands of parameters: evaluate it on a **line** or a **plane** through
  the current point, $L(\\theta + a\\,d_1 + b\\,d_2)$ (Li et al., *Visualizing the Loss Landscape of Neural
  Nets*, NeurIPS 2018), and why the directions matter: random, the Hessian's top eigenvectors, or the plane that
  contains the optimiser's own path (PCA of the trajectory);
* the two landscapes of a supernet: in **α space** (the 30 architecture logits, weights fixed) and in **weight
  space** (filter-normalised directions, α fixed);
* how the **curvature** of a 1-D slice along the top eigenvector relates to the eigenvalue of notebook 05, and
  why no other direction can be sharper;
* how to use `LandscapeView`: choose space, directions, resolution and span, compute in the background with a
  progress bar, see the trajectory projected onto the plane.

The supernet: NAS-Bench-201 cell, 8 channels, digits, DARTS first order, arch lr 1e-2, 10 epochs (120 steps, a
few seconds). Every landscape is computed on one fixed batch of 64 images and leaves the supernet exactly as it
was.
"""),
    code(SETUP + """
import plotly.graph_objects as go

from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.analysis import alpha_landscape, alpha_trajectory, compute_sharpness, pca_directions
from widgets import LandscapeView, SearchSession, landscape_figure

CONFIG = SearchConfig(space="nb201", dataset="digits", epochs=10, arch_lr=1e-2, seed=2,
                      supernet=SupernetConfig(C=8, cells_per_stage=1))
session = SearchSession(Searcher(CONFIG))
session.run()
session.wait()
searcher, history = session.searcher, session.history
print(f"{len(history)} steps recorded; genotype {searcher.genotype().to_nb201_str()}")"""),
    md("""
## α space: a random plane

Two random directions in α space, Gaussian, centred per edge (adding a constant to an edge's α changes nothing
after the softmax) and of unit norm; the plane is orthogonalised. The surface on the left, its contour map on the
right; the star is the current α, the orange path the 120 α the search visited, **projected** onto this plane
(by least squares: hover a point to see how far off the plane it lies).

Try the controls: switch to 1-D, to the Hessian eigenvectors, to weights, change the resolution.
"""),
    code("""
view = LandscapeView(session, steps=21, span=1.0, seed=0)
random_plane = view.compute().result()  # what the button does; .result() waits for it
print(view.status.value.replace("<span style='color:#555;font-size:12px'>", "").replace("</span>", ""))
check_close(np.asarray(view.figure.data[0].z, float), random_plane.loss, rtol=0.0, meaning='surface = engine')
centre = random_plane.loss[10, 10]
plain = compute_sharpness(searcher).loss  # the plain validation loss on the same batch, same BatchNorm mode
check(abs(centre - plain) < 1e-5 * plain, meaning='the middle of the plane is the current point')
check(view.progress.value == 1)
view"""),
    md("""
A random plane in 30 dimensions catches little of the path: most of the search's movement is orthogonal to it.
The plane spanned by the path's two **principal directions** (relative to the current point) contains as much
of it as any plane can:
"""),
    code("""
traj = alpha_trajectory(history, searcher.space.cell_types)
coords_r = random_plane.project(traj)
dist = np.linalg.norm(traj - traj[-1], axis=1)
pca_plane = view.compute(directions="pca", span="fit").result()
coords_p = pca_plane.project(traj)
kept_r = np.linalg.norm(coords_r, axis=1).sum() / dist.sum()
kept_p = np.linalg.norm(coords_p, axis=1).sum() / dist.sum()
print(f"share of the path's length visible in the plane: random {kept_r:.0%}, PCA {kept_p:.0%}")
check(kept_p > 0.8 and kept_p > 2 * kept_r)
view.figure"""),
    md("""
## The sharpest direction

Along a unit direction $d$ the curvature of the slice at the centre is $d^\\top \\nabla^2 L\\, d$: along the
top eigenvector of the Hessian that is λmax of notebook 05 (less its weight-decay term), along any other unit
direction it is smaller (a Rayleigh quotient never exceeds λmax). Two 1-D slices of the same length, one along
the top eigenvector, one random, with a parabola fitted to each:
"""),
    code("""
top = compute_sharpness(searcher, k=2)
eig = alpha_landscape(searcher, directions="eigen", dims=1, steps=21, span=1.0)
rnd = alpha_landscape(searcher, directions="random", dims=1, steps=21, span=1.0, seed=1)
fit_eig, fit_rnd = (2 * np.polyfit(s.xs, s.loss, 2)[0] for s in (eig, rnd))  # second derivative of the parabola
print(f"λmax of the α-Hessian at the centre: {top.eigenvalue:.4f}")
print(f"curvature of the fitted parabola: top eigenvector {fit_eig:.4f}, random direction {fit_rnd:.4f}")
check(fit_eig > 3 * fit_rnd, meaning='4-30x over seeds 0-4')
check(0.4 * top.eigenvalue < fit_eig < 1.5 * top.eigenvalue)
fig = go.Figure([go.Scatter(x=eig.xs, y=eig.loss, name=f"top eigenvector (λ = {top.eigenvalue:.3f})",
                            line=dict(color="#c0392b", width=2.5)),
                 go.Scatter(x=rnd.xs, y=rnd.loss, name="random direction", line=dict(color="#1f5aa6", width=2.5))])
fig.update_layout(template="plotly_white", height=340, title="1-D slices through the current α",
                  xaxis_title="a (α + a·d, |d| = 1)", yaxis_title="validation loss")
fig"""),
    md("""
The parabola's curvature is of the order of λmax but not equal to it: over a span of 1 the loss is not a
quadratic (ReLUs and batch-statistics BatchNorm make it only piecewise smooth, and float32 rounding hides
second differences over tiny steps). The unit tests check the exact statement in float64 with small steps.
"""),
    md("""
## Weight space

The same picture for the supernet's weights, with α fixed. Weight directions are **filter-normalised** (every
filter of the direction is scaled to the norm of the corresponding filter of the weights, BatchNorm and biases
left out), which makes a step of 1 a change as large as the weights themselves; without it, planes of nets with
different weight scales cannot be compared (Li et al.). The History records α but not the weights, so no path
is drawn here.
"""),
    code("""
weight_plane = view.compute(space="weights", directions="random", dims=2, steps=21, span=1.0).result()
w = weight_plane.loss
border = np.concatenate([w[0], w[-1], w[:, 0], w[:, -1]])
print(f"weight space: centre {w[10, 10]:.3f}, border mean {border.mean():.3f}, max {w.max():.2f}; "
      f"α space: centre {random_plane.loss[10, 10]:.3f}, max {random_plane.loss.max():.3f}")
check(w[10, 10] < border.min(), meaning='a basin: every point of the border is higher than the trained weights')
view"""),
    md("""
## What you should have seen

* The middle of every slice is the current point: its loss is the plain validation loss.
* A random plane through α shows a smooth bowl, but catches only a small part of the search's path; the PCA
  plane of the path contains most of it.
* The slice along the Hessian's top eigenvector curved several times more than a random one, with a curvature of
  the order of λmax (notebook 05's sharpness).
* In weight space (filter-normalised) the trained weights sit in a basin whose walls rise far more steeply than
  anything in α space: the supernet's α landscape is shallow, which is why small changes of α can swing the
  argmax while the supernet's loss barely moves.

Next: [07 · Rethinking architecture selection](07_perturbation_selection.ipynb).
"""),
]

# ============================================================================== 07
NB07 = [
    md("""
# 07 · Rethinking architecture selection: magnitude vs perturbation

**What you will learn**

* DARTS derives the cell by **magnitude**: on every edge, the op with the largest softmax(α). Wang et al.
  (*Rethinking Architecture Selection in Differentiable NAS*, ICLR 2021) show that α's magnitude need not say
  how much the supernet **relies** on an op, and propose **perturbation-based selection** (DARTS-PT): mask one
  op of an edge, measure how much the supernet's validation accuracy drops, keep the op whose removal hurts most;
* how to probe an edge by hand with `ProbeView` (click an edge of the graph, or pick it), compare both rules on
  every edge of the same supernet, and run DARTS-PT's full projection schedule (project an edge, fine-tune,
  repeat) with a progress bar;
* how to judge the result: NAS-Bench-201 lists the CIFAR-10 accuracy of every cell of this space after full
  training, so both genotypes get a ground-truth score.

The supernet: NAS-Bench-201 cell, 8 channels, digits, DARTS first order, arch lr 1e-2, 10 epochs (a few
seconds). **Ground truth** comes from the NAS-Bench-201 table shipped with the workbench (the environment
variable `WORKBENCH_NB201_TABLE` points at another copy).
"""),
    code(SETUP + """
from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.spaces.cell.genotype import count_param_free
from workbench.data import load_nb201_table
from workbench.analysis.projection import Projection, ProjectionConfig, compare_selection
from widgets import ProbeView, SearchSession, edge_labels

table = load_nb201_table()  # shipped with the workbench ($WORKBENCH_NB201_TABLE: another copy)
print(table)
CONFIG = SearchConfig(space="nb201", dataset="digits", epochs=10, arch_lr=1e-2, seed=2,
                      supernet=SupernetConfig(C=8, cells_per_stage=1))
session = SearchSession(Searcher(CONFIG))
session.run()
session.wait()
searcher = session.searcher
print("softmax(α) per edge (" + ", ".join(searcher.space.ops) + "):")
print(np.round(searcher.probabilities()["cell"], 3))"""),
    md("""
## Probing one edge

We start with the edge on which α is most decided (the largest softmax weight). Each op in turn is multiplied by 0 in the supernet's mixture (the others keep their weights,
no renormalisation) and the supernet is evaluated on 4 fixed validation batches with batch-statistics
BatchNorm, as in the reference. Left: how much accuracy each removal costs; right: softmax(α). The outlined bars
are the two rules' picks.

**Click an edge of the genotype graph** to probe it (or use the list); *Compare all edges* fills the table
and heatmap below, whose rows are clickable too; *Run full projection* runs DARTS-PT on a copy of the search.
"""),
    code("""
PROBE = ProjectionConfig(proj_batches=4)
probe_view = ProbeView(session, PROBE, nb201_table=table, projection_config=ProjectionConfig(proj_intv=2))
edge = int(np.argmax(searcher.probabilities()["cell"].max(1)))  # the edge whose argmax α is most confident
res = probe_view.probe("cell", edge).result()
labels = edge_labels(searcher.space)  # "0→1", "0→2", ...: the names every view uses
print(f"edge {res.edge} ({labels[res.edge]}): supernet accuracy {res.base_acc:.1%}; masking each op:")
for op, w, drop in zip(res.ops, res.weights, res.acc_drop):
    print(f"  {op:<14} weight {w:.3f}   accuracy drop {drop:+.1%}")
check_close(np.asarray(probe_view.figure.data[0].y, float), res.acc_drop, meaning='bars = the probe')
probe_view"""),
    md("""
## Both rules on every edge of the same supernet

`compare_selection` probes every edge once on the unchanged supernet ("one-shot" perturbation selection) and
lines the picks up against the argmax of α:
"""),
    code("""
cmp = probe_view.compare().result()
for r in cmp.rows:  # one line per edge, named as in the graph and the heatmap
    p = r.probe
    print(f"edge {p.edge} ({labels[p.edge]}): magnitude {r.magnitude_op:<13} perturbation {r.perturbation_op:<13}"
          f"{'agree' if r.agree else 'DISAGREE'}")
display(HTML(probe_view.table_html.value))
scores = probe_view.scores()
if table is None:
    print("skipped: no NAS-Bench-201 table")
else:
    mag, pert = scores["magnitude"]["c10"], scores["perturbation"]["c10"]
    print(f"NB201 CIFAR-10: magnitude {mag:.2f}%, perturbation {pert:.2f}% (best cell {table.best().c10:.2f}%)")
    check(pert > mag + 2, meaning='the argmax cell here is (almost) all parameter-free')
check(count_param_free(cmp.perturbation.cell("cell")) < count_param_free(cmp.magnitude.cell("cell")))
probe_view.heatmap"""),
    md("""
The magnitude rule kept pools (parameter-free ops) on edges where the probe says the supernet hardly needs
them: masking a pool with a large α costs ~0 accuracy, masking a convolution with a smaller α costs more. That is
Wang et al.'s argument in numbers: α measures what the *optimiser* of α preferred, the drop measures what the
*supernet* uses.

## Is this one lucky seed?

Two more searches with the same config (a few seconds each), both rules:
"""),
    code("""
rows = []
for seed in (0, 1, 2):
    s = searcher if seed == CONFIG.seed else Searcher(CONFIG.replace(seed=seed))
    if s is not searcher:
        s.run()
    c = cmp if seed == CONFIG.seed else compare_selection(s, PROBE)
    disagree = sum(not r.agree for r in c.rows)
    if table is None:  # no ground truth: only how often the two rules disagree
        rows.append((seed, None, None, disagree))
        print(f"seed {seed}: {disagree} of 6 edges disagree (no NAS-Bench-201 table: no accuracies)")
        continue
    m_acc, p_acc = table.lookup(c.magnitude).c10, table.lookup(c.perturbation).c10
    rows.append((seed, m_acc, p_acc, disagree))
    print(f"seed {seed}: magnitude {m_acc:.2f}%  perturbation {p_acc:.2f}%  ({disagree} of 6 edges disagree)")
if table is not None:
    mags, perts = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    print(f"mean over the 3 seeds: magnitude {mags.mean():.2f}%, perturbation {perts.mean():.2f}%")
    check(perts.mean() > mags.mean() + 2 and (perts >= mags).sum() >= 2)"""),
    md("""
## The full DARTS-PT schedule

DARTS-PT does not stop at one probe per edge: it picks an undecided edge at random, probes it, fixes it to the
winning op, **fine-tunes** the supernet with that edge discretised (here 2 epochs between projections), and
repeats until every edge is decided. The button runs this on a *copy* of the search, so the supernet above is
untouched:
"""),
    code("""
projected = probe_view.run_projection().result()
print("projected genotype:", projected.to_nb201_str())
if table is not None:
    print(f"NB201 CIFAR-10 {table.lookup(projected).c10:.2f}% (rank {table.rank(projected):,} of {len(table):,})")
    check(table.lookup(projected).c10 > scores["magnitude"]["c10"])
check(probe_view.progress.value == 1)"""),
    md("""
## The numbers at larger budgets

Measured by `benchmarks/phenomena_selection.py` (NB201 space, C = 8, arch lr 1e-2, seed 2, probes on 4 × 64
validation images; NB201 CIFAR-10 test accuracy of the derived cell, 15,625 cells, median 90.75%, best
94.37%):

| supernet | magnitude | one-shot PT, train BN | one-shot PT, eval BN | DARTS-PT schedule, train BN |
|---|---|---|---|---|
| digits, 5 cells/stage, DARTS, 50 epochs | 88.51% (2 param-free) | **93.79%** | 93.79% | 93.79% |
| digits, 5 cells/stage, **SDARTS-RS** (skip-collapsed), 50 epochs | 54.30% (all skip) | 87.59% | 54.30% (all skip) | **90.42%** |
| synthetic:stripes, 1 cell/stage, DARTS, 50 epochs | 88.32% | **93.05%** | 92.66% | 93.29% |

The table was measured before a floating-point-level change to average pooling (commit 9243a7f); single
searches may come out differently now, rerun the script for current numbers.

And the small setting of this notebook (1 cell per stage), seeds 0-5, with the current code:

| data | magnitude | one-shot perturbation | DARTS-PT schedule (proj_intv 2) |
|---|---|---|---|
| digits, 10 epochs | 49.1-93.0% (mean 82.6%) | 91.0-93.3% (mean 92.2%), better in 5 of 6 | 92.1-93.8% (mean 93.3%), better in 6 of 6 |
| synthetic:stripes, 15 epochs | 73.6-91.4% (mean 85.5%) | 92.8-94.4% (mean 93.4%), better in 6 of 6 | |

The one loss (digits, seed 3) was by half a point; the wins range from 0.1 to 44 points. Perturbation selection
is not magic: it is much *less often badly wrong*, because a parameter-free op with a large α usually costs
nothing to remove.

One caveat the table shows: **BatchNorm matters.** Probing with the running statistics (eval BN) of a
skip-collapsed supernet inherits its skip bias and returns the all-skip cell; with batch statistics (the
reference's choice, used above) the probe sees past it.

## What you should have seen

* A probe: masking each op of an edge and measuring the supernet's accuracy drop; the bars are those drops.
* On the same supernet the two rules disagreed on several edges; where they did, the argmax of α kept a pool
  whose removal cost nothing, the probe kept a convolution whose removal cost accuracy.
* Scored by NAS-Bench-201, the perturbation genotype was far better than the magnitude genotype on this
  supernet, better on average over three seeds (and in 11 of our 12 small runs), and the full DARTS-PT schedule
  (projection + tuning) beat magnitude too.
"""),
]

NOTEBOOKS = {"05_sharpness.ipynb": NB05, "06_landscapes.ipynb": NB06, "07_perturbation_selection.ipynb": NB07}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOKS, sys.argv[1:], Path(__file__).name))

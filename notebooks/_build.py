"""Generate the teaching notebooks from the cell sources below (stored without outputs).

Run ``python notebooks/_build.py`` after editing; the ``.ipynb`` files are build
products kept in git so that JupyterLab users can open them directly. Each
notebook opens with what the reader will learn, ends with what they should
have seen, and asserts the phenomena it shows (CI executes them headless).
"""
from __future__ import annotations

import sys
from pathlib import Path

from _nbtools import code, main, md

THREADS = "torch.set_num_threads(1)  # tiny convs gain nothing from threads; one thread keeps runs bit-reproducible"



# ============================================================================== 01
NB01 = [
    md("""
# 01 · The search space and the continuous relaxation

**What you will learn**

* what a *cell search space* is: intermediate nodes, edges between them, and a set of candidate operations on
  every edge (here the tiny `toy` cell: 2 nodes, 3 edges, 4 ops);
* DARTS's continuous relaxation (Liu et al., ICLR 2019, Eq. 2): every edge computes a **mixed op**, the
  softmax(α)-weighted sum of all its candidate ops, so the architecture α can be learned by gradient descent;
* what the gradient with respect to α is, what switching an op off does, and how a discrete cell is read back
  from α (the argmax per edge) and why that step is lossy.

Everything runs on a CPU in a few seconds.
"""),
    code("""
import numpy as np
import torch
from IPython.display import HTML, display

from widgets import alpha_heatmap, edge_labels, genotype_edge_ops, genotype_html
from widgets.lesson import check
from workbench import SearchConfig, Searcher, SupernetConfig, get_space
from workbench.spaces.cell.genotype import CellGenotype, Genotype
from workbench.spaces.cell.ops import make_op
from workbench.methods.relax import masked_softmax

""" + THREADS + """
torch.manual_seed(0)
space = get_space("toy")
print(space.describe())
for k, label in enumerate(edge_labels(space)):
    print(f"edge {k}: {label}")"""),
    md("""
## The supernet cell

Node 0 is the cell input; nodes 1 and 2 are intermediate nodes, and node 2 (the last) is the cell output.
Every edge `i → j` carries **all** candidate ops at once. Drawn as a graph, one arrow per (edge, op):
"""),
    code("""
nodes = [[(op, src) for src in range(space.n_inputs + i) for op in space.ops] for i in range(space.n_nodes)]
supercell = Genotype((("cell", CellGenotype(nodes, (space.n_inputs + space.n_nodes - 1,), n_inputs=1)),))
display(HTML(genotype_html(supercell, title="toy supernet cell: every candidate op on every edge")))
check(len(supercell.cell("cell").edges()) == space.n_edges * len(space.ops))"""),
    md("""
## The mixed op

For one edge with candidate ops $o \\in \\mathcal{O}$ and architecture parameters $\\alpha_o$:

$$\\bar o(x) = \\sum_{o \\in \\mathcal{O}} \\frac{\\exp \\alpha_o}{\\sum_{o'} \\exp \\alpha_{o'}}\\, o(x)$$

Below, one edge's four ops are built with the workbench's op registry and mixed by hand.
"""),
    code("""
C = 4
ops = {name: make_op(name, C) for name in space.ops}  # the candidate ops of ONE edge
x = torch.randn(2, C, 8, 8)
alpha = torch.zeros(len(space.ops), requires_grad=True)  # DARTS starts near 0: all ops weigh the same


def mixed_op(x, alpha, mask=None):
    mask = torch.ones(len(alpha), dtype=torch.bool) if mask is None else mask
    w = masked_softmax(alpha[None], mask[None])[0]  # softmax over the enabled ops only
    return sum(w[o] * ops[name](x) for o, name in enumerate(space.ops)), w


y, w = mixed_op(x, alpha)
print("weights:", {op: round(float(v), 3) for op, v in zip(space.ops, w, strict=True)})
check(torch.allclose(w, torch.full((4,), 0.25)) and y.shape == x.shape)"""),
    md("""
## α gets an ordinary gradient

The mixed op is differentiable in α. By the softmax Jacobian,
$\\partial L/\\partial \\alpha_o = w_o\\,(\\langle g, o(x)\\rangle - \\langle g, \\bar o(x)\\rangle)$ with
$g = \\partial L/\\partial \\bar o$: an op gains weight when its output points along the descent direction
better than the current mixture does. Autograd agrees with the formula:
"""),
    code("""
target = torch.randn_like(y)
loss = ((y - target) ** 2).mean()
loss.backward()
with torch.no_grad():
    g = 2 * (y - target) / y.numel()                                 # dL/d(mixed output)
    inner = torch.stack([(ops[n](x) * g).sum() for n in space.ops])  # <g, o(x)> per op
    analytic = w * (inner - (w * inner).sum())
print("autograd:", alpha.grad.numpy().round(6))
print("formula: ", analytic.numpy().round(6))
check(torch.allclose(alpha.grad, analytic, atol=1e-6))"""),
    md("""
## Switching an op off

The op swapper of the dashboard masks an op: its weight becomes exactly 0, the softmax renormalises over the
remaining ops, and the masked α receives no gradient any more.
"""),
    code("""
pool = space.ops.index("avg_pool_3x3")
mask = torch.tensor([op != "avg_pool_3x3" for op in space.ops])
alpha.grad = None
y, w = mixed_op(x, alpha, mask)
((y - target) ** 2).mean().backward()
print("weights:", {op: round(float(v), 3) for op, v in zip(space.ops, w, strict=True)})
check(w[pool] == 0 and alpha.grad[pool] == 0)
check(torch.allclose(w[mask], torch.softmax(alpha[mask], 0)))"""),
    md("""
## From α back to a discrete cell

After the search DARTS keeps, per edge, the op with the largest weight. The mixed op with a **one-hot** weight
vector *is* that single op. With a sharper softmax (α divided by a temperature T → 0) the mixed op approaches
the argmax op; at T = 1 it can be far from it. This gap between the supernet and the derived cell is one
reason a good supernet can yield a poor architecture.
"""),
    code("""
a = torch.tensor([0.2, 1.0, 0.8, -0.5])
best = space.ops[int(a.argmax())]
with torch.no_grad():
    target_op = ops[best](x)
    gaps = []
    for T in (1.0, 0.3, 0.1, 0.01):
        y_T, _ = mixed_op(x, a / T)
        gaps.append(float((y_T - target_op).norm() / target_op.norm()))
        print(f"T = {T:<5} relative distance to the argmax op ({best}): {gaps[-1]:.3f}")
check(all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-3)"""),
    md("""
## Try it: drag the α of one edge

Move the sliders: the bars show softmax(α), the outlined bar is the op the discrete cell would keep.
"""),
    code("""
import ipywidgets as W
import plotly.graph_objects as go

sliders = [W.FloatSlider(value=0.0, min=-3, max=3, step=0.1, description=op, continuous_update=True,
                         style={"description_width": "110px"}, layout=W.Layout(width="360px"))
           for op in space.ops]
bars = go.FigureWidget(go.Bar(x=list(space.ops), y=[0.25] * 4, marker_line_width=[0, 0, 0, 0],
                              marker_line_color="#111", marker_color="#6aaed6"),
                       layout=dict(height=280, width=480, yaxis=dict(range=[0, 1], title="weight"),
                                   title="softmax(α) of one edge", template="plotly_white",
                                   margin=dict(t=50, b=40)))


def update(_=None):
    w = torch.softmax(torch.tensor([s.value for s in sliders]), 0).numpy()
    with bars.batch_update():
        bars.data[0].y = w
        bars.data[0].marker.line.width = [3 if i == w.argmax() else 0 for i in range(len(w))]


for s in sliders:
    s.observe(update, "value")
display(W.HBox([W.VBox(sliders), bars]))
sliders[2].value = 2.0  # what a click would do: nor_conv_3x3 now dominates
check(int(np.argmax(bars.data[0].y)) == 2)"""),
    md("""
## The whole cell, trained for a few steps

A `Searcher` builds the supernet (every edge a mixed op) and alternates an architecture step on validation
data with a weight step on training data. After 20 steps the weights have moved away from uniform, and the
derived genotype is the argmax per edge (the NAS-Bench-201 rule keeps every edge, `none` included).
"""),
    code("""
searcher = Searcher(SearchConfig(space="toy", dataset="digits", epochs=4, batch_size=32, arch_lr=3e-2,
                                 data_limit=400, supernet=SupernetConfig(C=4), seed=0))
w0 = searcher.probabilities()["cell"]
check(np.allclose(w0, 0.25, atol=0.01), meaning='alphas start at ~0')
searcher.run(20)
w = searcher.probabilities()["cell"]
g = searcher.genotype()
print("derived genotype:", g.to_nb201_str() if g.is_nb201() else g)
check([op for _, op, _ in g.cell("cell").edges()] == [space.ops[i] for i in w.argmax(1)])
check(np.abs(w - w0).max() > 0.02)
alpha_heatmap(w, space.ops, edge_labels(space), title="toy cell after 20 search steps",
              genotype_edges=genotype_edge_ops(space, g, "cell"))"""),
    code("""
display(HTML(genotype_html(g, title="the derived toy cell")))"""),
    md("""
## What you should have seen

* The toy supernet has 3 edges × 4 ops; the mixed op weighs every op by softmax(α) and its outputs sum.
* The gradient with respect to α matched the softmax-Jacobian formula: α is learned like any other parameter.
* A switched-off op got exactly zero weight and zero gradient; the rest renormalised.
* The mixed op only equals the discrete op in the one-hot limit: at T = 1 it was far from the argmax op.
* After 20 search steps the weights left the uniform 0.25, and the derived cell is the argmax per edge. Early in
  a search that is often a parameter-free op (a pool or a skip): they help the untrained supernet most, a bias
  that notebook 03 follows to its end.

Next: [02 · DARTS step by step](02_darts_step_by_step.ipynb) runs the bilevel search with the live dashboard.
"""),
]

# ============================================================================== 02
NB02 = [
    md("""
# 02 · Running DARTS step by step, with the dashboard

**What you will learn**

* one DARTS search step = one **architecture** update (α, Adam, on a validation batch) followed by one
  **weight** update (w, momentum SGD, on a training batch) (Liu et al., ICLR 2019, Alg. 1);
* how to drive a search from the live dashboard: Step / Run / Pause / Resume / Reset, the alpha heatmap and
  curves, the time scrubber, the op swapper and the genotype graph;
* the difference between **first-order** DARTS (ignore how w depends on α) and **second-order** DARTS (one
  unrolled weight step, a finite-difference Hessian-vector product), in cost and in the α they find.

The search is the default small config: the NAS-Bench-201 cell (6 edges × 5 ops), scikit-learn's 8×8 digits,
C = 8 channels, one cell per stage, batch 64: 12 steps per epoch, well under 0.1 s per step on a laptop CPU.
"""),
    code("""
import time

import numpy as np
import torch

from widgets import GenotypeDiffView, SearchSession, alpha_curves, dashboard
from widgets.lesson import check
from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.history import History

""" + THREADS + """
CONFIG = SearchConfig(space="nb201", dataset="digits", supernet=SupernetConfig(C=8, cells_per_stage=1),
                      batch_size=64, arch_lr=1e-2, epochs=20, seed=2)
searcher = Searcher(CONFIG)
session = SearchSession(searcher)  # owns the one worker thread that may step this searcher; records a History
print(searcher.space.describe())
print(f"{searcher.steps_per_epoch} steps per epoch, {searcher.total_steps} steps in {CONFIG.epochs} epochs")"""),
    md("""
## One step by hand

`step()` returns the `StepEnded` event it emitted: losses, accuracies, the learning rate, and detached copies
of α and of the mixing weights. At its first step Adam moves every α by about the learning rate (its update
is m̂/√v̂ = sign of the gradient), whatever the gradient's size: that is why DARTS's default arch lr of
3e-4 barely moves α in a short search, and why we use 1e-2 here.
"""),
    code("""
a0 = searcher.alphas()["cell"].copy()
ev = searcher.step()
print(f"step {ev.step}: train loss {ev.train_loss:.3f}  val loss {ev.val_loss:.3f}  lr {ev.lr:.4f}")
delta = ev.alphas["cell"] - a0
print("change of α after one step (edges × ops):")
print(delta.round(4))
check(np.abs(delta).max() <= 1.001 * CONFIG.arch_lr)
check(np.median(np.abs(delta)) > 0.9 * CONFIG.arch_lr)"""),
    md("""
## The dashboard

The search runs in a **background thread**, so the notebook stays responsive: while it runs you can click
*Pause* (it stops within one step), switch ops off in *Candidate ops*, drag the time scrubber, or run other
cells. Try: *Run to end*, watch the heatmap and the genotype change, *Pause*, switch `avg_pool_3x3` off,
*Resume*.

Views redraw at most 4 times a second and send only reduced data to the browser; the tabs below hold the
per-edge α curves, the loss/accuracy curves, the count of parameter-free ops and a genotype diff.
"""),
    code("""
dash = dashboard(session)
dash"""),
    md("""
The same controls exist in code. `session.run(n)` returns at once (the worker steps in the background);
`session.wait()` blocks until it is idle, which is what a script (or this notebook, run headless in CI) needs.
"""),
    code("""
session.run(23)
session.wait()
h = session.history
print(session, "|", len(h), "steps recorded")
check(searcher.step_count == 24 and len(h) == 24)

# the heatmap shows softmax of the recorded alphas of the newest step
heat = np.asarray(dash.views["alphas"].heatmaps["cell"].data[0].z, dtype=float)
a = h.alphas("cell")[-1].astype(np.float64)
softmax = np.exp(a - a.max(1, keepdims=True))
softmax /= softmax.sum(1, keepdims=True)
check(np.allclose(heat, softmax, atol=1e-6))"""),
    md("""
## Swapping an op out during the search

Switching an op off is a command to the worker: it is applied between two steps, recorded in the History as
an `OpMaskChanged` event, greyed out in the heatmap and marked on the α curves. From the next step on the op
has exactly zero weight.
"""),
    code("""
session.set_op_enabled("cell", "avg_pool_3x3", False).result()  # .result() waits for the worker
session.run(12)
session.wait()
pool = searcher.space.ops.index("avg_pool_3x3")
print(h.mask_changes)
check(h.mask_changes[-1].step == 24)
check(np.all(h.weights("cell")[-12:, :, pool] == 0) and np.all(h.weights("cell")[:24, :, pool] > 0))"""),
    md("""
## Back in time

The scrubber pins the heatmap, the genotype graph and the collapse count to any recorded step; the genotype is
re-derived from the weights recorded at that step. Drag the slider, or:
"""),
    code("""
dash.scrubber.scrub(12)
g12 = dash.views["genotype"].genotype
print("genotype at step 12:", g12.to_nb201_str())
check(g12 == h.genotype_at(12) and h.epochs[0].step == 12 and g12 == h.epochs[0].genotype)
dash.scrubber.scrub(None)  # follow the search again"""),
    md("""
## First order vs second order

First-order DARTS updates α with $\\nabla_\\alpha L_{val}(w, \\alpha)$. Second-order DARTS uses the gradient
after one virtual weight step, $\\nabla_\\alpha L_{val}(w - \\xi \\nabla_w L_{train}(w, \\alpha), \\alpha)$,
whose extra term needs a Hessian-vector product (two more forward-backward passes, by finite differences).
Same data, same seed, 24 steps each:
"""),
    code("""
def short_search(method, steps=24):
    s = Searcher(CONFIG.replace(method=method, epochs=2))
    hist = History.attach(s)
    s.run(2)  # warm-up
    t = time.perf_counter()
    s.run(steps - 2)
    return s, hist, (time.perf_counter() - t) / (steps - 2)


first, h1, t1 = short_search("darts-v1")
second, h2, t2 = short_search("darts-v2")
print(f"first order {1000 * t1:.0f} ms/step, second order {1000 * t2:.0f} ms/step ({t2 / t1:.1f}x)")
w1, w2 = first.probabilities()["cell"], second.probabilities()["cell"]
print(f"largest difference in mixing weights after 24 steps: {np.abs(w1 - w2).max():.3f}")
check(not np.allclose(first.alphas()["cell"], second.alphas()["cell"]))
check(np.allclose(h1.weights("cell")[0], h2.weights("cell")[0], atol=0.05), meaning='both start from the same α')"""),
    code("""
alpha_curves(h1, "cell", edges=[0, 5], title="first order: weights of edges 0→1 and 2→3")"""),
    code("""
alpha_curves(h2, "cell", edges=[0, 5], title="second order: weights of edges 0→1 and 2→3")"""),
    code("""
diff = GenotypeDiffView(first.genotype(), second.genotype())
diff"""),
    md("""
### How exact is the finite difference?

DARTS does not compute the Hessian-vector product: it takes central differences of the α-gradient at
$w \\pm \\varepsilon v$ with $\\varepsilon = r / \\lVert v \\rVert$ and $r = 0.01$. On a supernet this small the exact
hypergradient (autograd through the unrolled step) is affordable, so we can measure the estimator's error
$\\lVert g_{fd} - g_{exact} \\rVert / \\lVert g_{exact} \\rVert$ on fixed batches, at the second-order search's current
weights. A smaller radius is usually closer, but not always: if $w \\pm \\varepsilon v$ pushes some ReLU input across
zero, the gradient jumps there and the difference quotient divides that jump by $2\\varepsilon$.
`method_options={"hypergradient": "exact"}` makes `darts-v2` use the exact hypergradient instead.
"""),
    code("""
from workbench.methods.arch_grad import hypergradient_error

batch_t = (second.train_stream.x[:64], second.train_stream.y[:64])  # fixed batches: the search is not advanced
batch_v = (second.val_data[0][:64], second.val_data[1][:64])
ctx = second.context(True, batch_t, batch_v, second.lr())
errors = {r: hypergradient_error(ctx, r)["relative_error"] for r in (0.01, 1e-5)}
for r, err in errors.items():
    print(f"r = {r:g}: the finite-difference hypergradient is off by {err:.2%}")
check(errors[0.01] > 0.01, meaning="DARTS's default radius is visibly inexact on this supernet")"""),
    md("""
## What you should have seen

* One step moved every α by about the arch learning rate (Adam's first step is sign-like).
* The search ran in the background while the notebook stayed usable; the heatmap equalled softmax of the
  recorded α; `avg_pool_3x3` switched off mid-search had zero weight from the next step on.
* Scrubbing back to step 12 showed the genotype the search had at the end of its first epoch.
* Second-order DARTS cost roughly two to three times as much per step and moved α differently; after 24 steps
  the two derived cells differ in the edges listed above the diff.
* Its finite-difference hypergradient at DARTS's r = 0.01 was off by the first percentage printed above, and
  at r = 1e-5 by the second (usually far less, unless a ReLU kink lies within ε of the weights).

The dashboard above is still live: click *Run to end* to finish the 20-epoch search and watch the genotype
settle. Next: [03 · Skip-connection collapse](03_skip_collapse.ipynb).
"""),
]

# ============================================================================== 03
NB03 = [
    md("""
# 03 · Skip-connection collapse on NAS-Bench-201, watched live

**What you will learn**

* DARTS's best-known failure mode: as the supernet trains, **parameter-free ops** (skip connections above all)
  take over the argmax, and the derived cell gets *worse*, while the supernet itself looks fine
  (Zela et al., *Understanding and Robustifying DARTS*, ICLR 2020; Liang et al., *DARTS+*, 2019;
  Chu et al., *Fair DARTS*, ECCV 2020);
* how to watch it happen: the skip weights in the heatmap, the count of parameter-free ops and its warning,
  the genotype over time with the scrubber;
* how to check derived cells against **ground truth**: NAS-Bench-201 lists the CIFAR-10 accuracy of every one
  of its 15,625 cells after full training (the all-skip cell: 54.30%; the best cell: 94.37%);
* how robust the phenomenon is at this tiny, CPU-sized scale (honestly: in some seeds, not most).

**The setting.** The NAS-Bench-201 supernet at its real depth (5 cells per stage, 15 cells), 8 channels,
digits, DARTS first order with arch lr 1e-2 (DARTS's 3e-4 barely moves α in 120 steps), 10 epochs =
120 steps: about a minute on 2 CPU cores. In a pilot, collapse did not appear reliably with 1 or 2 cells per
stage, and did with 5.

**Ground truth.** The notebook scores cells with the NAS-Bench-201 table shipped with the workbench (set the
environment variable `WORKBENCH_NB201_TABLE` to use another copy).
"""),
    code("""
import time

import numpy as np
import plotly.graph_objects as go
import torch
from IPython.display import display

from widgets import SearchSession, dashboard
from widgets.lesson import check
from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.spaces.cell.genotype import nb201_genotype, nb201_ops
from workbench.data import load_nb201_table

""" + THREADS + """
table = load_nb201_table()  # shipped with the workbench ($WORKBENCH_NB201_TABLE: another copy)
print(table)"""),
    code("""
CONFIG = SearchConfig(space="nb201", dataset="digits", supernet=SupernetConfig(C=8, cells_per_stage=5),
                      batch_size=64, arch_lr=1e-2, epochs=10, seed=1)
session = SearchSession(Searcher(CONFIG))
dash = dashboard(session)
dash"""),
    md("""
## Run it

In JupyterLab you can click *Run to end* above and watch: within the first epochs the `skip_connect` column
of the heatmap darkens, the derived cell fills with orange skip edges, and the red warning appears. Here the
next cell runs the search and waits for it (that is also how CI executes this notebook).
"""),
    code("""
t0 = time.perf_counter()
session.run()
session.wait()
h = session.history
print(f"{len(h)} steps in {time.perf_counter() - t0:.0f} s; final genotype {h.epochs[-1].genotype.to_nb201_str()}")"""),
    md("""
## What happened, epoch by epoch

For every epoch end: how many of the 6 edges of the derived cell are `skip_connect`, how many are
parameter-free (skip or pooling), the mean softmax weight of `skip_connect`, and the supernet's own validation
accuracy.
"""),
    code("""
skip = session.searcher.space.ops.index("skip_connect")
rows = []
for rec in h.epochs:
    ops = nb201_ops(rec.genotype)
    i = h.index_of(rec.step)
    rows.append(dict(epoch=rec.epoch + 1, step=rec.step, skips=ops.count("skip_connect"),
                     param_free=sum(op in ("skip_connect", "avg_pool_3x3") for op in ops),
                     skip_weight=float(h.weights("cell")[i][:, skip].mean()),
                     supernet_val_acc=rec.val_metrics["accuracy"]))
print(f"{'epoch':>5} {'skips':>5} {'param-free':>10} {'mean skip weight':>16} {'supernet val acc':>16}")
for r in rows:
    print(f"{r['epoch']:>5} {r['skips']:>5} {r['param_free']:>10} {r['skip_weight']:>16.3f} "
          f"{r['supernet_val_acc']:>16.1%}")

first = next(r for r in rows if r["skips"] >= 4)
print(f"\\nfirst epoch with 4 or more skip edges: {first['epoch']} (step {first['step']})")
check(max(r["skips"] for r in rows) >= 4, meaning='the derived cell drifted to skip connections')
check(first["param_free"] >= 4, meaning='a mostly parameter-free cell')
check(rows[-1]["supernet_val_acc"] > 0.9, meaning='while the supernet itself looks fine')
uniform = 1 / len(session.searcher.space.ops)
check(first["skip_weight"] > uniform, meaning='skip gained weight over the uniform start')"""),
    md("""
Scrub back to the first epoch with four skip edges (or drag the slider yourself):
"""),
    code("""
dash.scrubber.scrub(first["step"])
check(nb201_ops(dash.views["genotype"].genotype).count("skip_connect") >= 4)"""),
    md("""
## Ground truth: what would these cells score?

NAS-Bench-201 trained every cell of this space on CIFAR-10 for 200 epochs. Looking the derived cells up gives
what the search *would* have delivered at each epoch. (The search ran on 8×8 digits, so this is a label on
the cell, not a prediction for digits: the point is the kind of cell the search converges to.)
"""),
    code("""
if table is None:
    print("skipped: no NAS-Bench-201 table (set WORKBENCH_NB201_TABLE)")
else:
    acc = [table.lookup(rec.genotype).c10 for rec in h.epochs]
    drifted = h.epochs[first["epoch"] - 1].genotype  # the first cell with 4 or more skip edges
    acc_drifted = acc[first["epoch"] - 1]
    # the counterfactual: the same cell with every skip connection replaced by a 3x3 convolution
    convs = nb201_genotype([("nor_conv_3x3" if op == "skip_connect" else op) for op in nb201_ops(drifted)])
    all_skip = table.lookup(nb201_genotype(["skip_connect"] * 6)).c10
    print(f"skip-heavy cell (epoch {first['epoch']}): {acc_drifted:.2f}%  {drifted.to_nb201_str()}")
    print(f"final derived cell:        {acc[-1]:.2f}%  {h.epochs[-1].genotype.to_nb201_str()}")
    print(f"same cell, skips -> convs: {table.lookup(convs).c10:.2f}%")
    print(f"best cell of the space:    {table.best().c10:.2f}%   all-skip cell: {all_skip:.2f}%")
    fig = go.Figure([
        go.Scatter(x=[r["epoch"] for r in rows], y=acc, name="derived cell: NB201 CIFAR-10 test accuracy",
                   mode="lines+markers", line=dict(color="#e4572e", width=2.5)),
        go.Scatter(x=[r["epoch"] for r in rows], y=[100 * r["supernet_val_acc"] for r in rows],
                   name="supernet: validation accuracy on digits", mode="lines+markers",
                   line=dict(color="#3a78b8", width=2.5, dash="dot")),
        go.Bar(x=[r["epoch"] for r in rows], y=[r["skips"] for r in rows], name="skip edges in the cell (of 6)",
               yaxis="y2", marker_color="#f28e2b", opacity=0.35)])
    fig.update_layout(template="plotly_white", height=380, title="The supernet looks fine; the cell it derives does not",
                      xaxis_title="epoch", yaxis=dict(title="accuracy (%)", range=[50, 100]),
                      yaxis2=dict(title="skip edges", overlaying="y", side="right", range=[0, 6.5], dtick=1),
                      legend=dict(orientation="h", y=-0.2))
    display(fig)
    check(abs(all_skip - 54.30) < 0.01)
    check(table.lookup(convs).c10 > acc_drifted + 2, meaning='the skips cost accuracy')
    check(acc_drifted < table.best().c10 - 3)"""),
    md("""
And over the whole benchmark: the median accuracy of all cells with *k* skip edges. More skip connections
make worse cells, which is why a search that drifts there has failed, whatever its supernet accuracy says.
"""),
    code("""
if table is None:
    print("skipped: no NAS-Bench-201 table (set WORKBENCH_NB201_TABLE)")
else:
    records = [table.record(i) for i in range(len(table))]
    k = np.array([r.arch_str.count("skip_connect") for r in records])
    c10 = np.array([r.c10 for r in records])
    med = [float(np.median(c10[k == n])) for n in range(7)]
    for n in range(7):
        print(f"{n} skip edges: {np.sum(k == n):5d} cells, median CIFAR-10 accuracy {med[n]:.2f}%")
    check(all(a >= b for a, b in zip(med, med[1:], strict=False)), meaning='never better with one more skip edge')
    check(med[2] - med[5] > 10)"""),
    md("""
## How robust is this?

Not every seed collapses. With exactly this config (C=8, 5 cells per stage, arch lr 1e-2, 10 epochs; one CPU
thread, torch 2.13) we ran seeds 0-7:

| seed | skip edges at the end | most skip edges at an epoch end | NB201 CIFAR-10 of the final cell |
|---:|---:|---:|---:|
| 0 | 2 | 4 (epoch 6) | 92.8% |
| 1 (this notebook) | 3 | 5 (epochs 4-5) | 93.8% |
| 2 | 3 | 3 | 90.2% |
| 3 | 0 | 3 | 92.5% |
| 4 | 3 | 3 | 92.0% |
| 5 | 2 | 2 | 93.3% |
| 6 | 3 | 4 (epochs 3-5) | 91.9% |
| 7 | 2 | 2 | 88.9% |

So: **3 of 8 seeds drift to 4 or more skip edges at some epoch end, and none stays there**: by epoch 10 every
cell is back to 3 skip edges or fewer (88.9-93.8% on CIFAR-10). The drift is a tendency of the first epochs,
not a law of this tiny setting. The outcome is fragile in a second way too: floating-point rounding alone
reshuffles it. Earlier versions of the engine computed the same functions with other rounding (ATen's
convolutions instead of the workbench's native CPU kernels, and before that other convolution forms) and gave
other tables: once 5 of 8 seeds *ended* collapsed, later 5 of 8 drifted to 4+ skip edges and 3 of 8 ended
there, seed 3 (this notebook's seed then) passing through the all-skip cell. With arch lr 3e-2 the alphas
oscillate more and only 1 of 6 seeds ended collapsed; with 1-2 cells per stage collapse was rare in a pilot.
Even the processor changes the rounding: on another machine (same torch, same seed) a run can reach four skip
edges and recover, or not reach them. That is why the checks above look at the first skip-heavy epoch, not at
the last one.

Note also how small the margins are: the mean `skip_connect` weight only moved from 0.20 (uniform over 5 ops)
to about 0.23. The argmax turns small, noisy differences in α into a discrete cell, one reason the outcome
varies from seed to seed.

To repeat the table, set `RUN_MORE_SEEDS = True` (about 40 s per seed, no dashboard):
"""),
    code("""
RUN_MORE_SEEDS = False
if RUN_MORE_SEEDS:
    for seed in range(8):
        s = Searcher(CONFIG.replace(seed=seed))
        s.run()
        ops = nb201_ops(s.genotype())
        score = f"{table.lookup(s.genotype()).c10:.1f}%" if table is not None else "n/a"
        print(f"seed {seed}: {ops.count('skip_connect')} skip edges, NB201 CIFAR-10 {score}: {s.genotype().to_nb201_str()}")"""),
    md("""
## What you should have seen

* Within a few epochs the derived cell filled with `skip_connect` (4 or more of 6 edges), the heatmap's skip
  column gained weight, and the dashboard raised its parameter-free warning while the cell was skip-heavy.
* The supernet's validation accuracy kept rising (above 90% by epoch 10) while its derived cell drifted to 4 or
  more skip edges: nothing in the training curves warns you.
* NAS-Bench-201 ground truth: the skip-heavy cell scores several points below the same cell with convolutions in
  place of the skips, and far below the best cell (94.37%); the all-skip cell, the end point of this drift,
  scores 54.30%. Across the benchmark, more skip edges never make a better median cell.
* At this scale the collapse is a tendency, not a law: 3 of 8 seeds drifted to 4+ skip edges and none stayed
  there, and a change of floating-point rounding alone reshuffles which seeds do.

Things to try in the dashboard above: *Reset*, switch `skip_connect` off in *Candidate ops* before running, or
in the middle of the drift, and compare the cell you get. Next:
[04 · Published genotypes](04_published_genotypes.ipynb).
"""),
]

# ============================================================================== 04
NB04 = [
    md("""
# 04 · Reading and drawing published genotypes

**What you will learn**

* how searched cells are published: the DARTS `Genotype(normal=..., normal_concat=..., reduce=...,
  reduce_concat=...)` text (Liu et al., ICLR 2019, `quark0/darts:cnn/genotypes.py`) and the NAS-Bench-201
  string `|op~src|+|...|` (Dong & Yang, ICLR 2020);
* how to read a cell: each intermediate node sums two `(op, input)` pairs; `concat` lists the states whose
  outputs form the cell output (inputs `c_{k-2}`, `c_{k-1}` are states 0 and 1);
* how the well-known cells compare: DARTS (first and second order), PC-DARTS, GDAS, NASNet-A and
  AmoebaNet-A; where they put parameter-free ops; and how to draw, diff and export them.

The genotypes are stored as data in `workbench.spaces.cell.zoo`, parsed with `ast` (never `eval`).
"""),
    code("""
import tempfile
from pathlib import Path

from IPython.display import HTML, display

from widgets import GenotypeDiffView, export, genotype_edge_changes, genotype_html
from widgets.lesson import check
from workbench.spaces.cell.genotype import Genotype, count_param_free, nb201_genotype
from workbench.spaces.cell.zoo import SOURCES, published, published_names

for name in published_names():
    g = published(name)
    cells = ", ".join(f"{c}: {len(g.cell(c).nodes)} nodes, concat {list(g.cell(c).concat)}" for c in g.cell_names)
    print(f"{name:<15} {cells:<60} {SOURCES[name]}")"""),
    md("""
## Reading the DARTS text

`normal` is a flat list of `(op, input)` pairs, two per intermediate node, in node order. Node 0 (state 2) reads
the first two pairs, node 1 (state 3) the next two, and so on. Parsing gives one structured object; writing it
back gives text that parses to the same genotype.
"""),
    code("""
darts_v2 = published("DARTS_V2")
print(darts_v2.to_darts_str())
normal = darts_v2.cell("normal")
for i, node in enumerate(normal.nodes):
    print(f"node {i} (state {normal.n_inputs + i}) = " + " + ".join(f"{op}(state {src})" for op, src in node))
for name in published_names():
    g = published(name)
    check(Genotype.from_darts_str(g.to_darts_str()) == g, meaning='lossless round trip')
    check(Genotype.from_json(g.to_json()) == g)"""),
    md("""
## Drawing a cell

Inputs are green, intermediate nodes blue, the output yellow; edge colours follow the op families used in
every view of the workbench (convolutions blue, dilated convolutions purple, pools green, skip orange).
"""),
    code("""
display(HTML(genotype_html(darts_v2, title="DARTS (second order), CIFAR-10")))"""),
    md("""
NASNet-A and AmoebaNet-A come from reinforcement learning and evolution. They have five intermediate nodes, and
their output concatenates only the states no other node reads, which the drawing honours:
"""),
    code("""
display(HTML(genotype_html(published("NASNet"), title="NASNet-A")))
display(HTML(genotype_html(published("AmoebaNet"), title="AmoebaNet-A")))
nasnet = published("NASNet")
check(len(nasnet.cell("normal").nodes) == 5 and list(nasnet.cell("reduce").concat) == [4, 5, 6])"""),
    md("""
## Parameter-free ops

Skip connections and pools have no weights. DARTS is known to favour them as the search goes on (see notebook
03); a cell full of them is cheap but weak. Count them per published cell:
"""),
    code("""
counts = {name: {c: count_param_free(published(name).cell(c)) for c in published(name).cell_names}
          for name in published_names()}
for name, c in counts.items():
    skips = {cell: sum(op == "skip_connect" for _, op, _ in published(name).cell(cell).edges())
             for cell in published(name).cell_names}
    print(f"{name:<15} parameter-free: {c}   skip_connect: {skips}")
# first-order DARTS keeps more parameter-free ops in its normal cell than second-order DARTS and PC-DARTS
check(counts["DARTS_V1"]["normal"] == 3 and counts["DARTS_V2"]["normal"] == 2)
check(counts["PC_DARTS_cifar"]["normal"] == 2)
# the DARTS reduction cells are made of pools and skips only
check(counts["DARTS_V1"]["reduce"] == counts["DARTS_V2"]["reduce"] == 8)"""),
    md("""
## Diff: first-order vs second-order DARTS

One drawing of the second genotype, with edges it adds in red and bold and edges it drops dashed grey:
"""),
    code("""
diff = GenotypeDiffView(published("DARTS_V1"), published("DARTS_V2"))
changes = genotype_edge_changes(published("DARTS_V1"), published("DARTS_V2"))
print("\\n".join(changes))
check(len(changes) == 4, meaning='2 nodes of the normal cell and 2 of the reduction cell take other inputs')
diff"""),
    md("""
Two of DARTS's descendants. PC-DARTS (Xu et al., ICLR 2020) samples a fraction of the channels on each edge
and normalises edges; GDAS (Dong & Yang, CVPR 2019) samples one op per edge with Gumbel-softmax. Their cells:
"""),
    code("""
for name, title in (("PC_DARTS_cifar", "PC-DARTS, CIFAR-10"), ("GDAS_V1", "GDAS, CIFAR-10")):
    display(HTML(genotype_html(published(name), title=title)))"""),
    md("""
And against DARTS (second order), node by node:
"""),
    code("""
for other in ("GDAS_V1", "PC_DARTS_cifar"):
    n = len(genotype_edge_changes(published("DARTS_V2"), published(other)))
    print(f"DARTS_V2 -> {other}: {n} nodes with different inputs")
GenotypeDiffView(published("DARTS_V2"), published("GDAS_V1"))"""),
    md("""
## Export

`export()` writes DOT (always available) and SVG/PNG/PDF (with Graphviz's `dot`). DOT is plain text: diff it,
or paste it into any Graphviz viewer.
"""),
    code("""
out = Path(tempfile.mkdtemp(prefix="genotypes-"))
dot = export(darts_v2, out / "darts_v2.dot")
svg = export(darts_v2, out / "darts_v2.svg")
print(dot.read_text()[:300], "...")
check("sep_conv_3x3" in dot.read_text() and svg.read_text().startswith("<svg"))"""),
    md("""
## NAS-Bench-201 strings

An NB201 cell has one input (node 0), three nodes and six edges; every edge has exactly one op, possibly
`none`. The string lists, node by node, `op~source`:
"""),
    code("""
s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
best = Genotype.parse(s)
check(best.to_nb201_str() == s and best == nb201_genotype(
    ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1"]),
      "the parsed cell to write back the same string and to equal the cell built op by op")
display(HTML(genotype_html(best, title="the best NAS-Bench-201 cell on CIFAR-10 (94.37%)")))"""),
    md("""
## What you should have seen

* Every published genotype parsed from its source text and wrote back to text (and JSON) that parses to the
  same cell.
* DARTS cells: 4 nodes × 2 inputs, all four nodes concatenated; NASNet-A and AmoebaNet-A: 5 nodes and a
  partial concat.
* First-order DARTS keeps 3 parameter-free ops in its normal cell, second-order DARTS and PC-DARTS 2; both
  DARTS reduction cells are nothing but pools and skips.
* The diff view marked the 4 nodes (2 normal, 2 reduction) in which DARTS V1 and V2 differ; DOT and SVG
  files were written.
"""),
]

NOTEBOOKS = {"01_relaxation.ipynb": NB01, "02_darts_step_by_step.ipynb": NB02, "03_skip_collapse.ipynb": NB03,
             "04_published_genotypes.ipynb": NB04}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOKS, sys.argv[1:], Path(__file__).name))

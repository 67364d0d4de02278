"""Generate notebook 09 (hardware-aware DNAS: FBNet, ProxylessNAS, Single-Path NAS) from the cells below.

Run ``python notebooks/_build_hardware.py`` after editing (``--check`` exits 1
when the ``.ipynb`` is out of date). Like the other lessons: it opens with what
the reader will learn, ends with what they should have seen, and asserts what
it shows (CI executes it headless, on one torch thread, in about two minutes).
Single-Path NAS is taught where the ``single-path`` preset is registered.
"""
from __future__ import annotations

import sys
from pathlib import Path

from _nbtools import code, main, md

NAME = "09_hardware_aware.ipynb"

NB09 = [
    md("""
# 09 · Hardware-aware DNAS: FBNet, ProxylessNAS and Single-Path NAS

**What you will learn**

* how a search *for a device* differs from DARTS: the architecture loss also prices the architecture, with a
  **cost model** (here a latency table measured on this machine: one number per layer and block);
* what each method's architecture parameters are and how they are relaxed: FBNet's **soft** Gumbel-softmax
  sample (every candidate runs), ProxylessNAS's **binary gates** (one sampled path per weight step) and, where
  it is registered, Single-Path NAS's **superkernel thresholds** (one kernel per layer);
* what ProxylessNAS's architecture gradient is: a BinaryConnect-style estimator that is exact only for a loss
  linear in the layer's output, and **biased** otherwise (computed by hand on a three-path toy);
* how the cost weight and a latency **budget** move the derived architecture's latency, with the expected-latency
  curve, the latency-accuracy Pareto scatter, the budget slider and the chain drawing of the dashboard;
* how to export the derived network with its latency report, and how its **measured** latency compares with the
  predicted one.

Everything runs on a CPU on 8×8 digits in about two minutes (small searches: 5 epochs of 5 steps each).
"""),
    code("""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from IPython.display import display

from widgets.dashboard import dashboard
from widgets.figures.hardware import latency_curve, pareto_figure, pareto_front
from widgets.figures.hardware_chain import chain_figure
from widgets.lesson import check
from workbench import SearchConfig, Searcher
from workbench.app.export import export_derived, inherit_supernet_weights, latency_report, load_export
from workbench.app.hardware import arch_cost, expected_costs, sample_points
from workbench.app.session import SearchSession
from workbench.history import History
from workbench.methods.presets import method_names, method_options
from workbench.spaces import get_space
from workbench.spaces.chain.costs import load_latency, measure_latency, save_latency
from workbench.spaces.chain.space import chain_choices

torch.set_num_threads(1)  # tiny convs gain nothing from threads; one thread keeps runs reproducible
WORK = Path(tempfile.mkdtemp(prefix="dnas-hw-"))  # a temporary folder for the latency table and the export
space = get_space("chain")
(group,) = space.choice_groups()
print(space.describe())
for row, plan in zip(group.rows, space.plan()):
    print(f"  {row:13s} skip {'allowed (identity shortcut)' if plan.shortcut else 'not allowed (shape changes)'}")"""),
    md("""
## The chain space and its cost

Six searchable layers in three stages (16, 24, 32 channels; the first layer of stages 2 and 3 halves the
resolution). Each layer picks one MBConv block, kernel {3, 5} × expansion {1, 3, 6}, or `skip` where the layer
keeps its shape (ProxylessNAS's "zero" op: only the identity shortcut is left).

The cost model is a **latency table measured here**: each block at its layer's input shape, batch 1, one thread,
a few warm-up runs and then the median of 20 (`python -m workbench latency measure --input-shape 1,8,8 --out
table.json` does the same from the command line). The latency of an architecture is the sum of its blocks'
entries: the additive model every method below differentiates. Below, the cheapest and the most expensive legal
architectures drawn as chains: box width = kernel, height = expansion, colour by block; the bars are each layer's
predicted latency.
"""),
    code("""
table = measure_latency(space, (1, 8, 8), warmup=5, repeats=20)
TABLE = save_latency(table, WORK / "chain_latency_1x8x8.json")
lat = load_latency(TABLE, space)
costs = np.asarray(lat.costs["layers"])
legal = group.allowed_matrix()
cheapest = chain_choices(space, [group.options[int(np.argmin(np.where(legal[i], costs[i], np.inf)))]
                                 for i in range(len(group.rows))])
dearest = chain_choices(space, [group.options[int(np.argmax(np.where(legal[i], costs[i], -np.inf)))]
                                for i in range(len(group.rows))])
print(f"host: {table['host']['processor'] or table['host']['machine']}, torch {table['host']['torch']}")
print(f"cheapest {arch_cost(space, cheapest, lat):.3f} ms: {space.label(cheapest)}")
print(f"dearest  {arch_cost(space, dearest, lat):.3f} ms: {space.label(dearest)}")
display(chain_figure(space, cheapest, lat, input_shape=(1, 8, 8), n_outputs=10, title="The cheapest architecture"))
display(chain_figure(space, dearest, lat, input_shape=(1, 8, 8), n_outputs=10, title="The most expensive one"))

check(abs(arch_cost(space, cheapest, lat) - lat.minimum()) < 1e-9, meaning="the table's minimum is that architecture")
check(all(b == "skip" for b, p in zip(cheapest.picks["layers"], space.plan()) if p.shortcut), meaning='skip is free')"""),
    md("""
## Three methods, three kinds of architecture parameters

| method | architecture parameters | relaxation in the weight step | architecture loss |
|---|---|---|---|
| `fbnet` (Wu et al., CVPR 2019) | θ: layers × blocks logits | **soft** Gumbel-softmax sample m = softmax((θ + G)/τ), τ = 5·exp(−0.045 t) | α·CE·log(LAT)^β with LAT = Σ m·lat under the same sample |
| `proxylessnas` (Cai et al., ICLR 2019) | α: layers × blocks logits | **binary gates**: one block per layer sampled from softmax(α) | CE + λ·E[LAT], E[LAT] = Σ softmax(α)·lat |
| `single-path` (Stamoulis et al., 2019) | per layer, thresholds on the norms of one 5×5, e6 **superkernel**'s parts | the superkernel with hard indicators 1(‖w‖ > t) | CE + λ·log(R), R the runtime model of the indicators |

The same space, data and table for all three (the `cost` option names the table file, so the settings are plain
JSON and a run folder records them). FBNet's paper form needs log(LAT / reference) > 0: the reference is half the
cheapest architecture's latency.
"""),
    code("""
METHODS = [m for m in ("fbnet", "proxylessnas", "single-path") if m in method_names()]
BASE = dict(space="chain", dataset="digits", data_limit=320, batch_size=32, epochs=5, seed=0, arch_lr=0.05)
OPTIONS = {"fbnet": {"warmup_epochs": 1, "reference": 0.5 * lat.minimum()},
           "proxylessnas": {"warmup_epochs": 1, "lam": 0.1},
           "single-path": {"warmup_epochs": 1}}


def config(method, **options):
    accepted = method_options(method)
    opts = {k: v for k, v in {**OPTIONS[method], "cost": str(TABLE), **options}.items() if k in accepted}
    return SearchConfig(**BASE, method=method, method_options=opts)


searchers = {m: Searcher(config(m)) for m in METHODS}
for m, s in searchers.items():
    shapes = ", ".join(str(tuple(p.shape)) for p in s.arch_params)
    print(f"{m:13s} architecture parameters {shapes:18s} relaxation {type(s.method.relaxation).__name__}")
print("Single-Path NAS:", "taught below" if "single-path" in METHODS else "not registered in this version")
check({"fbnet", "proxylessnas"} <= set(METHODS))"""),
    md("""
## Why FBNet's sample is soft: every path runs

FBNet's Gumbel-softmax sample is a *soft* one-hot: every block gets a (mostly small) weight and is computed, so
a step costs as much as the whole supernet and memory grows with the number of candidates. ProxylessNAS
samples one block per layer for the weight step and computes only it. Counting the blocks that run in one
forward pass under each method's relaxation (a hook on every candidate block):
"""),
    code("""
def blocks_run_in_one_forward(searcher):
    calls = []
    hooks = [block.register_forward_hook(lambda *_: calls.append(1))
             for layer in searcher.model.layers for block in layer.values()]
    weights, active = searcher.mixing_weights()  # the method's relaxation, as the weight step draws it
    searcher.model.eval()  # (eval mode: this look leaves the BatchNorm statistics alone)
    try:
        with torch.no_grad():
            searcher.model(searcher.val_data[0][:8], weights, active)
    finally:
        searcher.model.train()
        for h in hooks:
            h.remove()
    return len(calls)


legal_blocks = int(legal[:, [o != "skip" for o in group.options]].sum())
runs = {m: blocks_run_in_one_forward(searchers[m]) for m in ("fbnet", "proxylessnas")}
print(f"legal MBConv blocks in the supernet: {legal_blocks}; blocks computed in one forward pass: {runs}")
w, active = searchers["fbnet"].mixing_weights()
print("one FBNet soft sample, layer 0:", np.round(w["layers"][0].detach().numpy(), 3))

check(runs["fbnet"] == legal_blocks, meaning='the soft sample runs every path')
check(runs["proxylessnas"] <= len(group.rows), meaning='binary gates: at most one block per layer (none where skip won)')"""),
    md("""
## ProxylessNAS's gradient estimator, by hand

With binary gates g (one-hot, sampled from p = softmax(α)) the layer computes out = Σ_j g_j·o_j, and
ProxylessNAS estimates the architecture gradient as (BinaryConnect style, Sec. 3.2)

  ∂L/∂α_i ≈ Σ_j ∂L/∂g_j · p_j (δ_ij − p_i),  with ∂L/∂g_j = ⟨∂L/∂out, o_j⟩ at the sampled out.

What we would like is the gradient of the expected loss E_p[L(o_g)] = Σ_i p_i L(o_i). Below: one layer with three
candidate outputs, the exact gradient (autograd through the expectation) and the estimator **averaged exactly
over the sampled path** (each path weighted by its probability). For a loss linear in `out` they agree; for a
quadratic loss they do not: the estimator is biased, whatever the number of samples (SEEDS_2 §4.3).
"""),
    code("""
from workbench.methods.hardware import binary_gate_gradient

torch.manual_seed(0)
o = torch.randn(3, 4, dtype=torch.float64)            # the three candidates' outputs
alpha = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
w_lin, target = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
LOSSES = {"linear    L = w·out": lambda out: w_lin @ out, "quadratic L = |out - t|²": lambda out: ((out - target) ** 2).sum()}


def estimator(dL_dg, p):  # the formula above, written out
    return torch.stack([sum(dL_dg[j] * p[j] * (float(i == j) - p[i]) for j in range(len(p))) for i in range(len(p))])


gaps = {}
for name, L in LOSSES.items():
    p = torch.softmax(alpha, 0)
    exact, = torch.autograd.grad(sum(p[i] * L(o[i]) for i in range(3)), alpha)
    p = p.detach()
    mean_est = torch.zeros(3, dtype=torch.float64)
    for k in range(3):                                 # the sampled path, with probability p_k
        g = torch.nn.functional.one_hot(torch.tensor(k), 3).double().requires_grad_(True)
        dL_dg, = torch.autograd.grad(L(g @ o), g)
        est = estimator(dL_dg, p)
        check(torch.allclose(est, binary_gate_gradient(dL_dg, p)), meaning="the workbench's vectorised version")
        mean_est += p[k] * est
    gaps[name] = float((mean_est - exact).abs().max())
    print(f"{name}: exact {np.round(exact.numpy(), 3)}  E[estimator] {np.round(mean_est.numpy(), 3)}")

check(gaps["linear    L = w·out"] < 1e-12, meaning='exact for a loss linear in the layer output')
check(gaps["quadratic L = |out - t|²"] > 1e-2, meaning='biased otherwise')"""),
    md("""
## The three searches side by side

Each search runs to the end, with a History recording every step. For each method: the **expected latency** E[LAT] = Σ p·lat of the relaxed architecture over the steps (blue),
the latency of the architecture **derived** at each step (orange) and the cheapest legal architecture (dotted);
then the derived architecture as a chain; then a **Pareto scatter**: architectures sampled from the final
probabilities, scored by the supernet's shared weights (a one-shot estimate, not a trained network) against their
predicted latency, the front through them and the derived one (★).
"""),
    code("""
results = {}
for m, s in searchers.items():
    h = History.attach(s)
    t0 = time.perf_counter()
    s.run()
    arch = s.genotype()
    points = sample_points(s, 20, cost=lat, seed=0)
    results[m] = dict(history=h, arch=arch, seconds=time.perf_counter() - t0, points=points,
                      latency=arch_cost(space, arch, lat), accuracy=s.evaluate()[1]["accuracy"])
    print(f"{m:13s} {results[m]['seconds']:5.1f} s  derived {results[m]['latency']:.3f} ms  "
          f"supernet acc {results[m]['accuracy']:.1%}  {space.label(arch)}")
    display(latency_curve(h, lat, title=f"{m}: expected latency", height=300))
    display(chain_figure(space, arch, lat, probs=h.weights_at(int(h.steps[-1])), input_shape=(1, 8, 8),
                         n_outputs=10, title=f"{m}: derived architecture"))
    display(pareto_figure(points, lat, title=f"{m}: sampled architectures", height=340))

for m, r in results.items():
    h = r["history"]
    check(len(h) == searchers[m].total_steps)
    # the curve is Σ p·lat of the recorded probabilities; the derived point is the decoded architecture's cost
    check(np.allclose(expected_costs(h.weights("layers"), lat)[-1], (h.weights("layers")[-1] * costs).sum()))
    check(r["points"][0].kind == "derived" and abs(r["points"][0].cost - r["latency"]) < 1e-9)
    front = pareto_front([p.cost for p in r["points"]], [p.metric for p in r["points"]])
    check(all(r["points"][i].cost <= r["points"][j].cost for i, j in zip(front, front[1:])))"""),
    md("""
## Turning the cost weight

The cost weight says how much latency is worth: FBNet's exponent β (β = 0: no latency term) and ProxylessNAS's
λ. Same seed, same data, only the weight changes; the derived architecture's predicted latency falls as the
weight grows (at the largest weights most layers take the cheapest legal block).
"""),
    code("""
SWEEP = {"fbnet": ("beta", [0.0, 3.0]), "proxylessnas": ("lam", [0.0, 1.0])}
swept = {}
for m, (option, values) in SWEEP.items():
    swept[m] = []
    for v in values:
        s = Searcher(config(m, **{option: v}))
        s.run()
        swept[m].append(arch_cost(space, s.genotype(), lat))
        print(f"{m:13s} {option} = {v:<4}  derived {swept[m][-1]:.3f} ms  {space.label(s.genotype())}")

for m, lats in swept.items():
    check(lats[-1] < lats[0], got=(m, lats), meaning='a larger weight: a faster derived architecture')"""),
    md("""
## A budget, live: the dashboard and the budget slider

A budget replaces "as fast as possible" by "no slower than B": the latency term only pushes while the expected
latency is above B. The dashboard of a chain search adds four panels: the **budget slider** on top (drag it,
then *Restart with this target*: the search starts again from step 0 with the new budget), and the tabs
*Expected latency*, *Latency vs accuracy* (press *Sample architectures* at any time; after a restart the earlier
target's derived architecture stays as an orange diamond) and *Chain of blocks* (it follows the time scrubber).

Here ProxylessNAS with a strong weight (λ = 1) and a larger architecture step (Adam normalises its steps, so
λ's scale matters less than the step size in 20 architecture steps): first without a budget (it races towards
the cheapest architecture), then restarted through the slider with a budget half-way between the cheapest and
the uniform architecture's latency. The budget acts on the *expected* latency E_p[LAT].
In code, `slider.apply(value)` is the button: it calls `session.restart({"budget": value})` and then
`session.run()`; the engine never sees the widget.
"""),
    code("""
session = SearchSession(config("proxylessnas", lam=1.0).replace(arch_lr=0.3))  # Adam: a larger step moves E[LAT] further
dash = dashboard(session)
display(dash)
session.run()
session.wait()
no_budget = arch_cost(space, session.searcher.genotype(), lat)
e_no_budget = float((session.searcher.probabilities()["layers"] * costs).sum())
uniform = float((legal / legal.sum(1, keepdims=True) * costs).sum())
BUDGET = round(lat.minimum() + 0.5 * (uniform - lat.minimum()), 2)
slider = dash.views["hw_budget"]
print(f"no budget: expected {e_no_budget:.3f} ms, derived {no_budget:.3f} ms; uniform architecture {uniform:.3f} ms; "
      f"restarting with budget "
      f"{BUDGET} ms via the slider ({slider.target.label})")"""),
    code("""
slider.apply(BUDGET).result()
session.wait()
s = session.searcher
e_lat = float((s.probabilities()["layers"] * costs).sum())
with_budget = arch_cost(space, s.genotype(), lat)
print(f"budget {BUDGET} ms: expected latency {e_lat:.3f} ms, derived {with_budget:.3f} ms  {space.label(s.genotype())}")
for name in ("hw_latency", "hw_chain"):
    dash.views[name].set_visible(True)  # draw the hidden tabs now (a person would open them)

check(s.config.method_options["budget"] == BUDGET and s.finished)
check(e_lat <= 1.1 * BUDGET, meaning='the expected latency was pushed down to (about) the budget...')
check(e_lat > e_no_budget, meaning='less far than without one (that search went on to the cheapest)')
check(any(p.kind == "previous" for p in dash.views["hw_pareto"].previous), meaning='the earlier target stays on the plot')"""),
    md("""
### Deriving an architecture at the budget

The papers derive by **argmax**: the most probable block of each layer. But E_p[LAT] ≈ B does not make the
argmax cost B: after a short search the rows are still soft, and the hinge raised the *cheapest* blocks'
probabilities most, so the argmax of every row is a cheap block and the argmax architecture lands far below the
budget. With a budget the presets therefore derive by the **budget rule** (`derive="budget"`, the default when a
budget is set; `derive="paper"` gives the argmax): the most probable architecture, Σ_l log p_l(block), among
those whose table latency lies in [(1 − tol)·B, B] (`budget_tol`, 0.1), the budget read as a *target* as in
MnasNet and TuNAS. The latency is additive over layers, so an exact dynamic programme over layers finds it
(`workbench.spaces.chain.budget`). The rule is plain text recorded with the run, so the history, the views and a
run folder re-derive every step the same way.
"""),
    code("""
argmax = s.space.decode(s.probabilities(), s.masks(), "argmax")
p_end = s.probabilities()["layers"]
logp = np.log(np.where(p_end > 0, p_end, 1.0))  # disallowed blocks (probability 0) are never picked
score = {name: sum(logp[i, group.options.index(b)] for i, b in enumerate(a.picks["layers"]))
         for name, a in (("budget rule", s.genotype()), ("argmax", argmax))}
for name, a in (("budget rule", s.genotype()), ("argmax", argmax)):
    c = arch_cost(space, a, lat)
    print(f"{name:11s} {c:7.3f} ms ({100 * (c / BUDGET - 1):+6.1f}% of the budget)  sum log p {score[name]:7.2f}  "
          f"{space.label(a)}")
check(s.method.genotype_rule.startswith("budget:"), meaning="with a budget the preset derives by the budget rule")
check(0.9 * BUDGET - 1e-9 <= with_budget <= BUDGET + 1e-9, got=(with_budget, BUDGET),
      meaning="the derived architecture lands within 10% below the budget")
check(score["budget rule"] <= score["argmax"] + 1e-9, meaning="no architecture is more probable than the argmax")"""),
    md("""
## The derived network, measured

The table predicts; the machine measures. `latency_report` times each layer of the compiled network at its input
shape and the whole network (batch 1, one thread, warm-up then the median), next to the table's prediction.
The searchable layers should agree with the table (they are the same blocks, timed the same way, though at
another moment); the whole network adds the stem, pooling and classifier that no table prices.
"""),
    code("""
print(f"{'method':13s} {'predicted':>10s} {'measured layers':>16s} {'measured network':>17s}")
reports = {}
for m, r in results.items():
    reports[m] = latency_report(space, r["arch"], (1, 8, 8), lat, warmup=5, repeats=20)
    meas = reports[m]["measured"]
    print(f"{m:13s} {reports[m]['predicted_total']:8.3f} ms {meas['layers_ms']:13.3f} ms {meas['network_ms']:14.3f} ms")

for rep in reports.values():
    check(abs(rep["predicted_total"] - sum(layer["predicted"] for layer in rep["layers"])) < 1e-9)
    check(rep["measured"]["network_ms"] > 0 and rep["measured"]["repeats"] == 20)
    check(all(layer["measured_ms"] == 0 for layer in rep["layers"] if layer["block"] == "skip"))"""),
    md("""
## Export

`export_derived` writes the architecture (JSON), its weights (safetensors; here inherited from the supernet:
the chosen block of every layer, the stem and the classifier) and the latency report (JSON) to a folder; no
pickle. From the command line, for a run folder: `python -m workbench export RUN_DIR --out DIR [--train-epochs N]`.
"""),
    code("""
px = searchers["proxylessnas"]
state = inherit_supernet_weights(space, results["proxylessnas"]["arch"], px.model.state_dict())
paths = export_derived(WORK / "export", space, results["proxylessnas"]["arch"], (1, 8, 8), 10, lat, state=state,
                       warmup=2, repeats=5)
print("\\n".join(f"{k:12s} {p.name}  ({p.stat().st_size} bytes)" for k, p in paths.items()))
back = load_export(WORK / "export")
check(back.arch == results["proxylessnas"]["arch"] and back.has_weights)
check(abs(back.report["predicted_total"] - results["proxylessnas"]["latency"]) < 1e-9)"""),
    code("""
import shutil

shutil.rmtree(WORK, ignore_errors=True)  # the temporary folder of this lesson"""),
    md("""
## What you should have seen

* The hardware-aware methods add a **priced** architecture loss: a latency table measured on this machine gives
  every (layer, block) a cost, and E[LAT] = Σ p·lat is differentiable in the architecture parameters.
* **FBNet** relaxes with a soft Gumbel-softmax sample: every legal block ran in one weight step, so its cost and
  memory grow with the candidates. **ProxylessNAS** ran at most one block per layer: binary gates.
* ProxylessNAS's estimator matched the exact expected-loss gradient for a linear loss and missed it for a
  quadratic one: it is a biased, BinaryConnect-style estimator, exact only in that special case.
* Raising the cost weight (FBNet's β, ProxylessNAS's λ) gave a faster derived architecture; a **budget** pushed the
  expected latency down to about the budget and stopped there, where the unbudgeted search went on to the cheapest
  architecture. The argmax of the still-soft rows fell far below the budget; the **budget rule** derived the most
  probable architecture within 10% below it. The dashboard showed the expected-latency curve, the Pareto scatter and the chain of blocks, and
  the slider restarted the search with a new target through the session.
* The derived network's measured latency sat next to the predicted one, and the export wrote it as JSON,
  safetensors and a latency report.
"""),
]


if __name__ == "__main__":
    sys.exit(main({NAME: NB09}, sys.argv[1:], Path(__file__).name))

"""Notebook 11, part 2: CovidNet3D -- a straight-through Gumbel search over 3-D MBConv blocks for CT volumes, the
released code's gradient pitfall, fine-tuning the derived path, and class activation maps in a slice viewer
(SEEDS_2 §6; ``workbench.methods.covidnet3d``, ``workbench.spaces.volume``, ``workbench.analysis.cam``)."""
from __future__ import annotations

from _nbtools import code, md

TITLE = "CovidNet3D: 3-D blocks searched with a straight-through Gumbel sample, explained by CAM"

LEARN = """
* what CovidNet3D searches: a chain of 3-D cells, each a *calibration* conv then one MBConv3d block or **skip**,
  on CT-like volumes (synthetic here, with a voxel mask of every lesion);
* the relaxation: a **hard** Gumbel sample per cell whose forward value is exactly one-hot (one block runs) and
  whose backward is the softmax's -- and how the released code turns it into a bool mask that no gradient
  crosses;
* the paper's step order (architecture on validation data first, then weights) and why the supernet's own
  accuracy says little during the search;
* fine-tuning the derived path, and a **class activation map**: the logit spread over the voxels, checked
  against the lesion masks.
"""

SEEN = """
* the straight-through sample is exactly one-hot, the supernet's output *is* the selected path's, and every
  α receives a gradient; in the released bool-mask mode none does and α never leaves its initial values;
* α barely moved in the search (softmax within a few points of 1/4): at this budget the derived blocks are
  close to a coin toss, as the spec's pilot found -- the claim is about the pipeline, not the choice;
* the fine-tuned derived network classified the held-out volumes well above the 0.85 the issue asks, and its CAM
  peaked inside the lesion many times more often than a random voxel would.
"""

CELLS = [
    md("""
### What is searched

**CovidNet3D** (He et al., AAAI 2021, arXiv 2101.05442) classifies chest CT scans (COVID-19 pneumonia vs other
pneumonia vs normal) with a network found by differentiable search, then explains its decisions with **class
activation maps** (CAM). The real scans (CC-CCII, MosMed, COVID-CTset) cannot be downloaded here, so the workbench
generates CT-like volumes (SEEDS_2 §6.6): soft tissue holding two dark ellipsoidal "lungs", smooth and white
noise, and in two of every three volumes a lesion -- a large faint "ground-glass" blob or a small dense
"consolidation" -- with its **voxel mask**, which the real data does not have and which lets us *check* the CAM.
The task is binary, normal vs lesion; each volume is 1 × 16 × 24 × 24 (depth × height × width).

The space `mbconv3d` is CovidNet3D's at CPU scale: a 3×3×3 stem conv (stride 1, 2, 2), then three *cells*. Each
cell starts with a **calibration** layer (a 1×1×1 conv carrying the cell's stride and width change, as in the
paper's code), then chooses one candidate: a 3-D MBConv block (expand 1×1×1, depthwise k×k×k, project 1×1×1)
with kernel k and expansion e, plus the identity shortcut, or **skip** (the paper's "Zero": the cell outputs its
calibrated input). A global average pool and a linear layer classify.
"""),
    code("""
import time

import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display

from widgets import dashboard
from widgets.figures.volume import orthogonal_slices
from widgets.lesson import check, check_close
from widgets.views.volume import VolumeSliceViewer
from workbench import SearchConfig, Searcher
from workbench.analysis.cam import cam_localisation, class_activation_map, volume_cams
from workbench.app.export import train_network
from workbench.app.session import SearchSession
from workbench.methods.context import StepContext
from workbench.methods.covidnet3d import CPU_SCALE, StraightThroughGumbel
from workbench.spaces import Choices, get_space
from workbench.spaces.volume import GROUP, inherit_path_weights
from workbench.tasks import Task, load_dataset

torch.set_num_threads(1)

ds = load_dataset("ct_volumes", seed=0)
space = get_space("mbconv3d")
task = Task.of(ds).info
print(space.describe())
print(f"{len(ds.x_train)} training volumes (360 for the weights, 120 for the architecture), {len(ds.x_test)} test; "
      f"shape {ds.input_shape}; classes {ds.classes}, lesion share {ds.y_train.float().mean():.2f}")
print(f"a lesion covers {100 * ds.lesion_fraction():.1f}% of a volume on average: the chance that a random voxel "
      "is inside it")
i = int(torch.nonzero(ds.kind_test == 1)[0])  # a ground-glass volume, cut through the lesion's centre
centre = tuple(int(c.float().mean().round()) for c in torch.nonzero(ds.mask_test[i], as_tuple=True))
orthogonal_slices(ds.x_test[i, 0], ds.mask_test[i], point=centre,
                  title=f"test volume {i}: the three cuts through its lesion (blue outline: the mask)").show()
"""),
    md("""
### The relaxation: one block runs, every α learns

Each cell i has logits α_i over its four candidates. One search step draws Gumbel noise G and forms

p_i = softmax((α_i + G_i) / τ),  h_i = onehot(argmax p_i),  **w_i = h_i + (p_i − stopgrad(p_i))**,

PyTorch's `gumbel_softmax(α, τ, hard=True)`. The forward value of w_i is exactly the one-hot h_i (the bracket is
exactly zero), so only the selected candidate is computed and the cell's output *is* that candidate's. The
backward sees p_i: the selected output's weight depends on every logit of the row, so **every α gets a
gradient** -- a straight-through estimator, as in GDAS. τ = 1 throughout (the code's value; it has no schedule).

**The released code's pitfall** (SEEDS_2 §6.4, found by reading the code, not by running it): CovidNet3D's
mutator converts the hard sample to a *bool* mask, and NNI 1.x then runs the selected candidate without
multiplying by the mask. The graph to α is cut: `α.grad` stays None, Adam skips α, and the "search" is uniform
single-path training whose exported architectures are random. The workbench keeps it as `gradient="released"`.
"""),
    code("""
torch.manual_seed(0)
net = space.build_supernet(task)
alpha, mask = net.alphas[GROUP], net.op_mask(GROUP)
x, y = ds.x_train[:8], ds.y_train[:8]
for gradient in ("straight_through", "released"):
    ctx = StepContext(generator=torch.Generator().manual_seed(1), model=net)
    w, active = StraightThroughGumbel(gradient=gradient)(alpha, mask, ctx)
    picks = tuple(space.blocks[j] for j in w.detach().argmax(-1).tolist())
    net.zero_grad(set_to_none=True)
    out = net(x, {GROUP: w}, {GROUP: active})
    F.cross_entropy(out, y).backward()
    grad = "None" if alpha.grad is None else "\\n    " + "\\n    ".join(
        "  ".join(f"{v:+.1e}" for v in row) for row in alpha.grad.tolist())
    print(f"{gradient}: sample {w.detach().tolist()} -> path {' | '.join(picks)}; alpha.grad {grad}")
    if gradient == "straight_through":
        arch = Choices(space.name, {GROUP: picks})
        path = space.compile(arch, task)
        path.load_state_dict(inherit_path_weights(arch, net.state_dict()))
        check(torch.equal(out, path(x)), "the supernet's output to be exactly the selected path's output")
        check(alpha.grad is not None and bool((alpha.grad != 0).all()), "every logit of every cell to get a gradient")
    else:
        check(alpha.grad is None, "no gradient to reach alpha through the released code's bool mask")
"""),
    md("""
### One live search

The step follows the paper's code (NNI's DartsTrainer): **first the architecture** -- a fresh sample, the loss
on a validation batch, an Adam step on α (betas 0.5, 0.999, weight decay 10⁻³) -- **then the weights** on a
training batch with another sample. At CPU scale (`CPU_SCALE`, SEEDS_2 §6.6): 2 warm-up epochs that train the
weights alone on uniformly sampled paths, then 6 search epochs, batch 16, arch lr 3·10⁻³. One deviation: the
paper's code trains the weights with Adam; the workbench's searcher uses momentum SGD (lr 0.05, cosine).

The dashboard's heatmap has one row per cell; the *Volumes & CAM* tab computes, on request, the CAM of the
supernet's current most likely path.
"""),
    code("""
config = SearchConfig(space="mbconv3d", method="covidnet3d", dataset="ct_volumes", seed=0, **CPU_SCALE)
session = SearchSession(config)
dash = dashboard(session)
display(dash)
t0 = time.perf_counter()
session.run()
session.wait()
search, history = session.searcher, session.history
print(f"search: {search.total_steps} steps in {time.perf_counter() - t0:.0f} s")
probs = search.probabilities()[GROUP]
for row, p in zip(space.choice_groups()[0].rows, probs):
    print(f"  {row:12s}", "  ".join(f"{b} {v:.3f}" for b, v in zip(space.blocks, p)))
arch = search.genotype()
print("derived path:", space.label(arch))
reached = history.scalar("alpha_grad_reached")
warm = 2 * search.steps_per_epoch
check(np.all(reached[warm:] == 1.0), "autograd to reach every alpha at every search step", got=reached[warm:].min())
check(np.abs(probs - 0.25).max() < 0.1, "the probabilities to stay within 0.1 of uniform (alpha barely moves at "
      "this budget, as in the spec's pilot)", got=np.round(probs, 3))
"""),
    md("""
Two things to notice. α moved, but only by a few points around 1/4: 23 arch steps per epoch at lr 3·10⁻³ cannot
separate candidates whose supernet losses differ by little, so the argmax that derives the path is close to a
coin toss in the early cells (the spec's pilot saw the same; a larger arch lr or a latency cost would make a
preference visible). The early cells' gradients were already tiny in the single step above. And the supernet's
accuracy is a poor guide: every sampled path shares the BatchNorm statistics, so the eval-mode supernet (its
argmax path) may sit anywhere between the majority rate (the spec's pilot: 0.65, exactly the majority) and the
derived network's accuracy -- the CovidNet3D README warns against reading its stochastic search's accuracy.

For contrast, the released behaviour on the same problem: a few steps without warm-up, α untouched.
"""),
    code("""
loss, metrics = search.evaluate()
share = float(search.val_data[1].float().mean())
print(f"eval-mode supernet on the architecture half: accuracy {metrics['accuracy']:.3f} (always answering the "
      f"majority class: {max(share, 1 - share):.3f})")
released = Searcher(config.replace(method_options={"gradient": "released", "warmup_epochs": 0}))
before = released.alphas()[GROUP]
events = released.run(5)
check(np.array_equal(before, released.alphas()[GROUP]) and all(e.extras["alpha_grad_reached"] == 0 for e in events),
      "the released mode to leave alpha exactly at its initial values", got=released.alphas()[GROUP])
print("released mode after 5 steps: alpha unchanged; its 'derived' path is the argmax of the initial noise:",
      released.space.label(released.genotype()))
"""),
    md("""
### Fine-tune the derived path

The derived network is compiled by the space (`space.compile(arch, task)`: stem, each cell's calibration and
chosen block, pool, linear), starts from the supernet's weights for that path, and trains 4 epochs on all 480
training volumes (momentum SGD, cosine lr). The test volumes were never seen by the search or the fine-tune.
"""),
    code("""
derived = space.compile(arch, task)
derived.load_state_dict(inherit_path_weights(arch, search.model.state_dict()))
t0 = time.perf_counter()
result = train_network(derived, ds, epochs=4, batch_size=16, lr=0.05, weight_decay=5e-4, seed=0)
print(f"fine-tuned {space.label(arch)} in {time.perf_counter() - t0:.0f} s: test accuracy "
      f"{result['test_accuracy']:.3f} on {len(ds.y_test)} volumes")
check(result["test_accuracy"] >= 0.85, "the derived 3-D network to reach a test accuracy of at least 0.85",
      got=round(result["test_accuracy"], 3))
"""),
    md("""
### Class activation maps

The head is a global average pool then a linear layer, so for features F (C × d × h × w) and the lesion class's
weights w₁ and bias b₁,

logit₁ = w₁ · mean(F) + b₁ = **mean(CAM₁) + b₁**, with CAM₁ = Σ_k w₁[k] F_k,

the logit spread over the voxels. The map is 8 × 6 × 6 here; it is upsampled trilinearly to the volume and
scaled to [0, 1] by (cam − min)/(max − min). (The released code divides by max, swaps height and width when it
resizes, and hooks a layer name its network does not have -- SEEDS_2 §6.4.) Is it looking at the lesion? Over the
lesion volumes the network classifies correctly, count how often the map's **peak voxel** lies inside the lesion
mask, and compare with a random voxel (the lesion's share of the volume).
"""),
    code("""
feats = derived.eval().features(ds.x_test[:4])
raw = class_activation_map(feats, derived.classifier.weight, 1)
with torch.no_grad():
    check_close(raw.flatten(1).mean(1) + derived.classifier.bias[1], derived(ds.x_test[:4])[:, 1], rtol=1e-5,
                atol=1e-5, expected="mean(CAM) + bias to equal the lesion logit")
loc = cam_localisation(derived, ds.x_test, ds.y_test, ds.mask_test)
loc2 = cam_localisation(derived, ds.x_test, ds.y_test, ds.mask_test, dilate=2)
print(f"CAM peak inside the lesion: {loc.rate:.1%} of {loc.n} correctly classified lesion volumes; a random voxel "
      f"{loc.chance:.1%} ({loc.ratio:.0f}x)")
print(f"with the mask grown by 2 voxels: {loc2.rate:.1%} vs {loc2.chance:.1%} ({loc2.ratio:.1f}x)")
check(loc.rate >= 3 * loc.chance, "the CAM peak to fall inside the lesion at least 3x as often as a random voxel",
      got=(round(loc.rate, 3), round(loc.chance, 3)))
"""),
    md("""
The slice viewer shows them: pick a volume, a cut (axial, coronal, sagittal) and a slice; the blue line is the
lesion mask, the warm overlay the CAM; *CAM peak* jumps to the slice of the map's maximum. Below it, the three
cuts through the peak of one volume, as a static figure.
"""),
    code("""
shown = loc.index[:8]
cams = volume_cams(derived, ds.x_test[shown], 1).cams
kinds = ("normal", "ground-glass", "consolidation")
names = [f"test {int(j)}: {kinds[int(ds.kind_test[j])]}, peak {'in' if h else 'outside'} the lesion"
         for j, h in zip(shown, loc.hits[:8])]
viewer = VolumeSliceViewer(ds.x_test[shown], ds.mask_test[shown], cams, names=names)
viewer.to_peak()
display(viewer)
orthogonal_slices(ds.x_test[shown[0], 0], ds.mask_test[shown[0]], cams[0],
                  title=f"{names[0]} -- the cuts through the CAM peak (green cross)").show()
"""),
    md("""
**What reproduced here, and what did not** (seed 0; the spec's pilot in brackets, SEEDS_2 §6.7):

* *Searched 3-D networks classify the scans well* -- reproduced in kind: the fine-tuned derived path scores
  0.99-1.0 test accuracy on the synthetic volumes [pilot 0.942]. The data is much easier than real CT.
* *CAM shows where the evidence is* -- reproduced: the map's peak lies inside the lesion for about three in four
  correctly classified lesion volumes (76%), over 20 times a random voxel's rate (2.9%); allowing 2 voxels of
  slack, 94% against 14% [pilot, 2 voxels: 96.2% vs 17.6%]. The map is coarse (8 × 6 × 6 features): it finds the
  lesion, it does not outline it.
* *Gumbel-softmax DNAS finds the architecture* -- **not** shown at this scale: α stayed within a few points of
  uniform, so which blocks were derived is largely chance (do not read the derived path as a finding).
* *Smaller and more accurate than ResNet3D/DenseNet3D/MC3 baselines* -- not tested (no baselines here).
* *As released, no gradient reaches α* -- reproduced by construction from the code reading (bool mask, no
  multiplication); not run against the original code (NNI 1.3, torch 1.2).
"""),
]

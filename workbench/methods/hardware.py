"""Hardware-aware DNAS on a chain space: FBNet here, and the family's entry point (ProxylessNAS in
:mod:`workbench.methods.proxyless`, Single-Path NAS in :mod:`workbench.methods.single_path`).

* ``fbnet`` (Wu et al., CVPR 2019, Eq. 5; ALGORITHMS.md §7.3, SEEDS_2.md §4.2):
  a soft Gumbel-softmax sample m = softmax((theta + G) / tau) mixes *every*
  candidate of a layer (the sample is soft: every path runs, which is why
  memory grows with the candidates); the architecture loss is
  ``alpha * CE * log(LAT)^beta`` with LAT = sum_layers sum_i m_i LAT(layer, i)
  under the same sample (``form="paper"``), or the third-party code's
  ``alpha * beta * CE * log(LAT)`` (``form="log_power"``: log(LAT^beta)). The
  paper's notation is ambiguous about where the exponent goes; the default is
  the paper's literal form, log(LAT)^beta, and log(LAT) must then be > 0
  (LAT > 1 in the cost's unit) -- a table in ms for a phone satisfies this; for
  other units pass ``reference`` (LAT is divided by it inside the log, as
  ProxylessNAS's 'mul#log' does). tau = tau0 * exp(-0.045 t) with t the
  epochs since architecture updates began (5.0, 4.78, 3.1881, 0.1366 at t =
  0, 1, 10, 80; Appendix A), weights only for ``warmup_epochs`` (10 in the
  code); the weight step comes first (FBNet trains w, then theta).
  Deviation: the reference alternates whole epochs (w on 80% of the data,
  theta on 20%); here the two updates alternate per step on the search split.
  FBNet has no budget; the workbench's ``budget`` option adds the additive
  hinge ``budget_weight * max(E_p[LAT] - budget, 0)`` (E under softmax(theta))
  to the architecture loss.
* ``proxylessnas`` (Cai et al., ICLR 2019): binary gates, the BinaryConnect
  style estimator, modes full / full_v2 / two, losses add / mul#log
  (:mod:`workbench.methods.proxyless`).
* ``single-path`` (Stamoulis et al., 2019): one superkernel per layer, learned
  thresholds, the runtime model (:mod:`workbench.methods.single_path`).

Deriving with a budget (all three; a deviation from the papers, which derive by argmax -- Single-Path by its
hard indicators): ``derive="budget"``, the default when a ``budget`` is set, derives the most probable
architecture (max sum_l log p_l) whose table cost lies in [(1 - ``budget_tol``) budget, budget]
(:mod:`workbench.spaces.chain.budget`, an exact dynamic programme over the additive table). The budget terms
act on E_p[LAT] (Single-Path: on its hard architecture), and at CPU scale the rows stay soft, so the argmax of
each row is a cheap block and the argmax architecture falls far below the budget (bench_hardware: -73% in 3/3
seeds for FBNet and ProxylessNAS); the budget rule reads the budget as a target, as MnasNet's and TuNAS's target
latency does. ``derive="paper"`` restores the argmax. The rule is resolved from the built supernet
(the ``model_rule`` slot) and recorded as text, so histories and run folders re-derive the same way.

Default size: ``search_defaults`` (the command line's defaults where no flag is given) are 5 epochs with arch
lr 0.03 for FBNet (every candidate runs each step), 15 epochs with arch lr 0.03 and weight lr 0.1 for ProxylessNAS
(one path per step: its supernet needs more steps, and a larger weight step -- measured at seed 2: supernet
accuracy 82% after 15 epochs at lr 0.1, 44% at 0.025) and 10 epochs for Single-Path (thresholds at its own
``threshold_lr``), each keeping at most ``CPU_DATA_LIMIT`` = 1436 training images (digits' whole training set,
so digits is unchanged; Fashion-MNIST's 60,000 are cut to 1436, stratified and seeded; the test set stays whole).
On 28x28 inputs the chain space's stem has stride 4 by itself
(:meth:`~workbench.spaces.chain.space.ChainSpace.stem_stride_for`: the searched layers see 7x7, 4x4, 2x2 maps,
as digits' 8x8, 4x4, 2x2), so a Fashion-MNIST search costs about what a digits one does: each whole command under a minute on digits and on Fashion-MNIST on this 2-core machine
(``benchmarks/bench_hardware.py --skip sweep,budget,memory,kernel --datasets digits,fashion_mnist``). The
command line applies ``search_defaults`` where no flag names a field (``--paper-defaults``: the papers' settings
instead); in Python (and the dashboard, which takes the config) the same size is
``cpu_scale_config(SearchConfig(space="chain", method=m, dataset=d))`` (:func:`~workbench.methods.cpu_scale_config`)
-- a bare ``SearchConfig`` keeps its own defaults (50 epochs, all images).

All take a :class:`~workbench.methods.costs.CostModel` over the chain's
choice group as the ``cost`` option, or a name built from the searcher's space
(``"params"`` -- the default, so a search runs without a table --,
``"flops"``, a latency table's name or path; :mod:`workbench.methods.space_costs`).
Importing this module registers all three.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import torch

from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.costs import CostModel
from workbench.methods.hardware_options import FBNET_FORMS, FbnetTau, check_epochs, check_number  # noqa: F401 - re-exported (defined torch-free)
from workbench.methods.presets import Method, darts_v1, preset
from workbench.methods.proxyless import (  # noqa: F401  (the family's names, importable from here)
    BinaryGates,
    PairRescaleAdam,
    ProxylessGradient,
    binary_gate_gradient,
    proxylessnas,
    sample_one_hot,
    sample_pairs,
)
from workbench.methods.relax import GumbelSoft
from workbench.methods.space_costs import (  # noqa: F401
    CostFromSpace,
    SpaceCostTerm,
    arch_params_slot,
    bind_cost,
    cost_name,
    cost_spec,
    cost_term,
    derive_rule,
)


def fbnet_gradient(ctx: StepContext, *, cost: CostModel, alpha: float = 0.2, beta: float = 0.6,
                   form: str = "paper", reference: float = 1.0) -> ArchGradResult:
    """Gradient of FBNet's multiplicative loss alpha * CE * log(LAT / reference)^beta under one soft sample."""
    model = ctx.model
    assert ctx.batch_v is not None
    xv, yv = ctx.batch_v
    weights, active = ctx.mixing_weights()
    out = model(xv, weights, active)
    ce = ctx.loss(out, yv)
    lat = cost.expected({g: w for g, w in weights.items() if g in cost.costs})
    log_lat = torch.log(lat / reference)
    if form == "paper":
        if not float(log_lat.detach()) > 0:
            raise ValueError(f"FBNet's paper loss needs log(LAT / reference) > 0, but LAT = {float(lat.detach()):.4g} "
                             f"{cost.unit} with reference {reference}; pass a smaller reference (e.g. the cheapest "
                             f"architecture's {cost.minimum():.4g}) or form='log_power'")
        loss = alpha * ce * log_lat ** beta
    else:
        loss = alpha * beta * ce * log_lat
    raw = torch.autograd.grad(loss, list(ctx.arch_params), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(raw, ctx.arch_params, strict=True)]
    return ArchGradResult(grads, ce.detach(), out.detach(),
                          {"expected_cost": float(lat.detach()), "fbnet_loss": float(loss.detach())})


@preset("fbnet")
def fbnet(o: dict[str, Any]) -> Method:
    """FBNet; ``warmup_epochs`` (weights only) is 10 in the code, 2 by default at CPU scale. ``derive``:
    ``"paper"`` (argmax) or ``"budget"`` (the most probable architecture in [(1 - budget_tol) budget, budget];
    the default when a budget is set; :mod:`workbench.spaces.chain.budget`). Options checked, paper's and CPU-scale
    settings: :func:`workbench.methods.hardware_options.fbnet`."""
    source = cost_spec(o["cost"])
    budget = o["budget"]
    decoder = derive_rule(o["derive"], source, budget, o["budget_tol"], "fbnet")
    ref = 1.0 if o["reference"] is None else float(o["reference"])
    est = bind_cost(partial(fbnet_gradient, alpha=float(o["alpha"]), beta=float(o["beta"]), form=o["form"],
                            reference=ref), source)
    terms: tuple[Any, ...] = () if budget is None else (cost_term(source, float(o["budget_weight"]), budget,
                                                                  name="budget_term"),)
    tau = FbnetTau(o["tau0"], o["tau_decay"], o["warmup_epochs"])
    return replace(darts_v1(), name="fbnet", spaces=("chain",), relaxation=GumbelSoft(tau),
                   arch_gradient=est, arch_loss_terms=terms, order="weight_first",
                   arch_start_epoch=o["warmup_epochs"], arch_parameters=arch_params_slot(source, budget),
                   model_rule=decoder, options={**o, "cost": cost_name(source)})

# the rest of the family registers where it is defined
from workbench.methods import single_path  # noqa: E402,F401

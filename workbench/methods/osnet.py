"""OSNet-AIN's search of instance-normalisation placement: non-negative weights, a concrete relaxation with a
stepped temperature, one SGD over everything (Zhou, Yang, Cavallaro, Xiang, TPAMI 2021, arXiv 1910.06827;
`KaiyangZhou/deep-person-reid: projects/OSNet_AIN/{softmax_nas.py, osnet_search.py, main.py, nas.yaml}`;
SEEDS_2 §5.3-5.4).

**Relaxation** (:class:`NonNegativeConcrete`), per block, every forward:

    logits = log(relu(w) + 1e-12) + G,   G ~ Gumbel(0, 1)
    p      = softmax(logits / lambda)     (the code: exp(logits/lambda) / (sum + 1e-12); equal up to that 1e-12)
    output = sum_k p_k * block_k(x)       (a *soft* sample: all four candidates run every forward)

so the argmax of logits follows relu(w) / sum relu(w) (the Gumbel-max property with log-weights), and a
candidate with w <= 0 has logit log(1e-12) ~ -27.6 and **zero gradient through the ReLU: it is dead for good**
(while lambda is large it still mixes into the forward: at lambda = 10 its weight is about e^-2.76 ~ 6% of a live
one's). Noise comes from the searcher's seeded generator (a resumed search draws the same). In evaluation the
relaxation is deterministic: softmax(log(relu(w) + 1e-12) / lambda) without noise (the official code keeps
sampling at test time, which its README calls "not meaningful").

**Temperature** (:class:`OsnetLambda`): lambda_e = max(lambda_min, lambda_init * rate^floor(e / step)); the code's
nas.yaml has 10, 0.5, 20, 1 (10 for epochs 0-19, 5, 2.5, 1.25, then 1 from epoch 80). The preset's default step
is 5, SEEDS_2 §5.6's CPU scale for a 30-epoch search; ``lambda_step <= 0`` keeps lambda at lambda_init (the
code's ``lmda_decay_step = -1``).

**Optimisation: single level, one SGD, as composed from the searcher's slots.** The code updates w with the
same SGD (lr, momentum 0.9, weight decay 5e-4, cosine schedule) as the weights, on the same training batch, with
no validation split. Here:

* ``arch_gradient`` = :func:`~workbench.methods.arch_grad.single_level`: dL_train/dw on the *training* batch
  (use ``train_portion=1.0``: there is no held-out architecture half; the "validation" values the searcher
  reports then come from another training batch);
* ``arch_optimizer`` = :class:`SharedSGD`: SGD with the config's lr, momentum and weight decay -- **weight decay
  acts on w** (SEEDS_2 §5.4: it pulls every w toward 0; one pushed below 0 is dead);
* ``driver`` = :class:`FollowWeightLr`: after every step the w optimizer's lr is set to the searcher's lr for the
  next step, so w follows the weights' cosine schedule as in one optimizer;
* ``supernet_settings`` = ``nonneg_weights=True, w_init=1``: the space's parameterisation (w initialised to ones,
  decoded and drawn as relu(w) / sum; :mod:`workbench.spaces.norm`). Spaces without that setting refuse the
  method, naming ``norm_placement``.

Deviations: the code takes one joint step from one forward-backward; here the w step (on the training batch,
one sample) comes first and the weight step follows on the same batch with a fresh sample (2 passes per step,
plus the searcher's no-grad "validation" forward). The weight step clips its gradient norm at the config's
``grad_clip`` (the code does not clip: :func:`cpu_config` sets 0). ``mc_iter`` (repeated steps per batch) is
not offered. The code's label-smoothed CE is the objective ``cross_entropy_ls`` (epsilon 0.1), registered here.
Derivation: the argmax per block of relu(w) / sum (= of the raw w, as ``build_child_graph``, while a candidate is
alive); retraining and scoring the derived network on the unseen style: :mod:`workbench.methods.osnet_eval`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.methods import arch_grad
from workbench.methods.context import StepContext
from workbench.methods.noise import gumbel
from workbench.methods.presets import Method, darts_v1, preset
from workbench.spaces.base import host_mask
from workbench.tasks.objectives import OBJECTIVES, Objective, _accuracy

NAME = "osnet-ain"
#: the clamp inside the log: log(relu(w) + EPS) (the code's 1e-12)
EPS = 1e-12
#: the spaces the preset is built for
SPACES = ("norm_placement", "norm_placement_stem")

__all__ = ["EPS", "NAME", "FollowWeightLr", "NonNegativeConcrete", "OsnetLambda", "SharedSGD", "concrete_weights",
           "cpu_config", "osnet_ain"]


@dataclass(frozen=True)
class OsnetLambda:
    """lambda_e = max(lambda_min, lambda_init * rate ** (e // step)); ``step <= 0``: always lambda_init."""

    init: float = 10.0
    rate: float = 0.5
    step: int = 20
    min: float = 1.0

    def __post_init__(self) -> None:
        if not (self.init > 0 and 0 < self.rate <= 1 and 0 < self.min <= self.init):
            raise ValueError(f"OSNet temperature needs init > 0, 0 < rate <= 1 and 0 < min <= init; got {self}")

    def __call__(self, epoch: int, epochs: int = 0) -> float:
        if self.step <= 0:
            return float(self.init)
        return max(float(self.min), float(self.init) * float(self.rate) ** (int(epoch) // int(self.step)))

    def vector(self, epochs: list[int] | range) -> list[float]:
        """lambda at each of ``epochs`` (the temperature schedule as a list)."""
        return [self(e) for e in epochs]


def concrete_weights(w: Tensor, tau: float, noise: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """softmax((log(relu(w) + EPS) + noise) / tau) over the last axis; masked-off options get exactly 0."""
    logits = torch.log(torch.relu(w) + EPS)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    if noise is not None:
        logits = logits + noise
    return torch.softmax(logits / tau, dim=-1)


@dataclass(frozen=True)
class NonNegativeConcrete:
    """OSNet-AIN's relaxation (module docstring): a soft concrete sample with log-weights log(relu(w))."""

    tau: Any = OsnetLambda()

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        tau = float(self.tau(ctx.epoch, ctx.epochs))
        if not tau > 0:
            raise ValueError(f"OSNet-AIN temperature must be > 0, got {tau} at epoch {ctx.epoch}")
        noise = ctx.draw(alpha.shape, gumbel, alpha) if ctx.training else None
        return concrete_weights(alpha, tau, noise, mask), host_mask(mask)


@dataclass(frozen=True)
class SharedSGD:
    """The ``arch_optimizer`` slot: SGD on w with the weights' lr, momentum and weight decay (one optimizer)."""

    def __call__(self, params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


@dataclass(frozen=True)
class FollowWeightLr:
    """The ``driver`` slot: after each step, the w optimizer's lr becomes the searcher's lr for the next step
    (the weights' schedule), so w and the weights move as under one optimizer. Stateless; the lr itself is in
    the optimizer's state, saved and resumed with it."""

    def __call__(self, searcher: Any) -> FollowWeightLr:
        return self

    def after_step(self, searcher: Any, event: Any) -> None:
        lr = searcher.lr()
        for g in searcher.arch_optimizer.param_groups:
            g["lr"] = lr


def _ls_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, label_smoothing=0.1)


if "cross_entropy_ls" not in OBJECTIVES:
    OBJECTIVES.register("cross_entropy_ls", Objective("cross_entropy_ls", _ls_cross_entropy, _accuracy,
                                                      ("accuracy",), "accuracy", True))


@preset(NAME)
def osnet_ain(o: dict[str, Any]) -> Method:
    """OSNet-AIN's search; ``lambda_step`` is 20 in the code (120 epochs), 5 at CPU scale (30 epochs). Options
    checked, and the paper's settings, in :func:`workbench.methods.family_options.osnet_ain`."""
    tau = OsnetLambda(o["lambda_init"], o["lambda_rate"], o["lambda_step"], o["lambda_min"])
    return replace(darts_v1(), name=NAME, spaces=SPACES, relaxation=NonNegativeConcrete(tau),
                   arch_gradient=partial(arch_grad.single_level, max_norm=None), arch_optimizer=SharedSGD(),
                   driver=FollowWeightLr(), supernet_settings={"nonneg_weights": True, "w_init": o["w_init"]},
                   options=o)


#: SEEDS_2 §5.7's CPU-scale search (the pilot): 30 epochs, SGD lr 0.05 cosine to 0, momentum 0.9, weight decay
#: 5e-4 on everything, label smoothing 0.1, batch 64, 1200 training digits, no gradient clipping, single level
CPU_SETTINGS: dict[str, Any] = {
    "space": "norm_placement", "method": NAME, "dataset": "digits_styles", "epochs": 30, "batch_size": 64,
    "lr": 0.05, "lr_min": 0.0, "momentum": 0.9, "weight_decay": 5e-4, "grad_clip": 0.0, "train_portion": 1.0,
    "objective": "cross_entropy_ls", "data_limit": 1200, "seed": 0, "eval_each_epoch": False}


def cpu_config(**overrides: Any) -> Any:
    """A :class:`~workbench.search.SearchConfig` with :data:`CPU_SETTINGS` and ``overrides``."""
    from workbench.search import SearchConfig
    return SearchConfig(**{**CPU_SETTINGS, **overrides})


"""GTN: generative teaching networks as a method of the one search step (Such, Rawal, Lehman, Stanley, Clune;
ICML 2020; arXiv 1912.07768; SEEDS_2 §9).

A generator of synthetic data and a learned curriculum (plus one learned inner lr and momentum per step) are
meta-trained so that a *freshly initialised* learner trained for T steps on them does well on real data.
The meta-gradient differentiates through the whole unrolled inner training (§9.2):

    theta_0 ~ init (a new draw every meta-iteration; hidden width h drawn from ``widths``: randomize_width),
    theta_{t+1} = theta_t - eta_t m_{t+1},  m_{t+1} = mu_t m_t + grad L_inner(theta_t; x_t = G(z_t, l_t), y_t),
    L_meta = CE(f(theta_T; x_real), y_real) [+ sum_{t in S} CE(f(theta_t; x_real), y_real)],
    d L_meta / d(generator, z, log eta, log mu [, label logits]).

**How it is composed** (no new loop; no flags on DARTS code): the ``gtn`` space
(:mod:`workbench.spaces.gtn_teacher`) is a supernet whose *architecture parameters* are the teacher, so the
searcher's architecture step is the meta-step:

* ``arch_gradient`` = :class:`MetaGradient`: draws a fresh learner, unrolls T inner steps on the generated
  curriculum with ``create_graph=True`` (:mod:`workbench.gtn.inner`), takes the meta-loss on the step's
  architecture batch (real data, ``ctx.batch_v``: the meta batch, 128 in §9.4 -- set ``batch_size=128``), and
  returns its gradient for every teacher parameter. It then re-teaches the supernet's *taught learner* (a
  fresh width-``learner_width`` learner, no meta-gradient) in place, so the step's evaluation and the
  dashboard's curves report what the teacher teaches;
* ``arch_optimizer`` = Adam(``meta_lr`` = 1e-2, betas (0.9, 0.999), no weight decay) -- the pilot's; the
  official cosine decay to 0.1x over the meta-iterations is not applied (the engine has no arch-lr schedule
  slot; the pilot did without);
* ``relaxation`` = :class:`SoftLabels`, the softmax of the label logits: the soft labels of the synthetic
  examples. It is its own class, not :class:`~workbench.methods.relax.Softmax`, so that on CUDA the step is
  never captured as a graph (:func:`workbench.cuda_graphs.capture_blocker` captures only deterministic
  relaxations): every GTN step draws a new learner -- width and initialisation -- from the host generator,
  which a replayed graph would freeze;
* ``trains_weights`` = False: GTN has no weights that persist across meta-iterations (every learner is new), so
  the searcher's weight step has nothing to train: it evaluates a real training batch (no backward, no optimizer
  step) and reports the taught learner's training loss and accuracy; ``lr_schedule`` = 0 says so on the curves.

``paper_defaults`` (applied by :func:`~workbench.methods.paper_config` on request) are the CPU pilot's:
``digits_std`` (:mod:`workbench.gtn.data`), 25 epochs of meta batch 128 (150 meta-iterations on the 718-example
arch half).

Options: ``widths`` (the hidden widths a meta-iteration's learner is drawn from; (64,) fixes it),
``intermediate_every`` (k > 0 adds the meta-loss at every k-th theta_t, t >= 1 -- the paper's MNIST setting
is 1; the pilot, 0), ``meta_lr``, and the teacher settings ``learn_labels`` and ``reverse`` (passed to the
space as supernet settings). Extras per step: ``learner_width``, ``inner_lr_t<t>`` and
``inner_momentum_t<t>`` for every inner step t.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.gtn.learner import LearnerArch, learner_forward
from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.presets import Method, darts_v1, preset
from workbench.spaces.base import host_mask, masked_softmax

__all__ = ["MetaAdam", "MetaGradient", "SoftLabels", "gtn", "zero_lr"]

NAME = "gtn"


def zero_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """The weight step's lr: 0 (every GTN learner is freshly initialised; nothing persists to be trained)."""
    return 0.0


@dataclass(frozen=True)
class MetaAdam:
    """The meta-optimiser: Adam(lr, betas (0.9, 0.999)), no weight decay (SEEDS_2 §9.4)."""

    lr: float = 1e-2

    def __call__(self, params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999))


@dataclass(frozen=True)
class SoftLabels:
    """The relaxation: soft labels = softmax of the label logits over the enabled classes (see the module
    docstring for why this is not :class:`~workbench.methods.relax.Softmax` itself)."""

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        return masked_softmax(alpha, mask), host_mask(mask)


@dataclass(frozen=True)
class MetaGradient:
    """The arch-gradient slot: GTN's meta-gradient through a freshly initialised learner's unrolled training."""

    widths: tuple[int, ...] = (32, 64, 128)
    intermediate_every: int = 0

    def __call__(self, ctx: StepContext) -> ArchGradResult:
        teacher = ctx.model
        if not hasattr(teacher, "teach") or not hasattr(teacher, "curriculum"):
            raise TypeError(f"method {NAME!r} needs the teacher supernet of the 'gtn' space "
                            f"(workbench.spaces.gtn_teacher); got {type(teacher).__name__}")
        soft_labels = ctx.mixing_weights()[0]["labels"]
        i = int(torch.randint(len(self.widths), (1,), generator=ctx.generator))
        arch = LearnerArch((self.widths[i],))
        trajectory = teacher.teach(teacher.fresh_learner(arch, ctx.generator), arch, soft_labels, create_graph=True)
        assert ctx.batch_v is not None
        xv, yv = ctx.batch_v
        out = learner_forward(arch, trajectory[-1], xv)
        meta = ctx.loss(out, yv)
        total = meta
        if self.intermediate_every:
            for t in range(self.intermediate_every, len(trajectory) - 1, self.intermediate_every):
                total = total + ctx.loss(learner_forward(arch, trajectory[t], xv), yv)
        params = list(ctx.arch_params)
        raw = torch.autograd.grad(total, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(raw, params, strict=True)]
        teacher.teach_learner_(ctx.generator)  # the weights: what this teacher teaches a fresh learner
        extras: dict[str, Any] = {"learner_width": float(arch.hidden[0])}
        with torch.no_grad():
            for t, (lr, mu) in enumerate(zip(teacher.inner_lrs(), teacher.inner_momenta(), strict=True)):
                extras[f"inner_lr_t{t}"] = lr.detach()
                extras[f"inner_momentum_t{t}"] = mu.detach()
        return ArchGradResult(grads, meta.detach(), out.detach(), extras)


@preset(NAME)
def gtn(o: dict[str, Any]) -> Method:
    """GTN on the ``gtn`` space (see the module docstring); options checked, and the pilot's settings, in
    :func:`workbench.methods.family_options.gtn`."""
    return replace(darts_v1(), name=NAME, arch_gradient=MetaGradient(o["widths"], o["intermediate_every"]),
                   arch_optimizer=MetaAdam(o["meta_lr"]), relaxation=SoftLabels(), lr_schedule=zero_lr,
                   weight_decay=None, trains_weights=False,
                   supernet_settings={"learn_labels": o["learn_labels"], "reverse": o["reverse"]}, spaces=("gtn",),
                   options=o)

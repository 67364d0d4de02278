"""Plain training of a functional learner on given batches (no meta-gradient), and its accuracy.

What GTN does with a teacher once it is meta-trained (Such et al., ICML 2020, arXiv 1912.07768): train fresh
learners on the synthetic curriculum with the learned per-step lr and momentum, and -- the baselines -- train
the same learners on real batches with a fixed lr and momentum. Both are the momentum SGD of
:mod:`workbench.gtn.inner` (m <- mu_t m + g; theta <- theta - eta_t m) run without a graph; the loss is the
cross-entropy with hard labels (int64) or the soft-label cross-entropy with probability vectors (float).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.gtn.generator import soft_cross_entropy
from workbench.gtn.inner import unroll
from workbench.gtn.learner import LearnerArch, learner_forward

__all__ = ["accuracy", "classification_loss", "real_batches", "train_on_batches", "train_on_real"]

Params = dict[str, Tensor]
Data = tuple[Tensor, Tensor]


def classification_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy for int labels (N,), soft-label cross-entropy for probability vectors (N, C)."""
    return soft_cross_entropy(logits, y) if y.is_floating_point() else F.cross_entropy(logits, y)


@torch.no_grad()
def accuracy(arch: LearnerArch, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy of the learner on (x, y)."""
    return float((learner_forward(arch, params, x).argmax(1) == y).double().mean())


def train_on_batches(arch: LearnerArch, params: Mapping[str, Tensor], batches: Sequence[Data], lrs: Tensor,
                     momenta: Tensor) -> Params:
    """Momentum SGD with per-step ``lrs``/``momenta`` on ``batches[t]`` for t < len(lrs); the final parameters."""
    if len(batches) < len(lrs):
        raise ValueError(f"train_on_batches: {len(lrs)} steps but only {len(batches)} batches")

    def loss(t: int, theta: Params) -> Tensor:
        x, y = batches[t]
        return classification_loss(learner_forward(arch, theta, x), y)

    traj = unroll(params, loss, lrs.detach(), momenta.detach(), create_graph=False)
    return {k: v.detach() for k, v in traj[-1].items()}


def real_batches(n: int, steps: int, batch: int, generator: torch.Generator) -> Tensor:
    """(steps, batch) indices into n examples: each step a uniformly random batch without repeats."""
    if batch > n:
        raise ValueError(f"real_batches: batch {batch} is larger than the {n} examples available")
    if steps == 0:
        return torch.empty(0, batch, dtype=torch.int64)
    return torch.stack([torch.randperm(n, generator=generator)[:batch] for _ in range(steps)])


def train_on_real(arch: LearnerArch, params: Mapping[str, Tensor], train: Data, batches: Tensor, lr: float,
                  momentum: float) -> Params:
    """Momentum SGD at a fixed ``lr`` and ``momentum`` on the real batches ``train[batches[t]]``."""
    x, y = train
    steps = int(batches.shape[0])
    dtype = next(iter(params.values())).dtype
    data = [(x[i], y[i]) for i in batches]
    return train_on_batches(arch, params, data, torch.full((steps,), float(lr), dtype=dtype),
                            torch.full((steps,), float(momentum), dtype=dtype))

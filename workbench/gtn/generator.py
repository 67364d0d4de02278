"""GTN's generator and learned curriculum: the synthetic batch a learner sees at each inner step.

Such et al. (ICML 2020, arXiv 1912.07768), the official ``cgtn`` generator type (SEEDS_2 §9.2), at CPU scale
(§9.4):

* **curriculum**: a *learned* noise tensor z[t, b, :] (T inner steps x B examples x ``z_dim``), one batch per
  inner step, with labels spread evenly over the classes: label(t, b) = (t * B + b) mod C. The curriculum is
  indexed by step; ``reverse=True`` reads it backwards (step t uses batch T - 1 - t, labels included), the
  official ``training_schedule_backwards`` flag, whose ``main()`` default (True) both configs override (§9.3):
  the direction is always explicit here;
* **generator**: x = s * tanh(MLP([z, onehot(label)])), an MLP ``z_dim + C -> hidden -> n_pixels`` with
  LeakyReLU(0.1) between, ``s`` = ``out_scale`` (3 at CPU scale, to reach the range of standardised digits;
  the official conv generator uses BatchNorm, weight norm and s = 2).

The batch's labels are soft: y[t, b] is a probability vector. With fixed labels it is the one-hot of
label(t, b) (up to 1e-6, see the teacher space); with ``learn_labels`` it is a softmax of learned logits (the
official ``meta_learn_labels``). The inner loss is the soft-label cross-entropy
``-sum(y * log_softmax(f(x))) / B`` (:func:`soft_cross_entropy`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Curriculum", "Generator", "curriculum_labels", "soft_cross_entropy"]


def curriculum_labels(steps: int, batch: int, n_classes: int) -> Tensor:
    """The fixed labels of the curriculum, (steps, batch) int64: label(t, b) = (t * batch + b) mod n_classes."""
    return (torch.arange(steps * batch) % n_classes).view(steps, batch)


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """-sum(target * log_softmax(logits)) / B (target: probability vectors, one per example)."""
    return -(target * F.log_softmax(logits, dim=1)).sum() / logits.shape[0]


class Generator(nn.Module):
    """x = out_scale * tanh(W2 LeakyReLU(W1 [z, onehot(y)])), reshaped to one example's shape."""

    def __init__(self, z_dim: int, n_classes: int, out_shape: tuple[int, ...], hidden: int = 128,
                 out_scale: float = 3.0) -> None:
        super().__init__()
        self.z_dim, self.n_classes, self.out_shape, self.out_scale = z_dim, n_classes, tuple(out_shape), out_scale
        n_out = 1
        for d in self.out_shape:
            n_out *= int(d)
        self.hidden = nn.Linear(z_dim + n_classes, hidden)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """``z`` (N, z_dim) and ``labels`` (N,) int64 or (N, C) probabilities -> examples (N, *out_shape)."""
        y = F.one_hot(labels, self.n_classes).to(z.dtype) if labels.ndim == 1 else labels.to(z.dtype)
        h = F.leaky_relu(self.hidden(torch.cat([z, y], dim=1)), 0.1)
        return (self.out_scale * torch.tanh(self.out(h))).view(-1, *self.out_shape)


class Curriculum(nn.Module):
    """The learned noise z (steps x batch x z_dim, a parameter) and the fixed labels (a buffer) of every step."""

    labels: Tensor

    def __init__(self, steps: int, batch: int, z_dim: int, n_classes: int, reverse: bool = False) -> None:
        super().__init__()
        self.steps, self.batch, self.reverse = int(steps), int(batch), bool(reverse)
        self.z = nn.Parameter(torch.randn(steps, batch, z_dim))
        self.register_buffer("labels", curriculum_labels(steps, batch, n_classes))

    def index(self, t: int) -> int:
        """Which curriculum batch inner step ``t`` reads (T - 1 - t when reversed)."""
        if not 0 <= t < self.steps:
            raise IndexError(f"the curriculum has {self.steps} steps (0..{self.steps - 1}); step {t} is out of "
                             "distribution (it was never meta-trained, SEEDS_2 §9.3)")
        return self.steps - 1 - t if self.reverse else t

    def __getitem__(self, t: int) -> tuple[Tensor, Tensor]:
        """(z, labels) of inner step ``t``: (batch, z_dim) and (batch,)."""
        i = self.index(t)
        return self.z[i], self.labels[i]

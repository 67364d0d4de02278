"""GTN's learners: weight-normalised MLPs as *functional* parameters, freshly initialised for every teaching.

Generative teaching networks (Such, Rawal, Lehman, Stanley, Clune; ICML 2020; arXiv 1912.07768) train a new
learner from scratch at every meta-iteration and differentiate through its training, so a learner here is a
dict of tensors (name -> tensor) plus a pure forward function, not an ``nn.Module`` with state: the unrolled
inner loop (:mod:`workbench.gtn.inner`) produces a new dict per step, each a function of the teacher.

Weight normalisation (Salimans & Kingma 2016; the official learners' WN layers, SEEDS_2 §9.2): every linear layer
has a direction ``v`` (out x in), a gain ``g`` (out) and a bias ``b``; its weight is

    W = g[:, None] * v / ||v||_row,

with ``g`` initialised to ``||v||_row`` so that W = v at initialisation. ``v`` and ``b`` follow ``nn.Linear``'s
default (uniform in +-1/sqrt(fan_in)), drawn from an explicit ``torch.Generator``.

The CPU-scale learner (SEEDS_2 §9.4) is ``64 -> h -> 10`` with LeakyReLU(0.1); GTN-NAS's candidates
(:mod:`workbench.gtn.nas`) vary the hidden widths, the depth and the activation (:class:`LearnerArch`).
The official MNIST learner is convolutional with mean-only BatchNorm; we use no BatchNorm at all, which also
avoids that learner's pitfall (its eval-mode statistics are those of the last *synthetic* batch, §9.3).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "LearnerArch", "LearnerModule", "init_learner", "learner_forward", "wn_weight"]

ACTIVATIONS = {
    "leaky_relu": lambda h: F.leaky_relu(h, 0.1),
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}

Params = dict[str, Tensor]


@dataclass(frozen=True)
class LearnerArch:
    """A learner's shape: hidden widths (one per hidden layer, in order) and the activation between layers."""

    hidden: tuple[int, ...] = (64,)
    activation: str = "leaky_relu"

    def __post_init__(self) -> None:
        hidden = tuple(self.hidden)
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"LearnerArch.hidden={self.hidden!r} is not accepted: expected a non-empty tuple of "
                             "positive ints (one width per hidden layer)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"LearnerArch.activation={self.activation!r} is not accepted; expected one of "
                             f"{', '.join(ACTIVATIONS)}")
        object.__setattr__(self, "hidden", hidden)

    @property
    def label(self) -> str:
        """``"64x2 tanh"`` style: equal widths are written once with the depth."""
        h = self.hidden
        widths = f"{h[0]}x{len(h)}" if len(set(h)) == 1 else "-".join(map(str, h))
        return f"{widths} {self.activation}"

    def n_params(self, n_in: int, n_out: int) -> int:
        """Trainable numbers of the learner (v, g and b of every layer)."""
        dims = (n_in, *self.hidden, n_out)
        return sum(o * i + 2 * o for i, o in zip(dims, dims[1:]))


def init_learner(arch: LearnerArch, n_in: int, n_out: int, generator: torch.Generator | None = None, *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                 requires_grad: bool = True) -> Params:
    """Fresh parameters ``{"v0", "g0", "b0", "v1", ...}`` drawn from ``generator`` (on the CPU, then moved)."""
    dims = (n_in, *arch.hidden, n_out)
    params: Params = {}
    for i, (fan_in, fan_out) in enumerate(zip(dims, dims[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        v = (torch.rand(fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        params[f"v{i}"], params[f"g{i}"], params[f"b{i}"] = v, v.norm(dim=1), b
    return {k: t.to(device=device, dtype=dtype).requires_grad_(requires_grad) for k, t in params.items()}


def wn_weight(v: Tensor, g: Tensor) -> Tensor:
    """Weight normalisation: ``g[:, None] * v / ||v||_row`` (the norm of each output unit's input weights)."""
    return v * (g / v.norm(dim=1)).unsqueeze(1)


def learner_forward(arch: LearnerArch, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """Logits of the learner ``params`` on ``x`` (any shape with examples along axis 0; flattened)."""
    h = x.flatten(1)
    n = len(arch.hidden) + 1
    act = ACTIVATIONS[arch.activation]
    for i in range(n):
        h = F.linear(h, wn_weight(params[f"v{i}"], params[f"g{i}"]), params[f"b{i}"])
        if i < n - 1:
            h = act(h)
    return h


class LearnerModule(nn.Module):
    """A learner held as a module (the teacher supernet's *taught* learner): the same parameters by name as
    :func:`init_learner`, the same forward, and :meth:`load_` to copy a functional learner into it."""

    def __init__(self, arch: LearnerArch, n_in: int, n_out: int) -> None:
        super().__init__()
        self.arch, self.n_in, self.n_out = arch, n_in, n_out
        init = init_learner(arch, n_in, n_out, torch.Generator().manual_seed(0), requires_grad=False)
        self.params = nn.ParameterDict({k: nn.Parameter(t) for k, t in init.items()})

    def forward(self, x: Tensor) -> Tensor:
        return learner_forward(self.arch, dict(self.params.items()), x)

    @torch.no_grad()
    def load_(self, params: Mapping[str, Tensor]) -> None:
        """Copy a functional learner of this shape into the module's parameters (in place)."""
        for k, p in self.params.items():
            p.copy_(params[k].detach())

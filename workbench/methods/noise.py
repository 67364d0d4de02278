"""Sampling noise drawn on the host and delivered to the step's device -- also inside a CUDA graph (issue 15).

The sampling methods (SNAS's concrete sample, Xie et al. ICLR 2019; SDARTS's random smoothing, Chen & Hsieh
ICML 2020; GDAS's hard sample; OSNet-AIN's Gumbel gates) draw their noise from the searcher's *CPU*
generator, so that a seeded search draws the same numbers on every device and a resume continues the same
stream. Every such draw goes through :meth:`StepContext.draw <workbench.methods.context.StepContext.draw>`
with a *sampler* ``(shape, generator) -> float64 CPU tensor`` (:func:`gumbel`, :func:`uniform`):

* eagerly (``ctx.noise is None``), the sampler runs at once and its result moves to the device -- one small
  copy per draw, as before this module existed;
* while a step is captured as a CUDA graph (:mod:`workbench.cuda_graphs`), a :class:`NoiseRecorder` draws
  nothing: it hands out an empty device buffer that the graph's kernels read, and remembers the draw. Before
  each replay, :meth:`NoiseRecorder.refill` runs the same samplers in the same order from the same generator
  and copies their results into the buffers. So a replayed step sees exactly the noise the eager step would
  have drawn, and the generator ends where the eager step leaves it (a graphed search equals an eager one and
  resumes the same). A sampler closes over its host parameters (SDARTS's eps), which are constant within an
  epoch: graphs are re-captured when the epoch changes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

#: (shape, generator) -> a float64 CPU tensor of that shape
Sampler = Callable[[tuple[int, ...], "torch.Generator | None"], Tensor]


def gumbel(shape: tuple[int, ...], generator: torch.Generator | None, tries: int = 10) -> Tensor:
    """Standard Gumbel noise -log(E), E ~ Exp(1), float64 on the CPU; redrawn if not finite (as the references)."""
    for _ in range(tries):
        g = -torch.empty(shape, dtype=torch.float64).exponential_(generator=generator).log()
        if torch.isfinite(g).all():
            return g
    raise FloatingPointError(f"could not draw finite Gumbel noise in {tries} tries")


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, eps: float) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return (2.0 * u - 1.0) * eps


def uniform(eps: float) -> Sampler:
    """The sampler of U(-eps, eps), float64 on the CPU (SDARTS)."""
    return partial(_uniform, eps=float(eps))


def draw_now(shape: tuple[int, ...], sampler: Sampler, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """``sampler``'s draw, moved to ``like``'s device and dtype."""
    return sampler(tuple(shape), generator).to(device=like.device, dtype=like.dtype)


@dataclass
class NoiseRecorder:
    """The draws of one captured step: device buffers the graph reads, refilled from the host before a replay."""

    draws: list[tuple[tuple[int, ...], Sampler, Tensor]] = field(default_factory=list)

    def record(self, shape: tuple[int, ...], sampler: Sampler, like: Tensor) -> Tensor:
        """A buffer for this draw (filled by :meth:`refill`); nothing is drawn now."""
        buf = torch.empty(tuple(shape), device=like.device, dtype=like.dtype)
        self.draws.append((tuple(shape), sampler, buf))
        return buf

    def refill(self, generator: torch.Generator | None) -> None:
        """Make every recorded draw, in order, from ``generator`` into its buffer."""
        for shape, sampler, buf in self.draws:
            buf.copy_(sampler(shape, generator))

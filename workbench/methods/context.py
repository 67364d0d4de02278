"""The frozen context every method slot receives: one step's model, batches, schedule position and objective.

Slots (:mod:`workbench.methods.presets`) never see the
:class:`~workbench.search.Searcher`; they see a :class:`StepContext` built
for each step (and for each evaluation, with ``training=False``). It carries
what DARTS-family updates need -- the supernet, the two batches, the epoch
and step, the seeded generator for sampling noise, the current weight lr,
momentum and weight decay with the SGD momentum buffers (for DARTS's virtual
step), the objective -- and ``mixing_weights()``, the method's relaxation
applied to every choice group.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from workbench.methods.noise import NoiseRecorder, Sampler, draw_now
from workbench.tasks.objectives import Objective

Batch = tuple[Tensor, Tensor]
Weights = dict[str, Tensor]
Active = dict[str, np.ndarray]
#: alpha (rows x options), option mask, context -> (mixing weights, options to compute)
Relaxation = Callable[[Tensor, Tensor, "StepContext"], tuple[Tensor, np.ndarray]]


@dataclass(frozen=True)
class StepContext:
    """Everything one step's slots may read. Frozen: slots return values, they do not mutate the context."""

    epoch: int = 0
    epochs: int = 1
    step: int = 0  # steps completed before this one
    generator: torch.Generator | None = None  # seeded sampling noise (Gumbel, SDARTS, path sampling)
    training: bool = True  # False when evaluating (relaxations then use their deterministic form)
    model: Any = None  # a ChoiceSupernet
    objective: Objective | None = None
    relaxation: Relaxation | None = None
    arch_params: Sequence[nn.Parameter] = ()
    batch_t: Batch | None = None
    batch_v: Batch | None = None
    lr: float = 0.0  # the weight lr of this step (DARTS's xi)
    momentum: float = 0.0
    weight_decay: float = 0.0
    momentum_buffers: Mapping[str, Tensor] = field(default_factory=dict)
    config: Any = None  # the SearchConfig (read-only)
    noise: NoiseRecorder | None = None  # set while the step is captured as a CUDA graph (methods.noise)

    def draw(self, shape: Sequence[int], sampler: Sampler, like: Tensor) -> Tensor:
        """Sampling noise of ``shape`` on ``like``'s device and dtype, drawn on the host by ``sampler`` from
        :attr:`generator` (:mod:`workbench.methods.noise`); while a graph is captured, a buffer refilled with
        that draw before each replay."""
        if self.noise is not None:
            return self.noise.record(tuple(shape), sampler, like)
        return draw_now(tuple(shape), sampler, self.generator, like)

    def mixing_weights(self) -> tuple[Weights, Active]:
        """The relaxation of every choice group: mixing weights (with the graph to alpha) and active options."""
        assert self.relaxation is not None, "a StepContext without a relaxation has no mixing weights"
        weights, active = {}, {}
        for g in self.model.groups:
            weights[g.name], active[g.name] = self.relaxation(self.model.alphas[g.name], self.model.op_mask(g.name),
                                                              self)
        return weights, active

    def masks(self) -> dict[str, Tensor]:
        return {g.name: self.model.op_mask(g.name) for g in self.model.groups}

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        assert self.objective is not None, "a StepContext without an objective has no loss"
        return self.objective.loss(output, target)


@dataclass
class ArchGradResult:
    """Architecture gradients (in ``ctx.arch_params`` order) plus the validation loss/output seen."""

    grads: list[Tensor]
    val_loss: Tensor
    val_output: Tensor
    extras: dict[str, float | Tensor] = field(default_factory=dict)  # tensors are read with the step's values

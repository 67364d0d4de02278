"""The ``chain`` space's networks: the supernet (every legal block of every layer, mixed by the relaxation's
weights) and the discrete chain an architecture compiles to (FBNet, Wu et al. CVPR 2019; ProxylessNAS, Cai et al.
ICLR 2019; the space itself, torch-free: :mod:`workbench.spaces.chain.space`, which re-exports these names).

A layer with an identity shortcut (stride 1, C_in = C_out) adds it once, outside the mixture:
``out = shortcut(x) + sum_o w_o * block_o(x)``; ``skip`` computes nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
from torch import Tensor, nn

from workbench.spaces.base import ChoiceSupernet, host_mask
from workbench.spaces.chain.blocks import make_mbconv
from workbench.spaces.chain.settings import ChainConfig
from workbench.spaces.chain.space import GROUP, ChainSpace
from workbench.tasks.task import TaskInfo

__all__ = ["ChainSupernet", "DiscreteChain", "stem_for"]


def _stem(C_in: int, C: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv + BN + ReLU6 to ``C`` channels; for ``stride`` 2^k, k of them, each of stride 2."""
    if stride == 1:
        return nn.Sequential(nn.Conv2d(C_in, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU6(inplace=True))
    mods: list[nn.Module] = []
    for k in range(stride.bit_length() - 1):
        mods += [nn.Conv2d(C_in if k == 0 else C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
                 nn.ReLU6(inplace=True)]
    return nn.Sequential(*mods)


def stem_for(space: ChainSpace, task: TaskInfo) -> nn.Sequential:
    """The stem of ``space``'s networks for ``task``'s inputs (its stride: :meth:`ChainSpace.stem_stride_for`)."""
    return _stem(task.input_shape[0], space.stem, space.stem_stride_for(task.input_shape))


class ChainSupernet(ChoiceSupernet):
    """Every legal candidate of every layer, mixed by the relaxation's weights."""

    def __init__(self, space: ChainSpace, task: TaskInfo, cfg: ChainConfig = ChainConfig()) -> None:  # noqa: B008
        super().__init__(space.choice_groups(), cfg.alpha_init_std)
        self.space, self.cfg, self.input_shape = space, cfg, tuple(task.input_shape)
        self.plan = space.plan()
        self.stem = stem_for(space, task)
        self.layers = nn.ModuleList()
        for p in self.plan:
            mods = {b: make_mbconv(b, p.C_in, p.C_out, p.stride) for b in space.blocks if b != "skip"}
            self.layers.append(nn.ModuleDict(mods))
        self.classifier = nn.Linear(space.widths[-1], task.n_outputs)

    def forward(self, x: Tensor, weights: Mapping[str, Tensor], active: Mapping[str, np.ndarray] | None = None
                ) -> Tensor:
        w_all = weights[GROUP]
        act = host_mask(self.op_mask(GROUP)) if active is None else active[GROUP]
        h = self.stem(x)
        for i, (p, layer) in enumerate(zip(self.plan, self.layers, strict=True)):
            out = h if p.shortcut else None
            for o, name in enumerate(self.space.blocks):
                if name == "skip" or not act[i, o]:
                    continue
                y = w_all[i, o] * cast(nn.ModuleDict, layer)[name](h)
                out = y if out is None else out + y
            if out is None:
                raise ValueError(f"layer {i} ({p.C_in}→{p.C_out}, stride {p.stride}) has no active block and no "
                                 "shortcut; enable a block there")
            h = out
        return self.classifier(h.mean((2, 3)))


class DiscreteChain(nn.Module):
    """The chain of one block per layer (``skip`` layers are the identity)."""

    def __init__(self, space: ChainSpace, task: TaskInfo, picks: tuple[str, ...]) -> None:
        super().__init__()
        self.plan, self.picks = space.plan(), tuple(picks)
        self.stem = stem_for(space, task)
        self.layers = nn.ModuleList(nn.Identity() if b == "skip" else make_mbconv(b, p.C_in, p.C_out, p.stride)
                                    for b, p in zip(self.picks, self.plan, strict=True))
        self.classifier = nn.Linear(space.widths[-1], task.n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for p, b, layer in zip(self.plan, self.picks, self.layers, strict=True):
            h = layer(h) if b == "skip" else (h + layer(h) if p.shortcut else layer(h))
        return self.classifier(h.mean((2, 3)))

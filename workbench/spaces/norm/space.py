"""The ``norm_placement`` space: where instance normalisation goes in each block (Zhou, Yang, Cavallaro, Xiang,
OSNet-AIN, TPAMI 2021, arXiv 1910.06827, Sec. 4; SEEDS_2 §5.2, §5.6).

A CPU-scale replica of OSNet-AIN's search network: a stem (conv3x3 -> BN -> ReLU), ``n_blocks`` residual blocks
of ``C`` channels, each choosing one of the four placements of :mod:`workbench.spaces.norm.blocks` (``plain``,
``in_residual``, ``in_after_add``, ``in_both``), global average pooling and a linear classifier. One choice
group, ``blocks`` (rows ``"block 1"`` ...). Architectures are :class:`~workbench.spaces.base.Choices`.

Two spaces are registered, because searching the stem is a different space (SEEDS_2 §5.4: the official stem IN
is fixed, not searched):

* ``norm_placement`` -- the stem norm is fixed: BN by default (SEEDS_2 §5.6), IN with the supernet setting
  ``stem_in=True`` (the official conv1);
* ``norm_placement_stem`` -- a second group, ``stem``, chooses the stem's norm (``bn`` or ``in``) as well.

Supernet settings (:class:`NormConfig`): ``C``, ``stem_in``, ``affine`` (False during the search, as the
official ``NORM_AFFINE``), and the architecture parameterisation. By default the alphas are DARTS logits (any
method runs here). OSNet-AIN's preset sets ``nonneg_weights=True``: the architecture parameters are then the
paper's non-negative weights w, initialised to ``w_init`` = 1 (the code's ``torch.ones``), and what is decoded
and drawn is the normalised weight relu(w) / sum relu(w) -- the probability with which the concrete relaxation's
Gumbel-max picks each candidate (:mod:`workbench.methods.osnet`). A candidate whose w is <= 0 is **dead**: its
normalised weight is exactly 0, it is never decoded, and it gets no gradient again (:func:`dead_options`).
Decoding: the argmax per row of relu(w) / sum (the code's ``build_child_graph`` takes the argmax of the raw w,
which is the same pick whenever some candidate of the row is alive; a row whose candidates are all dead falls
back to softmax(w), i.e. the argmax of the raw w as well).

``compile(arch, task, config=None, affine=True)`` builds the discrete network (affine norms by default, as the
final OSNet-AIN); :func:`extract_child` builds it from a supernet's own weights (the oracle: it computes exactly
what the supernet computes with a one-hot choice).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from workbench.spaces.base import (
    SPACES,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    host_mask,
)
from workbench.spaces.norm.blocks import PLACEMENTS, STEM_NORMS, MixedStem, NormBlock, Stem
from workbench.spaces.settings.norm import NormConfig, norm_supernet_config
from workbench.tasks.task import TaskInfo

BLOCKS, STEM = "blocks", "stem"


@dataclass(frozen=True)
class NormPlacementSpace(SearchSpace):
    """``n_blocks`` blocks choosing their IN placement (and the stem's norm when ``search_stem``)."""

    default_dataset = "digits_styles"

    name: str = "norm_placement"
    n_blocks: int = 3
    search_stem: bool = False
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.n_blocks, bool) or not isinstance(self.n_blocks, int) or self.n_blocks < 1:
            raise ValueError(f"n_blocks must be an integer >= 1, got {self.n_blocks!r}")

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        if "groups" not in self._cache:
            groups = [ChoiceGroup(BLOCKS, tuple(f"block {i + 1}" for i in range(self.n_blocks)), PLACEMENTS)]
            if self.search_stem:
                groups.insert(0, ChoiceGroup(STEM, ("stem",), STEM_NORMS))
            self._cache["groups"] = tuple(groups)
        return self._cache["groups"]

    # -- supernet -----------------------------------------------------------------------------------
    def supernet_config(self, value: Any = None, **overrides: Any) -> NormConfig:
        return norm_supernet_config(self.name, value, search_stem=self.search_stem, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> NormSupernet:
        _check_images(self, task)
        return NormSupernet(self, task, self.supernet_config(config))

    # -- architectures --------------------------------------------------------------------------------
    def compile(self, arch: Any, task: TaskInfo, config: NormConfig | Mapping[str, Any] | None = None,
                affine: bool = True, **options: Any) -> PlacementNet:
        """``arch`` as a standalone network (``config``: the supernet's sizes; ``affine``: the final net's norms)."""
        if options:
            raise TypeError(f"compile() of space {self.name!r} takes config and affine; got {sorted(options)}")
        self.check(arch)
        _check_images(self, task)
        return PlacementNet(self, task, arch, replace(self.supernet_config(config), affine=bool(affine)))

    def label(self, arch: Any) -> str:
        text = " | ".join(arch.picks[BLOCKS])
        return f"stem {arch.picks[STEM][0]} | {text}" if self.search_stem else text


def _check_images(space: NormPlacementSpace, task: TaskInfo) -> None:
    if len(task.input_shape) != 3:
        raise ValueError(f"space {space.name!r} needs image inputs (C, H, W); task {task.name!r} has examples of "
                         f"shape {task.input_shape}")


def placement(space: NormPlacementSpace, blocks: str | tuple[str, ...] | list[str], stem: str = "bn") -> Choices:
    """An architecture of ``space``: one placement for every block (a name) or one per block; ``stem`` when the
    stem is searched. ``placement(space, "plain")`` is the all-BN network."""
    picks = (blocks,) * space.n_blocks if isinstance(blocks, str) else tuple(blocks)
    arch = Choices(space.name, {**({STEM: (stem,)} if space.search_stem else {}), BLOCKS: picks})
    space.check(arch)
    return arch


def dead_options(alphas: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
    """Where a non-negative weight is <= 0: the candidate is dead (zero normalised weight, zero gradient)."""
    if isinstance(alphas, Mapping):
        return {g: np.asarray(a) <= 0 for g, a in alphas.items()}
    return np.asarray(alphas) <= 0


class NormSupernet(ChoiceSupernet):
    """Every placement of every block, mixed by the relaxation's weights (all four computed, as the official)."""

    def __init__(self, space: NormPlacementSpace, task: TaskInfo, cfg: NormConfig) -> None:
        super().__init__(space.choice_groups(), cfg.alpha_init_std)
        self.space, self.cfg, self.task = space, cfg, task
        C_in, H = task.input_shape[0], task.input_shape[1]
        if cfg.nonneg_weights:
            with torch.no_grad():
                for p in self.alphas.values():
                    p.fill_(float(cfg.w_init))
        self.stem = (MixedStem(C_in, cfg.C, H, cfg.affine) if space.search_stem
                     else Stem(C_in, cfg.C, H, "in" if cfg.stem_in else "bn", cfg.affine))
        self.blocks = nn.ModuleList(nn.ModuleList(NormBlock(cfg.C, p, cfg.affine) for p in PLACEMENTS)
                                    for _ in range(space.n_blocks))
        self.head = nn.Linear(cfg.C, task.n_outputs)

    def probabilities(self, group: str) -> Tensor:
        """relu(w) / sum relu(w) over enabled options with non-negative weights (dead ones: exactly 0);
        softmax(alpha) otherwise. A row with no live enabled option falls back to softmax(w)."""
        if not self.cfg.nonneg_weights:
            return super().probabilities(group)
        w, mask = self.alphas[group], self.op_mask(group)
        r = torch.relu(w) * mask
        total = r.sum(-1, keepdim=True)
        fallback = torch.softmax(w.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.where(total > 0, r / total.clamp_min(1e-30), fallback)

    def forward(self, x: Tensor, weights: Mapping[str, Tensor], active: Mapping[str, np.ndarray] | None = None
                ) -> Tensor:
        act = {g.name: host_mask(self.op_mask(g.name)) for g in self.groups} if active is None else active
        h = self.stem(x, weights[STEM][0], act[STEM][0]) if self.space.search_stem else self.stem(x)
        w = weights[BLOCKS]
        for i, cands in enumerate(self.blocks):
            out = None
            for k, block in enumerate(cast(nn.ModuleList, cands)):
                if act[BLOCKS][i][k]:
                    y = w[i, k] * block(h)
                    out = y if out is None else out + y
            if out is None:
                raise ValueError(f"block {i + 1} has no active placement; enable one of {', '.join(PLACEMENTS)}")
            h = out
        return self.head(h.mean((2, 3)))


class PlacementNet(nn.Module):
    """The discrete network: the stem, one placement per block, pooling and the classifier."""

    def __init__(self, space: NormPlacementSpace, task: TaskInfo, arch: Choices, cfg: NormConfig) -> None:
        super().__init__()
        C_in, H = task.input_shape[0], task.input_shape[1]
        stem = arch.picks[STEM][0] if space.search_stem else ("in" if cfg.stem_in else "bn")
        self.picks = tuple(arch.picks[BLOCKS])
        self.stem = Stem(C_in, cfg.C, H, stem, cfg.affine)
        self.blocks = nn.ModuleList(NormBlock(cfg.C, p, cfg.affine) for p in self.picks)
        self.head = nn.Linear(cfg.C, task.n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean((2, 3)))


def extract_child(supernet: NormSupernet, arch: Choices) -> PlacementNet:
    """The chosen network with the supernet's weights (copies): the official ``build_child_graph`` plus the
    weights. It computes exactly what ``supernet`` computes with the one-hot choice ``arch``."""
    space, cfg = supernet.space, supernet.cfg
    space.check(arch)
    net = PlacementNet(space, supernet.task, arch, cfg)
    stem = supernet.stem
    if isinstance(stem, MixedStem):
        net.stem.conv.load_state_dict(stem.conv.state_dict())
        net.stem.norm.load_state_dict(stem.norms[STEM_NORMS.index(arch.picks[STEM][0])].state_dict())
    else:
        net.stem.load_state_dict(stem.state_dict())
    for i, p in enumerate(arch.picks[BLOCKS]):
        cands = cast(nn.ModuleList, supernet.blocks[i])
        net.blocks[i].load_state_dict(cands[PLACEMENTS.index(p)].state_dict())
    net.head.load_state_dict(supernet.head.state_dict())
    return net.train(supernet.training)


def one_hot(space: NormPlacementSpace, arch: Choices) -> dict[str, Tensor]:
    """The mixing weights that select ``arch`` in a supernet of ``space`` (for the child-extraction oracle)."""
    space.check(arch)
    out = {}
    for g in space.choice_groups():
        w = torch.zeros(g.shape)
        for i, p in enumerate(arch.picks[g.name]):
            w[i, g.options.index(p)] = 1.0
        out[g.name] = w
    return out


SPACES.register("norm_placement", NormPlacementSpace())
SPACES.register("norm_placement_stem", NormPlacementSpace("norm_placement_stem", search_stem=True))

__all__ = ["BLOCKS", "STEM", "NormConfig", "NormPlacementSpace", "NormSupernet", "PlacementNet",
           "dead_options", "extract_child", "one_hot", "placement"]

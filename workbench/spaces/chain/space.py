"""The ``chain`` space: layers in a row, each choosing one MBConv block or ``skip`` (SEEDS_2.md §4.4).

The shared space of the hardware-aware methods (FBNet, Wu et al. CVPR 2019;
ProxylessNAS, Cai et al. ICLR 2019; Single-Path NAS, Stamoulis et al. 2019),
scaled to a CPU: a 3x3 stem conv to 16 channels, 3 stages of 2 searchable
layers with widths (16, 24, 32) whose first layer has stride (1, 2, 2), global
average pooling and a linear classifier.

Candidates per layer: MBConv {k3, k5} x {e1, e3, e6} and ``skip``; ``skip`` is
legal only where the layer keeps its shape (stride 1 and C_in = C_out), where
the layer has an identity shortcut and ``skip`` ("Zero" in ProxylessNAS)
leaves only that shortcut.

**Stem stride by input size** (the default size for larger images): the stem
reduces the input so that the first searchable stage sees at most
:data:`STAGE0_SIDE` (8) pixels a side, as on 8x8 digits -- one stride-2 3x3
conv (+ BN + ReLU6) per halving (:meth:`ChainSpace.stem_stride_for`): digits
8x8 keep stride 1 (the stem and every result as before), Fashion-MNIST's
28x28 and CIFAR's 32x32 get stride 4, so the searched layers see 7x7 / 4x4 /
2x2 (8x8 / 4x4 / 2x2) maps. ProxylessNAS's ImageNet macro-architecture does
the same before its first searchable stage (first conv and fixed block:
224 -> 56, a stride of 4). It keeps a search at 28x28 near digits' cost per
image (every candidate of FBNet's soft sample runs at every pixel: at full
28x28 an FBNet step took 3.6 s, at 7x7 0.47 s, side by side on one thread).
``ChainSpace(stem_stride=1)`` keeps the full resolution (any power of two is
accepted). The hardware-aware presets' default size also keeps
:data:`CPU_DATA_LIMIT` (1436, digits' whole training set) training images of
a larger dataset; the test set stays whole.

One choice group, ``layers``: rows labelled ``"L2 16→24 s2"``, options the
block names. The supernet mixes the candidates of each layer with the
relaxation's weights (``out = shortcut(x) + sum_o w_o * block_o(x)``), computing
only the active ones (a sampling relaxation computes one). Architectures are
:class:`~workbench.spaces.base.Choices`; ``compile`` builds the discrete chain.
With ``ChainConfig(superkernel=True)`` (Single-Path NAS's preset sets it) the
supernet is one superkernel per layer instead
(:mod:`workbench.spaces.chain.superkernel`), decoded by the rule
``"indicators"``.

This module imports no torch: the networks (:class:`ChainSupernet`,
:class:`DiscreteChain`, ``stem_for``) live in :mod:`workbench.spaces.chain.supernet`,
imported when built and re-exported here, so a table prices the space
(``python -m workbench latency show TABLE --space chain``) and a config
naming it is checked without torch.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.lazy import LazyExports
from workbench.spaces.chain.block_names import parse_block
from workbench.spaces.chain.settings import ChainConfig, chain_supernet_config
from workbench.spaces.protocol import SPACES, ChoiceGroup, Choices, SearchSpace, edited_options

if TYPE_CHECKING:  # pragma: no cover
    from workbench.spaces.base import ChoiceSupernet
    from workbench.spaces.chain.supernet import ChainSupernet as ChainSupernet
    from workbench.spaces.chain.supernet import DiscreteChain as DiscreteChain
    from workbench.spaces.chain.supernet import stem_for as stem_for
    from workbench.tasks.task import TaskInfo

CHAIN_BLOCKS = ("k3_e1", "k3_e3", "k3_e6", "k5_e1", "k5_e3", "k5_e6", "skip")
GROUP = "layers"
#: the largest side (pixels) the first searchable stage sees when the stem stride is chosen by the input
STAGE0_SIDE = 8
#: training images the hardware-aware presets keep by default (their ``search_defaults["data_limit"]``): digits'
#: whole training set (718 weights + 718 arch), so a larger dataset (Fashion-MNIST's 60,000) is cut to it,
#: stratified and seeded (``load_dataset(limit=...)``), and a search on it costs what one on digits does
CPU_DATA_LIMIT = 1436


@dataclass(frozen=True)
class LayerPlan:
    C_in: int
    C_out: int
    stride: int

    @property
    def shortcut(self) -> bool:
        return self.stride == 1 and self.C_in == self.C_out


@dataclass(frozen=True)
class ChainSpace(SearchSpace):
    """A chain of searchable layers; see the module docstring."""

    name: str = "chain"
    blocks: tuple[str, ...] = CHAIN_BLOCKS
    stem: int = 16
    widths: tuple[int, ...] = (16, 24, 32)
    layers_per_stage: int = 2
    strides: tuple[int, ...] = (1, 2, 2)
    #: the stem's stride, a power of two (one stride-2 conv per halving); None: by the input (stem_stride_for)
    stem_stride: int | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    rules = ("argmax", "indicators", "budget:{...} (workbench.spaces.chain.budget.BudgetRule.to_rule)")

    def __post_init__(self) -> None:
        if not self.blocks or len(set(self.blocks)) != len(self.blocks):
            raise ValueError(f"chain space {self.name!r} needs distinct blocks, got {self.blocks}")
        for b in self.blocks:
            if b != "skip":
                parse_block(b)
        if self.blocks == ("skip",):
            raise ValueError(f"chain space {self.name!r} has only 'skip'; add a block such as k3_e3")
        if len(self.widths) != len(self.strides) or not self.widths:
            raise ValueError(f"widths {self.widths} and strides {self.strides} must be non-empty and equally long")
        if self.layers_per_stage < 1 or self.stem < 1 or min(self.widths) < 1 or min(self.strides) < 1:
            raise ValueError("stem, widths, strides and layers_per_stage must be >= 1")
        st = self.stem_stride
        if st is not None and (isinstance(st, bool) or not isinstance(st, int) or st < 1 or st & (st - 1)):
            raise ValueError(f"stem_stride must be None (by the input size) or a power of two >= 1 (1, 2, 4, ...), "
                             f"got {st!r}")

    def stem_stride_for(self, input_shape: Sequence[int]) -> int:
        """The stem's stride for examples of ``input_shape`` (C, H, W): ``stem_stride`` when set, else the
        smallest power of two that brings max(H, W) to at most :data:`STAGE0_SIDE` (8x8 digits: 1; 28x28
        Fashion-MNIST: 4, the searched layers see 7x7 maps)."""
        if self.stem_stride is not None:
            return self.stem_stride
        side, stride = max(int(v) for v in tuple(input_shape)[-2:]), 1
        while -(-side // stride) > STAGE0_SIDE:
            stride *= 2
        return stride

    # -- shape ------------------------------------------------------------------------------------
    def plan(self) -> tuple[LayerPlan, ...]:
        """(C_in, C_out, stride) of every searchable layer, in order."""
        out, c = [], self.stem
        for width, stride in zip(self.widths, self.strides, strict=True):
            for j in range(self.layers_per_stage):
                out.append(LayerPlan(c, width, stride if j == 0 else 1))
                c = width
        return tuple(out)

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        if "groups" not in self._cache:
            plan = self.plan()
            rows = tuple(f"L{i} {p.C_in}→{p.C_out} s{p.stride}" for i, p in enumerate(plan))
            allowed = tuple(tuple(b != "skip" or p.shortcut for b in self.blocks) for p in plan)
            self._cache["groups"] = (ChoiceGroup(GROUP, rows, self.blocks, allowed),)
        return self._cache["groups"]

    def with_ops(self, remove: Iterable[str] = (), add: Iterable[str] = ()) -> ChainSpace:
        """A copy with blocks removed or added by name."""
        return replace(self, blocks=edited_options(self.blocks, remove, add, f"space {self.name!r}", "block"), _cache={})

    # -- supernet -----------------------------------------------------------------------------------
    def supernet_config(self, value: Any = None, **overrides: Any) -> ChainConfig:
        """:func:`workbench.spaces.chain.settings.chain_supernet_config` for this space."""
        return chain_supernet_config(self.name, value, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> ChoiceSupernet:
        if len(task.input_shape) != 3:
            raise ValueError(f"chain space {self.name!r} needs image inputs (C, H, W); task {task.name!r} has "
                             f"examples of shape {task.input_shape}")
        cfg = self.supernet_config(config)
        if cfg.superkernel:
            from workbench.spaces.chain.superkernel import SuperkernelSupernet
            return SuperkernelSupernet(self, task, cfg)
        from workbench.spaces.chain.supernet import ChainSupernet
        return ChainSupernet(self, task, cfg)

    def decode(self, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None,
               rule: str | None = None) -> Choices:
        """``"argmax"`` (the most probable block per layer), ``"indicators"`` (Single-Path's superkernel
        decisions, :func:`workbench.spaces.chain.superkernel.decode_indicators`) or a budget rule
        ``"budget:{...}"`` (the most probable chain whose table cost lies in the budget band,
        :mod:`workbench.spaces.chain.budget`)."""
        if rule == "indicators":
            from workbench.spaces.chain.superkernel import decode_indicators
            return decode_indicators(self, probs, masks)
        if rule is not None and rule.startswith("budget"):
            from workbench.spaces.chain.budget import BudgetRule, budget_picks
            g, = self.choice_groups()
            allowed = g.allowed_matrix() if masks is None else np.asarray(masks[g.name], dtype=bool) & g.allowed_matrix()
            picks = budget_picks(probs[g.name], allowed, BudgetRule.parse(rule))
            return Choices(self.name, {g.name: tuple(g.options[o] for o in picks)})
        return super().decode(probs, masks, rule)

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> DiscreteChain:
        from workbench.spaces.chain.supernet import DiscreteChain
        self.check(arch)
        return DiscreteChain(self, task, arch.picks[GROUP])

    def label(self, arch: Any) -> str:
        return " | ".join(arch.picks[GROUP])

    def fingerprint(self) -> str:
        return super().fingerprint() + f"-s{self.stem}" + ("" if self.stem_stride is None else f"-ss{self.stem_stride}")


def chain_choices(space: ChainSpace, picks: Iterable[str]) -> Choices:
    """A chain architecture from its block names, checked against ``space``."""
    arch = Choices(space.name, {GROUP: tuple(picks)})
    space.check(arch)
    return arch


SPACES.register("chain", ChainSpace())


#: the networks (torch) live in :mod:`workbench.spaces.chain.supernet`; importing them from here still works
LazyExports(__name__, dict.fromkeys(("ChainSupernet", "DiscreteChain", "stem_for"), "workbench.spaces.chain.supernet"),
            globals())  # installs this module's __getattr__ / __dir__ (PEP 562)


"""The ``mbconv3d`` space: calibrated 3-D cells in a row, each choosing one 3-D MBConv block or ``skip``
(CovidNet3D, He et al., AAAI 2021, arXiv 2101.05442; `marsggbo/CovidNet3D: networks/mobile3d_net.py`;
SEEDS_2 §6.2, CPU scale §6.6).

CovidNet3D's search space is a ProxylessNAS-style chain in 3-D: a stem conv, then cells that each begin with a
``CalibrationLayer`` (a 1x1x1 conv carrying the cell's stride and width change) followed by a choice among 3-D
MBConv candidates *all at stride 1* and "Zero"; then a global-average-pool head. Its
``MobileInvertedResidualBlock`` returns the calibrated input when Zero is sampled (the cell is skipped), else the
candidate's output plus the identity shortcut (stride 1 and C_in = C_out hold after calibration). So every
candidate c of cell i, applied to the calibrated input h = calib_i(x), outputs

    cand_skip(h) = h,        cand_b(h) = h + MBConv3d_b(h),

and the supernet mixes them with the relaxation's weights: ``out_i = sum_o w[i, o] * cand_o(h)``, computing only
the active candidates (a hard sample computes exactly one, and with an exactly one-hot w the cell's output *is*
the selected candidate's). ``skip`` is legal in every cell (the calibration makes the shapes match). The code
also appends a *second* Zero in cells with stride 1 and C_in = C_out, two identical candidates that double
skip's prior mass (SEEDS_2 §6.4); here skip appears once.

CPU scale (SEEDS_2 §6.6; the paper's space has 21 cells of widths 32-1024 on 16 x 64 x 64 inputs): a 3x3x3 stem
conv with stride (1, 2, 2) to 8 channels, BN, ReLU6; 3 searchable cells 8 -> 12, 12 -> 16 (stride 2), 16 -> 24,
each choosing {k3_e2, k5_e2, k3_e4, skip}; global average pooling and a linear classifier. The paper's 1x1x1 conv
to 1280 channels and dropout before the pool are left out (the spec's CPU head). One choice group, ``cells``:
rows labelled ``"C1 12→16 s2"``, options the block names.

Both the supernet and the compiled network expose ``features(x)`` (the last cell's output, the input of the
pool) and ``classifier`` (the final ``nn.Linear``): the class activation map
(:mod:`workbench.analysis.cam`) needs nothing else.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from torch import Tensor, nn

from workbench.spaces.base import (
    SPACES,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    edited_options,
    host_mask,
)
from workbench.spaces.settings.volume import Mbconv3dConfig, mbconv3d_supernet_config
from workbench.spaces.volume.blocks import Calibration, Stride, make_block3d
from workbench.tasks.data import ct_volumes as _ct_volumes  # noqa: F401  (registers the ct_volumes datasets)
from workbench.tasks.task import TaskInfo

__all__ = ["GROUP", "MBCONV3D_BLOCKS", "CellPlan", "DiscreteMbconv3d", "Mbconv3dConfig", "Mbconv3dSpace",
           "Mbconv3dSupernet", "inherit_path_weights"]

MBCONV3D_BLOCKS = ("k3_e2", "k5_e2", "k3_e4", "skip")
GROUP = "cells"


@dataclass(frozen=True)
class CellPlan:
    """One cell's input width, output width and (calibration) stride."""

    C_in: int
    C_out: int
    stride: int


@dataclass(frozen=True)
class Mbconv3dSpace(SearchSpace):
    """Calibrated 3-D cells in a row; see the module docstring."""

    default_dataset = "ct_volumes"

    name: str = "mbconv3d"
    blocks: tuple[str, ...] = MBCONV3D_BLOCKS
    stem: int = 8
    stem_stride: tuple[int, int, int] = (1, 2, 2)
    widths: tuple[int, ...] = (12, 16, 24)
    strides: tuple[int, ...] = (1, 2, 1)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.blocks or len(set(self.blocks)) != len(self.blocks):
            raise ValueError(f"space {self.name!r} needs distinct blocks, got {self.blocks}")
        for b in self.blocks:
            make_block3d(b, 1)  # raises naming the accepted form
        if self.blocks == ("skip",):
            raise ValueError(f"space {self.name!r} has only 'skip'; add a block such as k3_e2")
        if not self.widths or len(self.widths) != len(self.strides):
            raise ValueError(f"widths {self.widths} and strides {self.strides} must be non-empty and equally long")
        if self.stem < 1 or min(self.widths) < 1 or min(self.strides) < 1 or len(self.stem_stride) != 3 \
                or min(self.stem_stride) < 1:
            raise ValueError("stem, widths and strides must be >= 1 and stem_stride three strides >= 1 (D, H, W)")

    # -- shape ------------------------------------------------------------------------------------
    def plan(self) -> tuple[CellPlan, ...]:
        """(C_in, C_out, stride) of every searchable cell, in order."""
        out, c = [], self.stem
        for width, stride in zip(self.widths, self.strides, strict=True):
            out.append(CellPlan(c, width, stride))
            c = width
        return tuple(out)

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        if "groups" not in self._cache:
            rows = tuple(f"C{i} {p.C_in}→{p.C_out} s{p.stride}" for i, p in enumerate(self.plan()))
            self._cache["groups"] = (ChoiceGroup(GROUP, rows, self.blocks),)
        return self._cache["groups"]

    def with_ops(self, remove: Iterable[str] = (), add: Iterable[str] = ()) -> Mbconv3dSpace:
        """A copy with blocks removed or added by name."""
        return replace(self, blocks=edited_options(self.blocks, remove, add, f"space {self.name!r}", "block"), _cache={})

    # -- supernet -----------------------------------------------------------------------------------
    def supernet_config(self, value: Any = None, **overrides: Any) -> Mbconv3dConfig:
        return mbconv3d_supernet_config(self.name, value, **overrides)

    def _check_task(self, task: TaskInfo) -> None:
        if len(task.input_shape) != 4:
            raise ValueError(f"space {self.name!r} needs volumes (C, D, H, W); task {task.name!r} has examples of "
                             f"shape {task.input_shape} (try dataset 'ct_volumes')")

    def build_supernet(self, task: TaskInfo, config: Any = None) -> Mbconv3dSupernet:
        self._check_task(task)
        return Mbconv3dSupernet(self, task, self.supernet_config(config))

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> DiscreteMbconv3d:
        self.check(arch)
        self._check_task(task)
        return DiscreteMbconv3d(self, task, arch.picks[GROUP])

    def label(self, arch: Any) -> str:
        return " | ".join(arch.picks[GROUP])

    def fingerprint(self) -> str:
        return super().fingerprint() + f"-s{self.stem}-{'x'.join(map(str, self.stem_stride))}"


def _stem(C_in: int, C: int, stride: Stride) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(C_in, C, 3, stride, 1, bias=False), nn.BatchNorm3d(C), nn.ReLU6(inplace=True))


class SearchCell(nn.Module):
    """Calibration, then every candidate of the cell mixed by its row of weights (only the active ones run)."""

    def __init__(self, plan: CellPlan, blocks: tuple[str, ...]) -> None:
        super().__init__()
        self.blocks = blocks
        self.calib = Calibration(plan.C_in, plan.C_out, plan.stride)
        self.candidates = nn.ModuleDict({b: block for b in blocks
                                         if b != "skip" and (block := make_block3d(b, plan.C_out)) is not None})

    def forward(self, x: Tensor, w: Tensor, active: np.ndarray) -> Tensor:
        h = self.calib(x)
        out = None
        for o, name in enumerate(self.blocks):
            if not active[o]:
                continue
            y = w[o] * (h if name == "skip" else h + self.candidates[name](h))
            out = y if out is None else out + y
        if out is None:
            raise ValueError("a cell has no active candidate; enable one")
        return out


class Mbconv3dSupernet(ChoiceSupernet):
    """Every candidate of every cell, mixed by the relaxation's weights (a hard sample runs one per cell)."""

    def __init__(self, space: Mbconv3dSpace, task: TaskInfo, cfg: Mbconv3dConfig = Mbconv3dConfig()) -> None:  # noqa: B008
        super().__init__(space.choice_groups(), cfg.alpha_init_std)
        self.space, self.cfg = space, cfg
        self.stem = _stem(task.input_shape[0], space.stem, space.stem_stride)
        self.cells = nn.ModuleList(SearchCell(p, space.blocks) for p in space.plan())
        self.classifier = nn.Linear(space.widths[-1], task.n_outputs)

    def features(self, x: Tensor, weights: Mapping[str, Tensor], active: Mapping[str, np.ndarray] | None = None
                 ) -> Tensor:
        """The last cell's output (N, C, d, h, w): what the pool averages (the CAM's feature map)."""
        w = weights[GROUP]
        act = host_mask(self.op_mask(GROUP)) if active is None else active[GROUP]
        h = self.stem(x)
        for i, cell in enumerate(self.cells):
            h = cell(h, w[i], act[i])
        return h

    def forward(self, x: Tensor, weights: Mapping[str, Tensor], active: Mapping[str, np.ndarray] | None = None
                ) -> Tensor:
        return self.classifier(self.features(x, weights, active).mean((2, 3, 4)))


class DiscreteCell(nn.Module):
    """Calibration and one block with its shortcut (``skip``: the calibrated input)."""

    def __init__(self, plan: CellPlan, block: str) -> None:
        super().__init__()
        self.calib = Calibration(plan.C_in, plan.C_out, plan.stride)
        self.block = make_block3d(block, plan.C_out)

    def forward(self, x: Tensor) -> Tensor:
        h = self.calib(x)
        return h if self.block is None else h + self.block(h)


class DiscreteMbconv3d(nn.Module):
    """The derived network: stem, one block per cell, global average pooling, linear classifier."""

    def __init__(self, space: Mbconv3dSpace, task: TaskInfo, picks: tuple[str, ...]) -> None:
        super().__init__()
        self.picks = tuple(picks)
        self.stem = _stem(task.input_shape[0], space.stem, space.stem_stride)
        self.cells = nn.ModuleList(DiscreteCell(p, b) for p, b in zip(space.plan(), self.picks, strict=True))
        self.classifier = nn.Linear(space.widths[-1], task.n_outputs)

    def features(self, x: Tensor) -> Tensor:
        """The last cell's output (N, C, d, h, w)."""
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return h

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3, 4)))


def inherit_path_weights(arch: Choices, supernet_state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The compiled network's ``state_dict`` taken from the supernet's: stem, calibrations, classifier and, per
    cell, the chosen block's weights (``cells.i.candidates.<block>.*`` -> ``cells.i.block.*``)."""
    picks = arch.picks[GROUP]
    out: dict[str, Tensor] = {}
    for key, value in supernet_state.items():
        parts = key.split(".")
        if parts[0] in ("stem", "classifier") or (parts[0] == "cells" and parts[2] == "calib"):
            out[key] = value.detach().clone()
        elif parts[0] == "cells" and parts[2] == "candidates" and parts[3] == picks[int(parts[1])]:
            out[".".join(["cells", parts[1], "block", *parts[4:]])] = value.detach().clone()
    return out


SPACES.register("mbconv3d", Mbconv3dSpace())

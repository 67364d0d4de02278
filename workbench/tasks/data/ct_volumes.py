"""Synthetic chest-CT-like volumes with lesion masks, generated offline (CovidNet3D's CPU-scale data, SEEDS_2 §6.6).

CovidNet3D (He et al., AAAI 2021, arXiv 2101.05442) classifies chest CT scans (CC-CCII, MosMed, COVID-CTset); none
can be downloaded here, so the workbench generates volumes with the same structure and, unlike the real data,
a voxel mask of every lesion (what a class activation map is checked against). One volume (1 x D x H x W,
default 16 x 24 x 24):

* background: soft tissue (intensity ``tissue`` = +0.5) holding two ellipsoidal "lungs" (``lung`` = -1.0), each
  centre jittered by up to one voxel and each radius scaled by 0.9-1.1;
* noise: smooth noise (N(0, ``smooth_noise``^2) on a 4 x 6 x 6 grid, trilinearly upsampled) plus white noise
  (N(0, ``white_noise``^2));
* lesion (kinds 1 and 2): a Gaussian blob ``amplitude * exp(-d^2 / r^2)`` centred at a random point of a random
  lung, added inside that lung only; its mask is {d <= r} inside the lung. Kind 1 "ground-glass": large and
  faint (r = 5, amplitude 0.6); kind 2 "consolidation": small and dense (r = 3, amplitude 1.5).

Kinds are balanced (1/3 each, in a seeded random order). The default task is **binary**, normal (0) vs lesion
(1 = kinds 1 and 2), as in the spec's pilot (SEEDS_2 §6.7: the 3-class task did not learn at CPU budget); it is
registered as ``ct_volumes``. ``ct_volumes_3class`` keeps the three kinds as classes. Both are standardised with
the training set's mean and standard deviation (one scalar each, stored on the dataset).

Splits: ``n_train`` = 480 training volumes (the search uses ``train_portion = 0.75``: 360 for the weights, 120
for the architecture, the spec's sizes) and ``n_test`` = 120 test volumes, drawn from separate seeded streams,
so ``limit`` (the first ``limit`` training volumes) never changes the test set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.tasks.data.datasets import register_dataset
from workbench.tasks.data.streams import derive_seed

__all__ = ["CT_SHAPE", "KINDS", "VolumeDataset", "VolumeStyle", "ct_volumes", "make_volumes"]

CT_SHAPE = (16, 24, 24)
KINDS = ("normal", "ground-glass", "consolidation")


@dataclass(frozen=True)
class VolumeStyle:
    """Intensities, noise levels and lesion sizes of the generated volumes (SEEDS_2 §6.6's second pilot values)."""

    lung: float = -1.0
    tissue: float = 0.5
    smooth_noise: float = 0.15
    white_noise: float = 0.05
    ggo_radius: float = 5.0
    ggo_amplitude: float = 0.6
    consolidation_radius: float = 3.0
    consolidation_amplitude: float = 1.5

    def __post_init__(self) -> None:
        for name in ("smooth_noise", "white_noise", "ggo_radius", "consolidation_radius"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"VolumeStyle.{name} must be >= 0, got {getattr(self, name)!r}")


@dataclass(frozen=True, eq=False)
class VolumeDataset:
    """Volumes (N, 1, D, H, W) float32, labels (N,) int64, lesion masks (N, D, H, W) bool and the lesion kind
    (N,) int64 of every volume (0 normal, 1 ground-glass, 2 consolidation), for the training and test splits."""

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    mask_train: Tensor = field(repr=False)
    mask_test: Tensor = field(repr=False)
    kind_train: Tensor = field(repr=False)
    kind_test: Tensor = field(repr=False)
    classes: tuple[str, ...] = ("normal", "lesion")
    mean: float = 0.0
    std: float = 1.0
    default_objective: str = "cross_entropy"

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y, m = (getattr(self, f"{k}_{split}") for k in ("x", "y", "mask"))
            if x.ndim != 5 or y.ndim != 1 or len(x) != len(y) or m.shape != (x.shape[0], *x.shape[2:]):
                raise ValueError(f"{self.name} {split}: x {tuple(x.shape)}, y {tuple(y.shape)}, mask {tuple(m.shape)} "
                                 "are not (N, 1, D, H, W), (N,), (N, D, H, W)")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(1, D, H, W) of one volume."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def lesion_fraction(self, split: str = "test") -> float:
        """The mean fraction of a lesion volume's voxels inside its lesion (the chance rate of a random voxel)."""
        mask, kind = getattr(self, f"mask_{split}"), getattr(self, f"kind_{split}")
        sick = mask[kind > 0]
        return float(sick.flatten(1).float().mean(1).mean()) if len(sick) else 0.0


def _grid(shape: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
    d, h, w = (torch.arange(n, dtype=torch.float32) for n in shape)
    gd, gh, gw = torch.meshgrid(d, h, w, indexing="ij")
    return gd, gh, gw


def make_volumes(kinds: Tensor, shape: tuple[int, int, int] = CT_SHAPE, style: VolumeStyle = VolumeStyle(),
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Raw volumes (N, 1, D, H, W) and lesion masks (N, D, H, W) for lesion ``kinds`` (0, 1 or 2 per volume)."""
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"volume shape must be (D, H, W) with every side >= 8, got {shape}")
    if kinds.ndim != 1 or (kinds < 0).any() or (kinds > 2).any():
        raise ValueError("kinds must be a 1-D tensor of 0 (normal), 1 (ground-glass) or 2 (consolidation)")
    n, (D, H, W) = len(kinds), shape
    g = generator

    def rand(*size: int) -> Tensor:
        return torch.rand(*size, generator=g)

    zz, yy, xx = (t.unsqueeze(0) for t in _grid(shape))  # (1, D, H, W)
    lungs: list[tuple[Tensor, Tensor, Tensor]] = []  # (inside (N, D, H, W), centre (N, 3), radii (N, 3))
    for side in (0.3, 0.7):  # left and right lung: ellipsoids centred at a third of the width from each side
        centre = torch.stack([(D - 1) / 2 + 2 * rand(n) - 1, (H - 1) / 2 + 2 * rand(n) - 1,
                              side * (W - 1) + 2 * rand(n) - 1], 1)
        radii = torch.tensor([0.42 * D, 0.36 * H, 0.17 * W]) * (0.9 + 0.2 * rand(n, 3))
        c, r = centre.view(n, 3, 1, 1, 1), radii.view(n, 3, 1, 1, 1)
        inside = (((zz - c[:, 0]) / r[:, 0]) ** 2 + ((yy - c[:, 1]) / r[:, 1]) ** 2
                  + ((xx - c[:, 2]) / r[:, 2]) ** 2) <= 1.0
        lungs.append((inside, centre, radii))
    lung_any = lungs[0][0] | lungs[1][0]
    vol = torch.where(lung_any, torch.tensor(style.lung), torch.tensor(style.tissue))
    coarse = torch.randn(n, 1, 4, 6, 6, generator=g) * style.smooth_noise
    vol = vol + F.interpolate(coarse, size=shape, mode="trilinear", align_corners=True)[:, 0]
    vol = vol + torch.randn(n, D, H, W, generator=g) * style.white_noise

    # lesions: a point inside a random lung (within half its radii of the centre), a Gaussian blob inside that lung
    which = (rand(n) < 0.5).long()
    u = torch.randn(n, 3, generator=g)
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-6) * rand(n, 1).pow(1 / 3) * 0.5
    centre = torch.where(which.view(n, 1) == 0, lungs[0][1] + u * lungs[0][2], lungs[1][1] + u * lungs[1][2])
    inside = torch.where(which.view(n, 1, 1, 1) == 0, lungs[0][0], lungs[1][0])
    radius = torch.where(kinds == 2, style.consolidation_radius, style.ggo_radius).float()
    amp = torch.where(kinds == 2, style.consolidation_amplitude, style.ggo_amplitude).float()
    amp = torch.where(kinds == 0, 0.0, amp)
    c = centre.view(n, 3, 1, 1, 1)
    d2 = (zz - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2 + (xx - c[:, 2]) ** 2
    r2 = radius.view(n, 1, 1, 1) ** 2
    vol = vol + amp.view(n, 1, 1, 1) * torch.exp(-d2 / r2) * inside
    mask = (d2 <= r2) & inside & (kinds > 0).view(n, 1, 1, 1)
    return vol.unsqueeze(1).float(), mask


def _kinds(n: int, generator: torch.Generator) -> Tensor:
    return (torch.arange(n) % 3)[torch.randperm(n, generator=generator)]


def ct_volumes(seed: int = 0, *, n_train: int = 480, n_test: int = 120, classes: int = 2,
               shape: tuple[int, int, int] = CT_SHAPE, style: VolumeStyle = VolumeStyle(),
               limit: int | None = None) -> VolumeDataset:
    """Generate the dataset (see the module docstring); ``classes`` 2 (normal vs lesion) or 3 (the kinds)."""
    if classes not in (2, 3):
        raise ValueError(f"ct_volumes: classes must be 2 (normal vs lesion) or 3 ({', '.join(KINDS)}), got {classes!r}")
    if n_train < 2 or n_test < 1:
        raise ValueError(f"ct_volumes: need n_train >= 2 and n_test >= 1, got {n_train}, {n_test}")
    if limit is not None:
        n_train = min(n_train, int(limit))
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        g = torch.Generator().manual_seed(derive_seed(seed, f"ct_volumes/{split}"))
        kind = _kinds(n, g)
        x, mask = make_volumes(kind, cast(tuple[int, int, int], tuple(shape)), style, g)
        splits[split] = (x, kind, mask)
    x_train = splits["train"][0]
    mean, std = float(x_train.double().mean()), float(x_train.double().std())
    std = max(std, 1e-8)

    def label(kind: Tensor) -> Tensor:
        return (kind if classes == 3 else (kind > 0).long()).long()

    names = KINDS if classes == 3 else ("normal", "lesion")
    return VolumeDataset(
        "ct_volumes" if classes == 2 else "ct_volumes_3class",
        (x_train - mean) / std, label(splits["train"][1]), (splits["test"][0] - mean) / std, label(splits["test"][1]),
        splits["train"][2], splits["test"][2], splits["train"][1], splits["test"][1], names, mean, std)


def _factory(classes: int):
    def load(root: Path | None, *, seed: int = 0, limit: int | None = None) -> VolumeDataset:
        return ct_volumes(seed, classes=classes, limit=limit)
    return load


for _name, _classes in (("ct_volumes", 2), ("ct_volumes_3class", 3)):
    try:
        register_dataset(_name, _factory(_classes))
    except ValueError:  # registered already (a module reload): keep the first registration
        pass

"""Styled image datasets: per-image intensity "styles" as domains, for searching where instance normalisation goes
(OSNet-AIN, Zhou et al., TPAMI 2021; the CPU-scale protocol of SEEDS_2 §5.6).

OSNet-AIN trains on one re-identification dataset and is tested on another (no target data): a domain shift.
Here the shift is an intensity style x' = a * x + b drawn per image on standardised images (IN removes exactly such
a per-instance affine change, up to the padding at the borders):

* **train styles**: a ~ U(0.3, 2), b ~ U(-1, 1), one draw per training image (fixed: the dataset is tensors);
* **unseen test style**: a ~ U(2.5, 5), b ~ U(-3, 3) -- outside the training range on both sides;
* **no-style control** (the ``*_control`` datasets): training images unstyled (a = 1, b = 0), same test sets.

Registered names (``load_dataset(name, seed=..., limit=...)``, ``SearchConfig(dataset=...)``, ``--dataset``):

* ``digits_styles``, ``digits_styles_control`` -- the shipped 8x8 digits (1436 train / 361 test images before
  ``limit``);
* ``fashion_styles``, ``fashion_styles_control`` -- Fashion-MNIST 28x28 (Debian's ``dataset-fashion-mnist`` in
  /usr/share/datasets/fashion-mnist, or ``root``); 3000 training images unless ``limit`` says otherwise, 2000
  test images (a seeded, stratified subset of the official 10000). Missing files raise
  :class:`~workbench.tasks.data.DatasetNotFoundError`.

A :class:`StyledDataset` is an ordinary dataset whose ``x_test`` / ``y_test`` are the **unseen-style** test
images (the target domain: what a search must generalise to, and never sees). It also carries the same test
images in the train styles (``x_seen``) and unstyled (``x_plain``), and the style ranges it was made with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from workbench.tasks.data.datasets import _stratified_take, load_dataset, register_dataset
from workbench.tasks.data.streams import derive_seed

__all__ = ["NO_STYLE", "TRAIN_STYLES", "UNSEEN_STYLE", "StyleRange", "StyledDataset", "apply_styles", "styled"]


@dataclass(frozen=True)
class StyleRange:
    """x' = a * x + b with a ~ U(a_range), b ~ U(b_range), drawn per image."""

    a_range: tuple[float, float]
    b_range: tuple[float, float]

    def __post_init__(self) -> None:
        (a0, a1), (b0, b1) = self.a_range, self.b_range
        if not (0 < a0 <= a1 and b0 <= b1):
            raise ValueError(f"a style needs 0 < a_min <= a_max and b_min <= b_max, got a {self.a_range}, "
                             f"b {self.b_range}")

    def __str__(self) -> str:
        (a0, a1), (b0, b1) = self.a_range, self.b_range
        if a0 == a1 == 1 and b0 == b1 == 0:
            return "no style (a = 1, b = 0)"
        return f"a ~ U({a0:g}, {a1:g}), b ~ U({b0:g}, {b1:g})"


TRAIN_STYLES = StyleRange((0.3, 2.0), (-1.0, 1.0))
UNSEEN_STYLE = StyleRange((2.5, 5.0), (-3.0, 3.0))
NO_STYLE = StyleRange((1.0, 1.0), (0.0, 0.0))


def apply_styles(x: Tensor, style: StyleRange, generator: torch.Generator) -> Tensor:
    """A new tensor: every image of (N, C, H, W) ``x`` times its own a plus its own b (same a, b on all channels)."""
    n = len(x)
    shape = (n,) + (1,) * (x.dim() - 1)
    (a0, a1), (b0, b1) = style.a_range, style.b_range
    a = a0 + (a1 - a0) * torch.rand(n, generator=generator, dtype=torch.float64)
    b = b0 + (b1 - b0) * torch.rand(n, generator=generator, dtype=torch.float64)
    return (x * a.to(x.dtype).view(shape) + b.to(x.dtype).view(shape)).contiguous()


@dataclass(frozen=True, eq=False)
class StyledDataset:
    """Training images in the train styles; ``x_test`` in the unseen style; ``x_seen`` / ``x_plain`` the same
    test images in the train styles / unstyled (see the module docstring)."""

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)  # the unseen style
    y_test: Tensor = field(repr=False)
    x_seen: Tensor = field(repr=False)  # the train styles (fresh draws)
    x_plain: Tensor = field(repr=False)  # no style
    n_classes: int
    classes: tuple[str, ...]
    train_styles: StyleRange
    test_style: StyleRange
    default_objective = "cross_entropy"

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def control(self) -> bool:
        """Whether this is the no-style control (training images unstyled)."""
        return self.train_styles == NO_STYLE

    def test_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        """The three test sets by name: ``seen`` (train styles), ``unseen`` (the unseen style), ``plain``."""
        return {"seen": (self.x_seen, self.y_test), "unseen": (self.x_test, self.y_test),
                "plain": (self.x_plain, self.y_test)}

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train images in style {self.train_styles}; "
                f"{len(self.y_test)} test images, unseen style {self.test_style}")


def styled(base: Any, name: str, seed: int, control: bool = False, max_test: int | None = None) -> StyledDataset:
    """``base`` (an image dataset, standardised) with the styles of the module docstring, drawn from ``seed``."""
    def gen(part: str) -> torch.Generator:  # one stream per part: a control has the same test sets
        return torch.Generator().manual_seed(derive_seed(seed, f"styles/{part}"))

    x_test, y_test = base.x_test, base.y_test
    if max_test is not None and len(y_test) > max_test:
        keep = _stratified_take(y_test, max_test, gen("test subset"))
        x_test, y_test = x_test[keep], y_test[keep]
    train = NO_STYLE if control else TRAIN_STYLES
    x_train = base.x_train.clone() if control else apply_styles(base.x_train, train, gen("train"))
    return StyledDataset(name, x_train, base.y_train, apply_styles(x_test, UNSEEN_STYLE, gen("unseen")),
                         y_test.contiguous(), apply_styles(x_test, TRAIN_STYLES, gen("seen")), x_test.contiguous(),
                         base.n_classes, tuple(base.classes), train, UNSEEN_STYLE)


def _digits(control: bool):
    name = "digits_styles_control" if control else "digits_styles"

    def make(root: Path | None, *, seed: int = 0, limit: int | None = None) -> StyledDataset:
        return styled(load_dataset("digits", seed=seed, limit=limit), name, seed, control)
    return make


def _fashion(control: bool):
    name = "fashion_styles_control" if control else "fashion_styles"

    def make(root: Path | None, *, seed: int = 0, limit: int | None = None) -> StyledDataset:
        base = load_dataset("fashion_mnist", root, seed=seed, limit=3000 if limit is None else limit)
        return styled(base, name, seed, control, max_test=2000)
    return make


for _control in (False, True):
    register_dataset("digits_styles_control" if _control else "digits_styles", _digits(_control))
    register_dataset("fashion_styles_control" if _control else "fashion_styles", _fashion(_control),
                     reads_files=True)

"""Synthetic image tasks generated in code, for tests and controlled phenomena.

Each task is a pure function of a fixed task seed: ``synthetic:stripes`` is the
same images on every machine and for every ``load_dataset(seed=...)`` (the
load seed only shuffles and subsamples, as for the real datasets). Pixels come
out roughly in [-2, 2]; ``load_dataset`` standardises them like any dataset.

- ``blobs`` (easy): each class has a smooth random prototype (blurred white
  noise); a sample is its prototype plus smooth and white noise. A linear model
  on pixels already does well.
- ``stripes`` (harder): oriented sinusoidal gratings, 5 orientations x 2
  frequencies = 10 classes, each image with a random phase, contrast, brightness
  offset and pixel noise. The random phase makes every class's mean image ~0,
  so pooling, skip connections or a linear read-out of pixels cannot separate
  the classes; a convolution (a local oriented filter) followed by a
  nonlinearity can. This is the task where parametric convolutions are
  provably needed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# One fixed seed per task so that a task's images never depend on the load seed.
_TASK_SEED = {"blobs": 1001, "stripes": 2002}


@dataclass(frozen=True)
class SyntheticTask:
    """Generated arrays of one task: images (N, 1, H, W) float32, labels int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]


def _balanced_labels(n: int, n_classes: int, gen: torch.Generator) -> Tensor:
    """``n`` labels with class counts differing by at most one, in random order."""
    y = torch.arange(n, dtype=torch.int64) % n_classes
    return y[torch.randperm(n, generator=gen)]


def _blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur of (N, 1, H, W) images with reflect padding."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1))


def _unit_std(x: Tensor) -> Tensor:
    """Scale each image to zero mean and unit standard deviation."""
    flat = x.flatten(1)
    flat = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-6)
    return flat.view_as(x)


def blobs(n_train: int = 2000, n_test: int = 500, size: int = 8, n_classes: int = 10) -> SyntheticTask:
    """Easy task: class-conditional smooth Gaussian images (see module docstring)."""
    gen = torch.Generator().manual_seed(_TASK_SEED["blobs"])
    protos = _unit_std(_blur(torch.randn(n_classes, 1, size, size, generator=gen), 1.2))

    def sample(n: int) -> tuple[Tensor, Tensor]:
        y = _balanced_labels(n, n_classes, gen)
        smooth = _unit_std(_blur(torch.randn(n, 1, size, size, generator=gen), 1.2))
        x = protos[y] + 0.6 * smooth + 0.3 * torch.randn(n, 1, size, size, generator=gen)
        return x, y

    x_tr, y_tr = sample(n_train)
    x_te, y_te = sample(n_test)
    return SyntheticTask(x_tr, y_tr, x_te, y_te, tuple(f"blob{c}" for c in range(n_classes)))


# (orientation in degrees, spatial frequency in cycles per pixel) of each class.
_STRIPES = [(a, f) for f in (0.16, 0.3) for a in (0, 36, 72, 108, 144)]


def stripes(n_train: int = 2000, n_test: int = 500, size: int = 8) -> SyntheticTask:
    """Harder task: oriented gratings with random phase (see module docstring)."""
    gen = torch.Generator().manual_seed(_TASK_SEED["stripes"])
    angle = torch.tensor([math.radians(a) for a, _ in _STRIPES])
    freq = torch.tensor([f for _, f in _STRIPES])
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def sample(n: int) -> tuple[Tensor, Tensor]:
        y = _balanced_labels(n, len(_STRIPES), gen)
        def u(lo: float, hi: float) -> Tensor:  # one uniform draw per image
            return lo + (hi - lo) * torch.rand(n, 1, 1, generator=gen)

        theta = angle[y].view(n, 1, 1) + u(-0.1, 0.1)  # about +-6 degrees of jitter
        f = freq[y].view(n, 1, 1) * u(0.93, 1.07)
        phase = u(0.0, 2 * math.pi)
        contrast = u(0.6, 1.2)
        offset = 0.3 * torch.randn(n, 1, 1, generator=gen)
        proj = xx * torch.cos(theta) + yy * torch.sin(theta)
        img = offset + contrast * torch.sin(2 * math.pi * f * proj + phase)
        img = img + 0.8 * torch.randn(n, size, size, generator=gen)
        return img.unsqueeze(1).float(), y

    x_tr, y_tr = sample(n_train)
    x_te, y_te = sample(n_test)
    names = tuple(f"{a}deg_f{f:g}" for a, f in _STRIPES)
    return SyntheticTask(x_tr, y_tr, x_te, y_te, names)


TASKS: dict[str, Callable[[], SyntheticTask]] = {"blobs": blobs, "stripes": stripes}

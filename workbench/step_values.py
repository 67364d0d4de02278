"""What one search step produces, kept on the device until it is read once.

A step computes losses, metrics, method extras (DARTS-V2's finite-difference
radius, a cost term's value), checks that they and the architecture gradient
are finite, and snapshots the architecture logits and probabilities for its
:class:`~workbench.events.StepEnded`. On the CPU reading each of those as it is
made costs nothing; on a GPU every ``float(tensor)`` or ``.cpu()`` waits for all
queued work, so a step that reads ten values synchronises ten times and the GPU
idles between them (issue 15).

:class:`StepOutputs` collects them as tensors while the step runs; :meth:`StepOutputs.pack`
concatenates them into one float64 vector (on the device, without a sync: this
is what a captured CUDA graph returns), and :meth:`StepOutputs.read` /
:func:`unpack` bring that vector to the host in a single transfer. That single
read is the one place a step synchronises; it also decides whether the step
failed (a non-finite loss or gradient), so that a failed step can be undone
before anything sees it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Layout:
    """Where each value sits in a packed step vector: names, array shapes and dtypes, and the checks."""

    scalars: tuple[str, ...]
    checks: tuple[tuple[str, str, str], ...]  # (kind "loss" | "grad", key of the value or flag, label)
    arrays: tuple[tuple[str, tuple[int, ...], str], ...]  # (key, shape, numpy dtype)

    @property
    def size(self) -> int:
        return len(self.scalars) + sum(math.prod(s) for _, s, _ in self.arrays)


@dataclass
class StepValues:
    """A step's values on the host: scalars by key, arrays by key, and the first failed check (if any)."""

    scalars: dict[str, float]
    arrays: dict[str, np.ndarray]
    failure: tuple[str, str, float] | None = None  # (kind, label, value) of the first check that failed

    def group(self, prefix: str) -> dict[str, float]:
        """Scalars whose key starts with ``prefix + '/'``, by the rest of the key."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.scalars.items() if k.startswith(prefix + "/")}

    def arrays_of(self, prefix: str) -> dict[str, np.ndarray]:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")}


@dataclass
class StepOutputs:
    """Values a step produces, in the order it produces them (tensors stay where they were computed)."""

    scalars: dict[str, Tensor | float] = field(default_factory=dict)
    checks: list[tuple[str, str, str]] = field(default_factory=list)
    arrays: dict[str, Tensor] = field(default_factory=dict)

    def loss(self, key: str, value: Tensor | float, label: str) -> None:
        """A loss-like scalar that must be finite (``label`` names it in the error)."""
        self.scalars[key] = _detach(value)
        self.checks.append(("loss", key, label))

    def scalar(self, key: str, value: Tensor | float) -> None:
        self.scalars[key] = _detach(value)

    def metrics(self, prefix: str, values: Mapping[str, Tensor | float]) -> None:
        for name, v in values.items():
            self.scalars[f"{prefix}/{name}"] = _detach(v)

    def finite(self, tensors: Iterable[Tensor], label: str) -> None:
        """Record whether every element of ``tensors`` is finite (a device flag; no sync)."""
        flags = [torch.isfinite(t.detach()).all() for t in tensors]
        if flags:
            key = f"check/{len(self.checks)}"
            self.scalars[key] = torch.stack(flags).all()
            self.checks.append(("grad", key, label))

    def array(self, key: str, value: Tensor) -> None:
        self.arrays[key] = value.detach()

    def layout(self) -> Layout:
        return Layout(tuple(self.scalars), tuple(self.checks),
                      tuple((k, tuple(v.shape), str(_np_dtype(v))) for k, v in self.arrays.items()))

    def tensors_on(self) -> torch.device | None:
        for v in (*self.scalars.values(), *self.arrays.values()):
            if isinstance(v, Tensor):
                return v.device
        return None

    def pack(self, device: torch.device) -> Tensor:
        """Everything as one float64 vector on ``device`` (no host synchronisation)."""
        parts = [(v if isinstance(v, Tensor) else torch.tensor(float(v), device=device))
                 .to(device=device, dtype=torch.float64).reshape(1) for v in self.scalars.values()]
        parts += [v.to(device=device, dtype=torch.float64).reshape(-1) for v in self.arrays.values()]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64, device=device)

    def read(self) -> StepValues:
        """The values on the host: one transfer for a device step, ``float()`` per value for a CPU one."""
        device = self.tensors_on()
        if device is None or device.type == "cpu":
            scalars = {k: float(v) for k, v in self.scalars.items()}
            arrays = {k: v.numpy().copy() for k, v in self.arrays.items()}
            return StepValues(scalars, arrays, _failure(self.layout(), scalars))
        return unpack(self.pack(device), self.layout())


def unpack(packed: Tensor, layout: Layout) -> StepValues:
    """A packed step vector (see :meth:`StepOutputs.pack`) on the host, in one transfer."""
    host = packed.detach().cpu().numpy()
    n = len(layout.scalars)
    scalars = {k: float(host[i]) for i, k in enumerate(layout.scalars)}
    arrays, i = {}, n
    for key, shape, dtype in layout.arrays:
        size = math.prod(shape)
        arrays[key] = host[i:i + size].astype(dtype).reshape(shape)
        i += size
    return StepValues(scalars, arrays, _failure(layout, scalars))


def _failure(layout: Layout, scalars: Mapping[str, float]) -> tuple[str, str, float] | None:
    for kind, key, label in layout.checks:
        value = scalars[key]
        if (kind == "loss" and not math.isfinite(value)) or (kind == "grad" and value != 1.0):
            return kind, label, value
    return None


def _detach(value: Tensor | float) -> Tensor | float:
    return value.detach() if isinstance(value, Tensor) else float(value)


def _np_dtype(t: Tensor) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype

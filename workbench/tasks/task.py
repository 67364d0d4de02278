"""Tasks: the data a search sees and the objective it optimises.

A :class:`Task` pairs a dataset (any tensors with a leading example axis:
images (N, C, H, W), volumes (N, C, D, H, W), points (N, 2), interaction
indices, ...) with an :class:`~workbench.tasks.objectives.Objective`. Spaces
see only its :class:`TaskInfo` (the input shape of one example and the size of
the output), so a space builds the same supernet for any task of that shape.

A dataset is any object with ``name``, ``x_train``, ``y_train``, ``x_test``,
``y_test`` (tensors, examples along axis 0), ``input_shape`` and ``n_outputs``
and, optionally, ``default_objective``; :class:`TensorDataset` is the generic
one, :class:`~workbench.tasks.data.ImageDataset` the image one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from workbench.tasks.objectives import Objective, get_objective


@dataclass(frozen=True)
class TaskInfo:
    """What a space needs to know of a task: one example's shape and the output size."""

    input_shape: tuple[int, ...]
    n_outputs: int
    name: str = ""


class Dataset(Protocol):
    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    @property
    def n_outputs(self) -> int: ...


@dataclass(frozen=True)
class TensorDataset:
    """A dataset of in-memory tensors of any shape (examples along axis 0)."""

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    n_outputs: int = 1
    default_objective: str = "mse"

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, Tensor) or not isinstance(y, Tensor):
                raise TypeError(f"{self.name}: x_{split} and y_{split} must be torch tensors")
            if len(x) != len(y) or len(x) == 0:
                raise ValueError(f"{self.name}: x_{split} has {len(x)} examples and y_{split} {len(y)}; "
                                 "they must match and be > 0")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"{self.name}: train and test examples differ in shape "
                             f"({tuple(self.x_train.shape[1:])} vs {tuple(self.x_test.shape[1:])})")
        if self.n_outputs < 1:
            raise ValueError(f"{self.name}: n_outputs must be >= 1, got {self.n_outputs}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True)
class Task:
    """A dataset and the objective to optimise on it."""

    dataset: Any
    objective: Objective

    @classmethod
    def of(cls, dataset: Any, objective: str | Objective | None = None) -> Task:
        """``dataset`` with ``objective`` (default: the dataset's ``default_objective``, else cross-entropy)."""
        if objective is None:
            objective = getattr(dataset, "default_objective", "cross_entropy")
        return cls(dataset, get_objective(objective))

    @property
    def name(self) -> str:
        return str(self.dataset.name)

    @property
    def info(self) -> TaskInfo:
        return TaskInfo(tuple(int(s) for s in self.dataset.input_shape), int(self.dataset.n_outputs), self.name)

    def fingerprint(self) -> str:
        """A hash of the data (all four tensors) and the objective's name."""
        h = hashlib.sha256(f"{self.name}\0{self.objective.name}".encode())
        for t in (self.dataset.x_train, self.dataset.y_train, self.dataset.x_test, self.dataset.y_test):
            t = t.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update((t.float() if t.dtype == torch.bfloat16 else t).numpy().tobytes())
        return h.hexdigest()[:16]

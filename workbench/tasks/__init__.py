"""Tasks: data of any shape with its search split, and the objective (loss + named metrics).

* :mod:`workbench.tasks.task` -- :class:`Task` (a dataset + an objective), :class:`TaskInfo`
  (what a space sees of it), :class:`TensorDataset` (any tensors);
* :mod:`workbench.tasks.objectives` -- :class:`Objective` and the registry (``cross_entropy``,
  ``mse``, ``log_loss``);
* :mod:`workbench.tasks.data` -- offline datasets (digits, Fashion-MNIST, MNIST 5k, CIFAR-10,
  synthetic), the DARTS split and resumable batch streams.
"""
from __future__ import annotations

from workbench.tasks.data import (
    DatasetNotFoundError,
    ImageDataset,
    dataset_names,
    load_dataset,
    register_dataset,
)
from workbench.tasks.objectives import OBJECTIVES, Objective, get_objective, objective_names
from workbench.tasks.task import Dataset, Task, TaskInfo, TensorDataset

__all__ = [
    "OBJECTIVES", "Dataset", "DatasetNotFoundError", "ImageDataset", "Objective", "Task", "TaskInfo",
    "TensorDataset", "dataset_names", "get_objective", "load_dataset", "objective_names", "register_dataset",
]

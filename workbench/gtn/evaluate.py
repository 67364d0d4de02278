"""Fresh learners taught by a GTN vs fresh learners trained on real data, at equal steps and batch size.

The claim of generative teaching networks (Such et al., ICML 2020, arXiv 1912.07768; SEEDS_2 §9.4 at CPU
scale): a learner trained for a few SGD steps on the teacher's synthetic curriculum reaches a higher accuracy
than the same learner trained for the same number of steps on real batches of the same size, even with the
real-data learning rate tuned. The protocol here (the pilot's):

* ``n_learners`` fresh learners (width 64 by default), learner k initialised from seed ``seed * 1000 + k``; the
  GTN learner and the real-data learners of index k start from the *same* initialisation (paired);
* GTN: T steps on the curriculum with the teacher's learned lr and momentum (no meta-gradient);
* real data: T steps on random real batches of B examples from ``train`` (the data the teacher was meta-trained
  on), momentum SGD (momentum 0.5) at each lr of ``lr_grid``; the lr with the best mean *selection* accuracy
  is the baseline;
* both are measured on the same selection and test data.

Learners are functional parameter dicts (:mod:`workbench.gtn.learner`) trained by the same unrolled SGD
(:mod:`workbench.gtn.train`, without a graph).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.gtn.learner import LearnerArch
from workbench.gtn.train import accuracy, real_batches, train_on_real

__all__ = ["TeachingComparison", "compare_with_real"]

Data = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class TeachingComparison:
    """Mean accuracies of fresh learners after ``steps`` steps: on GTN data, and on real data per lr."""

    steps: int
    batch: int
    n_learners: int
    gtn_select: float
    gtn_test: float
    real_select: dict[float, float]  # lr -> mean selection accuracy
    real_test: dict[float, float]  # lr -> mean test accuracy
    gtn_test_each: tuple[float, ...] = ()
    real_test_each: tuple[float, ...] = ()  # at the best lr

    @property
    def best_lr(self) -> float:
        """The real-data lr with the best mean selection accuracy (ties: the smaller lr)."""
        return max(sorted(self.real_select), key=lambda lr: self.real_select[lr])

    @property
    def margin(self) -> float:
        """Test accuracy of GTN learners minus that of real-data learners at the best lr."""
        return self.gtn_test - self.real_test[self.best_lr]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch": self.batch, "n_learners": self.n_learners,
                "gtn_select": self.gtn_select, "gtn_test": self.gtn_test, "best_lr": self.best_lr,
                "real_select": {str(k): v for k, v in self.real_select.items()},
                "real_test": {str(k): v for k, v in self.real_test.items()}, "margin": self.margin}


def compare_with_real(teacher: Any, train: Data, select: Data, test: Data, *, n_learners: int = 20,
                      width: int = 64, lr_grid: Sequence[float] = (0.03, 0.1, 0.3, 1.0), momentum: float = 0.5,
                      seed: int = 0) -> TeachingComparison:
    """GTN-taught vs real-data-trained fresh learners (see the module docstring); ``teacher`` is a
    :class:`~workbench.spaces.gtn_teacher.TeacherNet`."""
    if n_learners < 1 or not lr_grid:
        raise ValueError(f"compare_with_real: n_learners={n_learners} must be >= 1 and lr_grid non-empty")
    arch = LearnerArch((int(width),))
    T, B = teacher.steps, teacher.curriculum.batch
    gtn_sel, gtn_test = [], []
    real_sel: dict[float, list[float]] = {float(lr): [] for lr in lr_grid}
    real_test: dict[float, list[float]] = {float(lr): [] for lr in lr_grid}
    draws = torch.Generator().manual_seed(seed * 1000 + 999)
    data = teacher.curriculum_data()
    for k in range(n_learners):
        theta0 = teacher.fresh_learner(arch, torch.Generator().manual_seed(seed * 1000 + k))
        taught = teacher.teach_fresh(arch, torch.Generator().manual_seed(seed * 1000 + k), data=data)
        gtn_sel.append(accuracy(arch, taught, *select))
        gtn_test.append(accuracy(arch, taught, *test))
        batches = real_batches(len(train[1]), T, B, draws)
        for lr in real_sel:
            trained = train_on_real(arch, theta0, train, batches, lr, momentum)
            real_sel[lr].append(accuracy(arch, trained, *select))
            real_test[lr].append(accuracy(arch, trained, *test))
    sel = {lr: float(np.mean(v)) for lr, v in real_sel.items()}
    best = max(sorted(sel), key=lambda lr: sel[lr])
    return TeachingComparison(T, B, n_learners, float(np.mean(gtn_sel)), float(np.mean(gtn_test)), sel,
                              {lr: float(np.mean(v)) for lr, v in real_test.items()}, tuple(gtn_test),
                              tuple(real_test[best]))

"""Schedules as pure functions of the epoch (unit-tested against the reference values).

* ``cosine_lr``: DARTS's per-epoch cosine annealing (`quark0/darts:cnn/train_search.py`,
  CosineAnnealingLR stepped at the start of each epoch): lr_e = lr_min +
  (lr_max - lr_min) (1 + cos(pi e / T)) / 2, so epoch 0 has lr_max and epoch
  T-1 is just above lr_min (0.025 -> 0.001024 for T = 50).
"""
from __future__ import annotations

import math


def cosine_lr(epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs))


def constant_lr(epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
    return lr_max

"""Retraining a derived graph transformer from scratch: DARTS-GT's phase 2 (SEEDS_2 §7.3), scaled to a CPU.

The reference discards the supernet's weights and trains a **fresh** discrete model with the chosen expert per
layer: AdamW (lr 1e-3, weight decay 1e-5), a cosine schedule after linear warm-up, batch 32. Here the same
recipe with CPU-sized defaults (:class:`RetrainConfig`): AdamW, linear warm-up for ``warmup_epochs`` then cosine
to 0, gradient-norm clipping at 5, on the dataset's whole training split; the test split is only evaluated.
The loss and metrics are the task's objective (cross-entropy for graph-level tasks, ``node_cross_entropy`` for
node-level ones). Deterministic for a seed on the CPU: the batch order comes from its own stream and dropout from
a forked global RNG (the caller's RNG state is left as it was).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from workbench.tasks.data.streams import BatchStream, derive_seed, eval_batches
from workbench.tasks.objectives import Objective
from workbench.tasks.task import Task

__all__ = ["RetrainConfig", "evaluate_network", "train_network"]


@dataclass(frozen=True)
class RetrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-5
    warmup_epochs: int = 2
    grad_clip: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "warmup_epochs", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "batch_size" else 0):
                raise ValueError(f"RetrainConfig.{name} must be an integer >= {1 if name == 'batch_size' else 0}, "
                                 f"got {v!r}")
        for name in ("lr", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or (name == "lr" and v == 0):
                raise ValueError(f"RetrainConfig.{name} must be a number {'> 0' if name == 'lr' else '>= 0'}, "
                                 f"got {v!r}")

    def lr_at(self, epoch: int) -> float:
        """Linear warm-up over ``warmup_epochs``, then cosine from ``lr`` to 0 over the remaining epochs."""
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / (self.warmup_epochs + 1)
        span = max(self.epochs - self.warmup_epochs, 1)
        return 0.5 * self.lr * (1 + math.cos(math.pi * (epoch - self.warmup_epochs) / span))


def _objective(dataset: Any, objective: str | Objective | None) -> Objective:
    return Task.of(dataset, objective).objective


@torch.no_grad()
def evaluate_network(net: nn.Module, x: Tensor, y: Tensor, objective: Objective, batch_size: int = 256
                     ) -> dict[str, float]:
    """``loss`` and the objective's metrics of ``net`` (eval mode) on (x, y): per-example means over batches."""
    was = net.training
    net.eval()
    sums: dict[str, float] = {}
    for xb, yb in eval_batches(x, y, batch_size):
        out = net(xb)
        values = {"loss": objective.loss(out, yb), **objective.metrics(out, yb)}
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(yb)
    net.train(was)
    return {k: v / max(len(y), 1) for k, v in sums.items()}


def train_network(net: nn.Module, dataset: Any, config: RetrainConfig = RetrainConfig(),
                  objective: str | Objective | None = None) -> dict[str, float]:
    """Train ``net`` on ``dataset.x_train`` (module docstring); returns ``test_<metric>``, ``test_loss`` and the
    last epoch's mean ``train_loss``."""
    obj = _objective(dataset, objective)
    stream = BatchStream(dataset.x_train, dataset.y_train, config.batch_size,
                         seed=derive_seed(config.seed, "graph-retrain"))
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    net.train()
    last = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for epoch in range(config.epochs):
            for group in opt.param_groups:
                group["lr"] = config.lr_at(epoch)
            total = 0.0
            for _ in range(stream.batches_per_epoch):
                x, y = stream.next()
                loss = obj.loss(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                opt.step()
                total += float(loss.detach())
            last = total / stream.batches_per_epoch
    net.eval()
    test = evaluate_network(net, dataset.x_test, dataset.y_test, obj)
    return {**{f"test_{k}": v for k, v in test.items()}, "train_loss": last}

"""Retrain candidate networks of a norm-placement space and score them on seen and unseen styles (OSNet-AIN,
Zhou et al., TPAMI 2021: the found architecture is rebuilt and retrained, since "the test result obtained at the end
of architecture search is not meaningful"; SEEDS_2 §5.5-5.7).

:func:`retrain_placements` trains each named architecture from scratch on the dataset's training images (the
train styles) with the same seeded initialisation and batch order, then measures its accuracy on every test set:
for a :class:`~workbench.tasks.data.styles.StyledDataset` ``seen`` (test images in the train styles), ``unseen``
(the unseen style: the cross-domain number) and ``plain`` (unstyled); for any other dataset ``test``. Training
follows the search's recipe (SGD lr 0.05 cosine to 0, momentum 0.9, weight decay 5e-4, label smoothing 0.1, batch
64, no clipping) for ``epochs`` = 20 (the pilot's), with **affine** BN and IN, as the final OSNet-AIN
(``torchreid/models/osnet_ain.py``). :func:`candidate_networks` names the usual rows: the derived network,
``all-BN`` (every block ``plain``) and ``all-IN`` (every block ``in_residual``, the pilot's "all-IN-in"), plus
``all-IN-after-add`` and ``all-IN-both`` with ``extra=True``. Identical architectures are trained once.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.spaces.base import Choices, SearchSpace
from workbench.spaces.norm.space import NormConfig, NormPlacementSpace, placement
from workbench.tasks.data.streams import BatchStream, eval_batches
from workbench.tasks.task import TaskInfo

log = logging.getLogger(__name__)

__all__ = ["PlacementRow", "PlacementTable", "RetrainConfig", "candidate_networks", "retrain_placements",
           "test_sets"]


@dataclass(frozen=True)
class RetrainConfig:
    """How each candidate network is retrained (the search's recipe; SEEDS_2 §5.7's 20 epochs)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    affine: bool = True
    seed: int = 0
    net: NormConfig = field(default_factory=NormConfig)  # C and the stem (its affine/weights fields are unused)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"retraining needs epochs >= 1, batch_size >= 1 and lr > 0; got {self}")


@dataclass(frozen=True)
class PlacementRow:
    """One retrained network: its name, its placements, and its accuracy on each test set."""

    name: str
    label: str
    accuracy: Mapping[str, float]
    same_as: str | None = None  # trained once: the row whose network this is


@dataclass(frozen=True)
class PlacementTable:
    """Rows of :func:`retrain_placements`, in order; ``columns`` are the test sets."""

    dataset: str
    columns: tuple[str, ...]
    rows: tuple[PlacementRow, ...]

    def row(self, name: str) -> PlacementRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no network named {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def accuracy(self, name: str, column: str) -> float:
        return float(self.row(name).accuracy[column])

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "columns": list(self.columns),
                "rows": [{"name": r.name, "label": r.label, "accuracy": dict(r.accuracy), "same_as": r.same_as}
                         for r in self.rows]}

    def to_text(self) -> str:
        width = max(len(r.name) for r in self.rows)
        lab = max(len(r.label) for r in self.rows)
        head = f"{'network':{width}s}  {'placements':{lab}s}  " + "  ".join(f"{c:>7s}" for c in self.columns)
        lines = [head, "-" * len(head)]
        for r in self.rows:
            note = f"  (= {r.same_as})" if r.same_as else ""
            lines.append(f"{r.name:{width}s}  {r.label:{lab}s}  " +
                         "  ".join(f"{r.accuracy[c]:7.3f}" for c in self.columns) + note)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def test_sets(dataset: Any) -> dict[str, tuple[Tensor, Tensor]]:
    """The test sets a dataset offers: a styled dataset's seen / unseen / plain, else its one test set."""
    sets = getattr(dataset, "test_sets", None)
    return dict(sets()) if callable(sets) else {"test": (dataset.x_test, dataset.y_test)}


def candidate_networks(space: NormPlacementSpace, derived: Choices | None = None, extra: bool = False
                       ) -> dict[str, Choices]:
    """The networks to compare: ``derived`` (if given), all-BN, all-IN (``in_residual``) [, the other two]."""
    out: dict[str, Choices] = {} if derived is None else {"derived": derived}
    stem = derived.picks["stem"][0] if derived is not None and space.search_stem else "bn"
    out["all-BN"] = placement(space, "plain", stem)
    out["all-IN"] = placement(space, "in_residual", stem)
    if extra:
        out["all-IN-after-add"] = placement(space, "in_after_add", stem)
        out["all-IN-both"] = placement(space, "in_both", stem)
    return out


def _train(net: nn.Module, stream: BatchStream, cfg: RetrainConfig) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    net.train()
    for epoch in range(cfg.epochs):
        lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        for _ in range(stream.batches_per_epoch):
            x, y = stream.next()
            loss = F.cross_entropy(net(x), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


@torch.no_grad()
def _accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    net.eval()
    correct = sum(int((net(xb).argmax(1) == yb).sum()) for xb, yb in eval_batches(x, y, 512))
    return correct / max(len(y), 1)


def retrain_placements(dataset: Any, archs: Mapping[str, Choices], space: NormPlacementSpace | None = None,
                       config: RetrainConfig = RetrainConfig()) -> PlacementTable:
    """Train every architecture of ``archs`` (name -> Choices) on ``dataset`` and score it on its test sets."""
    if not archs:
        raise ValueError("retrain_placements needs at least one architecture (name -> Choices)")
    found: SearchSpace | None = space
    if found is None:
        from workbench.spaces import get_space
        found = get_space(next(iter(archs.values())).space)
    if not isinstance(found, NormPlacementSpace):
        raise TypeError(f"retrain_placements needs a norm-placement space, got {type(found).__name__}")
    space = found
    info = TaskInfo(tuple(int(s) for s in dataset.input_shape), int(dataset.n_outputs), str(dataset.name))
    sets = test_sets(dataset)
    rows: list[PlacementRow] = []
    trained: dict[str, str] = {}  # an architecture's JSON -> the row that trained it
    for name, arch in archs.items():
        space.check(arch)
        key = arch.to_json()
        if key in trained:
            first = next(r for r in rows if r.name == trained[key])
            rows.append(PlacementRow(name, first.label, first.accuracy, trained[key]))
            continue
        torch.manual_seed(config.seed)
        net = space.compile(arch, info, config=config.net, affine=config.affine)
        stream = BatchStream(dataset.x_train, dataset.y_train, config.batch_size, seed=config.seed * 1000 + 11)
        _train(net, stream, config)
        acc = {k: _accuracy(net, x, y) for k, (x, y) in sets.items()}
        log.info("%s (%s): %s", name, space.label(arch), acc)
        rows.append(PlacementRow(name, space.label(arch), acc))
        trained[key] = name
    return PlacementTable(str(dataset.name), tuple(sets), tuple(rows))

"""The discretisation gap: supernet vs derived network, with inherited weights and retrained.

DARTS derives a discrete cell from the continuous relaxation and assumes the
two perform alike; the gap between them is one of the failure modes DARTS-PT
(Wang et al., ICLR 2021, "Rethinking Architecture Selection in Differentiable
NAS") and others point at. Three numbers, tracked over a search:

1. the supernet (mixing weights softmax(alpha)) on a split;
2. the derived network with *inherited* weights: the same supernet with
   one-hot weights on the genotype's (edge, op) pairs and zero on every other
   edge, i.e. DARTS-PT's projection of all edges at once
   (`ruocwang/darts-pt:sota/cnn/model_search_darts_proj.py`,
   ``get_projected_weights``);
3. optionally, the genotype trained from scratch with
   :func:`workbench.spaces.cell.discrete.evaluate_genotype` (small budget; test split).

BatchNorm (``bn``): ``"train"`` uses batch statistics (DARTS-PT's
``infer(_eval=False)``; the running statistics are restored), ``"eval"`` the
running statistics, which the mixture accumulated and which therefore do not
match a one-hot network: expect a much larger gap in that mode.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from workbench.analysis.common import (
    Batches,
    active_ops,
    cell_space,
    check_choice,
    evaluate,
    preserved,
    searcher_batches,
    set_bn_mode,
    softmax_weights,
)
from workbench.events import AnalysisResult, EpochEnded
from workbench.spaces.cell.genotype import Genotype
from workbench.spaces.cell.space import CellSpace

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher


def genotype_weights(space: CellSpace, genotype: Genotype | str, dtype: torch.dtype = torch.float32,
                     device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Mixing weights (edges, ops) per cell type: 1 on each (edge, op) of ``genotype``, 0 elsewhere."""
    g = Genotype.parse(genotype)
    space.check_genotype(g)
    out = {}
    for c in space.cell_types:
        w = torch.zeros(space.n_edges, len(space.ops), dtype=dtype, device=device)
        for i, node in enumerate(g.cell(c).nodes):
            for op, src in node:
                k = space.edge_index(i, src)
                if not space.op_allowed(c, k, op):
                    raise ValueError(f"op {op!r} is not a candidate on edge {k} of the {c!r} cell in space "
                                     f"{space.name!r}; the genotype does not come from this supernet")
                w[k, space.ops.index(op)] = 1.0
        out[c] = w
    return out


@dataclass(frozen=True)
class GapResult:
    genotype: str
    split: str
    bn: str
    examples: int
    supernet_loss: float
    supernet_acc: float
    inherited_loss: float
    inherited_acc: float
    retrained_loss: float | None = None
    retrained_acc: float | None = None  # on the test split, after evaluate_genotype

    @property
    def inherited_gap(self) -> float:
        """Supernet accuracy minus the derived network's with inherited weights."""
        return self.supernet_acc - self.inherited_acc

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inherited_gap": self.inherited_gap}


def discretisation_gap(searcher: Searcher, genotype: Genotype | str | None = None, split: str = "val",
                       batches: int | Batches | None = None, bn: str = "train",
                       retrain: Any = None) -> GapResult:
    """Supernet vs derived network (default genotype: the search's current one) on ``split``.

    ``batches``: number of fixed batches of the split (None: all of it).
    ``retrain``: a :class:`workbench.spaces.cell.discrete.EvalConfig` to also train the
    genotype from scratch (that number is on the dataset's test split).
    """
    check_choice("bn", bn, ("train", "eval"))
    g = searcher.genotype() if genotype is None else Genotype.parse(genotype)
    model = searcher.model
    data = searcher_batches(searcher, split, batches)
    with preserved(model):
        set_bn_mode(model, bn)
        with torch.no_grad():
            w = softmax_weights(model)
        s_loss, s_acc = evaluate(model, data, w, active_ops(model, w), objective=searcher.objective)
        space = cell_space(searcher, "discretisation_gap")
        one_hot = genotype_weights(space, g, w[space.cell_types[0]].dtype, searcher.device)
        active = {c: (t != 0).cpu().numpy() for c, t in one_hot.items()}
        i_loss, i_acc = evaluate(model, data, one_hot, active, objective=searcher.objective)
    r_loss = r_acc = None
    if retrain is not None:
        try:
            from workbench.spaces.cell.discrete import evaluate_genotype
        except ImportError as exc:  # pragma: no cover - the module ships with the engine
            raise RuntimeError("retraining needs workbench.spaces.cell.discrete.evaluate_genotype, which is not available") from exc
        res = evaluate_genotype(g, searcher.space, searcher.dataset, retrain)
        r_loss, r_acc = float(res.test_loss), float(res.test_acc)
    return GapResult(str(g), split, bn, sum(len(y) for _, y in data), s_loss, s_acc, i_loss, i_acc, r_loss, r_acc)


class GapTracker:
    """Measures the gap at the end of every ``every``-th epoch and emits ``AnalysisResult(kind="gap")``.

    ``retrain`` (an EvalConfig) adds the from-scratch number every
    ``retrain_every`` measurements (expensive: a full training run each).
    """

    def __init__(self, searcher: Searcher, every: int = 1, split: str = "val", batches: int | Batches | None = None,
                 bn: str = "train", retrain: Any = None, retrain_every: int = 1) -> None:
        if every < 1 or retrain_every < 1:
            raise ValueError(f"every and retrain_every must be >= 1, got {every}, {retrain_every}")
        check_choice("bn", bn, ("train", "eval"))
        self.searcher, self.every = searcher, every
        self.options: dict[str, Any] = dict(split=split, batches=searcher_batches(searcher, split, batches), bn=bn)
        self.retrain, self.retrain_every = retrain, retrain_every
        self.results: list[GapResult] = []
        self._unsubscribe = searcher.bus.subscribe(self._on_epoch, kinds=(EpochEnded,))

    def close(self) -> None:
        self._unsubscribe()

    def _on_epoch(self, event: EpochEnded) -> None:
        if event.epoch % self.every and event.epoch != self.searcher.config.epochs - 1:
            return
        retrain = self.retrain if self.retrain is not None and len(self.results) % self.retrain_every == 0 else None
        r = discretisation_gap(self.searcher, event.genotype, retrain=retrain, **self.options)
        self.results.append(r)
        self.searcher.bus.emit(AnalysisResult(event.step, "gap", {**r.to_dict(), "epoch": event.epoch}))

    def table(self) -> np.ndarray:
        """(measurements, 3): supernet acc, inherited acc, retrained acc (NaN where not measured)."""
        return np.array([[r.supernet_acc, r.inherited_acc, np.nan if r.retrained_acc is None else r.retrained_acc]
                         for r in self.results])


def track_gap(searcher: Searcher, every: int = 1, **options: Any) -> GapTracker:
    """Attach a :class:`GapTracker` (see its options); ``tracker.close()`` detaches it."""
    return GapTracker(searcher, every=every, **options)

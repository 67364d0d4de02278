"""Latency-aware search on NAS-Bench-201: an additive per-op latency model fitted to a device's measurements.

The NAS-Bench-201 table (:class:`~workbench.spaces.cell.nb201.NB201Table`) carries
measured latencies of all 15,625 cells on several devices (``lat_ms_<device>``:
HW-NAS-Bench, Li et al., ICLR 2021: ``eyeriss``, ``fpga``, ``pixel3``,
``raspi4``; HELP, Lee et al., NeurIPS 2021: ``gold_6226``, ``1080ti_1``,
``titan_rtx_256``, ``pixel2``). A differentiable method needs a cost that is a
sum over its choices, so :func:`fit_nb201_latency` fits, by least squares over
every cell of the table,

    latency(cell) ~= b + sum over the 6 edges of c[op on that edge]

(``per_edge=True``: ``c[edge, op]``, one price per op *and* edge) and reports
how well that additive model explains the device (:class:`FitReport`: R²,
mean absolute and mean relative error, Spearman rank correlation). It is a
model, not the measurement: devices whose latency is not additive in the ops
fit worse, and the report says by how much. In the shared table, ``eyeriss`` and
``fpga`` are exactly additive (R² 1.000); HW-NAS-Bench's ``pixel3`` and
``raspi4`` latencies are not (R² about 0.85): the 341 cells whose output is cut
off from the input measure about 0.05 ms (median), i.e. the measured network
drops what cannot reach the output, which no per-op price can express, and
their near-zero latencies make the *mean* relative error huge while the median
stays near 10%.

:meth:`NB201LatencyFit.cost_model` turns the fit into a
:class:`~workbench.methods.costs.CostModel` over the ``nb201`` space's choice
group (rows: the 6 edges, options: its ops). The intercept is spread evenly
over the edges and each edge's prices are shifted so they stay >= 0 (a constant
per row changes neither the gradient nor the argmax, since each row's
probabilities sum to 1), so ``E[cost]`` under the relaxation *is* the predicted
latency in ms (less :attr:`NB201LatencyFit.offset_ms`, which is 0 unless the
fitted intercept is so negative that folding it in would make a price < 0:
then the cost model leaves out that constant), and a budget is a budget in ms:
:meth:`NB201LatencyFit.cost_term` is an
:class:`~workbench.methods.costs.ArchCostTerm` for a method's
``arch_loss_terms`` (``darts-v1`` with a latency term is latency-aware DARTS);
it refuses a budget below the fastest cell's predicted latency, naming it.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.spaces.cell.genotype import NB201_OPS

if TYPE_CHECKING:  # pragma: no cover  (the cost model imports torch: only cost_model/cost_term need it)
    from workbench.methods.costs import ArchCostTerm, CostModel

__all__ = ["FitReport", "NB201LatencyFit", "fit_nb201_latency", "latency_devices", "spearman"]

_LAT_PREFIX = "lat_ms_"
_EDGE = re.compile(r"([A-Za-z0-9_]+)~(\d+)")
N_EDGES = 6


def spearman(a: Any, b: Any) -> float:
    """Spearman's rank correlation of two equally long sequences (ties get their average rank)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"spearman needs two 1-d sequences of the same length >= 2, got {x.shape} and {y.shape}")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


@dataclass(frozen=True)
class FitReport:
    """How well the additive model fits a device's measured latencies over ``n`` cells."""

    n: int
    r2: float
    mae_ms: float
    mean_rel_error: float
    median_rel_error: float
    max_abs_error_ms: float
    spearman: float
    mean_latency_ms: float

    def line(self) -> str:
        return (f"R² {self.r2:.3f}  MAE {self.mae_ms:.3g} ms  mean rel. error {self.mean_rel_error:.1%} "
                f"(median {self.median_rel_error:.1%})  max abs error {self.max_abs_error_ms:.3g} ms  "
                f"Spearman {self.spearman:.3f}")


@dataclass(frozen=True)
class NB201LatencyFit:
    """An additive latency model of one device: ``latency ~= intercept + sum_e edge_costs[e, op_e]`` (ms).

    ``edge_costs`` is (6 edges x ops), with the price of ``ops[0]`` (``none``) 0
    on every edge; with ``per_edge=False`` every row is the same.
    """

    device: str
    ops: tuple[str, ...]
    intercept: float
    edge_costs: np.ndarray = field(repr=False)
    per_edge: bool
    report: FitReport
    source: str = ""

    def op_costs(self) -> dict[str, float]:
        """The price of each op (ms; the per-edge model: averaged over the edges)."""
        return {op: float(c) for op, c in zip(self.ops, self.edge_costs.mean(0), strict=True)}

    def predict(self, arch: Any) -> float:
        """Predicted latency (ms) of a cell: an NB201 string or genotype, or its 6 ops in edge order."""
        ops = _edge_ops(arch) if not isinstance(arch, (list, tuple)) else list(arch)
        if len(ops) != N_EDGES:
            raise ValueError(f"an NB201 cell has {N_EDGES} edges; got {len(ops)} ops: {ops}")
        try:
            ix = [self.ops.index(op) for op in ops]
        except ValueError:
            raise ValueError(f"unknown op in {ops}; NB201 ops are {', '.join(self.ops)}") from None
        return float(self.intercept + self.edge_costs[np.arange(N_EDGES), ix].sum())

    def _folded(self) -> tuple[np.ndarray, float]:
        """(6 x ops) prices >= 0 whose row sums reproduce the prediction, and what could not be folded in."""
        mins = self.edge_costs.min(axis=1, keepdims=True)
        shifted = self.edge_costs - mins
        constant = self.intercept + float(mins.sum())
        if constant >= 0:
            return shifted + constant / N_EDGES, 0.0
        return shifted, constant

    def cost_model(self, space: Any = None) -> CostModel:
        """The fit as a cost model over the nb201 space's choice group: E[cost] = predicted latency (ms)."""
        from workbench.methods.costs import CostModel
        from workbench.spaces.base import get_space
        space = get_space("nb201") if space is None else space
        groups = space.choice_groups()
        folded, _ = self._folded()
        costs = {}
        for g in groups:
            if len(g.rows) != N_EDGES or any(o not in self.ops for o in g.options):
                raise ValueError(f"the NB201 latency fit prices cells of {N_EDGES} edges with ops "
                                 f"{', '.join(self.ops)}; space {space.name!r} group {g.name!r} has {len(g.rows)} "
                                 f"rows and options {', '.join(g.options)}")
            costs[g.name] = folded[:, [self.ops.index(o) for o in g.options]]
        return CostModel(costs, unit="ms", name=f"latency on {self.device} (NB201 additive fit)")

    @property
    def offset_ms(self) -> float:
        """The constant part of the prediction the cost model leaves out (0 unless the intercept is very negative)."""
        return self._folded()[1]

    @property
    def fastest_ms(self) -> float:
        """The fastest cell's predicted latency (ms): ``cost_model().minimum() + offset_ms``, without the space."""
        folded, offset = self._folded()
        return float(folded.min(axis=1).sum()) + offset

    def cost_term(self, weight: float = 1.0, budget_ms: float | None = None, space: Any = None,
                  name: str = "expected_latency") -> ArchCostTerm:
        """``weight * E[latency]`` (or ``weight * relu(E[latency] - budget_ms)``) for a method's arch_loss_terms.

        A budget below the fastest cell's predicted latency is refused with that minimum (in ms).
        """
        from workbench.methods.costs import ArchCostTerm
        cost = self.cost_model(space)
        rest = self.offset_ms
        budget = None
        if budget_ms is not None:
            lowest = cost.minimum() + rest
            if not math.isfinite(budget_ms) or budget_ms < lowest:
                raise ValueError(f"budget {budget_ms} ms is below the cheapest architecture's predicted latency on "
                                 f"{self.device} ({lowest:.4g} ms); choose a budget >= that")
            budget = float(budget_ms) - rest
        return ArchCostTerm(cost, weight=weight, budget=budget, name=name)


def latency_devices(table: Any) -> list[str]:
    """Devices with a latency column in an NB201 table (``pixel3``, ``raspi4``, ...)."""
    return [c[len(_LAT_PREFIX):] for c in table.metrics() if c.startswith(_LAT_PREFIX)]


def _edge_ops(arch: Any) -> list[str]:
    text = arch if isinstance(arch, str) else arch.to_nb201_str()
    return [op for op, _ in _EDGE.findall(text)]


def _load(table: Any) -> Any:
    from workbench.spaces.cell.nb201 import NB201Table
    if isinstance(table, (str, os.PathLike)):
        return NB201Table.load(table)
    return table


def fit_nb201_latency(table: Any, device: str, per_edge: bool = False) -> NB201LatencyFit:
    """Least-squares fit of the additive model to ``device``'s latencies over every cell of ``table``.

    ``table`` is an :class:`~workbench.spaces.cell.nb201.NB201Table` or its path.
    """
    table = _load(table)
    devices = latency_devices(table)
    dev = str(device).strip().lower()
    if dev not in devices:
        raise ValueError(f"no latency column for device {device!r} in the NB201 table {table.path!r}; its devices: "
                         f"{', '.join(devices) or 'none'}")
    ops = NB201_OPS
    n = len(table)
    onehot = np.zeros((n, N_EDGES, len(ops)))
    y = np.empty(n)
    col = _LAT_PREFIX + dev
    for r in range(n):
        rec = table.record(r)
        edge_ops = _edge_ops(rec.arch_str)
        if len(edge_ops) != N_EDGES:
            raise ValueError(f"NB201 table {table.path!r} row {r}: {rec.arch_str!r} does not have {N_EDGES} edges")
        for e, op in enumerate(edge_ops):
            if op not in ops:
                raise ValueError(f"NB201 table {table.path!r} row {r}: unknown op {op!r}; ops are {', '.join(ops)}")
            onehot[r, e, ops.index(op)] = 1.0
        y[r] = rec.metrics[col]
    ok = np.isfinite(y)
    if ok.sum() < (1 + N_EDGES * (len(ops) - 1) if per_edge else len(ops)) + 1:
        raise ValueError(f"device {dev!r} has only {int(ok.sum())} measured cells in {table.path!r}: too few to fit")
    # none (ops[0]) is the reference price 0; the intercept takes the rest
    feats = onehot[:, :, 1:].reshape(n, -1) if per_edge else onehot[:, :, 1:].sum(1)
    design = np.concatenate([np.ones((n, 1)), feats], axis=1)
    coef, *_ = np.linalg.lstsq(design[ok], y[ok], rcond=None)
    intercept = float(coef[0])
    prices = coef[1:].reshape(N_EDGES, len(ops) - 1) if per_edge else np.tile(coef[1:], (N_EDGES, 1))
    edge_costs = np.concatenate([np.zeros((N_EDGES, 1)), prices], axis=1)
    pred = design @ coef
    return NB201LatencyFit(dev, ops, intercept, edge_costs, bool(per_edge), _report(y[ok], pred[ok]),
                           str(getattr(table, "path", "")))


def _report(y: np.ndarray, pred: np.ndarray) -> FitReport:
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    rel = np.abs(err) / np.abs(y)
    rel = rel[np.isfinite(rel)]
    return FitReport(n=len(y), r2=1 - float((err ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
                     mae_ms=float(np.abs(err).mean()), mean_rel_error=float(rel.mean()),
                     median_rel_error=float(np.median(rel)), max_abs_error_ms=float(np.abs(err).max()),
                     # rounded so that float noise does not break the ties of exactly tied cells
                     spearman=spearman(y, np.round(pred, 9)), mean_latency_ms=float(y.mean()))

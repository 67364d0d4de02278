"""Budget decoding of a chain: the most probable architecture whose predicted cost lies in the budget band.

The hardware-aware papers derive by argmax (FBNet, Wu et al. CVPR 2019, Sec. 4:
"sample from p_theta"; ProxylessNAS, Cai et al. ICLR 2019: the most likely
path per layer; Single-Path NAS: the hard indicators). With a latency budget
the search constrains the *expected* latency E_p[LAT] (FBNet, ProxylessNAS)
but the argmax of soft rows is not the expectation: at CPU scale, where the
distribution is still soft at the end, it falls to the cheapest blocks (the
hinge raises their probability most), far below the budget. This decoding
rule treats the budget as a *target with a tolerance* -- the semantics of
MnasNet's and TuNAS's target latency (Tan et al. CVPR 2019, Eq. 2; Bender et
al. CVPR 2020, the absolute-value reward) -- and returns

    argmax_a  sum_l log p_l(a_l)   subject to   (1 - tol) * B <= LAT(a) <= B,

with LAT(a) = sum_l T[l, a_l] the additive table the search priced (latency
lookup table, FLOPs or parameters). Options with probability 0 or disabled by
the masks are never picked. Where no architecture of positive probability
lies in the band (the table's steps are coarser than the band), the rule
returns the most expensive one within the budget (ties: the most probable);
where none is within the budget it raises, naming the cheapest.

The search is exact by dynamic programming over layers on a latency grid of
``GRID`` steps up to B: per grid cell the best log-probability and the exact
latency of the partial architecture reaching it. Two partial architectures
whose latencies round to the same cell are merged (the more probable kept),
so the optimum is exact up to latency differences below B / ``GRID``; the band
test uses the exact latency. (Brute force over all 7^6 = 117,649 default
chains agrees; tests/test_hardware_budget.py.)

The rule is a self-contained string (``"budget:" + JSON`` with the budget,
tolerance, unit and table; :meth:`BudgetRule.to_rule`), so a run folder's
history re-decodes every step the same way without the model;
:class:`~workbench.methods.space_costs.BudgetDecode` builds it from the
search's cost model once the supernet exists.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PREFIX = "budget:"
GRID = 4096


@dataclass(frozen=True)
class BudgetRule:
    """The parameters of a budget decode: the budget B, the band's relative width ``tol`` (the band is
    [(1 - tol) B, B]), the cost table (layers x options) and its unit."""

    budget: float
    table: tuple[tuple[float, ...], ...]
    tol: float = 0.1
    unit: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.budget, (int, float)) and math.isfinite(self.budget) and self.budget > 0):
            raise ValueError(f"a budget decode needs a finite budget > 0, got {self.budget!r}")
        if not (isinstance(self.tol, (int, float)) and 0 <= self.tol < 1):
            raise ValueError(f"a budget decode needs 0 <= tol < 1 (the band is [(1 - tol) B, B]), got {self.tol!r}")
        t = np.asarray(self.table, dtype=np.float64)
        if t.ndim != 2 or t.size == 0 or not np.isfinite(t).all() or (t < 0).any():
            raise ValueError(f"a budget decode needs a (layers x options) table of finite costs >= 0, got shape "
                             f"{t.shape}")

    def to_rule(self) -> str:
        """The decoding-rule string (``"budget:" + JSON``) a chain space decodes with."""
        return PREFIX + json.dumps({"budget": self.budget, "tol": self.tol, "unit": self.unit,
                                    "table": [list(r) for r in self.table]})

    @classmethod
    def parse(cls, rule: str) -> BudgetRule:
        if not rule.startswith(PREFIX):
            raise ValueError(f"not a budget decoding rule (it starts with {PREFIX!r}): {rule[:40]!r}")
        try:
            d = json.loads(rule[len(PREFIX):])
            return cls(float(d["budget"]), tuple(tuple(float(v) for v in r) for r in d["table"]),
                       float(d.get("tol", 0.1)), str(d.get("unit", "")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed budget decoding rule ({exc!r}); make one with BudgetRule(...).to_rule()"
                             ) from None

    @classmethod
    def of(cls, table: Any, budget: float, tol: float = 0.1, unit: str = "") -> BudgetRule:
        return cls(float(budget), tuple(tuple(float(v) for v in r) for r in np.asarray(table, dtype=np.float64)),
                   float(tol), unit)


def budget_picks(probs: np.ndarray, allowed: np.ndarray, rule: BudgetRule) -> list[int]:
    """The option index per row of the most probable architecture in the band (see the module docstring)."""
    table = np.asarray(rule.table, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if table.shape != p.shape:
        raise ValueError(f"the budget rule's cost table is {table.shape} but the probabilities are {p.shape} "
                         "(the rule was made for another space)")
    with np.errstate(divide="ignore"):
        logp = np.where(np.asarray(allowed, dtype=bool) & (p > 0), np.log(np.where(p > 0, p, 1.0)), -np.inf)
    hi, lo = rule.budget, (1 - rule.tol) * rule.budget
    step = hi / GRID
    n = GRID + 1
    best = np.full(n, -np.inf)
    lat = np.zeros(n)
    best[0] = 0.0
    back = []  # per layer: (option, previous cell) per cell
    for row_logp, row_cost in zip(logp, table, strict=True):
        new_best, new_lat = np.full(n, -np.inf), np.zeros(n)
        opt, prev = np.full(n, -1), np.zeros(n, dtype=np.int64)
        for o in np.flatnonzero(np.isfinite(row_logp)):
            src = np.flatnonzero(np.isfinite(best))
            total = lat[src] + row_cost[o]
            keep = total <= hi * (1 + 1e-12)
            src, total = src[keep], total[keep]
            cell = np.minimum(np.rint(total / step).astype(np.int64), GRID)
            score = best[src] + row_logp[o]
            order = np.argsort(score, kind="stable")  # ascending: the best write to a cell comes last
            src, total, cell, score = src[order], total[order], cell[order], score[order]
            better = score > new_best[cell]
            src, total, cell, score = src[better], total[better], cell[better], score[better]
            new_best[cell], new_lat[cell], opt[cell], prev[cell] = score, total, o, src
        back.append((opt, prev))
        best, lat = new_best, new_lat
    reach = np.flatnonzero(np.isfinite(best))
    if reach.size == 0:
        cheapest = float(np.where(np.isfinite(logp), table, np.inf).min(1).sum())
        raise ValueError(f"no architecture of positive probability costs at most the budget {hi:g} {rule.unit}; "
                         f"the cheapest such architecture costs {cheapest:.4g} {rule.unit}")
    in_band = reach[lat[reach] >= lo * (1 - 1e-12)]
    if in_band.size:
        end = int(in_band[np.argmax(best[in_band])])
    else:  # the band holds no architecture: the most expensive within the budget, then the most probable
        top = reach[lat[reach] >= lat[reach].max() - 1e-12]
        end = int(top[np.argmax(best[top])])
    picks = []
    for opt, prev in reversed(back):
        picks.append(int(opt[end]))
        end = int(prev[end])
    return picks[::-1]

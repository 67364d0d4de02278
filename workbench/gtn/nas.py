"""GTN-NAS: rank candidate architectures by a few steps on generated data (Such et al., ICML 2020,
arXiv 1912.07768, §4; SEEDS_2 §9.4 "NAS use").

A NAS loop spends most of its compute estimating how good each candidate is. GTN-NAS trains each candidate
for T steps on the teacher's synthetic curriculum instead of training it fully on real data, and uses the
resulting accuracy as a *proxy*: what matters is whether the proxy ranks the candidates as their fully
trained accuracies do, measured by Spearman's rank correlation. The baseline proxy at equal compute is T steps
on real batches of the same size. The paper reports that the GTN proxy ranks better at equal compute (its
numbers are **unverified** here); at this scale it is an experiment, not a given.

Here (CPU scale): candidates are weight-normalised MLPs (:class:`~workbench.gtn.learner.LearnerArch`), by
default widths {8, 32, 128} x depth {1, 2, 3} x activation {relu, tanh, sigmoid} (27 learners) -- the teacher
was meta-trained on one-hidden-layer LeakyReLU learners of widths 32-128, so most candidates are out of its
training distribution. "Fully trained" = 150 Adam steps (lr 1e-2, batch 128, about 27 passes over the 718
examples of the arch half) on the real training data, test accuracy of one initialisation: a modest budget,
computed once (:func:`true_accuracies`; on digits_std its ranking agrees with that of 300 steps at batch 64 over
two seeds to a Spearman rho of about 0.95 -- the ground truth is itself only that precise).
Proxies are selection-set accuracies after T steps, per seed; the Spearman correlation is computed per seed
and reported with its spread (the "seed band").

Spearman's rho is computed in numpy (:func:`spearman`; scipy is not an engine dependency): the Pearson
correlation of the average ranks (ties share the mean of their ranks), as ``scipy.stats.spearmanr``.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.gtn.learner import LearnerArch, init_learner, learner_forward
from workbench.gtn.train import accuracy, real_batches, train_on_real

__all__ = ["NasRanking", "candidate_archs", "gtn_proxy", "rank_architectures", "rankdata", "real_proxy",
           "spearman", "true_accuracies"]

Data = tuple[Tensor, Tensor]


def rankdata(a: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``a`` (float), ties getting the average of the ranks they span."""
    x = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman's rank correlation of ``a`` and ``b`` (nan when either is constant)."""
    ra, rb = rankdata(a), rankdata(b)
    if len(ra) != len(rb) or len(ra) < 2:
        raise ValueError(f"spearman: needs two sequences of the same length >= 2, got {len(ra)} and {len(rb)}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def candidate_archs(widths: Sequence[int] = (8, 32, 128), depths: Sequence[int] = (1, 2, 3),
                    activations: Sequence[str] = ("relu", "tanh", "sigmoid")) -> list[LearnerArch]:
    """Every MLP with equal hidden widths from the grid (width x depth x activation)."""
    return [LearnerArch((w,) * d, act) for w, d, act in itertools.product(widths, depths, activations)]


def true_accuracies(archs: Sequence[LearnerArch], train: Data, test: Data, *, steps: int = 150, batch: int = 128,
                    lr: float = 1e-2, seeds: Sequence[int] = (0,)) -> np.ndarray:
    """"Fully trained" test accuracy of each candidate: ``steps`` Adam steps on ``train``, mean over ``seeds``."""
    x, y = train
    n_in, n_out = int(np.prod(x.shape[1:])), int(y.max()) + 1
    out = np.zeros(len(archs))
    for a, arch in enumerate(archs):
        accs = []
        for s in seeds:
            params = init_learner(arch, n_in, n_out, torch.Generator().manual_seed(10_000 + s))
            opt = torch.optim.Adam(list(params.values()), lr=lr, foreach=True)
            batches = real_batches(len(y), steps, min(batch, len(y)), torch.Generator().manual_seed(20_000 + s))
            for idx in batches:
                loss = F.cross_entropy(learner_forward(arch, params, x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            accs.append(accuracy(arch, {k: v.detach() for k, v in params.items()}, *test))
        out[a] = float(np.mean(accs))
    return out


def gtn_proxy(teacher: Any, archs: Sequence[LearnerArch], select: Data, seed: int = 0) -> tuple[np.ndarray, float]:
    """Selection accuracy of each candidate after the teacher's T steps; and the seconds it took in all."""
    t0 = time.perf_counter()
    data = teacher.curriculum_data()  # generated once: the synthetic data does not depend on the learner
    scores = np.array([accuracy(arch, teacher.teach_fresh(arch, torch.Generator().manual_seed(seed * 1000 + a),
                                                          data=data), *select) for a, arch in enumerate(archs)])
    return scores, time.perf_counter() - t0


def real_proxy(archs: Sequence[LearnerArch], train: Data, select: Data, *, steps: int, batch: int, lr: float,
               momentum: float = 0.5, seed: int = 0) -> tuple[np.ndarray, float]:
    """Selection accuracy of each candidate after ``steps`` real steps of ``batch`` examples; and the seconds."""
    t0 = time.perf_counter()
    x, y = train
    n_in, n_out = int(np.prod(x.shape[1:])), int(y.max()) + 1
    draws = torch.Generator().manual_seed(seed * 1000 + 999)
    scores = []
    for a, arch in enumerate(archs):
        theta0 = init_learner(arch, n_in, n_out, torch.Generator().manual_seed(seed * 1000 + a))
        trained = train_on_real(arch, theta0, train, real_batches(len(y), steps, batch, draws), lr, momentum)
        scores.append(accuracy(arch, trained, *select))
    return np.array(scores), time.perf_counter() - t0


@dataclass(frozen=True)
class NasRanking:
    """Proxy scores (seeds x candidates), true accuracies, the Spearman rho of each proxy per seed, timings.

    ``real`` / ``real_lr`` are the real-data proxy at the lr (of those tried) whose mean rho is best -- an
    oracle choice that favours the baseline; ``real_rho_by_lr`` keeps every lr's rho per seed.
    """

    archs: tuple[LearnerArch, ...]
    true: np.ndarray
    gtn: np.ndarray
    real: np.ndarray
    seconds_gtn: float  # one ranking (all candidates, one seed), mean over seeds
    seconds_real: float
    seconds_true: float = float("nan")  # the fully trained ground truth (all candidates, all its seeds)
    real_lr: float = 0.3
    real_rho_by_lr: dict[float, np.ndarray] = field(default_factory=dict)
    rho_gtn: np.ndarray = field(init=False)
    rho_real: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rho_gtn", np.array([spearman(s, self.true) for s in self.gtn]))
        object.__setattr__(self, "rho_real", np.array([spearman(s, self.true) for s in self.real]))

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.archs]

    def summary(self) -> dict[str, float]:
        """Mean and standard deviation over seeds of each proxy's Spearman rho, and the seconds per ranking."""
        return {"rho_gtn": float(np.mean(self.rho_gtn)), "rho_gtn_std": float(np.std(self.rho_gtn)),
                "rho_real": float(np.mean(self.rho_real)), "rho_real_std": float(np.std(self.rho_real)),
                "real_lr": self.real_lr, "seconds_gtn": self.seconds_gtn, "seconds_real": self.seconds_real,
                "seconds_true": self.seconds_true}


def rank_architectures(teacher: Any, archs: Sequence[LearnerArch], train: Data, select: Data, true: np.ndarray, *,
                       real_lr: float | Sequence[float] = 0.3, momentum: float = 0.5,
                       seeds: Sequence[int] = (0, 1, 2, 3, 4), seconds_true: float = float("nan")) -> NasRanking:
    """Both proxies on every candidate for each seed (see the module docstring), against ``true``; the real
    proxy at each lr of ``real_lr``, the best of them (by mean rho) kept as the baseline."""
    if len(true) != len(archs):
        raise ValueError(f"rank_architectures: {len(archs)} candidates but {len(true)} true accuracies")
    lrs = [float(real_lr)] if isinstance(real_lr, (int, float)) else [float(v) for v in real_lr]
    if not lrs:
        raise ValueError("rank_architectures: real_lr must name at least one learning rate")
    T, B = teacher.steps, teacher.curriculum.batch
    gtn_rows, t_gtn = [], []
    real_rows: dict[float, list[np.ndarray]] = {lr: [] for lr in lrs}
    t_real: dict[float, list[float]] = {lr: [] for lr in lrs}
    for s in seeds:
        g, tg = gtn_proxy(teacher, archs, select, seed=s)
        gtn_rows.append(g)
        t_gtn.append(tg)
        for lr in lrs:
            r, tr = real_proxy(archs, train, select, steps=T, batch=B, lr=lr, momentum=momentum, seed=s)
            real_rows[lr].append(r)
            t_real[lr].append(tr)
    rho = {lr: np.array([spearman(r, true) for r in rows]) for lr, rows in real_rows.items()}
    best = max(lrs, key=lambda lr: float(np.mean(rho[lr])))
    return NasRanking(tuple(archs), np.asarray(true, dtype=np.float64), np.array(gtn_rows), np.array(real_rows[best]),
                      float(np.mean(t_gtn)), float(np.mean(t_real[best])), seconds_true, best, rho)

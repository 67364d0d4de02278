"""Analyses that explain a search: sharpness in alpha space, loss landscapes, the discretisation gap.

* :mod:`.hessian`: Hessian-vector products, the dense Hessian (RobustDARTS,
  Zela et al. ICLR 2020), power iteration, Lanczos and Hutchinson's trace on
  any explicit parameter list (PyHessian's estimators, Yao et al. 2020,
  restricted to the parameters asked for).
* :mod:`.sharpness`: the alpha-Hessian spectrum of a search, tracked as
  ``AnalysisResult(kind="sharpness")`` events; RobustDARTS early stopping
  (EVLocalAvg) with rollback and DARTS-ADA.
* :mod:`.landscape`: 1-D/2-D slices in alpha or weight space (Li et al.,
  NeurIPS 2018), trajectories projected onto them.
* :mod:`.gap`: supernet vs derived network (inherited weights, retrained).

Perturbation-based selection (DARTS-PT) lives in :mod:`workbench.analysis.projection`.
Every analysis restores the model exactly (parameters, buffers, modes) and
returns arrays and dataclasses, never figures.
"""
from __future__ import annotations

from workbench.analysis.gap import (
                      GapResult,
                      GapTracker,
                      discretisation_gap,
                      genotype_weights,
                      track_gap,
)
from workbench.analysis.hessian import (
                      EigResult,
                      HessianOperator,
                      SpectrumResult,
                      TraceEstimate,
                      dense_hessian,
                      hutchinson,
                      hvp,
                      lanczos,
                      power_iteration,
)
from workbench.analysis.landscape import (
                      Surface,
                      alpha_landscape,
                      alpha_trajectory,
                      normalize_direction,
                      orthogonalize,
                      pca_directions,
                      project_trajectory,
                      random_direction,
                      random_plane,
                      towards,
                      weight_landscape,
)
from workbench.analysis.sharpness import (
                      EarlyStopOutcome,
                      EarlyStopping,
                      SharpnessResult,
                      SharpnessTracker,
                      compute_sharpness,
                      run_with_early_stopping,
                      track_sharpness,
)

__all__ = [
    "EarlyStopOutcome", "EarlyStopping", "EigResult", "GapResult", "GapTracker", "HessianOperator",
    "SharpnessResult", "SharpnessTracker", "SpectrumResult", "Surface", "TraceEstimate", "alpha_landscape",
    "alpha_trajectory", "compute_sharpness", "dense_hessian", "discretisation_gap", "genotype_weights",
    "hutchinson", "hvp", "lanczos", "normalize_direction", "orthogonalize", "pca_directions", "power_iteration",
    "project_trajectory", "random_direction", "random_plane", "run_with_early_stopping", "towards",
    "track_gap", "track_sharpness", "weight_landscape",
]

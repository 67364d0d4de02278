"""Figures of the analyses (compatibility module): sharpness track, loss landscapes, perturbation probe.

Each lives in its own module: :mod:`widgets.figures.sharpness` (RobustDARTS's
dominant Hessian eigenvalue, Zela et al., ICLR 2020), :mod:`widgets.figures.landscape`
(Li et al., NeurIPS 2018) and :mod:`widgets.figures.probe` (DARTS-PT, Wang
et al., ICLR 2021). Live views: :mod:`widgets.analysis_views`.
"""
from __future__ import annotations

from widgets.figures.landscape import landscape_figure, trajectory_coords
from widgets.figures.probe import (
    _gstr,
    nb201_scores,
    probe_figure,
    selection_heatmap,
    selection_rows,
    selection_table_html,
)
from widgets.figures.sharpness import (
    SharpnessTrack,
    sharpness_comparison_figure,
    sharpness_figure,
    sharpness_track,
    update_sharpness_figure,
)

__all__ = [
    "SharpnessTrack", "sharpness_track", "sharpness_figure", "update_sharpness_figure", "sharpness_comparison_figure",
    "trajectory_coords", "landscape_figure", "probe_figure", "selection_heatmap", "selection_rows",
    "selection_table_html", "nb201_scores", "_gstr",
]

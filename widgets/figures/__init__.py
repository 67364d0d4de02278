"""Pure figure functions: History / results -> ``plotly.graph_objects.Figure``, one module per figure.

The same functions serve the live views (which wrap a figure in a
``FigureWidget`` once and update its traces in place) and the static
dashboard and HTML report. Nothing here subscribes to a bus or holds state;
every figure is rebuilt from data. Each module documents its trace layout.

* :mod:`~widgets.figures.heatmap` -- mixing weights of a choice group (any space);
* :mod:`~widgets.figures.alpha_curves` -- each option's weight over steps, per row (any space);
* :mod:`~widgets.figures.metric_curves` -- loss, the task's metric and lr (any task);
* :mod:`~widgets.figures.collapse` -- parameter-free ops in the derived cell (cell spaces);
* :mod:`~widgets.figures.sharpness`, :mod:`~widgets.figures.landscape`,
  :mod:`~widgets.figures.probe` -- the analyses;
* :mod:`~widgets.figures.comparison_table`, :mod:`~widgets.figures.comparison`,
  :mod:`~widgets.figures.alpha_overlay` -- method comparisons;
* :mod:`~widgets.figures.volume` -- slices of a volume with its lesion mask and CAM (CovidNet3D);
* :mod:`~widgets.figures.style` -- the shared look and time-series helpers.
"""
from __future__ import annotations

from widgets.choices import edge_labels, genotype_edge_ops
from widgets.figures.alpha_curves import alpha_curves
from widgets.figures.collapse import param_free_counts, param_free_curve, param_free_status
from widgets.figures.heatmap import alpha_heatmap, group_heatmap, heatmap_data, update_alpha_heatmap
from widgets.figures.metric_curves import loss_curves
from widgets.figures.style import FONT, decimate
from widgets.figures.volume import orthogonal_slices, slice_figure
from workbench.spaces.palette import OP_COLORS, op_color, op_family

__all__ = [
    "OP_COLORS", "FONT", "op_color", "op_family", "edge_labels", "genotype_edge_ops", "alpha_heatmap",
    "update_alpha_heatmap", "heatmap_data", "group_heatmap", "alpha_curves", "loss_curves", "param_free_curve",
    "param_free_counts", "param_free_status", "decimate", "orthogonal_slices", "slice_figure",
]

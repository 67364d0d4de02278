"""Figures of a method comparison (compatibility module): table, summary figure, alpha overlay.

Each lives in its own module: :mod:`widgets.figures.comparison_table`,
:mod:`widgets.figures.comparison` and :mod:`widgets.figures.alpha_overlay`;
the widget over them is :class:`widgets.compare_views.RunComparison`.
"""
from __future__ import annotations

from widgets.figures.alpha_overlay import RUN_DASHES, alpha_overlay
from widgets.figures.comparison import comparison_figure
from widgets.figures.comparison_table import (
    METHOD_COLORS,
    METRIC_LABELS,
    METRIC_SCALE,
    TABLE_COLUMNS,
    comparison_table_figure,
    comparison_table_html,
    method_color,
    primary_metric,
)

__all__ = ["METHOD_COLORS", "METRIC_LABELS", "METRIC_SCALE", "RUN_DASHES", "TABLE_COLUMNS", "method_color",
           "primary_metric", "comparison_table_figure", "comparison_table_html", "comparison_figure",
           "alpha_overlay"]

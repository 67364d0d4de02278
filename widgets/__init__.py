"""DNAS Workbench views: plotly figures, architecture drawings, live widgets and the static report.

Dependency direction: ``widgets -> workbench``; the engine never imports this package.

Layout: :mod:`widgets.choices` (what views read from a space: choice groups, the
options an architecture keeps), :mod:`widgets.metrics` (the task's metrics),
:mod:`widgets.architecture` (an architecture as text, DOT, SVG, HTML),
:mod:`widgets.graph` (Graphviz rendering), :mod:`widgets.figures` (pure figure
functions, one module per figure), :mod:`widgets.views` (live views, one
module per view), :mod:`widgets.controls` (run controls, op swapper),
:mod:`widgets.panels` (the registry every assembly reads), and the three
assemblies: :mod:`widgets.dashboard` (live), :mod:`widgets.fallback` (static),
:mod:`widgets.report` (HTML page).
"""
from __future__ import annotations

from widgets.figures import (
                      OP_COLORS,
                      alpha_curves,
                      alpha_heatmap,
                      edge_labels,
                      genotype_edge_ops,
                      loss_curves,
                      op_color,
                      op_family,
                      param_free_counts,
                      param_free_curve,
                      update_alpha_heatmap,
)
from widgets.graph import (
                      GraphvizNotFoundError,
                      export,
                      genotype_diff_dot,
                      genotype_dot,
                      genotype_weights,
                      render_svg,
)
from widgets.report import report_html, write_report

__all__ = [
    "OP_COLORS", "GraphvizNotFoundError", "alpha_curves", "alpha_heatmap", "edge_labels", "export",
    "genotype_diff_dot", "genotype_dot", "genotype_edge_ops", "genotype_weights", "loss_curves", "op_color",
    "op_family", "param_free_counts", "param_free_curve", "render_svg", "report_html", "update_alpha_heatmap",
    "write_report",
]

# Live widgets: the background-thread search session, controls, views, the panel registry and the dashboard.
from widgets.controls import ControlPanel, OpSwapper, SearchSession, as_session  # noqa: E402
from widgets.dashboard import Dashboard, ScrubberView, dashboard  # noqa: E402
from widgets.fallback import StaticDashboard  # noqa: E402
from widgets.panels import PANELS, Panel  # noqa: E402
from widgets.views import (  # noqa: E402
                      AlphaView,
                      CurvesView,
                      GenotypeDiffView,
                      GenotypeView,
                      ParamFreeWarning,
                      genotype_edge_changes,
                      genotype_html,
)

__all__ += [
    "AlphaView", "ControlPanel", "CurvesView", "Dashboard", "GenotypeDiffView", "GenotypeView", "OpSwapper",
    "PANELS", "Panel", "ParamFreeWarning", "ScrubberView", "SearchSession", "StaticDashboard", "as_session",
    "dashboard", "genotype_edge_changes", "genotype_html",
]

# Method comparison: table / figure / alpha overlay of several runs, and the RunComparison widget.
from widgets.compare_figures import (  # noqa: E402
                      METHOD_COLORS,
                      alpha_overlay,
                      comparison_figure,
                      comparison_table_figure,
                      comparison_table_html,
                      method_color,
)
from widgets.compare_views import RunComparison, run_label  # noqa: E402

__all__ += ["METHOD_COLORS", "RunComparison", "alpha_overlay", "comparison_figure", "comparison_table_figure",
            "comparison_table_html", "method_color", "run_label"]

# Analysis views and figures: sharpness track, loss landscapes, perturbation probe.
from widgets.analysis_figures import (  # noqa: E402
                      landscape_figure,
                      probe_figure,
                      selection_heatmap,
                      selection_table_html,
                      sharpness_comparison_figure,
                      sharpness_figure,
)
from widgets.analysis_views import LandscapeView, ProbeView, SharpnessView  # noqa: E402

__all__ += ["LandscapeView", "ProbeView", "SharpnessView", "landscape_figure", "probe_figure", "selection_heatmap",
            "selection_table_html", "sharpness_comparison_figure", "sharpness_figure"]

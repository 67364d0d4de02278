"""Live views of the analyses (compatibility module): sharpness track, loss landscapes, perturbation probe.

Each lives in its own module: :mod:`widgets.views.sharpness` (RobustDARTS,
Zela et al., ICLR 2020), :mod:`widgets.views.landscape` (Li et al., NeurIPS
2018), :mod:`widgets.views.probe` (DARTS-PT, Wang et al., ICLR 2021) with
:mod:`widgets.views.clickable` (the clickable genotype graph).
"""
from __future__ import annotations

from widgets.views.clickable import CLICKABLE_GRAPH, ClickableSVG, edge_from_title
from widgets.views.landscape import DIRECTIONS, SPANS, LandscapeView
from widgets.views.probe import DEFAULT_PROBE, ProbeView
from widgets.views.sharpness import SHARPNESS_KINDS, SharpnessView, sharpness_event

__all__ = ["SharpnessView", "LandscapeView", "ProbeView", "ClickableSVG", "sharpness_event", "edge_from_title",
           "CLICKABLE_GRAPH", "DEFAULT_PROBE", "DIRECTIONS", "SHARPNESS_KINDS", "SPANS"]

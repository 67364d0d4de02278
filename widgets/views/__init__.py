"""Live views of a search, one module per view; each reads a History and, when live, the search's bus.

* :mod:`~widgets.views.base` -- the feed, subscription, throttling and step pinning every view shares;
* :mod:`~widgets.views.alphas` -- mixing-weight heatmaps and curves of every choice group (any space);
* :mod:`~widgets.views.curves` -- loss, the task's metric and lr (any task);
* :mod:`~widgets.views.architecture` -- the decoded architecture, drawn and as text (any space);
* :mod:`~widgets.views.scrubber` -- the time scrubber pinning the views to a recorded step;
* :mod:`~widgets.views.collapse`, :mod:`~widgets.views.genotype_diff` -- skip-collapse warning and
  genotype diffs (cell spaces);
* :mod:`~widgets.views.volume` -- the slice viewer of volumes with lesion masks and CAMs (CovidNet3D);
* :mod:`~widgets.views.sharpness`, :mod:`~widgets.views.landscape`, :mod:`~widgets.views.probe`
  (with :mod:`~widgets.views.clickable`) -- the analyses.
"""
from __future__ import annotations

from widgets.views.alphas import AlphaView
from widgets.views.architecture import GenotypeView, arch_text_html, genotype_html
from widgets.views.base import Feed, LiveView, latest_step
from widgets.views.collapse import ParamFreeWarning, param_free_status
from widgets.views.curves import CurvesView
from widgets.views.genotype_diff import GenotypeDiffView, genotype_edge_changes
from widgets.views.scrubber import ScrubberView
from widgets.views.volume import SupernetCamView, VolumeSliceViewer

__all__ = ["Feed", "LiveView", "AlphaView", "CurvesView", "ParamFreeWarning", "GenotypeView", "GenotypeDiffView",
           "ScrubberView", "param_free_status", "genotype_edge_changes", "genotype_html", "arch_text_html",
           "latest_step", "SupernetCamView", "VolumeSliceViewer"]

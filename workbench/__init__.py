"""DNAS Workbench engine: differentiable architecture search, one step at a time.

The engine never imports UI libraries (ipywidgets, plotly, graphviz, IPython);
views live in the separate ``widgets`` package and observe the engine's events.
"""
from __future__ import annotations

from workbench.events import (
                     AnalysisResult,
                     EpochEnded,
                     EventBus,
                     OpMaskChanged,
                     RunFailed,
                     RunFinished,
                     RunStarted,
                     StepEnded,
)
from workbench.history import History
from workbench.methods import Method, get_method, method_names
from workbench.runs import RunStore, load_run, resume
from workbench.search import NonFiniteLossError, SearchConfig, Searcher
from workbench.serialize import CheckpointError
from workbench.spaces import SearchSpace, get_space, space_names
from workbench.spaces.cell.genotype import CellGenotype, Genotype, GenotypeError
from workbench.spaces.cell.supernet import Supernet, SupernetConfig

__all__ = [
    "AnalysisResult", "CellGenotype", "CheckpointError", "History", "RunStore", "load_run", "resume", "EpochEnded", "EventBus", "Genotype", "GenotypeError", "Method",
    "NonFiniteLossError", "OpMaskChanged", "RunFailed", "RunFinished", "RunStarted", "SearchConfig",
    "SearchSpace", "Searcher", "StepEnded", "Supernet", "SupernetConfig", "get_method", "get_space",
    "method_names", "space_names",
]
__version__ = "0.1.0"

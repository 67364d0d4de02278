"""DNAS Workbench engine: differentiable architecture search, one step at a time.

A search combines a space (:mod:`workbench.spaces`: what is chosen), a task
(:mod:`workbench.tasks`: data and objective) and a method
(:mod:`workbench.methods`: the slots of one step), run by
:class:`~workbench.search.Searcher`. The engine never imports UI libraries
(ipywidgets, plotly, graphviz, IPython); views live in the separate
``widgets`` package and observe the engine's events, and the application layer
(:mod:`workbench.app`: the background session and the CLI) drives it.
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
from workbench.methods import (
    ArchCostTerm,
    CostModel,
    Method,
    StepContext,
    get_method,
    method_names,
    register_method,
)
from workbench.runs import RunStore, load_run, resume
from workbench.search import NonFiniteLossError, SearchConfig, Searcher
from workbench.serialize import CheckpointError
from workbench.spaces import (
    ArchitectureError,
    CellSpace,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    get_space,
    register_space,
    space_names,
)
from workbench.spaces.cell.genotype import CellGenotype, Genotype, GenotypeError
from workbench.spaces.cell.supernet import Supernet, SupernetConfig
from workbench.tasks import Objective, Task, TaskInfo, TensorDataset, get_objective, load_dataset

__all__ = [
    "AnalysisResult", "ArchCostTerm", "ArchitectureError", "CellGenotype", "CellSpace", "CheckpointError",
    "ChoiceGroup", "ChoiceSupernet", "Choices", "CostModel", "EpochEnded", "EventBus", "Genotype", "GenotypeError",
    "History", "Method", "NonFiniteLossError", "Objective", "OpMaskChanged", "RunFailed", "RunFinished",
    "RunStarted", "RunStore", "SearchConfig", "SearchSpace", "Searcher", "StepContext", "StepEnded", "Supernet",
    "SupernetConfig", "Task", "TaskInfo", "TensorDataset", "get_method", "get_objective", "get_space",
    "load_dataset", "load_run", "method_names", "register_method", "register_space", "resume", "space_names",
]
__version__ = "0.2.0"

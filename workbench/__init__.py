"""DNAS Workbench engine: differentiable architecture search, one step at a time.

A search combines a space (:mod:`workbench.spaces`: what is chosen), a task
(:mod:`workbench.tasks`: data and objective) and a method
(:mod:`workbench.methods`: the slots of one step), run by
:class:`~workbench.search.Searcher`. The engine never imports UI libraries
(ipywidgets, plotly, graphviz, IPython); views live in the separate
``widgets`` package and observe the engine's events, and the application layer
(:mod:`workbench.app`: the background session and the CLI) drives it.

The names below are exported lazily (PEP 562): ``import workbench`` imports
neither torch nor any engine module, so ``python -m workbench --help`` starts
fast; ``from workbench import Searcher`` imports what that name needs on first
use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy import LazyExports

#: exported name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("AnalysisResult", "EpochEnded", "EventBus", "OpMaskChanged", "RunFailed", "RunFinished",
                     "RunStarted", "StepEnded"), "workbench.events"),
    "History": "workbench.history",
    **dict.fromkeys(("ArchCostTerm", "CostModel", "Method", "StepContext", "get_method", "method_names",
                     "register_method"), "workbench.methods"),
    **dict.fromkeys(("RunStore", "load_run", "resume"), "workbench.runs"),
    **dict.fromkeys(("NonFiniteLossError", "SearchConfig", "Searcher"), "workbench.search"),
    "CheckpointError": "workbench.serialize",
    **dict.fromkeys(("ArchitectureError", "CellSpace", "ChoiceGroup", "Choices", "ChoiceSupernet", "SearchSpace",
                     "get_space", "register_space", "space_names"), "workbench.spaces"),
    **dict.fromkeys(("CellGenotype", "Genotype", "GenotypeError"), "workbench.spaces.cell.genotype"),
    **dict.fromkeys(("Supernet", "SupernetConfig"), "workbench.spaces.cell.supernet"),
    **dict.fromkeys(("Objective", "Task", "TaskInfo", "TensorDataset", "get_objective", "load_dataset"),
                    "workbench.tasks"),
}

__all__ = [
    "AnalysisResult", "ArchCostTerm", "ArchitectureError", "CellGenotype", "CellSpace", "CheckpointError",
    "ChoiceGroup", "ChoiceSupernet", "Choices", "CostModel", "EpochEnded", "EventBus", "Genotype", "GenotypeError",
    "History", "Method", "NonFiniteLossError", "Objective", "OpMaskChanged", "RunFailed", "RunFinished",
    "RunStarted", "RunStore", "SearchConfig", "SearchSpace", "Searcher", "StepContext", "StepEnded", "Supernet",
    "SupernetConfig", "Task", "TaskInfo", "TensorDataset", "get_method", "get_objective", "get_space",
    "load_dataset", "load_run", "method_names", "register_method", "register_space", "resume", "space_names",
]  # the names of _EXPORTS (tests/test_startup.py checks)
__version__ = "0.2.0"


LazyExports(__name__, _EXPORTS, globals())  # installs the package's __getattr__ / __dir__ (PEP 562)


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager imports)
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
    from workbench.runs import RunStore, load_run
    from workbench.runs.resume import resume  # the function, not the submodule
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
    from workbench.tasks import (
        Objective,
        Task,
        TaskInfo,
        TensorDataset,
        get_objective,
        load_dataset,
    )

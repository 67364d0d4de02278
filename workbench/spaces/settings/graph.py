"""The ``graph_transformer`` space's supernet settings (:class:`GraphTransformerConfig`), torch-free; re-exported
by :mod:`workbench.spaces.graph.space` (see :mod:`workbench.spaces.settings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.spaces.settings import space_settings

__all__ = ["LEVELS", "GraphTransformerConfig", "graph_transformer_supernet_config"]

#: the task levels of a graph dataset (defined here, torch-free; :mod:`workbench.tasks.data.graphs` uses them)
LEVELS = ("graph", "node")


@dataclass(frozen=True)
class GraphTransformerConfig:
    """Size and details of a graph transformer (supernet or discrete); the space fixes layers and experts."""

    d: int = 32
    heads: int = 4
    dropout: float = 0.0
    standardise: bool = True  # the scalar standardisation across experts (§7.2 step 2)
    query_projection: bool = False  # the reference's sparse layer has none
    alpha_init_std: float = 1e-3
    task_level: str = "auto"  # "graph", "node" or "auto" (the level the dataset was registered with)

    def __post_init__(self) -> None:
        for name in ("d", "heads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.d % self.heads:
            raise ValueError(f"d={self.d} must be divisible by heads={self.heads}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not (isinstance(self.alpha_init_std, (int, float)) and 0 < self.alpha_init_std < 10):
            raise ValueError(f"alpha_init_std must be a number in (0, 10), got {self.alpha_init_std!r}")
        for name in ("standardise", "query_projection"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.task_level not in ("auto", *LEVELS):
            raise ValueError(f"task_level must be 'auto', 'graph' or 'node', got {self.task_level!r}")


def graph_transformer_supernet_config(space: str, value: Any = None, **overrides: Any) -> GraphTransformerConfig:
    """The settings of the graph-transformer space ``space`` (:func:`~workbench.spaces.settings.space_settings`)."""
    return space_settings(GraphTransformerConfig, value, overrides, f"space {space!r}")

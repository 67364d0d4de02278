"""The built-in spaces' supernet settings by space name, without importing the spaces (nor torch).

A config names its space; checking its ``supernet`` field needs only the space family's settings class, which
lives in a torch-free module (:mod:`workbench.spaces.cell.settings`, :mod:`workbench.spaces.chain.settings`,
:mod:`workbench.spaces.settings` and its modules).
:func:`builtin_supernet_config` resolves the settings of a built-in space by the same function the registered
space's ``supernet_config`` calls, so :class:`~workbench.config.SearchConfig` (and ``python -m workbench search
--print-config``) checks them without importing torch. A space whose family has no entry here is resolved by
the registry (which imports the families, and torch). Built-in names cannot be registered again (the registry refuses
duplicates), so a name listed here always means the built-in space; ``tests/test_startup.py`` checks this table
and :data:`DEFAULT_DATASETS` against the registered spaces.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_DATASETS", "SETTINGS", "TORCH_FREE_FAMILIES", "builtin_supernet_config", "has_builtin_settings"]

_CELL = "workbench.spaces.cell.settings:cell_supernet_config"
_NORM = "workbench.spaces.settings.norm:norm_supernet_config"

#: built-in space -> "module:function" resolving its supernet settings, ``function(space, value, **keywords,
#: **overrides)``, and the keywords that are the space's own (the registered space passes the same)
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    **dict.fromkeys(("darts", "nb201", "toy", "s1", "s2", "s3", "s4", "s5", "sharp"), (_CELL, {})),
    "chain": ("workbench.spaces.chain.settings:chain_supernet_config", {}),
    **dict.fromkeys(("nb201-sparse", "darts-sparse"), ("workbench.spaces.cell.settings:sparse_supernet_config", {})),
    "norm_placement": (_NORM, {"search_stem": False}), "norm_placement_stem": (_NORM, {"search_stem": True}),
    "mbconv3d": ("workbench.spaces.settings.volume:mbconv3d_supernet_config", {}),
    "graph_transformer": ("workbench.spaces.settings.graph:graph_transformer_supernet_config", {}),
    "embedding_dims": ("workbench.spaces.settings.embedding:embedding_supernet_config", {}),
    "gtn": ("workbench.spaces.settings.gtn:gtn_supernet_config", {}),
    "guidance": ("workbench.spaces.settings:no_supernet_settings", {}),
}

#: built-in space -> the dataset a search of it uses when none is named (its ``default_dataset``)
DEFAULT_DATASETS: dict[str, str] = {
    **dict.fromkeys(("darts", "nb201", "toy", "s1", "s2", "s3", "s4", "s5", "sharp", "chain", "nb201-sparse",
                     "darts-sparse"), "digits"),
    "norm_placement": "digits_styles", "norm_placement_stem": "digits_styles", "mbconv3d": "ct_volumes",
    "graph_transformer": "graphs_sbm", "embedding_dims": "interactions", "gtn": "digits_std",
    "guidance": "guidance_pairs"}

#: built-in space -> the family module that registers it, where that module imports no torch:
#: :func:`~workbench.spaces.protocol.get_space` imports it alone (not every family) to look the space up, so its
#: ops are checked (``--remove-op``) and a table prices it (``latency show TABLE --space chain``) without torch
TORCH_FREE_FAMILIES: dict[str, str] = {
    **dict.fromkeys(("darts", "nb201", "toy", "s1", "s2", "s3", "s4", "s5", "sharp"), "workbench.spaces.cell.space"),
    "chain": "workbench.spaces.chain.space"}


def has_builtin_settings(space: str) -> bool:
    """Whether :func:`builtin_supernet_config` resolves the settings of ``space`` without importing it."""
    return space in SETTINGS


def builtin_supernet_config(space: str, value: Any = None, **overrides: Any) -> Any:
    """The supernet settings of the built-in space ``space`` from ``value`` (its settings object, a mapping of
    its fields, or None), as ``get_space(space).supernet_config(value, **overrides)`` gives them."""
    where, keywords = SETTINGS[space]
    module, _, function = where.partition(":")
    return getattr(importlib.import_module(module), function)(space, value, **keywords, **overrides)

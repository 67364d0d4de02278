"""The chain space's supernet settings (:class:`ChainConfig`: the alpha initialisation and Single-Path NAS's
superkernel switch), and how a chain space resolves them from a config's ``supernet`` field.

Torch-free, so a config can be built and printed (``python -m workbench search --print-config``) without importing
the supernet; :mod:`workbench.spaces.chain.space` re-exports :class:`ChainConfig`, and
:meth:`ChainSpace.supernet_config <workbench.spaces.chain.space.ChainSpace.supernet_config>` is
:func:`chain_supernet_config`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ChainConfig", "chain_supernet_config"]


@dataclass(frozen=True)
class ChainConfig:
    """Supernet settings of a chain space (its shape is the space's): the alpha initialisation, and whether the
    supernet is Single-Path NAS's chain of superkernels instead of every candidate side by side."""

    alpha_init_std: float = 1e-3
    #: Single-Path NAS: one superkernel per layer (:mod:`workbench.spaces.chain.superkernel`), set by its preset
    superkernel: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha_init_std, (int, float)) and 0 < self.alpha_init_std < 10):
            raise ValueError(f"alpha_init_std must be a number in (0, 10), got {self.alpha_init_std!r}")
        if not isinstance(self.superkernel, bool):
            raise ValueError(f"superkernel must be True or False, got {self.superkernel!r}")


_CONFIG_FIELDS = ("alpha_init_std", "superkernel")


def chain_supernet_config(space: str, value: Any = None, **overrides: Any) -> ChainConfig:
    """The chain space ``space``'s settings: a :class:`ChainConfig` from one (or a mapping of its fields, or
    None), with ``overrides`` (a method's ``supernet_settings``) applied."""
    if value is None:
        value = ChainConfig()
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(_CONFIG_FIELDS))
        if unknown:
            raise ValueError(f"unknown supernet setting(s) {unknown} for chain space {space!r}; accepted: "
                             f"{list(_CONFIG_FIELDS)}")
        value = ChainConfig(**value)
    elif not isinstance(value, ChainConfig):
        raise TypeError(f"chain space {space!r} takes a ChainConfig (or a mapping of its fields), got "
                        f"{type(value).__name__}")
    unknown = sorted(set(overrides) - set(_CONFIG_FIELDS))
    if unknown:
        raise ValueError(f"method setting(s) {unknown} do not apply to chain space {space!r} (they are "
                         "settings of another space family)")
    return replace(value, **overrides) if overrides else value

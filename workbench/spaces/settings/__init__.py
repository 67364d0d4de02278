"""The supernet settings of the space families whose packages import torch when imported (norm placement, 3-D
MBConv, graph transformer, embedding dimensions, GTN), one torch-free module each, and the shared body of their
``supernet_config``: :func:`space_settings` (a frozen settings dataclass from None, a mapping of its fields or
the dataclass itself) and :func:`no_supernet_settings` (a space that takes none).

The spaces re-export their settings class from here, so ``from workbench.spaces.norm.space import NormConfig``
still works; :mod:`workbench.spaces.builtin_settings` resolves a built-in space's settings through these
modules without importing the space (``python -m workbench search --print-config`` starts without torch).
(The cell and chain spaces' packages are torch-free: their settings live there, :mod:`workbench.spaces.cell.settings`
and :mod:`workbench.spaces.chain.settings`.)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["no_supernet_settings", "space_settings"]

_Settings = TypeVar("_Settings")


def space_settings(kind: type[_Settings], value: Any, overrides: Mapping[str, Any], where: str) -> _Settings:
    """A space's supernet settings from ``value`` (None: the defaults; a mapping of ``kind``'s fields; or a
    ``kind``), then ``overrides`` (a method's ``supernet_settings``) applied on top.

    The shared body of :meth:`SearchSpace.supernet_config` for spaces whose settings are one frozen dataclass;
    ``where`` names the space in errors ("space 'graph_transformer'"). Unknown names raise ValueError listing
    the accepted fields; another type raises TypeError.
    """
    fields = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    if value is None:
        value = kind()
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ValueError(f"unknown supernet setting(s) {unknown} for {where}; accepted: {fields}")
        value = kind(**value)
    elif not isinstance(value, kind):
        raise TypeError(f"{where} takes a {kind.__name__} (or a mapping of its fields), got {type(value).__name__}")
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"method setting(s) {unknown} do not apply to {where}; its settings are {fields}")
    return dataclasses.replace(value, **overrides) if overrides else value


def no_supernet_settings(space: str, value: Any = None, **overrides: Any) -> None:
    """The settings of a space that takes none: None, or a ValueError naming the space and what was given."""
    if value is None and not overrides:
        return None
    raise ValueError(f"space {space!r} takes no supernet settings; got {value!r} {overrides or ''}")

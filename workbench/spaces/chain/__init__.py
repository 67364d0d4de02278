"""Chain spaces: a sequence of layers, each choosing one block (MobileNetV2 / ProxylessNAS / FBNet style).

The names below are exported lazily (PEP 562), so :mod:`workbench.spaces.chain.lut`'s table readers import no
torch (``python -m workbench latency show TABLE``)."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["CHAIN_BLOCKS", "ChainConfig", "ChainSpace", "ChainSupernet", "DiscreteChain"]


def __getattr__(name: str) -> Any:
    """Import :mod:`workbench.spaces.chain.space` on the first use of one of its exported names."""
    if name not in __all__:
        raise AttributeError(f"module 'workbench.spaces.chain' has no attribute {name!r}")
    value = getattr(importlib.import_module("workbench.spaces.chain.space"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager import)
    from workbench.spaces.chain.space import (
        CHAIN_BLOCKS,
        ChainConfig,
        ChainSpace,
        ChainSupernet,
        DiscreteChain,
    )

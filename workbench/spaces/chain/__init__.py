"""Chain spaces: a sequence of layers, each choosing one block (MobileNetV2 / ProxylessNAS / FBNet style).

The names below are exported lazily (PEP 562), so :mod:`workbench.spaces.chain.lut`'s table readers import no
torch (``python -m workbench latency show TABLE``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy import LazyExports

__all__ = ["CHAIN_BLOCKS", "ChainConfig", "ChainSpace", "ChainSupernet", "DiscreteChain"]


# installs the package's __getattr__ / __dir__ (PEP 562)
LazyExports(__name__, dict.fromkeys(__all__, "workbench.spaces.chain.space"), globals())


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager import)
    from workbench.spaces.chain.space import (
        CHAIN_BLOCKS,
        ChainConfig,
        ChainSpace,
        ChainSupernet,
        DiscreteChain,
    )

"""Chain spaces: a sequence of layers, each choosing one block (MobileNetV2 / ProxylessNAS / FBNet style)."""
from __future__ import annotations

from workbench.spaces.chain.space import (
    CHAIN_BLOCKS,
    ChainConfig,
    ChainSpace,
    ChainSupernet,
    DiscreteChain,
)

__all__ = ["CHAIN_BLOCKS", "ChainConfig", "ChainSpace", "ChainSupernet", "DiscreteChain"]

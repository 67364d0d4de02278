"""Chain block names (``"k5_e3"``: an MBConv of kernel 5, expansion 3; ``"skip"``): parsed without torch.

The blocks themselves are in :mod:`workbench.spaces.chain.blocks` (which re-exports :func:`parse_block`); a chain
space checks its block names and a latency table prices them (``python -m workbench latency show TABLE --space
chain``) with this module alone.
"""
from __future__ import annotations

import re

__all__ = ["parse_block"]

_NAME = re.compile(r"k(\d+)_e(\d+)\Z")


def parse_block(name: str) -> tuple[int, int]:
    """``"k5_e3"`` -> (kernel 5, expansion 3); anything else raises with the accepted form."""
    m = _NAME.match(name)
    if m is None or int(m.group(1)) % 2 == 0 or int(m.group(2)) < 1:
        raise ValueError(f"unknown chain block {name!r}; blocks are 'skip' or 'k<odd kernel>_e<expansion>', "
                         "e.g. k3_e6")
    return int(m.group(1)), int(m.group(2))

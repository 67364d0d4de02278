"""Colours of candidate options, shared by every drawing of an architecture (DOT graphs, heatmaps, curves).

One colour per op, by family: convs blue shades, dilated convs purple, pools
green/teal, skip orange, none grey, anything else a distinct colour chosen by
a hash of its name (stable across runs and processes).
"""
from __future__ import annotations

import zlib

__all__ = ["OP_COLORS", "op_color", "op_family"]

#: One colour per op, by family: convs blue shades, dilated convs purple, pools
#: green/teal, skip orange, none grey, anything else a distinct colour.
OP_COLORS: dict[str, str] = {
    "none": "#a0a0a0",
    "skip_connect": "#f28e2b",
    "max_pool_3x3": "#2e9d4f",
    "avg_pool_3x3": "#17a2a0",
    "sep_conv_3x3": "#6aaed6",
    "sep_conv_5x5": "#2f7fc1",
    "sep_conv_7x7": "#134f8f",
    "conv_7x1_1x7": "#3d6fa3",
    "nor_conv_1x1": "#5fa8e0",
    "nor_conv_3x3": "#1f5aa6",
    "dil_conv_3x3": "#a17fd0",
    "dil_conv_5x5": "#6a3d9a",
    "noise": "#d62728",
}
_OTHER_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#c44e52", "#7f7f7f", "#dd8452")
_FAMILY_COLORS = {"conv": "#3a78b8", "dil_conv": "#8a63c0", "pool": "#2e9d7a", "skip": "#f28e2b",
                  "none": "#a0a0a0"}
def op_family(op: str) -> str:
    """'none', 'skip', 'pool', 'dil_conv', 'conv' or 'other'."""
    if op == "none":
        return "none"
    if op.startswith("skip"):
        return "skip"
    if "pool" in op:
        return "pool"
    if op.startswith("dil_conv"):
        return "dil_conv"
    if "conv" in op:
        return "conv"
    return "other"


def op_color(op: str) -> str:
    """The colour of an op: fixed for known ops, by family otherwise (stable across runs)."""
    if op in OP_COLORS:
        return OP_COLORS[op]
    fam = op_family(op)
    if fam in _FAMILY_COLORS:
        return _FAMILY_COLORS[fam]
    return _OTHER_COLORS[zlib.crc32(op.encode()) % len(_OTHER_COLORS)]



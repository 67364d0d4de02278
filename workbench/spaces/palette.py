"""Colours of candidate options, shared by every drawing of an architecture (DOT graphs, heatmaps, curves).

One colour per op, by family: convs blue shades, dilated convs purple, pools
green/teal, skip orange, none grey, anything else a distinct colour chosen by
a hash of its name (stable across runs and processes).
"""
from __future__ import annotations

import re
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
    # DARTS-GT's GNN experts
    "gin": "#4c72b0", "gcn": "#dd8452", "gat": "#55a868",
    # OSNet-AIN's placements (no IN grey; IN inside, after, both) and stem norms
    "plain": "#8c8c8c", "in_residual": "#4c9be8", "in_after_add": "#c44e52", "in_both": "#8172b3",
    "bn": "#1f77b4", "in": "#ff7f0e",
    # Adaptive Guidance: conditional only, or classifier-free guidance
    "cond": "#7f7f7f", "cfg": "#d62728",
}
#: other names: a stable pick by hash from ten distinct colours
_OTHER_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#c44e52", "#7f7f7f", "#dd8452", "#17becf", "#9467bd",
                 "#2ca02c", "#1f77b4")
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


#: MBConv blocks "k<kernel>_e<expansion>" (chain spaces): blues for 3x3, purples for 5x5, greens for 7x7,
#: darker with a larger expansion, so a chain's blocks stay distinguishable in heatmaps, curves and graphs
_MBCONV = {3: ("#9ecae1", "#4292c6", "#08519c"), 5: ("#bcbddc", "#807dba", "#54278f"),
           7: ("#a1d99b", "#41ab5d", "#006d2c")}
_MBCONV_RE = re.compile(r"k(\d+)_e(\d+)\Z")


#: numbered options "d<k>" (DNIS's embedding dimensions): a sequential ramp (viridis, 16 steps), so neighbouring
#: dimensions have neighbouring colours and none repeats within 16
_DIM_RE = re.compile(r"d(\d+)\Z")
_RAMP = ("#440154", "#481a6c", "#472f7d", "#414487", "#39568c", "#31688e", "#2a788e", "#23888e", "#1f988b",
         "#22a884", "#35b779", "#54c568", "#7ad151", "#a5db36", "#d2e21b", "#fde725")


def op_color(op: str) -> str:
    """The colour of an op: fixed for known ops, by family otherwise (stable across runs)."""
    if op in OP_COLORS:
        return OP_COLORS[op]
    d = _DIM_RE.match(op)
    if d:
        return _RAMP[(int(d.group(1)) - 1) % len(_RAMP)]
    m = _MBCONV_RE.match(op)
    if m and int(m.group(1)) in _MBCONV:
        shades = _MBCONV[int(m.group(1))]
        e = int(m.group(2))
        return shades[0 if e <= 1 else 1 if e <= 3 else 2]
    fam = op_family(op)
    if fam in _FAMILY_COLORS:
        return _FAMILY_COLORS[fam]
    return _OTHER_COLORS[zlib.crc32(op.encode()) % len(_OTHER_COLORS)]



"""The cell spaces' built-in candidate op names, checked without importing the ops (and torch).

A :class:`~workbench.spaces.cell.space.CellSpace` checks its op names when it is made; the ops themselves
(:data:`workbench.spaces.cell.ops.OPS`, DARTS's ``OPS`` dict, Liu et al. 2019, and NAS-Bench-201's, Dong & Yang
2020) are torch modules. The registry refuses a name twice, so a name listed here always means the built-in op:
:func:`check_op` accepts it without importing the registry, and asks the registry for any other name (an op
registered by the user, or an unknown name's error listing the known ones). ``tests/test_startup.py`` checks
this list against the ops that :mod:`workbench.spaces.cell.ops` registers, in order.
"""
from __future__ import annotations

__all__ = ["BUILTIN_OPS", "check_op", "registered_ops"]

#: the ops :mod:`workbench.spaces.cell.ops` registers, in its order
BUILTIN_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
               "dil_conv_3x3", "dil_conv_5x5", "conv_7x1_1x7", "nor_conv_1x1", "nor_conv_3x3", "noise",
               "sharp_sep_conv_3x3", "sharp_sep_conv_5x5", "sharp_sep_conv_7x7", "sharp_dil_conv_3x3",
               "sharp_dil_conv_5x5", "flood_conv_3x3", "flood_conv_5x5", "dil_flood_conv_3x3")


def check_op(name: str) -> None:
    """Raise (an unknown name's error lists the known ops) unless ``name`` is a registered op."""
    if name not in BUILTIN_OPS:
        from workbench.spaces.cell.ops import OPS

        OPS.get(name)


def registered_ops() -> list[str]:
    """Every registered op's name (imports the ops: an error message lists them)."""
    from workbench.spaces.cell.ops import OPS

    return OPS.names()

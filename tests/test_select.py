"""Genotype derivation rules on hand-made weight matrices (ties included)."""
from __future__ import annotations

import numpy as np

from workbench.spaces import get_space
from workbench.spaces.cell.select import derive_genotype

OPS = get_space("darts").ops  # none, max, avg, skip, sep3, sep5, dil3, dil5


def _w(rows):
    w = np.full((14, 8), 0.01)
    for e, row in rows.items():
        w[e] = row
    return w


def test_darts_rule_strength_order_and_none_excluded():
    sp = get_space("darts")
    w = _w({
        0: [0.9, 0, 0, 0.05, 0.05, 0, 0, 0],  # strongest is none -> strength 0.05 (skip/sep3 tie -> skip first)
        1: [0, 0, 0, 0, 0.6, 0.1, 0, 0],      # sep3 0.6
        2: [0, 0, 0, 0.3, 0, 0, 0, 0],
        3: [0, 0, 0, 0, 0, 0, 0, 0.4],        # node1: e3 (0.4) before e2 (0.3); e4 weakest
        4: [0, 0.2, 0, 0, 0, 0, 0, 0],
    })
    g = derive_genotype(sp, {"normal": w, "reduce": w})
    n = g.cell("normal").nodes
    assert n[0] == (("sep_conv_3x3", 1), ("skip_connect", 0))  # strength order, not source order
    assert n[1] == (("dil_conv_5x5", 1), ("skip_connect", 0))
    assert g.cell("normal").concat == (2, 3, 4, 5)


def test_darts_rule_ties_keep_lower_source_and_first_op():
    sp = get_space("darts")
    w = np.full((14, 8), 0.125)  # all equal: every node keeps its two lowest sources, op = first non-none
    g = derive_genotype(sp, {"normal": w, "reduce": w})
    for node in g.cell("normal").nodes:
        assert node == (("max_pool_3x3", 0), ("max_pool_3x3", 1))


def test_masked_ops_never_win():
    sp = get_space("darts")
    w = np.full((14, 8), 0.1)
    w[:, 4] = 0.5  # sep3 strongest everywhere
    mask = np.ones((14, 8), bool)
    mask[:, 4] = False
    g = derive_genotype(sp, {"normal": w, "reduce": w}, {"normal": mask, "reduce": mask})
    assert all(op != "sep_conv_3x3" for _, op, _ in g.cell("normal").edges())


def test_nb201_rule_keeps_every_edge_and_may_pick_none():
    sp = get_space("nb201")  # none, skip, conv1x1, conv3x3, avgpool
    w = np.array([[0.5, 0.2, 0.1, 0.1, 0.1]] + [[0.1, 0.1, 0.1, 0.6, 0.1]] * 5)
    g = derive_genotype(sp, {"cell": w})
    assert g.to_nb201_str() == ("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                                "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")


def test_gdas_pairs_rule_can_pick_two_ops_on_one_edge():
    sp = get_space("darts")
    w = np.full((14, 8), 0.01)
    w[0, 4], w[0, 5] = 0.5, 0.4  # node 0: both best pairs on edge 0 (source 0)
    g = derive_genotype(sp, {"normal": w, "reduce": w}, rule="gdas_pairs")
    assert g.cell("normal").nodes[0] == (("sep_conv_3x3", 0), ("sep_conv_5x5", 0))

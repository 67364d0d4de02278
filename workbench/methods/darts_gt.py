"""DARTS-GT's search: first-order DARTS on the ``graph_transformer`` space (SEEDS_2 §7.3; code shrutiOx/DARTS_GT
``dartsgraphGT.py``).

The reference's phase 1 is DARTS, first order, with a plain softmax over the GNN experts of each layer, and the
step order **architecture step on a validation batch, then weight step on a training batch** (SEEDS_2 §0.2) --
exactly ``darts-v1``'s slots: no new slot, no new loop. What differs are the settings, so the preset is
``darts-v1`` renamed, limited to the ``graph_transformer`` space, with the CPU-scale settings of §7.6 as
``paper_defaults`` (:func:`~workbench.methods.presets.paper_config` applies them):

* the training set split 60/40 (``darts_split_ratio``) -> ``train_portion=0.6``;
* alpha: Adam, betas (0.5, 0.999), weight decay 1e-3 (the reference's); lr 4e-2 -- the reference's 4e-4 scaled
  up as §7.7 recommends at this budget (4e-3 left softmax(alpha) near uniform in the pilot);
* batch 16 graphs, 20 epochs;
* weights: the searcher's momentum SGD with a cosine schedule, lr 0.05, weight decay 3e-4, gradient clip 5 (the
  reference uses Adam 2.5e-3 with ReduceLROnPlateau; the workbench's weight step is SGD for every method).

Derivation: the argmax of softmax(alpha) per layer (the space's rule). Retraining a fresh discrete model is
:func:`workbench.spaces.graph.train_network`; the causal-ablation metrics are
:mod:`workbench.analysis.graph_explain`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from workbench.methods.family_options import DARTS_GT_PAPER
from workbench.methods.presets import Method, darts_v1, preset

NAME = "darts-gt"
PAPER_DEFAULTS = DARTS_GT_PAPER  # torch-free, with the option check: workbench.methods.family_options
__all__ = ["NAME", "PAPER_DEFAULTS", "darts_gt"]


@preset(NAME)
def darts_gt(o: dict[str, Any]) -> Method:
    """First-order DARTS (arch step on val, then weight step on train) for the graph-transformer space."""
    return replace(darts_v1(), name=NAME, spaces=("graph_transformer",))

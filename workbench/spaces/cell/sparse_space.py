"""Cell spaces with DASS's sparse ops, and the supernet settings that set their sparsity (Mousavi et al.,
arXiv 2207.06968; SEEDS_2 §3.2, §3.4).

* ``nb201-sparse``: the NB201 cell with {none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3,
  sparse_conv_1x1, sparse_conv_3x3} (SEEDS_2 §3.4's CPU-scale space);
* ``darts-sparse``: the DARTS cell plus ``sparse_sep_conv_3x3`` and ``sparse_conv_1x1``.

The dense ops are kept so the search can prefer sparse ones. Their supernet settings
(:class:`SparseSupernetConfig`, a :class:`~workbench.spaces.cell.supernet.SupernetConfig` with four more fields)
set the target ``sparsity`` (0.9), ``mask_grad`` ("ste"), ``granularity`` ("op") and ``sparsify_dense_ops``
(False: prune the dense convs to the same sparsity during search, so every op is judged at the deployment
sparsity -- a plausible, **unverified** reading of "based on the sparsity of the search space operations").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.spaces.base import SPACES
from workbench.spaces.cell.settings import SparseSupernetConfig, sparse_supernet_config
from workbench.spaces.cell.space import DARTS_OPS, NB201_OPS, CellSpace
from workbench.spaces.cell.sparse_ops import configure
from workbench.spaces.cell.supernet import Supernet
from workbench.tasks.task import TaskInfo

__all__ = ["SparseCellSpace", "SparseSupernetConfig"]


@dataclass(frozen=True)
class SparseCellSpace(CellSpace):
    """A :class:`CellSpace` whose supernet settings include the sparsity of its sparse ops."""

    def supernet_config(self, value: Any = None, **overrides: Any) -> SparseSupernetConfig:
        return sparse_supernet_config(self.name, value, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> Supernet:
        cfg = self.supernet_config(config)
        net = super().build_supernet(task, cfg)
        return configure(net, cfg.sparsity, cfg.mask_grad, cfg.granularity, dense_too=cfg.sparsify_dense_ops)


SPACES.register("nb201-sparse", SparseCellSpace("nb201-sparse", NB201_OPS + ("sparse_conv_1x1", "sparse_conv_3x3"),
                                                1, 3, ("cell",), "nb201", "all_edges"))
SPACES.register("darts-sparse", SparseCellSpace("darts-sparse", DARTS_OPS + ("sparse_sep_conv_3x3", "sparse_conv_1x1"),
                                                2, 4, ("normal", "reduce"), "darts", "darts", pool_bn=True))

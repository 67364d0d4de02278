"""The cell spaces' supernet settings (:class:`SupernetConfig`: the size of the DARTS / NAS-Bench-201 macro and
the methods' supernet switches), and how a cell space resolves them from a config's ``supernet`` field.

Torch-free, so a config can be built and printed (``python -m workbench search --print-config``) without importing
the supernet; :mod:`workbench.spaces.cell.supernet` re-exports :class:`SupernetConfig`, and
:meth:`CellSpace.supernet_config <workbench.spaces.cell.space.CellSpace.supernet_config>` is
:func:`cell_supernet_config`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from workbench import validate as V

__all__ = ["DEFAULT_SPARSITY", "GRANULARITIES", "MASK_GRADS", "SparseSupernetConfig", "SupernetConfig",
           "cell_supernet_config", "sparse_supernet_config"]

# the sparse ops' settings (defined here, torch-free; :mod:`workbench.spaces.cell.sparse_ops` uses them)
DEFAULT_SPARSITY = 0.9
MASK_GRADS = ("ste", "masked")
GRANULARITIES = ("op", "layer")


@dataclass(frozen=True)
class SupernetConfig:
    """Size of the supernet. DARTS's CIFAR search uses C=16, layers=8; NB201 uses C=16, N=5."""

    C: int = 8
    layers: int = 3  # DARTS macro: number of cells
    cells_per_stage: int = 1  # NB201 macro: N
    alpha_init_std: float = 1e-3  # alphas ~ std * N(0, 1), as in DARTS
    affine: bool = False  # BN affine in cell ops (False in every DARTS-style search model)
    partial_channels: int = 1  # PC-DARTS K: only C/K channels of an edge's input go through the ops
    edge_normalization: bool = False  # PC-DARTS beta: softmax over each node's incoming edges scales them
    inactive_bias: bool = False  # GDAS: ops not computed still add their (zero-valued) weight, carrying gradient

    def __post_init__(self) -> None:
        w: dict[str, Any] = {"where": "SupernetConfig."}
        values = {
            "C": V.integer(self.C, "C", low=1, **w),
            "layers": V.integer(self.layers, "layers", low=1, **w),
            "cells_per_stage": V.integer(self.cells_per_stage, "cells_per_stage", low=1, **w),
            "alpha_init_std": V.real(self.alpha_init_std, "alpha_init_std", low=0, **w),
            "affine": V.boolean(self.affine, "affine", **w),
            "partial_channels": V.integer(self.partial_channels, "partial_channels", low=1, **w),
            "edge_normalization": V.boolean(self.edge_normalization, "edge_normalization", **w),
            "inactive_bias": V.boolean(self.inactive_bias, "inactive_bias", **w),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if self.C % self.partial_channels:
            raise V.fail("SupernetConfig.", "partial_channels", self.partial_channels,
                         f"a divisor of C={self.C} (PC-DARTS sends C/K channels through the ops)")


def cell_supernet_config(space: str, value: Any = None, **overrides: Any) -> SupernetConfig:
    """The cell space ``space``'s settings: a :class:`SupernetConfig` from one (or a mapping of its fields, or
    None), with ``overrides`` applied."""
    fields = {f.name for f in dataclasses.fields(SupernetConfig)}
    if value is None:
        value = SupernetConfig()
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(f"unknown supernet setting(s) {unknown} for cell space {space!r}; accepted: "
                             f"{sorted(fields)}")
        value = SupernetConfig(**value)
    elif not isinstance(value, SupernetConfig):
        raise TypeError(f"cell space {space!r} takes a SupernetConfig (or a mapping of its fields) as its "
                        f"supernet settings, got {type(value).__name__}")
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown supernet setting(s) {unknown} for cell space {space!r}; accepted: "
                         f"{sorted(fields)}")
    return replace(value, **overrides) if overrides else value


@dataclass(frozen=True)
class SparseSupernetConfig(SupernetConfig):
    """A cell supernet's size plus the sparsity of its sparse ops."""

    sparsity: float = DEFAULT_SPARSITY
    mask_grad: str = "ste"
    granularity: str = "op"
    sparsify_dense_ops: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        w: dict[str, Any] = {"where": "SparseSupernetConfig."}
        object.__setattr__(self, "sparsity", V.real(self.sparsity, "sparsity", low=0, high=1, high_open=True, **w))
        V.choice(self.mask_grad, "mask_grad", MASK_GRADS, **w)
        V.choice(self.granularity, "granularity", GRANULARITIES, **w)
        V.boolean(self.sparsify_dense_ops, "sparsify_dense_ops", **w)


def sparse_supernet_config(space: str, value: Any = None, **overrides: Any) -> SparseSupernetConfig:
    """The settings of the sparse cell space ``space`` (DASS): a :class:`SparseSupernetConfig` from one, a
    :class:`SupernetConfig` (the sparsity settings at their defaults), a mapping of its fields or None, with
    ``overrides`` applied."""
    fields = {f.name for f in dataclasses.fields(SparseSupernetConfig)}
    if value is None:
        value = SparseSupernetConfig()
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(f"unknown supernet setting(s) {unknown} for space {space!r}; accepted: "
                             f"{sorted(fields)}")
        value = SparseSupernetConfig(**value)
    elif isinstance(value, SupernetConfig) and not isinstance(value, SparseSupernetConfig):
        value = SparseSupernetConfig(**dataclasses.asdict(value))
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown supernet setting(s) {unknown} for space {space!r}; accepted: "
                         f"{sorted(fields)}")
    return replace(value, **overrides) if overrides else value

"""What ``--help`` shows without importing the engine (and torch): the built-in names and defaults.

``python -m workbench search --help`` lists the spaces, methods and datasets and
the defaults of the numeric flags; importing the registries to get them would
import torch (seconds). ``tests/test_startup.py`` checks these against the
registries, ``SearchConfig`` and ``SupernetConfig``; input is always checked
against the registries themselves (a registered name works even when it is not
listed here); :func:`valid_names` lists a registry's names for an error
message, without importing it while nothing can have registered more.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any

#: built-in search spaces (``workbench.spaces.space_names()``)
SPACES = ("darts", "nb201", "toy", "s1", "s2", "s3", "s4", "s5", "sharp", "chain", "nb201-sparse", "darts-sparse",
    "norm_placement", "norm_placement_stem", "mbconv3d", "graph_transformer", "embedding_dims", "gtn", "guidance")
#: built-in methods (``workbench.methods.method_names()``)
METHODS = ("darts-v1", "darts-v2", "pc-darts", "gdas", "snas", "sdarts-rs", "sdarts-adv", "sharpdarts", "darts-l2",
    "darts-ada", "blank", "covidnet3d", "darts-gt", "dass", "sd-darts", "dnis", "gtn", "guidance", "proxylessnas",
    "fbnet", "single-path", "osnet-ain", "rarts")
#: built-in datasets (``workbench.tasks.data.dataset_names()``)
DATASETS = ("digits", "fashion_mnist", "mnist5k", "cifar10", "synthetic:blobs", "synthetic:stripes", "digits_styles",
    "fashion_styles", "digits_styles_control", "fashion_styles_control", "ct_volumes", "ct_volumes_3class",
    "graphs_motifs", "graphs_sbm", "interactions", "ctr", "ml100k", "digits_std", "guidance_pairs")
#: defaults of the ``search`` flags: SearchConfig's fields, and SupernetConfig's for C, layers, cells_per_stage
SEARCH_DEFAULTS: dict[str, Any] = {
    "epochs": 50, "batch_size": 64, "seed": 2, "C": 8, "layers": 3, "cells_per_stage": 1, "lr": 0.025,
    "arch_lr": 3e-4, "arch_weight_decay": 1e-3, "weight_decay": 3e-4, "momentum": 0.9, "grad_clip": 5.0,
    "train_portion": 0.5, "lr_min": 0.001, "arch_betas": (0.5, 0.999)}


#: kind -> (the module holding its registry, "module:function" listing its names, the built-in names above)
_REGISTRIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "space": ("workbench.spaces.protocol", "workbench.spaces:space_names", SPACES),
    "method": ("workbench.methods.presets", "workbench.methods:method_names", METHODS),
    "dataset": ("workbench.tasks.data.datasets", "workbench.tasks.data:dataset_names", DATASETS)}


def valid_names(kind: str) -> list[str]:
    """The names the registry of ``kind`` (space, method, dataset) accepts, in its order. Registering a name
    imports the registry's module, so while that module is not imported the registry holds the built-ins alone
    and they are listed without importing it (and torch): an unknown name's error starts fast."""
    module, lister, builtin = _REGISTRIES[kind]
    if module not in sys.modules:
        return list(builtin)
    where, _, function = lister.partition(":")
    names: list[str] = getattr(importlib.import_module(where), function)()
    return names

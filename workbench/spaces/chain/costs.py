"""Cost tables of a chain space: one cost per (layer, block), for the hardware-aware methods' cost models.

* ``params`` -- parameters of each candidate block, in thousands (``skip``: 0);
* ``flops`` -- FLOPs of each block at batch 1 at the layer's input resolution,
  in MFLOPs, counted by ``torch.utils.flop_counter.FlopCounterMode``;
* ``latency`` -- a table **measured on this machine** (:func:`measure_latency`:
  each block at batch 1 at its input shape, ``warmup`` runs then the median of
  ``repeats``, one torch thread), saved as JSON with the host's description
  (:func:`save_latency`, :func:`load_latency`). Tests read a stored table; they
  never time live. Other tables (the ProxylessNAS and Once-for-All YAML lookup
  tables, mapped onto the chain by "virtual resolution") are read by
  :mod:`workbench.spaces.chain.lut`.

Every cost model made here is a :class:`MaskedCostModel`: it knows which
(layer, block) pairs the space allows, so its ``minimum()`` -- the cheapest
architecture, which :class:`~workbench.methods.costs.ArchCostTerm` checks a
budget against -- never counts ``skip`` (cost 0) on a layer that cannot skip.
It, :func:`layer_inputs` and the reading of a measured table
(:func:`load_latency`, :func:`latency_cost_model`) need no torch: they live in
:mod:`workbench.spaces.chain.cost_model` and are re-exported here.

The layer's input resolution follows the chain: the stem divides H x W by its
stride (:meth:`~workbench.spaces.chain.space.ChainSpace.stem_stride_for`: 1 on
8x8 digits, 4 on 28x28 Fashion-MNIST), and each stride-2 conv -- in the stem or
a layer -- halves it (rounding up, as a 3x3/5x5 conv with padding k//2 does). A
measured table records the (C, H, W) each layer saw (``layer_inputs``), and
:func:`~workbench.spaces.chain.lut.cost_model` refuses it for a space and input
whose layers see other shapes.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.methods.costs import CostModel
from workbench.spaces.chain.blocks import make_block
from workbench.spaces.chain.cost_model import (
    LATENCY_FORMAT,
    MaskedCostModel,
    latency_cost_model,
    layer_inputs,
    load_latency,
    space_cost_model,
)
from workbench.spaces.chain.space import ChainSpace

__all__ = ["KINDS", "LATENCY_FORMAT", "MaskedCostModel", "block_cost_model", "flops_table", "latency_cost_model",
           "layer_inputs", "load_latency", "measure_latency", "params_table", "save_latency", "space_cost_model"]

KINDS = ("params", "flops", "latency")


def _table(space: ChainSpace, fn: Any) -> np.ndarray:
    g, = space.choice_groups()
    allowed = g.allowed_matrix()
    t = np.zeros(g.shape)
    for i, p in enumerate(space.plan()):
        for o, b in enumerate(g.options):
            if b != "skip" and allowed[i, o]:
                t[i, o] = fn(i, p, make_block(b, p.C_in, p.C_out, p.stride))
    return t


def params_table(space: ChainSpace) -> np.ndarray:
    """Parameters of each block (thousands)."""
    return _table(space, lambda i, p, m: sum(x.numel() for x in m.parameters()) / 1e3)


def flops_table(space: ChainSpace, input_shape: tuple[int, ...]) -> np.ndarray:
    """FLOPs of each block at batch 1 (millions)."""
    from torch.utils.flop_counter import FlopCounterMode

    shapes = layer_inputs(space, input_shape)

    def count(i: int, p: Any, m: torch.nn.Module) -> float:
        m.eval()
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            m(torch.zeros(1, *shapes[i]))
        return fc.get_total_flops() / 1e6

    return _table(space, count)


def measure_latency(space: ChainSpace, input_shape: tuple[int, ...], warmup: int = 10, repeats: int = 50
                    ) -> dict[str, Any]:
    """Time every block of every layer at batch 1 on this machine (ms, median of ``repeats``)."""
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got {warmup}, {repeats}")
    shapes = layer_inputs(space, input_shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def time_block(i: int, p: Any, m: torch.nn.Module) -> float:
            m.eval()
            x = torch.randn(1, *shapes[i])
            with torch.no_grad():
                for _ in range(warmup):
                    m(x)
                ts = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    m(x)
                    ts.append(time.perf_counter() - t)
            return statistics.median(ts) * 1e3
        table = _table(space, time_block)
    finally:
        torch.set_num_threads(threads)
    g, = space.choice_groups()
    return {"format": LATENCY_FORMAT, "space": space.name, "fingerprint": space.fingerprint(),
            "input_shape": list(input_shape), "layer_inputs": [list(v) for v in shapes], "unit": "ms",
            "rows": list(g.rows), "options": list(g.options),
            "table": table.tolist(), "warmup": warmup, "repeats": repeats, "batch": 1, "torch_threads": 1,
            "host": {"machine": platform.machine(), "processor": platform.processor() or _cpu_model(),
                     "system": platform.system(),
                     "python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), or '' where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def save_latency(table: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(table, indent=1))
    return path


def block_cost_model(space: ChainSpace, input_shape: tuple[int, ...], kind: str = "params") -> CostModel:
    """A cost model of the chain's own blocks: ``params`` (thousands) or ``flops`` (MFLOPs)."""
    if kind == "params":
        return space_cost_model(space, params_table(space), "K params", "params")
    if kind == "flops":
        return space_cost_model(space, flops_table(space, input_shape), "MFLOPs", "flops")
    raise ValueError(f"unknown cost kind {kind!r}; accepted: params, flops (latency: measure_latency + load_latency)")

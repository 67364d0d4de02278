"""Export a derived chain network and its latency report (no pickle: JSON and safetensors only).

An export folder holds

* ``architecture.json`` -- :data:`EXPORT_FORMAT`: the space's name and
  fingerprint, the architecture (``arch.to_dict()``), its one-line label, the
  task's input shape and output size, and the weights file's name (or null);
* ``weights.safetensors`` -- the compiled network's ``state_dict`` (only when
  there are trained weights: inherited from the supernet or trained);
* ``latency_report.json`` -- :data:`REPORT_FORMAT`: per layer its block,
  shape, the cost model's prediction and the layer's measured latency; the
  predicted total; the measured latency of the whole network and the sum of
  its searchable layers (batch 1, one torch thread, ``warmup`` runs then the
  median of ``repeats``), and the host's description.

The prediction is the additive model the search used (a latency table, FLOPs
or parameters: ``unit`` says which); the measurement is this machine's. The
whole network also runs its stem, pooling and classifier, which no table prices:
compare the prediction with ``measured.layers_ms`` (same blocks) and read
``measured.network_ms`` as what a user of the network waits.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from workbench.app.hardware import layer_costs
from workbench.methods.costs import CostModel
from workbench.serialize import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["EXPORT_FORMAT", "REPORT_FORMAT", "ARCH_FILE", "WEIGHTS_FILE", "REPORT_FILE", "Exported",
           "host_description", "time_module", "latency_report", "inherit_supernet_weights", "train_network",
           "export_derived", "load_export"]

EXPORT_FORMAT = "workbench-chain-export/1"
REPORT_FORMAT = "workbench-latency-report/1"
ARCH_FILE, WEIGHTS_FILE, REPORT_FILE = "architecture.json", "weights.safetensors", "latency_report.json"


def host_description() -> dict[str, Any]:
    """This machine: CPU model, architecture, OS, CPU count, Python and torch versions."""
    from workbench.spaces.chain.costs import _cpu_model
    return {"processor": platform.processor() or _cpu_model(), "machine": platform.machine(),
            "system": platform.system(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__}


@torch.no_grad()
def time_module(module: nn.Module, x: Tensor, warmup: int = 10, repeats: int = 50) -> dict[str, float]:
    """Latency of ``module(x)`` in ms: ``warmup`` untimed runs, then the median (min, max) of ``repeats``, eval mode,
    one torch thread (restored after)."""
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got {warmup}, {repeats}")
    threads = torch.get_num_threads()
    was = module.training
    torch.set_num_threads(1)
    module.eval()
    try:
        for _ in range(warmup):
            module(x)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            module(x)
            ts.append((time.perf_counter() - t) * 1e3)
    finally:
        module.train(was)
        torch.set_num_threads(threads)
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts)}


def latency_report(space: Any, arch: Any, input_shape: Sequence[int], cost: CostModel, *,
                   network: nn.Module | None = None, n_outputs: int = 10, warmup: int = 10, repeats: int = 50
                   ) -> dict[str, Any]:
    """The latency report of chain architecture ``arch`` (see the module docstring).

    ``network``: the compiled network to time (default: ``space.compile`` with
    fresh weights; latency does not depend on the weights' values).
    """
    from workbench.spaces.chain.costs import layer_inputs
    from workbench.tasks.task import TaskInfo
    space.check(arch)
    shape = tuple(int(v) for v in input_shape)
    net = network if network is not None else space.compile(arch, TaskInfo(shape, n_outputs))
    (group,) = space.choice_groups()
    picks = arch.picks[group.name]
    predicted = layer_costs(space, arch, cost)
    inputs = layer_inputs(space, shape)
    layers = []
    for i, (row, block, p, c) in enumerate(zip(group.rows, picks, space.plan(), predicted, strict=True)):
        module = cast(nn.ModuleList, net.layers)[i]  # a chain network: one module per layer
        measured = 0.0 if block == "skip" else time_module(module, torch.randn(1, *inputs[i]), warmup,
                                                          repeats)["median_ms"]
        layers.append({"layer": i, "row": row, "block": block, "C_in": p.C_in, "C_out": p.C_out, "stride": p.stride,
                       "input_shape": list(inputs[i]), "predicted": c, "measured_ms": measured})
    whole = time_module(net, torch.randn(1, *shape), warmup, repeats)
    return {"format": REPORT_FORMAT, "space": space.name, "fingerprint": space.fingerprint(),
            "architecture": arch.to_dict(), "label": space.label(arch),
            "cost_model": {"name": cost.name, "unit": cost.unit, "cheapest": cost.minimum()},
            "unit": cost.unit, "layers": layers, "predicted_total": float(sum(predicted)),
            "measured": {"network_ms": whole["median_ms"], "network_min_ms": whole["min_ms"],
                         "network_max_ms": whole["max_ms"],
                         "layers_ms": float(sum(layer["measured_ms"] for layer in layers)),
                         "batch": 1, "torch_threads": 1, "warmup": warmup, "repeats": repeats,
                         "statistic": "median"},
            "input_shape": list(shape), "host": host_description(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def inherit_supernet_weights(space: Any, arch: Any, supernet_state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The compiled chain's ``state_dict`` taken from a chain supernet's: the stem, the classifier and, per layer,
    the chosen block's weights (``layers.i.<block>.*`` -> ``layers.i.*``; one-shot weight inheritance). A
    Single-Path supernet's superkernels give the chosen kernel and channels instead (``child_state_from``)."""
    from workbench.spaces.chain.superkernel import child_state_from, is_superkernel_state
    if is_superkernel_state(supernet_state):  # Single-Path NAS: one superkernel per layer, not one module a block
        return child_state_from(space, arch, supernet_state)
    (group,) = space.choice_groups()
    picks = arch.picks[group.name]
    out: dict[str, Tensor] = {}
    for key, value in supernet_state.items():
        if key.startswith(("stem.", "classifier.")):
            out[key] = value.detach().clone()
            continue
        parts = key.split(".")
        if len(parts) > 3 and parts[0] == "layers" and parts[1].isdigit():
            i = int(parts[1])
            if i < len(picks) and parts[2] == picks[i]:
                out[".".join(["layers", parts[1], *parts[3:]])] = value.detach().clone()
    return out


def train_network(net: nn.Module, dataset: Any, epochs: int, *, batch_size: int = 64, lr: float = 0.05,
                  weight_decay: float = 4e-5, seed: int = 0) -> dict[str, float]:
    """Train ``net`` (cross-entropy, SGD with momentum 0.9, cosine lr) on ``dataset``'s training split for
    ``epochs`` epochs; returns its test accuracy and loss. Deterministic for ``seed`` on CPU."""
    import torch.nn.functional as F

    from workbench.methods.schedules import cosine_lr
    from workbench.tasks.data import BatchStream, derive_seed, eval_batches
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    stream = BatchStream(dataset.x_train, dataset.y_train, batch_size, seed=derive_seed(seed, "export-train"))
    net.train()
    for epoch in range(epochs):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(epoch, epochs, lr, 0.0)
        for _ in range(stream.batches_per_epoch):
            x, y = stream.next()
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
    net.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for x, y in eval_batches(dataset.x_test, dataset.y_test, 512):
            logits = net(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    n = max(len(dataset.y_test), 1)
    return {"test_accuracy": correct / n, "test_loss": loss_sum / n, "epochs": float(epochs)}


def export_derived(out_dir: str | os.PathLike[str], space: Any, arch: Any, input_shape: Sequence[int], n_outputs: int,
                   cost: CostModel, *, state: Mapping[str, Tensor] | None = None, warmup: int = 10,
                   repeats: int = 50, meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write an export folder (architecture JSON, weights if ``state`` is given, latency report); returns the paths.

    ``state``: the compiled network's ``state_dict`` (e.g. :func:`inherit_supernet_weights`
    or a trained network's); it is loaded into the network first, so a state that does not fit fails before
    anything is written. ``meta``: extra JSON-able facts recorded in ``architecture.json`` (run folder, ...).
    """
    from safetensors.torch import save_file

    from workbench.tasks.task import TaskInfo
    space.check(arch)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"export folder {out} is a file; give a folder")
    shape = tuple(int(v) for v in input_shape)
    net = space.compile(arch, TaskInfo(shape, int(n_outputs)))
    if state is not None:
        net.load_state_dict(dict(state), strict=True)
    report = latency_report(space, arch, shape, cost, network=net, n_outputs=n_outputs, warmup=warmup,
                            repeats=repeats)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"architecture": out / ARCH_FILE, "report": out / REPORT_FILE}
    if state is not None:
        paths["weights"] = out / WEIGHTS_FILE
        tensors = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
        save_file(tensors, str(paths["weights"]), metadata={"format": EXPORT_FORMAT, "space": space.name})
    doc = {"format": EXPORT_FORMAT, "space": space.name, "fingerprint": space.fingerprint(),
           "architecture": arch.to_dict(), "label": space.label(arch),
           "task": {"input_shape": list(shape), "n_outputs": int(n_outputs)},
           "weights": WEIGHTS_FILE if state is not None else None, "report": REPORT_FILE,
           "predicted_total": report["predicted_total"], "unit": report["unit"],
           "measured_network_ms": report["measured"]["network_ms"], "meta": dict(meta or {})}
    atomic_write_text(paths["architecture"], json.dumps(doc, indent=1))
    atomic_write_text(paths["report"], json.dumps(report, indent=1))
    log.info("exported %s to %s", space.label(arch), out)
    return paths


@dataclass
class Exported:
    """An export folder read back: the architecture, its documents, and the network (with weights if saved)."""

    space: Any
    arch: Any
    document: dict[str, Any]
    report: dict[str, Any]
    network: nn.Module
    has_weights: bool


def load_export(out_dir: str | os.PathLike[str], space: Any = None) -> Exported:
    """Read an export folder: checks the format and the space's fingerprint, rebuilds the network, loads weights."""
    from safetensors.torch import load_file

    from workbench.spaces import get_space
    from workbench.tasks.task import TaskInfo
    folder = Path(out_dir)
    try:
        doc = json.loads((folder / ARCH_FILE).read_text())
        report = json.loads((folder / REPORT_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder} is not a readable export folder ({ARCH_FILE}, {REPORT_FILE}): {exc}") from None
    if doc.get("format") != EXPORT_FORMAT or report.get("format") != REPORT_FORMAT:
        raise ValueError(f"{folder}: unknown export format {doc.get('format')!r} / {report.get('format')!r}; expected "
                         f"{EXPORT_FORMAT!r} and {REPORT_FORMAT!r}")
    space = space if space is not None else get_space(str(doc["space"]))
    if doc.get("fingerprint") != space.fingerprint():
        raise ValueError(f"{folder} was exported from space {doc.get('space')!r} with fingerprint "
                         f"{doc.get('fingerprint')}; space {space.name!r} has {space.fingerprint()}")
    arch = space.arch_from_dict(doc["architecture"])
    space.check(arch)
    task = doc["task"]
    net = space.compile(arch, TaskInfo(tuple(int(v) for v in task["input_shape"]), int(task["n_outputs"])))
    has_weights = doc.get("weights") is not None
    if has_weights:
        net.load_state_dict(load_file(str(folder / str(doc["weights"]))), strict=True)
    return Exported(space, arch, doc, report, net, has_weights)

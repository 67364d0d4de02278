"""Saving, validating and restoring a search's state, and undoing a failed step (a mixin of the Searcher).

``state_dict()`` captures everything needed to resume bit for bit on CPU
(weights, architecture, masks, both optimizers, data-stream positions, RNGs);
``load_state_dict()`` checks *all* of it against this search -- choice groups,
tensor shapes and dtypes, optimizer-state shapes, masks that leave a row with
no option -- before applying any of it. :class:`_StepUndo` snapshots what a step
touches so a step that fails (a NaN loss, Ctrl-C) leaves the search exactly as
it was.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from workbench.serialize import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from workbench.cuda_graphs import StepGraphs
    from workbench.search import Searcher
    from workbench.spaces import SearchSpace
    from workbench.spaces.base import ChoiceSupernet
    from workbench.tasks.data.streams import BatchStream

log = logging.getLogger(__name__)
STATE_FORMAT = "workbench-search-state/2"


class SearchState:
    """The state half of :class:`~workbench.search.Searcher` (it provides model, optimizers, streams, generator)."""

    # set by Searcher.__init__
    space: SearchSpace
    model: ChoiceSupernet
    optimizer: torch.optim.Optimizer
    arch_optimizer: torch.optim.Optimizer
    train_stream: BatchStream
    val_stream: BatchStream
    generator: torch.Generator
    step_count: int
    failed: str | None
    _started: bool
    _stopped: bool
    _graphs: StepGraphs | None

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit for bit: weights, architecture, masks, optimizers, data order, RNG."""
        return {
            "format": STATE_FORMAT,
            "step": self.step_count,
            "stopped": self._stopped,
            "space_groups": [g.to_dict() for g in self.model.groups],
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone_state(self.optimizer.state_dict()),
            "arch_optimizer": _clone_state(self.arch_optimizer.state_dict()),
            "train_stream": self.train_stream.state_dict(),
            "val_stream": self.val_stream.state_dict(),
            "generator": self.generator.get_state().clone(),
            "torch_rng": torch.get_rng_state().clone(),
        }

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`. Everything is checked against this search first (keys, shapes, dtypes,
        finite values, option masks, optimizer states, streams, generators); a state that does not fit raises
        :class:`~workbench.serialize.CheckpointError` and nothing is applied."""
        self._check_state(sd)
        backup = self.state_dict()
        try:
            self._apply_state(sd)
        except Exception:
            self._apply_state(backup)  # leave the search as it was
            raise

    def _apply_state(self, sd: Mapping[str, Any]) -> None:
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.arch_optimizer.load_state_dict(sd["arch_optimizer"])
        self.train_stream.load_state_dict(sd["train_stream"])
        self.val_stream.load_state_dict(sd["val_stream"])
        self.generator.set_state(sd["generator"].clone())
        torch.set_rng_state(sd["torch_rng"].clone())
        self.step_count = int(sd["step"])
        self._stopped = bool(sd.get("stopped", False))
        self.failed = None
        self._started = False
        graphs = getattr(self, "_graphs", None)
        if graphs is not None:
            graphs.reset()  # captured graphs point at the optimizer state tensors the load replaced

    def _check_state(self, sd: Any) -> None:
        """Raise CheckpointError naming the first thing in ``sd`` that does not fit this search."""
        def bad(msg: str) -> CheckpointError:
            return CheckpointError(f"the search state does not fit this search: {msg}")

        if not isinstance(sd, Mapping):
            raise bad(f"expected a mapping (Searcher.state_dict()), got {type(sd).__name__}")
        fmt = sd.get("format")
        if fmt not in (STATE_FORMAT, "workbench-search-state/1"):
            raise CheckpointError(f"not a workbench search state (format={fmt!r}); expected {STATE_FORMAT!r}")
        need = ["step", "model", "optimizer", "arch_optimizer", "train_stream", "val_stream", "generator",
                "torch_rng", "space_ops" if fmt == "workbench-search-state/1" else "space_groups"]
        if missing := [k for k in need if k not in sd]:
            raise bad(f"it lacks {missing}")
        if fmt == "workbench-search-state/1":  # cell spaces before choice groups: one op list
            ops = list(getattr(self.space, "ops", ()))
            if not isinstance(sd["space_ops"], (list, tuple)) or list(sd["space_ops"]) != ops:
                raise CheckpointError(f"checkpoint was made with ops {sd['space_ops']!r} but this search has {ops}; "
                                      "build the searcher with the same config")
        else:
            mine = [g.to_dict() for g in self.model.groups]
            theirs = sd["space_groups"]
            theirs = list(theirs) if isinstance(theirs, (list, tuple)) else theirs
            if theirs != mine:
                def listing(groups: Any) -> Any:
                    try:
                        return [(g["name"], g["options"]) for g in groups]
                    except (TypeError, KeyError):
                        return groups
                raise CheckpointError(f"checkpoint was made with choice groups (name, ops) {listing(theirs)} but "
                                      f"this search has {listing(mine)}; build the searcher with the same space "
                                      "and config")
        step = sd["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise bad(f"step={step!r} is not an int >= 0")
        if not isinstance(sd.get("stopped", False), bool):
            raise bad(f"stopped={sd['stopped']!r} is not a bool")
        self._check_model_state(sd["model"], bad)
        for key, opt in (("optimizer", self.optimizer), ("arch_optimizer", self.arch_optimizer)):
            _check_optimizer_state(key, sd[key], opt, bad)
        for key, stream in (("train_stream", self.train_stream), ("val_stream", self.val_stream)):
            try:
                stream.check_state(sd[key])
            except ValueError as exc:
                raise bad(f"{key}: {exc}") from None
        for key, want in (("generator", self.generator.get_state()), ("torch_rng", torch.get_rng_state())):
            v = sd[key]
            if not isinstance(v, Tensor) or v.dtype != torch.uint8 or v.shape != want.shape:
                raise bad(f"{key} must be a uint8 tensor of shape {tuple(want.shape)} (a torch generator state), "
                          f"got {_describe(v)}")

    def _check_model_state(self, model_sd: Any, bad: Any) -> None:
        own = self.model.state_dict()
        if not isinstance(model_sd, Mapping):
            raise bad(f"model must be a mapping of tensors, got {type(model_sd).__name__}")
        unknown = [k for k in model_sd if k not in own]
        missing = [k for k in own if k not in model_sd]
        if unknown or missing:
            raise bad(f"the supernet differs (config differs?): unknown entries {unknown[:5]}, missing {missing[:5]}")
        for k, mine in own.items():
            v = model_sd[k]
            if not isinstance(v, Tensor):
                raise bad(f"model.{k} must be a tensor, got {type(v).__name__}")
            if v.dtype != mine.dtype or tuple(v.shape) != tuple(mine.shape):
                raise bad(f"model.{k} is {_describe(v)}, this supernet has {_describe(mine)}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise bad(f"model.{k} holds NaN or infinite values")
        for g in self.model.groups:
            key = f"mask_{g.name}"
            if key not in model_sd:
                continue
            mask = model_sd[key].cpu().numpy()
            allowed = g.allowed_matrix()
            if (mask & ~allowed).any():
                r, o = (int(i[0]) for i in np.nonzero(mask & ~allowed))
                raise bad(f"model.{key} enables option {g.options[o]!r} in row {r}, which the space does not allow "
                          "there")
            real = [i for i, name in enumerate(g.options) if name not in self.model.empty_options(g.name)]
            empty = [r for r in range(len(g.rows)) if not mask[r, real].any()]
            if empty:
                raise bad(f"model.{key} leaves row(s) {empty} of group {g.name!r} without any enabled option "
                          f"(other than {list(self.model.empty_options(g.name))})")



def _describe(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a {str(v.dtype).replace('torch.', '')} tensor of shape {tuple(v.shape)}"
    return f"a {type(v).__name__}"


def _check_optimizer_state(key: str, sd: Any, opt: torch.optim.Optimizer, bad: Any) -> None:
    """``sd`` must be a state dict of ``opt`` over ``params``: same groups, per-parameter tensors shaped as the
    parameters (momentum, Adam moments), scalar steps, finite numbers."""
    if not isinstance(sd, Mapping) or not isinstance(sd.get("state"), Mapping) \
            or not isinstance(sd.get("param_groups"), (list, tuple)):
        raise bad(f"{key} must be an optimizer state dict with 'state' and 'param_groups', got "
                  f"{type(sd).__name__}")
    own = opt.state_dict()["param_groups"]
    theirs = sd["param_groups"]
    if len(theirs) != len(own):
        raise bad(f"{key} has {len(theirs)} parameter group(s), this search {len(own)}")
    for i, (g, mine) in enumerate(zip(theirs, own, strict=True)):
        if not isinstance(g, Mapping) or list(g.get("params", ())) != list(mine["params"]):
            raise bad(f"{key}.param_groups[{i}] does not list the same parameters as this search's optimizer")
        for name, value in g.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(f"{key}.param_groups[{i}].{name}={value} is not finite")
    flat = [p for g in opt.param_groups for p in g["params"]]
    index = dict(zip([i for g in own for i in g["params"]], flat, strict=True))  # state_dict numbers them in order
    for idx, entry in sd["state"].items():
        if idx not in index:
            raise bad(f"{key}.state has an entry for parameter {idx!r}, which this search does not have")
        if not isinstance(entry, Mapping):
            raise bad(f"{key}.state[{idx}] must be a mapping, got {type(entry).__name__}")
        p = index[idx]
        for name, v in entry.items():
            if v is None or isinstance(v, (int, float)) and not isinstance(v, bool):
                continue
            if not isinstance(v, Tensor):
                raise bad(f"{key}.state[{idx}].{name} must be a tensor, got {type(v).__name__}")
            if name == "step":
                if v.numel() != 1 or not v.is_floating_point() and v.dtype not in (torch.int64, torch.int32):
                    raise bad(f"{key}.state[{idx}].step must be a scalar number, got {_describe(v)}")
            elif v.dtype != p.dtype or tuple(v.shape) != tuple(p.shape):
                raise bad(f"{key}.state[{idx}].{name} is {_describe(v)}; its parameter is {_describe(p)}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise bad(f"{key}.state[{idx}].{name} holds NaN or infinite values")


class _StepUndo:
    """What one step may change, copied before the step and put back if the step fails.

    Tensors (weights, architecture parameters, every model buffer -- BatchNorm running statistics included -- and
    the tensors of both optimizers' states) are copied with one ``torch._foreach_copy_`` into buffers allocated
    once (again only when the optimizers' state tensors change, e.g. after the first step); the rest is small:
    which parameters have optimizer state, the param groups' hyper-parameters, the searcher's generator, torch's
    global RNG and the positions of both data streams. A step that raises is undone completely, whatever it had
    already applied (the weight update of a ``weight_first`` method, running statistics updated by a NaN batch).
    """

    def __init__(self, searcher: Searcher) -> None:
        self.s = searcher
        self._fixed = [*searcher._weights, *searcher.arch_params,
                       *(b for b in searcher.model.buffers())]  # identity never changes (load_state_dict copies)
        self._ids: list[int] = []
        self._by_device: dict[torch.device, tuple[list[Tensor], list[Tensor]]] = {}  # device -> (live, copies)
        self._opt_state: list[tuple[torch.optim.Optimizer, dict[Any, dict[str, Any]]]] = []
        self._groups: list[list[dict[str, Any]]] = []
        self._rest: tuple[Any, ...] = ()

    def _optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return self.s.optimizer, self.s.arch_optimizer

    def save(self) -> None:
        s = self.s
        live = list(self._fixed)
        self._opt_state = []
        for opt in self._optimizers():
            snap: dict[Any, dict[str, Any]] = {}
            for p, st in opt.state.items():
                entry = {}
                for k, v in st.items():
                    if isinstance(v, Tensor):
                        live.append(v)
                        entry[k] = v  # the live tensor itself: its value comes back from the copy
                    else:
                        entry[k] = _clone_state(v)
                snap[p] = entry
            self._opt_state.append((opt, snap))
        ids = [id(t) for t in live]
        if ids != self._ids:  # first use, or the optimizers created / replaced state tensors
            self._ids = ids
            self._by_device = {}
            for t in live:  # foreach kernels want one device per list (Adam's step counters stay on the CPU)
                pair = self._by_device.setdefault(t.device, ([], []))
                pair[0].append(t.detach())
                pair[1].append(t.detach().clone())
        else:
            with torch.no_grad():
                for lives, copies in self._by_device.values():
                    torch._foreach_copy_(copies, lives)
        self._groups = [[{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
                        for opt in self._optimizers()]
        cuda = torch.cuda.get_rng_state_all() if s.device.type == "cuda" else None
        self._rest = (s.generator.get_state(), torch.get_rng_state(), cuda, s.train_stream.mark(),
                      s.val_stream.mark(), s.model.training)

    def restore(self) -> None:
        s = self.s
        with torch.no_grad():
            for lives, copies in self._by_device.values():
                torch._foreach_copy_(lives, copies)
        for opt, snap in self._opt_state:
            for p in [p for p in opt.state if p not in snap]:
                del opt.state[p]  # state the failed step created (the first step's momentum buffers)
            for p, entry in snap.items():
                opt.state[p] = dict(entry)
        for opt, groups in zip(self._optimizers(), self._groups, strict=True):
            for g, saved in zip(opt.param_groups, groups, strict=True):
                g.update(saved)
            opt.zero_grad(set_to_none=True)
        for p in s.arch_params:
            p.grad = None
        gen, rng, cuda, train_mark, val_mark, training = self._rest
        s.generator.set_state(gen)
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        s.train_stream.reset(train_mark)
        s.val_stream.reset(val_mark)
        s.model.train(training)


def _clone_state(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_state(v) for v in obj)
    return obj


"""A search step captured once as a CUDA graph and replayed (issue 15).

At the sizes of a teaching search a step is a few thousand small kernels, and
on a GPU its time is the time Python and the CUDA driver take to launch them,
not the time they run (a 50-epoch NAS-Bench-201 search was slower on an H200
than on its host's CPU). A CUDA graph records the launches of one step once and
replays them with one call (PyTorch's "whole-network capture": forward,
backward and optimizer steps in one graph).

:class:`StepGraphs` runs :meth:`Searcher._device_updates` this way:

* the first step is run eagerly on a side stream (PyTorch's required warm-up:
  cuBLAS/cuDNN handles and the optimizers' state are created there);
* then, for each *key* -- the batch shapes and every host value the step bakes
  into its kernels (epoch, learning rate, weight decay, architecture lr, the
  option masks, the model generation after a load) -- the step is captured
  once into static input buffers and replayed for every batch with that key.
  The learning rate changes once per epoch (DARTS's cosine schedule), so a
  search captures about one graph per epoch (plus one for a short last batch);
  the capture takes about as long as one eager step;
* the step's values come back packed in one vector (:mod:`workbench.step_values`),
  read with one transfer per step.

A replay computes exactly what the eager step computes (the same kernels on
the same buffers), so a graphed search equals an eager CUDA search.

What is captured: methods that compute the same ops every step -- DARTS V1/V2
(finite-difference or exact hypergradient), DARTS-L2/ADA, sharpDARTS, the
fixed-architecture baseline, and the sampling methods whose sampled path is
the whole supernet: SNAS (a soft concrete sample, every op computed),
SDARTS-RS (uniform noise on the mixing weights) and SDARTS-ADV (its PGD attack,
kept or dropped on the device). Their noise is drawn on the
host from the searcher's generator (a search is reproducible on every device):
inside the graph it is a device buffer that :class:`~workbench.methods.noise.NoiseRecorder`
refills before each replay with exactly the draws the eager step would make.
Methods that decide *on the host* which path to compute (GDAS's hard sample,
ProxylessNAS's binary gates, OSNet-AIN's and CovidNet3D's sampled ops) run
eagerly (still with a single read per step). A step that
cannot be captured (an operation that synchronises, e.g. indexing with a
Python list) falls back to eager execution for the rest of the search; the
reason is in :attr:`StepGraphs.reason` and the log.

Adam on CUDA. PyTorch's Adam keeps its step count on the host unless
``capturable=True``, which would bake the bias correction of the capture step
into the graph; the architecture optimizer is switched to ``capturable=True``
before the first step (eager steps then use the same arithmetic).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from workbench.methods.noise import NoiseRecorder
from workbench.methods.perturb import AdversarialPGD, RandomSmoothing
from workbench.methods.relax import GumbelSoft, MaxW, Softmax
from workbench.step_values import Layout, StepOutputs, StepValues, unpack

if TYPE_CHECKING:  # pragma: no cover
    from workbench.methods.context import StepContext
    from workbench.search import Searcher

log = logging.getLogger(__name__)

__all__ = ["StepGraphs", "capture_blocker"]


def capture_blocker(searcher: Searcher) -> str | None:
    """Why ``searcher``'s steps cannot be captured as CUDA graphs (None when they can)."""
    if searcher.device.type != "cuda":
        return f"the search runs on {searcher.device.type!r}, not CUDA"
    m = searcher.method
    if not isinstance(m.relaxation, (Softmax, MaxW, GumbelSoft)):
        return (f"method {m.name!r}'s relaxation ({type(m.relaxation).__name__}) is not one a graph can hold "
                "(softmax, Max-W and soft Gumbel samples are: the same ops every step); its steps run eagerly")
    if m.perturbation is not None and not isinstance(m.perturbation, (RandomSmoothing, AdversarialPGD)):
        return (f"method {m.name!r}'s perturbation ({type(m.perturbation).__name__}) reads values back to decide; "
                "its steps run eagerly")
    return None


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: tuple[Tensor, ...]  # static xt, yt, xv, yv
    packed: Tensor
    layout: Layout
    noise: NoiseRecorder  # the step's host-drawn sampling noise, refilled before each replay


class StepGraphs:
    """Captures and replays a :class:`~workbench.search.Searcher`'s step on CUDA (see the module docstring)."""

    def __init__(self, searcher: Searcher) -> None:
        self.s = searcher
        self.reason: str | None = capture_blocker(searcher)
        self.captures = 0
        self.replays = 0
        self._warm = False
        self._generation = 0
        self._graphs: dict[tuple[Any, ...], _Captured] = {}
        self._baked: tuple[Any, ...] | None = None
        self._pool: Any = None
        if self.reason is None:
            _make_capturable(searcher.arch_optimizer, searcher.device)

    @property
    def active(self) -> bool:
        return self.reason is None

    def reset(self) -> None:
        """Forget every captured graph (after a load replaced optimizer state tensors, say)."""
        self._drop_graphs()
        self._baked = None
        self._generation += 1
        if self.reason is None:  # a loaded param group says capturable=False again
            _make_capturable(self.s.arch_optimizer, self.s.device)

    def _key(self, ctx: StepContext) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        s = self.s
        shapes = tuple(tuple(t.shape) for t in _inputs(ctx))
        groups = s.optimizer.param_groups + s.arch_optimizer.param_groups
        baked = (ctx.epoch, self._generation, tuple((g["lr"], g.get("weight_decay")) for g in groups),
                 tuple(s.model.op_mask(g)._version for g in s.groups))
        return shapes, baked

    def run(self, ctx: StepContext) -> StepValues | None:
        """The step's values after running it as a graph; None when the caller must run it eagerly."""
        if self.reason is not None:
            return None
        s = self.s
        if not self._warm:  # PyTorch's warm-up: eager, on a side stream
            side = torch.cuda.Stream(device=s.device)
            side.wait_stream(torch.cuda.current_stream(s.device))
            outs = StepOutputs()
            with torch.cuda.stream(side):
                s._device_updates(ctx, outs)
                values = outs.read()
            torch.cuda.current_stream(s.device).wait_stream(side)
            self._warm = True
            return values
        shapes, baked = self._key(ctx)
        if baked != self._baked:  # a new epoch (lr), new masks or a load: the old graphs are stale
            self._drop_graphs()
            self._baked = baked
        entry = self._graphs.get(shapes)
        if entry is None:
            try:
                entry = self._capture(ctx)
            except Exception as exc:  # noqa: BLE001 - any capture failure means: run this search eagerly
                self.reason = f"CUDA graph capture failed ({type(exc).__name__}: {exc}); steps run eagerly"
                log.warning("%s", self.reason)
                self._drop_graphs()
                torch.cuda.synchronize(s.device)
                return None
            self._graphs[shapes] = entry
        for static, live in zip(entry.inputs, _inputs(ctx), strict=True):
            static.copy_(live)
        entry.noise.refill(ctx.generator)
        entry.graph.replay()
        self.replays += 1
        return unpack(entry.packed, entry.layout)

    def _drop_graphs(self) -> None:
        """Free the captured graphs and their memory pool. The pool goes with them: capturing into the pool of
        graphs that no longer exist trips an internal assert of PyTorch's caching allocator (seen on torch 2.11,
        ``it->second->use_count > 0``), so the next capture starts a fresh pool."""
        self._graphs.clear()
        self._pool = None

    def _capture(self, ctx: StepContext) -> _Captured:
        s = self.s
        xt, yt, xv, yv = inputs = tuple(t.clone() for t in _inputs(ctx))
        noise = NoiseRecorder()  # the step's draws become buffers; nothing is drawn while capturing
        cctx = dataclasses.replace(ctx, batch_t=(xt, yt), batch_v=(xv, yv), noise=noise)
        graph = torch.cuda.CUDAGraph()
        outs = StepOutputs()
        # Capturing records kernels without running them; the Python side (optimizer bookkeeping, grads set to
        # None) runs once here. The undo snapshot taken before this step restores anything a failure leaves.
        with torch.cuda.graph(graph, pool=self._pool):
            s._device_updates(cctx, outs)
            if any(not isinstance(v, Tensor) for v in outs.scalars.values()):
                raise RuntimeError("a step value is a host number, which a graph would freeze")
            packed = outs.pack(s.device)
        self._pool = graph.pool()
        self.captures += 1
        log.debug("captured a CUDA graph of the step (epoch %d, %d values)", ctx.epoch, packed.numel())
        return _Captured(graph, inputs, packed, outs.layout(), noise)


def _inputs(ctx: StepContext) -> tuple[Tensor, ...]:
    """The step's four input tensors: the weight batch, then the architecture batch."""
    assert ctx.batch_t is not None and ctx.batch_v is not None  # a training step has both batches
    return (*ctx.batch_t, *ctx.batch_v)


def _make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Switch an optimizer that supports it (Adam, AdamW, ...) to ``capturable=True``, its step counts on device."""
    groups = [g for g in optimizer.param_groups if "capturable" in g]
    if not groups:
        return
    for g in groups:
        g["capturable"] = True
    for state in optimizer.state.values():
        step = state.get("step")
        if isinstance(step, Tensor) and step.device != device:
            state["step"] = step.to(device=device, dtype=torch.float32)
    optimizer._warned_capturable_if_run_uncaptured = True  # the warm-up is eager

"""Method-owned state kept on the supernet, so the search state saves, restores and undoes it.

Slots are stateless callables that see a frozen :class:`~workbench.methods.context.StepContext`.
Methods that need memory across steps -- SD-DARTS's teacher pool (Zhu et al. 2023, arXiv 2302.05629),
RARTS's second weight copy y (Xue et al., arXiv 2008.03901, the relaxed objective of SEEDS_2 §2.2) --
keep it as **buffers** of a module attached to the supernet under ``model.method_state.<name>``:

* buffers are not parameters, so neither the weight optimizer nor the architecture optimizer sees them;
* they are in ``model.state_dict()``, so ``Searcher.state_dict()`` saves them and ``load_state_dict()``
  checks (shape, dtype, finiteness) and restores them, and a run folder's checkpoint carries them;
* they are in ``model.buffers()``, so the step undo (``search_state._StepUndo``) puts them back after a
  failed step.

The module is attached in the method's ``arch_parameters`` slot (:class:`AttachState`), the one slot the
searcher calls once, with the model, before it builds the optimizers and the step undo. No change to the
searcher is needed; the cost is one more prefix in the supernet's state dict, which
:func:`supernet_state` leaves out when a method copies "the supernet".
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover
    from workbench.spaces.base import ChoiceSupernet

CONTAINER = "method_state"
M = TypeVar("M", bound=nn.Module)


def attach(model: M, name: str, factory: Callable[[M], nn.Module]) -> nn.Module:
    """``model.method_state.<name>``, built by ``factory(model)`` the first time (idempotent)."""
    container = model._modules.get(CONTAINER)
    if container is None:
        container = nn.Module()
        model.add_module(CONTAINER, container)
    if name not in container._modules:
        container.add_module(name, factory(model))
    state = container._modules[name]
    assert state is not None
    return state


def owned(model: nn.Module, name: str) -> nn.Module:
    """The state module ``name`` attached to ``model`` (a clear error when the method did not attach it)."""
    container = model._modules.get(CONTAINER)
    if container is None or name not in container._modules:
        raise RuntimeError(f"the supernet carries no {name!r} state: build the search with the method that owns "
                           f"it (its arch_parameters slot attaches it before the optimizers are built)")
    state = container._modules[name]
    assert state is not None  # add_module never stores None here
    return state


def supernet_state(model: nn.Module, floating_only: bool = True) -> dict[str, Tensor]:
    """The supernet's own state (parameters and buffers, without any method's state), by name, not copied."""
    prefix = CONTAINER + "."
    return {k: v for k, v in model.state_dict(keep_vars=True).items()
            if not k.startswith(prefix) and (v.is_floating_point() or not floating_only)}


def weight_names(model: ChoiceSupernet) -> list[str]:
    """Names of the supernet's weights: its parameters minus the architecture parameters."""
    arch = {id(p) for p in model.arch_parameters()}
    return [n for n, p in model.named_parameters() if id(p) not in arch]


class FlatLayout:
    """Named tensors packed into one flat vector (one buffer instead of hundreds), and views back by name."""

    def __init__(self, named: Mapping[str, Tensor]) -> None:
        self.names = list(named)
        self.shapes = [tuple(t.shape) for t in named.values()]
        self.sizes = [t.numel() for t in named.values()]
        self.numel = sum(self.sizes)

    def pack(self, named: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([named[n].detach().reshape(-1) for n in self.names]) if self.names else torch.zeros(0)

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """Views of ``flat`` shaped like the packed tensors (in-place writes to them land in ``flat``)."""
        return {n: t.view(s) for n, t, s in zip(self.names, flat.split(self.sizes), self.shapes, strict=True)}


@dataclass(frozen=True)
class AttachState:
    """An ``arch_parameters`` slot: attach ``factory(model)`` as ``model.method_state.<name>``, then return the
    supernet's own architecture parameters (``model.arch_parameters()``)."""

    name: str
    factory: Callable[[ChoiceSupernet], nn.Module]

    def __call__(self, model: ChoiceSupernet) -> list[nn.Parameter]:
        attach(model, self.name, self.factory)
        return list(model.arch_parameters())

"""The search-space protocol's torch part: :class:`ChoiceSupernet`, the base of every supernet.

A :class:`ChoiceSupernet` owns one logit matrix per group (``alphas``), the
option masks (buffers, so they are saved and resumed) and the op swapper
(``set_op_enabled``); subclasses implement ``forward(x, weights, active)``,
where ``weights[group]`` is the relaxed (rows x options) mixing matrix and
``active[group]`` the boolean matrix of options that must be computed.

The rest of the protocol -- :class:`SearchSpace`, :class:`ChoiceGroup`, the generic :class:`Choices`
architecture and the registry of spaces -- needs no torch: it lives in :mod:`workbench.spaces.protocol` and is
re-exported here.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from workbench.spaces.protocol import (  # noqa: F401  (the protocol's names, importable from here)
    SPACES,
    ArchitectureError,
    ChoiceGroup,
    Choices,
    SearchSpace,
    _esc,
    decode_argmax,
    edited_options,
    get_space,
    register_space,
    space_names,
)
from workbench.spaces.settings import space_settings as space_settings  # noqa: F401


def masked_softmax(alpha: Tensor, mask: Tensor) -> Tensor:
    """softmax over the enabled options of each row; disabled options get exactly 0."""
    return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)


_HOST_MASKS: dict[int, tuple[Any, int, np.ndarray]] = {}


def host_mask(mask: Tensor) -> np.ndarray:
    """A host (numpy) copy of an option mask, without a device synchronisation when it has not changed.

    Which options a supernet computes is decided on the host (it is Python control flow), so every forward needs
    the masks as numpy; reading a CUDA buffer each time would synchronise the step with the GPU. The copy is
    cached per tensor and refreshed whenever the tensor's version counter moves (every in-place change:
    ``set_op_enabled``, ``load_state_dict``). Returns a fresh array the caller may modify.
    """
    key = id(mask)
    entry = _HOST_MASKS.get(key)
    version = mask._version
    if entry is None or entry[0]() is not mask or entry[1] != version:
        if len(_HOST_MASKS) > 4096:  # tensors that died long ago; their ids may be reused
            _HOST_MASKS.clear()
        entry = (weakref.ref(mask), version, mask.detach().cpu().numpy().copy())
        _HOST_MASKS[key] = entry
    return entry[2].copy()


class ChoiceSupernet(nn.Module):
    """Base of every supernet: one logit matrix and one option mask per choice group, and the op swapper.

    Subclasses call ``super().__init__(groups, alpha_init_std)`` and implement
    ``forward(x, weights, active)``. ``arch_parameters()`` are the tensors the
    architecture optimizer updates (override to add more: PC-DARTS's edge
    betas); everything else is a weight. ``probabilities(group)`` is what
    architectures are decoded from (default: softmax over enabled options).
    """

    def __init__(self, groups: Sequence[ChoiceGroup], alpha_init_std: float = 1e-3) -> None:
        super().__init__()
        self.groups = tuple(groups)
        self.alphas = nn.ParameterDict({
            g.name: nn.Parameter(alpha_init_std * torch.randn(*g.shape)) for g in self.groups})
        for g in self.groups:
            self.register_buffer(f"mask_{g.name}", torch.from_numpy(g.allowed_matrix().copy()))
        self._group_index = {g.name: g for g in self.groups}

    # -- architecture state ---------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas[g.name] for g in self.groups]

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        arch = {id(p) for p in self.arch_parameters()}
        return [(n, p) for n, p in self.named_parameters() if id(p) not in arch]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weight_parameters()]

    def op_mask(self, group: str) -> Tensor:
        return getattr(self, f"mask_{group}")

    def probabilities(self, group: str) -> Tensor:
        """What architectures are decoded from: softmax over the enabled options of each row."""
        return masked_softmax(self.alphas[group], self.op_mask(group))

    def empty_options(self, group: str) -> tuple[str, ...]:
        """Options that do not count as a real choice when checking a row is not left empty (cells: 'none')."""
        return ()

    def set_op_enabled(self, group: str, option: str, enabled: bool, rows: Sequence[int] | None = None
                       ) -> tuple[int, ...]:
        """Switch ``option`` on or off in ``rows`` (default: all) of ``group``; returns the rows changed.

        An option switched off gets exactly zero weight from the next forward
        pass on. Options are only switched back on where the space allows
        them, and no row may be left without a real option.
        """
        g = self._group_index.get(group)
        if g is None:
            raise ValueError(f"unknown choice group {group!r}; this space has {', '.join(self._group_index)}")
        if option not in g.options:
            raise ValueError(f"option {option!r} is not in space group {group!r}; its options are {', '.join(g.options)} "
                             "(new options must be added to the space before the supernet is built)")
        n = len(g.rows)
        rows = list(range(n)) if rows is None else list(rows)
        for k in rows:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n:
                raise ValueError(f"row {k!r} out of range; group {group!r} has rows 0..{n - 1}")
        o = g.options.index(option)
        allowed = g.allowed_matrix()
        mask = self.op_mask(group).clone()
        changed = []
        for k in rows:
            new = bool(enabled) and bool(allowed[k, o])
            if enabled and not allowed[k, o]:
                continue
            if bool(mask[k, o]) != new:
                mask[k, o] = new
                changed.append(int(k))
        real = [i for i, name in enumerate(g.options) if name not in self.empty_options(group)]
        empty = [k for k in range(n) if not mask[k, real].any()]
        if empty:
            left = [g.options[i] for i in range(len(g.options)) if mask[empty[0], i]]
            other = "".join(f" other than {o!r}" for o in self.empty_options(group)[:1])
            raise ValueError(f"switching off {option!r} would leave row(s) {empty} of group {group!r} with no "
                             f"candidate op{other}; enabled there: {left}")
        self.op_mask(group).copy_(mask)
        return tuple(changed)

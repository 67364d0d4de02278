"""Parameters and FLOPs of a network, counted rather than estimated.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass at batch 1 in eval mode:
a multiply-add counts as 2 FLOPs (the counter's convention: a k x k convolution from C to C' channels over an
H x W output is 2 k^2 C C' H W), and only the operators it prices are counted (convolutions, matrix products,
attention; not element-wise ops, pooling or BatchNorm, which is also how the papers' FLOPs/MACs are quoted).
Parameters are every parameter's element count (shared parameters once).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["NetworkCost", "network_cost"]


@dataclass(frozen=True)
class NetworkCost:
    """A network's size: ``params`` (count) and ``flops`` (per example, one forward at batch 1)."""

    params: int
    flops: int

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops}

    def __str__(self) -> str:
        return f"{_si(self.params)} parameters, {_si(self.flops)}FLOPs per example"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g} "


def network_cost(net: nn.Module, example: Tensor) -> NetworkCost:
    """Count ``net``'s parameters and the FLOPs of one forward pass on ``example[:1]`` (eval mode, no grad).

    ``example`` is one input batch of the network's task (its dtype matters: index tensors for embedding
    models); the network's training mode is restored afterwards.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(example, Tensor) or example.ndim < 1 or len(example) < 1:
        raise ValueError(f"network_cost: need a tensor batch with at least one example, got "
                         f"{type(example).__name__} of shape {tuple(getattr(example, 'shape', ()))}")
    params = sum(p.numel() for p in {id(p): p for p in net.parameters()}.values())
    was_training = net.training
    net.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(example[:1])
    finally:
        net.train(was_training)
    return NetworkCost(int(params), int(counter.get_total_flops()))

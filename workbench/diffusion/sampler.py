"""Deterministic DDIM sampling with classifier-free guidance gated per step (SEEDS_2.md §10.2).

DDIM with eta = 0 (Song et al., ICLR 2021, Eq. 12): at step k, from timestep t_k to t_{k+1},

    x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t),
    x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps,

over ``steps`` timesteps evenly spaced from T - 1 down to 0 (abar_prev = 1 after the last one, so the last
step returns x0_hat). Classifier-free guidance (Ho & Salimans 2022, Eq. 6) with strength ``scale``:

    eps_cfg = eps(x, t, null) + scale * (eps(x, t, c) - eps(x, t, null))      (2 network evaluations)

A **gate** pi_k in [0, 1] per step mixes it with the conditional-only step (1 evaluation), as the relaxed
guidance policy of Adaptive Guidance does (Castillo et al., AAAI 2025; the relaxation is SEEDS_2's
reconstruction, **unverified**):

    eps_k = pi_k * eps_cfg + (1 - pi_k) * eps(x, t, c).

pi_k = 1 is CFG (bit for bit: 1 * a + 0 * b = a), pi_k = 0 the conditional step. The unconditional evaluation
is skipped where a gate is exactly 0 and needs no gradient (where it is needed, a model with a ``pair`` method
evaluates both in one batched call), so a discrete policy with h guided steps costs
``steps + h`` evaluations per sample (:attr:`Sample.nfe` counts them). The sampler works in the dtype of the
starting noise (float64 for the gradient checks) and is differentiable in the gates.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.diffusion.toy import Schedule

__all__ = ["DDIM", "EpsModel", "Sample", "cfg_eps", "ddim_update", "eval_pair", "sample"]

#: eps(x (n, 2), t (n,) integer timesteps, c (n,) classes or None for the unconditional model) -> (n, 2)
EpsModel = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


@dataclass(frozen=True)
class DDIM:
    """A DDIM sampler's timesteps: ``steps`` of the ``schedule``'s T, evenly spaced from T - 1 down to 0."""

    schedule: Schedule = Schedule()
    steps: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= self.schedule.T:
            raise ValueError(f"DDIM steps must be an integer in 1..{self.schedule.T}, got {self.steps!r}")

    def timesteps(self) -> Tensor:
        """(steps,) integer timesteps, noisy to clean."""
        return torch.linspace(self.schedule.T - 1, 0, self.steps, dtype=torch.float64).round().long()

    def alpha_bars(self) -> tuple[Tensor, Tensor]:
        """(abar at each step's timestep, abar at the next one; 1 after the last step), float64 (steps,)."""
        abar = self.schedule.alpha_bar[self.timesteps()]
        return abar, torch.cat([abar[1:], abar.new_ones(1)])


def cfg_eps(eps_c: Tensor, eps_u: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: eps_u + scale * (eps_c - eps_u)."""
    return eps_u + scale * (eps_c - eps_u)


def ddim_update(x: Tensor, eps: Tensor, abar_t: Tensor, abar_prev: Tensor) -> tuple[Tensor, Tensor]:
    """One deterministic DDIM step: (x at the next timestep, the predicted clean sample x0_hat)."""
    x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    return abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps, x0


@dataclass
class Sample:
    """What a sampling run returns: final samples, per-sample evaluation counts, optionally the path.

    ``path`` (steps + 1, n, 2): x at every timestep, noise first (with ``record=True``); ``x0_preds`` (steps, n,
    2): the x0_hat of every step; ``guided`` (steps, n): the CFG weight each sample got at each step.
    """

    x0: Tensor
    nfe: Tensor
    guided: Tensor
    path: Tensor | None = None
    x0_preds: Tensor | None = None

    @property
    def mean_nfe(self) -> float:
        return float(self.nfe.float().mean())


def eval_pair(model: EpsModel, x: Tensor, t: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """(eps(x, t, c), eps(x, t, null)): in one batched call where the model offers one (``model.pair``)."""
    pair = getattr(model, "pair", None)
    return pair(x, t, c) if pair is not None else (model(x, t, c), model(x, t, None))


def sample(model: EpsModel, z: Tensor, c: Tensor, ddim: DDIM = DDIM(), scale: float = 2.0,
           gates: Tensor | None = None, record: bool = False) -> Sample:
    """Sample from noise ``z`` (n, 2) for classes ``c`` (n,) with CFG gated by ``gates`` (steps,) (None: CFG at
    every step); see the module docstring."""
    S = ddim.steps
    if gates is not None and tuple(gates.shape) != (S,):
        raise ValueError(f"gates must have one value per sampling step, shape ({S},); got {tuple(gates.shape)}")
    abar_t, abar_prev = (a.to(dtype=z.dtype, device=z.device) for a in ddim.alpha_bars())
    ts = ddim.timesteps().to(z.device)
    n = len(z)
    # steps whose unconditional evaluation is skipped: a hard 0 gate that needs no gradient (one host read)
    skip = [False] * S if gates is None or gates.requires_grad else (gates.detach().cpu() == 0).tolist()
    x, nfe = z, torch.full((n,), S, dtype=torch.long, device=z.device)
    path, preds = [z], []
    for k in range(S):
        t = ts[k].expand(n)
        if skip[k]:  # conditional step only, no unconditional evaluation
            eps = model(x, t, c)
        else:
            eps_c, eps_u = eval_pair(model, x, t, c)
            eps = cfg_eps(eps_c, eps_u, scale)
            if gates is not None:
                eps = gates[k] * eps + (1 - gates[k]) * eps_c
            nfe = nfe + 1
        x, x0 = ddim_update(x, eps, abar_t[k], abar_prev[k])
        if record:
            path.append(x)
            preds.append(x0)
    ones = torch.ones(S, dtype=z.dtype, device=z.device)
    guided = (ones if gates is None else gates.detach().to(z.dtype))[:, None].expand(S, n)
    return Sample(x, nfe, guided, torch.stack(path) if record else None, torch.stack(preds) if record else None)

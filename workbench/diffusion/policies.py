"""Guidance policies to compare at equal cost: fixed cut-offs, the training-free Adaptive Guidance rule, and the
quality measure (SEEDS_2.md §10.2 and §10.4).

* :func:`cutoff_gates` -- the fixed rule "guidance for the first k steps, then conditional steps" (k + S NFEs).
* :class:`CosineRule` / :func:`sample_adaptive` -- Adaptive Guidance's training-free rule (Castillo et al., AAAI
  2025): per sample, while it is still guided, compare the conditional and the guided step by a cosine
  gamma_k = cos(q_cond, q_cfg) of flattened tensors; once gamma_k > threshold, the sample takes conditional
  steps for the rest of its trajectory (it never switches back). Which quantity the paper compares is
  **unverified**; the pilot (§10.4) found CFG aligning with the conditional step in x0_hat / update space but not
  in eps space, so the default is ``quantity="x0"`` (the predicted clean samples), with ``"update"`` (x_prev -
  x_t), ``"eps"`` (eps_c vs eps_cfg) and ``"cond_vs_uncond"`` (eps_c vs eps_u, the ComfyUI port's form) as
  options. The rule is never applied after the last step, and not before ``min_guided_steps`` guided steps
  (default 2). A threshold above 1 never fires: every step is guided (2S NFEs).
* :func:`alignment_profile` -- gamma_k of every quantity along the full-CFG trajectory, averaged over samples
  (the pilot's evidence for *which* quantity converges);
* :func:`distance_to` -- the quality measure: the mean over samples of ||x - x_ref||^2 to the samples full
  CFG makes from the same noise (§10.4's "MSE to CFG"); :func:`mode_fraction` -- the share of samples within
  ``radius`` of their class centre (§10.4 toy 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.diffusion.sampler import DDIM, EpsModel, Sample, cfg_eps, ddim_update, eval_pair

__all__ = ["QUANTITIES", "CosineRule", "alignment_profile", "cutoff_gates", "distance_to", "mode_fraction", "nfe_of", "sample_adaptive"]

QUANTITIES = ("x0", "update", "eps", "cond_vs_uncond")


def cutoff_gates(steps: int, k: int) -> Tensor:
    """CFG for the first ``k`` of ``steps`` steps, then conditional steps: (steps,) of 1.0 then 0.0."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= steps:
        raise ValueError(f"a cut-off keeps guidance for k in 0..{steps} steps, got {k!r}")
    return torch.cat([torch.ones(k), torch.zeros(steps - k)])


def nfe_of(gates: Tensor) -> int:
    """Network evaluations per sample of a discrete policy: one per step, plus one per guided step."""
    if not bool(((gates == 0) | (gates == 1)).all()):
        raise ValueError(f"nfe_of counts a discrete policy (gates 0 or 1); got {gates.tolist()}")
    return len(gates) + int(gates.sum())


@dataclass(frozen=True)
class CosineRule:
    """Adaptive Guidance's rule: stop guiding a sample once cos(q_cond, q_cfg) > ``threshold`` (see above)."""

    threshold: float = 0.999
    quantity: str = "x0"
    min_guided_steps: int = 2

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ValueError(f"CosineRule quantity must be one of {', '.join(QUANTITIES)}, got {self.quantity!r}")
        if isinstance(self.min_guided_steps, bool) or not isinstance(self.min_guided_steps, int) or \
                self.min_guided_steps < 1:
            raise ValueError(f"min_guided_steps must be an integer >= 1, got {self.min_guided_steps!r}")

    def similarity(self, x: Tensor, eps_c: Tensor, eps_u: Tensor, eps_g: Tensor, abar_t: Tensor, abar_prev: Tensor
                   ) -> Tensor:
        """gamma (n,) per sample, from the step's noise predictions at x (n, 2)."""
        if self.quantity == "eps":
            a, b = eps_c, eps_g
        elif self.quantity == "cond_vs_uncond":
            a, b = eps_c, eps_u
        else:
            (xc, x0c), (xg, x0g) = ddim_update(x, eps_c, abar_t, abar_prev), ddim_update(x, eps_g, abar_t, abar_prev)
            a, b = (x0c, x0g) if self.quantity == "x0" else (xc - x, xg - x)
        return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1).clamp(-1.0, 1.0)


def sample_adaptive(model: EpsModel, z: Tensor, c: Tensor, ddim: DDIM, scale: float, rule: CosineRule,
                    record: bool = False) -> Sample:
    """DDIM with CFG switched off per sample by ``rule``; ``Sample.guided`` (steps, n) says which steps were guided."""
    S, n = ddim.steps, len(z)
    abar_t, abar_prev = (a.to(dtype=z.dtype, device=z.device) for a in ddim.alpha_bars())
    ts = ddim.timesteps().to(z.device)
    x, on = z, torch.ones(n, dtype=torch.bool, device=z.device)
    nfe = torch.full((n,), S, dtype=torch.long, device=z.device)
    path, preds, guided = [z], [], []
    for k in range(S):
        t = ts[k].expand(n)
        idx = on.nonzero().flatten()
        rest = (~on).nonzero().flatten()
        guided.append(on.clone())
        eps = torch.empty_like(x)
        if len(rest):
            eps[rest] = model(x[rest], t[rest], c[rest])
        if len(idx):
            eps_c, eps_u = eval_pair(model, x[idx], t[idx], c[idx])
            eps_g = cfg_eps(eps_c, eps_u, scale)
            eps = eps.index_copy(0, idx, eps_g)
            nfe[idx] += 1
            if k + 1 >= rule.min_guided_steps and k < S - 1:
                gamma = rule.similarity(x[idx], eps_c, eps_u, eps_g, abar_t[k], abar_prev[k])
                on[idx[gamma > rule.threshold]] = False
        x, x0 = ddim_update(x, eps, abar_t[k], abar_prev[k])
        if record:
            path.append(x)
            preds.append(x0)
    return Sample(x, nfe, torch.stack(guided).to(z.dtype), torch.stack(path) if record else None,
                  torch.stack(preds) if record else None)


@torch.no_grad()
def alignment_profile(model: EpsModel, z: Tensor, c: Tensor, ddim: DDIM, scale: float) -> dict[str, Tensor]:
    """Mean over samples of cos(q_cond, q_cfg) at each step of the full-CFG trajectory, per quantity (steps,)."""
    abar_t, abar_prev = (a.to(dtype=z.dtype, device=z.device) for a in ddim.alpha_bars())
    rules = {q: CosineRule(quantity=q) for q in QUANTITIES}
    out: dict[str, list[Tensor]] = {q: [] for q in QUANTITIES}
    x = z
    for k, t in enumerate(ddim.timesteps().to(z.device)):
        eps_c, eps_u = eval_pair(model, x, t.expand(len(x)), c)
        eps_g = cfg_eps(eps_c, eps_u, scale)
        for q, rule in rules.items():
            out[q].append(rule.similarity(x, eps_c, eps_u, eps_g, abar_t[k], abar_prev[k]).mean())
        x, _ = ddim_update(x, eps_g, abar_t[k], abar_prev[k])
    return {q: torch.stack(v) for q, v in out.items()}


def distance_to(x: Tensor, reference: Tensor) -> float:
    """Mean over samples of the squared distance ||x - reference||^2 (the pilot's "MSE to CFG")."""
    return float(((x - reference) ** 2).sum(dim=1).mean())


def mode_fraction(x: Tensor, c: Tensor, centres: Tensor, radius: float = 1.0) -> float:
    """The share of samples within ``radius`` of their class centre."""
    return float(((x - centres[c]).norm(dim=1) < radius).float().mean())

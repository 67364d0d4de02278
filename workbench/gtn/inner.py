"""GTN's inner optimiser: momentum SGD with one learned learning rate and one learned momentum per inner step,
unrolled so that the final learner is a differentiable function of everything that shaped its training.

Such et al. (ICML 2020, arXiv 1912.07768), the official ``inner_optimizers.SGD`` (SEEDS_2 §9.2): at inner step t,

    m_{t+1} = mu_t * m_t + grad_theta L_inner(theta_t, t),     m_0 = 0,
    theta_{t+1} = theta_t - eta_t * m_{t+1},

with eta_t = exp(log_eta_t) and mu_t = exp(log_mu_t) free parameters (initialised here to 0.1 and 0.5, the
CPU-scale values of §9.4; the official ones are 0.02 and 0.5). They are unconstrained: mu_t > 1 is possible
(§9.3; the pilot saw 1.12).

:func:`unroll` keeps the graph of every gradient (``create_graph=True``), so d theta_T / d(anything in the
inner losses, eta, mu) exists and a meta-loss on theta_T (and on the intermediate theta_t) back-propagates
into the teacher: the meta-gradient "through the entire learning process". With ``create_graph=False`` it
is plain training (the teacher's data still on the graph of the losses, but no second-order terms kept).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

__all__ = ["StepLoss", "unroll"]

Params = dict[str, Tensor]
#: (inner step t, learner parameters) -> the inner loss at that step
StepLoss = Callable[[int, Params], Tensor]


def unroll(params: Mapping[str, Tensor], step_loss: StepLoss, lrs: Tensor, momenta: Tensor, *,
           create_graph: bool = True) -> list[Params]:
    """The trajectory ``[theta_0, ..., theta_T]`` of momentum SGD with per-step ``lrs`` and ``momenta`` (length T).

    ``params`` (theta_0) must require grad. With ``create_graph`` every theta_t keeps its graph to theta_0,
    to the inner losses' inputs, to ``lrs`` and to ``momenta``; without it the steps are detached (ordinary
    training: nothing is kept for a meta-gradient).
    """
    if lrs.ndim != 1 or momenta.shape != lrs.shape:
        raise ValueError(f"unroll: lrs {tuple(lrs.shape)} and momenta {tuple(momenta.shape)} must be two vectors "
                         "of the same length (one value per inner step)")
    theta: Params = dict(params)
    names = list(theta)
    if not all(t.requires_grad for t in theta.values()):
        raise ValueError("unroll: the initial learner parameters must require grad (init_learner(requires_grad="
                         "True))")
    buf: Params = {k: torch.zeros_like(t) for k, t in theta.items()}
    trajectory = [theta]
    for t in range(int(lrs.shape[0])):
        with torch.enable_grad():
            loss = step_loss(t, theta)
            grads = torch.autograd.grad(loss, [theta[k] for k in names], create_graph=create_graph)
        if create_graph:
            buf = {k: momenta[t] * buf[k] + g for k, g in zip(names, grads, strict=True)}
            theta = {k: theta[k] - lrs[t] * buf[k] for k in names}
        else:
            with torch.no_grad():
                buf = {k: momenta[t].detach() * buf[k] + g for k, g in zip(names, grads, strict=True)}
                theta = {k: (theta[k] - lrs[t].detach() * buf[k]).requires_grad_(True) for k in names}
        trajectory.append(theta)
    return trajectory

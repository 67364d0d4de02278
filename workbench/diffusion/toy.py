"""A tiny class-conditional diffusion model on a 2-D Gaussian mixture (SEEDS_2.md §10.3), trained in seconds.

Adaptive Guidance (Castillo et al., AAAI 2025, arXiv 2312.12487) searches *when* classifier-free guidance is
worth its second network evaluation. The workbench shows it on a model small enough to train on a CPU while a
lesson runs:

* **data**: 4 classes, isotropic Gaussians of std ``sigma`` (0.6) centred at (+-2, +-2);
* **forward process** (DDPM, Ho et al. 2020, Eq. 4): q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) with
  abar_t = prod_{s <= t} (1 - beta_s), beta linear in [1e-4, 0.02], T = 1000 (:class:`Schedule`);
* **denoiser** eps(x_t, t, c): an MLP (SiLU) on [x_t, sinusoidal features of t, an embedding of c], predicting
  the noise (the DDPM loss ||eps - eps(x_t, t, c)||^2, Ho et al. 2020 Eq. 14). Class index ``n_classes`` is the
  *null* class: with probability ``p_uncond`` (0.2) a training example's class is replaced by it, so the same
  network is also the unconditional model eps(x_t, t, null) that classifier-free guidance needs (Ho &
  Salimans 2022).

:func:`train_denoiser` trains one from a frozen :class:`DenoiserTraining` (seeded, deterministic on one thread);
:func:`toy_denoiser` trains it once per process and hands out fresh copies (the trained weights are cached in
memory: nothing is shipped or downloaded). The default takes a few seconds on one thread; the pilot's larger
model (3 x 128 units, 4000-6000 steps) is ``DenoiserTraining(width=128, steps=5000, batch=512)``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

__all__ = ["Denoiser", "DenoiserTraining", "MixtureConfig", "Schedule", "mixture_centres", "sample_mixture",
           "toy_denoiser", "train_denoiser"]


@dataclass(frozen=True)
class MixtureConfig:
    """The 2-D Gaussian mixture: ``n_classes`` (<= 4) centres at (+-radius, +-radius), isotropic std ``sigma``."""

    n_classes: int = 4
    radius: float = 2.0
    sigma: float = 0.6

    def __post_init__(self) -> None:
        if not (isinstance(self.n_classes, int) and 1 <= self.n_classes <= 4):
            raise ValueError(f"n_classes must be an integer in 1..4 (one class per quadrant), got {self.n_classes!r}")
        if not (self.radius > 0 and self.sigma > 0):
            raise ValueError(f"radius and sigma must be > 0, got radius={self.radius!r}, sigma={self.sigma!r}")


def mixture_centres(mixture: MixtureConfig = MixtureConfig()) -> Tensor:
    """(n_classes, 2) class centres: (+r, +r), (-r, +r), (-r, -r), (+r, -r), in that order."""
    r = mixture.radius
    return torch.tensor([[r, r], [-r, r], [-r, -r], [r, -r]][: mixture.n_classes])


def sample_mixture(n: int, generator: torch.Generator, mixture: MixtureConfig = MixtureConfig()
                   ) -> tuple[Tensor, Tensor]:
    """``n`` points (n, 2) and their classes (n,) drawn from the mixture (classes uniform)."""
    c = torch.randint(mixture.n_classes, (n,), generator=generator)
    x = mixture_centres(mixture)[c] + mixture.sigma * torch.randn(n, 2, generator=generator)
    return x, c


@dataclass(frozen=True)
class Schedule:
    """DDPM's linear beta schedule; ``alpha_bar`` (T,) in float64 (cast by the caller)."""

    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        if not (isinstance(self.T, int) and self.T >= 2 and 0 < self.beta_start <= self.beta_end < 1):
            raise ValueError(f"a schedule needs T >= 2 and 0 < beta_start <= beta_end < 1, got {self}")

    @property
    def alpha_bar(self) -> Tensor:
        betas = torch.linspace(self.beta_start, self.beta_end, self.T, dtype=torch.float64)
        return torch.cumprod(1.0 - betas, dim=0)


def time_features(t: Tensor, dim: int, T: int) -> Tensor:
    """Sinusoidal features (n, dim) of integer timesteps t (n,) (Vaswani et al. 2017, scaled to [0, T))."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float64) / max(half - 1, 1))
    angles = (t.to(torch.float64)[:, None] / T * 1000.0) * freqs[None, :]  # (n, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """eps(x_t, t, c): an MLP on [x_t, time features, class embedding]; ``c=None`` is the null class."""

    time_table: Tensor

    def __init__(self, n_classes: int = 4, width: int = 64, depth: int = 3, time_dim: int = 16, T: int = 1000
                 ) -> None:
        super().__init__()
        self.n_classes, self.time_dim, self.T = n_classes, time_dim, T
        self.embed = nn.Embedding(n_classes + 1, time_dim)  # index n_classes = null (unconditional)
        layers: list[nn.Module] = []
        d = 2 + 2 * time_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        layers.append(nn.Linear(d, 2))
        self.net = nn.Sequential(*layers)
        # the time features of every timestep, computed once (not saved: they follow from T and time_dim)
        self.register_buffer("time_table", time_features(torch.arange(T), time_dim, T).float(), persistent=False)

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        """x (n, 2), t (n,) integer timesteps, c (n,) class indices or None -> predicted noise (n, 2)."""
        if c is None:
            c = torch.full((len(x),), self.n_classes, dtype=torch.long, device=x.device)
        tf = self.time_table[t].to(x.dtype)
        return self.net(torch.cat([x, tf, self.embed(c).to(x.dtype)], dim=1))

    def pair(self, x: Tensor, t: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """(eps(x, t, c), eps(x, t, null)) in one batched pass (2 network evaluations per sample)."""
        n = len(x)
        eps = self(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, torch.full_like(c, self.n_classes)]))
        return eps[:n], eps[n:]


@dataclass(frozen=True)
class DenoiserTraining:
    """How :func:`train_denoiser` trains a :class:`Denoiser` (Adam, constant lr, fresh data every step)."""

    width: int = 64
    depth: int = 3
    steps: int = 2000
    batch: int = 256
    lr: float = 2e-3
    p_uncond: float = 0.2
    seed: int = 0
    mixture: MixtureConfig = MixtureConfig()
    schedule: Schedule = Schedule()

    def __post_init__(self) -> None:
        for name in ("width", "depth", "steps", "batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"DenoiserTraining.{name} must be an integer >= 1, got {v!r}")
        if not (self.lr > 0 and 0 <= self.p_uncond < 1):
            raise ValueError(f"DenoiserTraining needs lr > 0 and p_uncond in [0, 1), got lr={self.lr!r}, "
                             f"p_uncond={self.p_uncond!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def train_denoiser(cfg: DenoiserTraining = DenoiserTraining()) -> tuple[Denoiser, list[float]]:
    """A denoiser trained by ``cfg`` (seeded; returns it in eval mode and the loss of every step).

    It trains on one thread (restoring the caller's setting after), so the weights -- and the targets of the
    ``guidance_pairs`` task made with them -- do not depend on how many threads the caller uses.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: DenoiserTraining) -> tuple[Denoiser, list[float]]:
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the network's initialisation
    model = Denoiser(cfg.mixture.n_classes, cfg.width, cfg.depth, T=cfg.schedule.T)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    abar = cfg.schedule.alpha_bar.float()
    losses = []
    for _ in range(cfg.steps):
        x0, c = sample_mixture(cfg.batch, g, cfg.mixture)
        c = torch.where(torch.rand(cfg.batch, generator=g) < cfg.p_uncond, cfg.mixture.n_classes, c)
        t = torch.randint(cfg.schedule.T, (cfg.batch,), generator=g)
        eps = torch.randn(cfg.batch, 2, generator=g)
        a = abar[t][:, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps  # q(x_t | x_0)
        loss = ((model(xt, t, c) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    log.debug("trained a toy denoiser (%s): final loss %.4f", cfg, sum(losses[-100:]) / min(100, len(losses)))
    return model.eval(), losses


@lru_cache(maxsize=4)
def _trained_state(cfg: DenoiserTraining) -> dict[str, Tensor]:
    model, _ = train_denoiser(cfg)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def toy_denoiser(cfg: DenoiserTraining = DenoiserTraining()) -> Denoiser:
    """A fresh copy of the denoiser ``cfg`` trains (trained on first use in this process, then cached)."""
    model = Denoiser(cfg.mixture.n_classes, cfg.width, cfg.depth, T=cfg.schedule.T)
    model.load_state_dict(_trained_state(cfg))
    return model.eval()

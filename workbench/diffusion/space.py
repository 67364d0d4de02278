"""The ``guidance`` space: one choice per sampling step, classifier-free guidance or the conditional step alone.

Adaptive Guidance (Castillo et al., AAAI 2025, arXiv 2312.12487) casts "when is guidance worth its second network
evaluation?" as differentiable architecture search; the workbench's reconstruction (SEEDS_2.md §10.2, the
search formulation is **unverified**: no official code) maps it onto the engine's protocols:

* one choice group ``steps``: a row per DDIM step ("step 3 · t=894"), options ``cond`` (1 network evaluation,
  NFE) and ``cfg`` (2 NFEs);
* the supernet (:class:`GuidedSamplerNet`) is the frozen toy denoiser (:mod:`workbench.diffusion.toy`) inside the
  gated sampler (:mod:`workbench.diffusion.sampler`): its input is the starting noise and the class, (n, 3) =
  [z_1, z_2, c], its output the sample x_0 (n, 2), and its mixing weight of ``cfg`` in row k is the gate pi_k.
  With the softmax relaxation over the two options, pi_k = sigmoid(alpha_k,cfg - alpha_k,cond): the gate logit
  is the difference of the row's two logits, initialised at 0 (pi = 0.5);
* the task (:func:`guidance_pairs`, registered as the dataset ``guidance_pairs``) pairs noises and classes with
  the samples full CFG makes from them, so the ``mse`` objective is the distance to CFG (§10.2's L(alpha)
  without its cost term, which the ``guidance`` method adds: :mod:`workbench.methods.guidance`);
* an architecture is a :class:`~workbench.spaces.base.Choices` (``cond``/``cfg`` per step), decoded by argmax,
  i.e. pi_k > 0.5; ``compile`` turns it into a :class:`GuidedSampler` that skips the unconditional evaluation
  where the policy says ``cond``, so it really costs ``steps + h`` NFEs for h guided steps.

The space is defined by its step count, guidance strength and the denoiser's training recipe (all in its
fingerprint); the default is the pilot's toy 2 (20 DDIM steps, s = 2, sigma = 0.6).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from workbench.diffusion.sampler import DDIM, Sample, sample
from workbench.diffusion.toy import Denoiser, DenoiserTraining, toy_denoiser
from workbench.spaces.base import SPACES, ChoiceGroup, Choices, ChoiceSupernet, SearchSpace
from workbench.tasks.data.datasets import register_dataset
from workbench.tasks.task import TaskInfo, TensorDataset

__all__ = ["GROUP", "OPTIONS", "GuidanceSpace", "GuidedSampler", "GuidedSamplerNet", "gates_of", "guidance_pairs",
           "split_inputs"]

GROUP = "steps"
OPTIONS = ("cond", "cfg")  # cost 1 and 2 network evaluations


def split_inputs(x: Tensor) -> tuple[Tensor, Tensor]:
    """The supernet's input (n, 3) = [noise (n, 2), class (n,) as a float] -> (noise, class indices)."""
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"a guidance sampler takes (n, 3) inputs [z_1, z_2, class]; got shape {tuple(x.shape)}")
    return x[:, :2], x[:, 2].round().long()


def gates_of(arch: Choices) -> Tensor:
    """A discrete policy's gates (steps,): 1.0 where it uses CFG, 0.0 where the conditional step."""
    return torch.tensor([1.0 if o == "cfg" else 0.0 for o in arch.picks[GROUP]])


@dataclass(frozen=True)
class GuidanceSpace(SearchSpace):
    """Per-step guidance choices of a DDIM sampler over a toy denoiser; see the module docstring."""

    default_dataset = "guidance_pairs"

    name: str = "guidance"
    steps: int = 20
    scale: float = 2.0
    denoiser: DenoiserTraining = field(default_factory=DenoiserTraining)

    def __post_init__(self) -> None:
        DDIM(self.denoiser.schedule, self.steps)  # checks the step count
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not np.isfinite(self.scale):
            raise ValueError(f"guidance scale must be a finite number, got {self.scale!r}")

    @property
    def ddim(self) -> DDIM:
        return DDIM(self.denoiser.schedule, self.steps)

    def model(self) -> Denoiser:
        """The frozen denoiser (trained on first use in this process, then cached: a fresh copy each call)."""
        return toy_denoiser(self.denoiser)

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        ts = self.ddim.timesteps().tolist()
        return (ChoiceGroup(GROUP, tuple(f"step {k + 1} · t={t}" for k, t in enumerate(ts)), OPTIONS),)

    def nfe_table(self) -> np.ndarray:
        """Network evaluations per (step, option): 1 for ``cond``, 2 for ``cfg`` (the NFE cost model's table)."""
        return np.tile(np.array([1.0, 2.0]), (self.steps, 1))

    def build_supernet(self, task: TaskInfo, config: Any = None) -> GuidedSamplerNet:
        if tuple(task.input_shape) != (3,) or task.n_outputs != 2:
            raise ValueError(f"the guidance space samples 2-D points from (noise, class) inputs: it needs input "
                             f"shape (3,) and 2 outputs (the dataset 'guidance_pairs'); got {tuple(task.input_shape)} "
                             f"and {task.n_outputs} ({task.name or 'unnamed task'})")
        return GuidedSamplerNet(self, self.model())

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> GuidedSampler:
        self.check(arch)
        return GuidedSampler(self, self.model(), gates_of(arch))

    def label(self, arch: Any) -> str:
        self.check(arch)
        guided = [k + 1 for k, o in enumerate(arch.picks[GROUP]) if o == "cfg"]
        return f"CFG at steps {_ranges(guided) or 'none'} · {self.steps + len(guided)} of {2 * self.steps} NFE"

    def fingerprint(self) -> str:
        payload = {"name": self.name, "type": type(self).__qualname__, "steps": self.steps, "scale": self.scale,
                   "denoiser": json.loads(json.dumps(self.denoiser.to_dict()))}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _ranges(ks: list[int]) -> str:
    """[1, 6, 7, 8, 12] -> '1, 6–8, 12'."""
    runs: list[list[int]] = []
    for k in ks:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


class GuidedSamplerNet(ChoiceSupernet):
    """The supernet: the gated DDIM sampler over a frozen denoiser; gate pi_k = the row's ``cfg`` weight."""

    def __init__(self, space: GuidanceSpace, denoiser: nn.Module) -> None:
        super().__init__(space.choice_groups(), alpha_init_std=0.0)  # gate logits start at 0: pi = 0.5
        self.space, self.denoiser = space, denoiser

    def run(self, x: Tensor, gates: Tensor | None, record: bool = False) -> Sample:
        """Sample from inputs ``x`` (n, 3) with ``gates`` (steps,) (None: CFG at every step)."""
        z, c = split_inputs(x)
        return sample(self.denoiser, z, c, self.space.ddim, self.space.scale, gates, record)

    def forward(self, x: Tensor, weights: dict[str, Tensor] | None = None, active: Any = None) -> Tensor:
        gates = None if weights is None else weights[GROUP][:, OPTIONS.index("cfg")]
        return self.run(x, gates).x0


class GuidedSampler(nn.Module):
    """A discrete guidance policy as a standalone sampler: (n, 3) inputs -> samples (n, 2), ``nfe`` evaluations
    per sample (the unconditional evaluation is skipped at ``cond`` steps)."""

    gates: Tensor

    def __init__(self, space: GuidanceSpace, denoiser: nn.Module, gates: Tensor) -> None:
        super().__init__()
        self.space, self.denoiser = space, denoiser
        self.register_buffer("gates", gates.float())

    @property
    def nfe(self) -> int:
        return self.space.steps + int(self.gates.sum())

    def run(self, x: Tensor, record: bool = False) -> Sample:
        z, c = split_inputs(x)
        return sample(self.denoiser, z, c, self.space.ddim, self.space.scale, self.gates.to(z.dtype), record)

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x).x0


def guidance_pairs(space: GuidanceSpace | None = None, n_train: int = 2048, n_test: int = 1024, seed: int = 0
                   ) -> TensorDataset:
    """Noises and classes (x: (n, 3) = [z, c]) with the samples full CFG makes from them (y: (n, 2)).

    Classes are balanced and shuffled; the noise is N(0, I) from ``seed``. ``space`` (default: the registered
    ``guidance`` space) fixes the denoiser, step count and guidance strength the targets are made with -- the
    same ones its supernet samples with, so the policy "CFG at every step" has loss exactly 0.
    """
    if space is None:
        registered = SPACES.get("guidance")
        if not isinstance(registered, GuidanceSpace):
            raise TypeError(f"the registered space 'guidance' is not a GuidanceSpace ({type(registered).__name__}); "
                            "pass the space to guidance_pairs(space=...)")
        space = registered
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"guidance_pairs: {name} must be an integer >= 2, got {v!r}")
    n = n_train + n_test
    g = torch.Generator().manual_seed(seed)
    k = space.denoiser.mixture.n_classes
    z = torch.randn(n, 2, generator=g)
    c = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    model = space.model()
    with torch.no_grad():
        y = sample(model, z, c, space.ddim, space.scale).x0
    x = torch.cat([z, c.float()[:, None]], dim=1)
    return TensorDataset("guidance_pairs", x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_outputs=2,
                         default_objective="mse")


def _registered_pairs(root: Any = None, seed: int = 0, limit: int | None = None) -> TensorDataset:
    return guidance_pairs(n_train=2048 if limit is None else limit, seed=seed)


SPACES.register("guidance", GuidanceSpace())
register_dataset("guidance_pairs", _registered_pairs)

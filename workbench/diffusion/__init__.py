"""Diffusion guidance as a search problem: Adaptive Guidance (Castillo et al., AAAI 2025, arXiv 2312.12487).

* :mod:`~workbench.diffusion.toy` -- a class-conditional diffusion model on a 2-D Gaussian mixture, trained in
  seconds and cached in memory;
* :mod:`~workbench.diffusion.sampler` -- DDIM with classifier-free guidance gated per step;
* :mod:`~workbench.diffusion.space` -- the ``guidance`` search space (a row per step, options ``cond``/``cfg``)
  and the ``guidance_pairs`` dataset (noise, class -> the CFG sample);
* :mod:`~workbench.diffusion.policies` -- fixed cut-offs, the training-free cosine rule, the quality measure.

The search itself is the ``guidance`` method (:mod:`workbench.methods.guidance`) on the engine's Searcher.
Importing this package registers the space and the dataset.
"""
from __future__ import annotations

from workbench.diffusion.policies import (
    CosineRule,
    alignment_profile,
    cutoff_gates,
    distance_to,
    mode_fraction,
    nfe_of,
    sample_adaptive,
)
from workbench.diffusion.sampler import DDIM, Sample, cfg_eps, ddim_update, sample
from workbench.diffusion.space import (
    GROUP,
    OPTIONS,
    GuidanceSpace,
    GuidedSampler,
    GuidedSamplerNet,
    gates_of,
    guidance_pairs,
)
from workbench.diffusion.toy import (
    Denoiser,
    DenoiserTraining,
    MixtureConfig,
    Schedule,
    mixture_centres,
    sample_mixture,
    toy_denoiser,
    train_denoiser,
)

__all__ = [
    "DDIM", "GROUP", "OPTIONS", "CosineRule", "Denoiser", "DenoiserTraining", "GuidanceSpace", "GuidedSampler",
    "GuidedSamplerNet", "MixtureConfig", "Sample", "Schedule", "alignment_profile", "cfg_eps", "cutoff_gates", "ddim_update",
    "distance_to", "gates_of", "guidance_pairs", "mixture_centres", "mode_fraction", "nfe_of", "sample",
    "sample_adaptive", "sample_mixture", "toy_denoiser", "train_denoiser",
]

"""DNIS: differentiable neural input search (Cheng, Shen, Huang, arXiv 2006.04466; official code AutoSrh
``main_nas.py``, ``model/nas.py``; SEEDS_2 §8), on the ``embedding_dims`` space.

**The soft selection layer** (AutoSrh's ``free`` search space, used by every script): the mask is the
architecture parameter itself, W = alpha in R^{B_f x B_d} (feature blocks x dimension blocks), initialised to 1
and **clamped to [0, 1] after every alpha step** -- no softmax, no sigmoid (:class:`ClampedMask`). It scales
each embedding: e'_f = e_f ⊙ W[block(f)] (:mod:`workbench.spaces.embedding.model`).

**One step** (SEEDS_2 §8.3, §0.2), composed from the searcher's slots (no loop of its own):

1. weight step on a training batch (``order="weight_first"``): the objective (MSE for ratings, log-loss for
   clicks) through the masked model; only the embedding table and the FM's per-id biases train during the
   search -- AutoSrh's optimiser takes the parameters whose name contains ``feature``, so the dense layers are
   frozen (``freeze_dense``; False trains them too, and the run's method options record which);
2. alpha step on a validation batch: L_val + l1 * sum|alpha| (:class:`L1Term`, l1 = 1e-5); the gradient
   g = dL/dalpha is **normalised per row**, g_i. <- g_i. / (mean_j |g_ij| + 1e-8) (``alpha_grad_norm=1``: each
   feature block's step is then independent of how often its features occur), then a plain SGD step and the
   clamp (:class:`NormalisedClampedSGD`, the arch-optimizer slot; lr = ``SearchConfig.arch_lr``, AutoSrh 0.01).

**Warm start** (AutoSrh ``warm_start_epochs``): for the first ``warm_start_epochs`` epochs only the weights train
(the method's ``arch_start_epoch``), every parameter including the dense layers, at ``SearchConfig.lr``; the
mask stays at its initial value, so AutoSrh's "reset alpha to init_alpha" after the warm start holds by
construction. The search epochs then use lr x ``search_lr_factor`` (the spec's CPU version: Adam 1e-2 -> 1e-3,
:class:`WarmStartSchedule`). Not reproduced: ReduceLROnPlateau and the reload of the best warm-start checkpoint.

**The weight optimizer.** AutoSrh trains the embeddings with Adam; the workbench's default weight optimizer is
momentum SGD. With SGD the frequent ids' large gradients force a small lr and the rare ids barely train (a
throw-away pilot of this schedule with SGD, momentum 0.9, seed 0: lr 3 diverged; at lr 1 the mean mask of the two
most frequent blocks exceeded the two rarest' by 0.006, against 0.20 with Adam), so ``weight_optimizer="adam"``
(default) fills the method's ``weight_optimizer`` slot with ``Adam(weights, lr, weight_decay)``
(:func:`adam_weights`); ``"sgd"`` keeps the default.

**AutoSrh's two bugs** (SEEDS_2 §8.4) and what is built instead:

* its ``feature_block`` space computes W_ij = clamp(alpha_j - i, 0, 1) while the comment beside it says
  max(min(alpha_j - i + 1, 1), 0). The code's form is the intended one: alpha_j in [0, B_f] (its clamp range)
  then keeps dimension j in exactly the ceil(alpha_j) most frequent blocks, from none (0) to all (B_f); the
  comment's +1 could never switch a dimension off in the most frequent block. :func:`feature_block_mask`
  implements the code's form (and :func:`embedding_block_mask` the ``embedding_block`` space). Both tied
  spaces are provided as mask functions with their oracle tests; the search runs the ``free`` space, whose
  alpha is the (B_f x B_d) matrix the workbench records and shows at every step.
* its ``ctr`` branch loads Criteo and then overwrites it with the Avazu loader (a commented-out ``else``). Here
  a dataset is what its name says: ``ctr`` is the synthetic click data, nothing overwrites it.

Options: ``warm_start_epochs`` (15, the spec's CPU version; AutoSrh 20), ``search_lr_factor`` (0.1), ``l1``
(1e-5), ``grad_norm`` (True), ``freeze_dense`` (True), ``weight_optimizer`` ("adam"), ``init_alpha`` (1.0).
``paper_defaults`` holds the spec's CPU-scale SearchConfig (SEEDS_2 §8.5): 55 epochs (15 warm + 40 search),
batch 1024, lr 1e-2, arch_lr 0.01, no weight decay or clipping, train_portion 7/9 (70/20 of 90%).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor

from workbench.events import StepEnded
from workbench.methods import arch_grad
from workbench.methods.context import StepContext
from workbench.methods.family_options import WEIGHT_OPTIMIZERS  # noqa: F401  (defined torch-free)
from workbench.methods.presets import Method, preset, sgd
from workbench.spaces.base import host_mask

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher

__all__ = ["ClampedMask", "DnisController", "DnisDriver", "L1Term", "NormalisedClampedSGD", "WarmStartSchedule",
           "dnis", "embedding_block_clamp", "embedding_block_mask", "feature_block_mask", "row_normalise"]

NAME = "dnis"


# ------------------------------------------------------------------------------ the mask
@dataclass(frozen=True)
class ClampedMask:
    """The relaxation: W = clamp(alpha, low, high) * option mask -- un-normalised, no softmax; every dim computed.

    The clamp here is the identity while the arch optimizer keeps alpha in [low, high] (torch's clamp passes the
    gradient at the bounds); it keeps W a valid mask under any other arch optimizer too.
    """

    low: float = 0.0
    high: float = 1.0

    def __call__(self, alpha: Tensor, mask: Tensor, ctx: StepContext) -> tuple[Tensor, np.ndarray]:
        return alpha.clamp(self.low, self.high) * mask.to(alpha.dtype), host_mask(mask)


def feature_block_mask(alpha: Tensor, n_feature_blocks: int) -> Tensor:
    """AutoSrh's ``feature_block`` space: W_ij = clamp(alpha_j - i, 0, 1), alpha in [0, B_f] per dimension block.

    Dimension block j is kept by the ceil(alpha_j) most frequent feature blocks (the last one partly), so the
    mask is monotone in frequency. The code's form (not its comment's alpha_j - i + 1; see the module docstring).
    """
    i = torch.arange(n_feature_blocks, dtype=alpha.dtype, device=alpha.device).unsqueeze(1)
    return (alpha.unsqueeze(0) - i).clamp(0.0, 1.0)


def embedding_block_mask(alpha: Tensor, n_dim_blocks: int) -> Tensor:
    """AutoSrh's ``embedding_block`` space: W_ij = clamp(alpha_i - j, 0, 1), alpha in [1, B_d] per feature block.

    Feature block i keeps a prefix of ceil(alpha_i) dimension blocks (the last one partly)."""
    j = torch.arange(n_dim_blocks, dtype=alpha.dtype, device=alpha.device).unsqueeze(0)
    return (alpha.unsqueeze(1) - j).clamp(0.0, 1.0)


@torch.no_grad()
def embedding_block_clamp(alpha: Tensor, n_dim_blocks: int) -> Tensor:
    """AutoSrh's clamp of the ``embedding_block`` alphas, in place: [1, B_d], then the nudge -- where
    ceil(alpha) - alpha < 0.1, alpha <- ceil(alpha) + 1e-3 (a block nearly full counts as full, and one more
    dimension block starts to open)."""
    alpha.clamp_(1.0, float(n_dim_blocks))
    up = torch.ceil(alpha)
    alpha.copy_(torch.where(up - alpha < 0.1, up + 1e-3, alpha))
    return alpha


# ------------------------------------------------------------------------------ the alpha step
def row_normalise(grad: Tensor, eps: float = 1e-8) -> Tensor:
    """g_i. / (mean_j |g_ij| + eps): every row's mean absolute gradient becomes 1 (rows of zeros stay zero)."""
    g = grad if grad.dim() > 1 else grad.unsqueeze(0)
    out = g / (g.abs().mean(dim=-1, keepdim=True) + eps)
    return out if grad.dim() > 1 else out.squeeze(0)


class NormalisedClampedSGD(torch.optim.Optimizer):
    """The alpha step: per-row gradient normalisation (optional), a plain SGD step, the clamp to [low, high].

    Holds no state (AutoSrh: ``torch.optim.SGD`` without momentum, then ``alpha.clamp_``).
    """

    def __init__(self, params: Any, lr: float, normalise: bool = True, low: float = 0.0, high: float = 1.0,
                 eps: float = 1e-8) -> None:
        if not lr >= 0 or not low < high:
            raise ValueError(f"need lr >= 0 and low < high, got lr={lr}, low={low}, high={high}")
        super().__init__(params, {"lr": lr, "normalise": normalise, "low": low, "high": high, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = row_normalise(p.grad, group["eps"]) if group["normalise"] else p.grad
                p.add_(g, alpha=-group["lr"]).clamp_(group["low"], group["high"])


@dataclass(frozen=True)
class L1Term:
    """l1 * sum |alpha| over the architecture parameters, added to the validation loss of the alpha step."""

    weight: float = 1e-5
    name: str = "l1"

    def __call__(self, ctx: StepContext) -> Tensor:
        return self.weight * cast(Tensor, sum(p.abs().sum() for p in ctx.arch_params))


@dataclass(frozen=True)
class AlphaOptimizer:
    """The arch-optimizer slot: :class:`NormalisedClampedSGD` at ``SearchConfig.arch_lr``."""

    normalise: bool = True

    def __call__(self, params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
        return NormalisedClampedSGD(params, lr=config.arch_lr, normalise=self.normalise)


# ------------------------------------------------------------------------------ schedule and controller
@dataclass(frozen=True)
class WarmStartSchedule:
    """The weight lr: ``lr`` during the warm start, ``lr * search_factor`` after (constant within each phase)."""

    warm_epochs: int = 15
    search_factor: float = 0.1

    def __call__(self, epoch: int, epochs: int, lr: float, lr_min: float) -> float:
        return lr if epoch < self.warm_epochs else lr * self.search_factor


class DnisController:
    """Keeps the dense layers frozen from the end of the warm start on (``freeze_dense``): sets the supernet's
    flag (a buffer, saved with the search) for the epoch of the next step, after every step."""

    def __init__(self, warm_epochs: int, freeze_dense: bool) -> None:
        self.warm_epochs, self.freeze_dense = warm_epochs, freeze_dense

    def update(self, searcher: Searcher) -> None:
        set_dense_frozen = getattr(searcher.model, "set_dense_frozen", None)
        if set_dense_frozen is not None:
            set_dense_frozen(self.freeze_dense and searcher.epoch >= self.warm_epochs)

    def after_step(self, searcher: Searcher, event: Any) -> None:
        self.update(searcher)


def adam_weights(params: list[torch.nn.Parameter], config: Any) -> torch.optim.Optimizer:
    """The weight-optimizer slot with ``weight_optimizer="adam"``: Adam(lr, weight decay of the config), as AutoSrh."""
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


@dataclass(frozen=True)
class DnisDriver:
    """The driver slot: the controller that freezes the dense layers after the warm start."""

    warm_epochs: int = 15
    freeze_dense: bool = True

    def __call__(self, searcher: Searcher) -> DnisController:
        controller = DnisController(self.warm_epochs, self.freeze_dense)
        controller.update(searcher)
        # also on every StepEnded (emitted after the step count moved, before an epoch end's EpochEnded): the flag is
        # already right when a run folder writes the epoch's checkpoint, so a resumed search is bit for bit
        searcher.bus.subscribe(lambda event: controller.update(searcher), kinds=(StepEnded,))
        return controller


# ------------------------------------------------------------------------------ the preset
@preset(NAME)
def dnis(o: dict[str, Any]) -> Method:
    """DNIS on the ``embedding_dims`` space (see the module docstring for every option; checked by
    :func:`workbench.methods.family_options.dnis`, which also holds the paper's settings)."""
    warm = o["warm_start_epochs"]
    return Method(
        NAME, arch_gradient=arch_grad.first_order, relaxation=ClampedMask(), order="weight_first",
        arch_start_epoch=warm, lr_schedule=WarmStartSchedule(warm, o["search_lr_factor"]),
        supernet_settings={"init_alpha": o["init_alpha"]},
        arch_loss_terms=(L1Term(o["l1"]),) if o["l1"] > 0 else (), arch_optimizer=AlphaOptimizer(o["grad_norm"]),
        driver=DnisDriver(warm, o["freeze_dense"]),
        weight_optimizer=adam_weights if o["weight_optimizer"] == "adam" else sgd, options=o,
        spaces=("embedding_dims",))

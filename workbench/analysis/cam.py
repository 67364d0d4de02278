"""Class activation maps in 3-D: which voxels a global-average-pool classifier's logit comes from (Zhou et al.,
"Learning Deep Features for Discriminative Localization", CVPR 2016, Eq. 2; CovidNet3D's ``utils/visual_cam.py``
``CAM3D``, SEEDS_2 §6.4-6.6).

For a network whose head is global average pooling then a linear layer, with last features F (C x d x h x w)
and class weights w_c, bias b_c:

    CAM_c = sum_k w_c[k] * F_k                      (a d x h x w map, Eq. 2)
    logit_c = w_c . mean_voxels(F) + b_c = mean_voxels(CAM_c) + b_c

(linearity of the mean and the layer): the map *is* the logit, spread over the voxels. For display the map is
upsampled trilinearly to the volume's (D, H, W) and normalised per volume to [0, 1] by (cam - min) / (max - min)
(``normalise="minmax"``). The released code divides by max instead of max - min (``normalise="released"``; its
maximum is then 1 - min/max, not 1), resizes to (depth, *width, height*) -- swapped for non-square slices; here
always (D, H, W) --, takes the weights of ``list(model.modules())[-1]`` (here: the model's ``classifier``) and
hooks a layer name (``glob_avgpool``) that its network calls ``global_avg_pooling``.

A model qualifies if it has ``features(x) -> (N, C, d, h, w)`` and ``classifier`` (an ``nn.Linear``); for a
supernet pass ``features=`` a function of x (e.g. ``lambda x: net.features(x, weights, active)``).

Localisation (SEEDS_2 §6.7): :func:`cam_localisation` counts, over the correctly classified volumes of a class,
how often the CAM's peak voxel lies inside the lesion mask (optionally dilated by ``dilate`` voxels), against the
rate of a random voxel: the mean fraction of the volume inside the same mask (``chance``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CamLocalisation", "CamResult", "NORMALISATIONS", "cam_localisation", "class_activation_map",
           "dilate_mask", "normalise_cam", "peak_in_mask", "upsample_cam", "volume_cams"]

NORMALISATIONS = ("minmax", "released", "none")


def class_activation_map(features: Tensor, weight: Tensor, classes: Tensor | int) -> Tensor:
    """CAM_c = sum_k weight[c, k] * features[:, k]: (N, C, *spatial) features, (K, C) weight -> (N, *spatial)."""
    if features.ndim < 3 or weight.ndim != 2 or weight.shape[1] != features.shape[1]:
        raise ValueError(f"features (N, C, ...) and weight (classes, C) do not fit: {tuple(features.shape)} and "
                         f"{tuple(weight.shape)}")
    n = features.shape[0]
    cls = torch.full((n,), int(classes), dtype=torch.long) if isinstance(classes, int) else classes.long()
    if cls.shape != (n,) or (cls < 0).any() or (cls >= weight.shape[0]).any():
        raise ValueError(f"classes must be an int or (N,) indices in [0, {weight.shape[0] - 1}], got {classes!r}")
    w = weight[cls.to(weight.device)]  # (N, C)
    return torch.einsum("nc,nc...->n...", w, features)


def normalise_cam(cam: Tensor, mode: str = "minmax") -> Tensor:
    """Per volume (first axis): ``"minmax"`` (cam - min) / (max - min) maps min -> 0 and max -> 1; ``"released"``
    (cam - min) / max as CovidNet3D's code; ``"none"`` leaves it."""
    if mode not in NORMALISATIONS:
        raise ValueError(f"unknown CAM normalisation {mode!r}; accepted: {', '.join(NORMALISATIONS)}")
    if mode == "none":
        return cam
    flat = cam.flatten(1)
    lo = flat.min(1).values.view(-1, *[1] * (cam.ndim - 1))
    hi = flat.max(1).values.view(-1, *[1] * (cam.ndim - 1))
    den = hi - lo if mode == "minmax" else hi
    return (cam - lo) / torch.where(den.abs() > 0, den, torch.ones_like(den))


def upsample_cam(cam: Tensor, size: tuple[int, ...]) -> Tensor:
    """(N, d, h, w) -> (N, *size) by trilinear interpolation (bilinear for 2-D maps)."""
    mode = {2: "bilinear", 3: "trilinear"}.get(len(size))
    if mode is None or cam.ndim != len(size) + 1:
        raise ValueError(f"cannot upsample a map of shape {tuple(cam.shape)} to {size}")
    return F.interpolate(cam.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


@dataclass(frozen=True)
class CamResult:
    """Maps of a batch of volumes: ``cams`` upsampled and normalised (N, D, H, W), ``raw`` (N, d, h, w) as the
    features give them (sum_k w_c[k] F_k, so mean(raw) + bias = logit), the ``classes`` they explain and the
    model's ``logits`` (N, K)."""

    cams: Tensor
    raw: Tensor
    classes: Tensor
    logits: Tensor


def _head(model: nn.Module, features: Callable[[Tensor], Tensor] | None) -> tuple[Callable[[Tensor], Tensor],
                                                                                     nn.Linear]:
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{type(model).__name__} has no 'classifier' nn.Linear; a CAM needs a global-average-pool "
                        "+ linear head")
    if features is None:
        if not callable(getattr(model, "features", None)):
            raise TypeError(f"{type(model).__name__} has no features(x); pass features=")
        features = cast(Callable[[Tensor], Tensor], model.features)  # checked callable above
    return features, head


@torch.no_grad()
def volume_cams(model: nn.Module, x: Tensor, classes: Tensor | int | None = None, *,
                features: Callable[[Tensor], Tensor] | None = None, normalise: str = "minmax",
                batch_size: int = 32) -> CamResult:
    """CAMs of volumes ``x`` (N, C, D, H, W) for ``classes`` (default: each volume's predicted class), with the
    model in eval mode (its mode is restored)."""
    feat_fn, head = _head(model, features)
    was = model.training
    model.eval()
    try:
        raws, logits = [], []
        for xb in x.split(batch_size):
            f = feat_fn(xb)
            logits.append(head(f.flatten(2).mean(2)))
            raws.append(f)
        feats, logit = torch.cat(raws), torch.cat(logits)
    finally:
        model.train(was)
    cls = logit.argmax(1) if classes is None else classes
    raw = class_activation_map(feats, head.weight, cls)
    cls_t = torch.full((len(x),), int(cls), dtype=torch.long) if isinstance(cls, int) else cls.long()
    cams = normalise_cam(upsample_cam(raw, tuple(x.shape[2:])), normalise)
    return CamResult(cams, raw, cls_t, logit)


def dilate_mask(mask: Tensor, voxels: int) -> Tensor:
    """A (N, D, H, W) bool mask grown by ``voxels`` in every direction (a cube; 0 leaves it)."""
    if voxels < 0:
        raise ValueError(f"dilation must be >= 0 voxels, got {voxels}")
    if voxels == 0:
        return mask.bool()
    k = 2 * voxels + 1
    return F.max_pool3d(mask.float().unsqueeze(1), k, 1, voxels).squeeze(1) > 0


def peak_in_mask(cams: Tensor, masks: Tensor, dilate: int = 0) -> Tensor:
    """(N,) bool: whether each map's largest voxel (the first, on ties) lies inside its (dilated) mask."""
    if cams.shape != masks.shape:
        raise ValueError(f"maps {tuple(cams.shape)} and masks {tuple(masks.shape)} differ in shape")
    m = dilate_mask(masks, dilate).flatten(1)
    peak = cams.flatten(1).argmax(1)
    return m.gather(1, peak.unsqueeze(1)).squeeze(1)


@dataclass(frozen=True)
class CamLocalisation:
    """How often the CAM peak falls in the lesion: ``rate`` over the ``n`` volumes counted, ``chance`` the mean
    fraction of a volume inside the same (dilated) mask, ``hits`` per volume, ``index`` the volumes counted."""

    rate: float
    chance: float
    n: int
    hits: Tensor
    index: Tensor
    dilate: int

    @property
    def ratio(self) -> float:
        """rate / chance (how many times better than a random voxel)."""
        return self.rate / self.chance if self.chance > 0 else float("inf")


def cam_localisation(model: nn.Module, x: Tensor, y: Tensor, masks: Tensor, *, target: int = 1, dilate: int = 0,
                     features: Callable[[Tensor], Tensor] | None = None, batch_size: int = 32) -> CamLocalisation:
    """CAM peak-in-lesion rate of class ``target`` over the volumes of that class the model classifies correctly."""
    res = volume_cams(model, x, target, features=features, batch_size=batch_size)
    index = torch.nonzero((y == target) & (res.logits.argmax(1) == y)).flatten()
    if len(index) == 0:
        return CamLocalisation(0.0, 0.0, 0, torch.zeros(0, dtype=torch.bool), index, dilate)
    hits = peak_in_mask(res.cams[index], masks[index], dilate)
    chance = float(dilate_mask(masks[index], dilate).flatten(1).float().mean(1).mean())
    return CamLocalisation(float(hits.float().mean()), chance, len(index), hits, index, dilate)

"""1-D and 2-D loss landscapes around the current point, in alpha space or weight space.

Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS 2018;
`tomgoldstein/loss-landscape`, ECOSYSTEM.md §3.3): L(theta + a d1 + b d2)
on a grid, with Gaussian directions d that are *filter-normalised*: every
filter (slice along dim 0) of d is rescaled to the norm of the matching
filter of theta, and 1-D parameters (biases, BatchNorm) get a zero direction
by default (``ignore="biasbn"``; without it they follow Li et al.: d = theta).
The two directions of a random plane are normalised first and orthogonalised
after (loss-landscapes normalises after orthogonalising, which skews the
plane, ECOSYSTEM.md §3.2); the orthogonalised d2 keeps its norm.

In alpha space the natural units differ: random directions are by default
centred per edge (adding a constant to an edge's alphas does not change
softmax(alpha), so that part of a step would be wasted), zero on disabled
ops and of unit global norm; the top Hessian eigenvectors
(:mod:`workbench.analysis.sharpness`) and a user direction (:func:`towards`,
e.g. the alphas of a later step) are the other choices. Trajectories (for
instance the recorded alphas of a search) project onto the plane by least
squares; :func:`pca_directions` gives the plane that explains most of a path.

The model is restored exactly afterwards (parameters bit for bit, buffers,
modes) by :func:`workbench.analysis.common.preserved`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor

from workbench.analysis.common import (
    Batches,
    active_ops,
    alpha_parameters,
    cell_space,
    check_choice,
    evaluate,
    flatten,
    preserved,
    searcher_batches,
    set_bn_mode,
    softmax_weights,
    unflatten,
)

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher

Direction = list[Tensor]
NORMS = ("filter", "layer", "unit", "none")


@dataclass(frozen=True)
class Surface:
    """A 1-D (``ys is None``) or 2-D slice; 2-D arrays are indexed [iy, ix] (plotly's z)."""

    xs: np.ndarray
    ys: np.ndarray | None
    loss: np.ndarray
    acc: np.ndarray
    space: str  # "alpha" or "weight"
    split: str
    bn: str
    origin: np.ndarray  # flat parameters at (0, 0)
    directions: np.ndarray  # (1 or 2, n) flat directions
    kind: str  # how the directions were made
    eigenvalues: tuple[float, ...] | None = None  # for Hessian-eigenvector directions

    def project(self, points: np.ndarray) -> np.ndarray:
        """Coordinates of flat parameter vectors (T, n) in this slice's directions (least squares)."""
        return project_trajectory(points, self.origin, *self.directions)[0]


def normalize_direction(direction: Sequence[Tensor], params: Sequence[Tensor], norm: str = "filter",
                        ignore: str | None = "biasbn") -> Direction:
    """Rescale ``direction`` like Li et al.'s ``normalize_directions_for_weights``."""
    check_choice("norm", norm, NORMS)
    check_choice("ignore", str(ignore), ("biasbn", "None"))
    out = []
    for d, p in zip(direction, params):
        d = d.detach().clone()
        p = p.detach()
        if p.dim() <= 1 and norm in ("filter", "layer"):
            d = torch.zeros_like(d) if ignore == "biasbn" else p.clone()
        elif norm == "filter":
            dn = d.reshape(d.shape[0], -1).norm(dim=1)
            pn = p.reshape(p.shape[0], -1).norm(dim=1)
            d = d * (pn / (dn + 1e-10)).view(-1, *([1] * (d.dim() - 1)))
        elif norm == "layer":
            d = d * (p.norm() / (d.norm() + 1e-10))
        out.append(d)
    if norm == "unit":
        total = flatten(out).norm()
        out = [d / (total + 1e-30) for d in out]
    return out


def orthogonalize(d2: Sequence[Tensor], d1: Sequence[Tensor]) -> Direction:
    """d2 minus its component along d1, rescaled to d2's norm (call after normalising)."""
    f1, f2 = flatten(list(d1)), flatten(list(d2))
    g = f2 - (f2 @ f1) / (f1 @ f1) * f1
    g = g * (f2.norm() / g.norm())
    return unflatten(g, list(d2))


def random_direction(params: Sequence[Tensor], generator: torch.Generator, norm: str = "filter",
                     ignore: str | None = "biasbn", masks: Sequence[Tensor | None] | None = None,
                     center: bool = False) -> Direction:
    """A Gaussian direction (drawn on CPU from ``generator``), masked, optionally row-centred, normalised."""
    out = []
    for i, p in enumerate(params):
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype).to(p.device)
        m = masks[i] if masks is not None else None
        if m is not None:
            d = d * m
        if center:
            cnt = m.sum(-1, keepdim=True).clamp_min(1) if m is not None else d.shape[-1]
            d = d - d.sum(-1, keepdim=True) / cnt
            if m is not None:
                d = d * m
        out.append(d)
    return normalize_direction(out, params, norm, ignore)


def random_plane(params: Sequence[Tensor], generator: torch.Generator, **kw) -> tuple[Direction, Direction]:
    """Two random directions, normalised, then the second orthogonalised against the first."""
    d1 = random_direction(params, generator, **kw)
    d2 = random_direction(params, generator, **kw)
    return d1, orthogonalize(d2, d1)


def towards(params: Sequence[Tensor], target: Sequence[Tensor] | np.ndarray) -> Direction:
    """target - params (coordinate 1 reaches ``target``); ``target`` as tensors or one flat array."""
    params = [p.detach() for p in params]
    if isinstance(target, np.ndarray):
        target = unflatten(torch.as_tensor(target, dtype=params[0].dtype, device=params[0].device), params)
    if len(target) != len(params) or any(t.shape != p.shape for t, p in zip(target, params)):
        raise ValueError(f"target shapes {[tuple(t.shape) for t in target]} do not match the parameters' "
                         f"{[tuple(p.shape) for p in params]}")
    return [t.to(p) - p for t, p in zip(target, params)]


def pca_directions(trajectory: np.ndarray, k: int = 2, origin: np.ndarray | None = None) -> np.ndarray:
    """The top-k principal directions (k, n) of the path (T, n) relative to ``origin`` (default: its last point)."""
    traj = np.asarray(trajectory, dtype=np.float64)
    origin = traj[-1] if origin is None else np.asarray(origin, dtype=np.float64)
    _, _, vt = np.linalg.svd(traj - origin, full_matrices=False)
    return vt[:k]


def project_trajectory(points: np.ndarray, origin: np.ndarray, d1: np.ndarray,
                       d2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coordinates (T, 1 or 2) of flat points in the directions, and each point's distance off them."""
    A = np.stack([d1] if d2 is None else [d1, d2], 1).astype(np.float64)  # (n, 1|2)
    R = np.asarray(points, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    coords, *_ = np.linalg.lstsq(A, R.T, rcond=None)
    residual = np.linalg.norm(R - (A @ coords).T, axis=1)
    return coords.T, residual


def alpha_trajectory(history, cell_types: Sequence[str]) -> np.ndarray:
    """The recorded alphas of a :class:`~workbench.history.History` as flat points (T, n), cell-type order."""
    return np.concatenate([history.alphas(c).reshape(len(history), -1) for c in cell_types], 1)


def _grid(steps: int, span: float | tuple[float, float]) -> np.ndarray:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if np.isscalar(span):
        lo, hi = -cast(float, span), cast(float, span)
    else:
        lo, hi = cast(tuple[float, float], span)
    xs = np.linspace(lo, hi, steps)
    xs[np.isclose(xs, 0.0, atol=1e-12)] = 0.0
    return xs


def _check_dims(dims: int) -> None:
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (a line) or 2 (a plane), got {dims}")


def _surface(searcher: Searcher, params: Sequence[Tensor], dirs: list[Direction], steps: int,
             span: float | tuple[float, float], data: Batches, bn: str, space: str, split: str,
             kind: str, eigenvalues: list[float] | None = None) -> Surface:
    model = searcher.model
    xs = _grid(steps, span)
    ys = _grid(steps, span) if len(dirs) == 2 else None
    shape = (len(xs),) if ys is None else (len(ys), len(xs))
    loss, acc = np.zeros(shape), np.zeros(shape)
    with preserved(model):
        set_bn_mode(model, bn)
        base = [p.detach().clone() for p in params]
        fixed = None
        if space == "weight":
            with torch.no_grad():
                w = softmax_weights(model)
            fixed = (w, active_ops(model, w))
        for idx in np.ndindex(*shape):
            coords = [xs[idx[-1]]] + ([] if ys is None else [ys[idx[0]]])
            with torch.no_grad():
                for i, (p, p0) in enumerate(zip(params, base)):
                    value = p0.clone()
                    for c, d in zip(coords, dirs):
                        if c != 0.0:  # the origin is the unperturbed point, bit for bit
                            value = value + cast(Tensor, c * d[i])  # numpy scalar * Tensor is a Tensor
                    p.copy_(value)
                w, a = fixed if fixed is not None else (softmax_weights(model), None)
            loss[idx], acc[idx] = evaluate(model, data, w, a, objective=searcher.objective)
    origin = flatten(base).cpu().numpy()
    return Surface(xs, ys, loss, acc, space, split, bn, origin,
                   np.stack([flatten(d).cpu().numpy() for d in dirs]), kind,
                   None if eigenvalues is None else tuple(eigenvalues))


def _check_dirs(dirs: Sequence[Direction | np.ndarray], params: Sequence[Tensor]) -> list[Direction]:
    if not 1 <= len(dirs) <= 2:
        raise ValueError(f"give one direction (1-D slice) or two (2-D), got {len(dirs)}")
    out = []
    for d in dirs:
        if isinstance(d, np.ndarray):
            d = unflatten(torch.as_tensor(d, dtype=params[0].dtype, device=params[0].device), params)
        if len(d) != len(params) or any(t.shape != p.shape for t, p in zip(d, params)):
            raise ValueError(f"a direction must match the parameters' shapes {[tuple(p.shape) for p in params]}")
        out.append([t.detach().to(p) for t, p in zip(d, params)])
    return out


def alpha_landscape(searcher: Searcher, directions: str | Sequence[Direction] = "random", dims: int = 2,
                    steps: int = 21, span: float | tuple[float, float] = 1.0, split: str = "val",
                    batches: int | Batches | None = 1, bn: str = "train", seed: int = 0, norm: str = "unit",
                    center: bool = True) -> Surface:
    """Loss over alphas + a d1 (+ b d2) with the weights fixed.

    ``directions``: ``"random"`` (Gaussian, see the module docstring), ``"eigen"``
    (the top ``dims`` eigenvectors of the alpha Hessian of the same loss,
    incl. the arch weight decay term) or explicit directions (lists of tensors
    shaped like the alphas, or flat arrays).
    """
    _check_dims(dims)
    model = searcher.model
    params = alpha_parameters(model)
    data = searcher_batches(searcher, split, batches)
    top = None
    if directions == "random":
        masks: list[Tensor | None] = [model.op_mask(c).to(params[0].dtype)
                                      for c in cell_space(searcher, "alpha_landscape").cell_types]
        gen = torch.Generator().manual_seed(seed)
        kw: dict[str, Any] = dict(norm=norm, ignore="biasbn", masks=masks, center=center)
        dirs = list(random_plane(params, gen, **kw)) if dims == 2 else [random_direction(params, gen, **kw)]
        kind = f"random ({norm}{', centred' if center else ''})"
    elif directions == "eigen":
        from workbench.analysis.sharpness import compute_sharpness
        res = compute_sharpness(searcher, "dense" if sum(p.numel() for p in params) <= 256 else "lanczos",
                                k=dims, batches=data, split=split, bn=bn, seed=seed)
        dirs = [unflatten(torch.as_tensor(v, dtype=params[0].dtype, device=params[0].device), params)
                for v in res.eigenvectors[:dims]]
        top = list(res.top_k[:dims])
        kind = "alpha-hessian eigenvectors"
    elif isinstance(directions, str):
        raise ValueError(f"directions={directions!r}: use 'random', 'eigen' or a list of directions")
    else:
        dirs, kind = _check_dirs(list(directions), params), "given"
    return _surface(searcher, params, dirs, steps, span, data, bn, "alpha", split, kind, top)


def _weight_eigen_directions(searcher: Searcher, params: Sequence[Tensor], data: Batches, bn: str, k: int,
                             seed: int) -> tuple[list[Direction], list[float]]:
    """Top-k eigenvectors of the weight Hessian of the same loss (Lanczos on HVPs; alphas fixed)."""
    from workbench.analysis.common import batch_loss
    from workbench.analysis.hessian import HessianOperator, lanczos
    model = searcher.model
    with preserved(model):
        set_bn_mode(model, bn)
        with torch.no_grad():
            w = softmax_weights(model)
        a = active_ops(model, w)
        op = HessianOperator(lambda: batch_loss(model, data, w, a, objective=searcher.objective), params)
        res = lanczos(op, k=k, generator=torch.Generator().manual_seed(seed))
    return [unflatten(v, params) for v in res.eigenvectors], [float(v) for v in res.eigenvalues]


def weight_landscape(searcher: Searcher, directions: str | Sequence[Direction] = "random", dims: int = 2,
                     steps: int = 21, span: float | tuple[float, float] = 1.0, split: str = "train",
                     batches: int | Batches | None = 1, bn: str = "train", seed: int = 0, norm: str = "filter",
                     ignore: str | None = "biasbn") -> Surface:
    """Loss over weights + a d1 (+ b d2) with the alphas fixed (Li et al.'s plot of the supernet).

    ``directions``: ``"random"`` (filter-normalised Gaussian), ``"eigen"`` (the
    top ``dims`` eigenvectors of the weight Hessian of the same loss, by
    Lanczos; unit norm, so use a small ``span``) or explicit directions.
    """
    _check_dims(dims)
    params = searcher.model.weight_parameters()
    data = searcher_batches(searcher, split, batches)
    top = None
    if directions == "random":
        gen = torch.Generator().manual_seed(seed)
        kw: dict[str, Any] = dict(norm=norm, ignore=ignore)
        dirs = list(random_plane(params, gen, **kw)) if dims == 2 else [random_direction(params, gen, **kw)]
        kind = f"random ({norm}, ignore={ignore})"
    elif directions == "eigen":
        dirs, top = _weight_eigen_directions(searcher, params, data, bn, dims, seed)
        kind = "weight-hessian eigenvectors (lanczos)"
    elif isinstance(directions, str):
        raise ValueError(f"directions={directions!r}: use 'random', 'eigen' or a list of directions")
    else:
        dirs, kind = _check_dirs(list(directions), params), "given"
    return _surface(searcher, params, dirs, steps, span, data, bn, "weight", split, kind, top)

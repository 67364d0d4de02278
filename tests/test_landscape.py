"""Loss landscapes: origin = plain loss, exact restoration, Li et al. normalisation, eigen curvature, projections."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import Searcher
from workbench.analysis import (
    alpha_landscape,
    compute_sharpness,
    normalize_direction,
    orthogonalize,
    pca_directions,
    project_trajectory,
    random_direction,
    random_plane,
    towards,
    weight_landscape,
)
from workbench.analysis.common import evaluate, searcher_batches, softmax_weights


@pytest.fixture(scope="module")
def searcher():
    torch.set_num_threads(1)
    s = Searcher(tiny_config(space="nb201", arch_lr=1e-2))
    s.run(6)
    return s


@pytest.fixture(scope="module")
def searcher64():
    """A float64 copy for finite-difference oracles."""
    torch.set_num_threads(1)
    s = Searcher(tiny_config(space="nb201", arch_lr=1e-2))
    s.run(6)
    s.model.double()
    s.val_data = tuple(t.double() if t.is_floating_point() else t for t in s.val_data)
    return s


def _snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, {n: m.training for n, m in model.named_modules()})


def _same(model, snap):
    sd, modes = snap
    return all(torch.equal(v, sd[k]) for k, v in model.state_dict().items()) and \
        {n: m.training for n, m in model.named_modules()} == modes


@pytest.mark.parametrize("space", ["alpha", "weight"])
@pytest.mark.parametrize("bn", ["train", "eval"])
def test_origin_is_the_plain_loss_and_the_model_is_restored(searcher, space, bn):
    s = searcher
    s.model.train()
    s.model.cells[1].eval()  # a mixed mode must come back as it was
    snap = _snapshot(s.model)
    fn = alpha_landscape if space == "alpha" else weight_landscape
    split = "val" if space == "alpha" else "train"
    surf = fn(s, steps=3, span=0.5, batches=1, bn=bn)
    assert _same(s.model, snap)
    assert surf.loss.shape == surf.acc.shape == (3, 3) and surf.ys is not None
    s.model.train(bn == "train")
    w = softmax_weights(s.model)
    plain = evaluate(s.model, searcher_batches(s, split, 1), {c: t.detach() for c, t in w.items()},
                     objective=s.objective)
    s.model.load_state_dict(snap[0])
    s.model.train()
    assert surf.loss[1, 1] == plain[0] and surf.acc[1, 1] == plain[1]
    assert not np.allclose(surf.loss, surf.loss[1, 1])  # the slice does move away from the point


def test_filter_normalisation_and_biasbn(searcher):
    params = searcher.model.weight_parameters()
    d = random_direction(params, torch.Generator().manual_seed(0), norm="filter", ignore="biasbn")
    for t, p in zip(d, params):
        if p.dim() <= 1:
            assert torch.count_nonzero(t) == 0
        else:
            got = t.reshape(t.shape[0], -1).norm(dim=1)
            want = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            assert torch.allclose(got, want, rtol=1e-4)
    keep = normalize_direction(d, params, "filter", ignore=None)
    for t, p in zip(keep, params):
        if p.dim() <= 1:
            assert torch.equal(t, p.detach())  # Li et al.: 1-D parameters follow themselves


def test_plane_is_orthogonal_after_normalising(searcher):
    params = searcher.model.weight_parameters()
    g = torch.Generator().manual_seed(1)
    d1, d2 = random_plane(params, g, norm="filter")
    f1, f2 = torch.cat([t.flatten() for t in d1]), torch.cat([t.flatten() for t in d2])
    assert abs(float(f1 @ f2)) < 1e-4 * float(f1.norm() * f2.norm())
    g = torch.Generator().manual_seed(1)
    raw2 = torch.cat([t.flatten() for t in random_plane(params, g, norm="filter")[0]])  # same draw as d1
    assert torch.allclose(raw2, f1)
    # orthogonalize keeps the norm it was given
    e2 = random_direction(params, torch.Generator().manual_seed(5), norm="filter")
    o2 = orthogonalize(e2, d1)
    assert float(torch.cat([t.flatten() for t in o2]).norm()) == pytest.approx(
        float(torch.cat([t.flatten() for t in e2]).norm()), rel=1e-5)


def test_alpha_random_directions_are_centred_unit_and_masked(searcher):
    s = searcher
    s.set_op_enabled("cell", "avg_pool_3x3", False, rows=[0])
    try:
        surf = alpha_landscape(s, dims=1, steps=3, seed=3)
        d = surf.directions[0].reshape(s.space.n_edges, len(s.space.ops))
        assert np.linalg.norm(d) == pytest.approx(1.0)
        assert d[0, s.space.ops.index("avg_pool_3x3")] == 0
        assert np.allclose(d.sum(1), 0, atol=1e-6)
    finally:
        s.set_op_enabled("cell", "avg_pool_3x3", True, rows=[0])


def test_curvature_along_top_eigenvector_is_the_eigenvalue(searcher64):
    s = searcher64
    res = compute_sharpness(s, "dense", k=1, batches=1)
    h = 1e-4  # ReLU kinks make the loss only piecewise smooth: at h = 1e-3 this slice already crosses some
    surf = alpha_landscape(s, directions="eigen", dims=1, steps=3, span=h, batches=1)
    second = (surf.loss[0] + surf.loss[2] - 2 * surf.loss[1]) / h ** 2
    # the landscape is the plain loss: its curvature lacks the arch weight decay term of H
    assert second == pytest.approx(res.eigenvalue - s.config.arch_weight_decay, rel=1e-3)
    assert surf.eigenvalues == pytest.approx([res.eigenvalue])


def test_towards_a_target_reaches_it(searcher):
    s = searcher
    params = s.model.arch_parameters()
    target = [p.detach() + 0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) for p in params]
    surf = alpha_landscape(s, directions=[towards(params, target)], steps=3, span=(0.0, 1.0), batches=1)
    snap = _snapshot(s.model)
    with torch.no_grad():
        for p, t in zip(params, target):
            p.copy_(t)
    s.model.train()
    at_target = evaluate(s.model, searcher_batches(s, "val", 1), softmax_weights(s.model), objective=s.objective)
    s.model.load_state_dict(snap[0])
    assert surf.loss[-1] == pytest.approx(at_target[0], rel=1e-6)


def test_trajectory_projection_and_pca():
    rng = np.random.default_rng(0)
    n = 40
    d1, d2 = rng.normal(size=n), rng.normal(size=n)
    origin = rng.normal(size=n)
    coords = rng.normal(size=(7, 2))
    pts = origin + coords @ np.stack([d1, d2])
    got, residual = project_trajectory(pts, origin, d1, d2)
    assert np.allclose(got, coords) and np.allclose(residual, 0, atol=1e-10)
    off = pts + 0.5 * np.linalg.svd(np.stack([d1, d2]))[2][5]  # a component orthogonal to the plane
    _, residual = project_trajectory(off, origin, d1, d2)
    assert np.allclose(residual, 0.5)
    line = origin + np.linspace(0, 3, 9)[:, None] * d1
    top = pca_directions(line, k=1)[0]
    assert abs(top @ d1) / np.linalg.norm(d1) == pytest.approx(1.0)


def test_bad_arguments_are_explained(searcher):
    with pytest.raises(ValueError, match="dims"):
        alpha_landscape(searcher, dims=3)
    with pytest.raises(ValueError, match="directions"):
        alpha_landscape(searcher, directions="pca")
    with pytest.raises(ValueError, match="norm"):
        weight_landscape(searcher, norm="global")
    with pytest.raises(ValueError, match="shapes"):
        alpha_landscape(searcher, directions=[[torch.zeros(2, 2)]])
    with pytest.raises(ValueError, match="bn"):
        alpha_landscape(searcher, bn="frozen")


def test_weight_eigen_direction_curvature(searcher64):
    s = searcher64
    s.train_stream.x = s.train_stream.x.double()
    h = 1e-5  # ReLU kinks: at 1e-4 this slice is already off the quadratic by 3%
    surf = weight_landscape(s, directions="eigen", dims=1, steps=3, span=h, batches=1)
    second = (surf.loss[0] + surf.loss[2] - 2 * surf.loss[1]) / h ** 2
    assert second == pytest.approx(surf.eigenvalues[0], rel=1e-3)
    assert abs(np.linalg.norm(surf.directions[0]) - 1) < 1e-6

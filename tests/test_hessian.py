"""Hessian estimators against exact oracles: torch.autograd.functional.hessian + eigvalsh on a tiny supernet."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.analysis import (
    HessianOperator,
    dense_hessian,
    hutchinson,
    hvp,
    lanczos,
    power_iteration,
)
from workbench.methods.relax import masked_softmax
from workbench.spaces.cell.supernet import Supernet, SupernetConfig

WD = 1e-3


@pytest.fixture(scope="module")
def problem():
    """A float64 NB201 supernet (30 alphas) with spread-out alphas, one batch, train-mode BN."""
    torch.set_num_threads(1)  # module fixtures run before conftest's per-test thread setting
    torch.manual_seed(0)
    net = Supernet("nb201", SupernetConfig(C=4), in_channels=1, n_classes=3).double()
    for a in net.arch_parameters():
        a.data.normal_(0, 0.7)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    net.train()
    params = net.arch_parameters()

    def loss_fn():
        w = {c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types}
        return F.cross_entropy(net(x, w), y)

    def of_flat(flat):
        w, i = {}, 0
        for c, p in zip(net.space.cell_types, params):
            w[c] = masked_softmax(flat[i:i + p.numel()].view(p.shape), net.op_mask(c))
            i += p.numel()
        return F.cross_entropy(net(x, w), y)

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    exact = torch.autograd.functional.hessian(of_flat, flat) + WD * torch.eye(flat.numel(), dtype=torch.float64)
    return net, params, loss_fn, exact, torch.linalg.eigvalsh(exact)


def test_dense_hessian_matches_autograd_functional(problem):
    net, params, loss_fn, exact, _ = problem
    H = dense_hessian(loss_fn, params, weight_decay=WD)
    assert H.shape == exact.shape == (30, 30)
    assert torch.allclose(H, exact, rtol=1e-10, atol=1e-12)
    assert torch.equal(H, H.T)


def test_hvp_is_hessian_times_vector(problem):
    _, params, loss_fn, exact, _ = problem
    v = [torch.randn(p.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64) for p in params]
    hv = hvp(loss_fn, params, v, weight_decay=WD)
    flat_v = torch.cat([t.reshape(-1) for t in v])
    assert torch.allclose(torch.cat([t.reshape(-1) for t in hv]), exact @ flat_v, rtol=1e-10, atol=1e-12)


def test_power_iteration_top_eigenpair(problem):
    _, params, loss_fn, exact, evals = problem
    res = power_iteration(loss_fn, params, weight_decay=WD, generator=torch.Generator().manual_seed(0), tol=1e-10,
                          iters=500)
    top = float(evals[-1])
    assert res.converged
    assert abs(res.eigenvalue - top) / abs(top) < 1e-3
    v = res.eigenvector
    assert abs(float(v.norm()) - 1) < 1e-12
    residual = float((exact @ v - res.eigenvalue * v).norm())
    assert residual < 1e-2 * abs(top)


def test_power_iteration_largest_algebraic_when_dominant_is_negative():
    # L = 0.5 p' A p with eigenvalues -5, 1, 2: the dominant one (magnitude) is -5, the largest is 2.
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor([-5.0, 1.0, 2.0], dtype=torch.float64)) @ Q.T
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    loss_fn = lambda: 0.5 * p @ A @ p + (p ** 3).sum() * 0  # noqa: E731 (closure over p)
    g = torch.Generator().manual_seed(1)
    la = power_iteration(loss_fn, [p], generator=g, tol=1e-12, iters=2000)
    lm = power_iteration(loss_fn, [p], generator=g, tol=1e-12, iters=2000, which="LM")
    assert la.eigenvalue == pytest.approx(2.0, rel=1e-6)
    assert lm.eigenvalue == pytest.approx(-5.0, rel=1e-6)


def test_lanczos_top_k_matches_eigvalsh(problem):
    _, params, loss_fn, _, evals = problem
    res = lanczos(loss_fn, params, k=4, m=20, weight_decay=WD, generator=torch.Generator().manual_seed(0))
    want = evals.flip(0)[:4]
    assert res.eigenvalues.shape == (4,) and res.iterations == 20
    rel = ((res.eigenvalues - want).abs() / want.abs()).max()
    assert float(rel) < 1e-3, (res.eigenvalues, want)
    gram = res.eigenvectors @ res.eigenvectors.T
    assert torch.allclose(gram, torch.eye(4, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_lanczos_stops_when_the_top_eigenvalue_is_converged(problem, tol):
    """The dominant eigenvalue agrees with dense eigvalsh to 1e-4 relative with fewer products than the
    fixed budget (m = 20 steps) and than the dense Hessian (n = 30 products)."""
    _, params, loss_fn, _, evals = problem
    op = HessianOperator(loss_fn, params, WD)
    res = lanczos(op, k=1, tol=tol, generator=torch.Generator().manual_seed(0))
    top = float(evals[-1])
    assert res.converged
    assert abs(float(res.eigenvalues[0]) - top) / abs(top) < 1e-4
    assert res.iterations == op.matvecs < 20 < op.n
    fixed = lanczos(op, k=1, m=20, generator=torch.Generator().manual_seed(0))  # explicit m: all the steps
    assert fixed.iterations == 20
    # the convergence test is a residual bound: an eigenvalue lies within tol * |theta| of the Ritz value
    v = res.eigenvectors[0]
    residual = float((op.matvec(v) - res.eigenvalues[0] * v).norm())
    assert residual <= 10 * tol * abs(top)
    # a budget too small to converge in says so
    short = lanczos(op, k=5, m=6, tol=1e-12, generator=torch.Generator().manual_seed(0))
    assert short.iterations == 6 and not short.converged


def test_lanczos_full_steps_recover_whole_spectrum(problem):
    _, params, loss_fn, _, evals = problem
    op = HessianOperator(loss_fn, params, WD)
    res = lanczos(op, k=op.n, m=op.n, generator=torch.Generator().manual_seed(5))
    got = res.eigenvalues.flip(0)
    assert torch.allclose(got[-10:], evals[-10:], rtol=1e-6, atol=1e-9)


def test_hutchinson_within_its_statistical_error(problem):
    _, params, loss_fn, exact, _ = problem
    est = hutchinson(loss_fn, params, samples=200, weight_decay=WD, generator=torch.Generator().manual_seed(0))
    trace = float(torch.trace(exact))
    assert abs(est.trace - trace) < 4 * est.stderr
    # Rademacher probes: Var(v'Hv) = 2 * sum_{i != j} H_ij^2, so the reported error has a known size
    off = exact - torch.diag(torch.diag(exact))
    expected_se = math.sqrt(2 * float((off ** 2).sum()) / est.samples)
    assert 0.7 * expected_se < est.stderr < 1.3 * expected_se


def test_estimators_are_seeded(problem):
    _, params, loss_fn, _, _ = problem
    a = hutchinson(loss_fn, params, samples=5, generator=torch.Generator().manual_seed(7))
    b = hutchinson(loss_fn, params, samples=5, generator=torch.Generator().manual_seed(7))
    c = hutchinson(loss_fn, params, samples=5, generator=torch.Generator().manual_seed(8))
    assert a == b and a.trace != c.trace


def test_works_inside_no_grad(problem):
    _, params, loss_fn, exact, _ = problem
    with torch.no_grad():
        H = dense_hessian(loss_fn, params, weight_decay=WD)
    assert torch.allclose(H, exact, rtol=1e-10, atol=1e-12)


def test_linear_loss_has_only_the_weight_decay_curvature():
    p = torch.ones(4, dtype=torch.float64, requires_grad=True)
    H = dense_hessian(lambda: (3 * p).sum(), [p], weight_decay=0.5)
    assert torch.equal(H, 0.5 * torch.eye(4, dtype=torch.float64))


def test_bad_input_is_explained():
    p = torch.ones(3)
    with pytest.raises(ValueError, match="requires_grad"):
        HessianOperator(lambda: p.sum(), [p])
    q = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="scalar"):
        HessianOperator(lambda: q * 2, [q])
    with pytest.raises(ValueError, match="k must be"):
        lanczos(lambda: (q ** 2).sum(), [q], k=4)
    with pytest.raises(ValueError, match="which"):
        power_iteration(lambda: (q ** 2).sum(), [q], which="SA")

"""Curvature of a loss w.r.t. a chosen parameter list: Hessian-vector products and spectra.

Everything here takes an explicit loss closure and the parameters to
differentiate (for DARTS sharpness: the alphas), never "all parameters of a
model" (PyHessian's limitation, ECOSYSTEM.md §3.1), and every random draw
comes from a caller-given ``torch.Generator``.

* Hessian-vector product by double backpropagation (Pearlmutter 1994):
  Hv = d(g . v)/dp with g = dL/dp built once with ``create_graph=True``.
* ``dense_hessian``: the explicit matrix as RobustDARTS builds it
  (`automl/RobustDARTS:src/search/analyze.py::compute_Hw`, ALGORITHMS.md §4.1):
  one row per parameter by differentiating g, then symmetrised, plus
  ``weight_decay * I`` (their g includes the arch weight decay term
  lambda * alpha, so H = d2L/dalpha2 + lambda I with lambda = 1e-3).
* ``power_iteration``: the largest eigenvalue (algebraic by default; a
  negative dominant eigenvalue triggers a second run on the shifted operator
  H - lambda_dom I). An approximation of what RobustDARTS computes exactly.
* ``lanczos``: the top-k spectrum by Lanczos with full reorthogonalisation
  (the Ritz values of the m x m tridiagonal matrix). It stops as soon as the
  top k Ritz values are converged to ``tol`` (ARPACK's test: the residual
  ``||H y - theta y|| = beta_j |s_j|`` of each Ritz pair, known without another
  product, is at most ``tol * |theta_1|``; then an eigenvalue of H lies within
  ``tol * |theta_1|`` of each returned value), so the dominant eigenvalue
  usually needs far fewer products than the step budget ``m``.
* ``hutchinson``: the trace, E[v' H v] over Rademacher v (Hutchinson 1989),
  with its standard error.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.analysis.common import flatten, unflatten

LossFn = Callable[[], Tensor]
#: Lanczos's default convergence tolerance (relative residual of the top Ritz pairs)
DEFAULT_TOL = 1e-6


class HessianOperator:
    """v -> (d2L/dp2 + weight_decay * I) v for a fixed loss; the gradient graph is built once."""

    def __init__(self, loss_fn: LossFn, params: Sequence[Tensor], weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("no parameters given: pass the tensors to differentiate (e.g. the alphas)")
        bad = [i for i, p in enumerate(self.params) if not p.requires_grad]
        if bad:
            raise ValueError(f"parameter(s) {bad} do not require grad; the Hessian is taken w.r.t. leaf tensors "
                             "with requires_grad=True")
        with torch.enable_grad():  # also inside a caller's no_grad block
            loss = loss_fn()
            if not isinstance(loss, Tensor) or loss.dim() != 0:
                raise ValueError("loss_fn must return a scalar tensor with a graph to the parameters")
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
            self.grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, self.params)]
            self._flat_grad = flatten(self.grads)
        self.loss = loss.detach()
        self.weight_decay = float(weight_decay)
        self.n = self._flat_grad.numel()
        self.dtype, self.device = self._flat_grad.dtype, self._flat_grad.device
        self.matvecs = 0

    @property
    def gradient(self) -> Tensor:
        """dL/dp + weight_decay * p, flattened (RobustDARTS's ``compute_dw``)."""
        return self._flat_grad.detach() + self.weight_decay * flatten([p.detach() for p in self.params])

    def matvec(self, v: Tensor) -> Tensor:
        """H v for a flat vector v (n,)."""
        self.matvecs += 1
        if not self._flat_grad.requires_grad:  # the loss is (at most) linear in the parameters
            return self.weight_decay * v
        with torch.enable_grad():
            raw = torch.autograd.grad(self._flat_grad, self.params, grad_outputs=v, retain_graph=True,
                                      allow_unused=True)
        hv = flatten([torch.zeros_like(p) if h is None else h for h, p in zip(raw, self.params)])
        return hv + self.weight_decay * v

    def random(self, generator: torch.Generator | None, kind: str = "gaussian") -> Tensor:
        if kind == "gaussian":
            v = torch.randn(self.n, generator=generator, dtype=torch.float64)
        else:  # rademacher
            v = torch.randint(0, 2, (self.n,), generator=generator, dtype=torch.int64).to(torch.float64) * 2 - 1
        return v.to(self.dtype).to(self.device)


def _operator(loss_fn: LossFn | HessianOperator, params: Sequence[Tensor] | None,
              weight_decay: float) -> HessianOperator:
    if isinstance(loss_fn, HessianOperator):
        return loss_fn
    if params is None:
        raise ValueError("pass the parameters to differentiate along with the loss closure")
    return HessianOperator(loss_fn, params, weight_decay)


def hvp(loss_fn: LossFn, params: Sequence[Tensor], vectors: Sequence[Tensor],
        weight_decay: float = 0.0) -> list[Tensor]:
    """One Hessian-vector product, ``vectors`` shaped like ``params``; returns tensors shaped like them."""
    op = HessianOperator(loss_fn, params, weight_decay)
    return unflatten(op.matvec(flatten(list(vectors))), op.params)


def dense_hessian(loss_fn: LossFn | HessianOperator, params: Sequence[Tensor] | None = None,
                  weight_decay: float = 0.0) -> Tensor:
    """The n x n Hessian (n = total size of ``params``), one row per double backward, symmetrised."""
    op = _operator(loss_fn, params, weight_decay)
    eye = torch.eye(op.n, dtype=op.dtype, device=op.device)
    H = torch.stack([op.matvec(eye[j]) for j in range(op.n)])
    return 0.5 * (H + H.T)


@dataclass(frozen=True)
class EigResult:
    eigenvalue: float
    eigenvector: Tensor  # flat, unit norm
    iterations: int  # Hessian-vector products used
    converged: bool


def _power(op: HessianOperator, shift: float, iters: int, tol: float, generator: torch.Generator | None,
           v0: Tensor | None) -> tuple[float, Tensor, int, bool]:
    v = op.random(generator) if v0 is None else v0.to(op.dtype).to(op.device).clone()
    v = v / v.norm()
    lam: float | None = None
    used = 0
    for _ in range(iters):
        w = op.matvec(v) - shift * v
        used += 1
        new = float(v @ w)  # Rayleigh quotient of the shifted operator
        norm = w.norm()
        if norm == 0:  # v is in the null space of the shifted operator
            return new, v, used, True
        v = w / norm
        if lam is not None and abs(new - lam) <= tol * max(abs(new), 1e-30):
            return new, v, used, True
        lam = new
    assert lam is not None, f"power iteration needs iters >= 1, got {iters}"
    return float(lam), v, used, False


def power_iteration(loss_fn: LossFn | HessianOperator, params: Sequence[Tensor] | None = None, *,
                    weight_decay: float = 0.0, iters: int = 200, tol: float = 1e-6,
                    generator: torch.Generator | None = None, which: str = "LA") -> EigResult:
    """The top eigenpair by power iteration on Hessian-vector products.

    ``which="LA"`` (default) returns the largest algebraic eigenvalue, the
    quantity RobustDARTS reports (``max(eigvals(H))``); ``"LM"`` the one of
    largest magnitude. Stops when the Rayleigh quotient changes by less than
    ``tol`` (relative) between iterations.
    """
    if which not in ("LA", "LM"):
        raise ValueError(f"which={which!r}: use 'LA' (largest algebraic) or 'LM' (largest magnitude)")
    op = _operator(loss_fn, params, weight_decay)
    lam, v, used, ok = _power(op, 0.0, iters, tol, generator, None)
    if which == "LA" and lam < 0:
        # every eigenvalue of H - lam I is >= 0, its dominant one is lambda_max - lam
        mu, v, used2, ok = _power(op, lam, iters, tol, generator, None)
        lam, used = mu + lam, used + used2
    return EigResult(lam, v.detach(), used, ok)


@dataclass(frozen=True)
class SpectrumResult:
    eigenvalues: Tensor  # (k,), descending
    eigenvectors: Tensor  # (k, n), unit rows
    iterations: int  # Hessian-vector products used (Lanczos steps)
    converged: bool = True  # False: the step budget ran out before the convergence test passed


def _tridiagonal(alpha: list[float], beta: list[float]) -> Tensor:
    T = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    if beta:
        off = torch.tensor(beta[: len(alpha) - 1], dtype=torch.float64)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    return T


def _ritz_converged(alpha: list[float], beta: list[float], b: float, k: int, tol: float) -> bool:
    """ARPACK's convergence test after a Lanczos step: every one of the top ``k`` Ritz pairs of the current
    tridiagonal matrix has residual ``b * |last component of its eigenvector|`` <= ``tol * |theta_1|``."""
    steps = len(alpha)
    if steps < k:
        return False
    evals, evecs = torch.linalg.eigh(_tridiagonal(alpha, beta))
    top = torch.argsort(evals, descending=True)[:k]
    scale = max(abs(float(evals[top[0]])), 1e-30)
    return bool((b * evecs[-1, top].abs() <= tol * scale).all())


def lanczos(loss_fn: LossFn | HessianOperator, params: Sequence[Tensor] | None = None, *, k: int = 5,
            m: int | None = None, weight_decay: float = 0.0, tol: float | None = None,
            generator: torch.Generator | None = None) -> SpectrumResult:
    """The k largest eigenvalues (and Ritz vectors) by Lanczos with full reorthogonalisation.

    At most ``m`` steps (one Hessian-vector product each); ``m`` defaults to
    ``min(n, max(2k, 20))``, and with ``m = n`` the result is the exact spectrum
    up to rounding. Stops as soon as the top ``k`` Ritz values are converged:
    each Ritz pair's residual norm ``beta_j |s_j|`` (no extra product) is at
    most ``tol`` times the largest Ritz value's magnitude, which puts an
    eigenvalue of H within that distance of each returned value (ARPACK's
    criterion); ``tol=0`` always takes the ``m`` steps. ``tol=None`` (default)
    is ``DEFAULT_TOL`` with the default budget and 0 when ``m`` is given (an
    explicit number of steps is taken, as before the convergence test). Also
    stops on an invariant subspace. ``iterations`` is the products used.
    """
    op = _operator(loss_fn, params, weight_decay)
    if not 1 <= k <= op.n:
        raise ValueError(f"k must be in 1..{op.n} (the number of parameters), got {k}")
    tol = (DEFAULT_TOL if m is None else 0.0) if tol is None else float(tol)
    m = min(op.n, max(2 * k, 20)) if m is None else m
    if not k <= m <= op.n:
        raise ValueError(f"m (Lanczos steps) must be in k..n = {k}..{op.n}, got {m}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0 (0: take all m steps), got {tol}")
    Q = torch.zeros(m, op.n, dtype=op.dtype, device=op.device)
    alpha: list[float] = []
    beta: list[float] = []
    converged = True
    q = op.random(generator)
    q = q / q.norm()
    for j in range(m):
        Q[j] = q
        w = op.matvec(q)
        a = float(q @ w)
        alpha.append(a)
        basis = Q[: j + 1]
        w = w - basis.T @ (basis @ w)  # full reorthogonalisation, twice for stability
        w = w - basis.T @ (basis @ w)
        b = float(w.norm())
        if b <= 1e-10 * max(1.0, max(abs(t) for t in alpha)):  # an invariant subspace: exact Ritz values
            break
        if tol > 0 and _ritz_converged(alpha, beta, b, k, tol):
            break
        if j == m - 1:
            converged = tol == 0
            break
        beta.append(b)
        q = w / b
    steps = len(alpha)
    evals, evecs = torch.linalg.eigh(_tridiagonal(alpha, beta))
    order = torch.argsort(evals, descending=True)[: min(k, steps)]
    ritz = evecs[:, order].to(op.dtype).to(op.device).T @ Q[:steps]
    ritz = ritz / ritz.norm(dim=1, keepdim=True)
    return SpectrumResult(evals[order].to(op.dtype), ritz.detach(), steps, converged)


@dataclass(frozen=True)
class TraceEstimate:
    trace: float
    stderr: float  # standard error of the mean over the samples
    samples: int


def hutchinson(loss_fn: LossFn | HessianOperator, params: Sequence[Tensor] | None = None, *,
               samples: int = 100, weight_decay: float = 0.0,
               generator: torch.Generator | None = None) -> TraceEstimate:
    """tr(H) ~ mean of v' H v over ``samples`` Rademacher vectors v, with the standard error."""
    if samples < 2:
        raise ValueError(f"samples must be >= 2 to estimate an error, got {samples}")
    op = _operator(loss_fn, params, weight_decay)
    vals = []
    for _ in range(samples):
        v = op.random(generator, "rademacher")
        vals.append(float(v @ op.matvec(v)))
    t = torch.tensor(vals, dtype=torch.float64)
    return TraceEstimate(float(t.mean()), float(t.std(unbiased=True)) / math.sqrt(samples), samples)

"""Adaptive Guidance (workbench.diffusion + the ``guidance`` method): the oracles of SEEDS_2.md §10.5.

The claims (a fixed-seed policy search drops guidance late and beats a fixed cut-off at equal evaluations) are
asserted in notebook 13's part ``_part_guidance.py``, not here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from workbench import SearchConfig, Searcher
from workbench.diffusion import (
    DDIM,
    CosineRule,
    Denoiser,
    DenoiserTraining,
    GuidanceSpace,
    Schedule,
    cutoff_gates,
    gates_of,
    guidance_pairs,
    nfe_of,
    sample,
    sample_adaptive,
)
from workbench.diffusion.space import GuidedSamplerNet
from workbench.errors import ConfigError
from workbench.methods import StepContext, get_method
from workbench.methods.guidance import nfe_cost
from workbench.spaces import Choices

TINY = GuidanceSpace(name="guidance_tiny", steps=5, denoiser=DenoiserTraining(width=16, depth=2, steps=60, batch=64))


class Analytic(nn.Module):
    """eps_c(x) = x - mu_c, eps_u(x) = x (SEEDS_2 §10.5: a fixed analytic denoiser)."""

    def __init__(self, mu: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mu", mu)

    def forward(self, x, t, c=None):
        return x if c is None else x - self.mu[c].to(x.dtype)


class Counting(nn.Module):
    """Counts network evaluations: rows of x passed to the wrapped model (a pair counts both)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x, t, c=None):
        self.rows += len(x)
        return self.model(x, t, c)


def _reference(model, z, c, ddim, scale, guided):
    """DDIM written out from the equations, with separate conditional/unconditional calls (the oracle)."""
    abar = ddim.schedule.alpha_bar[ddim.timesteps()].to(z.dtype)
    prev = torch.cat([abar[1:], abar.new_ones(1)])
    x = z
    for k, t in enumerate(ddim.timesteps()):
        tt = t.expand(len(z))
        eps_c = model(x, tt, c)
        if guided[k]:
            eps_u = model(x, tt, None)
            eps = eps_u + scale * (eps_c - eps_u)
        else:
            eps = eps_c
        x0 = (x - (1 - abar[k]).sqrt() * eps) / abar[k].sqrt()
        x = prev[k].sqrt() * x0 + (1 - prev[k]).sqrt() * eps
    return x


def _untrained(seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(width=32, depth=2).eval()


def test_an_all_on_policy_is_full_guidance_and_all_off_the_conditional_sampler_bit_for_bit():
    model = _untrained()
    separate = lambda x, t, c: model(x, t, c)  # noqa: E731  (no ``pair``: one call per evaluation, as the oracle)
    ddim, g = DDIM(steps=8), torch.Generator().manual_seed(0)
    z, c = torch.randn(64, 2, generator=g), torch.randint(4, (64,), generator=g)
    with torch.no_grad():
        cfg = _reference(separate, z, c, ddim, 2.0, [True] * 8)
        cond = _reference(separate, z, c, ddim, 2.0, [False] * 8)
        assert torch.equal(sample(separate, z, c, ddim, 2.0).x0, cfg)
        assert torch.equal(sample(separate, z, c, ddim, 2.0, torch.ones(8)).x0, cfg)
        assert torch.equal(sample(separate, z, c, ddim, 2.0, torch.zeros(8)).x0, cond)
        mixed = [True, False, True, True, False, False, True, False]
        assert torch.equal(sample(separate, z, c, ddim, 2.0, torch.tensor(mixed, dtype=torch.float)).x0,
                           _reference(separate, z, c, ddim, 2.0, mixed))
        # the denoiser's batched pair evaluation gives the same numbers as two calls
        assert torch.allclose(sample(model, z, c, ddim, 2.0).x0, cfg, atol=1e-5)
        # s = 1: guidance is the conditional step
        assert torch.allclose(sample(separate, z, c, ddim, 1.0).x0, cond, atol=1e-5)
        assert not torch.allclose(cfg, cond, atol=1e-3)


def test_the_supernet_at_pi_1_reproduces_the_cfg_targets_and_its_relaxed_gate_mixes_the_two_steps():
    data = guidance_pairs(TINY, n_train=32, n_test=8, seed=3)
    net = TINY.build_supernet(type("T", (), {"input_shape": (3,), "n_outputs": 2, "name": "pairs"})())
    on, off = torch.tensor([[0.0, 1.0]] * 5), torch.tensor([[1.0, 0.0]] * 5)
    with torch.no_grad():
        assert torch.equal(net(data.x_train, {"steps": on}), data.y_train)  # loss exactly 0 for "CFG everywhere"
        assert torch.equal(net(data.x_train, {"steps": off}), net.run(data.x_train, torch.zeros(5)).x0)
    assert sorted(data.x_train[:, 2].unique().long().tolist()) == [0, 1, 2, 3]
    assert torch.equal(guidance_pairs(TINY, n_train=32, n_test=8, seed=3).y_test, data.y_test)  # seeded


def test_evaluation_counts_follow_the_policy():
    model = Counting(_untrained(1))
    ddim, S, n = DDIM(steps=10), 10, 16
    g = torch.Generator().manual_seed(0)
    z, c = torch.randn(n, 2, generator=g), torch.randint(4, (n,), generator=g)
    with torch.no_grad():
        for gates in (torch.zeros(S), torch.ones(S), cutoff_gates(S, 3), torch.tensor([0., 1.] * 5)):
            model.rows = 0
            s = sample(model, z, c, ddim, 2.0, gates)
            h = int(gates.sum())
            assert nfe_of(gates) == S + h and s.nfe.tolist() == [S + h] * n and model.rows == n * (S + h)
        model.rows = 0
        assert sample(model, z, c, ddim, 2.0).nfe.tolist() == [2 * S] * n and model.rows == 2 * S * n
        # the adaptive rule: never switches back, at least min_guided_steps guided, counts what it evaluates
        for rule in (CosineRule(0.9, "x0"), CosineRule(0.5, "update", min_guided_steps=3), CosineRule(0.0, "eps")):
            model.rows = 0
            s = sample_adaptive(model, z, c, ddim, 2.0, rule)
            guided = s.guided.bool()
            assert (guided[1:] <= guided[:-1]).all() and guided[: rule.min_guided_steps].all()
            assert torch.equal(s.nfe, S + guided.sum(0)) and model.rows == int(s.nfe.sum())
        assert (sample_adaptive(model, z, c, ddim, 2.0, CosineRule(0.0, "eps")).nfe == S + 2).all()  # fires at once
        assert (sample_adaptive(model, z, c, ddim, 2.0, CosineRule(1.01)).nfe == 2 * S).all()  # never fires
    assert GuidanceSpace(steps=10).label(Choices("guidance", {"steps": ("cfg",) * 3 + ("cond",) * 6 + ("cfg",)})) \
        == "CFG at steps 1–3, 10 · 14 of 20 NFE"
    with pytest.raises(ValueError, match="0..10"):
        cutoff_gates(10, 11)


def test_the_policy_gradient_through_the_sampler_matches_finite_differences():
    space = GuidanceSpace(steps=3)
    mu = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]], dtype=torch.float64)
    net = GuidedSamplerNet(space, Analytic(mu)).double()
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(16, 2, generator=g, dtype=torch.float64),
                   torch.randint(4, (16, 1), generator=g).double()], dim=1)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        net.alphas["steps"].copy_(torch.randn(3, 2, generator=g, dtype=torch.float64))
    method = get_method("guidance", {"cost_weight": 0.3})
    term = method.arch_loss_terms[0]

    def loss() -> torch.Tensor:
        ctx = StepContext(model=net, relaxation=method.relaxation, objective=None)
        w, a = ctx.mixing_weights()
        return ((net(x[:, :3], w, a) - y) ** 2).mean() + term(ctx)

    alpha = net.alphas["steps"]
    (grad,) = torch.autograd.grad(loss(), [alpha])
    fd = torch.zeros_like(alpha)
    h = 1e-6
    with torch.no_grad():
        for i in range(3):
            for j in range(2):
                alpha[i, j] += h
                up = loss()
                alpha[i, j] -= 2 * h
                down = loss()
                alpha[i, j] += h
                fd[i, j] = (up - down) / (2 * h)
    assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-9), (grad, fd)
    assert grad.abs().min() > 1e-4  # every logit matters (the check is not vacuous)
    # the cost term is lambda * E[NFE] = lambda * sum_k (1 + pi_k), exactly
    pi = torch.softmax(alpha.detach(), dim=1)[:, 1]
    assert torch.isclose(term(StepContext(model=net)), 0.3 * (3 + pi.sum()))
    assert nfe_cost(3).minimum() == 3 and nfe_cost(3).of({"steps": np.array([1, 0, 1])}) == 5


def test_ddim_with_the_exact_noise_of_a_gaussian_converges_to_its_exact_flow():
    """For data N(mu, sigma^2 I) the exact eps is affine in x_t and the probability-flow ODE maps x_T to
    mu + sigma (x_T - sqrt(abar_T) mu) / sqrt(abar_T sigma^2 + 1 - abar_T): DDIM (its Euler-type discretisation)
    must approach that map sample by sample, with an error falling like 1 / steps."""
    mu, sigma = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.5
    schedule = Schedule()
    abar = schedule.alpha_bar

    def exact(x, t, c=None):  # E[eps | x_t] for x_0 ~ N(mu, sigma^2 I)
        a = abar[t].to(x.dtype)[:, None]
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * sigma ** 2 + 1 - a)

    z = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    flow = mu + sigma * (z - abar[-1].sqrt() * mu) / (abar[-1] * sigma ** 2 + 1 - abar[-1]).sqrt()
    c = torch.zeros(256, dtype=torch.long)
    err = [float((sample(exact, z, c, DDIM(schedule, n), 1.0).x0 - flow).abs().max()) for n in (20, 200, 1000)]
    assert err[1] < err[0] / 5 and err[2] < err[1] / 3 and err[2] < 0.01, err


def test_a_guidance_search_on_the_searcher_moves_only_the_gates_and_decodes_a_policy():
    data = guidance_pairs(TINY, n_train=64, n_test=16, seed=0)
    cfg = SearchConfig(space=TINY.name, method="guidance", epochs=2, batch_size=16, seed=0,
                       method_options={"cost_weight": 0.05, "lr": 0.1})
    s = Searcher(cfg, space=TINY, dataset=data)
    before = {k: v.clone() for k, v in s.model.denoiser.state_dict().items()}
    events = s.run()
    assert all(torch.equal(before[k], v) for k, v in s.model.denoiser.state_dict().items())  # denoiser frozen
    # and the weight step only evaluated its batch: no weight gradient, no optimizer step (no momentum state)
    assert not s.optimizer.state and all(p.grad is None for p in s.model.denoiser.parameters())
    assert all(math.isfinite(e.train_loss) for e in events)
    p = s.probabilities()["steps"][:, 1]
    assert not np.allclose(p, 0.5) and "nfe_cost" in events[-1].extras
    before_last = events[-2].weights["steps"][:, 1]  # the term is computed before the step's update
    assert events[-1].extras["nfe_cost"] == pytest.approx(0.05 * (5 + before_last.sum()), rel=1e-5)
    arch = s.genotype()
    assert gates_of(arch).tolist() == [float(v > 0.5) for v in p]
    policy = TINY.compile(arch, s.task.info)
    assert policy.nfe == 5 + int((p > 0.5).sum()) and policy(data.x_test).shape == (16, 2)


def test_the_guidance_policy_panel_shows_the_recorded_gates_static_and_live():
    pytest.importorskip("anywidget")
    from widgets import dashboard
    from workbench.app.session import SearchSession

    data = guidance_pairs(TINY, n_train=32, n_test=8, seed=0)
    cfg = SearchConfig(space=TINY.name, method="guidance", epochs=4, batch_size=16, seed=0)  # 1 step per epoch
    session = SearchSession(Searcher(cfg, space=TINY, dataset=data), threaded=False)
    d = dashboard(session, static=False, min_interval=0)
    session.run(3)
    h = session.history
    view = d.views["guidance_policy"]
    view.set_visible(True)  # a person opens the tab
    view.refresh()  # the tab redraws at most once a second while a search runs: draw the latest step now
    np.testing.assert_allclose(np.asarray(view.fig.data[0].y, dtype=float), h.weights("steps")[-1][:, 1], rtol=1e-6)
    assert TINY.label(h.genotype_at(3)) in view.label.value and "step 3" in view.fig.layout.title.text
    d.scrubber.scrub(1)
    np.testing.assert_allclose(np.asarray(view.fig.data[0].y, dtype=float), h.weights("steps")[0][:, 1], rtol=1e-6)
    static = dashboard(h, static=True).figures()["guidance_policy"]
    np.testing.assert_allclose(np.asarray(static.data[0].y, dtype=float), h.weights("steps")[-1][:, 1], rtol=1e-6)
    d.close()


def test_the_preset_and_space_refuse_bad_settings_naming_what_is_accepted():
    with pytest.raises(ValueError, match="sigmoid, concrete"):
        get_method("guidance", {"relaxation": "softmax"})
    with pytest.raises(ValueError, match="cost_weight"):
        get_method("guidance", {"cost_weight": -1})
    with pytest.raises(ConfigError, match="does not accept"):
        get_method("guidance", {"lam": 0.1})
    with pytest.raises(ValueError, match="input shape"):
        Searcher(SearchConfig(space="guidance", method="guidance", dataset="digits", data_limit=64, epochs=1))
    with pytest.raises(ValueError, match="quantity"):
        CosineRule(quantity="cos")
    assert GuidanceSpace(steps=10).fingerprint() != GuidanceSpace().fingerprint()
    assert GuidanceSpace(scale=3.0).fingerprint() != GuidanceSpace().fingerprint()
    concrete = get_method("guidance", {"relaxation": "concrete", "tau": 0.5})
    ctx = StepContext(model=GuidedSamplerNet(TINY, _untrained()), relaxation=concrete.relaxation,
                      generator=torch.Generator().manual_seed(0))
    w, _ = ctx.mixing_weights()
    assert torch.allclose(w["steps"].sum(1), torch.ones(5)) and not torch.allclose(w["steps"], torch.full((5, 2), .5))


def test_policy_and_trajectory_figures_show_what_they_are_given():
    pytest.importorskip("plotly")
    from widgets.figures.guidance import THRESHOLD, policy_bars, trajectories

    learned, cut = np.linspace(1, 0, 6), cutoff_gates(6, 2).numpy()
    fig = policy_bars({"learned": learned, "cut-off": cut})
    assert [t.name for t in fig.data] == ["learned", "cut-off", THRESHOLD]
    np.testing.assert_allclose(fig.data[0].y, learned)
    assert list(fig.data[0].x) == ["1", "2", "3", "4", "5", "6"]
    with pytest.raises(ValueError, match="one value per sampling step"):
        policy_bars({"a": learned, "b": learned[:3]})
    paths = np.random.default_rng(0).normal(size=(7, 10, 2))
    classes = np.arange(10) % 4
    fig = trajectories({"CFG": paths, "learned": paths}, classes, np.eye(4, 2))
    ends = [t for t in fig.data if t.name == "class 1 sample"]
    assert len(ends) == 2 and np.allclose(ends[0].x, paths[-1, classes == 1, 0])

"""GTN (Such et al., ICML 2020; SEEDS_2 §9.5): the oracles of the meta-gradient, the curriculum, weight norm and
Spearman's rho, and the ``gtn`` method run through the searcher, a run folder and a resume.

The claims (GTN data beats real data at equal steps; the GTN-NAS ranking) are fixed-seed searches: they are
asserted in the lesson part (``notebooks/_part_gtn.py``), not here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.errors import ConfigError
from workbench.gtn import (
    Curriculum,
    LearnerArch,
    curriculum_labels,
    init_learner,
    learner_forward,
    unroll,
    wn_weight,
)
from workbench.gtn.data import digits_std
from workbench.gtn.nas import gtn_proxy, rankdata, spearman
from workbench.methods.context import StepContext
from workbench.methods.gtn import MetaGradient
from workbench.methods.relax import Softmax
from workbench.spaces.gtn_teacher import GtnConfig, TeacherSpace
from workbench.tasks import TaskInfo, get_objective
from workbench.tasks.data import load_dataset

D = torch.float64


def test_learned_lr_and_momentum_hypergradients_match_their_closed_forms():
    """Inner loss (theta - a)^2 / 2, meta-loss (theta_T - b)^2 / 2 (SEEDS_2 §9.5, oracle 1)."""
    a, b, theta0 = 0.7, -0.4, 1.9
    lrs = torch.tensor([0.3, 0.2], dtype=D, requires_grad=True)
    mus = torch.tensor([0.5, 0.8], dtype=D, requires_grad=True)
    th0 = torch.tensor(theta0, dtype=D, requires_grad=True)
    traj = unroll({"theta": th0}, lambda t, p: 0.5 * (p["theta"] - a) ** 2, lrs[:1], mus[:1])
    theta1 = traj[-1]["theta"]
    (d_lr,) = torch.autograd.grad(0.5 * (theta1 - b) ** 2, lrs)
    # one step: theta_1 = theta_0 - eta (theta_0 - a), so dL/d eta = -(theta_1 - b)(theta_0 - a)
    assert float(d_lr[0]) == pytest.approx(-(theta1.item() - b) * (theta0 - a), abs=1e-6)
    # two steps: m_2 = mu_1 g_0 + g_1, theta_2 = theta_1 - eta_1 m_2, so dL/d mu_1 = -(theta_2 - b) eta_1 g_0
    traj = unroll({"theta": th0}, lambda t, p: 0.5 * (p["theta"] - a) ** 2, lrs, mus)
    theta2 = traj[-1]["theta"]
    d_lr, d_mu = torch.autograd.grad(0.5 * (theta2 - b) ** 2, [lrs, mus])
    assert float(d_mu[1]) == pytest.approx(-(theta2.item() - b) * 0.2 * (theta0 - a), abs=1e-6)
    assert float(d_mu[0]) == 0.0  # mu_0 multiplies m_0 = 0


def test_unrolled_meta_gradient_matches_central_differences_on_a_linear_learner():
    """Linear regression learner, 3 inner steps: d meta / d one synthetic pixel vs central differences (oracle 2)."""
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(3, 5, 4, generator=g, dtype=D, requires_grad=True)  # synthetic inputs: 3 steps x 5 x 4
    ys = torch.randn(3, 5, generator=g, dtype=D)
    xr, yr = torch.randn(8, 4, generator=g, dtype=D), torch.randn(8, generator=g, dtype=D)
    lrs, mus = torch.tensor([0.1, 0.2, 0.15], dtype=D), torch.tensor([0.5, 0.7, 0.9], dtype=D)

    def meta(x: torch.Tensor) -> torch.Tensor:
        w0 = torch.zeros(4, dtype=D, requires_grad=True)
        traj = unroll({"w": w0}, lambda t, p: ((x[t] @ p["w"] - ys[t]) ** 2).mean(), lrs, mus)
        return ((xr @ traj[-1]["w"] - yr) ** 2).mean()

    (grad,) = torch.autograd.grad(meta(xs), xs)
    eps = 1e-3
    for idx in [(0, 2, 1), (1, 0, 3), (2, 4, 0)]:
        plus, minus = xs.detach().clone(), xs.detach().clone()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (meta(plus).item() - meta(minus).item()) / (2 * eps)
        assert float(grad[idx]) == pytest.approx(fd, rel=1e-4, abs=1e-10)


def _tiny_teacher(steps: int = 3, batch: int = 4, **cfg) -> tuple[torch.nn.Module, StepContext]:
    space = TeacherSpace("gtn-tiny", steps=steps, batch=batch, n_classes=3)
    torch.manual_seed(0)
    teacher = space.build_supernet(TaskInfo((1, 2, 3), 3), GtnConfig(z_dim=2, hidden=5, **cfg)).double()
    g = torch.Generator().manual_seed(1)
    xv, yv = torch.randn(7, 1, 2, 3, generator=g, dtype=D), torch.randint(0, 3, (7,), generator=g)
    return teacher, _context(teacher, (xv, yv))


def _context(teacher: torch.nn.Module, batch_v: tuple[torch.Tensor, torch.Tensor]) -> StepContext:
    return StepContext(generator=torch.Generator().manual_seed(5), model=teacher,
                       objective=get_objective("cross_entropy"), relaxation=Softmax(),
                       arch_params=teacher.arch_parameters(), batch_v=batch_v)


def test_teacher_meta_gradient_matches_central_differences():
    """The ``gtn`` method's arch gradient (generator weight, curriculum z, log lr, log momentum, label logits) vs
    central differences of the meta-loss, float64, same fresh learner each time (oracle 2 on the real thing)."""
    teacher, ctx = _tiny_teacher(learn_labels=True)
    slot = MetaGradient(widths=(5,), intermediate_every=1)
    res = slot(ctx)
    params = teacher.arch_parameters()
    names = {id(p): n for n, p in teacher.named_parameters()}
    checked = 0
    for p, grad in zip(params, res.grads, strict=True):
        name = names[id(p)]
        idx = (1, 2, 0) if name == "curriculum.z" else (min(1, p.shape[0] - 1),) + (0,) * (p.dim() - 1)
        if name not in ("generator.hidden.weight", "curriculum.z", "log_lr", "log_momentum", "alphas.labels"):
            continue
        losses = []
        for sign in (1, -1):
            with torch.no_grad():
                p[idx] += sign * 1e-5
            losses.append(float(_full_meta(teacher, ctx.batch_v, slot)))
            with torch.no_grad():
                p[idx] -= sign * 1e-5
        fd = (losses[0] - losses[1]) / 2e-5
        assert float(grad[idx]) == pytest.approx(fd, rel=1e-4, abs=1e-9), name
        checked += 1
    assert checked == 5


def _full_meta(teacher: torch.nn.Module, batch_v, slot: MetaGradient) -> torch.Tensor:
    """The meta-loss the slot differentiates (final + intermediate losses), recomputed with the same draws."""
    ctx = _context(teacher, batch_v)
    i = int(torch.randint(len(slot.widths), (1,), generator=ctx.generator))
    arch = LearnerArch((slot.widths[i],))
    with torch.enable_grad():
        traj = teacher.teach(teacher.fresh_learner(arch, ctx.generator), arch, ctx.mixing_weights()[0]["labels"])
    xv, yv = batch_v
    return sum(F.cross_entropy(learner_forward(arch, traj[t], xv), yv) for t in range(1, len(traj))).detach()


def test_zero_learning_rates_leave_the_learner_unchanged_and_the_meta_gradient_zero():
    teacher, ctx = _tiny_teacher()
    with torch.no_grad():
        teacher.log_lr.fill_(-math.inf)  # eta_t = exp(-inf) = 0 exactly
    arch = LearnerArch((5,))
    theta0 = teacher.fresh_learner(arch, torch.Generator().manual_seed(3))
    traj = teacher.teach(theta0, arch)
    assert all(torch.equal(traj[-1][k], theta0[k]) for k in theta0)
    res = MetaGradient(widths=(5,))(ctx)
    gen = [*teacher.generator.parameters(), teacher.curriculum.z]
    by_id = {id(p): g for p, g in zip(teacher.arch_parameters(), res.grads, strict=True)}
    assert all(torch.count_nonzero(by_id[id(p)]) == 0 for p in gen)
    assert torch.isfinite(torch.cat([g.reshape(-1) for g in res.grads])).all()


def test_curriculum_indexing_labels_and_reversal():
    assert curriculum_labels(3, 4, 5).tolist() == [[0, 1, 2, 3], [4, 0, 1, 2], [3, 4, 0, 1]]
    c = Curriculum(steps=3, batch=4, z_dim=2, n_classes=5)
    for t in range(3):
        z, labels = c[t]
        assert torch.equal(z, c.z[t]) and labels.tolist() == [(t * 4 + b) % 5 for b in range(4)]
    r = Curriculum(steps=3, batch=4, z_dim=2, n_classes=5, reverse=True)
    assert [r.index(t) for t in range(3)] == [2, 1, 0] and torch.equal(r[0][0], r.z[2])
    with pytest.raises(IndexError, match="out of distribution"):
        c[3]
    teacher, _ = _tiny_teacher(reverse=True)
    x, y = teacher.synthetic_batch(0)
    assert torch.equal(x, teacher.generator(teacher.curriculum.z[2], teacher.curriculum.labels[2]))
    assert torch.equal(y.argmax(1), teacher.curriculum.labels[2])
    assert torch.allclose(y.sum(1), torch.ones(4, dtype=D)) and y.max(1).values.min().item() > 1 - 1e-4
    with pytest.raises(ValueError, match="out of distribution"):
        teacher.teach(teacher.fresh_learner(LearnerArch((3,))), LearnerArch((3,)), steps=4)


def test_weight_norm_layer_equals_a_plain_layer_with_the_normalised_weight():
    g = torch.Generator().manual_seed(0)
    arch = LearnerArch((6,), "tanh")
    p = init_learner(arch, 4, 3, g, dtype=D)
    assert torch.allclose(wn_weight(p["v0"], p["g0"]), p["v0"])  # g starts at ||v||: W = v at init
    with torch.no_grad():
        p["g0"].mul_(torch.linspace(0.5, 2.0, 6, dtype=D))
        p["v0"].mul_(3.0)
    x = torch.randn(5, 4, generator=g, dtype=D)
    w = p["g0"][:, None] * p["v0"] / p["v0"].norm(dim=1, keepdim=True)
    plain = torch.nn.Linear(4, 6).double()
    with torch.no_grad():
        plain.weight.copy_(w)
        plain.bias.copy_(p["b0"])
    h = torch.tanh(plain(x))
    expected = F.linear(h, wn_weight(p["v1"], p["g1"]), p["b1"])
    assert torch.allclose(learner_forward(arch, p, x), expected, atol=1e-12)


def test_spearman_uses_average_ranks_like_scipy():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    # by hand, with a tie: ranks [1, 2.5, 2.5, 4] and [2, 1, 4, 3]; centred products sum to 1.5, norms^2 4.5 and 5
    assert spearman([1, 2, 2, 3], [20, 10, 40, 30]) == pytest.approx(1.5 / math.sqrt(4.5 * 5), abs=1e-12)
    # without ties: the classic 1 - 6 sum(d^2) / (n (n^2 - 1)) on a random pairing
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    d = rankdata(a) - rankdata(b)
    assert spearman(a, b) == pytest.approx(1 - 6 * (d ** 2).sum() / (30 * (30 ** 2 - 1)), abs=1e-12)


def test_digits_std_standardises_every_pixel_and_keeps_the_split():
    plain, std = load_dataset("digits", seed=3), digits_std(seed=3)
    assert torch.equal(plain.y_train, std.y_train) and torch.equal(plain.y_test, std.y_test)
    x = std.x_train.flatten(1)
    varying = x.std(0) > 0
    assert torch.allclose(x.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(x.std(0)[varying], torch.ones(int(varying.sum())), atol=1e-4)
    grey = std.to_grey(std.x_train[:50]) * 16  # back to the shipped grey levels 0..16
    assert torch.allclose(grey, grey.round(), atol=1e-3)
    assert load_dataset("digits_std", seed=3).name == "digits_std"


def test_gtn_proxy_pairs_each_candidate_with_its_own_fresh_initialisation():
    teacher, _ = _tiny_teacher()
    archs = [LearnerArch((4,), "relu"), LearnerArch((3, 3), "sigmoid")]
    g = torch.Generator().manual_seed(0)
    select = (torch.randn(20, 1, 2, 3, generator=g, dtype=D), torch.randint(0, 3, (20,), generator=g))
    scores, seconds = gtn_proxy(teacher, archs, select, seed=2)
    for a, arch in enumerate(archs):
        taught = teacher.teach_fresh(arch, torch.Generator().manual_seed(2000 + a))  # regenerates the data
        acc = float((learner_forward(arch, taught, select[0]).argmax(1) == select[1]).double().mean())
        assert scores[a] == acc
    assert seconds > 0


def _search(**kw) -> Searcher:
    cfg = SearchConfig(space="gtn", method="gtn", dataset="digits_std", epochs=2, batch_size=64, data_limit=128,
                       seed=0, method_options=kw)
    return Searcher(cfg)


def test_gtn_method_runs_through_the_searcher_run_folder_and_resume(tmp_path):
    from workbench.runs import RunStore, load_run, resume

    full = _search()
    events = full.run()
    ev = events[-1]
    assert ev.lr == 0.0 and ev.arch_lr == pytest.approx(1e-2)  # weight step: nothing to train; meta Adam 1e-2
    assert not full.optimizer.state and math.isfinite(ev.train_loss)  # it only evaluated its batch: no SGD step
    assert {f"inner_lr_t{t}" for t in range(10)} <= set(ev.extras) and ev.extras["learner_width"] in (32, 64, 128)
    first = _search()
    z0 = first.model.curriculum.z.detach().clone()
    store = RunStore(tmp_path / "run", first)
    first.run(first.steps_per_epoch)
    store.close()
    assert not torch.equal(first.model.curriculum.z, z0)  # the curriculum was meta-trained
    resumed, store = resume(tmp_path / "run")
    resumed.run()
    store.close()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    run = load_run(tmp_path / "run")
    assert run.finished and len(run.history.scalar("val_accuracy")) == full.total_steps
    # the taught learner is what the teacher teaches a fresh width-64 learner: evaluate() reports its accuracy
    loss, metrics = full.evaluate()
    assert 0.0 <= metrics["accuracy"] <= 1.0 and math.isfinite(loss)


def test_gtn_method_refuses_other_spaces_and_bad_options():
    with pytest.raises(ConfigError, match="widths"):
        SearchConfig(space="gtn", method="gtn", method_options={"widths": []})
    with pytest.raises(ConfigError, match="gtn"):
        Searcher(SearchConfig(space="chain", method="gtn", epochs=1, data_limit=64))
    with pytest.raises(ValueError, match="n_classes"):
        TeacherSpace().build_supernet(TaskInfo((1, 8, 8), 3))


def test_samples_grid_places_every_tile_and_the_scatter_reports_rho():
    pytest.importorskip("plotly")
    from widgets.figures.gtn import mosaic, rank_scatter, samples_grid

    images = np.arange(3 * 4 * 2 * 2, dtype=float).reshape(3, 4, 2, 2)
    z = mosaic(images, 1, 2)
    assert z.shape == (3 * 4 - 2, 4 * 3 - 1)
    assert np.array_equal(z[4:6, 6:8], images[1, 2]) and np.isnan(z[2:4]).all()  # row gap 2 between steps
    fig = samples_grid(images, np.tile(np.arange(4), (3, 1)), per_step=3)
    heat = np.asarray(fig.data[0].z, dtype=float)[::-1]
    assert np.array_equal(heat[3:5, 3:5], images[1, 1])  # shared labels: one-pixel gaps, labels on top only
    assert [a.text for a in fig.layout.annotations] == ["0", "1", "2"]
    fig = rank_scatter([0.1, 0.5, 0.9], {"GTN": np.array([[0.2, 0.4, 0.8], [0.1, 0.5, 0.7]])},
                       rho={"GTN": [1.0, 1.0]}, seconds={"GTN": 0.25})
    assert fig.data[0].name == "GTN · ρ = 1.00 ± 0.00 · 0.25 s"
    assert np.allclose(fig.data[0].y, [0.15, 0.45, 0.75])

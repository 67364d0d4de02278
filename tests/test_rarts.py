"""RARTS (SEEDS_2 §2.5 oracles), run through the real Searcher: the analytic toy's closed-form fixed point, the
Gauss-Seidel order, the large-coupling limit (single-level joint training), passes per step against DARTS-V2,
and bit-exact resume with the second weight copy."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workbench import SearchConfig, Searcher
from workbench.methods import get_method
from workbench.methods.owned_state import owned, supernet_state
from workbench.methods.rarts import rarts
from workbench.methods.schedules import constant_lr
from workbench.spaces import ChoiceGroup, ChoiceSupernet, SearchSpace
from workbench.spaces.base import host_mask
from workbench.tasks import TaskInfo, TensorDataset

torch.set_num_threads(1)
C, ETA = 0.5, 0.2


# ----------------------------------------------------------------------------- the analytic toy (§2.5 a)
class ToySpace(SearchSpace):
    """One scalar weight w and one scalar architecture alpha: L_train = (w - alpha)^2 / 2,
    L_val = (w - 1)^2 / 2 + c alpha^2 / 2 (the example's flag x says which half it is from)."""

    name = "rarts_toy"

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        return (ChoiceGroup("a", ("alpha",), ("value", "unused"), ((True, True),)),)

    def build_supernet(self, task: TaskInfo, config=None) -> ChoiceSupernet:
        return ToyNet(self.choice_groups())

    def compile(self, arch, task, **options) -> nn.Module:  # pragma: no cover - not needed here
        raise NotImplementedError


class ToyNet(ChoiceSupernet):
    def __init__(self, groups) -> None:
        super().__init__(groups)
        self.w = nn.Parameter(torch.zeros((), dtype=torch.float64))
        with torch.no_grad():
            self.alphas["a"].zero_()
        self.double()

    def forward(self, x, weights, active=None):
        a, f = weights["a"][0, 0], x[:, 0]
        return torch.stack([self.w - (1 - f) * a - f, f * math.sqrt(C) * a], 1)  # MSE over 2 outputs halves it


def _identity(alpha, mask, ctx):
    return alpha, host_mask(mask)


def _toy(method_name: str = "rarts", steps: int = 400, eta: float = ETA, **options) -> Searcher:
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)  # first half: train, second: val (split by index)
    data = TensorDataset("rarts_toy", x, torch.zeros(2, 2, dtype=torch.float64), x, torch.zeros(2, 2),
                         n_outputs=2, default_objective="mse")
    method = get_method(method_name, options).with_options(
        relaxation=_identity, lr_schedule=constant_lr,
        arch_optimizer=lambda params, cfg: torch.optim.SGD(params, lr=cfg.arch_lr))
    cfg = SearchConfig(epochs=steps, batch_size=1, lr=eta, arch_lr=eta, momentum=0.0, weight_decay=0.0,
                       grad_clip=0.0, eval_each_epoch=False, seed=0)
    return Searcher(cfg, space=ToySpace(), dataset=data, method=method)


def _alpha(s: Searcher) -> float:
    return float(s.model.alphas["a"][0, 0].detach())


def _closed_form(lam: float, beta: float) -> float:
    return lam / (C + lam * (1 + C + C / beta))


@pytest.mark.parametrize(("lam", "beta"), [(1.0, 1.0), (2.0, 1.0), (1.0, 3.0)])
def test_toy_converges_to_the_closed_form_fixed_point(lam, beta):
    s = _toy(train_weight=lam, coupling=beta)
    s.run()
    assert _alpha(s) == pytest.approx(_closed_form(lam, beta), abs=1e-9)
    if (lam, beta) == (1.0, 1.0):
        assert _alpha(s) == pytest.approx(0.4, abs=1e-9)


def test_toy_darts_first_order_collapses_to_zero_and_rarts_tends_to_the_bilevel_answer():
    darts = _toy("darts-v1")
    darts.run()
    assert abs(_alpha(darts)) < 1e-6  # its gradient c*alpha ignores w's dependence on alpha
    big = _toy(train_weight=10.0, coupling=10.0, steps=1000, eta=0.05)
    big.run()  # alpha* -> 1/(1+c) = 0.667 as lambda and beta grow
    assert _alpha(big) == pytest.approx(_closed_form(10.0, 10.0), abs=1e-9) and _alpha(big) > 0.6


def test_one_sweep_is_gauss_seidel_with_the_newest_values():
    s = _toy(train_weight=1.0, coupling=1.0)
    s.run(3)

    def sweeps(n: int, newest: bool) -> tuple[float, float, float]:
        w = y = a = 0.0
        for _ in range(n):
            w_old, w = w, w - ETA * ((w - a) + (w - y))
            y = y - ETA * ((y - 1) + (y - (w if newest else w_old)))  # Gauss-Seidel: the new w
            a = a - ETA * (C * a - (w - a))
        return w, y, a

    w, y, a = sweeps(3, newest=True)
    assert float(s.model.w.detach()) == pytest.approx(w, abs=1e-12)
    assert float(owned(s.model, "rarts").y[0]) == pytest.approx(y, abs=1e-12)
    assert _alpha(s) == pytest.approx(a, abs=1e-12)
    assert abs(sweeps(3, newest=False)[1] - y) > 1e-3  # the order is visible


@pytest.mark.parametrize("beta", [3.0, 10.0])
def test_large_coupling_tends_to_single_level_training(beta):
    # beta = inf is y = w: the fixed point of single-level joint training on lambda L_train + L_val
    tied = _toy(coupling=math.inf, steps=300)
    tied.run()
    joint = 1.0 / (C + (1 + C))
    assert _alpha(tied) == pytest.approx(joint, abs=1e-9)
    s = _toy(coupling=beta, steps=1000, eta=0.05)
    s.run()
    assert _alpha(s) == pytest.approx(_closed_form(1.0, beta), abs=1e-6)
    assert abs(_alpha(s) - joint) < abs(0.4 - joint)  # closer to the single-level point than beta = 1


# ----------------------------------------------------------------------------- the supernet
def _search(method: str, **options) -> Searcher:
    cfg = SearchConfig(epochs=2, batch_size=32, data_limit=192, seed=0, method=method, method_options=options,
                       eval_each_epoch=False)
    return Searcher(cfg)


def test_infinite_coupling_is_one_single_level_joint_step():
    s, ref = _search("rarts", coupling=math.inf, train_weight=0.5), _search("darts-v1")
    s.step()
    # by hand on an identical supernet: one momentum-SGD step on 0.5 L_train + L_val, then Adam on alpha with
    # the gradient of L_val + 0.5 L_train at the new weights
    (xt, yt), (xv, yv) = ref.train_stream.next(), ref.val_stream.next()
    m, loss = ref.model, torch.nn.functional.cross_entropy
    with torch.no_grad():
        w, a = ref.mixing_weights()
    w = {k: t.detach() for k, t in w.items()}
    total = 0.5 * loss(m(xt, w, a), yt) + loss(m(xv, w, a), yv)
    grads = torch.autograd.grad(total, ref._weights)
    for p, g in zip(ref._weights, grads, strict=True):
        p.grad = g
    torch.nn.utils.clip_grad_norm_(ref._weights, ref.config.grad_clip)
    for g in ref.optimizer.param_groups:
        g["lr"] = ref.lr(0)
    ref.optimizer.step()
    arch = loss(m(xv, *ref.mixing_weights()), yv) + 0.5 * loss(m(xt, *ref.mixing_weights()), yt)
    for p, g in zip(ref.arch_params, torch.autograd.grad(arch, ref.arch_params), strict=True):
        p.grad = g
    ref.arch_optimizer.step()
    for (k, a1), b1 in zip(supernet_state(s.model).items(), supernet_state(ref.model).values(), strict=True):
        if "running" not in k:
            torch.testing.assert_close(a1, b1, atol=2e-6, rtol=1e-5, msg=k)


@pytest.mark.parametrize(("method", "options", "passes"), [
    ("darts-v1", {}, 2), ("darts-v2", {}, 5), ("rarts", {}, 4), ("rarts", {"reuse_val_grad": True}, 3)])
def test_forward_backward_passes_per_step(method, options, passes):
    s = _search(method, **options)
    s.step()  # momentum buffers exist from now on
    calls = []
    handle = s.model.register_forward_pre_hook(lambda mod, args: calls.append(1))
    s.step()
    handle.remove()
    assert len(calls) == passes


def test_rarts_resumes_bit_for_bit_with_its_second_copy():
    full = _search("rarts")
    full.run()
    first = _search("rarts")
    first.run(3)
    resumed = _search("rarts")
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_the_two_copies_keep_separate_batchnorm_statistics_and_drift_apart():
    s = _search("rarts")
    copy = owned(s.model, "rarts")
    assert torch.equal(copy.y, copy.live_flat().detach())  # y starts equal to w
    events = s.run(3)
    assert events[-1].extras["rarts_gap"] > 0
    stats = copy.stats.views(copy.bn)
    live = dict(s.model.named_buffers())
    assert any(not torch.equal(stats[n], live[n]) for n in stats)


def test_rarts_options_are_checked():
    with pytest.raises(ValueError, match="coupling"):
        rarts(coupling=-1.0)
    with pytest.raises(ValueError, match="train_weight"):
        rarts(train_weight=0.0)

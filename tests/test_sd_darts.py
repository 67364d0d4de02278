"""SD-DARTS (SEEDS_2 §1.6 oracles): lambda = 0 is DARTS bit for bit, a pool equal to the student distils
nothing, voting arithmetic, the KD gradient in closed form, the snapshot schedule, and bit-exact resume."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.errors import ConfigError
from workbench.methods.distill import Distill, DistillSettings, kd_loss, pool_periods, vote
from workbench.methods.owned_state import owned, supernet_state

torch.set_num_threads(1)


def _search(method: str = "sd-darts", epochs: int = 3, **options) -> Searcher:
    cfg = SearchConfig(epochs=epochs, batch_size=32, data_limit=192, seed=0, method=method,
                       method_options=options, eval_each_epoch=False)
    return Searcher(cfg)


def _same_supernet(a: Searcher, b: Searcher) -> None:
    sa, sb = supernet_state(a.model, floating_only=False), supernet_state(b.model, floating_only=False)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("source", ["logit_cache", "snapshots"])
def test_distill_weight_zero_is_darts_bit_for_bit(source):
    darts, sd = _search("darts-v1"), _search(distill_weight=0.0, teacher_source=source)
    darts.run()
    events = sd.run()
    assert events[-1].extras["teachers"] >= 1  # the teachers were there and voted, with weight 0
    _same_supernet(darts, sd)


def test_distillation_changes_the_trajectory_once_teachers_exist():
    darts, sd = _search("darts-v1"), _search(distill_weight=0.5, teacher_source="snapshots")
    spe = darts.steps_per_epoch
    darts.run(spe)
    sd.run(spe)
    _same_supernet(darts, sd)  # the pool is empty for the first period: SD-DARTS equals DARTS
    darts.run(2)
    sd.run(2)
    assert not torch.equal(darts.model.alphas["cell"], sd.model.alphas["cell"])


def test_a_pool_equal_to_the_student_distils_nothing_and_scales_the_ce_by_one_minus_lambda():
    s = _search(distill_weight=0.3, teacher_source="snapshots", snapshot_every=1, teachers=2)
    pool = owned(s.model, "sd_darts")
    for period in range(3):
        pool.snapshot(s.model, period)  # every slot holds the current supernet
    ctx = s.context(True, s.train_stream.next(), s.val_stream.next(), 0.01)
    ctx = type(ctx)(**{**ctx.__dict__, "step": 2})
    x, y = ctx.batch_t
    s.model.eval()  # teachers run in eval mode: the student too, so it is the same function
    out = s.model(x, *ctx.mixing_weights()).detach().requires_grad_(True)
    term = Distill(DistillSettings(distill_weight=0.3, teacher_source="snapshots", snapshot_every=1, teachers=2))
    value = term(ctx, out, (x, y))
    kd = pool.last[0]
    assert float(kd) == pytest.approx(0.0, abs=1e-6) and int(pool.last[2]) == 2
    (g,) = torch.autograd.grad(value, out)
    (g_ce,) = torch.autograd.grad(-0.3 * F.cross_entropy(out, y), out)
    torch.testing.assert_close(g, g_ce, atol=1e-7, rtol=0)  # CE + term = (1 - lambda) CE
    torch.testing.assert_close(value, -0.3 * F.cross_entropy(out, y), atol=1e-6, rtol=0)


def test_voting_arithmetic():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    T = 2.0
    soft = vote(torch.stack([z1, z2]), T, "soft")
    torch.testing.assert_close(soft, 0.5 * (torch.softmax(z1 / T, -1) + torch.softmax(z2 / T, -1)))
    a, b = torch.tensor([[5.0, 0, 0]]), torch.tensor([[0, 5.0, 0]])
    hard = vote(torch.stack([a, b, a]), T, "hard")  # 2 of 3 vote class 0
    assert hard.tolist() == [[1.0, 0.0, 0.0]]
    tie = vote(torch.stack([torch.tensor([[3.0, 2.9, 0]]), torch.tensor([[0, 9.0, 0]])]), T, "hard")
    assert tie.tolist() == [[0.0, 1.0, 0.0]]  # one vote each: the soft vote (class 1) breaks the tie
    weighted = vote(torch.stack([z1, z2]), T, "weighted", torch.tensor([3.0, 1.0]))
    torch.testing.assert_close(weighted, 0.75 * torch.softmax(z1 / T, -1) + 0.25 * torch.softmax(z2 / T, -1))


def test_kd_gradient_is_lambda_t_times_softmax_minus_vote_over_b():
    g = torch.Generator().manual_seed(1)
    B, C, T, lam = 6, 7, 3.0, 0.4
    z = torch.randn(B, C, generator=g, dtype=torch.float64, requires_grad=True)
    p_t = vote(torch.randn(3, B, C, generator=g, dtype=torch.float64), T)
    (grad,) = torch.autograd.grad(lam * kd_loss(z, p_t, T), z)
    torch.testing.assert_close(grad, lam * T * (torch.softmax(z.detach() / T, -1) - p_t) / B)
    assert float(kd_loss(z.detach(), torch.softmax(z.detach() / T, -1), T)) == pytest.approx(0.0, abs=1e-12)


def test_pool_holds_the_k_most_recent_snapshots_none_younger_than_delta():
    delta = 2
    s = _search(teacher_source="snapshots", snapshot_every=delta, teachers=3, epochs=4)
    assert s.total_steps >= 5 * delta + 1
    s.run(5 * delta + 1)  # the weight step at s = 5Δ uses the pool
    assert pool_periods(s.model, 5, 3) == [2, 3, 4]  # snapshots of steps 2Δ, 3Δ, 4Δ
    early = _search(teacher_source="snapshots", snapshot_every=delta, teachers=3, epochs=4)
    early.run(delta)
    assert pool_periods(early.model, 0, 3) == []  # empty for the first Δ steps
    early.run(1)
    assert pool_periods(early.model, 1, 3) == [0]


@pytest.mark.parametrize("source", ["logit_cache", "snapshots"])
def test_resume_is_bit_for_bit(source):
    full = _search(teacher_source=source, voting="weighted")
    full.run()
    first = _search(teacher_source=source, voting="weighted")
    first.run(first.steps_per_epoch + 2)
    state = first.state_dict()
    resumed = _search(teacher_source=source, voting="weighted")
    resumed.load_state_dict(state)
    resumed.run()
    _same_supernet(full, resumed)
    for a, b in zip(full.model.method_state.state_dict().values(), resumed.model.method_state.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_a_failed_step_leaves_the_teacher_state_as_it_was():
    s = _search(teacher_source="logit_cache")
    s.run(s.steps_per_epoch + 1)
    before = {k: v.clone() for k, v in s.model.method_state.state_dict().items()}
    s._undo.save()
    s.run(1)
    s._undo.restore()
    for k, v in s.model.method_state.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_options_are_checked():
    with pytest.raises(ConfigError, match="teacher_source='snapshots'"):
        _search(distill_in="arch")
    with pytest.raises(ConfigError, match="distill_weight"):
        _search(distill_weight=1.5)
    s = _search(cache_size=8)
    with pytest.raises(RuntimeError, match="cache_size"):
        s.step()


def test_distillation_in_the_arch_step_adds_its_term_to_the_extras():
    s = _search(teacher_source="snapshots", distill_in="both", snapshot_every=1)
    events = s.run(3)
    assert "kd_arch" in events[-1].extras and events[-1].extras["teachers"] >= 1

"""FBNet and ProxylessNAS on the chain space: the oracles of SEEDS_2.md §4.5 that the slots make testable."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench import SearchConfig, Searcher, get_method
from workbench.methods.context import StepContext
from workbench.methods.hardware import (
    FbnetTau,
    binary_gate_gradient,
    fbnet_gradient,
    sample_one_hot,
)
from workbench.methods.relax import GumbelSoft
from workbench.spaces import get_space
from workbench.spaces.chain.costs import (
    block_cost_model,
    flops_table,
    layer_inputs,
    load_latency,
    params_table,
)


def _expectation_grad(alpha: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    a = alpha.clone().requires_grad_(True)
    g, = torch.autograd.grad((torch.softmax(a, -1) * losses).sum(), a)
    return g


@pytest.mark.parametrize("n", [2, 3])
def test_binary_gate_estimator_is_exact_for_a_linear_loss_and_biased_for_a_quadratic_one(n):
    torch.manual_seed(n)
    alpha = torch.randn(n, dtype=torch.float64)
    p = torch.softmax(alpha, -1)
    outs = torch.randn(n, 5, dtype=torch.float64)  # o_j(x) of each path
    c = torch.randn(5, dtype=torch.float64)
    # linear loss L(out) = <c, out>: dL/dg_j = <c, o_j> whatever path was sampled
    for sampled in range(n):
        g = torch.zeros(n, dtype=torch.float64)
        g[sampled] = 1
        g.requires_grad_(True)
        grad_g, = torch.autograd.grad((c * (g[:, None] * outs).sum(0)).sum(), g)
        est = binary_gate_gradient(grad_g, p)
        assert torch.allclose(est, _expectation_grad(alpha, outs @ c), atol=1e-12)
    # quadratic loss L(out) = |out|^2: the estimator's expectation over the sampled path is not the exact gradient
    expected_est = torch.zeros(n, dtype=torch.float64)
    for sampled in range(n):
        g = torch.zeros(n, dtype=torch.float64)
        g[sampled] = 1
        g.requires_grad_(True)
        grad_g, = torch.autograd.grad(((g[:, None] * outs).sum(0) ** 2).sum(), g)
        expected_est += p[sampled] * binary_gate_gradient(grad_g, p)
    exact = _expectation_grad(alpha, (outs ** 2).sum(1))
    assert not torch.allclose(expected_est, exact, atol=1e-3)  # the documented bias


def test_gumbel_max_sampling_frequencies_match_p():
    p = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64).repeat(20000, 1)
    freq = sample_one_hot(p, torch.Generator().manual_seed(0)).mean(0)
    assert torch.allclose(freq, p[0], atol=0.01)


def test_fbnet_temperature_and_the_soft_sample_limit():
    tau = FbnetTau()
    assert [tau(t, 100) for t in (0, 1, 10, 80)] == pytest.approx([5.0, 4.78, 3.1881, 0.1366], abs=2e-4)
    assert FbnetTau(start_epoch=10)(5, 100) == 5.0  # constant during the weights-only warm-up
    alpha = torch.randn(2000, 7)
    mask = torch.ones(2000, 7, dtype=torch.bool)
    w, active = GumbelSoft(lambda e, n: 0.01)(alpha, mask, StepContext(generator=torch.Generator().manual_seed(1)))
    assert float(w.max(-1).values.mean()) > 0.99 and active.all()  # soft, but one-hot as tau -> 0


def test_fbnet_gradient_is_the_gradient_of_its_loss_under_the_same_sample():
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method="fbnet", epochs=1, batch_size=16, data_limit=64, seed=0))
    cost = block_cost_model(s.space, s.task.info.input_shape, "params")
    ctx = s.context(True, s.train_stream.next(), s.val_stream.next(), 0.025)
    state = s.generator.get_state()
    for form, beta in (("paper", 0.6), ("log_power", 0.6), ("paper", 0.0)):
        s.generator.set_state(state)
        res = fbnet_gradient(ctx, cost=cost, alpha=0.2, beta=beta, form=form)
        s.generator.set_state(state)  # replay the same Gumbel noise by hand
        w, a = ctx.mixing_weights()
        xv, yv = ctx.batch_v
        ce = torch.nn.functional.cross_entropy(s.model(xv, w, a), yv)
        lat = (w["layers"] * torch.as_tensor(cost.costs["layers"], dtype=w["layers"].dtype)).sum()
        loss = 0.2 * ce * (torch.log(lat) ** beta if form == "paper" else beta * torch.log(lat))
        ref, = torch.autograd.grad(loss, [s.model.alphas["layers"]])
        assert torch.allclose(res.grads[0], ref, atol=1e-6), form
        assert res.extras["expected_cost"] == pytest.approx(float(lat.detach()))
    with pytest.raises(ValueError, match=r"log\(LAT / reference\) > 0"):
        fbnet_gradient(ctx, cost=cost, reference=1e6)
    with pytest.raises(ValueError, match="form must be one of paper, log_power"):
        get_method("fbnet", {"form": "exp"})


def test_proxylessnas_weight_step_trains_exactly_the_sampled_path():
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method="proxylessnas", epochs=2, batch_size=16, data_limit=64,
                              seed=0, method_options={"warmup_epochs": 1}))
    before = {n: p.detach().clone() for n, p in s.model.named_parameters()}
    s.step()  # warm-up: no architecture step, one weight step on one sampled path per layer
    for i, layer in enumerate(s.model.layers):
        changed = [b for b, m in layer.items()
                   if any(not torch.equal(before[f"layers.{i}.{b}.{n}"], p) for n, p in m.named_parameters())]
        assert len(changed) <= 1, (i, changed)  # exactly the sampled block (none if 'skip' was sampled)
    assert sum(bool(any(not torch.equal(before[f"layers.{i}.{b}.{n}"], p)
                        for b, m in layer.items() for n, p in m.named_parameters()))
               for i, layer in enumerate(s.model.layers)) >= 3


def test_proxylessnas_lambda_moves_the_expected_cost_down():
    torch.set_num_threads(1)
    cfg = SearchConfig(space="chain", method="proxylessnas", epochs=2, batch_size=32, data_limit=128, seed=0,
                       arch_lr=0.05, method_options={"warmup_epochs": 0, "lam": 1.0})
    s = Searcher(cfg)
    ev = s.run()
    costs = [e.extras["expected_cost"] for e in ev]
    assert costs[-1] < costs[0] and all(b <= a + 1e-6 for a, b in zip(costs, costs[1:], strict=False))
    cheap = s.probabilities()["layers"][:, -1]  # skip, where legal, costs nothing
    assert cheap[[0, 1, 3, 5]].min() > 1 / 7


def test_cost_tables_of_the_chain():
    space = get_space("chain")
    assert layer_inputs(space, (1, 8, 8)) == [(16, 8, 8), (16, 8, 8), (16, 8, 8), (24, 4, 4), (24, 4, 4),
                                              (32, 2, 2)]
    p, f = params_table(space), flops_table(space, (1, 8, 8))
    assert (p[:, -1] == 0).all() and (f[:, -1] == 0).all()  # skip computes nothing
    # k3_e6 at layer 0 (16 -> 16): expand 16*96 + BN 2*96 + dw 96*9 + BN 2*96 + project 96*16 + BN 2*16
    assert p[0, 2] * 1e3 == 16 * 96 + 2 * 96 + 96 * 9 + 2 * 96 + 96 * 16 + 2 * 16
    assert f[0, 2] > f[0, 1] > f[0, 0] and f[0, 5] > f[0, 2]  # wider and larger kernels cost more
    assert f[2, 2] < f[1, 2]  # stride 2 halves the output resolution


def test_a_latency_table_for_another_space_names_the_missing_shapes(tmp_path):
    space = get_space("chain")
    other = space.with_ops(remove=["k5_e6"])
    g, = other.choice_groups()
    table = {"format": "workbench-latency-table/1", "space": "chain", "rows": list(g.rows),
             "options": list(g.options), "table": np.ones(g.shape).tolist(), "unit": "ms"}
    (tmp_path / "t.json").write_text(__import__("json").dumps(table))
    assert math.isclose(load_latency(tmp_path / "t.json", other).minimum(), 6.0)
    with pytest.raises(ValueError, match="needs layers .* and blocks"):
        load_latency(tmp_path / "t.json", space)
    with pytest.raises(ValueError, match="not a workbench latency table"):
        (tmp_path / "u.json").write_text("{}")
        load_latency(tmp_path / "u.json", space)


# ------------------------------------------------------------------------ oracles added with the 'two' mode, full_v2,
# mul#log and budgets (SEEDS_2.md §4.5)
def test_the_expected_latency_gradient_matches_autograd():
    from workbench.methods.costs import CostModel
    from workbench.spaces.base import masked_softmax
    torch.manual_seed(0)
    F_ = torch.rand(6, 7, dtype=torch.float64) * 3
    mask = torch.ones(6, 7, dtype=torch.bool)
    mask[[2, 4], -1] = False  # 'skip' is illegal there
    F_[~mask] = 0
    alpha = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    e = CostModel({"layers": F_.numpy()}).expected({"layers": masked_softmax(alpha, mask)})
    g, = torch.autograd.grad(e, alpha)
    p = masked_softmax(alpha, mask).detach()
    closed = torch.einsum("ri,ri,rij->rj", F_, p, torch.eye(7, dtype=torch.float64)[None] - p[:, None, :])
    assert torch.allclose(g, closed, atol=1e-12)  # dE/dalpha_j = sum_i F_i p_i (delta_ij - p_j)
    assert torch.allclose(g, p * (F_ - (p * F_).sum(-1, keepdim=True)), atol=1e-12)


def test_two_mode_pairs_are_drawn_without_replacement_and_the_active_one_from_the_pair_softmax():
    from workbench.methods.proxyless import sample_pairs
    p = torch.tensor([0.4, 0.3, 0.2, 0.1, 0.0], dtype=torch.float64)
    alpha = torch.log(p.clamp_min(1e-300)).repeat(20000, 1)
    mask = (p > 0).repeat(20000, 1)
    pair, gates, p_pair = sample_pairs(alpha, mask, torch.Generator().manual_seed(0))
    assert (pair.sum(1) == 2).all() and not pair[:, 4].any() and (gates.sum(1) == 1).all()
    assert (gates.bool() <= pair).all() and torch.allclose(p_pair.sum(1), torch.ones(20000, dtype=torch.float64))
    n = 4
    in_pair = [float(p[k] + sum(p[j] * p[k] / (1 - p[j]) for j in range(n) if j != k)) for k in range(n)]
    both = {(a, b): float(p[a] * p[b] / (1 - p[a]) + p[b] * p[a] / (1 - p[b])) for a in range(n) for b in range(n)
            if a < b}
    active = [sum(q * float(p[k] / (p[k] + p[b if a == k else a])) for (a, b), q in both.items() if k in (a, b))
              for k in range(n)]
    assert torch.allclose(pair.double().mean(0)[:n], torch.tensor(in_pair, dtype=torch.float64), atol=0.01)
    assert torch.allclose(gates.mean(0)[:n], torch.tensor(active, dtype=torch.float64), atol=0.01)


def test_two_mode_rescale_leaves_the_unsampled_probabilities_unchanged():
    from workbench.methods.proxyless import PairRescaleAdam
    torch.manual_seed(0)
    alpha = torch.nn.Parameter(torch.randn(6, 7))
    opt = PairRescaleAdam([alpha], lr=0.1, betas=(0.5, 0.999), weight_decay=1e-3)  # momentum and decay: restored
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        pair = torch.zeros(6, 7, dtype=torch.bool)
        for r in range(5):  # row 5 gets no gradient this step
            pair[r, torch.randperm(7, generator=gen)[:2]] = True
        before = torch.softmax(alpha.detach().double(), -1)
        alpha.grad = torch.where(pair, torch.randn(6, 7, generator=gen), torch.zeros(6, 7))
        opt.step()
        after = torch.softmax(alpha.detach().double(), -1)
        assert (after - before)[~pair].abs().max() < 1e-7
        assert (after - before)[pair].abs().max() > 1e-4  # the pair did move
        assert torch.equal(after[5], before[5])


def test_proxylessnas_two_mode_search_moves_at_most_a_pair_per_layer_and_keeps_the_rest():
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method="proxylessnas", epochs=2, batch_size=16, data_limit=96, seed=0,
                              arch_lr=0.05, method_options={"warmup_epochs": 0, "mode": "two"}))
    for _ in range(4):
        a0, p0 = s.model.alphas["layers"].detach().clone(), s.probabilities()["layers"]
        s.step()
        moved = s.model.alphas["layers"].detach() != a0
        assert (moved.sum(1) <= 2).all() and moved.any()
        p1 = s.probabilities()["layers"]
        assert np.abs(p1 - p0)[~moved.numpy()].max() < 1e-7


def _replay(s, method, state):
    s.generator.set_state(state)
    ctx = s.context(True, s._batch_t, s._batch_v, 0.025)
    return method.arch_gradient(ctx)


def test_full_v2_gives_the_full_mode_gradient_running_one_path_forward():
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=16, data_limit=64, seed=0))
    s._batch_t, s._batch_v = s.train_stream.next(), s.val_stream.next()
    state = s.generator.get_state()
    bn = {k: v.clone() for k, v in s.model.state_dict().items()}
    full = _replay(s, get_method("proxylessnas", {"mode": "full"}), state)
    bn_full = {k: v.clone() for k, v in s.model.state_dict().items()}
    s.model.load_state_dict(bn)
    v2 = _replay(s, get_method("proxylessnas", {"mode": "full_v2"}), state)
    assert torch.allclose(full.grads[0], v2.grads[0], atol=1e-6) and full.grads[0].abs().sum() > 0
    assert torch.allclose(full.val_output, v2.val_output, atol=1e-6)
    for k, v in s.model.state_dict().items():  # every candidate saw the same input once: same BN statistics
        assert torch.allclose(v.float(), bn_full[k].float(), atol=1e-6), k


def test_mul_log_is_the_gradient_of_its_loss_with_the_binary_gate_estimator():
    from workbench.methods.proxyless import binary_gate_gradient, sample_one_hot
    from workbench.spaces.base import masked_softmax
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=16, data_limit=64, seed=0))
    s._batch_t, s._batch_v = s.train_stream.next(), s.val_stream.next()
    state = s.generator.get_state()
    method = get_method("proxylessnas", {"loss": "mul#log", "mode": "full", "reference": 20.0, "beta_r": 0.6})
    assert method.arch_loss_terms == ()  # the cost is inside the multiplicative loss
    res = _replay(s, method, state)
    s.generator.set_state(state)  # the same gates, by hand
    alpha, mask = s.model.alphas["layers"], s.model.op_mask("layers")
    p = masked_softmax(alpha, mask)
    gates = sample_one_hot(p, s.generator).requires_grad_(True)
    ce = torch.nn.functional.cross_entropy(s.model(s._batch_v[0], {"layers": gates}, {"layers": mask.numpy()}),
                                           s._batch_v[1])
    cost = block_cost_model(s.space, s.task.info.input_shape, "params")
    e = (p * torch.as_tensor(cost.costs["layers"], dtype=p.dtype)).sum()
    loss = 0.2 * ce * (torch.log(e) / math.log(20.0)) ** 0.6
    gg, direct = torch.autograd.grad(loss, [gates, alpha])
    assert torch.allclose(res.grads[0], binary_gate_gradient(gg, p.detach()) + direct, atol=1e-6)
    assert float(res.extras["expected_cost"]) == pytest.approx(float(e.detach()))


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for the backward pass while ``fn`` runs (activation memory)."""
    seen: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_proxylessnas_full_v2_memory_stays_one_path_as_candidates_grow_while_fbnet_grows():
    torch.set_num_threads(1)
    from workbench.spaces.chain.space import ChainSpace, chain_choices
    mem = {}
    for blocks in (("k3_e3", "k5_e6", "skip"), ("k3_e1", "k3_e3", "k3_e6", "k5_e1", "k5_e3", "k5_e6", "skip")):
        space = ChainSpace(blocks=blocks)
        for m in ("proxylessnas", "fbnet"):
            s = Searcher(SearchConfig(space="chain", method=m, epochs=1, batch_size=32, data_limit=96, seed=0,
                                      method_options={"warmup_epochs": 0}), space=space)
            ctx = s.context(True, s.train_stream.next(), s.val_stream.next(), 0.025)
            mem[m, len(blocks)] = _saved_bytes(lambda s=s, ctx=ctx: s.method.arch_gradient(ctx))
    net = space.compile(chain_choices(space, ["k5_e6"] * 6), s.task.info)
    x, y = s.val_stream.next()
    one_path = _saved_bytes(lambda: torch.nn.functional.cross_entropy(net(x), y).backward())
    assert mem["proxylessnas", 7] <= 1.5 * one_path and mem["proxylessnas", 7] <= 1.2 * mem["proxylessnas", 3]
    assert mem["fbnet", 7] > 1.8 * mem["fbnet", 3] and mem["fbnet", 7] > 3 * one_path


def test_budgets_below_the_cheapest_architecture_are_refused_naming_the_minimum():
    torch.set_num_threads(1)
    for m in ("proxylessnas", "fbnet"):
        with pytest.raises(ValueError, match=r"budget 0\.5 K params is below the cheapest architecture's params "
                                             r"\(\d+\.\d+ K params\); choose a budget >= that"):
            Searcher(SearchConfig(space="chain", method=m, epochs=1, data_limit=64,
                                  method_options={"budget": 0.5}))
    with pytest.raises(ValueError, match="mode must be one of full, full_v2, two"):
        get_method("proxylessnas", {"mode": "one"})
    with pytest.raises(ValueError, match="loss must be one of add, mul#log"):
        get_method("proxylessnas", {"loss": "mul"})

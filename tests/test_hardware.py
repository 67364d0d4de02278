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

"""The method slots later systems plug into, each tested with a toy: cost terms, weight-loss terms, the
architecture optimizer, which tensors are the architecture, and a controller that runs inside step()."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import Searcher
from workbench.events import RunFinished
from workbench.methods import ArchCostTerm, CostModel, StepContext, get_method, register_method
from workbench.spaces import get_space


def _toy_costs(cheap: str = "skip_connect") -> CostModel:
    space = get_space("toy")
    g, = space.choice_groups()
    costs = np.array([[0.1 if o == cheap else 1.0 + i for i, o in enumerate(g.options)] for _ in g.rows])
    return CostModel({"cell": costs}, unit="ms", name="latency")


def test_expected_cost_and_its_gradient_match_the_closed_form():
    cm = _toy_costs()
    alpha = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(alpha, -1)
    e = cm.expected({"cell": p})
    c = torch.as_tensor(cm.costs["cell"])
    assert float(e.detach()) == pytest.approx(float((p * c).sum().detach()))
    g, = torch.autograd.grad(e, alpha)
    # d/dalpha_k sum_j p_j c_j = p_k (c_k - sum_j p_j c_j), row by row
    ref = p * (c - (p * c).sum(-1, keepdim=True))
    assert torch.allclose(g, ref.detach(), atol=1e-12)
    assert cm.of({"cell": np.array([1, 1, 1])}) == pytest.approx(0.3)  # skip_connect is option 1 of the toy space
    assert cm.minimum() == pytest.approx(0.3)


def test_bad_cost_tables_and_budgets_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="rows x options"):
        CostModel({"cell": np.ones(4)})
    with pytest.raises(ValueError, match="finite and >= 0"):
        CostModel({"cell": -np.ones((3, 4))})
    with pytest.raises(ValueError, match=r"below the cheapest architecture's latency \(0.3 ms\)"):
        ArchCostTerm(_toy_costs(), budget=0.1)
    with pytest.raises(ValueError, match="the group is"):
        _toy_costs().expected({"cell": torch.ones(2, 4)})


def test_a_cost_term_steers_the_architecture_to_the_cheap_op_and_is_reported():
    term = ArchCostTerm(_toy_costs("nor_conv_3x3"), weight=5.0)
    method = dataclasses.replace(get_method("darts-v1"), name="darts-cost", arch_loss_terms=(term,))
    s = Searcher(tiny_config(space="toy", arch_lr=0.05, epochs=2), method=method)
    events = s.run()
    assert all("arch_cost" in e.extras for e in events)
    assert events[-1].extras["arch_cost"] < events[0].extras["arch_cost"]  # the expected cost went down
    assert set(s.genotype().cell("cell").ops_used()) == {"nor_conv_3x3"}
    plain = Searcher(tiny_config(space="toy", arch_lr=0.05, epochs=2))
    plain.run()
    assert set(plain.genotype().cell("cell").ops_used()) != {"nor_conv_3x3"}  # without the term it does not


def test_a_zero_weight_loss_term_is_bit_identical_and_a_real_one_sees_the_output():
    seen = []

    @dataclasses.dataclass(frozen=True)
    class L2Output:
        weight: float
        name: str = "l2_output"

        def __call__(self, ctx: StepContext, output: torch.Tensor, batch) -> torch.Tensor:
            seen.append((ctx.step, tuple(output.shape), len(batch[1])))
            return self.weight * (output ** 2).mean()

    base = get_method("darts-v1")
    a = Searcher(tiny_config(), method=dataclasses.replace(base, weight_loss_terms=(L2Output(0.0),)))
    b = Searcher(tiny_config())
    a.run(3), b.run(3)
    for (k, v), (_, w) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert seen[0] == (0, (a.config.batch_size, 10), a.config.batch_size)
    c = Searcher(tiny_config(), method=dataclasses.replace(base, weight_loss_terms=(L2Output(10.0),)))
    c.run(3)
    assert not torch.equal(c.model.classifier.weight, b.model.classifier.weight)


def test_the_arch_optimizer_slot_replaces_adam():
    def sgd(params, config):
        return torch.optim.SGD(params, lr=0.5)

    s = Searcher(tiny_config(), method=dataclasses.replace(get_method("darts-v1"), arch_optimizer=sgd))
    assert isinstance(s.arch_optimizer, torch.optim.SGD)
    before = s.model.alphas["cell"].detach().clone()
    captured = {}
    s.bus.subscribe(lambda ev: captured.setdefault("alphas", ev.alphas["cell"]))
    orig = s.method.arch_gradient

    def spy(ctx):
        res = orig(ctx)
        captured["grad"] = res.grads[0].detach().clone()
        return res

    s.method = dataclasses.replace(s.method, arch_gradient=spy)
    s.step()
    assert np.allclose(captured["alphas"], (before - 0.5 * captured["grad"]).numpy(), atol=1e-7)


def test_the_arch_parameters_slot_decides_what_the_architecture_is():
    """PC-DARTS with only the alphas as architecture: its edge betas become ordinary weights (SGD on train)."""
    m = get_method("pc-darts", {"K": 2, "warmup_epochs": 0})
    m = dataclasses.replace(m, arch_parameters=lambda model: list(model.alphas.values()))
    s = Searcher(tiny_config(space="nb201"), method=m)
    betas = list(s.model.betas.values())
    assert all(any(b is p for p in s._weights) for b in betas)
    assert not any(b is p for p in s.arch_params for b in betas)
    assert len(s.arch_optimizer.param_groups[0]["params"]) == len(s.model.alphas)
    b0 = betas[0].detach().clone()
    s.step()
    assert not torch.equal(b0, betas[0])  # trained by the weight optimizer now


def test_a_controller_runs_inside_every_step_and_can_stop_the_search():
    class StopAt:
        def __init__(self, searcher):
            self.calls = 0

        def after_step(self, searcher, event):
            self.calls += 1
            if event.step == 3:
                searcher.stop()

    register_method("darts-stop3", lambda: dataclasses.replace(get_method("darts-v1"), name="darts-stop3",
                                                                driver=StopAt))
    s = Searcher(tiny_config(method="darts-stop3", epochs=5))
    ends = []
    s.bus.subscribe(ends.append, kinds=(RunFinished,))
    events = s.run()
    assert len(events) == 3 and s.finished and s.controller.calls == 3
    assert len(ends) == 1 and ends[0].step == 3
    with pytest.raises(RuntimeError, match="finished"):
        s.step()


def test_the_weight_optimizer_is_a_slot():
    import dataclasses

    import pytest
    import torch
    from conftest import tiny_config

    from workbench import Searcher
    from workbench.methods import get_method

    s = Searcher(tiny_config(method="darts-v1"))
    assert isinstance(s.optimizer, torch.optim.SGD) and s.optimizer.defaults["momentum"] == s.config.momentum
    adamw = dataclasses.replace(get_method("darts-v1"), name="darts-v1-adamw",
                                weight_optimizer=lambda params, cfg: torch.optim.AdamW(params, lr=cfg.lr))
    s = Searcher(tiny_config(), method=adamw)
    assert isinstance(s.optimizer, torch.optim.AdamW)
    before = [p.detach().clone() for p in s._weights]
    s.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, s._weights))
    with pytest.raises(TypeError, match="weight_optimizer"):
        dataclasses.replace(adamw, weight_optimizer="adam")

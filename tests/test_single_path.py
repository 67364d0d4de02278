"""Single-Path NAS on the chain space: the oracles of SEEDS_2.md §4.5 (superkernel equivalences, the runtime
formula for all 8 indicator combinations), the supernet at a decision equals the compiled chain with inherited
weights, decoding, a search with its cost weight, and refusals."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.methods.costs import CostModel
from workbench.methods.single_path import RuntimeModel, runtime_model
from workbench.spaces import get_space
from workbench.spaces.chain.superkernel import (
    SuperkernelSupernet,
    child_state_dict,
    indicator,
    superkernel_plan,
    superkernel_weight,
)
from workbench.tasks import TaskInfo

TASK = TaskInfo((1, 8, 8), 10)


def _net(seed: int = 0) -> SuperkernelSupernet:
    torch.manual_seed(seed)
    space = get_space("chain")
    return space.build_supernet(TASK, space.supernet_config(None, superkernel=True))


def test_the_indicator_is_hard_forward_with_the_sigmoid_gradient_backward():
    x = torch.tensor([-2.0, -1e-6, 0.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    d = indicator(x)
    assert d.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # exactly 0/1: 1[x >= 0]
    g, = torch.autograd.grad(d.sum(), x)
    s = torch.sigmoid(x.detach())
    assert torch.allclose(g, s * (1 - s))  # d sigmoid / dx: the straight-through sigmoid surrogate


@pytest.mark.parametrize("stride", [1, 2])
def test_below_the_kernel_threshold_the_superkernel_is_the_central_3x3_kernel(stride):
    torch.manual_seed(stride)
    C = 12
    w, x = torch.randn(C, 1, 5, 5), torch.randn(2, C, 7, 7)
    ring = w.clone()
    ring[:, :, 1:4, 1:4] = 0
    t5 = ring.norm() + 0.1  # ||w_out|| < t5x5: the ring's L2 norm, not its square
    d5 = indicator(ring.norm() - t5)
    assert float(d5) == 0.0 and float(indicator(ring.norm() - ring.norm() ** 2)) == (ring.norm() >= ring.norm() ** 2)
    out = F.conv2d(x, superkernel_weight(w, 3, C // 2, d5, 1.0, 1.0), None, stride, 2, 1, C)
    ref = F.conv2d(x, w[:, :, 1:4, 1:4], None, stride, 1, 1, C)
    assert torch.allclose(out, ref, atol=1e-6)
    full = F.conv2d(x, superkernel_weight(w, 3, C // 2, 1.0, 1.0, 1.0), None, stride, 2, 1, C)
    assert torch.allclose(full, F.conv2d(x, w, None, stride, 2, 1, C))  # d5 = 1: the whole 5x5 kernel


def test_with_d100_zero_the_superkernel_is_the_conv_on_the_first_half_of_the_channels():
    torch.manual_seed(0)
    C = 12
    w, x = torch.randn(C, 1, 5, 5), torch.randn(2, C, 6, 6)
    out = F.conv2d(x, superkernel_weight(w, 3, C // 2, 1.0, 1.0, 0.0), None, 1, 2, 1, C)
    half = F.conv2d(x[:, :C // 2], w[:C // 2], None, 1, 2, 1, C // 2)
    assert torch.allclose(out[:, :C // 2], half, atol=1e-6) and (out[:, C // 2:] == 0).all()
    # per-channel linearity: multiplying a channel's kernel or its output by the indicator is the same map
    gate = torch.cat([torch.ones(C // 2), torch.zeros(C // 2)]).view(1, C, 1, 1)
    assert torch.allclose(out, gate * F.conv2d(x, w, None, 1, 2, 1, C), atol=1e-6)
    # d50 = 0: the whole kernel is zero (the layer is its shortcut)
    assert (superkernel_weight(w, 3, C // 2, 1.0, 0.0, 1.0) == 0).all()


def _set_decision(net: SuperkernelSupernet, picks: tuple[str, ...]) -> None:
    """Thresholds that make the hard indicators select ``picks`` (one margin of 0.5 on either side)."""
    with torch.no_grad():
        for i, (b, layer) in enumerate(zip(picks, net.layers, strict=True)):
            n = layer.norms()
            ring = float(n[1].sum().sqrt())
            d5 = 0.0 if b == "skip" else float(b.startswith("k5"))
            g = (n[0] + d5 * d5 * n[1]).sqrt()
            net.thresholds[i, 0] = ring + (-0.5 if d5 else 0.5)
            net.thresholds[i, 1] = float(g[0]) + (0.5 if b == "skip" else -0.5)
            net.thresholds[i, 2] = float(g[1]) + (-0.5 if b.endswith("e6") else 0.5)


@pytest.mark.parametrize("picks", [("skip", "k3_e3", "k5_e3", "k3_e6", "k5_e6", "skip"),
                                   ("k5_e6", "skip", "k3_e3", "skip", "k3_e6", "k5_e3")])
def test_the_supernet_at_a_decision_is_the_compiled_chain_with_inherited_weights(picks):
    net = _net()
    space = net.space
    for _ in range(3):  # non-trivial BatchNorm statistics
        net(torch.randn(8, 1, 8, 8))
    _set_decision(net, picks)
    arch = net.architecture()
    assert arch.picks["layers"] == picks
    child = space.compile(arch, TASK)
    child.load_state_dict(child_state_dict(net, arch))
    x = torch.randn(6, 1, 8, 8)
    for train in (False, True):  # eval mode: running statistics; train mode: batch statistics, channel by channel
        net.train(train), child.train(train)
        with torch.no_grad():
            assert torch.allclose(net(x), child(x), atol=1e-5), train
    # a one-hot 'active' matrix is a discrete architecture: the supernet runs it whatever its thresholds say
    g, = space.choice_groups()
    one_hot = np.zeros(g.shape, dtype=bool)
    one_hot[range(6), [g.options.index(b) for b in picks]] = True
    with torch.no_grad():
        net.thresholds.fill_(-50.0)  # the indicators alone would pick k5_e6 everywhere
        assert torch.allclose(net(x, {"layers": torch.as_tensor(one_hot, dtype=torch.float32)},
                                  {"layers": one_hot}), child(x), atol=1e-5)


def test_decoding_reads_the_hard_indicators_back_from_the_block_probabilities():
    net = _net(1)
    space = net.space
    g, = space.choice_groups()
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        with torch.no_grad():
            norms = torch.stack([torch.stack([layer.norms()[1].sum().sqrt(), layer.norms().sum(0)[0].sqrt(),
                                              layer.norms().sum(0)[1].sqrt()]) for layer in net.layers])
            net.thresholds.copy_(norms * (0.5 + torch.rand(norms.shape, generator=gen)))
            p = net.probabilities("layers").numpy()
        assert np.allclose(p.sum(1), 1, atol=1e-6) and (p[:, [0, 3]] == 0).all()  # e1 blocks: not encoded
        arch = net.architecture()
        assert space.decode({"layers": p}, {"layers": g.allowed_matrix()}, "indicators") == arch
        seen.add(arch.picks["layers"])
    assert len(seen) > 10


def _runtime(cost: np.ndarray) -> RuntimeModel:
    space = get_space("chain")
    g, = space.choice_groups()
    return RuntimeModel.from_cost(CostModel({"layers": cost}), "layers", g.options, superkernel_plan(space.blocks),
                                  tuple(p.shortcut for p in space.plan()))


def test_the_runtime_formula_for_all_8_indicator_combinations():
    rng = np.random.default_rng(0)
    cost = rng.uniform(1, 5, (6, 7))
    cost[:, -1] = 0
    rt = _runtime(cost)
    col = {b: i for i, b in enumerate(get_space("chain").blocks)}
    r50, r100, r3 = cost[:, col["k5_e3"]], cost[:, col["k5_e6"]], cost[:, col["k3_e6"]]
    rho = r3 / r100
    for d50, d100, d5 in itertools.product((0.0, 1.0), repeat=3):
        d = torch.tensor([[d5, d50, d100]] * 6, dtype=torch.float64)
        expect = d50 * (r50 + d100 * (r100 - r50)) * (rho + (1 - rho) * d5)
        assert np.allclose(rt.layers(d).numpy(), expect, rtol=1e-12), (d50, d100, d5)
        block = "skip" if not d50 else f"k{5 if d5 else 3}_e{6 if d100 else 3}"
        exact = cost[:, col[block]] if block != "k3_e3" else r50 * rho  # k3_e3 is approximated by R50c * rho
        assert np.allclose(rt.layers(d).numpy(), exact)
    # the cheapest architecture the superkernel expresses: skip where legal, else min over the four
    per = np.minimum.reduce([r50 * rho, r3, r50, r100])
    assert rt.minimum() == pytest.approx(per[[2, 4]].sum())


def test_a_single_path_search_derives_a_chain_and_its_cost_weight_lowers_the_runtime():
    torch.set_num_threads(1)
    runtimes = []
    for lam in (0.0, 2.0):
        cfg = SearchConfig(space="chain", method="single-path", epochs=3, batch_size=32, data_limit=160, seed=0,
                           method_options={"lam": lam, "warmup_epochs": 0, "threshold_lr": 0.5})
        s = Searcher(cfg)
        events = s.run()
        arch = s.genotype()
        assert arch == s.model.architecture()  # the rule 'indicators' = the hard decisions
        net = s.space.compile(arch, s.task.info)
        net.load_state_dict(child_state_dict(s.model, arch))
        rt = runtime_model(s.model, s.method.arch_loss_terms[0].source)
        with torch.no_grad():
            runtimes.append(float(rt.total(s.model.indicators())))
        assert float(events[-1].extras["expected_cost"]) > 0
        assert s.model.alphas["layers"].grad is None  # the protocol's alphas are not Single-Path's parameters
    assert runtimes[1] < runtimes[0]


def test_a_single_path_search_resumes_bit_for_bit():
    torch.set_num_threads(1)
    cfg = SearchConfig(space="chain", method="single-path", epochs=2, batch_size=32, data_limit=96, seed=1,
                       method_options={"warmup_epochs": 0, "threshold_lr": 0.5, "lam": 1.0})
    full = Searcher(cfg)
    full.run()
    part = Searcher(cfg)
    part.run(full.steps_per_epoch)
    resumed = Searcher(cfg)
    resumed.load_state_dict(part.state_dict())
    resumed.run()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert full.genotype() == resumed.genotype()


def test_bad_single_path_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"budget 1 K params is below the cheapest architecture's runtime \(\d"):
        Searcher(SearchConfig(space="chain", method="single-path", epochs=1, data_limit=64,
                              method_options={"budget": 1.0}))
    with pytest.raises(ValueError, match=r"lacks \['k5_e3'\]"):
        superkernel_plan(get_space("chain").with_ops(remove=["k5_e3"]).blocks)
    net = _net()
    with pytest.raises(ValueError, match="layer 'L0 16→16 s1'.* not one block"):
        net.set_op_enabled("layers", "k5_e3", False, rows=[0])
    assert net.op_mask("layers")[0].all()  # refused: the mask is left as it was
    net.set_op_enabled("layers", "skip", False, rows=[1])  # 'skip' alone can go: d50 is then fixed to 1
    with torch.no_grad():
        net.thresholds.fill_(100.0)  # every free indicator off
    assert net.architecture().picks["layers"][:3] == ("skip", "k3_e3", "k3_e3")

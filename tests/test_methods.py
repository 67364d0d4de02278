"""The DARTS family as slot compositions: equivalences, relaxations, genotype rules, resume."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config

from workbench import Searcher, SupernetConfig
from workbench.errors import ConfigError
from workbench.methods import (
    METHODS,
    StepContext,
    get_method,
    method_names,
    method_options,
    paper_config,
)
from workbench.methods.arch_grad import first_order, single_level
from workbench.methods.relax import (
    GumbelHard,
    GumbelSoft,
    MaxW,
    Softmax,
    gumbel_noise,
    masked_softmax,
)
from workbench.methods.schedules import cosine_power_annealing, gdas_tau, snas_temperature
from workbench.spaces import get_space

REQUIRED = {"darts-v1", "darts-v2", "pc-darts", "gdas", "snas", "sdarts-rs", "sdarts-adv", "sharpdarts",
            "darts-l2", "darts-ada", "blank"}


def test_registry_and_option_validation():
    assert REQUIRED <= set(method_names())
    with pytest.raises(ValueError, match=r"does not accept option\(s\) 'k'; accepted: K=4, edge_normalization="):
        get_method("pc-darts", {"k": 2})
    with pytest.raises(ValueError, match="accepted: none"):
        get_method("darts-v1", {"r": 0.1})
    with pytest.raises(KeyError, match="unknown method 'gdass'.*did you mean 'gdas'"):
        get_method("gdass")
    with pytest.raises(ValueError, match=r"option K \(channel fraction 1/K\)=0 is not accepted: expected an int >= 1"):
        get_method("pc-darts", {"K": 0})
    with pytest.raises(ValueError, match="weighting='min_w' is not accepted: expected one of 'max_w', 'scalar'"):
        get_method("sharpdarts", {"weighting": "min_w"})
    assert method_options("gdas") == {"tau_max": 10.0, "tau_min": 0.1, "tau_variant": "autodl"}
    assert get_method("pc-darts", {"K": 2}).options == {"K": 2, "edge_normalization": True, "warmup_epochs": 15}


def test_paper_config_applies_the_papers_values():
    cfg = paper_config(tiny_config(), "pc-darts")
    assert (cfg.method, cfg.batch_size, cfg.lr, cfg.arch_lr, cfg.epochs) == ("pc-darts", 256, 0.1, 6e-4, 50)
    assert paper_config(tiny_config(method="snas")).train_portion == 1.0


# ------------------------------------------------------------------------ PC-DARTS
def test_pc_darts_with_k1_and_no_edge_norm_is_darts():
    opts = {"K": 1, "edge_normalization": False, "warmup_epochs": 0}
    a = Searcher(tiny_config(method="pc-darts", method_options=opts))
    b = Searcher(tiny_config(method="darts-v1"))
    ea, eb = a.run(6), b.run(6)
    for x, y in zip(ea, eb, strict=True):
        assert np.array_equal(x.alphas["cell"], y.alphas["cell"]) and x.train_loss == y.train_loss
    assert a.genotype() == b.genotype()


def test_pc_darts_warmup_partial_channels_and_edge_normalisation():
    s = Searcher(tiny_config(method="pc-darts", supernet=SupernetConfig(C=4), epochs=3,
                             method_options={"K": 2, "warmup_epochs": 1}))
    assert s.model.cfg.partial_channels == 2 and s.model.cfg.edge_normalization
    assert len(s.model.arch_parameters()) == 2  # alpha + beta of the one cell type
    start = [p.detach().clone() for p in s.model.arch_parameters()]
    s.run(s.steps_per_epoch)  # warm-up epoch: weights only
    assert all(torch.equal(p, q) for p, q in zip(start, s.model.arch_parameters(), strict=True))
    s.run(2)
    assert all(not torch.equal(p, q) for p, q in zip(start, s.model.arch_parameters(), strict=True))  # alphas and betas move
    # the genotype weights are softmax(alpha) scaled by each edge's softmax(beta) over its node's edges
    w = masked_softmax(s.model.alphas["cell"], s.model.op_mask("cell")).detach()
    beta = s.model.betas["cell"].detach()
    edge = torch.cat([torch.softmax(beta[s.space.node_edges(i)], 0) for i in range(s.space.n_nodes)])
    assert np.allclose(s.probabilities()["cell"], (w * edge[:, None]).numpy())


def test_pc_darts_genotype_uses_betas_to_rank_edges():
    s = Searcher(tiny_config(method="pc-darts", space="darts", supernet=SupernetConfig(C=4, layers=3),
                             method_options={"K": 2}))
    ops = s.space.ops
    with torch.no_grad():
        for c in s.space.cell_types:
            s.model.alphas[c].zero_()
            s.model.betas[c].zero_()
            s.model.alphas[c][:, ops.index("sep_conv_3x3")] = 2.0
            s.model.alphas[c][3, ops.index("skip_connect")] = 4.0  # node 1's edge from state 1: strongest alpha
            s.model.betas[c][2] = 3.0  # ... but beta says node 1's edge from state 0 matters most
            s.model.betas[c][4] = 3.0  # and the one from node 0
    node1 = s.genotype().cell("normal").nodes[1]
    assert [src for _, src in node1] == [0, 2]  # alphas alone would keep the skip edge from state 1
    s.model.betas["normal"].data.zero_()
    assert ("skip_connect", 1) in s.genotype().cell("normal").nodes[1]


# ------------------------------------------------------------------------ GDAS
def test_hard_gumbel_is_one_hot_forward_and_reaches_every_alpha():
    torch.manual_seed(0)
    alpha = torch.randn(6, 5, requires_grad=True)
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[0, 2] = False
    gen = torch.Generator().manual_seed(1)
    w, active = GumbelHard()(alpha, mask, StepContext(3, 10, 0, gen))
    assert torch.allclose(w.detach().sum(1), torch.ones(6))
    assert ((w.detach() - torch.as_tensor(active, dtype=w.dtype)).abs() < 1e-6).all()  # numerically one-hot
    assert active.sum(1).tolist() == [1] * 6 and not active[0, 2]
    coeff = torch.randn(6, 5)
    g, = torch.autograd.grad((w * coeff).sum(), alpha)
    assert (g[mask] != 0).all() and g[0, 2] == 0
    # the backward is that of softmax((log_softmax(alpha) + G) / tau) at this epoch's tau: replay the noise
    gen2 = torch.Generator().manual_seed(1)
    tau = gdas_tau(3, 10)
    logp = torch.log_softmax(alpha.masked_fill(~mask, float("-inf")), -1)
    probs = torch.softmax((logp + gumbel_noise(alpha.shape, gen2, alpha)) / tau, -1)
    g_ref, = torch.autograd.grad((probs * coeff).sum(), alpha)
    assert torch.allclose(g, g_ref, atol=1e-6)
    assert torch.equal(torch.as_tensor(active), F.one_hot(probs.argmax(-1), 5).bool())
    # evaluation: deterministic argmax of alpha
    w_eval, a_eval = GumbelHard()(alpha, mask, StepContext(3, 10, 0, None, training=False))
    assert torch.equal(w_eval.argmax(1), alpha.masked_fill(~mask, float("-inf")).argmax(1))


def test_gdas_in_the_supernet_computes_only_the_sampled_op_and_every_alpha_learns():
    s = Searcher(tiny_config(method="gdas", space="nb201"))
    assert s.model.cfg.inactive_bias and s.method.order == "weight_first"
    with torch.no_grad():  # keep `none` unlikely so every edge reaches the output
        s.model.alphas["cell"][:, s.space.ops.index("none")] = -5.0
    w, active = s.mixing_weights()
    assert active["cell"].sum(1).tolist() == [1] * 6
    x, y = s.train_stream.next()
    loss = F.cross_entropy(s.model(x, w, active), y)
    g, = torch.autograd.grad(loss, [s.model.alphas["cell"]])
    assert (g != 0).all()


def test_gdas_takes_the_weight_step_first(monkeypatch):
    s = Searcher(tiny_config(method="gdas"))
    calls = []
    for name in ("_weight_step", "_arch_step"):
        real = getattr(s, name)
        monkeypatch.setattr(s, name, lambda *a, _r=real, _n=name: (calls.append(_n), _r(*a))[1])
    s.step()
    assert calls == ["_weight_step", "_arch_step"]


# ------------------------------------------------------------------------ SNAS
def test_soft_gumbel_sample_and_temperature():
    alpha = torch.randn(3, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    w, active = GumbelSoft()(alpha, mask, StepContext(74, 10, 0, torch.Generator().manual_seed(5)))
    g = gumbel_noise(alpha.shape, torch.Generator().manual_seed(5), alpha)
    tau = snas_temperature(75)  # reference: training epoch e uses scheduler epoch e + 1, total 150
    assert tau == pytest.approx(0.515)
    assert torch.allclose(w, torch.softmax((alpha + g) / tau, -1)) and active.all()
    w_eval, _ = GumbelSoft()(alpha, mask, StepContext(74, 10, 0, None, training=False))
    assert torch.allclose(w_eval, torch.softmax(alpha / tau, -1))


def test_single_level_gradient_is_the_training_loss_gradient():
    s = Searcher(tiny_config())
    bt, bv = s.train_stream.next(), s.val_stream.next()
    ctx = s.context(True, bt, bv)
    res = single_level(ctx)
    ref = first_order(dataclasses.replace(ctx, batch_v=bt))  # first order on the *training* batch: the oracle
    assert all(torch.allclose(a, b) for a, b in zip(res.grads, ref.grads, strict=True))
    assert res.val_output.shape[0] == len(bv[1])  # reported metrics are on the validation batch
    clipped = single_level(ctx, max_norm=1e-4)
    assert float(torch.sqrt(sum((g ** 2).sum() for g in clipped.grads))) == pytest.approx(1e-4, rel=1e-3)


# ------------------------------------------------------------------------ sharpDARTS, L2, blank
def test_max_w_weighting_by_hand():
    alpha = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    mask = torch.tensor([[True, True, True], [True, False, True]])
    w, _ = MaxW()(alpha, mask, StepContext(0, 1, 0))
    sm = masked_softmax(alpha, mask)
    assert torch.allclose(w[0], torch.tensor([1.0, 0.8, 0.7]))
    assert torch.allclose(w[1], torch.tensor([1 - sm[1, 2] + sm[1, 0], 0.0, 1.0]))


def test_sharpdarts_uses_cosine_power_annealing():
    s = Searcher(tiny_config(method="sharpdarts", epochs=10, lr_min=1e-4))
    assert [s.lr(e) for e in range(10)] == pytest.approx(cosine_power_annealing(10, 0.025, 1e-4, 2, 5))
    assert s.lr(0) == pytest.approx(0.025 / 6, abs=1e-4)  # warm-up ramp 1/6 .. 6/6 of the peak
    assert isinstance(s.method.relaxation, MaxW)
    assert isinstance(get_method("sharpdarts", {"weighting": "scalar"}).relaxation, Softmax)


def test_darts_l2_scales_weight_decay_and_blank_keeps_alphas():
    s = Searcher(tiny_config(method="darts-l2", method_options={"factor": 9.0, "second_order": False}))
    s.step()
    assert s.optimizer.param_groups[0]["weight_decay"] == pytest.approx(9 * 3e-4)
    b = Searcher(tiny_config(method="blank"))
    a0 = b.alphas()
    ev = b.run(4)
    assert np.array_equal(b.alphas()["cell"], a0["cell"]) and not b.arch_optimizer.state
    assert all(np.isfinite(e.val_loss) for e in ev)


# ------------------------------------------------------------------------ genotype rules
def _set(s, c, table):
    with torch.no_grad():
        s.model.alphas[c].copy_(torch.as_tensor(table, dtype=torch.float32))


def test_gdas_and_snas_genotype_rules_on_hand_made_alphas():
    darts = dict(space="darts", supernet=SupernetConfig(C=4, layers=3))
    g = Searcher(tiny_config(method="gdas", **darts))
    sn = Searcher(tiny_config(method="snas", **darts))
    dv = Searcher(tiny_config(method="darts-v1", **darts))
    assert (g.method.genotype_rule, sn.method.genotype_rule, dv.method.genotype_rule) == ("gdas_pairs", "snas", None)
    ops = g.space.ops
    table = np.zeros((14, 8))
    table[0, ops.index("sep_conv_3x3")] = 3.0  # node 0, edge from state 0: two strong ops
    table[0, ops.index("dil_conv_3x3")] = 2.9
    table[1, ops.index("skip_connect")] = 1.0
    table[2:, ops.index("none")] = 5.0  # `none` dominates every edge of nodes 1-3
    table[2:, ops.index("max_pool_3x3")] = 1.0
    for s in (g, sn, dv):
        for c in ("normal", "reduce"):
            _set(s, c, table)
    assert g.genotype().cell("normal").nodes[0] == (("sep_conv_3x3", 0), ("dil_conv_3x3", 0))  # two ops, one edge
    assert dv.genotype().cell("normal").nodes[0] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert sn.genotype().cell("normal").nodes[1] == (("none", 0), ("none", 1))  # SNAS may keep none
    assert "none" not in dv.genotype().cell("normal").ops_used()
    # on NB201 both use the space's argmax over all edges, none included
    nb = Searcher(tiny_config(method="gdas", space="nb201"))
    assert nb.method.genotype_rule is None and Searcher(tiny_config(method="snas", space="nb201")).method.genotype_rule is None
    t = np.zeros((6, 5))
    t[:, 0] = 1.0
    t[2, 3] = 2.0
    _set(nb, "cell", t)
    assert str(nb.genotype()) == "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


# ------------------------------------------------------------------------ every method: runs and resumes
def _config(method, space):
    opts = {"darts-ada": {"ev_freq": 1, "es_start_epoch": 0, "delta": 1, "window": 1},
            "sdarts-adv": {"steps": 2}, "pc-darts": {"K": 2, "warmup_epochs": 0}}.get(method, {})
    net = SupernetConfig(C=4, layers=3) if space in ("toy", "darts") else None  # other spaces: their defaults
    return tiny_config(method=method, space=space, supernet=net, method_options=opts, data_limit=120,
                       dataset=get_space(space).default_dataset)  # each space on the data it is built for


def _method_spaces() -> list[tuple[str, str]]:
    """Every method on the spaces it is built for (its own list, else a small cell space and DARTS's)."""
    pairs = []
    for m in sorted(METHODS.names()):
        own = get_method(m).spaces
        pairs += [(m, sp) for sp in (own[:2] if own else ("toy", "darts"))]
    return pairs


@pytest.mark.parametrize(("method", "space"), _method_spaces())
def test_every_method_runs_and_resumes_bit_exactly(method, space):
    cfg = _config(method, space)
    full = Searcher(cfg)
    events = full.run(3)
    part = Searcher(cfg)
    part.run(1)
    resumed = Searcher(cfg)
    resumed.load_state_dict(part.state_dict())
    rest = resumed.run(2)
    for a, b in zip(rest, events[1:], strict=True):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
        for c in a.alphas:
            assert np.array_equal(a.alphas[c], b.alphas[c])
    for (k, v), (_, v2) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(v, v2), k
    assert full.genotype() == resumed.genotype()


def test_darts_ada_driver_runs_the_search_with_sharpness_tracking():
    pytest.importorskip("workbench.analysis.sharpness")
    s = Searcher(_config("darts-ada", "toy").replace(epochs=3))
    seen = []
    s.bus.subscribe(seen.append)
    s.run()  # the controller the method attached is consulted inside every step
    outcome = s.controller.outcome
    assert s.finished
    kinds = [e.kind for e in seen if type(e).__name__ == "AnalysisResult"]
    assert kinds.count("sharpness") >= 3  # ev_freq 1: an eigenvalue at every epoch end (more after rollbacks)
    # each rollback multiplied the weight decay by mul_factor = 10, and the optimizer uses it
    assert outcome.weight_decay == pytest.approx(s.config.weight_decay * 10 ** len(outcome.rollbacks))
    assert s.optimizer.param_groups[0]["weight_decay"] == pytest.approx(outcome.weight_decay)


def test_a_method_on_a_space_it_is_not_built_for_names_its_spaces():
    with pytest.raises(ConfigError, match=r"method 'dass' is built for the space\(s\) nb201-sparse, darts-sparse, "
                                          r"not 'nb201'"):
        Searcher(tiny_config(method="dass", space="nb201", supernet=None))
    with pytest.raises(ConfigError, match=r"'single-path' is built for the space\(s\) chain"):
        Searcher(tiny_config(method="single-path", space="toy"))

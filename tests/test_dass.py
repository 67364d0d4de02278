"""DASS (SEEDS_2 §3.5 oracles): sparsity 0 is the dense op bit for bit, the mask keeps exactly ceil((1-s) n)
weights, projection is idempotent, the two backward rules, a search at the target sparsity, prune-then-evaluate."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench import SearchConfig, Searcher
from workbench.methods.dass import PruneConfig, SparsityCost, dass, prune_then_evaluate
from workbench.spaces.cell.ops import make_op
from workbench.spaces.cell.sparse_ops import (
    SparseConv,
    SparseLinear,
    configure,
    magnitude_mask,
    project,
    sparsity_of,
)

torch.set_num_threads(1)


def test_sparse_conv_at_sparsity_zero_equals_the_dense_conv_bitwise():
    torch.manual_seed(0)
    sparse = SparseConv(1, 4, 6, 3, 1, 1)
    dense = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    with torch.no_grad():
        dense.weight.copy_(sparse._parameters["weight"])
    x = torch.randn(2, 4, 8, 8)
    configure(sparse, 0.0)
    assert torch.equal(sparse.run(x, None), dense(x))
    lin, ref = SparseLinear(5, 3), nn.Linear(5, 3)
    ref.load_state_dict(lin.state_dict())
    configure(lin, 0.0)
    assert torch.equal(lin(x[:, 0, 0, :5]), ref(x[:, 0, 0, :5]))


def test_the_sparse_op_at_zero_equals_its_dense_op_with_the_same_seed():
    torch.manual_seed(3)
    sparse = configure(make_op("sparse_conv_3x3", 4, 2), 0.0)
    torch.manual_seed(3)
    dense = make_op("nor_conv_3x3", 4, 2)
    assert sparse.state_dict().keys() == dense.state_dict().keys()
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(sparse(x), dense(x))


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_the_mask_keeps_exactly_ceil_one_minus_s_times_n(s):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(7, 5, 3, 3, generator=g)
    w[0, :3] = 0.25  # ties
    assert int(magnitude_mask(w, s).sum()) == math.ceil((1 - s) * w.numel() - 1e-9)
    per_op = magnitude_mask(w, s, groups=7).reshape(7, -1).sum(1)  # one mask per edge
    assert per_op.tolist() == [math.ceil((1 - s) * 45 - 1e-9)] * 7
    p = project(w, s)
    assert torch.equal(project(p, s), p)  # idempotent
    assert torch.equal(magnitude_mask(p, s), magnitude_mask(w, s))


def test_ties_are_broken_by_position():
    assert magnitude_mask(torch.zeros(6), 0.5).tolist() == [1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("rule", ["ste", "masked"])
def test_backward_rules(rule):
    torch.manual_seed(2)
    conv = configure(SparseConv(1, 3, 4, 3, 1, 1), 0.7, mask_grad=rule)
    raw = conv._parameters["weight"]
    x = torch.randn(2, 3, 5, 5)
    (g,) = torch.autograd.grad(conv.run(x, None).square().sum(), raw)
    mask = magnitude_mask(raw, 0.7)
    w_masked = (raw * mask).detach().requires_grad_(True)
    (g_dense,) = torch.autograd.grad(F.conv2d(x, w_masked, None, 1, 1).square().sum(), w_masked)
    if rule == "ste":
        torch.testing.assert_close(g, g_dense)  # the dense gradient evaluated at W ⊙ M
    else:
        assert torch.equal(g[mask == 0], torch.zeros_like(g[mask == 0]))
        torch.testing.assert_close(g[mask == 1], g_dense[mask == 1])


def test_dass_search_runs_at_the_target_sparsity_and_prefers_small_ops_through_its_term():
    cfg = SearchConfig(space="nb201-sparse", method="dass", method_options={"sparsity": 0.8}, epochs=1,
                       batch_size=32, data_limit=192, seed=0, eval_each_epoch=False)
    s = Searcher(cfg)
    events = s.run()
    zeros, total = sparsity_of(s.model)
    assert zeros / total == pytest.approx(0.8, abs=1e-3) and "sparsity_cost" in events[-1].extras
    table = SparsityCost().cost_model(s.model).costs["cell"][0]
    ops = list(s.space.ops)
    assert table[ops.index("sparse_conv_3x3")] < table[ops.index("nor_conv_3x3")]
    assert table[ops.index("skip_connect")] == 0.0
    with pytest.raises(ValueError, match="sparsity"):  # a dense space refuses DASS's settings
        Searcher(cfg.replace(space="nb201"))
    with pytest.raises(ValueError, match="mask_grad"):
        dass(mask_grad="dense")


def test_sparsify_dense_ops_prunes_the_dense_convs_too():
    cfg = SearchConfig(space="nb201-sparse", method="dass", method_options={"sparsify_dense_ops": True}, epochs=1,
                       batch_size=32, data_limit=128, seed=0)
    s = Searcher(cfg)
    dense = [m for name, m in s.model.named_modules() if isinstance(m, SparseConv) and ".nor_conv_" in name]
    assert dense and all(m.sparsity == 0.9 for m in dense)


def test_prune_then_evaluate_reports_the_measured_sparsity():
    rows = prune_then_evaluate("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|"
                               "avg_pool_3x3~2|", "nb201", "digits", (0.5, 0.9),
                               PruneConfig(epochs=1, finetune_epochs=1, data_limit=200))
    assert [r.sparsity for r in rows] == [0.5, 0.9]
    assert rows[0].measured == pytest.approx(0.5, abs=1e-3) and rows[1].measured == pytest.approx(0.9, abs=1e-3)
    assert all(0.0 <= r.finetuned_acc <= 1.0 for r in rows)

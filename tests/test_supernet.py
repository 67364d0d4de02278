"""The batched supernet computes exactly what the per-op reference execution computes."""
from __future__ import annotations

import pytest
import torch

from workbench.methods.relax import masked_softmax
from workbench.spaces import get_space
from workbench.spaces.cell.ops import OPS, make_op
from workbench.spaces.cell.supernet import Supernet, SupernetConfig


@pytest.mark.parametrize("name", [n for n in OPS.names() if n not in ("noise",)])
@pytest.mark.parametrize("stride", [1, 2])
def test_batched_op_equals_per_edge(name, stride):
    torch.manual_seed(0)
    E, C = 3, 4
    op = make_op(name, C, E, stride, affine=True, pool_bn=True).double()
    x = torch.randn(2, E * C, 7, 7, dtype=torch.float64)
    y = op(x)
    for e in range(E):
        ye = op.forward_edge(x[:, e * C:(e + 1) * C], e)
        assert torch.allclose(y[:, e * C:(e + 1) * C], ye, atol=1e-12), name


@pytest.mark.parametrize("name", [n for n in OPS.names() if n not in ("noise", "none")])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("affine", [False, True])
def test_scaled_run_equals_scaled_output(name, stride, affine):
    """Mixing weights folded into an op (its final BN) give exactly weight * output -- with an affine BN too,
    whose trained bias is scaled as well (random BN weights and biases, not the identity they start as)."""
    torch.manual_seed(0)
    E, C = 3, 4
    op = make_op(name, C, E, stride, affine=affine, pool_bn=True).double()
    for m in op.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m.affine:
            torch.nn.init.normal_(m.weight)
            torch.nn.init.normal_(m.bias)
    x = torch.randn(2, E * C, 8, 8, dtype=torch.float64)
    scale = torch.rand(E, dtype=torch.float64).repeat_interleave(C)
    assert torch.allclose(op.run(x, None, scale), op.run(x, None) * scale.view(1, -1, 1, 1), atol=1e-12)


def test_unknown_op_lists_known():
    with pytest.raises(KeyError, match="known: none, max_pool_3x3"):
        make_op("sep_conv_3x3x", 4)


@pytest.mark.parametrize("space", ["darts", "nb201", "toy", "s1", "s3"])
def test_batched_supernet_equals_naive(space):
    torch.manual_seed(0)
    net = Supernet(space, SupernetConfig(C=4, layers=3), in_channels=1, n_classes=10).double()
    for a in net.arch_parameters():
        a.data.normal_()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    w = {c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types}
    y_fast = net(x, w)
    g_fast = torch.autograd.grad(y_fast.square().sum(), net.arch_parameters() + net.weight_parameters(),
                                 allow_unused=True, retain_graph=True)
    y_ref = net(x, w, naive=True)
    g_ref = torch.autograd.grad(y_ref.square().sum(), net.arch_parameters() + net.weight_parameters(),
                                allow_unused=True)
    assert torch.allclose(y_fast, y_ref, atol=1e-10)
    for a, b in zip(g_fast, g_ref):
        if a is None or b is None:
            assert a is None and b is None or float((a if a is not None else b).abs().sum()) == 0
            continue
        assert torch.allclose(a, b, atol=1e-9)


def test_none_is_skipped_but_its_alpha_gets_gradient():
    torch.manual_seed(0)
    net = Supernet("nb201", SupernetConfig(C=4))
    x = torch.randn(2, 1, 8, 8)
    w = {"cell": masked_softmax(net.alphas["cell"], net.op_mask("cell"))}
    g, = torch.autograd.grad(net(x, w).sum(), [net.alphas["cell"]])
    none = net.space.ops.index("none")
    assert (g[:, none].abs() > 0).all()
    assert "none" not in net.cells[0].wave_ops[0]


def test_masked_op_gets_zero_weight_and_is_not_built_or_run():
    net = Supernet("nb201", SupernetConfig(C=4))
    net.set_op_enabled("cell", "nor_conv_3x3", False)
    w = masked_softmax(net.alphas["cell"], net.op_mask("cell"))
    o = net.space.ops.index("nor_conv_3x3")
    assert (w[:, o] == 0).all()
    assert torch.allclose(w.sum(1), torch.ones(6))
    with pytest.raises(ValueError, match="no candidate op other than 'none'"):
        for op in ("skip_connect", "nor_conv_1x1", "avg_pool_3x3"):
            net.set_op_enabled("cell", op, False)


def test_space_op_editing_and_errors():
    sp = get_space("darts").with_ops(remove=["none", "sep_conv_5x5"])
    assert "none" not in sp.ops and len(sp.ops) == 6
    with pytest.raises(KeyError, match="known:"):
        get_space("darts").with_ops(add=["sep_conv_9x9"])
    with pytest.raises(ValueError, match="empty op set"):
        get_space("nb201").with_ops(remove=list(get_space("nb201").ops))
    with pytest.raises(KeyError, match="known: darts, nb201"):
        get_space("nb210")


def test_space_shapes():
    d = get_space("darts")
    assert (len(d.ops), d.n_nodes, d.n_edges) == (8, 4, 14)
    assert d.node_edges(3) == [9, 10, 11, 12, 13]
    n = get_space("nb201")
    assert (len(n.ops), n.n_edges) == (5, 6)
    assert n.edges == ((0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2))


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_partial_channels_and_edge_normalization_match_naive(space):
    torch.manual_seed(0)
    net = Supernet(space, SupernetConfig(C=8, layers=3, partial_channels=4, edge_normalization=True)).double()
    for p in net.arch_parameters():
        p.data.normal_()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    w = {c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types}
    y = net(x, w)
    y_ref = net(x, w, naive=True)
    assert torch.allclose(y, y_ref, atol=1e-10)
    gs = torch.autograd.grad(y.sum(), net.arch_parameters())
    assert all(g.abs().sum() > 0 for g in gs)  # betas receive gradient too


def test_partial_channels_k1_is_darts():
    torch.manual_seed(0)
    a = Supernet("darts", SupernetConfig(C=8, partial_channels=1))
    torch.manual_seed(0)
    b = Supernet("darts", SupernetConfig(C=8, partial_channels=1, edge_normalization=False))
    x = torch.randn(2, 1, 8, 8)
    w = {c: masked_softmax(a.alphas[c], a.op_mask(c)) for c in a.space.cell_types}
    assert torch.equal(a(x, w), b(x, w))


def test_inactive_bias_only_sampled_op_runs_but_all_alphas_get_gradient():
    """GDAS-style: a one-hot forward computes only the sampled op; other weights enter as zero-valued scalars."""
    torch.manual_seed(0)
    net = Supernet("nb201", SupernetConfig(C=4, inactive_bias=True)).double()
    probs = torch.softmax(net.alphas["cell"], -1)
    idx = torch.tensor([3, 1, 2, 0, 4, 1])  # every node reaches the output
    hard = torch.nn.functional.one_hot(idx, 5).double()
    hw = hard - probs.detach() + probs
    active = hard.bool().numpy()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    y = net(x, {"cell": hw}, {"cell": active})
    assert torch.allclose(y, net(x, {"cell": hw}, {"cell": active}, naive=True), atol=1e-10)
    g, = torch.autograd.grad(y.sum(), [net.alphas["cell"]])
    assert (g.abs() > 0).all()
    # forward value equals the discrete network with only the sampled ops
    y_hard = net(x, {"cell": hard}, {"cell": active})
    assert torch.allclose(y, y_hard, atol=1e-10)

"""Second-order DARTS against the exact hypergradient (autograd through the unrolled step)."""
from __future__ import annotations

import pytest
import torch

from workbench import arch_grad
from workbench.relax import masked_softmax
from workbench.supernet import Supernet, SupernetConfig


def _setup(space: str):
    torch.manual_seed(0)
    net = Supernet(space, SupernetConfig(C=4, layers=3), in_channels=1, n_classes=3).double()
    for a in net.arch_parameters():
        a.data.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    bt = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    bv = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    bufs = {n: 0.1 * torch.randn_like(p) for n, p in net.named_weight_parameters()}  # a live momentum buffer

    def weights_fn():
        return ({c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types},
                {c: net.op_mask(c).numpy() for c in net.space.cell_types})
    return net, bt, bv, bufs, weights_fn


@pytest.mark.parametrize("space", ["toy", "nb201", "darts"])
def test_second_order_matches_exact_hypergradient(space):
    net, bt, bv, bufs, weights_fn = _setup(space)
    kw = dict(lr=0.05, momentum=0.9, weight_decay=3e-4, momentum_buffers=bufs)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    exact = arch_grad.exact_unrolled_gradient(net, bt, bv, weights_fn, **kw)
    approx = arch_grad.second_order(net, bt, bv, weights_fn, r=1e-5, **kw).grads
    e, a = torch.cat([t.flatten() for t in exact]), torch.cat([t.flatten() for t in approx])
    rel = float((e - a).norm() / e.norm())
    assert rel < 1e-3, rel
    # the estimator never touches the model (weights, alphas, BN statistics)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    # ... and the second-order correction is not negligible here (the test can fail)
    first = torch.cat([t.flatten() for t in arch_grad.first_order(net, bt, bv, weights_fn).grads])
    assert float((first - e).norm() / e.norm()) > 1e-3


def test_default_eps_is_r_over_norm_v():
    net, bt, bv, bufs, weights_fn = _setup("toy")
    res = arch_grad.second_order(net, bt, bv, weights_fn, lr=0.025, momentum=0.9, weight_decay=3e-4,
                                 momentum_buffers={}, r=0.01)
    assert res.extras["hvp_eps"] == pytest.approx(0.01 / res.extras["val_grad_norm"])

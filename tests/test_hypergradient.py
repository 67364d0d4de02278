"""Issue 9: DARTS's finite-difference hypergradient vs the exact one, the ``hypergradient`` option of darts-v2,
and the error report."""
from __future__ import annotations

import pytest
import torch
from conftest import tiny_config
from test_arch_grad import _setup

from workbench import Searcher
from workbench.errors import ConfigError
from workbench.methods import arch_grad, get_method


@pytest.mark.parametrize("space", ["toy", "nb201"])
def test_finite_difference_converges_to_exact_at_small_r_and_is_far_off_at_dartss_r(space):
    net, bufs, ctx = _setup(space)
    c = ctx(lr=0.05, momentum=0.9, weight_decay=3e-4, momentum_buffers=bufs)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    default = arch_grad.hypergradient_error(c, 0.01)
    small = arch_grad.hypergradient_error(c, 1e-5)
    assert default["relative_error"] > 1.0  # > 100% on these small float64 supernets
    assert small["relative_error"] < 1e-3
    assert small["cosine"] > 0.9999 and default["r"] == 0.01 and small["hvp_eps"] < default["hvp_eps"]
    # the report leaves the model exactly as it was (weights, alphas, BatchNorm buffers)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    if space == "toy":  # a smooth cell: the estimate agrees to round-off
        assert small["relative_error"] < 1e-8


def test_exact_estimator_is_the_exact_unrolled_gradient():
    net, bufs, ctx = _setup("toy")
    c = ctx(lr=0.05, momentum=0.9, weight_decay=3e-4, momentum_buffers=bufs)
    exact = arch_grad.exact_unrolled_gradient(c)
    res = arch_grad.second_order_exact(c)
    for a, b in zip(exact, res.grads, strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0) and not b.requires_grad
    assert torch.isfinite(res.val_loss) and res.val_output.shape[0] == c.batch_v[0].shape[0]


def test_darts_v2_hypergradient_option():
    fd, exact = get_method("darts-v2"), get_method("darts-v2", {"hypergradient": "exact"})
    assert fd.options == {"r": 0.01, "hypergradient": "finite_difference"}
    assert exact.arch_gradient is arch_grad.second_order_exact
    s = Searcher(tiny_config(method="darts-v2", method_options={"hypergradient": "exact"}))
    a0 = s.alphas()["cell"]
    events = s.run(2)
    assert events[-1].step == 2 and (events[-1].alphas["cell"] != a0).all()
    # the slot the searcher called is the exact estimator: it agrees with the oracle on the searcher's context
    ctx = s.context(True, s.train_stream.next(), s.val_stream.next(), s.lr())
    for a, b in zip(s.method.arch_gradient(ctx).grads, arch_grad.exact_unrolled_gradient(ctx), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_hypergradient_error_rejects_a_bad_radius():
    net, bufs, ctx = _setup("toy")
    with pytest.raises(ConfigError, match="r=0.0"):
        arch_grad.hypergradient_error(ctx(lr=0.05, momentum=0.9, momentum_buffers=bufs), 0.0)

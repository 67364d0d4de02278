"""The CUDA paths compute what the CPU oracles compute (issue 15); skipped where torch sees no GPU.

* batched supernet vs the per-op reference execution: logits and gradients (weights and alphas), every op alone
  and all together, float64 and float32 (the batched average pool once gave 65% gradient error on CUDA);
* DARTS-V2's finite-difference hypergradient vs the exact one, on the GPU;
* a graph-replayed search equals the eager CUDA search (SNAS and SDARTS-RS/ADV too: their host-drawn noise
  is refilled before each replay), and the step reads the GPU back once;
* with ``deterministic=True``, a resumed GPU search is bit-identical to the uninterrupted one;
* the reference-style baseline of bench_cuda (benchmarks/reference_darts.py) runs on the GPU and computes ours;
* DARTS-PT's replayed probes (vmap over one node's probes) equal whole evaluations on the GPU.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import Searcher
from workbench.methods import StepContext, arch_grad
from workbench.methods.relax import Softmax, masked_softmax
from workbench.spaces import get_space
from workbench.spaces.cell.supernet import Supernet, SupernetConfig
from workbench.tasks import get_objective

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: torch.cuda.is_available() "
                                "is False (these tests run wherever a GPU is present)")
CUDA = torch.device("cuda")


def _grads(net: Supernet, x: torch.Tensor, naive: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    w = {c: masked_softmax(net.alphas[c], net.op_mask(c)) for c in net.space.cell_types}
    y = net(x, w, naive=naive)
    params = net.arch_parameters() + net.weight_parameters()
    gs = torch.autograd.grad(y.square().sum(), params, allow_unused=True)
    return y.detach(), [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _only(net: Supernet, op: str) -> None:
    for c in net.space.cell_types:
        for other in net.space.ops:
            if other not in (op, "none"):
                net.set_op_enabled(c, other, False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("op", [None, *[o for o in get_space("darts").ops if o != "none"]])
def test_batched_gradients_equal_per_op_on_cuda(op, dtype):
    torch.manual_seed(0)
    net = Supernet("darts", SupernetConfig(C=8, layers=3), in_channels=3, n_classes=10).to(CUDA, dtype)
    if op is not None:
        _only(net, op)
    for a in net.arch_parameters():
        a.data.normal_()
    x = torch.randn(4, 3, 16, 16, device=CUDA, dtype=dtype)
    # TF32 (PyTorch's default for cuDNN convolutions) alone makes the two execution orders differ by 1e-2..1e-1
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        y_fast, g_fast = _grads(net, x, naive=False)
        y_ref, g_ref = _grads(net, x, naive=True)
    # float32: relative error of all alpha gradients together and of all weight gradients together (single
    # tensors with tiny gradients can differ by ~1e-2 on the CPU too); float64: every tensor to 1e-9
    tol = 1e-9 if dtype == torch.float64 else 1e-2
    assert _rel(y_fast, y_ref) < tol
    n_arch = len(net.arch_parameters())
    for what, sl in (("alphas", slice(0, n_arch)), ("weights", slice(n_arch, None))):
        err = _rel(torch.cat([g.flatten() for g in g_fast[sl]]), torch.cat([g.flatten() for g in g_ref[sl]]))
        assert err < tol, f"op={op}: {what} gradients differ by {err:.2e} (relative)"
    if dtype == torch.float64:
        worst = max(_rel(a, b) for a, b in zip(g_fast, g_ref, strict=True) if float(b.norm()) > 0)
        assert worst < tol, f"op={op}: worst relative gradient error {worst:.2e}"


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_second_order_matches_exact_hypergradient_on_cuda(space):
    torch.manual_seed(0)
    net = Supernet(space, SupernetConfig(C=4, layers=3), in_channels=1, n_classes=3).to(CUDA, torch.float64)
    for a in net.arch_parameters():
        a.data.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    bt = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64).to(CUDA), torch.randint(0, 3, (8,), generator=g)
          .to(CUDA))
    bv = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64).to(CUDA), torch.randint(0, 3, (8,), generator=g)
          .to(CUDA))
    bufs = {n: 0.1 * torch.randn_like(p) for n, p in net.named_weight_parameters()}
    c = StepContext(model=net, objective=get_objective("cross_entropy"), relaxation=Softmax(),
                    arch_params=net.arch_parameters(), batch_t=bt, batch_v=bv, lr=0.05, momentum=0.9,
                    weight_decay=3e-4, momentum_buffers=bufs)
    exact = torch.cat([t.flatten() for t in arch_grad.exact_unrolled_gradient(c)])
    approx = torch.cat([t.flatten() for t in arch_grad.second_order(c, r=1e-5).grads])
    assert _rel(approx, exact) < 1e-3


def _cuda_config(**kw):
    return tiny_config(device="cuda", **kw)


@pytest.mark.parametrize("method,space", [("darts-v1", "nb201"), ("darts-v2", "nb201"), ("snas", "nb201"),
                                          ("sdarts-rs", "nb201"), ("sdarts-adv", "nb201"), ("fbnet", "chain")])
def test_graph_replay_equals_eager_cuda_search(method, space):
    # three epochs: graphs are re-captured at each epoch (new lr) and for the short last batch; the last four
    # methods sample (their host-drawn noise is recorded at capture and refilled before each replay)
    kw = {"supernet": None} if space == "chain" else {}  # the chain's own default size
    graphed = Searcher(_cuda_config(method=method, space=space, epochs=3, deterministic=True, **kw))
    eager = Searcher(_cuda_config(method=method, space=space, epochs=3, deterministic=True, cuda_graphs=False, **kw))
    eg, ee = graphed.run(), eager.run()
    assert graphed._graphs is not None and graphed._graphs.reason is None, graphed._graphs.reason
    assert graphed._graphs.captures >= 2 * graphed.config.epochs - 1
    assert graphed._graphs.replays == len(eg) - 1  # every step but the eager warm-up is a replay
    # eager Adam is not capturable there (other arithmetic for its step count): equal to float rounding
    for a, b in zip(eg, ee, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-6)
        for g in a.alphas:
            np.testing.assert_allclose(a.alphas[g], b.alphas[g], rtol=1e-3, atol=1e-5)


def test_graphed_step_reads_the_gpu_once():
    # 20 steps per epoch: the measured steps stay inside the first epoch (no capture, no end-of-epoch decode)
    s = Searcher(_cuda_config(method="darts-v1", space="nb201", epochs=2, data_limit=640, eval_each_epoch=False))
    assert s.steps_per_epoch >= 8
    s.run(3)  # warm-up and capture
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            s.run(4)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    assert len(syncs) <= 4, [str(w.message) for w in syncs]


@pytest.mark.parametrize("method", ["darts-v1", "darts-v2", "gdas"])
def test_deterministic_resume_is_bit_identical_on_cuda(method):
    cfg = _cuda_config(method=method, epochs=2, deterministic=True)
    full = Searcher(cfg)
    events = full.run()
    part = Searcher(cfg)
    part.run(7)
    resumed = Searcher(cfg)
    resumed.load_state_dict(part.state_dict())
    rest = resumed.run()
    for a, b in zip(rest, events[7:], strict=True):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
        assert np.array_equal(a.alphas["cell"], b.alphas["cell"])
    for (k, v), (_, v2) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(v, v2), k


@pytest.mark.parametrize("unrolled", [False, True])
def test_reference_baseline_runs_on_cuda_and_computes_ours(unrolled):
    """bench_cuda's baseline: the reference-style network (benchmarks/reference_darts.py) built from a CUDA
    supernet lives on the GPU, gives our logits (float64), and its search step -- second order rebuilding the
    unrolled network with ``new()`` -- stays there."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.reference_darts import ReferenceSearch, from_supernet

    torch.manual_seed(0)
    net = Supernet("darts", SupernetConfig(C=4, layers=3), in_channels=3, n_classes=10).to(CUDA, torch.float64)
    for a in net.arch_parameters():
        a.data.normal_(0, 0.5)
    ref = from_supernet(net)
    assert all(p.device.type == "cuda" for p in [*ref.parameters(), *ref.arch_parameters()])
    x = torch.randn(6, 3, 16, 16, device=CUDA, dtype=torch.float64)
    w = {c: torch.softmax(net.alphas[c], -1) for c in ("normal", "reduce")}
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        torch.testing.assert_close(ref(x), net(x, w), atol=1e-9, rtol=0)
        search = ReferenceSearch(ref, unrolled=unrolled)
        before = ref.alphas_normal.detach().clone()
        y = torch.randint(0, 10, (6,), device=CUDA)
        loss, _ = search.step((x, y), (x.flip(0), y.flip(0)))
    assert np.isfinite(loss) and float((ref.alphas_normal.detach() - before).abs().max()) > 0


def test_replayed_projection_probes_equal_whole_evaluations_on_cuda():
    """DARTS-PT's replayed probes (``torch.func.vmap`` over one node's probes, op probes and topology
    probes) give what evaluating each masked supernet on the GPU gives (float64)."""
    from workbench.analysis.projection import Projection, ProjectionConfig

    runs = {}
    for replay in (True, False):
        s = Searcher(_cuda_config(space="darts", supernet=SupernetConfig(C=4, layers=3), batch_size=8, data_limit=64,
                                  deterministic=True))
        s.run(2)
        s.model.double()
        s.val_data = (s.val_data[0].double(), s.val_data[1])
        pt = Projection(s, ProjectionConfig(proj_batches=1, exclude_none=False, proj_intv=0, replay=replay))
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            probes = pt.probe_edges([("normal", 0), ("reduce", 5)])
            topology = pt.project_edge("normal", node=2)
        runs[replay] = probes, topology
    (fast, fast_top), (slow, slow_top) = runs[True], runs[False]
    for f, p in zip(fast, slow, strict=True):
        assert f.chosen == p.chosen
        np.testing.assert_allclose(f.masked_loss, p.masked_loss, rtol=1e-9)
    assert fast_top["kept"] == slow_top["kept"]
    for f, p in zip(fast_top["rounds"], slow_top["rounds"], strict=True):
        np.testing.assert_allclose(f["loss"], p["loss"], rtol=1e-9)

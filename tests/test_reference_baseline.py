"""The reference-style DARTS baseline (benchmarks/reference_darts.py) computes what our supernet computes.

It is the baseline of the speed ratios in benchmarks/bench_vs_reference.py; these oracles are what make the
ratios honest: same logits for the same parameters, and the same search step (architecture step, then
weight step) from the same state, in float64.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from workbench import SearchConfig, Searcher, SupernetConfig, TensorDataset
from workbench.analysis.common import searcher_batches
from workbench.analysis.projection import ProjectionConfig, compare_selection
from workbench.spaces.cell.supernet import Supernet

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.reference_darts import (  # noqa: E402
    ReferenceSearch,
    darts_pt_network,
    from_supernet,
    infer,
    project_op_sweep,
    tensor_pairs,
)


def _max_diffs(net, ref) -> dict[str, float]:
    return {name: float((mine.detach() - theirs.detach()).abs().max())
            for name, mine, theirs in tensor_pairs(net, ref)}


def test_same_logits_and_statistics_for_the_same_parameters():
    torch.manual_seed(0)
    net = Supernet("darts", SupernetConfig(C=4, layers=3), in_channels=1, n_classes=10).double()
    for a in net.arch_parameters():
        a.data.normal_(0, 0.5)  # far from uniform: a wrong op order or edge order would show
    ref = from_supernet(net)
    assert max(_max_diffs(net, ref).values()) == 0.0
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    weights = {c: torch.softmax(net.alphas[c], -1) for c in ("normal", "reduce")}
    out, out_ref = net(x, weights), ref(x)
    assert out.abs().max() > 1e-3  # a real output, not zeros
    torch.testing.assert_close(out_ref, out, atol=1e-10, rtol=0)
    # the train-mode forward moved every BN running statistic alike (ours run on slices of per-wave buffers)
    diffs = _max_diffs(net, ref)
    assert max(diffs.values()) < 1e-12, max(diffs.items(), key=lambda kv: kv[1])
    net.eval(), ref.eval()
    torch.testing.assert_close(ref(x), net(x, weights), atol=1e-10, rtol=0)


def _searcher(method: str) -> Searcher:
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(64, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (64,), generator=g)
    data = TensorDataset("random8", x, y, x[:8], y[:8], n_outputs=10, default_objective="cross_entropy")
    cfg = SearchConfig(space="darts", method=method, supernet=SupernetConfig(C=2, layers=3), batch_size=4,
                       epochs=2, seed=0, eval_each_epoch=False)
    s = Searcher(cfg, dataset=data)
    s.model.double()  # parameters keep their identity: the optimizers still hold them
    with torch.no_grad():
        for a in s.arch_params:
            a.normal_(0, 0.5)
    return s


def _next_batches(s: Searcher):
    """The batches ``s.step()`` will draw next (the streams are put back where they were)."""
    saved = s.train_stream.state_dict(), s.val_stream.state_dict()
    batches = s.train_stream.next(), s.val_stream.next()
    s.train_stream.load_state_dict(saved[0])
    s.val_stream.load_state_dict(saved[1])
    return batches


@pytest.mark.parametrize("method", ["darts-v1", "darts-v2"])
def test_same_search_steps(method):
    """Two steps (the second with a live momentum buffer) leave both with the same alphas and weights.

    First order: everything agrees, BN running statistics included. Second order: the reference's
    finite-difference forwards at w +- R v run on the live model in train mode and so update the running
    statistics twice more per step (ours run on a functional copy with cloned buffers; arch_grad's docstring),
    and its in-place perturbation w + Rv - 2Rv + Rv leaves rounding residue in the weights: the statistics are
    excluded there and the weights agree to rounding.
    """
    s = _searcher(method)
    net = s.model
    assert isinstance(net, Supernet)
    ref_search = ReferenceSearch(from_supernet(net), lr=s.lr(), momentum=s.config.momentum,
                                 weight_decay=s.config.weight_decay, grad_clip=s.config.grad_clip,
                                 unrolled=method == "darts-v2")
    start = {n: mine.detach().clone() for n, mine, _ in tensor_pairs(net, ref_search.model)}
    for _ in range(2):
        batch_t, batch_v = _next_batches(s)
        loss_ref, _ = ref_search.step(batch_t, batch_v)
        event = s.step()
        assert event.train_loss == pytest.approx(loss_ref, abs=1e-10)
    diffs = _max_diffs(net, ref_search.model)
    moved = {n: float((mine.detach() - start[n]).abs().max()) for n, mine, _ in tensor_pairs(net, ref_search.model)}
    assert moved["alphas.normal"] > 1e-5 and moved["alphas.reduce"] > 1e-5 and moved["classifier.weight"] > 1e-4
    stats_differ = method == "darts-v2"
    statistic = {n for n in diffs if "running" in n or "num_batches" in n}
    compared = {n: d for n, d in diffs.items() if not (stats_differ and n in statistic)}
    worst = max(compared.items(), key=lambda kv: kv[1])
    assert worst[1] < 1e-12, worst
    if stats_differ:  # the difference named above is real (the test of the exclusion can fail)
        assert max(diffs[n] for n in statistic) > 1e-6


def test_darts_pt_sweep_gives_our_probes():
    """darts-pt's project_op sweep on the reference structure (the baseline of benchmarks/bench_pt_sweep.py)
    measures what our compare_selection measures: each probe's loss and accuracy on every edge of both cell
    types, float64 (dil_conv_3x3's probes, one op to keep the test short), and the unmasked evaluation that
    ours reuses for 'none' is darts-pt's infer without a mask."""
    s = _searcher("darts-v1")
    ours = compare_selection(s, ProjectionConfig(proj_batches=1, exclude_none=False))
    ref, batches, o = darts_pt_network(s.model), searcher_batches(s, "val", 1), s.space.ops.index("dil_conv_3x3")
    theirs = project_op_sweep(ref, batches, (o,))
    assert len(ours.rows) == len(theirs) == 2 * s.space.n_edges
    base_loss, base_acc = infer(ref, batches, {})
    moved = 0.0
    for row in ours.rows:
        p = row.probe
        [(loss, acc)] = theirs[(p.cell_type, p.edge)]
        assert p.masked_acc[o] == acc and p.masked_loss[o] == pytest.approx(loss, rel=1e-12, abs=0)
        assert p.masked_acc[0] == p.base_acc == base_acc and p.ops[0] == "none"
        assert p.masked_loss[0] == p.base_loss == pytest.approx(base_loss, rel=1e-12, abs=0)
        moved = max(moved, abs(loss - base_loss))
    assert moved > 1e-4  # masking dil_conv_3x3 changes the loss: a sweep that ignored the mask would fail above

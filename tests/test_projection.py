"""DARTS-PT: schedule (Appendix A), probe = supernet with the op zeroed, projections, gap, NB201 scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config

from workbench import AnalysisResult, EventBus, Genotype, Searcher, SupernetConfig, get_space
from workbench.analysis import discretisation_gap, genotype_weights
from workbench.analysis.projection import (
    Projection,
    ProjectionConfig,
    clone_searcher,
    compare_selection,
    projection_schedule,
    topology_nodes,
)
from workbench.methods.relax import masked_softmax
from workbench.spaces.cell.nb201 import NB201Table
from workbench.spaces.cell.select import derive_genotype
from workbench.spaces.cell.zoo import published


def _events(schedule, kind):
    return [e for e, k in schedule if k == kind]


def test_schedule_matches_appendix_a():
    darts = projection_schedule(get_space("darts"), 5)
    assert max(e for e, _ in darts) + 1 == 81 and len(_events(darts, "tune")) == 81
    assert _events(darts, "op") == list(range(0, 70, 5))
    assert _events(darts, "edge") == [70, 75, 80]
    nb = projection_schedule(get_space("nb201"), 5)
    assert len(_events(nb, "tune")) == 25
    assert _events(nb, "op") == [0, 5, 10, 15, 20, 24] and not _events(nb, "edge")
    assert topology_nodes(get_space("darts")) == [1, 2, 3] and topology_nodes(get_space("nb201")) == []
    # proj_intv 1 on NB201: the reference formula would leave one edge undecided
    assert len(_events(projection_schedule(get_space("nb201"), 1), "op")) == 6
    assert projection_schedule(get_space("toy"), 0) == [(0, "op")] * 3


@pytest.fixture(scope="module")
def nb201_search():
    torch.set_num_threads(1)
    s = Searcher(tiny_config(space="nb201", arch_lr=1e-2))
    s.run(5)
    return s


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_masking_an_op_is_the_supernet_with_that_weight_zeroed(nb201_search):
    s = clone_searcher(nb201_search)
    s.model.double()
    s.val_data = (s.val_data[0].double(), s.val_data[1])
    pt = Projection(s, ProjectionConfig(proj_batches=2))
    before = _state(s.model)
    res = pt.probe("cell", 3)
    after = _state(s.model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # buffers restored, nothing else touched
    assert res.ops == s.space.ops  # NB201 probes every op, 'none' included (reference)
    x, y = s.val_data
    batches = [(x[:16], y[:16]), (x[16:32], y[16:32])]
    full = s.model.op_mask("cell").numpy()
    for i, name in enumerate(res.ops):
        w = masked_softmax(s.model.alphas["cell"], s.model.op_mask("cell")).detach().clone()
        w[3, s.space.ops.index(name)] = 0.0
        s.model.train()
        with torch.no_grad():
            losses = [F.cross_entropy(s.model(xb, {"cell": w}, {"cell": full}), yb, reduction="sum") for xb, yb in batches]
            correct = sum(int((s.model(xb, {"cell": w}, {"cell": full}).argmax(1) == yb).sum()) for xb, yb in batches)
        assert res.masked_loss[i] == pytest.approx(float(sum(losses)) / 32, rel=1e-12)
        assert res.masked_acc[i] == correct / 32
    # masking 'none' changes nothing (it is never computed); the choice is the first lowest accuracy
    assert res.masked_loss[0] == pytest.approx(res.base_loss, rel=1e-12)
    assert res.chosen == res.ops[int(np.argmin(res.masked_acc))]


def test_bn_side_effects_flag_keeps_running_statistics_moving(nb201_search):
    s = clone_searcher(nb201_search)
    before = _state(s.model)
    Projection(s, ProjectionConfig(proj_batches=1, bn_side_effects=True)).probe("cell", 0)
    after = _state(s.model)
    moved = [k for k in before if "running" in k and not torch.equal(before[k], after[k])]
    assert moved  # the reference's side effect
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)


def test_eval_mode_probe_and_loss_criterion(nb201_search):
    s = clone_searcher(nb201_search)
    res = Projection(s, ProjectionConfig(proj_batches=2, bn="eval", crit="loss")).probe("cell", 1)
    assert res.chosen == res.ops[int(np.argmax(res.masked_loss))]
    assert res.masked_loss != Projection(s, ProjectionConfig(proj_batches=2)).probe("cell", 1).masked_loss


def test_full_projection_on_nb201_darts_and_blank(nb201_search):
    bus_events = []
    for update in ("darts", "blank"):
        s = clone_searcher(nb201_search)
        s.bus.subscribe(bus_events.append, kinds=(AnalysisResult,))
        alphas0 = [a.detach().clone() for a in s.model.arch_parameters()]
        pt = Projection(s, ProjectionConfig(proj_intv=2, tune_steps=1, proj_batches=1, arch_update=update, seed=3))
        g = pt.run()
        assert pt.finished and bool(pt.decided["cell"].all())
        w = pt.weights()["cell"]
        assert torch.equal(w.sum(1), torch.ones(6, dtype=w.dtype))  # one-hot rows everywhere
        assert g == derive_genotype(s.space, {"cell": w.numpy()}) and g.is_nb201()
        assert s.optimizer.param_groups[0]["lr"] == pytest.approx(s.config.lr * 0.1)
        unchanged = all(torch.equal(a, b) for a, b in zip(alphas0, s.model.arch_parameters()))
        assert unchanged == (update == "blank")
    n = len(projection_schedule(get_space("nb201"), 2))
    assert len(bus_events) == 2 * n and all(e.kind == "projection" for e in bus_events)
    assert {e.values["phase"] for e in bus_events} == {"op", "tune"}


def test_projection_is_seeded(nb201_search):
    picks = []
    for seed in (0, 0, 1):
        pt = Projection(clone_searcher(nb201_search), ProjectionConfig(proj_intv=0, proj_batches=1, seed=seed))
        picks.append([pt.step().values["probes"][0]["edge"] for _ in range(6)])
    assert picks[0] == picks[1] and sorted(picks[0]) == list(range(6)) and picks[0] != picks[2]


@pytest.fixture(scope="module")
def darts_search():
    torch.set_num_threads(1)
    s = Searcher(tiny_config(space="darts", supernet=SupernetConfig(C=4, layers=3), batch_size=8, data_limit=64))
    s.run(2)
    return s


def test_topology_projection_keeps_two_edges(darts_search):
    s = clone_searcher(darts_search)
    pt = Projection(s, ProjectionConfig(proj_intv=0, proj_batches=1))
    out = pt.project_edge("normal", node=2)  # node 2 has 4 inputs: two removal rounds
    assert len(out["kept"]) == 2 and len(out["rounds"]) == 2
    first = out["rounds"][0]
    accs = np.array(first["acc"])
    assert first["removed"] == first["edges"][int(np.flatnonzero(accs == accs.max())[-1])]  # last maximum
    w = pt.weights()["normal"]
    removed = [k for k in s.space.node_edges(2) if k not in out["kept"]]
    assert torch.count_nonzero(w[removed]) == 0 and bool((w[out["kept"]] > 0).all())
    with pytest.raises(RuntimeError, match="left"):
        for _ in range(3):
            pt.project_edge("normal")


def test_darts_op_projection_never_picks_none(darts_search):
    s = clone_searcher(darts_search)
    pt = Projection(s, ProjectionConfig(proj_intv=0, proj_batches=1))
    res = pt.project_op("reduce", edge=5)
    assert "none" not in res.ops and len(res.ops) == 7
    assert bool(pt.decided["reduce"][5]) and not bool(pt.decided["normal"].any())
    assert float(pt.weights()["reduce"][5, s.space.ops.index(res.chosen)]) == 1.0


def test_comparison_changes_nothing_and_explains_disagreements(nb201_search):
    s = nb201_search
    before = _state(s.model)
    cmp = compare_selection(s, ProjectionConfig(proj_batches=2))
    assert all(torch.equal(before[k], v) for k, v in s.model.state_dict().items())
    assert len(cmp.rows) == 6 and cmp.magnitude == s.genotype()
    assert [op for _, op, _ in [e for e in cmp.perturbation.cell("cell").edges()]] == [r.perturbation_op for r in cmp.rows]
    for r in cmp.rows:
        assert r.agree == (r.magnitude_op == r.perturbation_op) and bool(r.why) != r.agree
    text = cmp.table()
    assert text.count("\n") >= 8 and "perturbation:" in text


def test_inherited_gap_is_the_fully_projected_supernet(nb201_search):
    s = clone_searcher(nb201_search)
    pt = Projection(s, ProjectionConfig(proj_intv=0, proj_batches=None))
    g = pt.run()
    gap = discretisation_gap(s, g, batches=None)
    assert (gap.inherited_loss, gap.inherited_acc) == pytest.approx(pt._evaluate(pt.weights()), rel=1e-6)
    assert gap.supernet_acc - gap.inherited_acc == pytest.approx(gap.inherited_gap)


@pytest.mark.parametrize("space,name", [("darts", "DARTS_V2"), ("nb201", None)])
def test_genotype_weights_round_trip(space, name):
    sp = get_space(space)
    g = published(name) if name else Genotype.from_nb201_str(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    w = genotype_weights(sp, g)
    back = derive_genotype(sp, {c: t.numpy() for c, t in w.items()})
    for c in sp.cell_types:  # the same (op, input) pairs per node; the order within a node is the rule's
        assert [sorted(n) for n in back.cell(c).nodes] == [sorted(n) for n in g.cell(c).nodes]
    assert sum(int(t.sum()) for t in w.values()) == sum(len(g.cell(c).edges()) for c in sp.cell_types)


def test_genotypes_score_in_the_nb201_table(nb201_search, nb201_csv):
    table = NB201Table.load(nb201_csv)
    cmp = compare_selection(nb201_search, ProjectionConfig(proj_batches=1))
    for g in (cmp.magnitude, cmp.perturbation):
        rec = table.lookup(g)
        assert 0 < rec.c10 <= 100 and rec.arch_str == g.to_nb201_str()


def test_bad_config_is_explained():
    with pytest.raises(ValueError, match="crit"):
        ProjectionConfig(crit="entropy")
    with pytest.raises(ValueError, match="arch_update"):
        ProjectionConfig(arch_update="frozen")
    with pytest.raises(ValueError, match="proj_intv"):
        ProjectionConfig(proj_intv=-1)


def test_gap_tracker_over_a_search_with_retraining():
    from workbench.analysis import track_gap
    from workbench.spaces.cell.discrete import EvalConfig
    events = []
    bus = EventBus(strict=True)
    bus.subscribe(events.append, kinds=(AnalysisResult,))
    s = Searcher(tiny_config(epochs=3), bus=bus)
    tracker = track_gap(s, every=2, retrain=EvalConfig(epochs=1, C=4, batch_size=32), retrain_every=2)
    s.run()
    assert [e.values["epoch"] for e in events] == [0, 2]  # every 2nd epoch, and always the last
    assert events[0].values["retrained_acc"] is not None and events[1].values["retrained_acc"] is None
    table = tracker.table()
    assert table.shape == (2, 3) and np.isnan(table[1, 2]) and ((table[:, :2] >= 0) & (table[:, :2] <= 1)).all()
    last = discretisation_gap(s, s.genotype())
    assert events[-1].values["inherited_acc"] == last.inherited_acc
    assert events[-1].values["genotype"] == str(s.genotype())


def test_blank_method_freezes_alphas_by_default_and_events_are_json():
    import json
    s = Searcher(tiny_config(space="nb201", method="blank", epochs=1))
    s.run()
    pt = Projection(s, ProjectionConfig(proj_intv=2, tune_steps=1, proj_batches=1))
    assert pt.arch_update == "blank"
    alphas = [a.detach().clone() for a in s.model.arch_parameters()]
    events = [pt.step() for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(alphas, s.model.arch_parameters()))
    for e in events:
        json.dumps(e.values, allow_nan=False)  # the run store writes them as JSON
    assert Projection(clone_searcher(s), ProjectionConfig(arch_update="darts")).arch_update == "darts"


def test_probe_reuses_the_unmasked_evaluation(nb201_search, monkeypatch):
    """Without replay: one unmasked evaluation per probe, reused for 'none' (zero output); compare_selection
    evaluates the unmasked supernet once for the whole sweep and gets exactly the probes that separate
    evaluations give. With replay (the default) no whole-supernet evaluation is made, and the values agree."""
    s = clone_searcher(nb201_search)
    pc = ProjectionConfig(proj_batches=2, replay=False)
    pt = Projection(s, pc)
    calls = []
    real = Projection._eval
    monkeypatch.setattr(Projection, "_eval", lambda self, w: calls.append(1) or real(self, w))
    res = pt.probe("cell", 2)
    assert len(res.ops) == 5 and len(calls) == 1 + 4  # the base, then every op but 'none'
    assert res.masked_loss[res.ops.index("none")] == res.base_loss
    calls.clear()
    fresh = [pt.probe("cell", e) for e in range(s.space.n_edges)]
    per_probe = len(calls)
    calls.clear()
    cmp = compare_selection(s, pc)
    assert len(calls) == per_probe - (s.space.n_edges - 1)  # one base evaluation instead of one per edge
    assert [r.probe for r in cmp.rows] == fresh
    # with bn_side_effects every probe is evaluated, as in the reference (replay or not)
    calls.clear()
    Projection(s, ProjectionConfig(proj_batches=2, bn_side_effects=True)).probe("cell", 2)
    assert len(calls) == 1 + 5
    calls.clear()
    replayed = compare_selection(s, ProjectionConfig(proj_batches=2))
    assert not calls
    for r, p in zip(replayed.rows, fresh, strict=True):
        assert r.probe.masked_loss == pytest.approx(p.masked_loss, rel=1e-5) and r.probe.chosen == p.chosen



@pytest.mark.parametrize("cell_type,node", [("normal", 3), ("reduce", 2)])
def test_replayed_topology_projection_equals_evaluating_each_removal(darts_search, cell_type, node):
    """Topology projection's probes (edge k removed: its whole mix subtracted from the node, the node's
    candidate edges batched) equal evaluating each supernet without that edge (float64), round after round
    (the second round runs with the first round's edge already removed), on a supernet whose other edges are
    partly projected (one-hot rows: their zero-weight ops are not computed); the choices agree."""
    out = {}
    for replay in (True, False):
        s = clone_searcher(darts_search)
        s.model.double()
        s.val_data = (s.val_data[0].double(), s.val_data[1])
        pt = Projection(s, ProjectionConfig(proj_intv=0, proj_batches=1, replay=replay))
        pt.project_op(cell_type, edge=0)  # a decided (one-hot) edge into node 0
        out[replay] = pt.project_edge(cell_type, node=node)
    fast, slow = out[True], out[False]
    assert fast["kept"] == slow["kept"] and len(fast["rounds"]) == node
    for f, p in zip(fast["rounds"], slow["rounds"], strict=True):
        assert f["edges"] == p["edges"] and f["removed"] == p["removed"] and f["acc"] == p["acc"]
        assert f["loss"] == pytest.approx(p["loss"], rel=1e-12, abs=0)
        assert max(p["loss"]) - min(p["loss"]) > 1e-6  # the removals differ


@pytest.mark.parametrize("bn,edges", [("train", [("normal", 0), ("normal", 13), ("reduce", 5)]),
                                      ("eval", [("reduce", 5)])])
def test_replayed_probes_equal_evaluating_every_probe(darts_search, bn, edges):
    """The replay (upstream activations reused, the masked node corrected by w * op(x), one edge's probes
    batched) gives each probe's loss and accuracy as evaluating the whole masked supernet does (float64):
    a normal edge into the first node, one into the last node (nothing left to replay in its cell), and a
    reduce edge (the later reduce cell runs each probe's own masked weights); the running statistics stay."""
    s = clone_searcher(darts_search)
    s.model.double()
    s.val_data = (s.val_data[0].double(), s.val_data[1])
    pc = ProjectionConfig(proj_batches=1, bn=bn, exclude_none=False)
    before = _state(s.model)
    fast = Projection(s, pc).probe_edges(edges)
    assert all(torch.equal(before[k], v) for k, v in s.model.state_dict().items())
    slow = Projection(s, ProjectionConfig(proj_batches=1, bn=bn, exclude_none=False, replay=False)).probe_edges(edges)
    for f, p in zip(fast, slow, strict=True):
        assert f.masked_acc == p.masked_acc and f.chosen == p.chosen and f.base_loss == p.base_loss
        assert f.masked_loss == pytest.approx(p.masked_loss, rel=1e-12, abs=0)
        assert max(p.masked_loss) - min(p.masked_loss) > 1e-6  # the probes differ

"""DARTS-GT (SEEDS_2 §7): packed graphs, the node objective, the layer's mixing and attention, head masking, the
causal-ablation metrics and their invariance to node relabelling (the oracles of §7.8), and a short search."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench import SearchConfig, Searcher
from workbench.analysis.graph_explain import (
    ExplainConfig,
    bottom_heads,
    explain,
    focus,
    head_deviation,
    jaccard,
    masked_heads,
    node_deviation,
    node_importance,
    specialisation,
    top_heads,
    top_nodes,
)
from workbench.methods import get_method, paper_config
from workbench.spaces import Choices, get_space
from workbench.spaces.graph import GraphTransformerConfig, GraphTransformerSpace, graph_choices
from workbench.spaces.graph.experts import graph_batch
from workbench.spaces.graph.layer import standardise
from workbench.tasks import Task, TaskInfo, get_objective, load_dataset
from workbench.tasks.data.graphs import pack, permute_nodes, remove_node, unpack
from workbench.tasks.graph_objectives import node_cross_entropy

SMALL = {"d": 8, "heads": 2}
SPACE = GraphTransformerSpace()


@pytest.fixture(scope="module")
def motifs():
    return load_dataset("graphs_motifs", seed=0)


@pytest.fixture(scope="module")
def sbm():
    return load_dataset("graphs_sbm", seed=0)


def _net(ds, picks=("gin", "gat"), seed=0, **cfg):
    torch.manual_seed(seed)
    return SPACE.compile(graph_choices(SPACE, picks), Task.of(ds).info, **{**SMALL, **cfg}).eval()


# ------------------------------------------------------------------------------------------------ data
def test_packing_round_trips_and_relabelling_permutes_every_part():
    a = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
    f = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    x = torch.from_numpy(pack(a, f, 5))
    assert x.shape == (5, 1 + 2 + 5)
    mask, feats, adj = unpack(x[None])
    assert mask[0].tolist() == [1, 1, 1, 0, 0] and torch.equal(feats[0, :3], torch.from_numpy(f))
    assert torch.equal(adj[0, :3, :3], torch.from_numpy(a)) and adj[0, 3:].abs().sum() == 0
    perm = torch.tensor([2, 0, 4, 1, 3])
    y = permute_nodes(x, perm)
    m2, f2, a2 = unpack(y[None])
    assert torch.equal(m2[0], mask[0][perm]) and torch.equal(f2[0], feats[0][perm])
    assert torch.equal(a2[0], adj[0][perm][:, perm])
    with pytest.raises(ValueError, match="symmetric"):
        pack(np.triu(np.ones((3, 3)), 1), f, 5)
    with pytest.raises(ValueError, match="does not fit"):
        pack(a, f, 2)


def test_graph_datasets_have_a_fixed_test_set_truth_and_padding_labels(motifs, sbm):
    assert motifs.level == "graph" and motifs.default_objective == "cross_entropy" and motifs.n_outputs == 2
    assert sbm.level == "node" and sbm.default_objective == "node_cross_entropy"
    assert len(motifs.y_train) == 450 and len(motifs.y_test) == 150
    assert (motifs.truth_test.sum(1) == 5).all()  # one 5-node motif per graph
    other = load_dataset("graphs_motifs", seed=3, limit=100)
    assert torch.equal(other.x_test, motifs.x_test) and len(other.x_train) == 100
    assert not torch.equal(other.x_train, motifs.x_train[:100])  # the seed orders the training graphs
    mask = unpack(sbm.x_train)[0]
    assert torch.equal(sbm.y_train < 0, mask == 0)  # labels -1 exactly on padding rows
    adj = unpack(motifs.x_train)[2]
    assert torch.equal(adj, adj.transpose(1, 2)) and adj.diagonal(dim1=1, dim2=2).abs().sum() == 0


def test_node_objective_averages_over_real_nodes_per_graph():
    obj = get_objective("node_cross_entropy")
    logits = torch.randn(2, 4, 3)
    y = torch.tensor([[0, 1, -1, -1], [2, 2, 1, 0]])
    manual = torch.stack([torch.nn.functional.cross_entropy(logits[0, :2], y[0, :2]),
                          torch.nn.functional.cross_entropy(logits[1], y[1])]).mean()
    torch.testing.assert_close(obj.loss(logits, y), manual)
    changed = logits.clone()
    changed[0, 2:] = 100.0  # padding nodes: no effect
    torch.testing.assert_close(node_cross_entropy(changed, y), manual)
    hits = (logits.argmax(-1) == y).float()
    acc = (hits[0, :2].mean() + hits[1].mean()) / 2
    torch.testing.assert_close(obj.metrics(logits, y)["accuracy"], acc)
    with pytest.raises(ValueError, match="logits"):
        obj.loss(logits[0], y[0])


# ------------------------------------------------------------------------------------------------ the layer
def test_one_hot_mixing_with_other_experts_off_is_that_expert_alone_and_uniform_is_the_mean(motifs):
    """§7.8 oracle 3: a supernet whose other experts are switched off computes the discrete net of the kept expert
    (same weights); with alpha = 0 the mix is the mean of the standardised experts."""
    info = Task.of(motifs).info
    torch.manual_seed(0)
    sup = SPACE.build_supernet(info, SMALL).eval()
    x = motifs.x_test[:6]
    for k, name in enumerate(SPACE.experts):
        net = SPACE.compile(graph_choices(SPACE, [name, name]), info, **SMALL).eval()
        state = {key: v for key, v in sup.body.state_dict().items() if ".experts." not in key or f".{name}." in key}
        net.body.load_state_dict(state)
        active = np.zeros((2, 3), dtype=bool)
        active[:, k] = True
        one_hot = torch.zeros(2, 3)
        one_hot[:, k] = 1
        torch.testing.assert_close(sup(x, {"layers": one_hot}, {"layers": active}), net(x), rtol=1e-5, atol=1e-6)
    layer = sup.body.layers[0]
    mask, _, adj = unpack(x)
    g = graph_batch(mask, adj)
    h = torch.randn(6, 25, 8) * mask[..., None]
    with torch.no_grad():
        mixed = layer.mix(h, g, torch.softmax(torch.zeros(3), 0), [True] * 3)
        outs = standardise(torch.stack([layer.experts[e](h, g) for e in SPACE.experts]), mask)
    torch.testing.assert_close(mixed, outs.mean(0) * mask[..., None], rtol=1e-5, atol=1e-6)
    for b in range(6):  # per graph: zero mean and unit population std over the experts' real-node outputs
        real = outs[:, b][:, mask[b].bool()]
        assert abs(float(real.mean())) < 1e-5 and abs(float(real.std(unbiased=False)) - 1) < 1e-4


def test_attention_rows_sum_to_one_over_neighbours_and_vanish_elsewhere(sbm):
    """§7.8 oracle 4, per head; nodes without neighbours (and padding) get zero attention."""
    net = _net(sbm)
    x = sbm.x_test[:8].clone()
    x[0, 1, 1 + sbm.n_features:] = 0  # isolate node 1 of graph 0
    x[0, :, 1 + sbm.n_features + 1] = 0
    with torch.no_grad():
        _, atts = net.forward_with_attention(x)
    mask, _, adj = unpack(x)
    has_nb = (adj.sum(-1) > 0).float()  # (B, N)
    for att in atts:
        assert att.shape == (8, 2, 30, 30)
        torch.testing.assert_close(att.sum(-1), has_nb[:, None].expand(-1, 2, -1), rtol=0, atol=1e-5)
        assert float((att * (1 - adj[:, None])).abs().max()) == 0.0


# ------------------------------------------------------------------------------------------------ head masking
def test_head_masking_is_exact_and_restores_the_weights(motifs):
    """§7.8 oracle 1: zeroing W_k/W_v rows and W_o columns of a head equals a multiplicative zero mask on its
    messages; a head whose W_o columns are already zero has delta = 0 on every graph."""
    net = _net(motifs)
    x, y = motifs.x_test[:20], motifs.y_test[:20]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with masked_heads(net, [(1, 0)]):
        by_weights = net(x)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    net.layers[1].head_mask[0] = 0
    by_mask = net(x)
    net.layers[1].head_mask[0] = 1
    torch.testing.assert_close(by_weights, by_mask, rtol=0, atol=1e-6)
    assert not torch.allclose(by_weights, net(x))  # the head did contribute
    with torch.no_grad():
        net.layers[0].o.weight[:, 4:8] = 0  # head 1 of layer 0 (d_h = 4) feeds nothing forward
    delta = head_deviation(net, x, y)
    assert delta.shape == (20, 2, 2) and np.all(delta[:, 0, 1] == 0) and np.abs(delta).max() > 0
    with pytest.raises(ValueError, match="out of range"):
        with masked_heads(net, [(2, 0)]):
            pass


def test_node_deletion_removes_the_node_and_its_deviation_is_the_error_change(motifs, sbm):
    x = motifs.x_test[:4]
    gone = remove_node(x, 3)
    mask, feats, adj = unpack(gone)
    assert (mask[:, 3] == 0).all() and (feats[:, 3] == 0).all() and (adj[:, 3] == 0).all() and (adj[:, :, 3] == 0).all()
    keep = [i for i in range(25) if i != 3]
    assert torch.equal(unpack(gone)[2][:, keep][:, :, keep], unpack(x)[2][:, keep][:, :, keep])
    net = _net(motifs)
    y = motifs.y_test[:4]
    nd = node_deviation(net, x, y)
    real = unpack(x)[0].numpy() > 0
    assert np.isnan(nd[~real]).all() and np.isfinite(nd[real]).all()
    with torch.no_grad():
        p = torch.softmax(net(x).double(), -1)[torch.arange(4), y]
        p_gone = torch.softmax(net(gone).double(), -1)[torch.arange(4), y]
    np.testing.assert_allclose(nd[:, 3], (p - p_gone).numpy(), atol=1e-9)  # (1 - p_gone) - (1 - p)
    node_net = _net(sbm)  # node level: the other nodes' mean error, before and after
    xs, ys = sbm.x_test[:2], sbm.y_test[:2]
    nd = node_deviation(node_net, xs, ys)
    with torch.no_grad():
        e0 = 1 - torch.softmax(node_net(xs).double(), -1).gather(2, ys.clamp_min(0)[..., None])[..., 0]
        e1 = 1 - torch.softmax(node_net(remove_node(xs, 0)).double(), -1).gather(2, ys.clamp_min(0)[..., None])[..., 0]
    others = (ys >= 0) & (torch.arange(30) != 0)
    manual = ((e1 - e0) * others).sum(1) / others.sum(1)
    np.testing.assert_allclose(nd[:, 0], manual.numpy(), atol=1e-9)


# ------------------------------------------------------------------------------------------------ metrics
def test_metric_arithmetic_on_hand_made_values():
    """§7.8 oracle 2 and Appendix A's vectors."""
    assert specialisation(np.array([0.0, 0.0, 1.0, -1.0])) == pytest.approx(0.70711, abs=1e-5)
    np.testing.assert_allclose(specialisation(np.array([[[0.0, 0.0], [1.0, -1.0]], [[2.0, 2.0], [2.0, 2.0]]])),
                               [0.70711, 0.0], atol=1e-5)
    assert focus([{1, 2}, {1, 2}, {1, 2}]) == 1.0 and focus([{1}, {2}, {3}]) == 0.0
    assert focus([{1, 2}, {2, 3}]) == pytest.approx(1 / 3) and jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert top_heads([0.3, -0.1, 0.2, -0.5], 3) == (0, 2, 1)  # positives first, then the largest negatives
    assert bottom_heads([0.3, -0.1, 0.2, -0.5], 3) == (3, 1, 2)
    with pytest.raises(ValueError, match="pairs"):
        focus([{1}])
    # attention of a path 0 - 1 - 2: node 1 splits 0.75 / 0.25 between its neighbours
    att = np.array([[0, 1, 0], [0.75, 0, 0.25], [0, 1, 0]])
    adj = (att > 0) | (att.T > 0)
    np.testing.assert_allclose(node_importance(att, adj, "received"), [0.75, 2.0, 0.25])
    # reference: A[src, dst] = att.T with each source row renormalised, then column sums: sources 0 and 2 are
    # attended only by node 1 (row [0, 1, 0] each) and source 1 half by 0, half by 2 -> [0.5, 2, 0.5]
    np.testing.assert_allclose(node_importance(att, adj, "reference"), [0.5, 2.0, 0.5])
    np.testing.assert_allclose(node_importance(att, adj, "received", degree_normalised=True), [0.75, 1.0, 0.25])
    assert top_nodes(np.array([0.1, 0.9, 0.5, 0.9, 9.0]), np.array([1, 1, 1, 1, 0]), 0.25) == {1, 3}  # tie kept
    assert top_nodes(np.array([0.1, 0.9, 0.5]), np.ones(3), 0.1) == {1}  # at least one node
    with pytest.raises(ValueError, match="k_heads"):
        ExplainConfig(k_heads=1)


def test_relabelling_nodes_permutes_node_outputs_and_leaves_graph_outputs_and_metrics_unchanged(motifs, sbm):
    """§7.8 oracle 5, for a graph-level and a node-level network and every metric."""
    perm = torch.randperm(25, generator=torch.Generator().manual_seed(1))
    net = _net(motifs, ("gcn", "gin"), seed=2)
    x, y, truth = motifs.x_test[:24], motifs.y_test[:24], motifs.truth_test[:24]
    xp = permute_nodes(x, perm)
    torch.testing.assert_close(net(xp), net(x), rtol=1e-5, atol=1e-5)
    cfg = ExplainConfig(k_heads=3)
    a, b = explain(net, x, y, truth, cfg), explain(net, xp, y, truth[:, perm], cfg)
    np.testing.assert_allclose(b.delta, a.delta, atol=1e-6)
    np.testing.assert_allclose(b.specialisation, a.specialisation, atol=1e-6)
    np.testing.assert_allclose(b.focus, a.focus, atol=1e-9)
    np.testing.assert_allclose(b.motif_overlap, a.motif_overlap, atol=1e-9)
    np.testing.assert_allclose(b.node_delta, a.node_delta[:, perm], atol=1e-6)  # node deletion: permuted
    np.testing.assert_allclose(b.ablation_overlap, a.ablation_overlap, atol=1e-9)
    assert b.top_heads == a.top_heads
    assert all({int(perm[i]) for i in sb} == set(sa)
               for ga, gb in zip(a.top_nodes, b.top_nodes, strict=True) for sa, sb in zip(ga, gb, strict=True))
    assert 0 <= a.summary()["motif_overlap"] <= 1 and a.summary()["chance_overlap"] == pytest.approx(
        float((truth.sum(1) / unpack(x)[0].sum(1)).mean()), rel=1e-6)
    node_net = _net(sbm, ("gat", "gcn"))
    perm30 = torch.randperm(30, generator=torch.Generator().manual_seed(2))
    xs = sbm.x_test[:8]
    torch.testing.assert_close(node_net(permute_nodes(xs, perm30)), node_net(xs)[:, perm30], rtol=1e-5, atol=1e-5)
    da = head_deviation(node_net, xs, sbm.y_test[:8])
    db = head_deviation(node_net, permute_nodes(xs, perm30), sbm.y_test[:8][:, perm30])
    np.testing.assert_allclose(db, da, atol=1e-6)


# ------------------------------------------------------------------------------------------------ space + search
def test_space_settings_and_errors_are_clear():
    assert get_space("graph_transformer").choice_groups()[0].options == ("gin", "gcn", "gat")
    assert SPACE.with_ops(remove=["gcn", "gat"]).choice_groups()[0].options == ("gin",)
    with pytest.raises(ValueError, match="unknown supernet setting"):
        SPACE.supernet_config({"width": 3})
    with pytest.raises(ValueError, match="divisible"):
        GraphTransformerConfig(d=10, heads=4)
    with pytest.raises(ValueError, match="graph- or node-level"):
        SPACE.build_supernet(TaskInfo((5, 11), 2, "my_graphs"))
    assert SPACE.build_supernet(TaskInfo((5, 11), 2, "my_graphs"), {"task_level": "node"}).level == "node"
    with pytest.raises(ValueError, match="packed graphs"):
        SPACE.build_supernet(TaskInfo((1, 8, 8), 10, "digits"))
    with pytest.raises(Exception, match="gcn"):
        SPACE.check(Choices("graph_transformer", {"layers": ("gin", "mlp")}))
    assert get_method("darts-gt").order == "arch_first" and get_method("darts-gt").spaces == ("graph_transformer",)


def test_a_short_search_moves_alpha_and_derives_a_trainable_network():
    torch.set_num_threads(1)
    cfg = paper_config(SearchConfig(space="graph_transformer", method="darts-gt", dataset="graphs_sbm", seed=0,
                                    data_limit=64, supernet=SMALL, eval_each_epoch=False)).replace(epochs=2)
    assert cfg.train_portion == 0.6 and cfg.arch_lr == 4e-2
    s = Searcher(cfg)
    a0 = s.alphas()["layers"].copy()
    s.run()
    assert not np.allclose(s.alphas()["layers"], a0)
    arch = s.genotype()
    assert isinstance(arch, Choices) and len(arch.picks["layers"]) == 2
    net = s.space.compile(arch, s.task.info, **SMALL)
    assert net(s.dataset.x_test[:3]).shape == (3, 30, 4)


def test_a_graph_search_resumes_bit_for_bit_through_a_run_folder(tmp_path):
    from workbench.runs import RunStore, load_run, resume

    cfg = SearchConfig(space="graph_transformer", method="darts-gt", dataset="graphs_motifs", seed=1, data_limit=40,
                       supernet=SMALL, epochs=2, batch_size=8, arch_lr=0.05, eval_each_epoch=False)
    full = Searcher(cfg)
    full.run()
    s = Searcher(cfg)
    store = RunStore(tmp_path / "run", s)
    s.run(s.steps_per_epoch)
    store.close()
    resumed, store = resume(tmp_path / "run")
    assert resumed.model.cfg == s.model.cfg  # the supernet settings travel through config.json
    resumed.run()
    store.close()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert load_run(tmp_path / "run").genotype == full.genotype()


def test_views_operator_panel_and_graph_drawing(motifs, tmp_path):
    pytest.importorskip("plotly")
    from widgets import dashboard
    from widgets.figures.graph_attention import graph_attention_figure, spring_layout
    from widgets.panels import PANELS
    from widgets.report import write_report
    from workbench.history import History
    from workbench.runs import RunStore, load_run

    cfg = SearchConfig(space="graph_transformer", method="darts-gt", dataset="graphs_motifs", seed=0, data_limit=48,
                       supernet=SMALL, epochs=1, batch_size=16, arch_lr=0.05, eval_each_epoch=False)
    s = Searcher(cfg)
    h = History.attach(s)
    store = RunStore(tmp_path / "run", s)
    s.run()
    store.close()
    assert "gt_operators" in [p.name for p in PANELS.for_space(s.space)]
    assert "gt_operators" not in [p.name for p in PANELS.for_space(get_space("chain"))]
    fig = dashboard(h, static=True).figures()["gt_operators"]
    assert [t.name for t in fig.data] == ["gin", "gcn", "gat"]
    probs = h.weights("layers")[-1]
    np.testing.assert_allclose([list(t.x) for t in fig.data], probs.T, rtol=1e-6)
    picks = s.genotype().picks["layers"]
    assert [a.text.split("<b>")[1].split("<")[0] for a in fig.layout.annotations] == list(picks)
    html = write_report(tmp_path / "run", load_run(tmp_path / "run").history).read_text()
    assert "Derived GNN operator per layer" in html
    mask, _, adj = (t.numpy() for t in unpack(motifs.x_test[:1]))
    n = int(mask[0].sum())
    imp = np.random.default_rng(0).random((3, 25))
    g = graph_attention_figure(adj[0], mask[0], imp, truth=motifs.truth_test[0].numpy(), top=[{0, 1}, {2}, set()],
                               titles=["a", "b", "c"])
    nodes = [t for t in g.data if t.name == "nodes"]
    assert len(nodes) == 3 and len(nodes[0].x) == n and list(nodes[1].marker.color) == pytest.approx(
        list(imp[1][mask[0] > 0]))
    assert sum(w == 2.5 for w in nodes[0].marker.line.width) == 5  # the motif's nodes are ringed
    pos = spring_layout(adj[0][:n, :n])
    assert pos.shape == (n, 2) and np.isfinite(pos).all()

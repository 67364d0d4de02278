"""DNIS (SEEDS_2 §8.7 oracles): the soft selection mask, the alpha step, the update order, pruning, the data.

The claims (fixed-seed searches: frequent features keep more dimensions after pruning, the mask sinks on rare
blocks, the validation loss does not rise) are asserted in the lesson part ``notebooks/_part_dnis.py``.
"""
from __future__ import annotations

import copy
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.errors import ConfigError
from workbench.methods import paper_config
from workbench.methods.dnis import (
    ClampedMask,
    NormalisedClampedSGD,
    embedding_block_clamp,
    embedding_block_mask,
    feature_block_mask,
    row_normalise,
)
from workbench.runs import RunStore, resume
from workbench.spaces import get_space
from workbench.spaces.embedding import (
    EmbeddingDims,
    EmbeddingDimsSpace,
    block_sizes,
    merge_mask,
    prune_embeddings,
    prune_mask,
)
from workbench.tasks import DatasetNotFoundError, TaskInfo, load_dataset
from workbench.tasks.data import interactions
from workbench.tasks.data.interactions import load_ml100k, reindex_by_frequency

SPACE = get_space("embedding_dims")
TASK = TaskInfo((2,), 1, "interactions")


def _search(options=None, *, limit=2000, epochs=2, dataset="interactions", supernet=None, **kw) -> Searcher:
    cfg = paper_config(SearchConfig(space="embedding_dims", method="dnis", dataset=dataset, seed=0, data_limit=limit,
                                    eval_each_epoch=False, method_options=options or {"warm_start_epochs": 1},
                                    supernet=supernet))
    return Searcher(cfg.replace(epochs=epochs, batch_size=256, **kw))


# ------------------------------------------------------------------------------ the mask (§8.7 1, 4)
@pytest.mark.parametrize("model", ["fm", "mlp"])
def test_a_mask_of_all_ones_is_the_base_model_bit_for_bit(model):
    torch.manual_seed(0)
    net = SPACE.build_supernet(TASK, {"model": model})
    x = torch.randint(0, 1200, (64, 2))
    w, _ = ClampedMask()(net.alphas["dims"], net.op_mask("dims"), None)
    assert torch.equal(w, torch.ones(5, 16))  # init_alpha = 1, no softmax
    assert torch.equal(net(x, {"dims": w}), net.net(x, None))  # None: no mask multiply at all


def test_the_mask_scales_each_feature_blocks_dimensions_by_hand():
    torch.manual_seed(0)
    net = SPACE.build_supernet(TASK)
    w = torch.rand(5, 16)
    x = torch.tensor([[0, 1199], [130, 400]])  # ids 0 (block 1), 1199 (block 5), 130 (block 2), 400 (block 3)
    e = net.net.feature_embedding.weight
    b = net.net.feature_bias.weight[:, 0]
    by_hand = torch.stack([net.net.global_bias + b[0] + b[1199] + (e[0] * w[0] * e[1199] * w[4]).sum(),
                           net.net.global_bias + b[130] + b[400] + (e[130] * w[1] * e[400] * w[2]).sum()])
    torch.testing.assert_close(net(x, {"dims": w}), by_hand)


def test_autosrh_tied_masks_code_semantics():
    """feature_block: W_ij = clamp(alpha_j - i, 0, 1) (the code's form, SEEDS_2 Appendix A); embedding_block:
    W_ij = clamp(alpha_i - j, 0, 1) with its [1, B_d] clamp and nudge."""
    fb = feature_block_mask(torch.tensor([2.5, 0.5]), 3)
    assert torch.equal(fb, torch.tensor([[1.0, 0.5], [1.0, 0.0], [0.5, 0.0]]))
    eb = embedding_block_mask(torch.tensor([2.5, 0.5]), 3)
    assert torch.equal(eb, torch.tensor([[1.0, 1.0, 0.5], [0.5, 0.0, 0.0]]))
    a = embedding_block_clamp(torch.tensor([2.95, 0.3, 2.5, 9.0]), 4)
    torch.testing.assert_close(a, torch.tensor([3.001, 1.001, 2.5, 4.001]))


# ------------------------------------------------------------------------------ the alpha step (§8.7 2, 3)
def test_row_normalisation_by_hand_and_mean_abs_one():
    g = torch.tensor([[1.0, -3.0], [0.0, 0.0], [2.0, 2.0]])
    torch.testing.assert_close(row_normalise(g), torch.tensor([[0.5, -1.5], [0.0, 0.0], [1.0, 1.0]]))
    g = torch.randn(5, 16) * torch.logspace(-2, 2, 5).unsqueeze(1)  # rows of very different scales
    torch.testing.assert_close(row_normalise(g).abs().mean(1), torch.ones(5), atol=1e-6, rtol=0)


def test_alpha_stays_in_the_unit_box_after_any_step():
    a = torch.nn.Parameter(torch.rand(5, 16))
    opt = NormalisedClampedSGD([a], lr=0.7)
    for _ in range(20):
        a.grad = torch.randn(5, 16) * 100
        opt.step()
        assert 0 <= float(a.detach().min()) and float(a.detach().max()) <= 1
    assert 0 < float((a == 0).float().mean()) < 1 and float((a == 1).float().mean()) > 0  # the clamp bit


def test_one_step_is_the_weight_step_on_train_then_the_normalised_clamped_alpha_step_on_val():
    """SEEDS_2 §0.2 / §8.3 by hand: w1 = w0 - lr g_train(w0, a0); a1 = clamp(a0 - lr_a rownorm(g_val(w1, a0) +
    l1 sign a0), 0, 1); the dense global bias frozen (search phase from step 1)."""
    s = _search({"warm_start_epochs": 0, "weight_optimizer": "sgd", "l1": 1e-3}, momentum=0.0, lr=0.5)
    m0 = copy.deepcopy(s.model)
    marks = s.train_stream.mark(), s.val_stream.mark()
    (xt, yt), (xv, yv) = s.train_stream.next(), s.val_stream.next()
    s.train_stream.reset(marks[0])
    s.val_stream.reset(marks[1])
    s.step()

    alpha = m0.alphas["dims"]
    net = m0.net
    loss = F.mse_loss(net(xt, alpha.detach().clamp(0, 1), frozen=True), yt)
    params = [net.feature_embedding.weight, net.feature_bias.weight, net.global_bias]
    g = torch.autograd.grad(loss, params, allow_unused=True)
    assert g[2] is None  # frozen: no gradient for the dense part
    with torch.no_grad():
        for p, gp in zip(params[:2], g[:2]):
            p -= 0.05 * gp  # lr 0.5 x search_lr_factor 0.1
    loss_v = F.mse_loss(net(xv, alpha.clamp(0, 1)), yv) + 1e-3 * alpha.abs().sum()
    (ga,) = torch.autograd.grad(loss_v, [alpha])
    expected = (alpha - 0.01 * ga / (ga.abs().mean(1, keepdim=True) + 1e-8)).clamp(0, 1)

    torch.testing.assert_close(s.model.net.feature_embedding.weight, net.feature_embedding.weight)
    torch.testing.assert_close(s.model.alphas["dims"], expected, atol=1e-6, rtol=0)
    assert torch.equal(s.model.net.global_bias, m0.net.global_bias)
    assert float(s.model.alphas["dims"].detach().min()) < 1  # it moved


@pytest.mark.parametrize("model,freeze", [("mlp", True), ("fm", False)])
def test_warm_start_trains_everything_then_the_search_freezes_the_dense_part(model, freeze):
    s = _search({"warm_start_epochs": 1, "freeze_dense": freeze}, supernet={"model": model})
    assert type(s.optimizer).__name__ == "Adam"  # AutoSrh's weight optimizer, installed by the method's driver
    dense = lambda: [p.detach().clone() for p in s.model.net.dense_parameters()]  # noqa: E731
    d0 = dense()
    s.run(s.steps_per_epoch)  # the warm start
    assert torch.equal(s.model.alphas["dims"], torch.ones(5, 16))  # the mask does not move
    d1 = dense()
    assert all(not torch.equal(a, b) for a, b in zip(d0, d1))  # the dense part trains
    assert s.model.frozen is freeze and s.lr() == pytest.approx(1e-3)
    e1 = s.model.net.feature_embedding.weight.detach().clone()
    s.run()
    assert float(s.model.alphas["dims"].detach().min()) < 1
    assert not torch.equal(e1, s.model.net.feature_embedding.weight)
    assert all(torch.equal(a, b) for a, b in zip(d1, dense())) is freeze


def test_resume_through_a_run_folder_is_bit_for_bit(tmp_path):
    full = _search()
    full.run()
    s = _search()
    store = RunStore(tmp_path / "run", s)
    s.run(s.steps_per_epoch + 2)  # into the search phase: frozen, alpha moving
    store.close()
    resumed, store = resume(tmp_path / "run")
    assert type(resumed.optimizer).__name__ == "Adam" and resumed.model.frozen
    resumed.run()
    store.close()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


# ------------------------------------------------------------------------------ decoding, compiling, pruning (§8.7 5)
def test_decoding_keeps_the_top_half_with_ties_kept_or_the_entries_above_one_half():
    w = np.array([[1.0, 0.9, 0.2, 0.1], [0.9, 0.6, 0.4, 0.0]])
    assert prune_mask(w).sum() == 4 and prune_mask(w)[1, 0]
    assert prune_mask(np.ones((2, 4))).all()  # a saturated mask: the tie keeps everything
    arch = SPACE.decode({"dims": np.linspace(1, 0, 80).reshape(5, 16)})  # distinct values: exactly 40 kept
    assert arch.dims == (16, 16, 8, 0, 0) and arch.kept[2] == tuple(range(8))
    arch = SPACE.decode({"dims": np.full((5, 16), 0.4)}, rule="threshold")
    assert arch.dims == (0,) * 5
    assert SPACE.arch_from_dict(arch.to_dict()) == arch and SPACE.parse(arch.to_json()) == arch


def test_compiled_architecture_predicts_as_the_supernet_with_its_zero_one_mask():
    torch.manual_seed(0)
    net = SPACE.build_supernet(TASK)
    arch = EmbeddingDims("embedding_dims", ((0, 1, 2), (0,), (), (5, 6), tuple(range(16))))
    model = SPACE.compile(arch, TASK)
    model.net.load_state_dict(net.net.state_dict())
    x = torch.randint(0, 1200, (32, 2))
    assert torch.equal(model(x), net(x, {"dims": torch.from_numpy(arch.mask(16))}))
    assert model.n_embedding_parameters() == 120 * 3 + 240 * 1 + 240 * 0 + 240 * 2 + 360 * 16
    assert "block 1 (10%)" in SPACE.to_dot(arch) and SPACE.label(arch).endswith("b5 16 of 16 dims")


def test_merge_then_prune_keeps_the_predictions_then_zeroes_exactly_the_smallest_entries():
    torch.manual_seed(0)
    net = SPACE.build_supernet(TASK)
    with torch.no_grad():
        net.alphas["dims"].uniform_(0.05, 1.0)
    x = torch.randint(0, 1200, (128, 2))
    w = {"dims": net.probabilities("dims")}
    merged = merge_mask(net)
    assert torch.equal(merged.alphas["dims"], torch.ones(5, 16))
    assert torch.equal(merged(x, {"dims": merged.probabilities("dims")}), net(x, w))
    r = prune_embeddings(net, 0.5)
    table = merged.net.feature_embedding.weight.detach()
    kept = r.model.net.feature_embedding.weight.detach()
    assert int((kept == 0).sum()) == 1200 * 16 // 2
    assert float(table.abs()[kept == 0].max()) <= float(table.abs()[kept != 0].min())
    assert r.kept_per_id.sum() == 1200 * 8 and r.kept_fraction == 0.5
    np.testing.assert_allclose(r.kept_per_block[0], r.kept_per_id[:120].mean())
    halves = np.repeat([0, 1], 600)  # any grouping of the ids (a dataset's field_of)
    np.testing.assert_allclose(r.mean_over(halves), [r.kept_per_id[:600].mean(), r.kept_per_id[600:].mean()])


# ------------------------------------------------------------------------------ data (§8.7 6)
def test_frequency_reindexing_by_hand_and_blocks_follow_the_split():
    ids = np.array([[2, 5], [2, 4], [3, 5], [2, 4], [0, 1]])
    new, raw_of_new, counts = reindex_by_frequency(ids, 6, count_rows=4)  # the last row is not counted
    assert raw_of_new.tolist() == [2, 4, 5, 3, 0, 1]  # 4 and 5 tie (2 each): raw order
    assert counts.tolist() == [3, 2, 2, 1, 0, 0]
    assert new.tolist() == [[0, 2], [0, 1], [3, 2], [0, 1], [4, 5]]
    assert block_sizes(1200, (0.1, 0.2, 0.2, 0.2, 0.3)) == (120, 240, 240, 240, 360)
    assert block_sizes(200, (51, 126, 0)) == (51, 126, 23)  # AutoSrh's absolute counts, last = remainder
    with pytest.raises(ValueError, match="empty feature block"):
        block_sizes(4, (0.1, 0.2, 0.7))


@pytest.mark.parametrize("name,fields", [("interactions", ("user", "item")), ("ctr", ("user", "item", "context"))])
def test_synthetic_datasets_are_frequency_ordered_and_seeded(name, fields):
    ds = load_dataset(name, seed=1)
    assert ds.fields == fields and ds.x_train.shape[1] == len(fields) and ds.n_ids == interactions.KNOWN_VOCABULARY[name]
    counts = torch.bincount(ds.x_train.flatten(), minlength=ds.n_ids)
    assert torch.equal(counts, ds.counts) and bool((counts[:-1] >= counts[1:]).all())
    assert len(ds.x_train) == 36_000 and len(ds.x_test) == 4_000
    assert torch.equal(load_dataset(name, seed=1).x_train, ds.x_train)
    assert not torch.equal(load_dataset(name, seed=2).x_train, ds.x_train)
    assert len(load_dataset(name, seed=1, limit=900).x_train) == 900


def test_movielens_is_read_from_a_recbole_wheel_on_disk_and_refused_cleanly_without(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "no-cache"))
    monkeypatch.delenv("WORKBENCH_WHEELS", raising=False)
    monkeypatch.setattr(interactions.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="pip download --no-deps recbole"):
        load_ml100k(tmp_path)
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    rng = np.random.default_rng(0)
    rows += [f"{u}\t{i}\t{r}\t88" for u, i, r in zip(rng.integers(1, 30, 200), rng.integers(1, 50, 200),
                                                       rng.integers(1, 6, 200))]
    with zipfile.ZipFile(tmp_path / "recbole-1.2.1-py3-none-any.whl", "w") as z:
        z.writestr(interactions.ML100K_MEMBER, "\n".join(rows) + "\n")
    ds = load_dataset("ml100k", tmp_path, seed=0)
    assert ds.fields == ("user", "item") and len(ds.x_train) + len(ds.x_test) == 200
    assert ds.n_ids == len(set(r.split("\t")[0] for r in rows[1:])) + len(set(r.split("\t")[1] for r in rows[1:]))
    assert set(ds.y_train.unique().tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


# ------------------------------------------------------------------------------ other tasks, models, bad input
def test_ctr_search_with_the_mlp_model_reports_log_loss_and_learns():
    s = _search(dataset="ctr", supernet={"model": "mlp"}, epochs=3, limit=6000)
    first = s.step()
    assert set(first.train_metrics) == {"accuracy", "log_loss"}
    s.run()
    loss, metrics = s.evaluate()
    assert loss < first.val_loss and metrics["log_loss"] == pytest.approx(loss, rel=1e-5)


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ConfigError, match="embedding_dims"):
        Searcher(SearchConfig(space="nb201", method="dnis", epochs=1, data_limit=64))
    with pytest.raises(ValueError, match="n_ids"):
        SPACE.build_supernet(TaskInfo((2,), 1, "my-data"))
    with pytest.raises(ValueError, match="accepted"):
        SPACE.supernet_config({"model": "fm", "dims": 3})
    with pytest.raises(ValueError, match="model must be one of"):
        SPACE.supernet_config({"model": "deepfm"})
    with pytest.raises(ConfigError, match="weight_optimizer"):
        SearchConfig(space="embedding_dims", method="dnis", method_options={"weight_optimizer": "lion"})
    small = EmbeddingDimsSpace(n_ids=100)
    with pytest.raises(IndexError, match="n_ids"):
        small.build_supernet(TASK)(torch.tensor([[0, 500]]), None)


# ------------------------------------------------------------------------------ views
def test_figures_and_panel_show_the_recorded_mask():
    pytest.importorskip("plotly")
    from widgets.figures.dnis import block_means, dims_vs_frequency, mask_evolution
    from widgets.panels import PANELS
    from workbench.history import History

    s = _search()
    h = History.attach(s)
    s.run()
    fig = mask_evolution(h, frames=5)
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 5 and steps[-1].label == str(int(h.steps[-1]))
    np.testing.assert_allclose(np.asarray(steps[0].args[0]["z"][0], float), h.weights("dims")[0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), s.probabilities()["dims"], rtol=1e-6)
    means = block_means(h)
    np.testing.assert_allclose(means.data[4].y[-1], s.probabilities()["dims"][4].mean(), rtol=1e-5)
    r = prune_embeddings(s.model, 0.5)
    ds = s.dataset
    scatter = dims_vs_frequency(ds.counts, r.kept_per_id, field_of=ds.field_of, fields=ds.fields,
                                block_of=s.model.net.block_of_id)
    assert [t.name for t in scatter.data] == ["user", "item", "block mean"]
    np.testing.assert_allclose(scatter.data[2].y, r.kept_per_block)
    assert "dnis_mask" in [p.name for p in PANELS.for_space(SPACE)]
    static = PANELS.get("dnis_mask").static(h, int(h.steps[-1]), ["dims"])
    assert set(static) == {"dnis_mask", "dnis_blocks"}


def test_live_mask_view_follows_the_search_and_the_scrubber():
    pytest.importorskip("anywidget")
    from widgets import dashboard
    from widgets.controls import SearchSession

    session = SearchSession(_search(), threaded=False)
    d = dashboard(session, static=False, min_interval=0)
    view = d.views["dnis_mask"]
    view.set_visible(True)
    session.run(12)  # into the search phase (10 steps per epoch)
    h = session.history
    np.testing.assert_allclose(np.asarray(view.heatmap.data[0].z, float), h.weights("dims")[-1], rtol=1e-6)
    np.testing.assert_allclose(view.curves.data[0].y[-1], h.weights("dims")[-1][0].mean(), rtol=1e-5)
    assert "step 12" in view.heatmap.layout.title.text and "b5" in view.label.value
    d.scrubber.scrub(2)
    np.testing.assert_allclose(np.asarray(view.heatmap.data[0].z, float), h.weights("dims")[1], rtol=1e-6)
    d.close()

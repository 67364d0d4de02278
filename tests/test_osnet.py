"""OSNet-AIN's norm-placement search (SEEDS_2 §5.8 oracles): IN invariance, the relaxation's sampling frequencies,
dead candidates, the temperature schedule, child extraction; the styled datasets, the preset's slots, the
retraining table and the views. The fixed-seed claims live in notebook 11 (``notebooks/_part_osnet.py``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench import SearchConfig, Searcher
from workbench.errors import ConfigError
from workbench.methods.context import StepContext
from workbench.methods.osnet import (
    EPS,
    NonNegativeConcrete,
    OsnetLambda,
    SharedSGD,
    concrete_weights,
    cpu_config,
)
from workbench.methods.osnet_eval import RetrainConfig, candidate_networks, retrain_placements
from workbench.spaces import get_space
from workbench.spaces.norm import (
    PLACEMENTS,
    NormConfig,
    NormSupernet,
    Stem,
    dead_options,
    extract_child,
    one_hot,
    placement,
)
from workbench.tasks import TaskInfo, load_dataset
from workbench.tasks.data import DatasetNotFoundError
from workbench.tasks.data.styles import NO_STYLE, TRAIN_STYLES, UNSEEN_STYLE

SPACE = get_space("norm_placement")
DIGITS = TaskInfo((1, 8, 8), 10, "digits")


def _ctx(generator=None, epoch=0, training=True):
    return StepContext(epoch=epoch, epochs=30, generator=generator, training=training)


def _supernet(space=SPACE, **cfg) -> NormSupernet:
    torch.manual_seed(0)
    return space.build_supernet(DIGITS, NormConfig(**{"C": 4, "nonneg_weights": True, **cfg}))


# ------------------------------------------------------------------------------------- §5.8 oracles
def test_instance_norm_removes_a_per_image_affine_intensity_change_and_batch_norm_does_not():
    torch.manual_seed(0)
    x = torch.randn(6, 1, 8, 8)
    a = torch.tensor([0.3, 0.7, 1.0, 2.0, 3.5, 5.0]).view(6, 1, 1, 1)
    b = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 3.0]).view(6, 1, 1, 1)
    for kind, invariant in (("in", True), ("bn", False)):
        stem = Stem(1, 8, 8, kind)
        stem.conv.padding_mode = "circular"  # no border effects: every output pixel sees the change the same way
        if kind == "bn":
            stem.train()(torch.randn(64, 1, 8, 8))  # non-trivial running statistics, then eval mode
        stem.eval()
        with torch.no_grad():
            same = torch.allclose(stem(a * x + b), stem(x), atol=1e-3)  # IN's eps 1e-5 in var: ~5e-4 at a = 0.3
        assert same is invariant, kind
    # with zero padding a shift b changes the border pixels, hence the IN statistics: not invariant any more,
    # but a pure rescaling (b = 0) still is
    stem = Stem(1, 8, 8, "in").eval()
    with torch.no_grad():
        assert (stem(a * x + b) - stem(x)).abs().max() > 0.1
        torch.testing.assert_close(stem(a * x), stem(x), atol=1e-3, rtol=0)


def test_relaxation_mean_is_uniform_for_equal_weights_and_argmax_frequencies_follow_relu_w():
    relax = NonNegativeConcrete(OsnetLambda(10, 0.5, 20, 1))
    g = torch.Generator().manual_seed(0)
    n = 40_000  # rows are independent draws
    p = relax(torch.ones(n, 4), torch.ones(n, 4, dtype=torch.bool), _ctx(g))[0]
    np.testing.assert_allclose(p.mean(0).numpy(), 0.25, atol=0.01)
    relax1 = NonNegativeConcrete(OsnetLambda(1, 0.5, 20, 1))
    w = torch.tensor([2.0, 1.0, 1.0, 0.0]).repeat(n, 1)
    p = relax1(w, torch.ones(n, 4, dtype=torch.bool), _ctx(g))[0]
    freq = np.bincount(p.argmax(1).numpy(), minlength=4) / n
    np.testing.assert_allclose(freq, [0.5, 0.25, 0.25, 0.0], atol=0.01)
    assert freq[3] == 0  # the zero weight is never chosen (the Gumbel-max property with log-weights)
    # evaluation: deterministic, softmax(log(relu(w) + eps) / lambda), masked options exactly 0
    mask = torch.tensor([[True, True, False, True]])
    q = relax1(torch.tensor([[2.0, 1.0, 5.0, 1.0]]), mask, _ctx(training=False))[0]
    torch.testing.assert_close(q, torch.tensor([[0.5, 0.25, 0.0, 0.25]]))


def test_a_dead_candidate_gets_exactly_zero_gradient_shows_as_dead_and_is_never_decoded():
    net = _supernet()
    with torch.no_grad():
        net.alphas["blocks"][2, 3] = -0.1
        net.alphas["blocks"][2, 0] = 0.0
    relax = NonNegativeConcrete(OsnetLambda(10, 0.5, 20, 1))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    w = {k: relax(net.alphas[k], net.op_mask(k), _ctx(g))[0] for k in ("blocks",)}
    assert float(w["blocks"][2, 3].detach()) > 0  # at lambda = 10 the dead candidate still mixes into the forward...
    torch.nn.functional.cross_entropy(net(x, w), y).backward()
    grad = net.alphas["blocks"].grad
    assert grad[2, 3] == 0 and grad[2, 0] == 0  # ...but its weight gets no gradient: relu'(w <= 0) = 0
    assert (grad[:2] != 0).all() and (grad[2, 1:3] != 0).all()
    probs = net.probabilities("blocks").detach().numpy()
    assert probs[2, 3] == 0 and probs[2, 0] == 0 and probs[2, 1:3].sum() == pytest.approx(1.0)
    assert dead_options(net.alphas["blocks"].detach().numpy())[2].tolist() == [True, False, False, True]
    arch = SPACE.decode({"blocks": probs})
    assert arch.picks["blocks"][2] in ("in_residual", "in_after_add")
    # a row whose candidates are all dead decodes the argmax of the raw w (the code's rule)
    with torch.no_grad():
        net.alphas["blocks"][1] = torch.tensor([-0.5, -0.1, -0.3, -0.2])
    assert SPACE.decode({"blocks": net.probabilities("blocks").detach().numpy()}).picks["blocks"][1] == "in_residual"
    # the log clamp: a dead logit is log(1e-12), not -inf
    assert float(concrete_weights(torch.tensor([-1.0, 1.0]), 1.0)[0]) == pytest.approx(EPS / (1 + EPS))


def test_temperature_schedule_vector_and_the_fixed_variant():
    assert OsnetLambda(10, 0.5, 20, 1).vector([0, 19, 20, 39, 40, 60, 80, 119]) == [10, 10, 5, 5, 2.5, 1.25, 1, 1]
    assert OsnetLambda(10, 0.5, 5, 1).vector(range(0, 30, 5)) == [10, 5, 2.5, 1.25, 1, 1]  # the CPU-scale default
    assert OsnetLambda(10, 0.5, -1, 1).vector([0, 50, 100]) == [10, 10, 10]  # lmda_decay_step = -1
    with pytest.raises(ValueError, match="min <= init"):
        OsnetLambda(1, 0.5, 5, 2)


@pytest.mark.parametrize("space_name", ["norm_placement", "norm_placement_stem"])
def test_child_extraction_computes_exactly_what_the_supernet_computes_with_that_one_hot_choice(space_name):
    space = get_space(space_name)
    net = _supernet(space)
    net.train()(torch.randn(32, 1, 8, 8), {g: torch.full(s.shape, 0.25) for g, s in
                                            ((g.name, g) for g in space.choice_groups())})  # BN statistics move
    net.eval()
    arch = placement(space, ("in_residual", "plain", "in_both"), stem="in")
    child = extract_child(net, arch).eval()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        all_on = {g.name: np.ones(g.shape, dtype=bool) for g in space.choice_groups()}
        torch.testing.assert_close(child(x), net(x, one_hot(space, arch), all_on), rtol=0, atol=0)
    fresh = space.compile(arch, DIGITS, config=net.cfg, affine=False)
    assert list(fresh.state_dict()) == list(child.state_dict()) and child.picks == arch.picks["blocks"]
    assert len(fresh.blocks) == 3 and all(type(b.norm2).__name__ == n for b, n in
                                          zip(fresh.blocks, ("InstanceNorm2d", "BatchNorm2d", "InstanceNorm2d"),
                                              strict=True))


# ------------------------------------------------------------------------------------- data
def test_styled_digits_are_per_image_affine_styles_of_the_base_digits_in_the_documented_ranges():
    base = load_dataset("digits", seed=3, limit=300)
    ds, ctrl = load_dataset("digits_styles", seed=3, limit=300), load_dataset("digits-styles-control", seed=3,
                                                                             limit=300)
    assert torch.equal(ds.y_train, base.y_train) and torch.equal(ds.x_plain, base.x_test)
    assert torch.equal(ctrl.x_train, base.x_train) and ctrl.control and not ds.control
    assert torch.equal(ctrl.x_test, ds.x_test)  # the same unseen-style test set in the control
    for x, style in ((ds.x_train, TRAIN_STYLES), (ds.x_seen, TRAIN_STYLES), (ds.x_test, UNSEEN_STYLE)):
        ref = base.x_train if x is ds.x_train else base.x_test
        r, s = ref.flatten(1), x.flatten(1)
        rc = r - r.mean(1, keepdim=True)
        a = (rc * (s - s.mean(1, keepdim=True))).sum(1) / (rc * rc).sum(1)  # least squares per image
        b = s.mean(1) - a * r.mean(1)
        torch.testing.assert_close(s, a[:, None] * r + b[:, None], atol=1e-4, rtol=0)  # exactly affine
        assert style.a_range[0] - 1e-4 <= a.min() and a.max() <= style.a_range[1] + 1e-4
        assert style.b_range[0] - 1e-4 <= b.min() and b.max() <= style.b_range[1] + 1e-4
        assert a.std() > 0.2  # drawn per image
    assert "unseen style a ~ U(2.5, 5)" in ds.describe() and str(NO_STYLE) in ctrl.describe()
    assert set(ds.test_sets()) == {"seen", "unseen", "plain"} and ds.input_shape == (1, 8, 8)


def test_styled_fashion_mnist_loads_offline_or_skips():
    try:
        ds = load_dataset("fashion_styles", seed=0, limit=100)
    except DatasetNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST is not installed: {exc}")
    assert ds.input_shape == (1, 28, 28) and len(ds.y_train) == 100 and len(ds.y_test) == 2000
    assert ds.x_test.shape == ds.x_seen.shape == ds.x_plain.shape and not torch.equal(ds.x_test, ds.x_seen)
    s = Searcher(cpu_config(epochs=1, batch_size=50, supernet={"C": 4}), dataset=ds)  # OSNet's stride-2 stem + pool
    ev = s.step()
    assert np.isfinite(ev.train_loss) and s.model.stem.conv.stride == (2, 2)


# ------------------------------------------------------------------------------------- the preset
def _search(**kw) -> Searcher:
    cfg = cpu_config(epochs=2, batch_size=16, data_limit=64, supernet={"C": 4}, **kw)
    return Searcher(cfg)


def test_the_preset_is_one_sgd_on_the_training_loss_with_weight_decay_on_w_following_the_lr_schedule():
    s = _search()
    assert isinstance(s.arch_optimizer, torch.optim.SGD)
    g = s.arch_optimizer.param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"]) == (s.config.lr, s.config.momentum, s.config.weight_decay)
    assert torch.equal(s.model.alphas["blocks"], torch.ones(3, 4))  # the code's torch.ones
    s.run(s.steps_per_epoch + 1)  # into epoch 1: the cosine lr has dropped
    assert s.epoch == 1 and s.arch_optimizer.param_groups[0]["lr"] == s.lr() == s.optimizer.param_groups[0]["lr"]
    assert s.lr() < s.config.lr
    np.testing.assert_allclose(s.probabilities()["blocks"].sum(1), 1, rtol=1e-6)
    w = s.alphas()["blocks"]
    np.testing.assert_allclose(s.probabilities()["blocks"], np.maximum(w, 0) / np.maximum(w, 0).sum(1, keepdims=True),
                               rtol=1e-5)
    assert isinstance(SharedSGD()([torch.nn.Parameter(torch.ones(2))], s.config), torch.optim.SGD)


def test_the_preset_refuses_a_space_without_non_negative_weights_naming_its_spaces():
    with pytest.raises(ConfigError, match=r"'osnet-ain' is built for the space\(s\) norm_placement, "
                                          r"norm_placement_stem"):
        Searcher(SearchConfig(space="nb201", method="osnet-ain", epochs=1, data_limit=64))
    with pytest.raises(ConfigError, match="lambda_min"):
        SearchConfig(space="norm_placement", method="osnet-ain", method_options={"lambda_min": 20.0})


def test_a_softmax_method_runs_on_the_space_and_draws_softmax_weights():
    s = Searcher(SearchConfig(space="norm_placement", method="darts-v1", epochs=1, batch_size=16, data_limit=48,
                              supernet={"C": 4}))
    s.run(2)
    a = s.alphas()["blocks"]
    np.testing.assert_allclose(s.probabilities()["blocks"], np.exp(a) / np.exp(a).sum(1, keepdims=True), rtol=1e-5)


# ------------------------------------------------------------------------------------- retraining, views
def test_retraining_table_scores_every_network_on_every_test_set_and_trains_duplicates_once():
    ds = load_dataset("digits_styles", seed=0, limit=96)
    archs = candidate_networks(SPACE, placement(SPACE, "plain"), extra=True)
    assert list(archs) == ["derived", "all-BN", "all-IN", "all-IN-after-add", "all-IN-both"]
    tab = retrain_placements(ds, archs, SPACE, RetrainConfig(epochs=1, batch_size=32, net=NormConfig(C=4)))
    assert tab.columns == ("seen", "unseen", "plain") and [r.name for r in tab.rows] == list(archs)
    assert tab.row("all-BN").same_as == "derived" and tab.row("all-BN").accuracy == tab.row("derived").accuracy
    assert all(0 <= v <= 1 for r in tab.rows for v in r.accuracy.values())
    assert "all-IN-both" in tab.to_text() and tab.to_dict()["rows"][2]["label"] == "in_residual | " * 2 + "in_residual"


def test_views_heatmap_placement_figure_panel_and_accuracy_figure():
    pytest.importorskip("plotly")
    from widgets import dashboard
    from widgets.figures.norm_placement import DEAD, placement_figure, style_accuracy_figure
    from widgets.panels import PANELS
    from workbench.history import History
    from workbench.methods.osnet_eval import PlacementRow, PlacementTable

    s = _search()
    h = History.attach(s)
    s.run(2)
    with torch.no_grad():  # kill a candidate, then record one more step
        s.model.alphas["blocks"][2, 3] = -0.05
    s.run(1)
    static = dashboard(h, static=True)
    figs = static.figures()
    np.testing.assert_allclose(np.asarray(figs["heatmap/blocks"].data[0].z, dtype=float), h.weights("blocks")[-1],
                               rtol=1e-6)
    assert h.weights("blocks")[-1][2, 3] == 0  # the heatmap shows the dead candidate at exactly 0
    fig = figs["norm_placement"]
    dead = next(t for t in fig.data if t.name == DEAD)
    assert list(dead.customdata) == ["block 3 · in_both"]
    assert [t.name for t in fig.data[:4]] == list(PLACEMENTS)
    assert "norm_placement" in [p.name for p in PANELS.for_space(SPACE)]
    assert "norm_placement" not in [p.name for p in PANELS.for_space(get_space("chain"))]
    np.testing.assert_allclose(placement_figure(h, 1).data[0].y, h.weights("blocks")[0][:, 0], rtol=1e-6)
    tab = PlacementTable("digits_styles", ("seen", "unseen"), (
        PlacementRow("derived", "in_residual | plain | plain", {"seen": 0.99, "unseen": 0.97}),
        PlacementRow("all-IN", "in_residual | in_residual | in_residual", {"seen": 0.98, "unseen": 0.91})))
    acc = style_accuracy_figure(tab)
    assert [t.name for t in acc.data] == ["seen", "unseen"] and list(acc.data[1].y) == pytest.approx([97.0, 91.0])
    assert list(acc.data[0].x) == ["derived", "all-IN"]


def test_live_placement_view_follows_the_search_and_the_scrubber():
    pytest.importorskip("anywidget")
    from widgets.dashboard import dashboard
    from workbench.app.session import SearchSession

    session = SearchSession(cpu_config(epochs=1, batch_size=32, data_limit=96, supernet={"C": 4}), threaded=False)
    d = dashboard(session, static=False, min_interval=0)
    view = d.views["norm_placement"]
    view.set_visible(True)  # its tab opened
    session.run(3)
    h = session.history
    np.testing.assert_allclose(view.figure.data[1].y, h.weights("blocks")[-1][:, 1], rtol=1e-6)
    assert "step 3" in view.figure.layout.title.text
    d.scrubber.scrub(1)
    np.testing.assert_allclose(view.figure.data[1].y, h.weights("blocks")[0][:, 1], rtol=1e-6)
    d.close()

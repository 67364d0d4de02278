"""CovidNet3D (SEEDS_2 §6): the mbconv3d space, the straight-through Gumbel search and its released pitfall, the
synthetic CT volumes, and the 3-D class activation map -- oracles from §6.8, on tiny volumes (the fixed-seed
claims live in notebooks/_part_covid3d.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import SearchConfig, Searcher
from workbench.analysis.cam import (
    cam_localisation,
    class_activation_map,
    dilate_mask,
    normalise_cam,
    peak_in_mask,
    volume_cams,
)
from workbench.errors import ConfigError
from workbench.methods import get_method
from workbench.methods.context import StepContext
from workbench.methods.covidnet3d import StraightThroughGumbel
from workbench.spaces import Choices, get_space
from workbench.spaces.volume import GROUP, Mbconv3dSpace, inherit_path_weights
from workbench.spaces.volume.blocks import depthwise_conv3d
from workbench.tasks import TaskInfo, load_dataset
from workbench.tasks.data.ct_volumes import ct_volumes

TINY = Mbconv3dSpace(name="mbconv3d_tiny", stem=4, widths=(4, 6, 8))
SHAPE = (8, 12, 12)


def _task(classes: int = 2) -> TaskInfo:
    return TaskInfo((1, *SHAPE), classes, "tiny")


def _ctx(model, training: bool = True, seed: int = 0) -> StepContext:
    return StepContext(generator=torch.Generator().manual_seed(seed), training=training, model=model)


def _searcher(gradient: str, steps: int = 3, **kw) -> Searcher:
    ds = ct_volumes(0, n_train=48, n_test=8, shape=SHAPE)
    cfg = SearchConfig(space="mbconv3d", method="covidnet3d", dataset="ct_volumes", epochs=1, batch_size=8,
                       lr=0.05, arch_lr=3e-2, train_portion=0.5, seed=1, eval_each_epoch=False,
                       method_options={"gradient": gradient, "warmup_epochs": 0}, **kw)
    return Searcher(cfg, space=TINY, dataset=ds)


# ------------------------------------------------------------------------------------------------- the space
@pytest.mark.parametrize("k", [3, 5])
def test_depthwise_conv3d_equals_the_grouped_3d_convolution_forward_and_backward(k):
    g = torch.Generator().manual_seed(k)
    x = torch.randn(2, 3, 5, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, k, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    ours, ref = depthwise_conv3d(x, w), F.conv3d(x, w, padding=k // 2, groups=3)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((ours * up).sum(), (x, w)), torch.autograd.grad((ref * up).sum(), (x, w)),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_zero_is_skip_a_cell_fixed_to_skip_returns_its_calibrated_input():
    torch.manual_seed(0)
    net = TINY.build_supernet(_task())
    cell = net.cells[1]  # 4 -> 6 channels, stride 2: the calibration changes the shape
    x = torch.randn(2, 4, *SHAPE)
    skip = TINY.blocks.index("skip")
    w = F.one_hot(torch.tensor(skip), len(TINY.blocks)).float()
    assert torch.equal(cell(x, w, w.bool().numpy()), cell.calib(x))
    picks = ("k3_e2", "skip", "k3_e4")
    derived = TINY.compile(Choices(TINY.name, {GROUP: picks}), _task())
    derived.load_state_dict(inherit_path_weights(Choices(TINY.name, {GROUP: picks}), net.state_dict()))
    assert torch.equal(derived.cells[1](x), cell.calib(x))


def test_straight_through_forward_is_exactly_the_selected_candidates_network():
    torch.manual_seed(1)
    net = TINY.build_supernet(_task())
    relax = StraightThroughGumbel()
    alpha = net.alphas[GROUP]
    with torch.enable_grad():
        w, active = relax(alpha, net.op_mask(GROUP), _ctx(net, seed=3))
    hard = F.one_hot(w.detach().argmax(-1), len(TINY.blocks)).float()
    assert torch.equal(w.detach(), hard) and w.requires_grad  # exactly one-hot, with a graph to alpha
    assert np.array_equal(active, hard.bool().numpy()) and active.sum() == len(TINY.plan())  # one computed per cell
    picks = tuple(TINY.blocks[i] for i in hard.argmax(-1).tolist())
    arch = Choices(TINY.name, {GROUP: picks})
    derived = TINY.compile(arch, _task())
    derived.load_state_dict(inherit_path_weights(arch, net.state_dict()))
    x = torch.randn(3, 1, *SHAPE)
    assert torch.equal(net(x, {GROUP: w}, {GROUP: active}), derived(x))  # train-mode BN in both: same batch stats


def test_every_alpha_gets_a_gradient_and_none_as_released():
    torch.manual_seed(2)
    net = TINY.build_supernet(_task())
    x, y = torch.randn(4, 1, *SHAPE), torch.tensor([0, 1, 1, 0])
    for gradient in ("straight_through", "released"):
        net.zero_grad(set_to_none=True)
        w, active = StraightThroughGumbel(gradient=gradient)(net.alphas[GROUP], net.op_mask(GROUP), _ctx(net))
        F.cross_entropy(net(x, {GROUP: w}, {GROUP: active}), y).backward()
        grad = net.alphas[GROUP].grad
        if gradient == "released":  # SEEDS_2 §6.4: the bool mask cuts the graph; NNI's Adam then skips alpha
            assert grad is None
        else:  # every logit of every cell, through the selected candidate's softmax weight
            assert grad is not None and torch.isfinite(grad).all() and (grad != 0).all()


def test_released_search_leaves_alpha_exactly_at_its_initial_values_and_the_intended_one_moves_every_alpha():
    for gradient in ("released", "straight_through"):
        s = _searcher(gradient)
        assert s.method.order == "arch_first"  # arch step on the validation batch, then the weight step
        before = s.alphas()[GROUP]
        events = s.run(3)
        after = s.alphas()[GROUP]
        reached = [ev.extras["alpha_grad_reached"] for ev in events]
        if gradient == "released":
            assert reached == [0.0] * 3 and np.array_equal(before, after)
        else:
            assert reached == [1.0] * 3 and (before != after).all()
        assert events[-1].train_loss != events[0].train_loss  # the weights train in both modes


def test_samples_follow_the_softmax_of_alpha_gumbel_max():
    alpha = torch.tensor([[1.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 2.0]])
    mask = torch.tensor([[True, True, True, True], [True, False, True, True]])
    model = type("M", (), {})()
    relax, g = StraightThroughGumbel(), torch.Generator().manual_seed(0)
    ctx = StepContext(generator=g, model=model)
    with torch.no_grad():
        counts = sum(relax(alpha, mask, ctx)[0] for _ in range(3000)) / 3000
    expected = torch.softmax(alpha.masked_fill(~mask, float("-inf")), -1)
    assert counts[1, 1] == 0  # a disabled candidate is never drawn
    torch.testing.assert_close(counts, expected, atol=0.03, rtol=0)
    ev = relax(alpha, mask, StepContext(training=False, model=model))[0]  # evaluation: the mode
    assert ev.argmax(-1).tolist() == [0, 3] and torch.equal(ev.sum(-1), torch.ones(2))


def test_resumes_bit_for_bit():
    full = _searcher("straight_through")
    events = full.run(3)
    part = _searcher("straight_through")
    part.run(1)
    resumed = _searcher("straight_through")
    resumed.load_state_dict(part.state_dict())
    for a, b in zip(resumed.run(2), events[1:], strict=True):
        assert a.train_loss == b.train_loss and np.array_equal(a.alphas[GROUP], b.alphas[GROUP])


def test_bad_input_names_what_is_accepted():
    with pytest.raises(ValueError, match=r"needs volumes \(C, D, H, W\).*ct_volumes"):
        get_space("mbconv3d").build_supernet(TaskInfo((1, 8, 8), 10, "digits"))
    with pytest.raises(ConfigError, match="straight_through"):
        get_method("covidnet3d", {"gradient": "bool"})
    with pytest.raises(ValueError, match="unknown 3-D block 'k4_e2'"):
        Mbconv3dSpace(blocks=("k4_e2", "skip"))
    with pytest.raises(ValueError, match="classes must be 2"):
        ct_volumes(classes=4)


# ------------------------------------------------------------------------------------------------- the data
def test_ct_volumes_masks_lesions_inside_the_lungs_only_for_lesion_volumes():
    ds = ct_volumes(3, n_train=30, n_test=12, shape=SHAPE)
    assert ds.input_shape == (1, *SHAPE) and ds.n_outputs == 2 and ds.classes == ("normal", "lesion")
    assert torch.equal(ds.y_train, (ds.kind_train > 0).long())
    sizes = ds.mask_train.flatten(1).sum(1)
    assert (sizes[ds.kind_train == 0] == 0).all() and (sizes[ds.kind_train > 0] > 0).all()
    raw = ds.x_train[:, 0] * ds.std + ds.mean  # lesions are brighter than the lung around them
    assert raw[ds.mask_train].mean() > raw[ds.kind_train == 0].min() + 0.3
    assert torch.equal(ct_volumes(3, n_train=10, n_test=12, shape=SHAPE).mask_test, ds.mask_test)  # limit: same test
    reg = load_dataset("ct_volumes_3class", seed=1, limit=6)
    assert len(reg.x_train) == 6 and reg.n_outputs == 3 and torch.equal(reg.y_test, reg.kind_test)


# ------------------------------------------------------------------------------------------------- the CAM
def test_cam_mean_plus_bias_is_the_class_logit():
    torch.manual_seed(4)
    arch = Choices(TINY.name, {GROUP: ("k5_e2", "k3_e4", "skip")})
    net = TINY.compile(arch, _task(3)).double().eval()
    x = torch.randn(5, 1, *SHAPE, dtype=torch.float64)
    logits = net(x)
    for c in range(3):
        raw = class_activation_map(net.features(x), net.classifier.weight, c)
        torch.testing.assert_close(raw.flatten(1).mean(1) + net.classifier.bias[c], logits[:, c], rtol=0, atol=1e-12)
    res = volume_cams(net, x)  # the predicted class by default; upsampled to the volume
    assert res.cams.shape == (5, *SHAPE) and torch.equal(res.classes, logits.argmax(1))


def test_cam_normalisation_maps_min_to_zero_and_max_to_one_and_the_released_one_divides_by_max():
    cam = torch.tensor([[[[2.0, 4.0], [6.0, 10.0]]]])  # (1, 1, 2, 2)
    mm = normalise_cam(cam)
    assert mm.min() == 0 and mm.max() == 1
    assert torch.equal(normalise_cam(cam, "released"), (cam - 2) / 10)  # max 0.8 = 1 - min/max, not 1


def test_cam_peak_in_lesion_rate_against_chance():
    cams, masks = torch.zeros(2, 8, 8, 8), torch.zeros(2, 8, 8, 8, dtype=torch.bool)
    masks[:, 2:4, 2:4, 2:4] = True
    cams[0, 3, 3, 3] = 1.0  # inside
    cams[1, 5, 3, 3] = 1.0  # two voxels outside: inside only once the mask is dilated by 2
    assert peak_in_mask(cams, masks).tolist() == [True, False]
    assert peak_in_mask(cams, masks, dilate=2).tolist() == [True, True]
    assert int(dilate_mask(masks, 1)[0].sum()) == 4 ** 3
    torch.manual_seed(5)
    net = TINY.compile(Choices(TINY.name, {GROUP: ("k3_e2", "skip", "skip")}), _task())
    ds = ct_volumes(0, n_train=4, n_test=12, shape=SHAPE)
    loc = cam_localisation(net, ds.x_test, ds.y_test, ds.mask_test)
    counted = (ds.y_test == 1) & (net.eval()(ds.x_test).argmax(1) == 1)
    assert loc.n == int(counted.sum()) and torch.equal(loc.index, torch.nonzero(counted).flatten())
    if loc.n:
        assert loc.chance == pytest.approx(float(ds.mask_test[loc.index].flatten(1).float().mean(1).mean()))


# ------------------------------------------------------------------------------------------------- the views
def test_slice_figure_and_viewer_show_the_cut_the_mask_and_the_cam():
    pytest.importorskip("plotly")
    from widgets.figures.volume import orthogonal_slices, slice_figure

    ds = ct_volumes(0, n_train=4, n_test=6, shape=SHAPE)
    cams = torch.rand(6, *SHAPE)
    i = int(torch.nonzero(ds.kind_test > 0)[0])
    fig = slice_figure(ds.x_test[i], ds.mask_test[i], cams[i], axis="coronal", index=3)
    vol, cam, lesion = fig.data
    assert (vol.name, cam.name, lesion.name) == ("volume", "CAM", "lesion")
    np.testing.assert_allclose(np.asarray(vol.z, dtype=float), ds.x_test[i, 0, :, 3, :].numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(cam.z, dtype=float), cams[i, :, 3, :].numpy(), rtol=1e-6)
    peak = np.unravel_index(int(cams[i].argmax()), SHAPE)
    assert f"axial {peak[0]}" in orthogonal_slices(ds.x_test[i], ds.mask_test[i], cams[i]).layout.annotations[0].text
    with pytest.raises(ValueError, match="upsample it"):
        slice_figure(ds.x_test[i], cam=torch.rand(2, 3, 3))
    pytest.importorskip("anywidget")
    from widgets.views.volume import VolumeSliceViewer

    v = VolumeSliceViewer(ds.x_test, ds.mask_test, cams)
    v.show(volume=i, axis="sagittal", index=5)
    traces = {t.name: t for t in v.fig.data}
    np.testing.assert_allclose(np.asarray(traces["volume"].z, dtype=float), ds.x_test[i, 0, :, :, 5].numpy(),
                               rtol=1e-6)
    assert v.slider.value == 5 and v.slider.max == SHAPE[2] - 1 and v.picker.value == i
    assert v.to_peak() == peak and v.slider.value == peak[2]
    v.show_cam.value = False
    assert traces["CAM"].visible is False


def test_the_cells_heatmap_renders_and_the_supernet_cam_panel_computes_the_current_paths_cam():
    pytest.importorskip("anywidget")
    from widgets.controls import SearchSession
    from widgets.figures.heatmap import group_heatmap
    from widgets.panels import PANELS
    from widgets.views.volume import SupernetCamView

    assert {"heatmap", "volume_cam"} <= {p.name for p in PANELS.for_space(TINY)}
    assert "volume_cam" not in {p.name for p in PANELS.for_space(get_space("chain"))}
    session = SearchSession(_searcher("straight_through"), threaded=False)
    view = SupernetCamView(session)
    session.run(2)
    fig = group_heatmap(session.history, GROUP, 2)  # the generic per-row choice heatmap: rows = cells
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), session.searcher.probabilities()[GROUP],
                               rtol=1e-5, atol=1e-7)
    view.compute()
    s = session.searcher
    assert view.viewer.cams is not None and "step 2" in view.status.value
    w, a = s.mixing_weights(training=False)
    expected = volume_cams(s.model, view.x, 1, features=lambda xb: s.model.features(xb, w, a)).cams
    np.testing.assert_allclose(view.viewer.cams, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert s.model.training  # the CAM left the supernet in training mode

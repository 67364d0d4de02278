"""widgets.figures: figures carry exactly the data they were given (oracles: the arrays and the History)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from widgets.figures import (
    alpha_curves,
    alpha_heatmap,
    edge_labels,
    genotype_edge_ops,
    loss_curves,
    op_color,
    op_family,
    param_free_counts,
    param_free_curve,
    update_alpha_heatmap,
)
from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.history import History
from workbench.spaces import DARTS_OPS, NB201_OPS, get_space
from workbench.spaces.cell.ops import PARAM_FREE


@pytest.fixture(scope="module")
def hist() -> History:
    """A real 2-epoch toy search; skip_connect is switched off on edge 1 after step 4."""
    torch.set_num_threads(1)
    cfg = SearchConfig(space="toy", dataset="digits", epochs=2, batch_size=16, data_limit=160,
                       supernet=SupernetConfig(C=4), seed=0, arch_lr=0.05)
    s = Searcher(cfg)
    h = History.attach(s)
    s.run(4)
    s.set_op_enabled("cell", "skip_connect", False, rows=[1])
    s.run()
    return h


def test_edge_labels_darts_and_nb201():
    darts = edge_labels(get_space("darts"))
    assert len(darts) == 14
    assert darts[:5] == ["c_{k-2}→0", "c_{k-1}→0", "c_{k-2}→1", "c_{k-1}→1", "0→1"]
    assert darts[-1] == "2→3"
    assert edge_labels(get_space("nb201")) == ["0→1", "0→2", "1→2", "0→3", "1→3", "2→3"]


def test_palette_distinct_within_spaces_and_by_family():
    for ops in (DARTS_OPS, NB201_OPS):
        colors = [op_color(o) for o in ops]
        assert len(set(colors)) == len(colors), dict(zip(ops, colors, strict=True))
    assert [op_family(o) for o in ("none", "skip_connect", "max_pool_3x3", "dil_conv_5x5", "sep_conv_3x3",
                                   "noise")] == ["none", "skip", "pool", "dil_conv", "conv", "other"]
    assert op_color("my_new_op") == op_color("my_new_op")  # stable for unknown ops


def test_heatmap_z_is_the_weights_and_marks_argmax_mask_and_genotype():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(5), size=6)
    ops, labels = list(NB201_OPS), edge_labels(get_space("nb201"))
    mask = np.ones_like(w, bool)
    top = w.argmax(1)
    mask[2, top[2]] = False  # disable the strongest op of edge 2: its outline must move to the runner-up
    fig = alpha_heatmap(w, ops, labels, mask=mask, genotype_edges={0: ops[top[0]], 4: ops[1]})
    assert np.array_equal(np.asarray(fig.data[0].z), w)
    off = np.asarray(fig.data[1].z, float)
    assert np.array_equal(np.isnan(off), mask)
    box = next(t for t in fig.data if t.name == "strongest op")
    xs = [x for x in box.x if x is not None]
    ys = [y for y in box.y if y is not None]
    centres = {round(float(np.mean(ys[i:i + 5]))): round(float(np.mean(xs[i:i + 5]))) for i in range(0, len(xs), 5)}
    expected = np.where(mask, w, -np.inf).argmax(1)
    assert centres == {k: int(expected[k]) for k in range(6)}
    assert expected[2] != top[2]
    ticks = list(fig.layout.yaxis.ticktext)
    assert [k for k, t in enumerate(ticks) if t.startswith("<b>")] == [0, 4]
    star = next(t for t in fig.data if t.name == "kept by genotype")
    assert sorted((round(y), round(x)) for x, y in zip(star.x, star.y, strict=True)) == [(0, int(top[0])), (4, 1)]


def test_update_alpha_heatmap_equals_a_fresh_figure():
    rng = np.random.default_rng(1)
    ops, labels = list(NB201_OPS), edge_labels(get_space("nb201"))
    a, b = rng.dirichlet(np.ones(5), size=6), rng.dirichlet(np.ones(5), size=6)
    mask = np.ones_like(b, bool)
    mask[:, 0] = False
    fig = alpha_heatmap(a, ops, labels, genotype_edges=[1])
    update_alpha_heatmap(fig, b, mask, {3: "skip_connect"}, title="later")
    fresh = alpha_heatmap(b, ops, labels, title="later", mask=mask, genotype_edges={3: "skip_connect"})
    import json
    assert json.loads(fig.to_json()) == json.loads(fresh.to_json())
    assert np.array_equal(np.asarray(fig.data[0].z), b)


def test_heatmap_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        alpha_heatmap(np.zeros((3, 4)), ["a", "b", "c"], ["e0", "e1", "e2"])
    with pytest.raises(ValueError, match="mask"):
        alpha_heatmap(np.zeros((3, 4)), list("abcd"), ["e0", "e1", "e2"], mask=np.ones((4, 3), bool))


def test_genotype_edge_ops_matches_space_edges():
    from workbench.spaces.cell import zoo
    space = get_space("darts")
    g = zoo.published("DARTS_V2")
    kept = genotype_edge_ops(space, g, "normal")
    assert len(kept) == 8
    for node, op, src in g.cell("normal").edges():
        assert kept[space.edge_index(node, src)] == op


def test_alpha_curves_one_trace_per_edge_op_with_recorded_weights(hist):
    space = hist.space
    fig = alpha_curves(hist, "cell")
    curves = [t for t in fig.data if t.meta is not None]
    assert len(curves) == space.n_edges * len(space.ops)
    w = hist.weights("cell")
    for k, t in enumerate(curves):
        e, op = t.meta
        assert (e, op) == (k // len(space.ops), space.ops[k % len(space.ops)])
        assert np.array_equal(np.asarray(t.y), w[:, e, space.ops.index(op)])
        assert np.array_equal(np.asarray(t.x), hist.steps)
        assert t.line.color == op_color(op)
    # the mask change (skip_connect off on edge 1) is annotated once, on edge 1's panel only
    notes = [a for a in fig.layout.annotations if a.text == "−skip_connect"]
    assert len(notes) == 1 and notes[0].x == 4.5
    # epoch boundary between step 5 and 6
    bounds = [t for t in fig.data if t.name == "epochs"]
    assert len(bounds) == space.n_edges and [x for x in bounds[0].x if x is not None] == [5.5, 5.5]


def test_max_points_thins_evenly_and_keeps_the_ends(hist):
    fig = alpha_curves(hist, "cell", max_points=4)
    t = next(t for t in fig.data if t.meta is not None and tuple(t.meta) == (1, "nor_conv_3x3"))
    idx = np.unique(np.linspace(0, len(hist) - 1, 4).round().astype(int))
    assert list(t.x) == list(hist.steps[idx]) and t.x[0] == hist.steps[0] and t.x[-1] == hist.steps[-1]
    assert np.array_equal(np.asarray(t.y), hist.weights("cell")[idx, 1, hist.space.ops.index("nor_conv_3x3")])
    loss = {t.name: t for t in loss_curves(hist, max_points=4).data}
    full = {t.name: t for t in loss_curves(hist).data}
    assert np.array_equal(np.asarray(loss["train loss"].y), np.asarray(full["train loss"].y)[idx])


def test_alpha_curves_subset_and_bad_input(hist):
    fig = alpha_curves(hist, "cell", edges=[2])
    assert {tuple(t.meta) for t in fig.data if t.meta is not None} == {(2, op) for op in hist.space.ops}
    with pytest.raises(ValueError, match="edge"):
        alpha_curves(hist, "cell", edges=[7])
    with pytest.raises(ValueError, match="cell type"):
        alpha_curves(hist, "normal")


def test_loss_curves_carry_the_history(hist):
    fig = loss_curves(hist)
    by = {t.name: t for t in fig.data}
    for name, key in (("train loss (per batch)", "train_loss"), ("val loss (per batch)", "val_loss"),
                      ("train accuracy (per batch)", "train_accuracy"), ("lr (weights)", "lr")):
        assert np.array_equal(np.asarray(by[name].y), hist.scalar(key)), name
    ep = by["supernet val acc (epoch)"]
    assert list(ep.x) == [r.step for r in hist.epochs] and list(ep.y) == [r.val_metrics["accuracy"] for r in hist.epochs]
    smooth = np.asarray(by["train loss"].y)
    raw = hist.scalar("train_loss")
    assert smooth[0] == pytest.approx(raw[0]) and raw.min() <= smooth.min() and smooth.max() <= raw.max()
    assert all(t.name and "smoothed" not in t.name for t in loss_curves(hist, smoothing=None).data)


def test_param_free_counts_match_genotype_at_every_step(hist):
    steps, counts = param_free_counts(hist)
    assert np.array_equal(steps, hist.steps)
    oracle = [sum(op in PARAM_FREE for _, op, _ in hist.genotype_at(int(s)).cell("cell").edges()) for s in steps]
    assert list(counts["cell"]) == oracle
    fig = param_free_curve(hist)
    assert list(fig.data[0].y) == oracle
    assert fig.layout.shapes[-1].y0 == pytest.approx(len(hist.genotype_at(10).cell("cell").edges()) / 2)


def test_param_free_counts_decimate_but_keep_epoch_ends(hist):
    steps, counts = param_free_counts(hist, max_points=3)
    assert len(steps) <= 3 + len(hist.epochs)
    assert {r.step for r in hist.epochs} <= set(steps.tolist()) and steps[-1] == hist.steps[-1]


# ------------------------------------------------------------------ visual glitches seen in Chromium (issue 16)
def _finished_with_a_late_switch() -> History:
    """A finished 1-epoch toy search, then an op switched off after its last step (as on a finished dashboard)."""
    torch.set_num_threads(1)
    cfg = SearchConfig(space="toy", dataset="digits", epochs=1, batch_size=16, data_limit=96,
                       supernet=SupernetConfig(C=4), seed=0)
    s = Searcher(cfg)
    h = History.attach(s)
    s.run()
    s.set_op_enabled("cell", "skip_connect", False)
    return h


def test_alpha_curves_legend_sits_below_the_title_and_grows_downwards(hist):
    from widgets.figures.alpha_curves import TITLE_TOP, _legend_rows

    assert _legend_rows(NB201_OPS) == 1 and _legend_rows(DARTS_OPS) == 2  # DARTS's 8 ops wrap
    fig = alpha_curves(hist, "cell")
    lay = fig.layout
    height = lay.height
    # both in pixels from the top of the figure: the title's box ends before the legend starts
    assert lay.title.yref == "container" and lay.title.yanchor == "top"
    title_top = (1 - lay.title.y) * height
    assert abs(title_top - TITLE_TOP) < 1e-6
    assert lay.legend.yref == "container" and lay.legend.yanchor == "top"  # a wrapped legend grows downwards
    legend_top = (1 - lay.legend.y) * height
    assert legend_top >= title_top + lay.title.font.size * 1.3
    # and the margin leaves room for the legend's rows above the plots
    assert lay.margin.t >= legend_top + 22 * _legend_rows(hist.space.group("cell").options)


def test_alpha_curves_x_axis_is_the_steps_run_even_after_a_late_op_switch():
    h = _finished_with_a_late_switch()
    last = int(h.steps[-1])
    (ch,) = h.mask_changes
    assert ch.step == last  # switched off after the last step: on a finished search
    fig = alpha_curves(h, "cell")
    lo, hi = fig.layout.xaxis.range
    assert lo == h.steps[0] and hi == pytest.approx(last + 0.5)  # not stretched by the label's width
    notes = [a for a in fig.layout.annotations if a.text == "−skip_connect"]
    assert notes and all(a.xanchor == "right" for a in notes)  # the label reads leftwards, inside the plot


def test_live_alpha_curves_keep_the_x_range_after_an_op_switch_on_a_finished_search():
    from widgets.views import AlphaView

    h = _finished_with_a_late_switch()
    view = AlphaView(h, heatmaps=False)
    fw = view.curves["cell"]
    assert list(fw.layout.xaxis.range) == [float(h.steps[0]), pytest.approx(float(h.steps[-1]) + 0.5)]


def test_heatmap_colorbar_ticks_are_distinct_on_a_narrow_range():
    from widgets.figures.heatmap import colorbar_ticks

    for lo, hi in ((0.118, 0.132), (0.1249, 0.1301), (0.3328, 0.3338), (0.2, 0.45), (0.0, 1.0)):
        vals, text = colorbar_ticks(lo, hi)
        assert len(vals) >= 2 and len(set(text)) == len(text), (lo, hi, text)
        assert all(lo - 1e-12 <= v <= hi + 1e-12 for v in vals)
        assert all(abs(float(t) - v) < 1e-12 for t, v in zip(text, vals, strict=True))  # labels say the value
    # a nearly uniform row: the figure's colourbar carries those labels
    w = np.array([[0.126, 0.124, 0.13, 0.12, 0.124, 0.126, 0.125, 0.125]])
    fig = alpha_heatmap(w, DARTS_OPS, ["0→1"])
    cb = fig.data[0].colorbar
    assert cb.tickmode == "array" and len(set(cb.ticktext)) == len(cb.ticktext) >= 2


def test_dashboard_graph_edge_labels_are_at_least_11_px_in_their_column():
    import re

    from widgets.graph import render_svg, with_rankdir
    from workbench.spaces.cell.genotype import Genotype

    g = Genotype.parse("|skip_connect~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|skip_connect~2|")
    from widgets.graph import genotype_dot

    column = 430  # px: the graph's column beside a 520 px heatmap in the 1000 px dashboard
    svg = render_svg(with_rankdir(genotype_dot(g, title="derived genotype · step 61"), "TB"))
    width_pt = float(re.search(r'<svg width="([0-9.]+)pt"', svg).group(1))
    scale = min(1.0, column / (width_pt * 4 / 3))  # the fluid SVG shrinks to its column
    sizes = [float(v) for v in re.findall(r'font-size="([0-9.]+)"', svg)]
    assert min(sizes) * 4 / 3 * scale >= 11, (width_pt, min(sizes), scale)
    with pytest.raises(ValueError):
        with_rankdir("digraph g {}", "up")


def test_compute_now_keeps_the_sharpness_axis_in_epochs():
    from widgets.figures.sharpness import sharpness_figure
    from workbench.events import AnalysisResult

    spe = 10
    tracked = [AnalysisResult((e + 1) * spe, "sharpness", {"eigenvalue": 0.1 * (e + 1), "epoch": e})
               for e in (0, 2, 4)]
    # "Compute now" on the finished search (step 50, epoch 4 again) and mid-epoch 2 (step 25)
    now = [AnalysisResult(s, "sharpness", {"eigenvalue": 0.7, "epoch": (s - 1) // spe, "source": "compute now",
                                           "steps_per_epoch": spe}) for s in (50, 25)]
    fig = sharpness_figure(tracked + now)
    assert fig.layout.xaxis.title.text == "epoch"
    assert list(fig.data[0].x) == [0.0, 2.0, 4.0, 4.0, 1.5]  # on demand: the fraction of the epoch
    # without the epoch length (an old record) a repeated epoch still falls back to steps
    old = [AnalysisResult(50, "sharpness", {"eigenvalue": 0.7, "epoch": 4, "source": "compute now"})]
    assert sharpness_figure(tracked + old).layout.xaxis.title.text == "step"


def test_op_switch_labels_of_one_panel_do_not_share_a_line():
    torch.set_num_threads(1)
    cfg = SearchConfig(space="toy", dataset="digits", epochs=1, batch_size=16, data_limit=96,
                       supernet=SupernetConfig(C=4), seed=0)
    s = Searcher(cfg)
    h = History.attach(s)
    s.run(2)
    s.set_op_enabled("cell", "skip_connect", False)
    s.run()
    s.set_op_enabled("cell", s.space.group("cell").options[0], False)
    fig = alpha_curves(h, "cell", edges=[0])
    ys = [a.y for a in fig.layout.annotations if a.text.startswith("−")]
    assert len(ys) == 2 and len(set(ys)) == 2

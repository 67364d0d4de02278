"""Headless tests of the live widget layer: the session thread, the controls and the views' figure data.

No browser: views are built without a frontend (events still flow, FigureWidgets
still update) and we check the data a browser would receive, against oracles
computed independently from the recorded alphas, the engine's own events, and
the pure figure functions that render the static report.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import tiny_config

from workbench import OpMaskChanged, Searcher, StepEnded
from workbench.history import History
from workbench.spaces.cell.select import derive_genotype

ipywidgets = pytest.importorskip("ipywidgets")
go = pytest.importorskip("plotly.graph_objects")

from widgets import figures as F  # noqa: E402
from widgets.controls import ControlPanel, OpSwapper, SearchSession, as_session  # noqa: E402
from widgets.dashboard import Dashboard, ScrubberView, dashboard  # noqa: E402
from widgets.fallback import StaticDashboard  # noqa: E402
from widgets.views import (  # noqa: E402
    AlphaView,
    CurvesView,
    GenotypeDiffView,
    GenotypeView,
    ParamFreeWarning,
    genotype_edge_changes,
)


def masked_softmax(alpha: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The oracle: softmax over the enabled ops of each edge, 0 for disabled ones (float64 numpy)."""
    a = np.where(mask, alpha.astype(np.float64), -np.inf)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def z_of(fw) -> np.ndarray:
    return np.asarray(fw.data[0].z, dtype=float)


def strongest(fw) -> list[tuple[int, int]]:
    """(edge, op index) of each outlined "strongest op" box of an alpha heatmap (5 corners + a gap per box)."""
    t = trace(fw, "strongest op")
    x, y = list(t.x), list(t.y)
    return [(round(float(np.mean(y[i:i + 4]))), round(float(np.mean(x[i:i + 4])))) for i in range(0, len(x), 6)]


def trace(fw, name):
    found = [t for t in fw.data if t.name == name]
    assert found, f"no trace named {name!r} in {[t.name for t in fw.data]}"
    return found[0]


@pytest.fixture
def session():
    s = SearchSession(tiny_config(epochs=3))
    yield s
    s.close()


# ------------------------------------------------------------------------------ the session
def test_pause_from_a_step_callback_stops_before_the_next_step(session):
    def pause_at_4(ev):
        if ev.step == 4:
            session.pause()

    session.bus.subscribe(pause_at_4, kinds=(StepEnded,))
    session.run()
    assert session.wait(60)
    assert session.searcher.step_count == 4 and session.status() == "paused"
    time.sleep(0.2)
    assert session.searcher.step_count == 4  # stays paused
    session.resume()
    assert session.wait(60)
    assert session.searcher.finished and session.status() == "finished"


def test_worker_runs_in_background_and_commands_run_between_steps(session):
    release = threading.Event()
    seen = []

    def slow_down(ev):  # holds the worker at step 2 until the test has done its checks
        if ev.step == 2:
            release.wait(30)

    session.bus.subscribe(slow_down, kinds=(StepEnded,))
    session.run(6)
    deadline = time.time() + 30
    while session.searcher.step_count < 2 and time.time() < deadline:
        time.sleep(0.01)
    # the caller's thread is free while the worker steps: a command queues and runs at a step boundary
    fut = session.submit(lambda s: seen.append((threading.current_thread().name, s.step_count)) or s.step_count)
    assert not fut.done()
    release.set()
    assert fut.result(30) == 2
    assert seen[0][0] == "dnas-search-worker"
    assert session.wait(60) and session.searcher.step_count == 6


def test_an_idle_worker_exits_and_the_next_command_starts_a_new_one(session):
    session.IDLE_EXIT_S = 0.05
    session.run(2)
    assert session.wait(60)
    deadline = time.time() + 30
    while session._thread is not None and time.time() < deadline:
        time.sleep(0.01)
    assert session._thread is None  # no thread left behind by an idle session
    session.run(2)
    assert session.wait(60) and session.searcher.step_count == 4


def test_threaded_and_inline_sessions_record_identical_searches():
    a, b = SearchSession(tiny_config(), threaded=True), SearchSession(tiny_config(), threaded=False)
    a.run()
    b.run()
    assert a.wait(60) and b.searcher.finished
    np.testing.assert_array_equal(a.history.alphas("cell"), b.history.alphas("cell"))
    np.testing.assert_array_equal(a.history.scalar("val_loss"), b.history.scalar("val_loss"))
    a.close()


def test_op_swap_during_a_running_search_masks_the_op_from_the_next_step(session):
    ready = threading.Event()

    def swap_at_3(ev):
        if ev.step == 3:
            ready.set()

    session.bus.subscribe(swap_at_3, kinds=(StepEnded,))
    session.run()
    assert ready.wait(60)
    session.set_op_enabled("cell", "avg_pool_3x3", False).result(60)
    assert session.wait(60) and session.searcher.finished
    h = session.history
    (ch,) = h.mask_changes
    assert (ch.group, ch.op, ch.enabled) == ("cell", "avg_pool_3x3", False)
    o = h.space.ops.index("avg_pool_3x3")
    w = h.weights("cell")
    after = h.steps > ch.step
    assert after.any() and (~after).any()
    assert np.all(w[after][:, :, o] == 0)
    assert np.all(w[~after][:, :, o] > 0)
    assert all(op != "avg_pool_3x3" for _, op, _ in session.searcher.genotype().cell("cell").edges())


def test_refused_swap_raises_through_the_future_and_changes_nothing():
    s = SearchSession(tiny_config(), threaded=False)
    s.set_op_enabled("cell", "skip_connect", False).result()
    s.set_op_enabled("cell", "nor_conv_3x3", False).result()
    with pytest.raises(ValueError, match="no candidate op other than 'none'"):
        s.set_op_enabled("cell", "avg_pool_3x3", False).result()
    assert s.searcher.masks()["cell"][:, s.space.ops.index("avg_pool_3x3")].all()
    with pytest.raises(ValueError, match=r"'sep_conv_9x9'.*(not accepted|not in space)"):  # names the bad op
        s.set_op_enabled("cell", "sep_conv_9x9", False).result()


def test_reset_starts_the_same_search_again_with_all_ops_on():
    s = SearchSession(tiny_config(), threaded=False)
    s.set_op_enabled("cell", "skip_connect", False).result()
    s.run(4)
    old = s.searcher
    s.reset().result()
    assert s.searcher is not old and s.searcher.step_count == 0 and len(s.history) == 0
    assert s.searcher.masks()["cell"].all()
    s.run(4)
    fresh = Searcher(tiny_config())
    fresh.run(4)
    np.testing.assert_array_equal(s.history.alphas("cell")[-1], fresh.alphas()["cell"])
    assert as_session(s.searcher) is s


def test_a_failing_step_is_reported_and_the_worker_survives(session):
    calls = {"n": 0}
    real = session.searcher._step

    def flaky():
        calls["n"] += 1
        if calls["n"] == 2:
            raise FloatingPointError("loss exploded")
        return real()

    session.searcher._step = flaky
    session.run(5)
    assert session.wait(60)
    assert session.status() == "error" and "loss exploded" in session.error
    assert session.searcher.failed  # the engine marked itself failed; the session did not crash
    assert session.submit(lambda s: s.step_count).result(30) == 1  # the worker still answers


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(TypeError, match="Searcher or a SearchConfig"):
        SearchSession("nb201")
    s = SearchSession(tiny_config(), threaded=False)
    with pytest.raises(ValueError, match="step count"):
        s.run(-1)
    with pytest.raises(TypeError, match="SearchSession, Searcher, History"):
        AlphaView(42)


# ------------------------------------------------------------------------------ control panel
def test_control_panel_buttons_drive_the_session():
    s = SearchSession(tiny_config(), threaded=False)
    panel = ControlPanel(s)
    assert panel.pause_btn.disabled and not panel.step_btn.disabled
    panel.step_btn.click()
    assert s.searcher.step_count == 1 and "step <b>1</b>/10" in panel.progress.value
    panel.n_box.value = 3
    panel.run_n_btn.click()
    assert s.searcher.step_count == 4
    panel.run_btn.click()
    assert s.searcher.finished and "finished" in panel.status.value
    assert panel.step_btn.disabled and panel.run_btn.disabled
    panel.reset_btn.click()
    assert s.searcher.step_count == 0 and "step 0/10" in panel.progress.value
    panel.close()


# ------------------------------------------------------------------------------ views, synthetic events
def _synthetic(space, step: int, w: np.ndarray, epoch: int = 0) -> StepEnded:
    return StepEnded(step, epoch, 1.0 / step, 1.2 / step, {"accuracy": 0.5}, {"accuracy": 0.4}, 0.025, 3e-4,
                     {"cell": np.log(w + 1e-12)},
                     {"cell": w.astype(np.float32)}, 0.01)


def test_alpha_view_shows_synthetic_weights_marks_argmax_and_greys_masked_ops():
    s = SearchSession(tiny_config(), threaded=False)
    space = s.space  # toy: 3 edges x ops (none, skip_connect, nor_conv_3x3, avg_pool_3x3)
    view = AlphaView(s, min_interval=0)
    w = np.array([[0.1, 0.6, 0.2, 0.1], [0.1, 0.1, 0.7, 0.1], [0.05, 0.05, 0.1, 0.8]])
    s.bus.emit(_synthetic(space, 1, w))
    fw = view.heatmaps["cell"]
    np.testing.assert_allclose(z_of(fw), w, rtol=1e-6)
    assert strongest(fw) == [(0, 1), (1, 2), (2, 3)]
    assert "step 1" in fw.layout.title.text
    # an op switched off: greyed at once while following the search, zero weight from the next step
    s.bus.emit(OpMaskChanged(1, "cell", "avg_pool_3x3", (0, 1, 2), False))
    off = np.asarray(trace(fw, "off").z, dtype=float)
    assert np.all(off[:, 3] == 1) and np.all(np.isnan(off[:, :3]))
    w2 = np.array([[0.1, 0.7, 0.2, 0.0], [0.1, 0.1, 0.8, 0.0], [0.3, 0.2, 0.5, 0.0]])
    s.bus.emit(_synthetic(space, 2, w2))
    np.testing.assert_allclose(z_of(fw)[:, 3], 0)
    assert strongest(fw) == [(0, 1), (1, 2), (2, 2)]
    view.close()
    s.bus.emit(_synthetic(space, 3, w))
    np.testing.assert_allclose(z_of(fw), w2, rtol=1e-6)  # closed: no longer updated


def test_throttle_coalesces_redraws_and_idle_flushes_the_last_step():
    s = SearchSession(tiny_config(), threaded=False)
    view = AlphaView(s, curves=False, min_interval=3600)
    before = view.redraws
    s.run()  # 10 steps; the throttle allows none of them, the trailing flush draws the last
    assert view.redraws == before + 1
    np.testing.assert_allclose(z_of(view.heatmaps["cell"]), s.history.weights("cell")[-1], rtol=1e-6)
    every = AlphaView(s, curves=False, min_interval=0, every=5)
    n0 = every.redraws
    s.reset().result()
    s.run()
    assert every.redraws - n0 <= 2 + 2 + 1  # steps 5 and 10, the reset, the idle flush


def test_param_free_warning_fires_for_a_skip_heavy_cell_only():
    s = SearchSession(tiny_config(), threaded=False)
    warn = ParamFreeWarning(s, min_interval=0)
    conv = np.array([[0.1, 0.1, 0.7, 0.1]] * 3)
    s.bus.emit(_synthetic(s.space, 1, conv))
    assert not warn.warning and "<b>0</b> of 3" in warn.badge.value
    skip = np.array([[0.1, 0.7, 0.1, 0.1]] * 3)
    s.bus.emit(_synthetic(s.space, 2, skip))
    assert warn.warning and "⚠" in warn.badge.value and "skip_connect ×3" in warn.badge.value
    assert list(trace(warn.figure, "cell").y) == [0, 3]


# ------------------------------------------------------------------------------ views, a real tiny search
@pytest.fixture(scope="module")
def finished():
    s = SearchSession(tiny_config(epochs=3), threaded=False)
    d = dashboard(s, min_interval=0)
    s.run(4)
    s.set_op_enabled("cell", "avg_pool_3x3", False).result()
    s.run()
    return s, d


def test_heatmap_equals_softmax_of_the_recorded_alphas(finished):
    s, d = finished
    h = s.history
    heat = d.views["alphas"].heatmaps["cell"]
    mask = h.masks_at(int(h.steps[-1]))["cell"]
    np.testing.assert_allclose(z_of(heat), masked_softmax(h.alphas("cell")[-1], mask), rtol=1e-5, atol=1e-7)
    # and equals the engine's own softmax of its live alphas
    np.testing.assert_allclose(z_of(heat), s.searcher.probabilities()["cell"], rtol=1e-5, atol=1e-7)


def test_scrubbed_step_shows_that_steps_alphas_and_genotype(finished):
    s, d = finished
    h = s.history
    scrub: ScrubberView = d.scrubber
    epoch_ends = [r for r in h.epochs]
    assert len(epoch_ends) == 3
    for rec in epoch_ends[:2]:  # scrub to each epoch end: the engine's own EpochEnded genotype is the oracle
        scrub.scrub(rec.step)
        assert d.views["genotype"].genotype == rec.genotype
        i = h.index_of(rec.step)
        np.testing.assert_allclose(z_of(d.views["alphas"].heatmaps["cell"]),
                                   masked_softmax(h.alphas("cell")[i], h.masks_at(rec.step)["cell"]),
                                   rtol=1e-5, atol=1e-7)
        assert f"step {rec.step}" in d.views["alphas"].heatmaps["cell"].layout.title.text
        assert f"step {rec.step} " in scrub.label.value
    scrub.scrub(2)
    expect = derive_genotype(s.space, {"cell": masked_softmax(h.alphas("cell")[1], h.masks_at(2)["cell"])})
    assert d.views["genotype"].genotype == expect
    assert d.views["param_free"].step == 2
    with pytest.raises(ValueError, match="was not recorded"):
        scrub.scrub(10_000)
    scrub.scrub(None)
    assert d.views["alphas"].step is None and d.views["genotype"].genotype == s.searcher.genotype()


def test_reset_clears_every_view_and_the_scrubber():
    s = SearchSession(tiny_config(), threaded=False)
    d = dashboard(s, min_interval=0)
    s.run(4)
    d.scrubber.scrub(2)
    assert d.views["alphas"].step == 2
    s.reset().result()
    assert d.scrubber.slider.disabled and d.scrubber.step is None and d.views["alphas"].step is None
    assert "before the first step" in d.views["alphas"].heatmaps["cell"].layout.title.text
    assert len(d.views["curves"].figure.data[0].x) == 0
    s.run(3)
    assert (d.scrubber.slider.min, d.scrubber.slider.max, d.scrubber.slider.value) == (1, 3, 3)
    np.testing.assert_allclose(z_of(d.views["alphas"].heatmaps["cell"]), s.history.weights("cell")[-1], rtol=1e-6)


def test_swapped_off_op_has_zero_weight_thereafter_in_every_view(finished):
    s, d = finished
    h = s.history
    o = s.space.ops.index("avg_pool_3x3")
    (ch,) = h.mask_changes
    assert ch.step == 4
    np.testing.assert_array_equal(z_of(d.views["alphas"].heatmaps["cell"])[:, o], 0)
    curves = d.views["alpha_curves"]
    curves.set_visible(True)
    curves.refresh()
    for tr in curves.curves["cell"].data:
        if tr.meta is not None and tr.meta[1] == "avg_pool_3x3":
            x, y = np.asarray(tr.x), np.asarray(tr.y)
            assert np.all(y[x > 4] == 0) and np.all(y[x <= 4] > 0)
    ann = [a.text for a in curves.curves["cell"].layout.annotations]
    assert "−avg_pool_3x3" in ann  # the swap is marked on the curves


def test_live_figures_match_the_static_report_figures(finished):
    """The live views update traces in place; the result must equal the pure figure of the same History."""
    s, d = finished
    h = s.history
    for name in ("alpha_curves", "curves", "param_free_curve"):
        d.views[name].set_visible(True)
        d.views[name].refresh()
    live = d.views["alpha_curves"].curves["cell"]
    static = F.alpha_curves(h, "cell")
    assert len(live.data) == len(static.data)
    for a, b in zip(live.data, static.data, strict=True):
        if a.meta is not None:
            np.testing.assert_allclose(np.asarray(a.y, float), np.asarray(b.y, float), rtol=1e-6)
    live = d.views["curves"].figure
    static = F.loss_curves(h)
    assert [t.name for t in live.data] == [t.name for t in static.data]
    for a, b in zip(live.data, static.data, strict=True):
        np.testing.assert_allclose(np.asarray(a.y, float), np.asarray(b.y, float), rtol=1e-6, atol=1e-9)
    live = d.views["param_free_curve"].figure
    steps, counts = F.param_free_counts(h)
    y = dict(zip(np.asarray(trace(live, "cell").x), np.asarray(trace(live, "cell").y), strict=True))
    assert all(y[int(st)] == c for st, c in zip(steps, counts["cell"], strict=True))


def test_op_swapper_toggle_masks_the_op_and_springs_back_when_refused():
    s = SearchSession(tiny_config(), threaded=False)
    sw = OpSwapper(s)
    t = sw.toggles["cell"]
    t["skip_connect"].value = False
    assert not s.searcher.masks()["cell"][:, 1].any() and "switched <b>off</b>" in sw.message.value
    sw.edge_pickers["cell"].value = 2
    t["nor_conv_3x3"].value = False  # edge 2 keeps only avg_pool_3x3 now
    m = s.searcher.masks()["cell"]
    assert not m[2, 2] and m[0, 2] and m[1, 2]
    t["avg_pool_3x3"].value = False  # would leave edge 2 without a real op
    assert t["avg_pool_3x3"].value is True and "refused" in sw.message.value
    assert s.searcher.masks()["cell"][2, 3]
    sw.edge_pickers["cell"].value = -1
    assert t["nor_conv_3x3"].value is False  # not on every edge
    s.run(2)
    assert np.all(s.history.weights("cell")[:, :, 1] == 0)
    s.reset().result()
    assert all(b.value for b in t.values())


# ------------------------------------------------------------------------------ genotype views, runs, fallback
def test_genotype_view_exports_svg_and_dot(tmp_path, finished):
    s, d = finished
    gv: GenotypeView = d.views["genotype"]
    dot = gv.export(tmp_path / "g.dot").read_text()
    g = s.searcher.genotype()
    for _, op, _ in g.cell("cell").edges():
        assert op in dot
    if gv.html.value.startswith("<svg"):
        assert gv.export(tmp_path / "g.svg").read_text().startswith("<svg")
    with pytest.raises(ValueError, match="suffix"):
        gv.export(tmp_path / "g.txt")


def test_genotype_diff_lists_exactly_the_changed_edges():
    from workbench.spaces.cell.genotype import nb201_genotype
    a = nb201_genotype(["skip_connect", "nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "avg_pool_3x3"])
    b = nb201_genotype(["skip_connect", "nor_conv_3x3", "nor_conv_3x3", "none", "nor_conv_1x1", "skip_connect"])
    lines = genotype_edge_changes(a, b)
    assert lines == ["cell node 2: − skip_connect←1; + nor_conv_3x3←1",
                     "cell node 3: − avg_pool_3x3←2; + skip_connect←2"]
    view = GenotypeDiffView(a, b)
    assert "nor_conv_3x3←1" in view.changes.value
    assert "identical" in GenotypeDiffView(a, a).changes.value


def test_dashboard_of_a_reloaded_run_scrubs_like_the_live_one(tmp_path):
    from workbench.runs import RunStore, load_run
    s = Searcher(tiny_config())
    session = SearchSession(s, threaded=False)
    with RunStore(tmp_path / "run", s):
        session.run()
    d = dashboard(tmp_path / "run")
    assert isinstance(d, Dashboard) and d.session is None and "controls" not in d.views
    run = load_run(tmp_path / "run")
    d.scrubber.scrub(3)
    assert d.views["genotype"].genotype == session.history.genotype_at(3) == run.history.genotype_at(3)
    np.testing.assert_allclose(z_of(d.views["alphas"].heatmaps["cell"]), session.history.weights("cell")[2],
                               rtol=1e-6)


def test_static_fallback_when_figure_widgets_cannot_be_built(monkeypatch, finished):
    s, _ = finished
    static = dashboard(s, static=True)
    assert isinstance(static, StaticDashboard)
    np.testing.assert_allclose(np.asarray(static.figures()["heatmap/cell"].data[0].z, float),
                               s.history.weights("cell")[-1], rtol=1e-6)

    def broken(*a, **k):
        raise ImportError("Please install anywidget to use the FigureWidget class")

    monkeypatch.setattr(go, "FigureWidget", broken)
    assert isinstance(dashboard(History(s.space)), StaticDashboard)
    monkeypatch.setenv("DNAS_STATIC_WIDGETS", "1")
    assert isinstance(dashboard(s.history), StaticDashboard)


def test_views_accept_a_plain_history_and_a_searcher():
    s = Searcher(tiny_config())
    sess = as_session(s)
    assert as_session(s) is sess  # one session (one worker) per searcher
    sess.run(3)
    assert sess.wait(60)
    v = CurvesView(sess.history)
    np.testing.assert_allclose(np.asarray(trace(v.figure, "train loss (per batch)").y, float),
                               sess.history.scalar("train_loss"))
    assert AlphaView(s, curves=False).feed.session is sess


def test_views_of_a_two_cell_darts_search():
    from workbench import SupernetConfig
    s = SearchSession(tiny_config(space="darts", supernet=SupernetConfig(C=4, layers=3), epochs=1), threaded=False)
    alphas = AlphaView(s, curves=False, min_interval=0)
    gv = GenotypeView(s, min_interval=0)
    sw = OpSwapper(s)
    assert set(alphas.heatmaps) == set(sw.toggles) == {"normal", "reduce"}
    sw.toggles["reduce"]["max_pool_3x3"].value = False
    s.run(2)
    h = s.history
    for c in ("normal", "reduce"):
        np.testing.assert_allclose(z_of(alphas.heatmaps[c]),
                                   masked_softmax(h.alphas(c)[-1], h.masks_at(int(h.steps[-1]))[c]), atol=1e-6)
        # the genotype keeps 2 edges per node: exactly those edges carry a star in the heatmap
        kept = F.genotype_edge_ops(s.space, gv.genotype, c)
        star = trace(alphas.heatmaps[c], "kept by genotype")
        assert sorted(round(y) for y in star.y) == sorted(kept)  # a star sits in its cell
    assert np.all(h.weights("reduce")[:, :, s.space.ops.index("max_pool_3x3")] == 0)
    assert np.all(h.weights("normal")[:, :, s.space.ops.index("max_pool_3x3")] > 0)
    assert gv.genotype == s.searcher.genotype() and "normal" in gv.dot and "reduce" in gv.dot

"""Headless tests of the analysis widgets: sharpness track, landscape view, perturbation probe.

Views are driven by synthetic events and by real tiny searches; the oracle is
always the engine: the eigenvalue trace must be the emitted eigenvalues, the
landscape's z the Surface's values (and a recomputation by the engine), the
probe's bars the probe's drops, the projection the genotype an independent
Projection derives on a clone.
"""
from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import AnalysisResult, Searcher, get_space
from workbench.analysis import (
    EarlyStopping,
    Surface,
    alpha_landscape,
    alpha_trajectory,
    compute_sharpness,
    project_trajectory,
    run_with_early_stopping,
    track_sharpness,
    weight_landscape,
)
from workbench.analysis.projection import ProbeResult, Projection, ProjectionConfig, clone_searcher
from workbench.history import History

pytest.importorskip("ipywidgets")
go = pytest.importorskip("plotly.graph_objects")

from plotly.callbacks import Points  # noqa: E402

from widgets import analysis_figures as AF  # noqa: E402
from widgets.analysis_views import LandscapeView, ProbeView, SharpnessView, edge_from_title  # noqa: E402
from widgets.controls import SearchSession  # noqa: E402


def trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def ys(fig, name) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in trace(fig, name).y], dtype=float)


def sharp(step, epoch, ev, top=None, **extra):
    return AnalysisResult(step, "sharpness", {"eigenvalue": ev, "top_k": top or [ev], "epoch": epoch, **extra})


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(model, saved) -> bool:
    return all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


@pytest.fixture
def nb201_session():
    s = SearchSession(Searcher(tiny_config(space="nb201", arch_lr=1e-2)))
    s.run(6)
    assert s.wait(120)
    yield s
    s.close()


# ------------------------------------------------------------------------------ sharpness
def test_sharpness_view_of_a_recorded_history_draws_the_emitted_values_and_early_stop_marks():
    h = History(get_space("toy"))
    evs = [0.10, 0.12, 0.20, 0.31, 0.45]
    events = [sharp(5 * (e + 1), e, v, [v, v / 2, v / 4], local_average=None if e < 1 else v * 0.9)
              for e, v in enumerate(evs)]
    events.append(AnalysisResult(25, "early_stop", {"trigger_epoch": 4, "stop_epoch": 1, "ratio": 1.8,
                                                    "factor": 1.3, "genotype": None}))
    for ev in events:
        h(ev)
    h(AnalysisResult(25, "gap", {"gap": 0.1}))  # other analyses are ignored
    view = SharpnessView(h)
    fig = view.figure
    assert fig.layout.xaxis.title.text == "epoch"
    np.testing.assert_array_equal(ys(fig, "dominant eigenvalue"), evs)
    np.testing.assert_array_equal(np.asarray(trace(fig, "dominant eigenvalue").x, float), range(5))
    spec = ys(fig, "top-k spectrum")  # λ2 for every epoch, a gap, λ3 for every epoch, a gap
    np.testing.assert_allclose(spec[~np.isnan(spec)], [v / 2 for v in evs] + [v / 4 for v in evs])
    fired = trace(fig, "early stop fired")
    assert list(fired.x) == [4, 4] and "1.80 > 1.30" in fired.text[1]
    kept = trace(fig, "rolled back to")
    assert list(kept.x) == [1] and list(kept.y) == [0.12] and "epoch 1" in kept.text[0]
    np.testing.assert_allclose(ys(fig, "local average")[1:], [v * 0.9 for v in evs[1:]])
    assert view.button.disabled  # no supernet behind a History
    with pytest.raises(RuntimeError, match="needs a live search"):
        view.compute_now()


def test_sharpness_axis_falls_back_to_steps_when_epochs_repeat():
    events = [sharp(3, 0, 0.2), sharp(5, 0, 0.25), sharp(8, 1, 0.3)]
    fig = AF.sharpness_figure(events)
    assert fig.layout.xaxis.title.text == "step"
    assert list(trace(fig, "dominant eigenvalue").x) == [3, 5, 8]
    assert AF.sharpness_figure(events, x="epoch").layout.xaxis.title.text == "epoch"
    with pytest.raises(ValueError, match="'auto', 'epoch' or 'step'"):
        AF.sharpness_figure(events, x="time")


def test_live_sharpness_view_tracks_the_tracker_and_compute_now_runs_on_the_worker():
    session = SearchSession(tiny_config(space="nb201", arch_lr=1e-2, epochs=3))
    searcher = session.searcher
    tracker = track_sharpness(searcher, every=1, unit="epoch", k=2)
    view = SharpnessView(session, k=2, min_interval=0)
    session.run()
    assert session.wait(120)
    emitted = [r.values["eigenvalue"] for r in tracker.results]
    assert len(emitted) == 3
    np.testing.assert_array_equal(ys(view.figure, "dominant eigenvalue"), emitted)
    spec = ys(view.figure, "top-k spectrum")
    np.testing.assert_array_equal(spec[~np.isnan(spec)], [r.values["top_k"][1] for r in tracker.results])

    threads = []
    searcher.bus.subscribe(lambda e: threads.append(threading.current_thread().name), kinds=(AnalysisResult,))
    ev = view.compute_now().result(60)
    assert threads == ["dnas-search-worker"]  # measured between steps, by the worker that owns the searcher
    oracle = compute_sharpness(searcher, method="dense", k=2)
    assert ev.values["eigenvalue"] == pytest.approx(oracle.eigenvalue, rel=1e-6)
    assert ev.step == searcher.step_count and ev in session.history.analysis
    assert session.wait(60)
    y = ys(view.figure, "dominant eigenvalue")
    assert y[-1] == ev.values["eigenvalue"] and len(y) == 4
    # two measurements in the last epoch now: the on-demand one sits at its fraction of an epoch, the axis stays
    assert view.figure.layout.xaxis.title.text == "epoch"
    assert view.figure.data[0].x[-1] == pytest.approx(searcher.step_count / searcher.steps_per_epoch - 1)
    assert "4 measurements" in view.status.value
    tracker.close()
    session.close()


def test_rollback_keeps_undone_measurements_as_rolled_back():
    session = SearchSession(tiny_config(space="nb201", arch_lr=1e-2, epochs=4))
    s = session.searcher
    es = EarlyStopping(window=1, delta=1, factor=1e-6, ev_freq=1, start=0, epochs=4)  # fires at its first check
    tracker = track_sharpness(s, every=1, unit="epoch", early_stopping=es)
    view = SharpnessView(session, min_interval=0)
    outcome = session.submit(lambda x: run_with_early_stopping(x, tracker, mode="ada")).result(300)
    assert session.wait(60)
    assert outcome.rollbacks, "the rule should have fired and rolled back"
    back_to = outcome.rollbacks[0][1]
    assert view.discarded and all(r.values["epoch"] > back_to for r in view.discarded)
    np.testing.assert_array_equal(ys(view.figure, "rolled back"), [r.values["eigenvalue"] for r in view.discarded])
    kept = [r for r in view.results if r.kind == "sharpness"]
    np.testing.assert_array_equal(ys(view.figure, "dominant eigenvalue"), [r.values["eigenvalue"] for r in kept])
    # the History forgot the undone steps; the view still shows where the rule fired
    assert len([r for r in session.history.analysis if r.kind == "sharpness"]) == len(kept)
    assert trace(view.figure, "early stop fired").x
    tracker.close()
    session.close()


# ------------------------------------------------------------------------------ landscapes
def test_landscape_view_draws_the_engine_surface_and_the_projected_trajectory(nb201_session):
    s = nb201_session.searcher
    before = state(s.model)
    view = LandscapeView(nb201_session, steps=11, span=0.5, seed=3)
    surface = view.compute().result(120)
    assert view.progress.value == 1 and view.progress.bar_style == "success"
    assert not s.model._forward_hooks  # the progress hook is gone
    assert same_state(s.model, before)
    oracle = alpha_landscape(s, steps=11, span=0.5, seed=3)  # the engine, called directly
    np.testing.assert_array_equal(surface.loss, oracle.loss)
    fig = view.figure
    np.testing.assert_array_equal(np.asarray(trace(fig, "loss surface").z, float), surface.loss)
    np.testing.assert_array_equal(np.asarray(trace(fig, "loss contour").z, float), surface.loss)
    traj = alpha_trajectory(nb201_session.history, s.space.cell_types)
    coords, _ = project_trajectory(traj, surface.origin, *surface.directions)
    t = trace(fig, "trajectory")
    np.testing.assert_allclose(np.c_[t.x, t.y], coords, rtol=1e-6, atol=1e-9)
    assert np.allclose(coords[-1], 0, atol=1e-5)  # the last recorded alphas are the current point
    assert list(trace(fig, "current point").x) == [0.0]


def test_landscape_view_weight_space_1d_and_eigen_and_pca(nb201_session):
    s = nb201_session.searcher
    view = LandscapeView(nb201_session)
    surface = view.compute(space="weights", dims=1, steps=11, span=0.25, directions="random").result(120)
    oracle = weight_landscape(s, dims=1, steps=11, span=0.25)
    np.testing.assert_array_equal(surface.loss, oracle.loss)
    np.testing.assert_array_equal(ys(view.figure, "loss"), surface.loss)
    np.testing.assert_array_equal(ys(view.figure, "accuracy"), surface.acc)
    assert "trajectory" not in [t.name for t in view.figure.data]  # weights are not recorded
    eig = view.compute(space="alpha", dims=2, steps=11, directions="eigen", span=1.0).result(120)
    assert eig.eigenvalues is not None and eig.eigenvalues[0] >= eig.eigenvalues[1]
    top = compute_sharpness(s, k=2)
    assert eig.eigenvalues[0] == pytest.approx(top.top_k[0], rel=1e-5)
    pca = view.compute(directions="pca", span="fit").result(120)
    t = trace(view.figure, "trajectory")
    assert max(np.abs(t.x).max(), np.abs(t.y).max()) <= pca.xs[-1] + 1e-9  # the span covers the path
    with pytest.raises(ValueError, match="only alphas are recorded"):
        view.compute(space="weights", directions="pca").result(10)
    with pytest.raises(ValueError, match="unknown landscape option"):
        view.compute(resolution=11)


def test_landscape_figure_projection_and_bad_input():
    xs = np.linspace(-1, 1, 5)
    loss = np.add.outer(xs ** 2, 2 * xs ** 2)  # [iy, ix]
    d = np.eye(3)
    surf = Surface(xs, xs, loss, 1 - loss / 4, "alpha", "val", "train", np.zeros(3), d[:2], "given")
    traj = np.array([[0.5, -0.5, 0.3], [0.25, 0.0, 0.1], [0.0, 0.0, 0.0]])
    fig = AF.landscape_figure(surf, traj, steps=[1, 2, 3])
    t = trace(fig, "trajectory")
    np.testing.assert_allclose(np.c_[t.x, t.y], traj[:, :2])
    assert "off the plane by 0.3" in t.text[0]
    t3 = trace(fig, "trajectory (3-D)")
    z3 = np.asarray(t3.z)  # the path drawn on the surface: bilinear in the grid (2 x^2 between 0 and 0.5 at 0.25)
    assert z3[1] - z3[2] == pytest.approx(0.25) and z3[0] - z3[2] == pytest.approx(0.25 + 2 * 0.25)
    assert "loss here ≈ 0.2500" in t.text[1]
    np.testing.assert_array_equal(np.asarray(trace(AF.landscape_figure(surf, metric="acc"), "accuracy surface").z,
                                             float), surf.acc)
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        AF.landscape_figure(surf, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="'loss' or 'acc'"):
        AF.landscape_figure(surf, metric="error")
    with pytest.raises(RuntimeError, match="needs a live search"):
        LandscapeView(History(get_space("toy")))


# ------------------------------------------------------------------------------ perturbation probe
def test_probe_view_bars_are_the_probe_drops_and_graph_clicks_pick_edges(nb201_session):
    s = nb201_session.searcher
    cfg = ProjectionConfig(proj_batches=2)
    view = ProbeView(nb201_session, cfg)
    assert nb201_session.wait(60)
    res = view.probe("cell", 4).result(60)
    oracle = Projection(s, replace_intv(cfg)).probe("cell", 4)
    assert res.masked_acc == oracle.masked_acc and res.chosen == oracle.chosen
    np.testing.assert_allclose(ys(view.figure, "accuracy drop"), res.acc_drop)
    w = s.probabilities()["cell"][4]
    np.testing.assert_allclose(ys(view.figure, "weight"), [w[s.space.ops.index(o)] for o in res.ops], rtol=1e-6)
    assert list(trace(view.figure, "weight").x) == list(res.ops)
    # a click on the graph edge 1 -> 3 (node 2, input 1) picks edge 4's neighbour: edge index of (node 2, src 1)
    title = "cell_s1->cell_s3"
    assert edge_from_title(title, s.space) == ("cell", s.space.edge_index(2, 1))
    view.graph._handle_custom_msg({"event": "edge_click", "edge": "cell_s0->cell_s2"}, [])  # as the browser sends it
    assert nb201_session.wait(60)
    assert view.edge_w.value == ("cell", s.space.edge_index(1, 0)) and view.probe_result.edge == 1
    assert "<title>cell_s0&#45;&gt;cell_s2</title>" in view.graph.svg  # the edge the browser reports by its title
    assert view.graph.selected == "cell_s0->cell_s2"
    assert edge_from_title("legend_a0->legend_b0", s.space) is None
    assert edge_from_title("cell_s0&#45;&gt;cell_s2", s.space) == ("cell", 1)  # escaped as in the SVG source
    with pytest.raises(ValueError, match="no edge 9"):
        view.select("cell", 9)


def replace_intv(cfg):
    return dataclasses.replace(cfg, proj_intv=0)


def test_compare_all_edges_heatmap_table_and_row_click(nb201_session, nb201_csv):
    from workbench.spaces.cell.nb201 import NB201Table
    s = nb201_session.searcher
    table = NB201Table.load(nb201_csv)
    view = ProbeView(nb201_session, ProjectionConfig(proj_batches=2), nb201_table=table)
    cmp = view.compare().result(120)
    assert nb201_session.wait(60)
    z = np.asarray([[np.nan if v is None else v for v in row] for row in view.heatmap.data[0].z], float)
    for i, r in enumerate(cmp.rows):
        np.testing.assert_allclose(z[i, [s.space.ops.index(o) for o in r.probe.ops]], r.probe.acc_drop)
    for label, g in (("magnitude", cmp.magnitude), ("perturbation", cmp.perturbation)):
        assert g.to_nb201_str() in view.table_html.value.replace("<wbr>", "")
        assert f"{table.lookup(g).c10:.2f}%" in view.table_html.value
        assert view.scores()[label]["c10"] == table.lookup(g).c10
    assert view.table_html.value.count("✗") == sum(not r.agree for r in cmp.rows)
    view.heatmap.data[0]._dispatch_on_click(Points(point_inds=[[3, 1]], xs=[1], ys=[3]), None)
    assert nb201_session.wait(60)
    assert view.edge_w.value == (cmp.rows[3].probe.cell_type, cmp.rows[3].probe.edge)
    assert view.probe_result.edge == cmp.rows[3].probe.edge


def test_full_projection_runs_on_a_clone_with_progress(nb201_session):
    s = nb201_session.searcher
    before = state(s.model)
    step = s.step_count
    cfg = ProjectionConfig(proj_intv=1, tune_steps=1, proj_batches=2)
    view = ProbeView(nb201_session, ProjectionConfig(proj_batches=2), projection_config=cfg)
    g = view.run_projection().result(300)
    oracle = Projection(clone_searcher(s), cfg).run()
    assert g == oracle and view.projected == g
    assert view.progress.value == 1 and view.progress.bar_style == "success"
    assert same_state(s.model, before) and s.step_count == step  # the search itself was not touched
    assert "projected genotype" in view.status.value


def test_probe_figure_marks_both_picks():
    p = ProbeResult("cell", 2, 1, 1, ("none", "skip_connect", "nor_conv_3x3"), (0.2, 0.5, 0.3), 1.0, 0.9,
                    (1.0, 1.1, 1.6), (0.9, 0.85, 0.6), "acc", "nor_conv_3x3")
    fig = AF.probe_figure(p)
    np.testing.assert_allclose(ys(fig, "accuracy drop"), [0.0, 0.05, 0.3])
    widths = list(trace(fig, "accuracy drop").marker.line.width)
    assert widths.index(max(widths)) == 2  # the perturbation pick is outlined
    widths = list(trace(fig, "weight").marker.line.width)
    assert widths.index(max(widths)) == 1  # the magnitude pick (largest weight)
    loss = AF.probe_figure(dataclasses.replace(p, crit="loss"))
    np.testing.assert_allclose(ys(loss, "loss rise"), [0.0, 0.1, 0.6])


def test_public_names_are_exported():
    import widgets
    for name in ("SharpnessView", "LandscapeView", "ProbeView", "sharpness_figure", "landscape_figure",
                 "probe_figure", "selection_heatmap", "selection_table_html"):
        assert hasattr(widgets, name), name

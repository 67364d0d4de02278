"""Comparison figures and the RunComparison widget, headless: their data against the comparison and the runs."""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from conftest import tiny_config

from widgets.compare_figures import (
    METRIC_SCALE,
    RUN_DASHES,
    alpha_overlay,
    comparison_figure,
    comparison_table_figure,
    comparison_table_html,
)
from widgets.compare_views import RunComparison, run_label
from widgets.figures import edge_labels, op_color
from workbench import SupernetConfig
from workbench.compare import ComparisonResult, compare
from workbench.runs import load_run
from workbench.spaces.cell.draw import _ADDED, _REMOVED
from workbench.spaces.cell.genotype import Genotype

METHODS = ["darts-v1", "gdas"]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """2 methods x 1 seed on the toy space, 1 epoch, persisted (run folders + comparison.json)."""
    import torch
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cmp")
    res = compare(METHODS, [0], "toy", "digits", 1, out, base_config=tiny_config(supernet=SupernetConfig(C=4)))
    return out, res


def _hand_result() -> ComparisonResult:
    """Two methods x two seeds with NB201 columns and one missing eigenvalue (hand-made: known means)."""
    rows = []
    for m, seed, acc, c10, pf, eig in [("darts-v1", 0, 0.90, 60.0, 4, 0.3), ("darts-v1", 1, 0.94, 80.0, 2, None),
                                        ("gdas", 0, 0.50, 93.0, 1, 0.1), ("gdas", 1, 0.70, 91.0, 3, 0.2)]:
        rows.append({"method": m, "seed": seed, "genotype": f"|skip_connect~0|+|none~0|nor_conv_3x3~{seed}|",
                     "supernet_val_accuracy": acc, "param_free": pf, "eigenvalue": eig, "nb201_c10": c10,
                     "nb201_rank_c10": 15000 - int(100 * c10), "status": "finished"})
    return ComparisonResult(rows, "nb201", "digits", 3)


def _plain(html_text: str) -> str:
    """Table text as read: tags dropped, <br> and non-breaking spaces as spaces."""
    return re.sub("<(?!br).*?>", "", html_text).replace("<br>", " ").replace("\u00a0", " ")


def _traces(fig, **meta):
    return [t for t in fig.data if isinstance(t.meta, dict) and all(t.meta.get(k) == v for k, v in meta.items())]


# ------------------------------------------------------------------------------ figure
def test_comparison_figure_points_and_bars_are_the_result_rows(comparison):
    _, res = comparison
    fig = comparison_figure(res)
    assert "nb201_c10" not in res.columns  # toy: no ground truth, so the headline is the supernet's accuracy
    for metric in ("supernet_val_accuracy", "param_free", "eigenvalue"):
        scale = METRIC_SCALE.get(metric, 1.0)
        (pts,) = _traces(fig, metric=metric, kind="seed", seed=0)
        assert [tuple(c[:2]) for c in pts.customdata] == [(r["method"], r["seed"]) for r in res.rows]
        np.testing.assert_allclose(pts.y, [scale * r[metric] for r in res.rows])
        assert [c[2] for c in pts.customdata] == [r["genotype"] for r in res.rows]
        (bar,) = _traces(fig, metric=metric, kind="mean")
        np.testing.assert_allclose(bar.y, [scale * s[metric] for s in res.summary()])
        assert list(bar.x) == [0, 1]  # one bar per method, in the result's order
    assert not _traces(fig, kind="published")  # published NB201 numbers only on the ground-truth panel


def test_comparison_figure_seeds_means_published_and_gaps():
    res = _hand_result()
    fig = comparison_figure(res, references={"best cell": 94.37})
    (bar,) = _traces(fig, metric="nb201_c10", kind="mean")
    assert list(bar.y) == [70.0, 92.0]
    for seed in (0, 1):
        (pts,) = _traces(fig, metric="nb201_c10", kind="seed", seed=seed)
        assert list(pts.y) == [r["nb201_c10"] for r in res.rows if r["seed"] == seed]
        assert all(abs(x - round(x)) <= 0.25 for x in pts.x)  # jittered around the method's slot
    (pub,) = _traces(fig, kind="published")
    assert list(pub.customdata) == ["darts-v1", "gdas"] and list(pub.y) == [54.30, 93.61]
    (eig1,) = _traces(fig, metric="eigenvalue", kind="seed", seed=1)
    assert eig1.y[0] is None and eig1.y[1] == 0.2  # a missing value is a gap (None), not NaN (strict JSON)
    (eig_bar,) = _traces(fig, metric="eigenvalue", kind="mean")
    assert eig_bar.y[0] == pytest.approx(0.3)  # the mean ignores the missing seed
    assert _traces(fig, kind="reference")[0].y == (94.37, 94.37)
    with pytest.raises(ValueError, match="retrain_test_acc.*measured columns"):
        comparison_figure(res, metric="retrain_test_acc")
    with pytest.raises(TypeError, match="ComparisonResult"):
        comparison_figure({"rows": []})


def test_table_summary_and_per_run():
    res = _hand_result()
    fig = comparison_table_figure(res)
    cells = [[_plain(v) for v in col] for col in fig.data[0].cells.values]
    header = [_plain(h) for h in fig.data[0].header.values]
    assert cells[0] == ["darts-v1", "gdas"]
    col = header.index("NB201 C10 (%)")
    sd = float(np.std([60.0, 80.0], ddof=1))
    assert cells[col] == [f"70.0 ± {sd:.1f}", f"92.0 ± {np.std([93.0, 91.0], ddof=1):.1f}"]
    acc = header.index("supernet acc (%)")
    assert cells[acc][0].startswith("92.0 ± ")  # fractions shown in percent
    fills = fig.data[0].cells.fill.color
    assert fills[col][1] != fills[col][0]  # the best ground-truth mean (gdas) is shaded
    assert header[-1].startswith("published") and cells[-1] == ["54.30", "93.61"]
    shown = [re.sub("<[^>]*>", "", v) for col in fig.data[0].cells.values for v in col]
    assert not any(" " in v for v in shown)  # no breakable space outside tags (see _nowrap)
    per = comparison_table_figure(res, per_run=True).data[0]
    assert len(per.cells.values[0]) == len(res.rows)
    assert per.cells.values[-1][0] == "|skip_connect~0|<br>|none~0|nor_conv_3x3~0|"  # one node per line


@pytest.mark.parametrize("per_run", [False, True])
def test_html_table_shows_the_figure_table(per_run):
    res = _hand_result()
    fig = comparison_table_figure(res, per_run=per_run).data[0]
    page = comparison_table_html(res, per_run=per_run)
    heads = [_plain(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", page)]
    rows = [[_plain(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)] for tr in re.findall(r"<tr>(.*?)</tr>", page)]
    assert heads == [_plain(h) for h in fig.header.values]
    assert [r for r in rows if r] == [[_plain(col[i]) for col in fig.cells.values] for i in range(len(rows) - 1)]
    best = [i for i, tr in enumerate(re.findall(r"<tr>(.*?)</tr>", page)[1:]) if "#dff0d8" in tr]
    assert best == ([] if per_run else [0, 1])  # darts-v1 best supernet acc, gdas best ground truth and rank


# ------------------------------------------------------------------------------ overlay
def test_alpha_overlay_traces_are_the_histories_weights(comparison):
    out, res = comparison
    runs = {run_label(r["method"], r["seed"]): load_run(out / f"{r['method']}-s{r['seed']}") for r in res.rows}
    hs = {k: r.history for k, r in runs.items()}
    space = next(iter(hs.values())).space
    cell = space.cell_types[0]
    fig = alpha_overlay(hs, cell, 1, max_points=None)
    assert len(fig.data) == len(hs) * len(space.ops)
    for k, (label, h) in enumerate(hs.items()):
        assert len(h) > 0
        for o, op in enumerate(space.ops):
            tr = fig.data[k * len(space.ops) + o]
            assert list(tr.meta) == [label, op]
            np.testing.assert_array_equal(tr.x, h.steps)
            np.testing.assert_array_equal(tr.y, h.weights(cell)[:, 1, o])
            assert tr.line.color == op_color(op) and tr.line.dash == RUN_DASHES[k]
    by_label = alpha_overlay(runs, cell, edge_labels(space)[1], max_points=None)  # Runs and edge labels work too
    assert all(np.array_equal(a.y, b.y) for a, b in zip(fig.data, by_label.data, strict=True))
    with pytest.raises(ValueError, match="edge must be an index"):
        alpha_overlay(hs, cell, space.n_edges)
    with pytest.raises(ValueError, match="unknown edge"):
        alpha_overlay(hs, cell, "9→9")
    with pytest.raises(ValueError, match="unknown cell type"):
        alpha_overlay(hs, "nope", 0)
    with pytest.raises(ValueError, match="empty"):
        alpha_overlay({}, cell, 0)


# ------------------------------------------------------------------------------ widget
def _styled_edges(dot: str, color: str) -> Counter:
    """(src state, dst state, op) of the DOT edges drawn in ``color`` (the diff's added / removed style)."""
    out = Counter()
    for m in re.finditer(r'"\w+_s(\d+)" -> "\w+_s(\d+)" \[label="[+−] ([\w]+)", color="([^"]+)"', dot):
        if m.group(4) == color:
            out[(int(m.group(1)), int(m.group(2)), m.group(3))] += 1
    return out


def _edge_set(g: Genotype, cell: str) -> Counter:
    c = g.cell(cell)
    return Counter((src, c.n_inputs + node, op) for node, op, src in c.edges())


def test_run_comparison_reloads_a_comparison_folder(comparison):
    out, res = comparison
    rc = RunComparison(out)
    assert rc.labels == [run_label(r["method"], r["seed"]) for r in res.rows] and not rc.missing
    assert rc.result.rows == ComparisonResult.from_json((out / "comparison.json").read_text()).rows
    assert rc.table is not None and rc.figure is not None
    a, b = rc.labels
    assert (rc.pick_a.value, rc.pick_b.value) == (a, b)  # default: two different methods
    ga, gb = rc.genotypes()
    assert [str(ga), str(gb)] == [r["genotype"] for r in res.rows]
    cell = rc.pick_cell.value
    # the diff highlights exactly the edges that differ: added = in b not a, removed = in a not b
    ea, eb = _edge_set(ga, cell), _edge_set(gb, cell)
    assert ea != eb, "precondition: the two seeded toy searches derive different genotypes"
    assert _styled_edges(rc.diff_dot, _ADDED) == eb - ea
    assert _styled_edges(rc.diff_dot, _REMOVED) == ea - eb
    assert "svg" in rc.diff_html.value or "digraph" in rc.diff_html.value
    space = rc.runs[a].history.space
    diff = rc.differing_edges()
    assert diff and rc.pick_edge.value == diff[0]  # the overlay opens on an edge where the runs disagree
    ops_a = {space.edge_index(n, s): op for n, op, s in ga.cell(cell).edges()}
    ops_b = {space.edge_index(n, s): op for n, op, s in gb.cell(cell).edges()}
    assert diff == sorted(e for e in range(space.n_edges) if ops_a.get(e) != ops_b.get(e))
    # overlay: both runs, the picked edge, weights from the reloaded histories
    n_ops = len(space.ops)
    assert [tuple(t.meta) for t in rc.overlay.data] == [(lab, op) for lab in (a, b) for op in space.ops]
    np.testing.assert_allclose(rc.overlay.data[n_ops].y, rc.runs[b].history.weights(cell)[:, diff[0], 0])
    rc.show_edge(edge_labels(space)[0])
    assert rc.pick_edge.value == 0
    np.testing.assert_allclose(rc.overlay.data[1].y, rc.runs[a].history.weights(cell)[:, 0, 1])
    rc.select(b, b)  # the same run twice: no highlighted edge, one run in the overlay
    assert not _styled_edges(rc.diff_dot, _ADDED) and not _styled_edges(rc.diff_dot, _REMOVED)
    assert len(rc.overlay.data) == n_ops and "same run" in rc.changes_html.value
    with pytest.raises(ValueError, match="unknown run 'nope'; loaded runs"):
        rc.select("nope", a)
    # as a user: the dropdowns redraw through their observers
    rc.pick_a.value = a  # back to (a, b) after select(b, b)
    assert _styled_edges(rc.diff_dot, _ADDED) == eb - ea and _styled_edges(rc.diff_dot, _REMOVED) == ea - eb
    assert [t.meta[0] for t in rc.overlay.data] == [a] * n_ops + [b] * n_ops
    rc.pick_edge.value = 2
    np.testing.assert_allclose(rc.overlay.data[n_ops + 3].y, rc.runs[b].history.weights(cell)[:, 2, 3])


def test_run_comparison_from_run_folders_and_missing_runs(comparison, tmp_path):
    out, res = comparison
    dirs = [out / f"{r['method']}-s{r['seed']}" for r in res.rows]
    rc = RunComparison([str(d) for d in dirs])  # the table is rebuilt from each run's summary.json
    assert [r["genotype"] for r in rc.result.rows] == [r["genotype"] for r in res.rows]
    assert rc.result.methods == METHODS
    rc2 = RunComparison({"first": dirs[0], "gone": tmp_path / "nothing-here"})
    assert rc2.labels == ["first"] and list(rc2.missing) == ["gone"]
    moved = ComparisonResult(res.rows[:1] + [dict(res.rows[1], run_dir="no/such/run")], res.space, res.dataset,
                             res.epochs)
    rc3 = RunComparison(moved, root=tmp_path)
    assert rc3.labels == [run_label(METHODS[0], 0)] and len(rc3.missing) == 1
    assert rc3.table.value.count("<tr>") == 1 + 2  # the table still lists both methods (header + 2 rows)
    with pytest.raises(ValueError, match="comparison folder"):
        RunComparison(tmp_path)
    with pytest.raises(TypeError, match="RunComparison takes"):
        RunComparison(3)


def test_figures_survive_strict_json(comparison):
    """Widget messages are strict JSON: no NaN may reach a FigureWidget."""
    import json
    res = _hand_result()
    assert math.isnan(res.summary()[0]["eigenvalue_std"] or math.nan)  # one seed lacks the eigenvalue
    for fig in (comparison_figure(res), comparison_table_figure(res)):  # raises ValueError on a NaN
        json.dumps(fig.to_plotly_json(), default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o),
                   allow_nan=False)

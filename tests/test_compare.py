"""Method comparison: run folders, the table in three formats, resume, optional columns, NB201 ground truth."""
from __future__ import annotations

import csv
import io
import json
import sys

import pytest
from conftest import tiny_config

import workbench.compare as cmp
from workbench import SupernetConfig
from workbench.compare import ComparisonResult, compare


def _base(**kw):
    return tiny_config(supernet=SupernetConfig(C=4), **kw)


def test_compare_writes_runs_and_a_table_in_three_formats(tmp_path):
    res = compare(["darts-v1", "gdas"], [0, 1], "toy", "digits", 1, tmp_path, base_config=_base())
    assert [(r["method"], r["seed"]) for r in res.rows] == [("darts-v1", 0), ("darts-v1", 1), ("gdas", 0), ("gdas", 1)]
    for r in res.rows:  # one run folder per (method, seed), readable by the run store
        assert (tmp_path / f"{r['method']}-s{r['seed']}" / "summary.json").is_file()
        assert 0 <= r["supernet_val_accuracy"] <= 1 and r["search_seconds"] > 0
        assert r["param_free"] == sum(op in ("skip_connect", "avg_pool_3x3") for op in r["genotype"].split("|")
                                      if "~" for op in [op.split("~")[0]])
    if "workbench.runs" in sys.modules or _has("workbench.runs"):
        from workbench.runs import load_run
        run = load_run(tmp_path / "gdas-s1")
        assert run.status == "finished" and str(run.genotype) == res.rows[3]["genotype"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "comparison.csv").read_text())))
    assert [r["genotype"] for r in rows] == [r["genotype"] for r in res.rows]
    md = (tmp_path / "comparison.md").read_text()
    lines = md.splitlines()
    assert sum(ln.startswith("| darts-v1 | 2 | ") for ln in lines) == 1  # the summary row: 2 seeds
    assert sum(ln.startswith("| gdas | 0 | ") for ln in lines) == 1  # a per-run row
    assert "\\|" in md  # pipes inside NB201-style genotype strings are escaped
    back = ComparisonResult.from_json((tmp_path / "comparison.json").read_text())
    assert back.rows == json.loads(json.dumps(res.rows)) and back.methods == ["darts-v1", "gdas"]
    fig = res.figure_data()
    assert fig["methods"] == ["darts-v1", "gdas"] and fig["seeds"] == [0, 1]
    assert len(fig["metrics"]["supernet_val_accuracy"]["per_seed"]["gdas"]) == 2
    assert fig["curves"]["gdas"]["1"]["epoch"] == [0]
    summary = {s["method"]: s for s in res.summary()}
    vals = res.values("gdas", "supernet_val_accuracy")
    assert summary["gdas"]["supernet_val_accuracy"] == pytest.approx(sum(vals) / 2)


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def test_compare_reuses_finished_runs(tmp_path, monkeypatch):
    first = compare(["darts-v1"], [0], "toy", "digits", 1, tmp_path, base_config=_base(), hessian=False)

    def refuse(*a, **k):
        raise AssertionError("a finished run was searched again")

    monkeypatch.setattr(cmp, "Searcher", refuse)
    again = compare(["darts-v1"], [0], "toy", "digits", 1, tmp_path, base_config=_base(), hessian=False)
    assert again.rows == first.rows


def test_missing_optional_modules_drop_their_columns(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "workbench.analysis.sharpness", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "workbench.runs", None)
    res = compare(["darts-v1"], [0], "toy", "digits", 1, tmp_path, base_config=_base())
    assert "eigenvalue" not in res.columns and "retrain_test_acc" not in res.columns
    assert "eigenvalue" not in (tmp_path / "comparison.csv").read_text().splitlines()[0]
    assert (tmp_path / "darts-v1-s0" / "summary.json").is_file()  # still persisted, without a run store


def test_eigenvalue_and_retrain_columns(tmp_path):
    pytest.importorskip("workbench.analysis.sharpness")
    from workbench.spaces.cell.discrete import EvalConfig
    res = compare(["darts-v1"], [0], "toy", "digits", 1, None, base_config=_base(),
                  retrain=EvalConfig(epochs=1, C=4, data_limit=100))
    r = res.rows[0]
    assert r["eigenvalue"] is not None and 0 <= r["retrain_test_acc"] <= 1


def test_nb201_ground_truth_columns(tmp_path, nb201_csv):
    from workbench.spaces.cell.nb201 import NB201Table
    res = compare(["darts-v1"], [3], "nb201", "digits", 1, None, nb201_csv, base_config=_base(), hessian=False)
    r = res.rows[0]
    table = NB201Table.load(nb201_csv)
    rec = table.lookup(r["genotype"])
    assert (r["nb201_c10"], r["nb201_c100"], r["nb201_in16"]) == (rec.c10, rec.c100, rec.in16)
    assert r["nb201_rank_c10"] == table.rank(r["genotype"]) and 1 <= r["nb201_rank_c10"] <= 15625
    assert "nb201_rank_c10" in res.to_markdown()


def test_bad_arguments():
    with pytest.raises(ValueError, match="not among the compared methods"):
        compare(["darts-v1"], [0], "toy", "digits", 1, None, base_config=_base(), method_options={"gdas": {}})
    with pytest.raises(ValueError, match="not a workbench comparison"):
        ComparisonResult.from_json('{"format": "x"}')


def test_compare_honours_a_methods_controller(tmp_path):
    """compare() steps through Searcher.run(): DARTS-ADA's early stopping rolls back and adapts the weight decay
    (same tiny settings as the CLI test in test_cli.py), and the row records what the controller did."""
    ada = {"ev_freq": 1, "window": 1, "delta": 1, "es_start_epoch": 0, "factor": 1.1}
    res = compare(["darts-ada"], [0], "toy", "digits", 3, tmp_path, base_config=_base(), hessian=False,
                  method_options={"darts-ada": ada})
    ctrl = res.rows[0]["controller"]
    assert [(t, e) for t, e, _ in ctrl["rollbacks"]] == [(1, 0), (1, 0)]
    assert ctrl["weight_decay"] == pytest.approx(0.03)
    assert res.curves["darts-ada"]["0"]["epoch"] == [0, 1, 1, 1, 2]  # epoch 2 (0-based 1) was run three times

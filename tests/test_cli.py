"""The command-line interface, in process via main(argv) and as `python -m workbench` subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import Genotype, Searcher
from workbench.app import cli as cli_mod
from workbench.app.cli import main
from workbench.runs import list_checkpoints, load_run
from workbench.spaces.cell.zoo import published

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--space", "toy", "--epochs", "1", "--C", "4", "--data-limit", "160", "--batch-size", "16", "--seed", "0",
        "--threads", "1"]
NB201_STR = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|"


def _run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def search_out(tmp_path_factory):
    """One tiny search through main(), shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("cli") / "run"
    import contextlib
    import io
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(["search", *TINY, "--epochs", "2", "--out", str(out)])
    return out, code, so.getvalue(), se.getvalue()


def test_to_a_log_the_progress_bar_redraws_rarely(tmp_path):
    """stderr that is not a terminal (a log file, a pipe, CI): the bar redraws every 10 s, not every 0.1 s, so a
    40-step search leaves a handful of bar states (start, around the epoch line, end), not one per few steps."""
    import contextlib
    import io
    args = list(TINY)
    args[args.index("--batch-size") + 1] = "2"  # 40 quick steps
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        assert main(["search", *args, "--out", str(tmp_path / "r")]) == 0
    err = se.getvalue()
    assert "40/40" in err and "step/s" in err and "epoch 1/1" in err
    assert err.count("\r") < 8, err.count("\r")  # 17 with the terminal's 0.1 s redraw


def test_search_writes_run_summary_and_report(search_out):
    out, code, stdout, stderr = search_out
    assert code == 0, stderr
    run = load_run(out)
    assert run.finished and len(run.history) == 10
    lines = stdout.splitlines()
    assert lines[0].startswith("search finished: toy / darts-v1 / digits, seed 0, 2 epochs (10 steps")
    by_label = {ln[:20].strip(): ln[20:].strip() for ln in lines[1:]}
    assert Genotype.from_nb201_str(by_label["genotype (NB201)"], n_nodes=None) == run.genotype
    assert Genotype.from_json(by_label["genotype (JSON)"]) == run.genotype
    assert "val acc" in by_label["supernet"] and "test acc" in by_label["supernet"]
    assert by_label["cell ops"].endswith(" none") and "parameter-free" in by_label["cell ops"]
    assert "early stopping" not in by_label  # darts-v1 has no controller
    assert "\r" not in stdout and "step/s" in stderr  # the progress bar stays on stderr
    summary = json.loads((out / "summary.json").read_text())
    assert Genotype.from_dict(summary["genotype"]) == run.genotype and summary["steps"] == 10
    assert 0 <= summary["supernet"]["test_metrics"]["accuracy"] <= 1 and summary["nb201_truth"] is None
    try:
        import widgets.report  # noqa: F401
    except ImportError:
        assert "report.html not written" in stderr
    else:
        assert (out / "report.html").is_file() and by_label["report"] == str(out / "report.html")


def test_runs_show(search_out, capsys):
    out = search_out[0]
    assert main(["runs", "show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "status       finished, step 10 of 10" in text
    assert text.count("  epoch ") == 2 and "step_00000010" in text


def test_search_refuses_existing_run_folder(search_out, capsys):
    out = search_out[0]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["search", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds a run" in err and f"resume {out}" in err and len(err.splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_overwrite_replaces_only_a_run_folder(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    assert main(["search", *TINY, "--out", str(other), "--overwrite"]) == 2
    assert "is not a run folder" in capsys.readouterr().err and (other / "thesis.tex").read_text() == "precious"
    run = tmp_path / "run"
    assert main(["search", *TINY, "--out", str(run), "--quiet", "--no-report"]) == 0
    (run / "marker").write_text("old run")
    assert main(["search", *TINY, "--out", str(run), "--quiet", "--no-report", "--overwrite"]) == 0
    assert not (run / "marker").exists() and load_run(run).finished


@pytest.mark.parametrize("argv, message", [
    (["--method", "darts-v3"], "unknown method 'darts-v3' (did you mean 'darts-v2'?); valid: darts-v1, darts-v2"),
    (["--space", "nb2O1"], "unknown space 'nb2O1'"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--remove-op", "sep_conv_3x3"], "not an op of space 'toy'; its ops: none, skip_connect"),
    (["--method-option", "r"], "--method-option takes KEY=VALUE"),
])
def test_bad_names_give_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main(["search", *TINY, *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_nan_loss_exits_1_and_says_what_happened(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["search", *TINY, "--lr", "1e30", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "search failed" in err and "loss is nan" in err and "no checkpoint was written yet" in err
    assert load_run(out).failed and list_checkpoints(out) == []


def test_ctrl_c_stops_after_the_step_checkpoints_and_resumes(tmp_path, capsys, monkeypatch):
    class InterruptedSearcher(Searcher):
        def step(self):
            ev = super().step()
            if self.step_count == 3:
                os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 3
            return ev

    monkeypatch.setattr(cli_mod.search, "Searcher", InterruptedSearcher)  # the `search` command's module
    out = tmp_path / "int"
    assert main(["search", *TINY, "--epochs", "2", "--out", str(out), "--no-report"]) == 130
    err = capsys.readouterr().err
    assert "stopping after this step" in err and f"python -m workbench resume {out}" in err
    assert [p.name for p in list_checkpoints(out)] == ["step_00000003.json"]
    monkeypatch.undo()
    assert main(["resume", str(out), "--no-report", "--quiet", "--threads", "1"]) == 0
    run = load_run(out)
    assert run.finished and [int(s) for s in run.history.steps] == list(range(1, 11))


def test_genotype_conversions(capsys, tmp_path):
    assert main(["genotype", NB201_STR, "--to", "json"]) == 0
    g = Genotype.from_json(capsys.readouterr().out)
    assert g.to_nb201_str() == NB201_STR
    assert main(["genotype", g.to_json(), "--to", "nb201"]) == 0
    assert capsys.readouterr().out.strip() == NB201_STR
    assert main(["genotype", "darts_v2", "--to", "darts"]) == 0
    assert Genotype.from_darts_str(capsys.readouterr().out) == published("DARTS_V2")
    assert main(["genotype", "DARTS_V1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in out] == ["darts", "json"]
    assert main(["genotype", "DARTS_V1", "--to", "nb201"]) == 2
    assert "to_nb201_str needs one cell" in capsys.readouterr().err
    assert main(["genotype", "not_a_genotype"]) == 2
    assert "published name: DARTS_V1" in capsys.readouterr().err
    assert main(["genotype", "--list"]) == 0
    assert "DARTS_V2" in capsys.readouterr().out
    f = tmp_path / "g.txt"
    f.write_text(published("NASNet").to_darts_str())
    assert main(["genotype", str(f), "--to", "json"]) == 0
    assert Genotype.from_json(capsys.readouterr().out) == published("NASNet")


def test_genotype_draw(tmp_path, capsys):
    dot = tmp_path / "cell.dot"
    assert main(["genotype", NB201_STR, "--draw", str(dot)]) == 0
    assert dot.read_text().startswith("digraph") and "nor_conv_3x3" in dot.read_text()
    svg = tmp_path / "cell.svg"
    assert main(["genotype", NB201_STR, "--draw", str(svg)]) == 0
    if shutil.which("dot"):
        assert "<svg" in svg.read_text()
    else:
        assert (tmp_path / "cell.dot").is_file() and "wrote DOT" in capsys.readouterr().err
    assert main(["genotype", NB201_STR, "--draw", str(tmp_path / "cell.png")]) == 2


def test_nb201_lookup(nb201_csv, capsys, monkeypatch):
    from workbench.spaces.cell.nb201 import NB201Table
    table = NB201Table.load(nb201_csv)
    rec = table.lookup(NB201_STR)
    assert main(["nb201", NB201_STR, "--table", str(nb201_csv)]) == 0
    out = capsys.readouterr().out
    assert f"index         {rec.index}\n" in out
    assert f"CIFAR-10       {rec.c10:.2f}%   rank {table.rank(NB201_STR):5d} of {len(table)}" in out
    assert f"isomorphic    {len(table.isomorphic(NB201_STR))} architecture(s)" in out
    monkeypatch.delenv(cli_mod.NB201_ENV, raising=False)
    assert main(["nb201", NB201_STR]) == 0  # no --table, no variable: the table shipped with the package
    assert f"index         {rec.index}\n" in capsys.readouterr().out
    monkeypatch.setenv(cli_mod.NB201_ENV, str(nb201_csv.parent / "missing.csv"))
    assert main(["nb201", NB201_STR]) == 2
    assert "missing.csv (from $WORKBENCH_NB201_TABLE)" in capsys.readouterr().err


def test_search_reports_nb201_ground_truth(nb201_csv, tmp_path, capsys):
    out = tmp_path / "nb"
    argv = ["search", "--space", "nb201", "--epochs", "1", "--C", "4", "--data-limit", "64", "--batch-size", "32",
            "--threads", "1", "--out", str(out), "--nb201-table", str(nb201_csv), "--quiet", "--no-report"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    from workbench.spaces.cell.nb201 import NB201Table
    g = load_run(out).genotype
    rec = NB201Table.load(nb201_csv).lookup(g)
    assert f"genotype (NB201)  {g.to_nb201_str()}" in stdout
    assert f"NB201 truth       CIFAR-10 {rec.c10:.2f}%  CIFAR-100 {rec.c100:.2f}%" in stdout


def test_evaluate_is_wired_to_discrete(capsys):
    pytest.importorskip("workbench.spaces.cell.discrete")
    assert main(["evaluate", NB201_STR, "--space", "nb201", "--epochs", "1", "--C", "4", "--data-limit", "64",
                 "--threads", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"genotype   {NB201_STR}") and "test acc" in out and "params" in out
    assert main(["evaluate", "DARTS_V2", "--space", "nb201", "--epochs", "1"]) == 2
    assert "space 'nb201' has cells" in capsys.readouterr().err


def test_subprocess_help_and_bad_method():
    res = _run_cli()
    assert res.returncode == 0 and "search" in res.stdout and "resume" in res.stdout
    res = _run_cli("search", "--method", "nope", "--out", "unused")
    assert res.returncode == 2 and res.stderr.strip().startswith("workbench: error: unknown method 'nope'")
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_subprocess_search(tmp_path):
    out = tmp_path / "sub"
    res = _run_cli("search", *TINY, "--out", str(out), "--no-report")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("search finished: toy / darts-v1 / digits")
    assert "step/s" in res.stderr and "\r" not in res.stdout
    assert load_run(out).finished


def test_cli_and_run_store_import_no_ui_modules():
    code = ("import sys, workbench.app.cli, workbench.runs, workbench.serialize\n"
            "from workbench.app.cli import build_parser; build_parser()\n"
            "ui = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'widgets', 'plotly', 'ipywidgets', 'graphviz', 'IPython'})\n"
            "print(ui)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # widgets (report, drawing) are imported lazily


def test_compare_subcommand_tabulates_methods(tmp_path, capsys):
    from workbench.app.cli import main
    code = main(["compare", "--methods", "darts-v1,sdarts-rs", "--seeds", "0", "--space", "toy", "--epochs", "1",
                 "--C", "4", "--batch-size", "32", "--no-hessian", "--quiet", "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    assert code == 0
    assert "darts-v1" in out and "sdarts-rs" in out
    assert (tmp_path / "cmp" / "comparison.csv").exists()
    # a terminal table, not Markdown: aligned columns, a rule under each header, genotypes unescaped
    lines = out.splitlines()
    assert not any(ln.startswith("|") for ln in lines) and "\\|" not in out
    header = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["method", "seeds"])
    assert set(lines[header + 1].replace(" ", "")) == {"-"}
    run_rows = [ln for ln in lines if ln.startswith(("darts-v1 ", "sdarts-rs"))]
    assert any("|" in ln for ln in run_rows)  # the per-run rows end with the genotype as the space writes it


def test_compare_subcommand_rejects_unknown_method(capsys):
    from workbench.app.cli import main
    assert main(["compare", "--methods", "darts-v1,gdass", "--space", "toy"]) == 2
    assert "gdas" in capsys.readouterr().err


# DARTS-ADA on a tiny search: sharpness every epoch (ev_freq=1), local averages of one eigenvalue (window=1),
# compared with the previous one (delta=1) from epoch 0 on (es_start_epoch=0); the eigenvalue grows by a ratio
# of about 1.4 from epoch 1 to epoch 2 with seed 0, so the rule (ratio > factor=1.1) fires at epoch 2 every time.
ADA_OPTIONS = ("ev_freq=1", "window=1", "delta=1", "es_start_epoch=0", "factor=1.1")
ADA = ["search", *TINY, "--method", "darts-ada", "--epochs", "3", "--no-report",
       *[a for kv in ADA_OPTIONS for a in ("--method-option", kv)]]


def test_darts_ada_early_stops_and_rolls_back_through_the_cli(tmp_path, capsys):
    """The CLI steps through Searcher.step(): DARTS-ADA's controller really rolls back and raises the weight
    decay (3e-4 -> 3e-3 -> 3e-2 = max_weight_decay, then a third trigger is not acted on), unlike DARTS-V2."""
    from workbench import serialize
    out = tmp_path / "ada"
    assert main([*ADA, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    events = [json.loads(ln) for ln in (out / "events.jsonl").read_text().splitlines()]
    stops = [e["values"] for e in events if e["type"] == "AnalysisResult" and e["kind"] == "early_stop"]
    assert [(v["trigger_epoch"], v["stop_epoch"]) for v in stops] == [(1, 0)] * 3
    assert all(v["ratio"] > 1.1 for v in stops)
    restarts = [e["step"] for e in events if e["type"] == "RunStarted"]
    assert restarts == [0, 5, 5]  # two rollbacks to the end of epoch 1
    assert sum(1 for _ in (out / "steps.jsonl").open()) == 15 + 2 * 5  # epoch 2 was run three times
    summary = json.loads((out / "summary.json").read_text())
    ctrl = summary["controller"]
    assert ctrl["controller"] == "EarlyStopController" and not ctrl["stopped"]
    assert [(t, e) for t, e, _ in ctrl["rollbacks"]] == [(1, 0), (1, 0)]
    assert [wd for *_, wd in ctrl["rollbacks"]] == pytest.approx([3e-3, 3e-2])
    assert ctrl["weight_decay"] == pytest.approx(0.03) and summary["steps_taken"] == 25 and summary["steps"] == 15
    final = serialize.load(list_checkpoints(out)[-1])
    assert final["optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(0.03)  # the search's own wd
    assert "(15 steps + 10 repeated after rollbacks" in captured.out
    assert "early stopping    rolled back 2 times: epoch 2 -> end of epoch 1 (weight decay 0.003)" in captured.out
    assert captured.err.count("early stopping fired at epoch 2") == 3
    assert "darts-ada rolled back to step 5 (end of epoch 1); weight decay now 0.03" in captured.err
    assert "darts-ada went on without a rollback (weight decay 0.03)" in captured.err
    assert main(["runs", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert shown.count("  -- rolled back to the end of epoch 1 (step 5)") == 2 and "early stop   fired 3 times" in shown
    assert "controller   rolled back 2 times" in shown and "status       finished, step 15 of 15" in shown


def test_compare_subcommand_passes_method_options_to_the_controller(tmp_path, capsys):
    opts = [a for kv in ADA_OPTIONS for a in ("--method-option", f"darts-ada:{kv}")]
    assert main(["compare", "--methods", "darts-ada", "--seeds", "0", "--space", "toy", "--epochs", "3", "--C", "4",
                 "--data-limit", "160", "--batch-size", "16", "--no-hessian", "--threads", "1", *opts,
                 "--out", str(tmp_path / "cmp")]) == 0
    err = capsys.readouterr().err
    assert "early stopping: rolled back 2 times: epoch 2 -> end of epoch 1 (weight decay 0.003)" in err
    row = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["rows"][0]
    assert row["controller"]["weight_decay"] == pytest.approx(0.03)
    assert main(["compare", "--methods", "darts-v1", "--method-option", "darts-ada:factor=1.1"]) == 2
    assert "METHOD:KEY=VALUE with METHOD one of --methods (darts-v1)" in capsys.readouterr().err


def test_runs_list_shows_each_run_folder_and_show_names_the_report(tmp_path, capsys):
    assert main(["search", *TINY, "--out", str(tmp_path / "a"), "--quiet", "--threads", "1"]) == 0
    (tmp_path / "not-a-run").mkdir()
    capsys.readouterr()
    assert main(["runs", "list", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("a ") and "finished" in lines[0] and "toy/darts-v1/digits" in lines[0]
    assert "val acc" in lines[0]
    assert main(["runs", "show", str(tmp_path / "a")]) == 0
    assert f"report       {tmp_path / 'a' / 'report.html'}" in capsys.readouterr().out
    assert main(["runs", "list", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err

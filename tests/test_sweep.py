"""Sweeps (workbench.app.sweep): tasks and folder names, serial = engine compare, resume after a kill, the Ray
executor against the serial one, and the ``sweep`` / ``compare --ray`` commands."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_config

from workbench import Searcher
from workbench.app.cli import main
from workbench.app.sweep import (
    RAY_MISSING,
    Finished,
    RayExecutor,
    RayStartError,
    SweepError,
    compare_tasks,
    grid_tasks,
    iter_seeds,
    run_sweep,
    task_name,
)
from workbench.compare import compare
from workbench.runs import RunStore
from workbench.search import SearchConfig

TIMING = ("search_seconds", "ms_per_step", "run_dir")


def _base(**kw) -> SearchConfig:
    return tiny_config(**{"epochs": 1, "batch_size": 32, "data_limit": 200, **kw})


GRID = {"arch_lr": [3e-4, 1e-3]}
SEEDS = [0, 1]


def _rows(result) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in result.rows]


def _steps(run_dir: Path) -> list[dict]:
    """The step log without its wall-clock field: losses, metrics, learning rates and every alpha."""
    return [{k: v for k, v in json.loads(ln).items() if k != "seconds"}
            for ln in (run_dir / "steps.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The 2 x 2 sweep (arch_lr x seeds) run serially once; the reference of the resume and Ray tests."""
    import torch
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("serial")
    seen: list[Finished] = []
    res = run_sweep(grid_tasks(_base(), GRID, SEEDS), out, hessian=False, grid=GRID, on_result=seen.append)
    return out, res, seen


# ------------------------------------------------------------------------------------------------ tasks
def test_grid_tasks_name_label_and_resolve_every_kind_of_key():
    base = _base(method="darts-v2")
    tasks = grid_tasks(base, {"arch_lr": [3e-4, 1e-3], "supernet.C": [4, 6], "r": [0.05]}, [0, 1])
    assert len(tasks) == 2 * 2 * 1 * 2
    first = tasks[0]
    assert first.name == "darts-v2-arch_lr=0.0003-r=0.05-supernet.C=4-s0"  # keys sorted: the same for any order
    assert first.label == "darts-v2 arch_lr=0.0003 supernet.C=4 r=0.05"
    assert first.config.arch_lr == 3e-4 and first.config.supernet.C == 4 and first.config.method_options == {"r": 0.05}
    assert [(t.config.arch_lr, t.config.supernet.C, t.config.seed) for t in tasks[:4]] == [
        (3e-4, 4, 0), (3e-4, 4, 1), (3e-4, 6, 0), (3e-4, 6, 1)]
    assert task_name("darts-v2", {"supernet.C": 4, "r": 0.05, "arch_lr": 3e-4}, 0) == first.name
    assert grid_tasks(base, {"option.r": [0.1]}, [0])[0].config.method_options == {"r": 0.1}
    assert [t.name for t in compare_tasks(base, ["darts-v1", "gdas"], [0, 3])] == [
        "darts-v1-s0", "darts-v1-s3", "gdas-s0", "gdas-s3"]  # compare's folder names, as before


@pytest.mark.parametrize("grid, message", [
    ({"seed": [0, 1]}, "--seeds"), ({"method": ["gdas"]}, "compare"), ({"supernet": [{}]}, "supernet.<name>"),
    ({"arch_lr": []}, "non-empty list"), ({"arch_lr": "3e-4"}, "non-empty list")])
def test_grid_refuses_what_it_cannot_vary(grid, message):
    with pytest.raises(SweepError, match="grid|cannot") as err:
        grid_tasks(_base(), grid, [0])
    assert message in str(err.value)


def test_every_config_is_validated_before_anything_runs():
    from workbench.errors import ConfigError
    with pytest.raises(ConfigError, match="arch_lr"):
        grid_tasks(_base(), {"arch_lr": [1e-3, -1.0]}, [0])
    with pytest.raises(ConfigError, match="no_such_option"):
        grid_tasks(_base(), {"no_such_option": [1]}, [0])
    assert iter_seeds(["0", "1,2"]) == [0, 1, 2]
    with pytest.raises(SweepError, match="twice"):
        iter_seeds(["0", "0"])


# ------------------------------------------------------------------------------------------------ serial
def test_serial_sweep_of_methods_is_the_engines_compare(tmp_path):
    base = _base(data_limit=128)
    ours = run_sweep(compare_tasks(base, ["darts-v1", "gdas"], [0]), tmp_path / "sweep", hessian=False)
    theirs = compare(["darts-v1", "gdas"], [0], "toy", "digits", 1, tmp_path / "engine", base_config=base,
                     hessian=False)
    assert _rows(ours) == _rows(theirs) and ours.curves == theirs.curves and ours.config == theirs.config
    for name in ("darts-v1-s0", "gdas-s0"):
        assert _steps(tmp_path / "sweep" / name) == _steps(tmp_path / "engine" / name)
    assert (tmp_path / "sweep" / "comparison.md").is_file()


def test_the_serial_grid_reports_each_finished_run(serial):
    out, res, seen = serial
    assert [f.done for f in seen] == [1, 2, 3, 4] and not any(f.reused for f in seen)
    assert [r["method"] for r in res.rows] == ["darts-v1 arch_lr=0.0003"] * 2 + ["darts-v1 arch_lr=0.001"] * 2
    assert [s["method"] for s in res.summary()] == ["darts-v1 arch_lr=0.0003", "darts-v1 arch_lr=0.001"]
    assert res.rows[2]["grid"] == {"method": "darts-v1", "arch_lr": 1e-3}
    saved = json.loads((out / "comparison.json").read_text())
    assert saved["config"]["grid"] == {"method": "darts-v1", "arch_lr": [3e-4, 1e-3]}
    # the search really used each arch_lr: the logged alpha learning rate
    assert {json.loads(ln)["arch_lr"] for ln in (out / "darts-v1-arch_lr=0.001-s1" / "steps.jsonl").open()} == {1e-3}


def test_a_killed_sweep_resumes_rerunning_only_unfinished_runs(serial, tmp_path):
    _, reference, _ = serial
    tasks = grid_tasks(_base(), GRID, SEEDS)
    out = tmp_path / "sweep"

    def kill_after_first(f: Finished) -> None:
        if f.done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(tasks, out, hessian=False, on_result=kill_after_first)
    first = out / tasks[0].name
    stamp = (first / "summary.json").stat().st_mtime_ns
    # the second run was killed before its first checkpoint (config.json only): it is searched again
    store = RunStore(out / tasks[1].name, Searcher(tasks[1].config))
    store.close()
    seen: list[Finished] = []
    again = run_sweep(tasks, out, hessian=False, grid=GRID, on_result=seen.append)
    assert [(f.task.name, f.reused) for f in seen] == [(tasks[0].name, True)] + [(t.name, False) for t in tasks[1:]]
    assert (first / "summary.json").stat().st_mtime_ns == stamp  # not searched again
    assert _rows(again) == _rows(reference) and again.curves == reference.curves


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    base = _base(epochs=2, data_limit=160)
    (task,) = compare_tasks(base, ["darts-v1"], [0])
    whole = run_sweep([task], tmp_path / "whole", hessian=False)
    searcher = Searcher(task.config)  # the same search killed after its first epoch's checkpoint
    store = RunStore(tmp_path / "cut" / task.name, searcher)
    for _ in range(searcher.steps_per_epoch):
        searcher.step()
    store.close()
    seen: list[Finished] = []
    resumed = run_sweep([task], tmp_path / "cut", hessian=False, on_result=seen.append)
    assert not seen[0].reused and _rows(resumed) == _rows(whole)
    assert _steps(tmp_path / "cut" / task.name) == _steps(tmp_path / "whole" / task.name)


def test_a_folder_of_another_configuration_is_refused(serial, tmp_path):
    out, _, _ = serial
    shutil.copytree(out, tmp_path / "copy")
    tasks = grid_tasks(_base(epochs=2), GRID, SEEDS)
    with pytest.raises(SweepError, match=r"another configuration \(epochs: 1 there, 2 now\)"):
        run_sweep(tasks, tmp_path / "copy", hessian=False)


# ------------------------------------------------------------------------------------------------ Ray
@pytest.mark.slow  # a local Ray runtime takes 10-45 s to start on a 2-core machine
def test_ray_runs_the_sweep_as_the_serial_executor_does(serial, tmp_path):
    """2 x 2 sweep on a local Ray runtime (2 CPUs, one torch thread per task): the same rows, curves, table and
    run folders as the serial run (timings aside)."""
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'dnas-workbench[ray]')")
    import ray

    ref_out, reference, _ = serial
    assert not ray.is_initialized()
    seen: list[Finished] = []
    t0 = time.perf_counter()
    executor = RayExecutor("local", threads=1, num_cpus=2, start_attempts=1)
    try:
        with executor:
            assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2
            res = run_sweep(grid_tasks(_base(), GRID, SEEDS), tmp_path, executor=executor, hessian=False, grid=GRID,
                            on_result=seen.append)
    except RayStartError as exc:  # not our code: a raylet that timed out on an overloaded machine
        pytest.skip(f"Ray could not start a local runtime here ({exc})")
    assert not ray.is_initialized()  # the runtime it started is shut down
    assert sorted(f.done for f in seen) == [1, 2, 3, 4]
    assert _rows(res) == _rows(reference) and res.curves == reference.curves
    strip = {"search_seconds", "ms_per_step", "run_dir"}
    assert [{k: v for k, v in r.items() if k not in strip} for r in json.loads(res.to_json())["rows"]] == \
           [{k: v for k, v in r.items() if k not in strip} for r in json.loads(reference.to_json())["rows"]]
    for task in grid_tasks(_base(), GRID, SEEDS):
        assert _steps(tmp_path / task.name) == _steps(ref_out / task.name)
    print(f"ray sweep: {time.perf_counter() - t0:.1f} s including the runtime's start", file=sys.stderr)


def test_without_ray_the_flag_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(SweepError, match="pip install"):
        RayExecutor()
    assert main(["compare", "--methods", "darts-v1", "--space", "toy", "--seeds", "0", "--ray"]) == 2
    err = capsys.readouterr().err
    assert RAY_MISSING in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------------ the commands
def _main(*argv: str) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(list(argv))
    return code, so.getvalue(), se.getvalue()


TINY = ["--space", "toy", "--epochs", "1", "--C", "4", "--batch-size", "32", "--data-limit", "200", "--threads", "1",
        "--no-hessian"]


def test_sweep_command_reuses_the_serial_runs(serial, tmp_path):
    """The CLI's sweep writes the same folders (names and results) as run_sweep: run on a copy of the serial
    folder it finds every run finished and prints the same table."""
    out, reference, _ = serial
    shutil.copytree(out, tmp_path / "copy")
    code, stdout, stderr = _main("sweep", "--method", "darts-v1", "--grid", "arch_lr=3e-4,1e-3", "--seeds", "0", "1",
                                 *TINY, "--out", str(tmp_path / "copy"))
    assert code == 0, stderr
    assert stderr.count("  reused darts-v1 arch_lr=") == 4 and "4/4" in stderr
    assert "darts-v1 arch_lr=0.0003  2 " in stdout and "darts-v1 arch_lr=0.001   2 " in stdout


@pytest.mark.parametrize("argv, message", [
    (["--grid", "arch_lr"], "KEY=V1,V2"), (["--grid", "seed=0,1"], "--seeds"), ([], "at least one --grid"),
    (["--grid", "arch_lr=1e-3", "--grid", "arch_lr=3e-4"], "given twice"),
    (["--grid", "arch_lr=[1e-3"], "not a JSON list"), (["--grid", "arch_lr=-1,1"], "arch_lr")])
def test_sweep_command_refuses_bad_grids(argv, message, tmp_path):
    code, _, err = _main("sweep", *argv, "--space", "toy", "--out", str(tmp_path / "x"))
    assert code == 2 and message in err and not (tmp_path / "x").exists()

"""CLI parity: every SearchConfig field has a flag in search, compare and sweep (and they build the same
config), every option has help with its default, a CIFAR-10 comparison runs from the CLI, and ``project``
runs DARTS-PT on a finished run folder."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.app.cli import build_parser, main
from workbench.app.cli.common import CONFIG_FLAGS
from workbench.search import SearchConfig

ROOT = Path(__file__).resolve().parents[1]


def _main(*argv: str) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(list(argv))
    return code, so.getvalue(), se.getvalue()


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


#: how compare and sweep spell the fields they set per task
OWN_FORM = {"compare": {"method": "--methods", "seed": "--seeds"}, "sweep": {"seed": "--seeds"}}


@pytest.mark.parametrize("command", ["search", "compare", "sweep"])
def test_every_search_config_field_has_a_flag(command):
    fields = [f.name for f in dataclasses.fields(SearchConfig)]
    assert sorted(CONFIG_FLAGS) == sorted(fields)
    options = {o for a in _commands()[command]._actions for o in a.option_strings}
    missing = [f for f in fields if OWN_FORM.get(command, {}).get(f, CONFIG_FLAGS[f]) not in options]
    assert not missing, f"{command} has no flag for {missing}"
    assert {"--config", "--print-config"} <= options


@pytest.mark.parametrize("command", ["search", "compare", "sweep", "project"])
def test_every_option_has_help_and_its_default(command):
    for action in _commands()[command]._actions:
        if not action.option_strings or action.dest in ("help", "print_config"):
            continue
        assert action.help and len(action.help) > 10, (command, action.option_strings)
        takes_value = action.nargs != 0
        if takes_value or action.dest in ("cuda_graphs", "deterministic", "eval_each_epoch"):
            assert "default" in action.help, (command, action.option_strings, action.help)


def test_search_compare_and_sweep_build_the_same_config(tmp_path):
    """The same settings through the three commands: the same SearchConfig, and every field off its default."""
    common = ["--space", "toy", "--dataset", "synthetic:blobs", "--data-root", str(tmp_path), "--data-limit", "100",
              "--objective", "cross_entropy", "--remove-op", "avg_pool_3x3", "--supernet", "C=4", "--layers", "2",
              "--epochs", "2", "--batch-size", "16", "--lr", "0.05", "--lr-min", "0.002", "--momentum", "0.8",
              "--weight-decay", "1e-4", "--grad-clip", "3", "--arch-lr", "1e-3", "--arch-betas", "0.4", "0.9",
              "--arch-weight-decay", "1e-4", "--train-portion", "0.6", "--no-cuda-graphs", "--deterministic",
              "--no-eval-each-epoch", "--print-config"]
    runs = {"search": ["--method", "darts-v2", "--method-option", "r=0.02", "--seed", "5"],
            "compare": ["--methods", "darts-v2", "--method-option", "darts-v2:r=0.02", "--seeds", "5"],
            "sweep": ["--method", "darts-v2", "--method-option", "r=0.02", "--grid", "hypergradient=exact",
                      "--seeds", "5"]}
    printed = {}
    for command, own in runs.items():
        code, out, err = _main(command, *own, *common)
        assert code == 0, err
        printed[command] = json.loads(out)
    search = printed["search"]
    compare = {**printed["compare"], "method": "darts-v2", "method_options": {"r": 0.02}, "seed": 5}
    sweep = {**printed["sweep"], "seed": 5}
    for d in (compare, sweep):
        for key in ("methods", "seeds", "grid"):
            d.pop(key, None)
    assert search == compare == sweep
    assert printed["compare"]["methods"] == ["darts-v2"] and printed["sweep"]["grid"] == {"hypergradient": ["exact"]}
    default = SearchConfig().to_dict()
    same = [k for k, v in search.items() if v == default[k] and k != "device"]  # cpu is the only device here
    assert not same, f"flags that did not reach their field: {same}"


def test_a_cifar10_comparison_runs_from_the_cli(tmp_path):
    from test_data import _write_fake_cifar  # CIFAR-10's own pickled batches, 20 random images each

    _write_fake_cifar(tmp_path / "data" / "cifar-10-batches-py")
    out = tmp_path / "cmp"
    code, stdout, err = _main("compare", "--methods", "darts-v1", "--seeds", "0", "--space", "toy", "--dataset",
                              "cifar10", "--data-root", str(tmp_path / "data"), "--epochs", "1", "--C", "4",
                              "--batch-size", "25", "--lr", "0.05", "--no-hessian", "--threads", "1", "--quiet",
                              "--out", str(out))
    assert code == 0, err
    assert "Space toy, dataset cifar10, 1 epoch" in stdout
    config = json.loads((out / "darts-v1-s0" / "config.json").read_text())["config"]
    assert config["dataset"] == "cifar10" and config["data_root"] == str(tmp_path / "data") and config["lr"] == 0.05
    assert config["arch_lr"] == 1e-2  # compare's own default, as before


# ------------------------------------------------------------------------------------------------ project
@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pt") / "run"
    code, _, err = _main("search", "--space", "nb201", "--epochs", "1", "--C", "4", "--data-limit", "200",
                         "--batch-size", "32", "--seed", "0", "--threads", "1", "--out", str(out), "--no-report",
                         "--quiet")
    assert code == 0, err
    return out


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_project_runs_darts_pt_on_a_finished_run(nb201_run):
    from workbench.analysis.projection import Projection, ProjectionConfig
    from workbench.app.cli.project import PROJECTION_FILE, load_searcher

    before = _files(nb201_run)
    code, out, err = _main("project", str(nb201_run), "--proj-intv", "1", "--tune-steps", "1", "--proj-batches", "1",
                           "--quiet", "--threads", "1")
    assert code == 0, err
    record = json.loads((nb201_run / PROJECTION_FILE).read_text())
    after = _files(nb201_run)
    assert after.pop(PROJECTION_FILE) and after == before  # the run folder itself is not changed
    # the oracle: the engine's Projection on the run's own supernet, with the same settings
    searcher = load_searcher(nb201_run)
    projected = Projection(searcher, ProjectionConfig(proj_intv=1, tune_steps=1, proj_batches=1)).run()
    assert record["genotype"] == projected.to_dict() and record["label"] == searcher.space.label(projected)
    assert f"projected (PT)    {record['label']}" in out and f"genotype (NB201)  {projected.to_nb201_str()}" in out
    phases = [a["phase"] for a in record["actions"]]
    assert phases.count("op") == 6 and phases.count("tune") == 6  # NB201: one op projection per edge
    assert record["config"]["proj_intv"] == 1 and record["arch_update"] == "darts"


def test_project_refuses_what_it_cannot_project(nb201_run, tmp_path):
    from workbench import Searcher
    from workbench.runs import RunStore, load_run

    code, _, err = _main("project", str(tmp_path))
    assert code == 2 and "config.json" in err
    searcher = Searcher(load_run(nb201_run).config)  # a run stopped before its end
    RunStore(tmp_path / "open", searcher).close()
    code, _, err = _main("project", str(tmp_path / "open"))
    assert code == 2 and "not a finished run" in err and "resume" in err
    code, _, err = _main("project", str(nb201_run), "--crit", "best")
    assert code == 2 and "invalid choice" in err


def test_new_commands_start_without_torch_or_ray():
    code = ("import runpy, sys\n"
            "for cmd in (['sweep', '--help'], ['project', '--help'], ['compare', '--help']):\n"
            "    sys.argv = ['workbench', *cmd]\n"
            "    try:\n        runpy.run_module('workbench', run_name='__main__')\n"
            "    except SystemExit as exc:\n        assert exc.code in (0, None), exc.code\n"
            "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_every_option_of_every_command_has_help_and_names_its_default():
    import argparse

    from workbench.app.cli import build_parser
    missing = []

    def walk(parser, path):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, [*path, name])
            elif a.dest == "help":
                continue
            elif not a.help:
                missing.append((" ".join(path), a.option_strings or a.dest, "no help"))
            elif (a.option_strings and a.nargs != 0 and not isinstance(a, argparse._StoreTrueAction)
                  and a.default not in (None, False, argparse.SUPPRESS) and "default" not in a.help):
                missing.append((" ".join(path), a.option_strings, f"default {a.default!r} not named"))

    walk(build_parser(), ["workbench"])
    assert not missing, missing

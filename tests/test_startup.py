"""Start-up: the CLI's help and the package import never import torch; the digits load without scikit-learn;
``--eval-every`` thins the per-epoch evaluation (issue 17, item 3)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI in this interpreter as `python -m workbench ARGS` would, then reports which heavy modules it
# imported (on stderr's last line, as JSON).
PROBE = """
import json, runpy, sys
sys.argv = ["workbench", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module("workbench", run_name="__main__")
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "sklearn", "numpy", "scipy", "plotly") if m in sys.modules)
sys.stderr.write("\\n" + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def run_cli(*args: str) -> tuple[dict, str]:
    report, out, _ = run_cli_err(*args)
    return report, out


def run_cli_err(*args: str) -> tuple[dict, str, str]:
    """(the report, stdout, stderr without the report)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    *err, last = proc.stderr.strip().splitlines()
    return json.loads(last), proc.stdout, "\n".join(err).strip()


HELP = [[], ["--help"], ["search", "--help"], ["resume", "--help"], ["genotype", "--help"], ["nb201", "--help"],
        ["evaluate", "--help"], ["compare", "--help"], ["runs", "--help"], ["runs", "show", "--help"],
        ["latency", "--help"], ["latency", "show", "--help"], ["latency", "measure", "--help"],
        ["latency", "fit-nb201", "--help"], ["export", "--help"], ["nb201-convert", "--help"],
        ["lessons", "--help"]]


@pytest.mark.parametrize("args", HELP, ids=lambda a: " ".join(a) or "(no command)")
def test_help_never_imports_torch(args):
    report, out = run_cli(*args)
    assert report["code"] in (0, None)
    assert "usage:" in out
    assert "torch" not in report["heavy"] and "sklearn" not in report["heavy"], report


# ------------------------------------------------------------------------------------------------ commands that only read
NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _torch_free(*args: str) -> str:
    report, out = run_cli(*args)
    assert report["code"] in (0, None), (args, report)
    assert "torch" not in report["heavy"], (args, report)
    return out


def test_genotype_commands_never_import_torch(tmp_path):
    from workbench.spaces.cell import zoo
    from workbench.spaces.cell.draw import genotype_dot

    g = zoo.published("DARTS_V2")
    assert _torch_free("genotype", "DARTS_V2").splitlines() == [f"darts  {g.to_darts_str()}", f"json   {g.to_json()}"]
    assert _torch_free("genotype", "DARTS_V2", "--to", "json").strip() == g.to_json()
    assert _torch_free("genotype", NB201_BEST, "--to", "nb201").strip() == NB201_BEST
    listed = _torch_free("genotype", "--list").splitlines()
    assert [ln.split()[0] for ln in listed] == zoo.published_names()
    dot = tmp_path / "cell.dot"
    _torch_free("genotype", "DARTS_V2", "--draw", str(dot))
    assert dot.read_text(encoding="utf-8") == genotype_dot(g)


def test_genotype_svg_drawing_never_imports_torch(tmp_path):
    """SVG is rendered without importing widgets (its dashboards import torch), the same SVG widgets.graph makes."""
    if shutil.which("dot") is None:
        pytest.skip("needs the Graphviz dot program")
    pytest.importorskip("graphviz")
    from widgets.graph import render_svg
    from workbench.spaces.cell import zoo
    from workbench.spaces.cell.draw import genotype_dot

    svg = tmp_path / "cell.svg"
    report, _ = run_cli("genotype", "DARTS_V2", "--draw", str(svg))
    assert report["code"] in (0, None) and "torch" not in report["heavy"] and "plotly" not in report["heavy"], report
    assert svg.read_text(encoding="utf-8") == render_svg(genotype_dot(zoo.published("DARTS_V2")))


def test_latency_fit_nb201_never_imports_torch():
    """The fit's report without the nb201 space's cost model: the fastest cell's predicted latency is the cost
    model's minimum (plus the offset left out of it), to the bit, for a fit with a negative intercept and one
    per edge."""
    from workbench.data import load_nb201_table
    from workbench.spaces.cell.latency import fit_nb201_latency

    table = load_nb201_table(None)
    for device, per_edge in (("pixel3", False), ("eyeriss", True)):
        fit = fit_nb201_latency(table, device, per_edge=per_edge)
        assert fit.fastest_ms == fit.cost_model().minimum() + fit.offset_ms, device
    fit = fit_nb201_latency(table, "pixel3")
    out = _torch_free("latency", "fit-nb201", "--device", "pixel3").splitlines()
    assert fit.offset_ms < 0 and out[-1] == (f"fastest      predicted {fit.cost_model().minimum() + fit.offset_ms:.4g} "
                                             "ms (the smallest budget fit.cost_term(weight, budget_ms) accepts)")
    assert out[-3] == f"measured     mean {fit.report.mean_latency_ms:.4g} ms over the table"
    costs = {ln.split()[0]: float(ln.split()[1]) for ln in out[2:7]}
    assert costs == pytest.approx(fit.op_costs(), abs=5e-5)


def test_nb201_lookup_never_imports_torch():
    from workbench.data import load_nb201_table

    out = _torch_free("nb201", NB201_BEST)
    table = load_nb201_table(None)
    rec = table.lookup(NB201_BEST)
    lines = dict(ln.split(None, 1) for ln in out.splitlines())
    assert lines["arch"] == NB201_BEST and int(lines["index"]) == rec.index
    acc, _, rank, _, n = lines["CIFAR-10"].split()  # "94.36%   rank     3 of 15625"
    assert float(acc.rstrip("%")) == round(rec.metrics["c10_test_200ep"], 2)
    assert int(rank) == table.rank(NB201_BEST, "c10_test_200ep") and int(n) == len(table)


def test_nb201_convert_of_an_api_export_never_imports_torch(tmp_path):
    from workbench.spaces.cell.nb201 import NB201Table

    src = tmp_path / "nats.csv"
    src.write_text("ArchitectureString,CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,"
                   f"ImageNetTestAccuracy200Epochs\n{NB201_BEST},94.37,73.51,41.44\n", encoding="utf-8")
    out = _torch_free("nb201-convert", "--nats-csv", str(src), "--out", str(tmp_path / "t.csv"), "--partial",
                      "--quiet")
    table = NB201Table.load(tmp_path / "t.csv")
    assert out.splitlines()[0] == (f"wrote {tmp_path / 't.csv'}: 1 cells, columns c10_test_200ep, c100_test_200ep, "
                                   "in16_test_200ep")
    assert table.lookup(NB201_BEST).metrics["c10_test_200ep"] == pytest.approx(94.37)


def test_latency_show_of_a_table_never_imports_torch():
    from workbench.spaces.chain import lut

    out = _torch_free("latency", "show", "proxylessnas_pixel1").splitlines()
    table = lut.load_table("proxylessnas_pixel1")
    assert out[0] == (f"table        proxylessnas_pixel1 (ProxylessNAS lookup table, Google Pixel 1, {len(table)} entries, "
                      "mean latency in ms)")
    means = [float(ln.split()[-1]) for ln in out[3:] if ln.startswith("  ")]
    assert sorted(means) == pytest.approx(sorted(mean for _, _, mean in table.layers()), abs=5e-5)  # 4 decimals


def test_lessons_copy_never_imports_torch(tmp_path):
    from workbench.lessons import lesson_files

    _torch_free("lessons", str(tmp_path / "course"))
    assert sorted(p.name for p in (tmp_path / "course").glob("*.ipynb")) == sorted(
        p.name for p in lesson_files() if p.suffix == ".ipynb")


# ------------------------------------------------------------------------------------------------ --print-config
PRINT_CONFIG = [
    ["search"], ["search", "--space", "chain", "--method", "fbnet"],
    ["search", "--space", "darts", "--supernet", "affine=true", "--C", "4", "--seed", "3", "--dataset", "fashion-mnist",
     "--eval-every", "2", "--arch-betas", "0.9", "0.99", "--threads", "1"],
    ["compare", "--methods", "darts-v1,gdas,proxylessnas", "--space", "chain"],
    ["sweep", "--method", "pc-darts", "--grid", "lr=0.1,0.2", "--seeds", "0", "1", "--space", "toy"],
    ["search", "--space", "graph_transformer", "--method", "darts-gt", "--supernet", "d=16", "--supernet", "heads=2"],
    ["search", "--space", "norm_placement_stem", "--method", "osnet-ain", "--supernet", "affine=true"]]
BAD_CONFIG = [["search", "--supernet", "C=0"], ["search", "--space", "s3", "--supernet", "width=4"],
              ["search", "--space", "chain", "--supernet", "superkernel=3"],
              ["search", "--space", "norm_placement_stem", "--supernet", "stem_in=true"],
              ["search", "--space", "guidance", "--C", "4"], ["search", "--space", "nb201-sparse", "--supernet",
                                                                "mask_grad=\"sign\""]]


def _engine_print_config(monkeypatch, capsys, args: list[str], fresh: bool = True) -> tuple[int, str, str]:
    """What the CLI prints when the registries and presets check every name and setting (no built-in shortcut);
    ``fresh``: with the registries a fresh process has (the built-ins), not what earlier tests here registered."""
    import workbench.app.cli.help_names as names
    import workbench.config as config
    import workbench.methods.preset_options as preset_options
    import workbench.spaces.builtin_settings as builtin
    from workbench.app.cli import main
    from workbench.methods import method_names
    from workbench.spaces import space_names
    from workbench.tasks.data import dataset_names

    method_names(), space_names(), dataset_names()  # the registries loaded: error messages list them
    capsys.readouterr()
    from workbench.methods.presets import METHODS
    from workbench.spaces.protocol import SPACES
    from workbench.tasks.data.datasets import _LOADERS
    with monkeypatch.context() as m:
        # what a fresh process's registries hold: the built-ins (other tests in this process may have added more)
        for registry, builtin_names in ((METHODS, names.METHODS), (SPACES, names.SPACES), (_LOADERS, names.DATASETS)):
            if fresh:
                m.setattr(registry, "_items", {k: v for k, v in registry._items.items() if k in builtin_names})
        for module, attr, empty in ((names, "SPACES", ()), (names, "METHODS", ()), (names, "DATASETS", ()),
                                    (builtin, "SETTINGS", {}), (config, "BUILTIN_METHODS", frozenset()),
                                    (preset_options, "PRESETS", {})):
            m.setattr(module, attr, empty)
        code = main([*args, "--print-config"])
    out, err = capsys.readouterr()
    return code, out, err.strip()


@pytest.mark.parametrize("args", PRINT_CONFIG, ids=lambda a: " ".join(a[:5]))
def test_print_config_never_imports_torch(args, monkeypatch, capsys):
    report, out, _ = run_cli_err(*args, "--print-config")
    assert report["code"] in (0, None) and "torch" not in report["heavy"], report
    assert out == _engine_print_config(monkeypatch, capsys, args)[1] and json.loads(out)


def test_print_config_rejects_what_the_engine_rejects_without_torch(monkeypatch, capsys):
    for args in BAD_CONFIG:
        report, out, err = run_cli_err(*args, "--print-config")
        assert "torch" not in report["heavy"], (args, report)
        assert (report["code"], out, err) == _engine_print_config(monkeypatch, capsys, args), args
        assert report["code"] == 2 and err.startswith("workbench: error:"), (args, err)


def test_print_config_rejects_unknown_names_as_the_engine_does(monkeypatch, capsys):
    """An unknown name is reported with the registry's list of the valid ones (importing the families: torch;
    in this process, which has imported them)."""
    from workbench.app.cli import main
    from workbench.methods import method_names
    from workbench.spaces import space_names

    for args, hint, listed in ((["compare", "--methods", "darts-v1,gdaz"], "gdas", method_names()),
                               (["search", "--space", "dart"], "darts", space_names())):
        capsys.readouterr()
        code = main([*args, "--print-config"])
        out, err = capsys.readouterr()
        assert (code, out, err.strip()) == _engine_print_config(monkeypatch, capsys, args, fresh=False), args
        assert f"(did you mean {hint!r}?); valid: {', '.join(listed)}" in err, err


# issue 17 item 3: options of a DARTS-family preset, the papers' settings, unknown names, a removed op of a cell
# or chain space and a chain space's latency costs need no torch (the cell and chain spaces are defined without
# it: workbench/spaces/cell/space.py, chain/space.py; get_space imports their family alone)
TORCH_FREE = [["search", "--method", "darts-v2", "--method-option", "r=0.02", "--print-config"],
              ["search", "--method", "darts-v2", "--method-option", "r=-1", "--print-config"],
              ["search", "--method", "sdarts-adv", "--method-option", "q=1", "--print-config"],
              ["compare", "--methods", "darts-v1,gdas", "--method-option", "gdas:tau_min=0.5", "--print-config"],
              ["search", "--paper-defaults", "--print-config"],
              ["sweep", "--method", "snas", "--paper-defaults", "--grid", "lr=0.1,0.2", "--print-config"],
              ["search", "--method", "nosuch", "--print-config"], ["search", "--space", "nosuch", "--print-config"],
              ["search", "--dataset", "nosuch", "--print-config"],
              # the other families' specs (methods/hardware_options.py, family_options.py)
              ["search", "--space", "chain", "--method", "fbnet", "--method-option", "tau0=4", "--print-config"],
              ["search", "--method", "proxylessnas", "--method-option", "mode=x", "--print-config"],
              ["search", "--method", "dnis", "--method-option", "warm_start_epochs=3", "--paper-defaults",
               "--print-config"],
              ["compare", "--methods", "rarts,sd-darts", "--method-option", "sd-darts:distill_in=arch",
               "--print-config"],
              ["search", "--remove-op", "max_pool_3x3", "--print-config"],
              ["search", "--remove-op", "avg_pool_3x3", "--print-config"],
              ["search", "--space", "s1", "--remove-op", "noise", "--remove-op", "max_pool_3x3", "--print-config"],
              ["search", "--space", "chain", "--method", "fbnet", "--remove-op", "k3_e1", "--print-config"],
              ["latency", "show", "proxylessnas_pixel1", "--space", "chain", "--remove-op", "k3_e1",
               "--remove-op", "k5_e1"]]


@pytest.mark.parametrize("args", TORCH_FREE, ids=lambda a: " ".join(a[:5]))
def test_settings_paths_never_import_torch(args, monkeypatch, capsys):
    """Each prints (or fails with) what the registries and presets print, byte for byte, without torch."""
    report, out, err = run_cli_err(*args)
    if args[-1] == "--print-config":
        engine = _engine_print_config(monkeypatch, capsys, args[:-1])
    else:
        from workbench.app.cli import main

        capsys.readouterr()
        engine = (main(args), *(t.strip() if i else t for i, t in enumerate(capsys.readouterr())))
    assert (report["code"] or 0, out, err) == engine, args
    assert "torch" not in report["heavy"], (args, report)


def test_torch_free_families_and_op_names_are_the_registered_ones():
    """get_space's families imported alone (builtin_settings.TORCH_FREE_FAMILIES) register those spaces; the op
    names a cell space checks without the ops (op_names.BUILTIN_OPS) are the ones cell/ops.py registers, in order."""
    from workbench.spaces import get_space
    from workbench.spaces.builtin_settings import TORCH_FREE_FAMILIES
    from workbench.spaces.cell.op_names import BUILTIN_OPS
    from workbench.spaces.cell.ops import OPS

    for name, family in TORCH_FREE_FAMILIES.items():
        assert type(get_space(name)).__module__ == family, name
    assert tuple(n for n in OPS.names() if OPS.get(n).__module__ == "workbench.spaces.cell.ops") == BUILTIN_OPS


def test_preset_specs_are_the_registered_presets():
    """Each built-in preset is built from its torch-free spec: the same options (names, defaults, checked values),
    the same errors and the same paper settings (and CPU-scale size) as the registered preset."""
    from workbench.app.cli.help_names import METHODS as BUILTIN
    from workbench.errors import ConfigError
    from workbench.methods import METHODS, get_method, method_options
    from workbench.methods.preset_options import PRESETS, check_preset_options, option_defaults

    assert list(PRESETS)[:11] == method_names_from("workbench.methods.presets") and set(PRESETS) == set(BUILTIN)
    for name, spec in PRESETS.items():
        assert METHODS.get(name).spec is spec and method_options(name) == option_defaults(spec.check), name
        preset = get_method(name)
        assert preset.paper_defaults == spec.paper(check_preset_options(name)), name
        assert preset.search_defaults == spec.search_defaults, name
    for name, options in (("darts-v2", {"r": 2}), ("gdas", {"tau_max": 3, "tau_min": 0.5}), ("snas", {})):
        assert check_preset_options(name, options) == get_method(name, options).options, name
    for name, options in (("darts-v2", {"r": 0}), ("sharpdarts", {"weighting": "x"}), ("blank", {"x": 1}),
                          ("gdas", {"tau_max": 1, "tau_min": 2}), ("darts-ada", {"ev_freq": 1.5}), ("snas", [])):
        with pytest.raises((ConfigError, TypeError)) as mine:
            check_preset_options(name, options)
        with pytest.raises((ConfigError, TypeError)) as theirs:
            get_method(name, options)
        assert (type(mine.value), str(mine.value)) == (type(theirs.value), str(theirs.value)), name


# the other families' presets: options accepted (and recorded as the preset records them), options refused (each
# by the check the preset makes first), paper settings depending on an option (DNIS)
OTHER_PRESETS_ACCEPT = [
    ("fbnet", {"tau0": 4, "budget": 5}), ("fbnet", {"cost": "flops", "form": "log_power", "reference": 2}),
    ("proxylessnas", {"mode": "two", "loss": "mul#log", "reference": 3}), ("single-path", {"threshold_lr": None}),
    ("rarts", {"coupling": float("inf"), "train_weight": 2}), ("dnis", {"warm_start_epochs": 3}),
    ("dass", {"granularity": "layer", "cost_weight": 0}),
    ("sd-darts", {"distill_in": "arch", "teacher_source": "snapshots"}), ("gtn", {"widths": [4, 8]}),
    ("guidance", {"lr": None, "relaxation": "concrete"}), ("osnet-ain", {"lambda_step": -1}),
    ("covidnet3d", {"gradient": "released", "tau_min": 0.5}), ("darts-gt", {})]
OTHER_PRESETS_REFUSE = [
    ("fbnet", {"tau0": -1}), ("fbnet", {"form": "x", "alpha": 0}), ("fbnet", {"derive": "budget"}),
    ("fbnet", {"cost": 5}), ("fbnet", {"budget_tol": 1}), ("proxylessnas", {"mode": "x"}),
    ("proxylessnas", {"reference": 1}), ("single-path", {"warmup_epochs": 1.5}), ("rarts", {"coupling": -1}),
    ("dnis", {"weight_optimizer": "x"}), ("dass", {"sparsity": 1}), ("sd-darts", {"distill_in": "arch"}),
    ("gtn", {"widths": "ab"}), ("guidance", {"tau": True}), ("osnet-ain", {"lambda_min": 20}),
    ("covidnet3d", {"tau_min": 2}), ("darts-gt", {"x": 1})]


def test_other_presets_specs_check_as_the_presets_do():
    """The presets of the other families (hardware, rarts, dnis, ...) check their options by their torch-free
    specs as the registered presets check them: the same checked options, errors and paper settings."""
    from workbench.methods import get_method
    from workbench.methods.family_options import INTERACTIONS_TRAIN_PORTION
    from workbench.methods.preset_options import PRESETS, check_preset_options
    from workbench.tasks.data.interactions import TRAIN_PORTION

    assert INTERACTIONS_TRAIN_PORTION == TRAIN_PORTION
    assert {n for n, _ in OTHER_PRESETS_ACCEPT} == {n for n, _ in OTHER_PRESETS_REFUSE} == set(PRESETS) - set(
        method_names_from("workbench.methods.presets"))
    for name, options in OTHER_PRESETS_ACCEPT:
        preset, checked = get_method(name, options), check_preset_options(name, options)
        assert checked == preset.options and PRESETS[name].paper(checked) == preset.paper_defaults, name
    assert PRESETS["dnis"].paper(check_preset_options("dnis", {"warm_start_epochs": 3}))["epochs"] == 43
    for name, options in OTHER_PRESETS_REFUSE:
        with pytest.raises(Exception) as mine:
            check_preset_options(name, options)
        with pytest.raises(Exception) as theirs:
            get_method(name, options)
        assert (type(mine.value), str(mine.value)) == (type(theirs.value), str(theirs.value)), (name, options)


def method_names_from(module: str) -> list[str]:
    from workbench.methods import METHODS

    return [n for n in METHODS.names() if METHODS.get(n).__module__ == module]


def test_method_registry_is_complete_and_ordered_whatever_is_imported_first():
    """The preset options import no torch; a family module imported first (single-path registers from its own
    module, imported by hardware) leaves method_names() in the declared order; the lazy exports work."""
    code = ("import sys, workbench.methods.preset_options\n"
            "assert 'torch' not in sys.modules and 'workbench.methods.presets' not in sys.modules\n"
            "import workbench.methods.single_path, workbench.methods as M\n"
            "from workbench.app.cli.help_names import METHODS, valid_names\n"
            "assert tuple(M.method_names()) == METHODS == tuple(valid_names('method')), M.method_names()\n"
            "assert all(getattr(M, n) is not None for n in M.__all__) and set(M.__all__) <= set(dir(M))\n"
            "M.register_method('mine', M.METHODS.get('darts-v1'))\n"
            "assert valid_names('method') == [*METHODS, 'mine']\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_the_torch_free_halves_import_alone():
    """The protocol of spaces (its registry too) and the cost model import no torch; base and costs re-export
    them; a cost model's numbers need no torch either (its expected cost is evaluated on torch probabilities)."""
    code = ("import sys, numpy as np, workbench.spaces.protocol as P, workbench.methods.cost_model as C\n"
            "assert 'torch' not in sys.modules, 'torch'\n"
            "m = C.CostModel({'layers': np.array([[1.0, 2.0], [3.0, 0.5]])})\n"
            "assert (m.minimum(), m.of({'layers': np.array([1, 0])})) == (1.5, 5.0)\n"
            "assert 'torch' not in sys.modules, 'torch'\n"
            "import torch, workbench.spaces.base as B, workbench.methods.costs as K\n"
            "assert B.SPACES is P.SPACES and B.SearchSpace is P.SearchSpace and K.CostModel is C.CostModel\n"
            "p = torch.tensor([[0.25, 0.75], [1.0, 0.0]], dtype=torch.float64, requires_grad=True)\n"
            "m.expected({'layers': p}).backward()\n"
            "assert p.grad.tolist() == [[1.0, 2.0], [3.0, 0.5]]\n"  # d E / d p = cost
            "assert P.get_space('chain').name == 'chain' and 'chain' in P.space_names()\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_builtin_settings_are_the_registered_spaces():
    """The torch-free table of settings and default datasets is what the registered spaces say (settings, their
    errors), and the built-in method names are the registry's (the presets' search defaults: their specs')."""
    import dataclasses

    from workbench.app.cli.help_names import METHODS, SPACES
    from workbench.config import BUILTIN_METHODS
    from workbench.spaces import get_space
    from workbench.spaces.builtin_settings import (
        DEFAULT_DATASETS,
        SETTINGS,
        builtin_supernet_config,
    )

    assert set(SETTINGS) == set(DEFAULT_DATASETS) == set(SPACES)
    assert DEFAULT_DATASETS == {n: get_space(n).default_dataset for n in SPACES}
    for name in SPACES:
        space = get_space(name)
        default = builtin_supernet_config(name)
        assert default == space.supernet_config(None) and type(default) is type(space.supernet_config(None)), name
        if default is not None:
            fields = dataclasses.asdict(default)
            assert builtin_supernet_config(name, fields) == space.supernet_config(fields) == default, name
        with pytest.raises(ValueError) as mine:
            builtin_supernet_config(name, {"nothing": 1})
        with pytest.raises(ValueError) as theirs:
            space.supernet_config({"nothing": 1})
        assert str(mine.value) == str(theirs.value) and repr(name) in str(mine.value), name
    with pytest.raises(ValueError, match="stem_in=True"):
        builtin_supernet_config("norm_placement_stem", {"stem_in": True})
    assert builtin_supernet_config("norm_placement", {"stem_in": True}).stem_in is True
    assert BUILTIN_METHODS == set(METHODS)


# ------------------------------------------------------------------------------------------------ runs show / list
@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    """Run folders as the store writes them: a cell space with a removed op, method options and a non-default
    supernet; a graph-transformer space (Choices architectures); copies of the first made incomplete (the finish cut off),
    failed, and rolled back (an epoch re-run: its line again, later)."""
    from workbench.app.cli import main

    root = tmp_path_factory.mktemp("runs")
    common = ["--epochs", "2", "--data-limit", "64", "--batch-size", "16", "--threads", "1", "--no-report", "--quiet"]
    assert main(["search", "--space", "toy", "--C", "4", "--remove-op", "avg_pool_3x3", "--method", "darts-v2",
                 "--method-option", "r=0.02", "--supernet", "affine=true", *common, "--out", str(root / "toy")]) == 0
    assert main(["search", "--space", "graph_transformer", *common, "--epochs", "1", "--out", str(root / "graph")]) == 0
    events = (root / "toy" / "events.jsonl").read_text().splitlines(keepends=True)
    epochs = (root / "toy" / "epochs.jsonl").read_text().splitlines(keepends=True)
    variants = {"incomplete": ([ln for ln in events if '"RunFinished"' not in ln], epochs),
                "failed": ([ln for ln in events if '"RunFinished"' not in ln]
                           + ['{"type":"RunFailed","step":4,"error":"loss is nan","error_type":"FloatingPointError"}\n'],
                           epochs),
                "rolled-back": (events, [*epochs, epochs[0]])}
    for name, (ev, ep) in variants.items():
        shutil.copytree(root / "toy", root / name)
        (root / name / "events.jsonl").write_text("".join(ev))
        (root / name / "epochs.jsonl").write_text("".join(ep))
    return root


def _engine_output(monkeypatch, capsys, *args: str) -> str:
    """What the CLI prints when the engine reads the run folders (load_run), in this process."""
    import workbench.runs.digest as digest
    from workbench.app.cli import main

    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(digest, "digest_run", lambda run_dir: None)
        assert main(list(args)) == 0
    return capsys.readouterr().out


def test_the_digest_of_a_run_folder_is_what_load_run_reads(run_folders):
    from workbench.runs import load_run
    from workbench.runs.digest import RunDigest, digest_run

    statuses = []
    for folder in sorted(run_folders.iterdir()):
        digest = digest_run(folder)
        assert digest == RunDigest.of_run(load_run(folder)), folder.name
        statuses.append((folder.name, digest.status, len(digest.epochs)))
    assert statuses == [("failed", "failed", 2), ("graph", "finished", 1), ("incomplete", "incomplete", 2),
                        ("rolled-back", "finished", 1), ("toy", "finished", 2)]


def test_runs_show_and_list_never_import_torch(run_folders, monkeypatch, capsys):
    for name in ("toy", "graph", "incomplete"):
        shown = _torch_free("runs", "show", str(run_folders / name))
        assert shown == _engine_output(monkeypatch, capsys, "runs", "show", str(run_folders / name)), name
    toy = _torch_free("runs", "show", str(run_folders / "toy")).splitlines()
    assert toy[2] == ("search       toy / darts-v2 / digits, seed 2, 2 epochs, supernet C=4, affine=True, batch 16, removed "
                      "['avg_pool_3x3']") and toy[3] == "options      r=0.02"
    listed = _torch_free("runs", "list", str(run_folders))
    assert listed == _engine_output(monkeypatch, capsys, "runs", "list", str(run_folders))
    assert [ln.split()[:2] for ln in listed.splitlines()] == [
        ["failed", "failed"], ["graph", "finished"], ["incomplete", "incomplete"], ["rolled-back", "finished"],
        ["toy", "finished"]]


def test_runs_show_reads_with_the_engine_what_the_files_alone_do_not_say(run_folders, tmp_path, capsys):
    """A corrupt line, a folder written before the store recorded labels, a space object passed by hand: the
    digest declines and load_run reads the folder (it lists corrupt lines; it checks the space object)."""
    from workbench.app.cli import main
    from workbench.runs.digest import digest_run

    def copy(name: str) -> Path:
        return Path(shutil.copytree(run_folders / "toy", tmp_path / name))

    corrupt = copy("corrupt")
    with open(corrupt / "steps.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 9, "train_loss": oops\n')
    old = copy("old")
    lines = [json.loads(ln) for ln in (old / "epochs.jsonl").read_text().splitlines()]
    (old / "epochs.jsonl").write_text("".join(json.dumps({k: v for k, v in d.items() if k != "label"}) + "\n"
                                              for d in lines))
    passed = copy("passed")
    info = json.loads((passed / "config.json").read_text())
    info["space"]["registered"] = False
    (passed / "config.json").write_text(json.dumps(info))
    assert digest_run(corrupt) is None and digest_run(old) is None and digest_run(passed) is None
    main(["runs", "show", str(corrupt)])
    assert "skipped      1 corrupt log line:\n  steps.jsonl line 5: corrupt line" in capsys.readouterr().out


def test_spaces_package_is_lazy_and_its_exports_still_work():
    """The torch-free modules import no family; the names still work; and graph.space imported first (it reads
    the dataset registry while it is being imported, before it has registered) leaves space_names() and
    dataset_names() in the declared order."""
    code = ("import sys, workbench.spaces as S, workbench.spaces.cell.genotype, workbench.spaces.chain.lut\n"
            "assert 'torch' not in sys.modules and 'workbench.spaces.base' not in sys.modules\n"
            "import workbench.spaces.graph.space\n"
            + ORDER +
            "from workbench.spaces import get_space, ChainSpace, CellSpace\n"
            "assert isinstance(get_space('chain'), ChainSpace) and isinstance(get_space('darts'), CellSpace)\n"
            "assert all(getattr(S, n) is not None for n in S.__all__) and set(S.__all__) <= set(dir(S))\n"
            "import workbench.spaces.chain as C\n"
            "assert C.ChainSpace is ChainSpace and all(getattr(C, n) is not None for n in C.__all__)\n"
            "for m in (S, C):\n"
            "    try:\n        m.nothing_here\n    except AttributeError as e:\n        assert 'nothing_here' in str(e)\n"
            "    else:\n        raise SystemExit('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.parametrize("module", ["genotype_text", "nb201", "draw"])  # (genotype, zoo: the CLI tests)
def test_the_torch_free_cell_modules_import_first_and_alone(module):
    code = (f"import sys, workbench.spaces.cell.{module}\n"
            "from workbench.spaces.cell.genotype import Genotype\n"
            "assert Genotype.parse('DARTS_V2').is_darts()\n"
            "assert 'torch' not in sys.modules and 'workbench.spaces.cell.space' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_registries_complete_when_threads_read_them_first():
    """The supernet (which imports ``from workbench.spaces``; sparse_space imports it) imported first, then threads
    reading both registries at once: every thread sees every built-in, in order (the families load once, under
    the import lock)."""
    code = ("import threading, workbench.spaces.cell.supernet\n"
            "from workbench.spaces import space_names\nfrom workbench.tasks.data import dataset_names\n"
            "from workbench.app.cli.help_names import DATASETS, SPACES\n"
            "out = {}\n"
            "def read(i):\n    out[i] = tuple(space_names() if i % 2 else dataset_names())\n"
            "threads = [threading.Thread(target=read, args=(i,)) for i in range(6)]\n"
            "[t.start() for t in threads]\n[t.join() for t in threads]\n"
            "assert all(out[i] == (SPACES if i % 2 else DATASETS) for i in range(6)), out\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# the registries list the built-ins in the declared order (help_names mirrors it)
ORDER = ("from workbench.spaces import space_names\nfrom workbench.tasks.data import dataset_names\n"
         "from workbench.app.cli.help_names import DATASETS, SPACES\n"
         "assert tuple(space_names()) == SPACES, space_names()\n"
         "assert tuple(dataset_names()) == DATASETS, dataset_names()\n")


def test_bad_flags_fail_without_importing_torch():
    report, _ = run_cli("search", "--epochs", "1.5")
    assert report["code"] == 2 and "torch" not in report["heavy"]


def test_package_import_is_lazy_and_exports_still_work():
    code = ("import sys, workbench\n"
            "assert 'torch' not in sys.modules and 'workbench.search' not in sys.modules\n"
            "from workbench import Searcher, SearchConfig, Genotype, load_dataset\n"
            "import workbench.search as s\n"
            "assert Searcher is s.Searcher and SearchConfig is s.SearchConfig and 'torch' in sys.modules\n"
            "assert sorted(workbench.__all__) == sorted(workbench._EXPORTS)\n"
            "assert all(getattr(workbench, n) is not None for n in workbench.__all__)\n"
            "assert set(workbench.__all__) <= set(dir(workbench))\n"
            "try:\n    workbench.nothing_here\nexcept AttributeError as e:\n    assert 'nothing_here' in str(e)\n"
            "else:\n    raise SystemExit('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_help_names_and_defaults_match_the_engine():
    from workbench.app.cli.help_names import DATASETS, METHODS, SEARCH_DEFAULTS, SPACES
    from workbench.methods import method_names
    from workbench.search import SearchConfig
    from workbench.spaces import space_names
    from workbench.spaces.cell.supernet import SupernetConfig
    from workbench.tasks.data import dataset_names

    assert list(SPACES) == space_names()
    # the package's own presets (other tests may register throwaway methods in this process)
    assert list(METHODS) == [m for m in method_names() if m in METHODS or not _registered_by_a_test(m)]
    assert list(DATASETS) == dataset_names()
    cfg, net = SearchConfig(), SupernetConfig()
    for key, value in SEARCH_DEFAULTS.items():
        assert getattr(net if key in ("C", "layers", "cells_per_stage") else cfg, key) == value, key


# ------------------------------------------------------------------------------------------------ digits
def test_shipped_digits_equal_scikit_learns():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from workbench.tasks.data.datasets import DIGITS_FILE, digits_arrays

    x, y = sklearn_datasets.load_digits(return_X_y=True)
    images, labels = digits_arrays()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert np.array_equal(images.reshape(len(images), -1).astype(np.float64), x)
    assert np.array_equal(labels.astype(np.int64), y)
    assert (DIGITS_FILE.parent / "DIGITS_ATTRIBUTION.txt").is_file()
    with np.load(DIGITS_FILE, allow_pickle=False) as f:  # plain arrays, nothing pickled
        assert sorted(f.files) == ["images", "labels"]


def test_digits_load_without_scikit_learn():
    code = ("import sys\nfrom workbench.tasks.data import load_dataset\n"
            "ds = load_dataset('digits', seed=0)\n"
            "assert ds.n_train + ds.n_test == 1797 and tuple(ds.input_shape) == (1, 8, 8), ds\n"
            "assert 'sklearn' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# ------------------------------------------------------------------------------------------------ --eval-every
def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]


def test_eval_every_thins_the_per_epoch_evaluation(tmp_path):
    from workbench.app.cli import main
    from workbench.app.cli.common import EVALUATION
    from workbench.runs import load_run

    out = tmp_path / "run"
    code = main(["search", "--space", "toy", "--epochs", "5", "--eval-every", "2", "--data-limit", "128",
                 "--batch-size", "32", "--C", "4", "--threads", "1", "--out", str(out), "--no-report", "--quiet"])
    assert code == 0
    run = load_run(out)
    assert run.config.eval_each_epoch is False
    assert [r.val_metrics for r in run.history.epochs] == [None] * 5  # the epochs' own evaluation is skipped
    evals = [a for a in run.history.analysis if a.kind == EVALUATION]
    assert [a.values["epoch"] for a in evals] == [1, 3, 4]  # epochs 2 and 4 (1-based), and the last one
    assert all(0.0 <= a.values["val_metrics"]["accuracy"] <= 1.0 for a in evals)
    spe = run.info["steps_per_epoch"]
    assert [a.step for a in evals] == [2 * spe, 4 * spe, 5 * spe]

    # resuming (with more epochs) keeps the run's own --eval-every
    assert main(["resume", str(out), "--epochs", "6", "--threads", "1", "--no-report", "--quiet"]) == 0
    evals = [a for a in load_run(out).history.analysis if a.kind == EVALUATION]
    assert [a.values["epoch"] for a in evals] == [1, 3, 4, 5]


def test_eval_every_must_be_positive(tmp_path, capsys):
    from workbench.app.cli import main

    assert main(["search", "--space", "toy", "--eval-every", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--eval-every" in capsys.readouterr().err


def _registered_by_a_test(name: str) -> bool:
    from workbench.methods import METHODS as REGISTRY
    return not getattr(REGISTRY.get(name), "__module__", "workbench").startswith("workbench")

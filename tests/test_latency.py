"""Latency you can trust: lookup tables from files, virtual resolution, the NB201 latency fit, the CLI.

Nothing here times live for more than a fraction of a second: the host table is the stored fixture
``tests/fixtures/chain_latency_1x8x8.json``; the CLI's ``measure`` runs one call per block on 4x4 inputs.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from workbench import SearchConfig, Searcher, SupernetConfig, get_method
from workbench.app.cli import main
from workbench.methods.costs import ArchCostTerm
from workbench.methods.hardware import proxylessnas
from workbench.spaces import get_space
from workbench.spaces.cell.genotype import NB201_OPS
from workbench.spaces.cell.latency import fit_nb201_latency, latency_devices, spearman
from workbench.spaces.cell.nb201 import REQUIRED_COLUMNS, NB201Table
from workbench.spaces.chain import lut
from workbench.spaces.chain.costs import (
    LATENCY_FORMAT,
    MaskedCostModel,
    block_cost_model,
    load_latency,
)
from workbench.spaces.chain.space import ChainSpace

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "chain_latency_1x8x8.json"
PROXYLESS_KEY = "expanded_conv-input:{}-output:{}-expand:{}-kernel:{}-stride:{}-idskip:{}"


@pytest.fixture(scope="module")
def chain():
    return get_space("chain")


@pytest.fixture(scope="module")
def pixel1():
    return lut.load_table("proxylessnas_pixel1")


# ------------------------------------------------------------------------------------------- the YAML reader
@pytest.mark.parametrize("name", ["proxylessnas_pixel1", "ofa_note10"])
def test_shipped_tables_load_by_name_and_read_like_pyyaml(name):
    table = lut.load_table(name)
    reference = yaml.safe_load(Path(table.source).read_text())
    assert {k: dict(v) for k, v in table.entries.items()} == reference
    assert len(table) == {"proxylessnas_pixel1": 72, "ofa_note10": 96}[name]
    assert table.kind == {"proxylessnas_pixel1": "proxylessnas", "ofa_note10": "ofa"}[name]
    assert table.mean("Conv-input:224x224x3-output:112x112x32" if name == "proxylessnas_pixel1"
                      else "Conv-input:224x224x3-output:112x112x24") > 0


def test_shipped_tables_are_package_data_with_attribution():
    folder = Path(lut.shipped_path("proxylessnas_pixel1")).parent
    assert folder == ROOT / "workbench" / "data" / "latency"
    attribution = (folder / "ATTRIBUTION.md").read_text()
    for name, shipped in lut.SHIPPED.items():
        assert (folder / shipped.file).is_file() and shipped.file in attribution and name in attribution
    assert "Apache" in (folder / "LICENSE_OFA_Apache-2.0.txt").read_text()[:200]
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["workbench"]
    shipped = {p.relative_to(ROOT / "workbench").as_posix() for p in folder.iterdir()}
    covered = {f for f in shipped if any(Path(f).match(p) for p in patterns)}
    assert covered == shipped, f"not in [tool.setuptools.package-data]: {shipped - covered}"
    with pytest.raises(FileNotFoundError, match="proxylessnas_pixel1, ofa_note10"):
        lut.load_table("pixel9")


@pytest.mark.parametrize("text, message", [
    ("  mean: 1.0\n", r"t\.yaml:1: field 'mean: 1\.0' comes before any table key"),
    ("a:\n  mean: fast\n", r"t\.yaml:2: field 'mean' of 'a' is 'fast', not a number"),
    ("a:\n  mean: 1\nb:\n  mean: 2\na:\n  mean: 3\n", r"t\.yaml:5: key 'a' appears twice \(first on line 1\)"),
    ("a:\n  mean: 1\n  mean: 2\n", r"t\.yaml:3: field 'mean' appears twice under 'a'"),
    ("a: 3\n", r"t\.yaml:1: expected a table key ending in ':'"),
    ("a:\nb:\n  mean: 1\n", r"t\.yaml:1: key 'a' has no fields"),
    ("a:\n\tmean: 1\n", r"t\.yaml:2: indentation uses a tab"),
    ("a:\n  mean:\n", r"t\.yaml:2: expected an indented 'field: number' line"),
    ("a:\n  mean: nan\n", r"t\.yaml:2: .* values must be finite"),
    ("# only a comment\n\n", r"t\.yaml: no table entries"),
])
def test_the_yaml_reader_is_strict_and_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(lut.LatencyTableError, match=message):
        lut.load_table(path)


def test_the_yaml_reader_accepts_comments_blank_lines_and_quoted_keys():
    entries = lut.read_lut_yaml("---\n# comment\n'k-a:1':\n\n  mean: 2.5  \n  count: 3\n", "x")
    assert entries == {"k-a:1": {"mean": 2.5, "count": 3.0}}


# ------------------------------------------------------------------------------------------- virtual resolution
def test_the_virtual_resolution_mapping_of_the_chain(chain):
    """The documented table (module docstring of workbench.spaces.chain.lut), row by row."""
    rows = chain.choice_groups()[0].rows
    mapping = {row: str(layer) for row, layer in zip(rows, lut.virtual_layers(chain), strict=True)}
    assert mapping == {
        "L0 16→16 s1": "56x56x24 → 56x56x24, stride 1, idskip:1",
        "L1 16→16 s1": "56x56x24 → 56x56x24, stride 1, idskip:1",
        "L2 16→24 s2": "56x56x24 → 28x28x40, stride 2, idskip:0",
        "L3 24→24 s1": "28x28x40 → 28x28x40, stride 1, idskip:1",
        "L4 24→32 s2": "28x28x40 → 14x14x80, stride 2, idskip:0",
        "L5 32→32 s1": "14x14x80 → 14x14x80, stride 1, idskip:1",
    }
    doc = lut.__doc__
    for row, target in mapping.items():
        assert row.split()[0] in doc and target.split(",")[0] in doc


@pytest.mark.parametrize("name, ratios", [("proxylessnas_pixel1", (3, 6)), ("ofa_note10", (3, 4, 6))])
def test_every_key_of_the_macro_architectures_is_in_its_table(name, ratios):
    table = lut.load_table(name)
    macro = lut.MACROS[table.kind]
    keys = {layer.key(k, macro.expand_field(e, layer)) for stage in macro.stages for layer in stage if layer
            for k in (3, 5, 7) for e in ratios}
    assert keys <= set(table.keys())
    assert len(keys) == {"proxylessnas_pixel1": 66, "ofa_note10": 90}[name]  # every searchable entry of the table


def test_e1_blocks_are_refused_naming_the_missing_shape_the_table_and_the_supported_space(chain, pixel1):
    with pytest.raises(lut.LatencyTableError) as err:
        lut.virtual_resolution(pixel1, chain)
    msg = str(err.value)
    assert PROXYLESS_KEY.format("56x56x24", "56x56x24", 1, 3, 1, 1) in msg
    assert "'proxylessnas_pixel1'" in msg and "proxylessnas_mobile_trim.yaml" in msg
    assert "12 (layer, block) pair(s)" in msg and "only for its fixed first block" in msg
    assert "space.with_ops(remove=['k3_e1', 'k5_e1'])" in msg
    assert lut.without_e1(chain) == chain.with_ops(remove=["k3_e1", "k5_e1"])


def test_virtual_resolution_reads_the_pixel1_means(chain, pixel1):
    space = lut.without_e1(chain)
    cost = lut.virtual_resolution("proxylessnas_pixel1", space)
    g, = space.choice_groups()
    t = cost.costs["layers"]
    col = g.options.index
    assert t[2, col("k5_e3")] == pixel1.mean(PROXYLESS_KEY.format("56x56x24", "28x28x40", 3, 5, 2, 0))
    assert t[5, col("k3_e6")] == pixel1.mean(PROXYLESS_KEY.format("14x14x80", "14x14x80", 6, 3, 1, 1))
    assert (t[0] == t[1]).all() and (t[:, col("skip")] == 0).all()
    assert cost.unit == "ms" and "proxylessnas_pixel1" in cost.name
    # the cheapest legal architecture: skip where legal, the cheapest block on the two stride-2 layers
    cheapest = t[2, col("k3_e3")] + t[4, col("k3_e3")]
    assert cost.minimum() == pytest.approx(cheapest)
    assert cost.of({"layers": np.array([4, 4, 0, 4, 0, 4])}) == pytest.approx(cheapest)


def test_ofa_keys_use_absolute_expanded_channels_and_the_stage_flags(chain):
    ofa = lut.load_table("ofa_note10")
    t = lut.virtual_resolution(ofa, lut.without_e1(chain)).costs["layers"]
    key = "expanded_conv-input:56x56x32-output:28x28x48-expand:96-kernel:3-stride:2-idskip:0-se:1-hs:0"
    assert t[2, 0] == ofa.mean(key)  # k3_e3 at L2: 3 x 32 input channels


def test_a_budget_below_the_cheapest_architecture_says_so_and_gives_the_minimum(chain):
    cost = lut.virtual_resolution("proxylessnas_pixel1", lut.without_e1(chain))
    lowest = cost.minimum()
    assert lowest == pytest.approx(5.7515, abs=1e-3)  # 3.941 (L2 k3_e3) + 1.810 (L4 k3_e3); skip elsewhere
    with pytest.raises(ValueError, match=rf"budget 5 ms is below the cheapest architecture's .* \({lowest:.4g} ms\); "
                                         "choose a budget >= that"):
        ArchCostTerm(cost, budget=5)
    assert ArchCostTerm(cost, budget=lowest).budget == lowest


def test_a_table_missing_a_layer_shape_names_the_shape_and_the_table(tmp_path, chain, pixel1):
    text = Path(pixel1.source).read_text().splitlines(keepends=True)
    keep, skip = [], False
    for line in text:  # drop every 28x28x40 -> 28x28x40 entry
        if not line.startswith(" "):
            skip = "input:28x28x40-output:28x28x40" in line
        if not skip:
            keep.append(line)
    path = tmp_path / "trimmed.yaml"
    path.write_text("".join(keep))
    with pytest.raises(lut.LatencyTableError) as err:
        lut.cost_model(path, lut.without_e1(chain))
    msg = str(err.value)
    assert "'trimmed.yaml'" in msg and str(path) in msg and "lacks these layer shapes" in msg
    assert "L3 24→24 s1 / k3_e3 -> " + PROXYLESS_KEY.format("28x28x40", "28x28x40", 3, 3, 1, 1) in msg


def test_chains_without_a_counterpart_are_refused_and_an_explicit_mapping_is_accepted(chain, pixel1):
    deep = ChainSpace(name="deep", widths=(16, 24, 32, 48, 64, 96, 128), strides=(1, 2, 2, 1, 2, 1, 1),
                      blocks=("k3_e3", "skip"), layers_per_stage=1)
    with pytest.raises(lut.LatencyTableError, match="stage 6, but the ProxylessNAS mobile macro-architecture has 6"):
        lut.virtual_layers(deep)
    six = dataclasses.replace(deep, widths=deep.widths[:6], strides=deep.strides[:6], layers_per_stage=2, _cache={})
    with pytest.raises(lut.LatencyTableError, match="'L11 96→96 s1' keeps its shape, but stage 5 .* has only its "
                                                    r"first layer \(7x7x192 → 7x7x320"):
        lut.virtual_layers(six)
    narrow = ChainSpace(name="narrow", stem=8, blocks=("k3_e3", "skip"))
    with pytest.raises(lut.LatencyTableError, match="'L0 8→16 s1' changes shape with stride 1, but stage 0 .* "
                                                    "starts with stride 2"):
        lut.virtual_resolution(pixel1, narrow)
    layers = list(lut.virtual_layers(lut.without_e1(chain)))
    layers[0] = lut.PROXYLESS_MACRO.stages[0][0]  # price L0 as the 16 -> 24 transition instead
    cost = lut.virtual_resolution(pixel1, narrow, mapping=layers)
    assert cost.costs["layers"][0, 0] == pixel1.mean(PROXYLESS_KEY.format("112x112x16", "56x56x24", 3, 3, 2, 0))
    with pytest.raises(lut.LatencyTableError, match="the mapping has 2 layers; space 'narrow' has 6"):
        lut.virtual_resolution(pixel1, narrow, mapping=layers[:2])


# ------------------------------------------------------------------------------------------- the host table (JSON)
def test_the_stored_host_table_is_a_cost_model_of_the_chain(chain):
    table = lut.load_table(FIXTURE)
    assert table.kind == "workbench" and table.device and len(table) == 42
    cost = lut.cost_model(table, chain, input_shape=(1, 8, 8))
    stored = json.loads(FIXTURE.read_text())
    assert stored["format"] == LATENCY_FORMAT and stored["space"] == "chain" and stored["repeats"] == 50
    assert np.array_equal(cost.costs["layers"], np.asarray(stored["table"]))
    assert isinstance(cost, MaskedCostModel)
    assert np.array_equal(load_latency(FIXTURE, chain).costs["layers"], cost.costs["layers"])
    with pytest.raises(lut.LatencyTableError, match=r"measured at input shape \(1, 8, 8\); the task needs "
                                                    r"\(1, 28, 28\).*--input-shape 1,28,28"):
        lut.cost_model(table, chain, input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="needs layers .* and blocks"):
        lut.cost_model(table, lut.without_e1(chain))


def test_a_json_file_of_another_format_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(lut.LatencyTableError, match="is not a workbench latency table"):
        lut.load_table(tmp_path / "x.json")


def test_chain_cost_models_know_where_skip_is_illegal(chain):
    params = block_cost_model(chain, (1, 8, 8), "params")
    t = params.costs["layers"]
    legal_min = t[2, :-1].min() + t[4, :-1].min()  # only L2 and L4 cannot skip
    assert params.minimum() == pytest.approx(legal_min) and legal_min > 0
    assert MaskedCostModel(params.costs).minimum() == 0.0  # without the mask: skip (0) everywhere


def test_proxylessnas_searches_with_the_virtual_resolution_cost():
    space = lut.without_e1(get_space("chain"))
    cost = lut.virtual_resolution("proxylessnas_pixel1", space)
    method = proxylessnas(cost=cost, lam=1.0, warmup_epochs=0)
    s = Searcher(SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=16, data_limit=64,
                              seed=0, arch_lr=0.05), space=space, method=method)
    events = [s.step() for _ in range(2)]
    costs = [e.extras["expected_cost"] for e in events]
    assert all(math.isfinite(c) and c >= cost.minimum() for c in costs) and costs[1] < costs[0]


def test_the_hardware_presets_take_a_table_name_as_their_cost():
    cfg = SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=16, data_limit=64, seed=0,
                       method_options={"cost": "proxylessnas_pixel1", "warmup_epochs": 0, "lam": 1.0})
    with pytest.raises(lut.LatencyTableError, match=r"with_ops\(remove=\['k3_e1', 'k5_e1'\]\)"):
        Searcher(cfg)  # refused when the search is built, not at its first architecture step
    s = Searcher(cfg.replace(removed_ops=("k3_e1", "k5_e1")))
    assert s.method.options["cost"] == "proxylessnas_pixel1"
    assert s.step().extras["expected_cost"] >= lut.virtual_resolution("proxylessnas_pixel1", s.space).minimum()
    fb = Searcher(cfg.replace(method="fbnet", method_options={"cost": "ofa_note10", "warmup_epochs": 0},
                              removed_ops=("k3_e1", "k5_e1")))
    assert fb.step().extras["expected_cost"] > 1.0
    with pytest.raises(FileNotFoundError, match="neither a shipped table"):
        get_method("fbnet", {"cost": "pixel9"})
    with pytest.raises(lut.LatencyTableError, match="latency tables price chain spaces"):
        lut.cost_model("proxylessnas_pixel1", get_space("nb201"))


# ------------------------------------------------------------------------------------------- NB201 latency fit
def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 50), rng.normal(size=50)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def _synthetic_nb201(path: Path, n: int, prices: dict[str, float], intercept: float, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = [",".join(["nb201_index", "arch_str", *REQUIRED_COLUMNS[2:], "lat_ms_toy"])]
    for i in range(n):
        ops = [NB201_OPS[k] for k in rng.integers(0, 5, 6)]
        arch = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        lat = intercept + sum(prices[o] for o in ops)
        lines.append(f"{i},{arch},90,70,40,{lat:.12f}")
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return path


def test_the_fit_recovers_an_exactly_additive_device(tmp_path):
    prices = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 0.7, "nor_conv_3x3": 2.0, "avg_pool_3x3": 0.4}
    path = _synthetic_nb201(tmp_path / "nb.csv.gz", 300, prices, 1.5)
    fit = fit_nb201_latency(path, "toy")
    assert fit.intercept == pytest.approx(1.5) and fit.op_costs() == pytest.approx(prices, abs=1e-9)
    assert fit.report.r2 == pytest.approx(1.0) and fit.report.mae_ms < 1e-9 and fit.report.spearman == 1.0
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|"
    assert fit.predict(arch) == pytest.approx(1.5 + 2.0 + 0.1 + 0.4 + 0.4)
    cost = fit.cost_model()
    picks = np.array([NB201_OPS.index(o) for o in ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3",
                                                     "avg_pool_3x3", "none")])
    assert cost.costs["cell"].shape == (6, 5) and (cost.costs["cell"] >= 0).all()
    assert cost.of({"cell": picks}) == pytest.approx(fit.predict(arch))  # E[cost] is the predicted latency
    assert cost.minimum() == pytest.approx(1.5) and fit.offset_ms == 0
    with pytest.raises(ValueError, match=r"budget 1\.2 ms is below the cheapest architecture's predicted latency "
                                         r"on toy \(1\.5 ms\)"):
        fit.cost_term(budget_ms=1.2)
    with pytest.raises(ValueError, match="no latency column for device 'pixel3'.*its devices: toy"):
        fit_nb201_latency(path, "pixel3")


def test_latency_aware_darts_on_nb201_with_a_fitted_cost(tmp_path):
    prices = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 0.7, "nor_conv_3x3": 2.0, "avg_pool_3x3": 0.4}
    fit = fit_nb201_latency(_synthetic_nb201(tmp_path / "nb.csv.gz", 200, prices, 1.0), "toy")
    term = fit.cost_term(weight=5.0)
    method = dataclasses.replace(get_method("darts-v1"), arch_loss_terms=(term,))
    cfg = SearchConfig(space="nb201", method="darts-v1", epochs=2, batch_size=16, data_limit=64, seed=0,
                       arch_lr=0.05, supernet=SupernetConfig(C=4, cells_per_stage=1))
    s = Searcher(cfg, method=method)
    latencies = [s.step().extras["expected_latency"] / 5.0 for _ in range(3)]
    assert latencies[0] == pytest.approx(1.0 + 6 * sum(prices.values()) / 5, rel=1e-2)  # uniform alphas
    assert latencies[2] < latencies[0]
    p = s.probabilities()["cell"]
    assert (p[:, NB201_OPS.index("nor_conv_3x3")] < 0.2).all()  # the priciest op loses weight on every edge


def test_nb201_fits_per_device_on_the_shared_table(nb201_csv):
    table = NB201Table.load(nb201_csv)
    devices = latency_devices(table)
    assert {"eyeriss", "fpga", "pixel3", "raspi4", "gold_6226", "1080ti_1", "titan_rtx_256", "pixel2"} <= set(devices)
    exact = fit_nb201_latency(table, "eyeriss")
    assert exact.report.n == 15625 and exact.report.r2 > 0.9999 and exact.report.spearman > 0.999
    rec = table.record(123)
    assert exact.predict(rec.arch_str) == pytest.approx(rec.latency("eyeriss"), abs=1e-6)
    pixel3 = fit_nb201_latency(table, "pixel3")
    assert 0.8 < pixel3.report.r2 < 0.9 and pixel3.report.spearman > 0.9  # not additive: see the module docstring
    assert pixel3.report.median_rel_error < 0.15 < pixel3.report.mean_rel_error
    per_edge = fit_nb201_latency(table, "pixel3", per_edge=True)
    assert per_edge.report.r2 > pixel3.report.r2
    cost = pixel3.cost_model()
    assert pixel3.offset_ms < 0  # the negative intercept stays out of the (non-negative) prices
    ops = re.findall(r"(\w+)~\d", rec.arch_str)
    picks = np.array([NB201_OPS.index(o) for o in ops])
    assert cost.of({"cell": picks}) + pixel3.offset_ms == pytest.approx(pixel3.predict(rec.arch_str))


# ------------------------------------------------------------------------------------------- the CLI
def test_cli_measure_writes_a_table_and_show_reads_it(tmp_path, capsys):
    out = tmp_path / "t.json"
    code = main(["latency", "measure", "--space", "chain", "--input-shape", "1,4,4", "--repeats", "1", "--warmup",
                 "0", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "host" in stdout and "L5 32→32 s1" in stdout and str(out) in stdout
    d = json.loads(out.read_text())
    assert d["format"] == LATENCY_FORMAT and d["input_shape"] == [1, 4, 4] and d["repeats"] == 1
    assert main(["latency", "show", str(out), "--space", "chain"]) == 0
    stdout = capsys.readouterr().out
    assert "workbench latency table" in stdout and "cheapest" in stdout


def test_cli_show_the_stored_fixture_and_a_shipped_table(capsys):
    assert main(["latency", "show", str(FIXTURE)]) == 0
    stdout = capsys.readouterr().out
    assert "median of 50 after 10 warm-up" in stdout and "host" in stdout and "k5_e6" in stdout
    assert main(["latency", "show", "proxylessnas_pixel1"]) == 0
    stdout = capsys.readouterr().out
    assert "72 entries" in stdout and "Google Pixel 1" in stdout and stdout.count("expanded_conv") == 69


def test_cli_show_with_a_space_maps_it_or_refuses_e1(capsys):
    assert main(["latency", "show", "proxylessnas_pixel1", "--space", "chain"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "with_ops(remove=['k3_e1', 'k5_e1'])" in captured.err
    assert main(["latency", "show", "proxylessnas_pixel1", "--space", "chain", "--remove-op", "k3_e1",
                 "--remove-op", "k5_e1"]) == 0
    stdout = capsys.readouterr().out
    assert "L2 16→24 s2  56x56x24 → 28x28x40, stride 2, idskip:0" in stdout and "cheapest     5.751 ms" in stdout


@pytest.mark.parametrize("argv, message", [
    (["latency", "measure", "--input-shape", "8,8", "--out", "x.json"], "--input-shape takes C,H,W"),
    (["latency", "measure", "--space", "nb201", "--input-shape", "1,8,8", "--out", "x.json"],
     "latency tables price chain spaces"),
    (["latency", "show", "nope.yaml"], "neither a shipped table"),
    (["latency", "show", "ofa_note10", "--remove-op", "k3_e1"], "--remove-op needs --space"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_fit_nb201(nb201_csv, capsys, monkeypatch):
    assert main(["latency", "fit-nb201", "--device", "pixel3", "--table", str(nb201_csv)]) == 0
    stdout = capsys.readouterr().out
    assert "device pixel3" in stdout and "R² 0.849" in stdout and "nor_conv_3x3" in stdout
    assert main(["latency", "fit-nb201", "--device", "pixel33", "--table", str(nb201_csv)]) == 2
    assert "did you mean 'pixel3'" in capsys.readouterr().err
    monkeypatch.delenv("WORKBENCH_NB201_TABLE", raising=False)
    assert main(["latency", "fit-nb201", "--device", "pixel3"]) == 0  # the shipped table by default
    assert "R² 0.849" in capsys.readouterr().out
    assert main(["latency", "fit-nb201", "--device", "pixel3", "--table", "/nonexistent/nb201.csv"]) == 2
    assert "/nonexistent/nb201.csv" in capsys.readouterr().err


def test_torch_threads_are_left_as_they_were():
    before = torch.get_num_threads()
    lut.load_table("ofa_note10")
    assert torch.get_num_threads() == before

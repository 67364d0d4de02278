"""Export of a derived chain network: the architecture round-trips, weights load back, the latency report is complete
and consistent; the CLI command writes the same folder from a run folder. No pickle anywhere."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import SearchConfig, Searcher
from workbench.app.cli import main
from workbench.app.export import (
    ARCH_FILE,
    REPORT_FILE,
    WEIGHTS_FILE,
    export_derived,
    inherit_supernet_weights,
    latency_report,
    load_export,
)
from workbench.app.hardware import layer_costs
from workbench.spaces import get_space
from workbench.spaces.chain.costs import load_latency
from workbench.spaces.chain.space import chain_choices

FIXTURE = "tests/fixtures/chain_latency_1x8x8.json"
PICKS = ["k3_e3", "skip", "k5_e6", "k3_e1", "k5_e3", "skip"]


def test_latency_report_fields_are_present_and_consistent():
    torch.set_num_threads(1)
    space = get_space("chain")
    cost = load_latency(FIXTURE, space)
    arch = chain_choices(space, PICKS)
    r = latency_report(space, arch, (1, 8, 8), cost, warmup=1, repeats=3)
    assert r["format"] == "workbench-latency-report/1" and r["unit"] == "ms" and r["label"] == space.label(arch)
    assert [layer["block"] for layer in r["layers"]] == PICKS
    assert [layer["predicted"] for layer in r["layers"]] == pytest.approx(layer_costs(space, arch, cost))
    assert r["predicted_total"] == pytest.approx(sum(layer["predicted"] for layer in r["layers"]))
    assert [layer["input_shape"] for layer in r["layers"]][2:5] == [[16, 8, 8], [24, 4, 4], [24, 4, 4]]
    m = r["measured"]
    assert all(layer["measured_ms"] == 0.0 for layer in r["layers"] if layer["block"] == "skip")
    assert all(layer["measured_ms"] > 0 for layer in r["layers"] if layer["block"] != "skip")
    assert m["layers_ms"] == pytest.approx(sum(layer["measured_ms"] for layer in r["layers"]))
    assert m["network_min_ms"] <= m["network_ms"] <= m["network_max_ms"]
    assert (m["warmup"], m["repeats"], m["batch"], m["torch_threads"], m["statistic"]) == (1, 3, 1, 1, "median")
    assert {"processor", "machine", "system", "cpus", "python", "torch"} <= set(r["host"])
    assert r["cost_model"]["cheapest"] == pytest.approx(cost.minimum())
    json.dumps(r)  # plain JSON
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("method", ["proxylessnas", "single-path"])
def test_export_round_trip_with_supernet_weights(tmp_path, method):
    torch.set_num_threads(1)
    s = Searcher(SearchConfig(space="chain", method=method, epochs=1, batch_size=32, data_limit=64, seed=0,
                              method_options={"warmup_epochs": 0}))
    s.run()
    space, arch = s.space, s.genotype()
    state = inherit_supernet_weights(space, arch, s.model.state_dict())
    cost = load_latency(FIXTURE, space)
    paths = export_derived(tmp_path / "out", space, arch, (1, 8, 8), 10, cost, state=state, warmup=1, repeats=2,
                           meta={"note": "test"})
    assert {p.name for p in (tmp_path / "out").iterdir()} == {ARCH_FILE, REPORT_FILE, WEIGHTS_FILE}
    assert set(paths) == {"architecture", "report", "weights"}
    back = load_export(tmp_path / "out")
    assert back.arch == arch and back.has_weights and back.document["meta"] == {"note": "test"}
    assert back.report["predicted_total"] == back.document["predicted_total"]
    # the exported network is the supernet restricted to the derived blocks: same outputs in eval mode
    x = s.val_data[0][:8]
    s.model.eval()
    back.network.eval()
    with torch.no_grad():
        (g,) = space.choice_groups()
        one_hot = torch.zeros(g.shape)
        for i, b in enumerate(arch.picks[g.name]):
            one_hot[i, g.options.index(b)] = 1.0
        ref = s.model(x, {g.name: one_hot}, {g.name: one_hot.bool().numpy()})
        assert torch.allclose(back.network(x), ref, atol=1e-5)
    for blob in (tmp_path / "out").iterdir():  # no pickle: JSON text and a safetensors header
        head = blob.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"PK"


def test_export_without_weights_and_refusals(tmp_path):
    space = get_space("chain")
    arch = chain_choices(space, PICKS)
    cost = load_latency(FIXTURE, space)
    export_derived(tmp_path / "bare", space, arch, (1, 8, 8), 10, cost, warmup=0, repeats=1)
    back = load_export(tmp_path / "bare")
    assert not back.has_weights and back.document["weights"] is None and back.arch == arch
    other = space.with_ops(remove=["k5_e6"])
    with pytest.raises(ValueError, match="fingerprint"):
        load_export(tmp_path / "bare", space=other)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        export_derived(tmp_path / "file", space, arch, (1, 8, 8), 10, cost, repeats=1)
    bad = {k: v for k, v in inherit_supernet_weights(space, arch, {}).items()}
    with pytest.raises(RuntimeError):  # a state that does not fit fails before anything is written
        export_derived(tmp_path / "bad", space, arch, (1, 8, 8), 10, cost, state=bad, repeats=1)
    assert not (tmp_path / "bad").exists()


def test_export_cli_from_a_run_folder(tmp_path, capsys):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert main(["search", "--space", "chain", "--method", "proxylessnas", "--epochs", "1", "--batch-size", "32",
                 "--data-limit", "64", "--method-option", "warmup_epochs=0", "--method-option", f"cost={FIXTURE}",
                 "--out", str(run), "--threads", "1"]) == 0
    capsys.readouterr()
    out = tmp_path / "exp"
    assert main(["export", str(run), "--out", str(out), "--repeats", "2", "--warmup", "0", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / ARCH_FILE).read_text())
    report = json.loads((out / REPORT_FILE).read_text())
    assert doc["meta"]["weights"] == "supernet" and (out / WEIGHTS_FILE).is_file()
    assert "latency (chain_latency_1x8x8.json)" in report["cost_model"]["name"]  # the run's own cost model
    assert f"predicted    {report['predicted_total']:.4g} ms" in text and "whole network" in text
    from workbench.runs import load_run
    assert get_space("chain").arch_from_dict(doc["architecture"]) == load_run(run).genotype
    flops = tmp_path / "flops"
    assert main(["export", str(run), "--out", str(flops), "--cost", "flops", "--weights", "none", "--repeats", "1",
                 "--warmup", "0"]) == 0
    assert json.loads((flops / REPORT_FILE).read_text())["unit"] == "MFLOPs" and not (flops / WEIGHTS_FILE).exists()
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "x"), "--arch",
                 '{"space": "chain", "picks": {"layers": ["skip"]}}']) == 2
    assert "needs 6 picks" in capsys.readouterr().err
    assert np.isfinite(report["measured"]["network_ms"])

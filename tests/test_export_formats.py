"""Export of any derived or published network (safetensors, TorchScript, ONNX) and its counted size.

Oracles: a hand count of parameters and FLOPs; every published genotype traced at 8x8 gives the eager
network's output at 32x32 (the kernel-cropping trick is not baked into traces); files read back equal the
eager network; the CLI exports an architecture and a run folder of a non-chain space.
"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from torch import nn

from workbench.analysis.network_cost import network_cost
from workbench.app.cli import main
from workbench.app.export_formats import check_export, export_network, parse_shape
from workbench.spaces.cell import zoo
from workbench.spaces.cell.discrete import DiscreteNetwork
from workbench.spaces.cell.ops import tracing


def test_network_cost_counts_parameters_and_flops_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    c = network_cost(net.train(), torch.zeros(5, 3, 4, 4))
    assert c.params == 3 * 8 * 9 + 128 * 10 + 10
    assert c.flops == 2 * (9 * 3 * 8 * 16) + 2 * 128 * 10  # a multiply-add is 2 FLOPs, batch 1
    assert net.training  # mode restored
    with pytest.raises(ValueError, match="at least one example"):
        network_cost(net, torch.zeros(0, 3, 4, 4))


@pytest.mark.parametrize("name", zoo.published_names())
def test_a_published_network_traced_at_8x8_runs_at_32x32(name, tmp_path):
    torch.manual_seed(0)
    net = DiscreteNetwork(zoo.published(name), C=4, layers=3, in_channels=3).eval()
    path = export_network(net, tmp_path, "torchscript", torch.randn(2, 3, 8, 8))
    for shape in ((2, 3, 8, 8), (3, 3, 32, 32)):
        c = check_export(net, path, "torchscript", torch.randn(*shape))
        assert c.ok, (name, shape, c)
    assert not tracing()


def test_safetensors_round_trip_and_bad_input(tmp_path):
    torch.manual_seed(1)
    net = DiscreteNetwork(zoo.published("DARTS_V2"), C=4, layers=2, in_channels=1).eval()
    path = export_network(net, tmp_path, "safetensors", torch.randn(2, 1, 8, 8))
    assert check_export(net, path, "safetensors", torch.randn(2, 1, 8, 8)).max_abs_diff == 0.0
    with pytest.raises(ValueError, match="accepted: safetensors, torchscript, onnx"):
        export_network(net, tmp_path, "pickle", torch.randn(1, 1, 8, 8))
    assert parse_shape("3,32,32") == (3, 32, 32) and parse_shape("1x8x8") == (1, 8, 8)
    with pytest.raises(ValueError, match="comma-separated positive ints"):
        parse_shape("3,a,32")


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx (the export extra) is not installed")
def test_onnx_export_has_dynamic_resolution(tmp_path):
    torch.manual_seed(2)
    net = DiscreteNetwork(zoo.published("PC_DARTS_cifar"), C=4, layers=3, in_channels=3).eval()
    path = export_network(net, tmp_path, "onnx", torch.randn(2, 3, 8, 8))
    import onnx
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "height", "width"]
    if importlib.util.find_spec("onnxruntime") is not None:
        assert check_export(net, path, "onnx", torch.randn(3, 3, 32, 32)).ok


def test_cli_exports_a_published_architecture_and_a_run(tmp_path, capsys):
    out = tmp_path / "darts"
    assert main(["export", "DARTS_V1", "--out", str(out), "--format", "torchscript", "--input-shape", "3,8,8",
                 "--C", "4", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "architecture.json").read_text())
    assert doc["files"] == {"torchscript": "model.pt"} and doc["input_shape"] == [3, 8, 8]
    assert [c["input_shape"] for c in doc["checks"]] == [[2, 3, 8, 8], [2, 3, 16, 16]]
    assert all(c["max_abs_diff"] <= 1e-5 for c in doc["checks"])
    assert f"{doc['network']['params'] / 1e3:.3g} k parameters" in text
    assert main(["export", "DARTS_V1", "--out", str(tmp_path / "bad"), "--input-shape", "3,x"]) == 2
    assert "--input-shape" in capsys.readouterr().err

    run = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--method", "darts-v1", "--epochs", "1", "--data-limit", "128",
                 "--out", str(run), "--threads", "1", "--no-report"]) == 0
    assert "derived network" in capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["network"]["params"] > 0 and summary["network"]["flops"] > 0
    exp = tmp_path / "exp"
    assert main(["export", str(run), "--out", str(exp), "--format", "safetensors", "--format", "torchscript"]) == 0
    doc = json.loads((exp / "architecture.json").read_text())
    assert doc["space"] == "nb201" and doc["input_shape"] == [1, 8, 8] and set(doc["files"]) == {"safetensors",
                                                                                                   "torchscript"}
    assert doc["network"] == summary["network"]

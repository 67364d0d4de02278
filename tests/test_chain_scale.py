"""The chain space's default size for larger images (issue #10: Fashion-MNIST under a minute at the default size).

The stem's stride follows the input (:meth:`ChainSpace.stem_stride_for`: the first searchable stage sees at most
8x8), the hardware-aware presets keep ``CPU_DATA_LIMIT`` training images, and measured latency tables follow the
stem. Nothing here is timed (bench_hardware.py part 4 times the commands).
"""
from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

from workbench import SearchConfig, Searcher
from workbench.app.cli import main
from workbench.methods import cpu_scale_config, get_method, paper_config
from workbench.spaces import get_space
from workbench.spaces.chain import lut
from workbench.spaces.chain.costs import layer_inputs, measure_latency, save_latency
from workbench.spaces.chain.space import CPU_DATA_LIMIT, ChainConfig, ChainSpace
from workbench.tasks.data.datasets import FASHION_MNIST_DIR
from workbench.tasks.task import TaskInfo

HARDWARE = ("fbnet", "proxylessnas", "single-path")
MAPS_28 = [(16, 7, 7)] * 3 + [(24, 4, 4)] * 2 + [(32, 2, 2)]
has_fashion = pytest.mark.skipif(not (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte").is_file()
                                 and not (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
                                 reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def _layer_maps(net: torch.nn.Module, shape: tuple[int, ...], call) -> list[tuple[int, int, int]]:
    """(C, H, W) entering each of ``net.layers`` (a module, or a ModuleDict of candidates) in one forward pass of
    a batch of 2 (forward pre-hooks; every candidate of a layer must see the same shape)."""
    seen: dict[int, set[tuple[int, ...]]] = {}
    hooks = []
    for i, layer in enumerate(net.layers):
        for m in layer.values() if isinstance(layer, torch.nn.ModuleDict) else [layer]:
            hooks.append(m.register_forward_pre_hook(
                lambda _m, a, i=i: seen.setdefault(i, set()).add(tuple(a[0].shape[1:]))))
    try:
        with torch.no_grad():
            out = call(torch.randn(2, *shape))
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (2, 10) and sorted(seen) == list(range(len(net.layers)))
    assert all(len(v) == 1 for v in seen.values()), seen
    return [next(iter(seen[i])) for i in sorted(seen)]


@pytest.mark.parametrize("superkernel", [False, True])
def test_at_28x28_the_searched_layers_see_7x7_4x4_2x2_maps_as_layer_inputs_says(superkernel):
    chain = get_space("chain")
    assert [chain.stem_stride_for(s) for s in ((1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 4, 4))] == [1, 4, 4, 1]
    assert layer_inputs(chain, (1, 28, 28)) == MAPS_28
    task = TaskInfo((1, 28, 28), 10)
    net = chain.build_supernet(task, ChainConfig(superkernel=superkernel))
    weights = {g.name: torch.full(g.shape, 1.0 / len(g.options)) for g in chain.choice_groups()}
    assert _layer_maps(net, task.input_shape, lambda x: net(x, weights)) == MAPS_28
    derived = chain.compile(chain.decode({g.name: torch.rand(g.shape).numpy() for g in chain.choice_groups()}), task)
    assert _layer_maps(derived, task.input_shape, derived) == MAPS_28


def test_8x8_digits_keep_the_one_conv_stride_1_stem_and_an_explicit_stride_is_checked_and_fingerprinted():
    chain = get_space("chain")
    net = chain.build_supernet(TaskInfo((1, 8, 8), 10))
    assert [n for n, _ in net.stem.named_parameters()] == ["0.weight", "1.weight", "1.bias"]
    assert net.stem[0].stride == (1, 1) and layer_inputs(chain, (1, 8, 8))[0] == (16, 8, 8)
    full = ChainSpace(stem_stride=1)
    assert layer_inputs(full, (1, 28, 28))[0] == (16, 28, 28)
    assert full.fingerprint() != chain.fingerprint() == ChainSpace().fingerprint()
    for bad in (3, 0, True, 2.0):
        with pytest.raises(ValueError, match=r"stem_stride must be None .* or a power of two >= 1"):
            ChainSpace(stem_stride=bad)


def _printed_config(*argv: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["search", "--space", "chain", *argv, "--print-config"]) == 0
    return json.loads(out.getvalue())


def test_the_presets_default_size_is_the_same_from_the_command_line_and_from_python():
    """The CLI applies Method.search_defaults where no flag names a field; Python spells the same config as
    cpu_scale_config(SearchConfig(...)) (the dashboard takes that config). --paper-defaults starts from the
    papers' settings instead (paper_config in Python); flags win over both."""
    assert CPU_DATA_LIMIT == 1436
    for m in HARDWARE:
        cli = _printed_config("--method", m, "--dataset", "fashion_mnist")
        py = cpu_scale_config(SearchConfig(space="chain", method=m, dataset="fashion_mnist")).to_dict()
        assert py == SearchConfig(space="chain", method=m, dataset="fashion_mnist",
                                  **get_method(m).search_defaults).to_dict()
        assert cli["data_limit"] == py["data_limit"] == CPU_DATA_LIMIT
        assert {k: cli[k] for k in py if k != "device"} == {k: v for k, v in py.items() if k != "device"}
        paper = _printed_config("--method", m, "--dataset", "fashion_mnist", "--paper-defaults")
        py = paper_config(SearchConfig(space="chain", method=m, dataset="fashion_mnist")).to_dict()
        assert {k: paper[k] for k in py if k != "device"} == {k: v for k, v in py.items() if k != "device"}
        assert paper["lr"] == get_method(m).paper_defaults["lr"] and paper["data_limit"] is None
    assert _printed_config("--method", "fbnet", "--data-limit", "500")["data_limit"] == 500
    assert _printed_config("--method", "fbnet", "--paper-defaults", "--lr", "0.5")["lr"] == 0.5
    assert _printed_config("--method", "darts-v1")["data_limit"] is None
    pc = _printed_config("--space", "darts", "--method", "pc-darts", "--paper-defaults")  # the later --space wins
    assert (pc["batch_size"], pc["lr"], pc["arch_lr"]) == (256, 0.1, 6e-4)


@has_fashion
def test_a_default_fashion_mnist_search_has_digits_size_data_and_steps_and_the_whole_test_set():
    m = "fbnet"
    s = Searcher(SearchConfig(space="chain", method=m, dataset="fashion_mnist", **get_method(m).search_defaults))
    digits = Searcher(SearchConfig(space="chain", method=m, dataset="digits", **get_method(m).search_defaults))
    assert s.dataset.n_train == digits.dataset.n_train == CPU_DATA_LIMIT
    assert s.dataset.n_test == 10_000  # the official test split, whole
    assert sorted(torch.bincount(s.dataset.y_train).tolist()) == [143] * 4 + [144] * 6  # stratified
    assert s.total_steps == digits.total_steps == 60
    weights, active = s.mixing_weights(training=False)
    assert _layer_maps(s.model, (1, 28, 28), lambda x: s.model(x, weights, active)) == MAPS_28


def test_a_measured_table_records_its_layer_inputs_and_is_refused_where_the_layers_see_other_shapes(tmp_path):
    chain = get_space("chain")
    doc = measure_latency(chain, (1, 28, 28), warmup=0, repeats=1)
    assert doc["layer_inputs"] == [list(v) for v in MAPS_28]
    ok = save_latency(doc, tmp_path / "now.json")
    cost = lut.cost_model(lut.load_table(ok), chain, input_shape=(1, 28, 28))
    assert cost.costs["layers"].shape == (6, 7)
    old = dict(doc)
    del old["layer_inputs"]  # a table from before stem strides: measured with a stride-1 stem, 28x28 maps
    with pytest.raises(lut.LatencyTableError, match=r"layer input shapes \(C, H, W\) \[\[16, 28, 28\].*stem stride "
                                                    r"4\) feeds its layers \[\[16, 7, 7\].*--input-shape 1,28,28"):
        lut.cost_model(lut.load_table(save_latency(old, tmp_path / "old.json")), chain, input_shape=(1, 28, 28))
    full = measure_latency(ChainSpace(stem_stride=1), (1, 8, 8), warmup=0, repeats=1)
    lut.cost_model(lut.load_table(save_latency(full, tmp_path / "full8.json")), chain, input_shape=(1, 8, 8))

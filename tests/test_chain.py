"""The chain space (SEEDS_2.md §4.4): shape, legal skips, the supernet's one-hot limit equals the compiled chain,
a search runs and resumes bit for bit, and bad input is refused with the reason."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench import SearchConfig, Searcher
from workbench.spaces import ArchitectureError, ChainSpace, Choices, get_space
from workbench.spaces.chain.space import chain_choices
from workbench.tasks import TaskInfo


def test_layers_channels_strides_and_where_skip_is_legal():
    space = get_space("chain")
    g, = space.choice_groups()
    assert g.rows == ("L0 16→16 s1", "L1 16→16 s1", "L2 16→24 s2", "L3 24→24 s1", "L4 24→32 s2", "L5 32→32 s1")
    assert g.options == ("k3_e1", "k3_e3", "k3_e6", "k5_e1", "k5_e3", "k5_e6", "skip")
    assert g.allowed_matrix()[:, -1].tolist() == [True, True, False, True, False, True]
    assert g.allowed_matrix()[:, :-1].all()


def test_one_hot_supernet_equals_the_compiled_chain():
    torch.manual_seed(0)
    space, task = get_space("chain"), TaskInfo((1, 8, 8), 10)
    net = space.build_supernet(task)
    picks = ("skip", "k3_e3", "k5_e1", "skip", "k5_e6", "k3_e1")
    arch = chain_choices(space, picks)
    child = space.compile(arch, task)
    # copy the chosen blocks' parameters (and the stem and head) from the supernet into the child
    sd = {}
    for k, v in net.state_dict().items():
        if k.startswith(("stem.", "classifier.")):
            sd[k] = v
    for i, b in enumerate(picks):
        if b != "skip":
            sd.update({f"layers.{i}.{k}": v for k, v in net.layers[i][b].state_dict().items()})
    child.load_state_dict(sd)
    net.eval(), child.eval()
    x = torch.randn(4, 1, 8, 8)
    g, = space.choice_groups()
    w = torch.zeros(g.shape)
    w[range(6), [g.options.index(b) for b in picks]] = 1.0
    active = {"layers": w.numpy() > 0}
    assert torch.allclose(net(x, {"layers": w}, active), child(x), atol=1e-6)


def test_a_chain_search_runs_decodes_compiles_and_resumes_bit_for_bit():
    torch.set_num_threads(1)
    cfg = SearchConfig(space="chain", epochs=2, batch_size=32, data_limit=192, seed=0)
    full = Searcher(cfg)
    full.run()
    arch = full.genotype()
    assert isinstance(arch, Choices) and len(arch.picks["layers"]) == 6
    assert arch.picks["layers"][2] != "skip" and arch.picks["layers"][4] != "skip"
    part = Searcher(cfg)
    part.run(full.steps_per_epoch)
    state = part.state_dict()
    resumed = Searcher(cfg)
    resumed.load_state_dict(state)
    resumed.run()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert not np.allclose(full.probabilities()["layers"], 1 / 7)


def test_bad_chain_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown chain block 'k4_e3'"):
        ChainSpace(blocks=("k4_e3", "skip"))
    with pytest.raises(ValueError, match="only 'skip'"):
        ChainSpace(blocks=("skip",))
    space = get_space("chain")
    with pytest.raises(ArchitectureError, match=r"row 'L2 16→24 s2' does not allow 'skip'"):
        chain_choices(space, ("k3_e1", "k3_e1", "skip", "k3_e1", "k3_e1", "k3_e1"))
    with pytest.raises(ArchitectureError, match="needs 6 picks"):
        chain_choices(space, ("k3_e1",))
    with pytest.raises(ValueError, match="unknown supernet setting"):
        space.supernet_config({"C": 8})
    with pytest.raises(ValueError, match="do not apply to chain space"):
        space.supernet_config(None, partial_channels=4)
    s = Searcher(SearchConfig(space="chain", epochs=1, batch_size=32, data_limit=96))
    for b in ("k3_e3", "k3_e6", "k5_e1", "k5_e3", "k5_e6"):
        s.set_op_enabled("layers", b, False, rows=[2])
    with pytest.raises(ValueError, match="no candidate op"):
        s.set_op_enabled("layers", "k3_e1", False, rows=[2])
    smaller = space.with_ops(remove=["k5_e6", "k5_e3"])
    assert smaller.choice_groups()[0].options == ("k3_e1", "k3_e3", "k3_e6", "k5_e1", "skip")


def test_the_cli_removes_blocks_of_a_chain_space(tmp_path):
    from workbench.app.cli import main
    code = main(["search", "--space", "chain", "--remove-op", "k3_e1", "--remove-op", "k5_e1", "--epochs", "1",
                 "--data-limit", "96", "--batch-size", "32", "--threads", "1", "--out", str(tmp_path / "r"), "--quiet",
                 "--no-report"])
    assert code == 0
    from workbench import load_run
    g, = load_run(tmp_path / "r").history.groups
    assert g.options == ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "skip")
    assert main(["search", "--space", "chain", "--remove-op", "k7_e3", "--out", str(tmp_path / "s")]) == 2


@pytest.mark.parametrize("side, kernel, stride", [(8, 5, 1), (4, 5, 2), (2, 5, 1), (2, 3, 1)])
def test_mbconv_through_the_depthwise_kernel_equals_the_plain_module_chain_in_values_and_gradients(side, kernel,
                                                                                                   stride):
    """MBConv.forward routes its depthwise conv through workbench.conv_kernels (a faster CPU weight gradient
    where the kernel reaches past the map): the same function as running its modules in order, float64."""
    from torch import nn

    from workbench.spaces.chain.blocks import MBConv
    torch.manual_seed(0)
    block = MBConv(4, 6, kernel, 3, stride).double()
    x = torch.randn(3, 4, side, side, dtype=torch.float64, requires_grad=True)
    outs, grads = [], []
    for fwd in (block.forward, lambda t: nn.Sequential.forward(block, t)):
        y = fwd(x)
        g = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum(),
                                [x, *block.parameters()])
        outs.append(y)
        grads.append(g)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)

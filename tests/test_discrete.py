"""Compiled genotypes (workbench.spaces.cell.discrete): shapes, parameter-count oracle, zero cells, errors, training."""
from __future__ import annotations

import pytest
import torch

from workbench.spaces.cell import zoo
from workbench.spaces.cell.discrete import (
    DiscreteCell,
    DiscreteNetwork,
    EvalConfig,
    count_params,
    drop_path,
    evaluate_genotype,
    from_space,
)
from workbench.spaces.cell.genotype import Genotype, GenotypeError, nb201_genotype
from workbench.spaces.cell.ops import make_op
from workbench.spaces.cell.supernet import ResBlock, SupernetConfig
from workbench.tasks.data import load_dataset

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE_TO_OUTPUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module")
def small_digits():
    return load_dataset("digits", seed=0, limit=192)


def _forward_backward(net: DiscreteNetwork, batch: int = 3) -> torch.Tensor:
    torch.manual_seed(0)
    net.train()
    x = torch.randn(batch, 1, 8, 8)
    y = net(x)
    y.square().mean().backward()
    return y


@pytest.mark.parametrize("name", zoo.published_names())
def test_published_genotype_compiles_and_trains_a_step(name):
    net = DiscreteNetwork(zoo.published(name), "darts", C=8, layers=3)
    y = _forward_backward(net)
    assert y.shape == (3, 10)
    # every node feeds the output in these genotypes, so every parameter gets a finite gradient
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


@pytest.mark.parametrize("arch", [GOOD, ALL_SKIP, NONE_TO_OUTPUT, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_nb201_genotypes_compile(arch):
    net = DiscreteNetwork(arch, C=8, cells_per_stage=2)
    assert net.macro == "nb201"
    assert sum(isinstance(m, DiscreteCell) for m in net.cells) == 6
    assert sum(isinstance(m, ResBlock) for m in net.cells) == 2
    assert _forward_backward(net).shape == (3, 10)


def test_nasnet_amoebanet_only_compile_without_a_space():
    for name in ("NASNet", "AmoebaNet"):
        g = zoo.published(name)
        with pytest.raises(GenotypeError, match="5 intermediate nodes"):
            from_space(g, "darts")
        net = from_space(g, None, SupernetConfig(C=8, layers=3))
        # partial concat: the cell output has len(concat) * C channels
        assert net.classifier.in_features == len(g.cell("reduce").concat) * 32


# -------------------------------------------------------------------- parameter-count oracle
def _op_params(op: str, C: int, stride: int) -> int:
    """Closed-form parameter counts of the DARTS eval ops (affine BN: 2C per BN)."""
    k = {"3x3": 3, "5x5": 5}
    if op.startswith("sep_conv_"):
        return 2 * (C * k[op[-3:]] ** 2 + C * C + 2 * C)  # (depthwise k x k, pointwise, BN) twice
    if op.startswith("dil_conv_"):
        return C * k[op[-3:]] ** 2 + C * C + 2 * C
    if op == "skip_connect":
        return 0 if stride == 1 else C * C + 2 * C  # FactorizedReduce: two 1x1 convs C -> C/2, BN
    assert op in ("max_pool_3x3", "avg_pool_3x3", "none"), op
    return 0


def test_darts_v2_param_count_equals_sum_of_parts():
    g = zoo.published("DARTS_V2")
    C, n_in, n_cls = 8, 1, 10
    total = n_in * 3 * C * 9 + 2 * 3 * C  # stem conv 3x3 + BN
    # channel flow of NetworkCIFAR with layers=3: reductions at cells 1 and 2
    C_pp, C_p = 3 * C, 3 * C
    for kind, C_cell in (("normal", C), ("reduce", 2 * C), ("reduce", 4 * C)):
        cell = g.cell(kind)
        total += C_pp * C_cell + 2 * C_cell  # pre0: ReLUConvBN 1x1 or FactorizedReduce: same count
        total += C_p * C_cell + 2 * C_cell  # pre1
        for _, op, src in cell.edges():
            total += _op_params(op, C_cell, 2 if kind == "reduce" and src < 2 else 1)
        C_pp, C_p = C_p, len(cell.concat) * C_cell
    total += C_p * n_cls + n_cls
    net = DiscreteNetwork(g, "darts", C=C, layers=3, in_channels=n_in, n_classes=n_cls)
    assert count_params(net) == total
    # the closed forms agree with each op built alone
    for op in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "skip_connect", "max_pool_3x3"):
        for stride in (1, 2):
            assert count_params(make_op(op, 16, 1, stride, True)) == _op_params(op, 16, stride), (op, stride)


def test_auxiliary_head_is_training_only_and_not_counted(small_digits):
    net = DiscreteNetwork("DARTS_V2", C=8, layers=3, auxiliary=True, drop_path_prob=0.2)
    net.train()
    logits, aux = net(torch.randn(4, 1, 8, 8), return_aux=True)
    assert logits.shape == aux.shape == (4, 10)
    net.eval()
    assert net(torch.randn(4, 1, 8, 8), return_aux=True)[1] is None
    res = evaluate_genotype("DARTS_V2", None, small_digits, EvalConfig(epochs=1, auxiliary=True))
    assert res.params == count_params(DiscreteNetwork("DARTS_V2", C=8, layers=3))


# -------------------------------------------------------------------- zero cells, drop path
def test_none_to_output_cell_gives_constant_logits():
    torch.manual_seed(0)
    dead = DiscreteNetwork(NONE_TO_OUTPUT, C=8)
    live = DiscreteNetwork(GOOD, C=8)
    x1, x2 = torch.randn(6, 1, 8, 8), 3 * torch.randn(6, 1, 8, 8) + 1
    for train in (True, False):
        dead.train(train)
        live.train(train)
        with torch.no_grad():
            a, b = dead(x1), dead(x2)
            la, lb = live(x1), live(x2)
        assert torch.allclose(a, a[:1].expand_as(a)) and torch.allclose(a, b)
        assert not torch.allclose(la, lb, atol=1e-3)  # the oracle can tell: a real cell depends on its input


def test_drop_path_statistics_and_eval_mode():
    torch.manual_seed(0)
    x = torch.ones(20000, 2, 1, 1)
    y = drop_path(x, 0.3)
    dropped = (y[:, 0, 0, 0] == 0).float().mean().item()
    assert abs(dropped - 0.3) < 0.02
    assert abs(y.mean().item() - 1.0) < 0.03  # unbiased
    assert torch.equal(y[:, 0], y[:, 1])  # whole examples are dropped
    net = DiscreteNetwork("DARTS_V2", C=8, layers=3)
    x = torch.randn(4, 1, 8, 8)
    net.eval()
    with torch.no_grad():
        ref = net(x)
        net.set_drop_path_prob(0.5)
        assert torch.equal(net(x), ref)  # eval mode ignores drop path
    with pytest.raises(ValueError, match="drop_path_prob"):
        net.set_drop_path_prob(1.0)


# -------------------------------------------------------------------- errors
def test_unknown_op_lists_the_known_ops():
    with pytest.raises(GenotypeError, match=r"'conv_9x9'.*Known ops:.*sep_conv_3x3"):
        DiscreteNetwork(nb201_genotype(["nor_conv_3x3", "conv_9x9", "skip_connect"] * 2))
    text = zoo.PUBLISHED["DARTS_V2"].replace("dil_conv_3x3", "dil_conv_9x9")
    with pytest.raises((GenotypeError, KeyError), match="dil_conv_9x9"):
        DiscreteNetwork(Genotype.from_darts_str(text))


def test_genotype_and_macro_mismatches_are_explained():
    with pytest.raises(GenotypeError, match="'darts' macro needs"):
        DiscreteNetwork(GOOD, "darts")
    with pytest.raises(GenotypeError, match="'nb201' macro needs"):
        DiscreteNetwork("DARTS_V2", "nb201")
    with pytest.raises(ValueError, match="accepted: darts, nb201"):
        DiscreteNetwork(GOOD, "resnet")
    with pytest.raises(GenotypeError, match="space 'nb201'"):
        from_space("DARTS_V2", "nb201")
    with pytest.raises(GenotypeError, match="not in space 'nb201'"):
        from_space(nb201_genotype(["sep_conv_3x3"] * 6), "nb201")
    with pytest.raises(ValueError, match="auxiliary head"):
        DiscreteNetwork("DARTS_V2", layers=2, auxiliary=True)


def test_from_space_uses_the_supernet_size():
    net = from_space(GOOD, "nb201", SupernetConfig(C=4, cells_per_stage=2), in_channels=3, n_classes=5)
    assert net.stem[0].weight.shape == (4, 3, 3, 3)
    assert len(net.cells) == 3 * 2 + 2
    assert net.classifier.weight.shape == (5, 16)
    net = from_space("PC_DARTS_cifar", "darts", SupernetConfig(C=6, layers=5))
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]


# -------------------------------------------------------------------- training
def test_training_on_digits_beats_chance(digits):
    seen = []
    res = evaluate_genotype(GOOD, "nb201", digits, EvalConfig(epochs=3), on_epoch=seen.append)
    assert [r.epoch for r in res.history] == [0, 1, 2] and list(res.history) == seen
    assert res.test_acc == res.history[-1].test_acc > 0.5  # chance is 0.1
    assert res.history[-1].train_loss < res.history[0].train_loss
    assert [r.lr for r in res.history] == pytest.approx([0.025, 0.01875, 0.00625])  # cosine to 0 over 3 epochs
    assert res.params == count_params(DiscreteNetwork(GOOD, C=8))


def test_evaluation_is_deterministic_for_a_seed(small_digits):
    small = small_digits
    cfg = EvalConfig(epochs=2, batch_size=64, drop_path_prob=0.4, auxiliary=True)  # epoch 1 drops paths

    def metrics(r):
        return [(h.train_loss, h.train_acc, h.test_loss, h.test_acc) for h in r.history]

    a = evaluate_genotype("DARTS_V2", "darts", small, cfg)
    b = evaluate_genotype("DARTS_V2", "darts", small, cfg)
    c = evaluate_genotype("DARTS_V2", "darts", small, cfg.replace(seed=1))
    assert metrics(a) == metrics(b)
    assert metrics(a) != metrics(c)


def test_convergence_note_says_when_evaluate_numbers_are_not_converged():
    from workbench.spaces.cell.discrete import EpochRecord, EvalConfig, EvalResult

    def result(losses):
        hist = tuple(EpochRecord(i, 0.01, loss, 0.5, loss, 0.5, 1.0) for i, loss in enumerate(losses))
        return EvalResult(None, 0.5, 1.0, 0.5, 10, hist, 1.0, EvalConfig())  # type: ignore[arg-type]

    assert "only 2 epochs" in result([2.0, 1.5]).convergence_note()
    assert "still fell 50%" in result([2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.5]).convergence_note()
    assert result([2.0, 1.0, 0.6, 0.5, 0.45, 0.42, 0.41, 0.40]).convergence_note() is None

"""The budget decoding rule of the chain space (workbench.spaces.chain.budget) and the presets' ``derive`` option:
the dynamic programme against brute force over every legal chain, the band and its fallbacks, the rule's text
round trip, and a search whose derived architecture (and history) decode by it."""
from __future__ import annotations

import contextlib
import io
import itertools
import json

import numpy as np
import pytest

from workbench import SearchConfig, Searcher
from workbench.app.cli import main
from workbench.history import History
from workbench.methods import get_method
from workbench.spaces import get_space
from workbench.spaces.chain.budget import BudgetRule, budget_picks


def _brute(p: np.ndarray, allowed: np.ndarray, table: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """(best sum log p, its latency) over every allowed chain with latency in [lo, hi], by enumeration."""
    choices = [np.flatnonzero(a & (pr > 0)) for a, pr in zip(allowed, p, strict=True)]
    best = (-np.inf, np.nan)
    for combo in itertools.product(*choices):
        lat = sum(table[i, o] for i, o in enumerate(combo))
        if lo - 1e-9 <= lat <= hi + 1e-9:
            score = sum(np.log(p[i, o]) for i, o in enumerate(combo))
            if score > best[0]:
                best = (score, lat)
    return best


def test_the_dynamic_programme_finds_the_most_probable_chain_in_the_band_as_brute_force_does():
    space = get_space("chain").with_ops(remove=["k3_e1", "k5_e1"])  # 5 blocks: 5^2 x 4^4 = 6,400 chains
    g, = space.choice_groups()
    allowed = g.allowed_matrix()
    rng = np.random.default_rng(0)
    compared = 0
    for trial in range(6):
        table = rng.uniform(0.5, 6.0, g.shape) * allowed
        p = rng.dirichlet(np.full(g.shape[1], 0.7), g.shape[0]) * allowed
        p /= p.sum(1, keepdims=True)
        lo = np.where(allowed, table, np.inf).min(1).sum()
        hi = np.where(allowed, table, -np.inf).max(1).sum()
        for budget in lo + np.array([0.05, 0.3, 0.6]) * (hi - lo):
            rule = BudgetRule.of(table, budget, 0.1)
            picks = budget_picks(p, allowed, rule)
            lat = sum(table[i, o] for i, o in enumerate(picks))
            score = sum(np.log(p[i, o]) for i, o in enumerate(picks))
            want, want_lat = _brute(p, allowed, table, 0.9 * budget, budget)
            if np.isfinite(want):
                assert 0.9 * budget - 1e-9 <= lat <= budget + 1e-9, (trial, budget, lat)
                assert score == pytest.approx(want, abs=1e-9), (trial, budget, lat, want_lat)
                compared += 1
            assert all(allowed[i, o] for i, o in enumerate(picks))
    assert compared >= 15  # most cases have a chain in the band


def test_an_empty_band_falls_back_to_the_most_expensive_chain_within_the_budget_and_below_the_cheapest_raises():
    table = np.array([[1.0, 4.0], [1.0, 4.0]])
    allowed = np.ones((2, 2), dtype=bool)
    p = np.array([[0.9, 0.1], [0.8, 0.2]])
    # band [5.4, 6]: no chain costs 5.4..6 (2, 5, 8 exist) -> the most expensive within 6: 5, the more probable
    # of the two chains costing 5 (row 1 takes the 4 whose probability is larger: 0.2 > 0.1)
    assert budget_picks(p, allowed, BudgetRule.of(table, 6.0, 0.1)) == [0, 1]
    assert budget_picks(p, allowed, BudgetRule.of(table, 8.0, 0.1)) == [1, 1]  # in the band, against the argmax
    p0 = np.array([[1.0, 0.0], [0.5, 0.5]])  # probability 0 is never picked, whatever the budget
    assert budget_picks(p0, allowed, BudgetRule.of(table, 8.0, 0.1)) == [0, 1]
    with pytest.raises(ValueError, match=r"cheapest such architecture costs 2 ms"):
        budget_picks(p, allowed, BudgetRule.of(table, 1.5, 0.1, "ms"))


def test_the_rule_round_trips_through_its_text_and_the_chain_space_decodes_with_it():
    space = get_space("chain")
    g, = space.choice_groups()
    table = np.arange(np.prod(g.shape), dtype=float).reshape(g.shape) % 7 * g.allowed_matrix()
    rule = BudgetRule.of(table, 20.0, 0.05, "ms")
    assert BudgetRule.parse(rule.to_rule()) == rule
    probs = {g.name: g.allowed_matrix() / g.allowed_matrix().sum(1, keepdims=True)}
    arch = space.decode(probs, None, rule.to_rule())
    lat = sum(table[i, g.options.index(b)] for i, b in enumerate(arch.picks[g.name]))
    assert 19.0 - 1e-9 <= lat <= 20.0 + 1e-9
    with pytest.raises(ValueError, match="malformed budget"):
        space.decode(probs, None, "budget:{")
    with pytest.raises(ValueError, match="the rule was made for another space"):
        space.decode(probs, None, BudgetRule.of(table[:3], 20.0).to_rule())


@pytest.mark.parametrize("method", ["fbnet", "proxylessnas", "single-path"])
def test_derive_is_checked(method):
    with pytest.raises(ValueError, match="derive='budget' needs a budget"):
        get_method(method, {"derive": "budget"})
    with pytest.raises(ValueError, match="derive must be one of paper, budget"):
        get_method(method, {"derive": "mode", "budget": 100.0})
    assert get_method(method, {}).model_rule is None  # no budget: the paper's rule
    assert get_method(method, {"budget": 100.0, "derive": "paper"}).model_rule is None


def test_a_search_with_a_budget_derives_in_the_band_and_its_history_decodes_the_same_way():
    cfg = SearchConfig(space="chain", method="fbnet", epochs=1, batch_size=16, data_limit=64, seed=0,
                       eval_each_epoch=False, method_options={"budget": 60.0, "warmup_epochs": 0})
    s = Searcher(cfg)
    h = History.attach(s)
    s.step()
    assert s.method.genotype_rule.startswith("budget:")
    g, = s.model.groups
    table = np.asarray(BudgetRule.parse(s.method.genotype_rule).table)
    arch = s.genotype()
    lat = sum(table[i, g.options.index(b)] for i, b in enumerate(arch.picks[g.name]))
    assert 54.0 - 1e-9 <= lat <= 60.0 + 1e-9  # params: the band [0.9 x 60, 60] K parameters
    assert arch != s.space.decode(s.probabilities(), s.masks(), "argmax")  # near-uniform argmax is far cheaper
    assert h.genotype_at(int(h.steps[-1])) == arch  # the views and a run folder re-decode by the same rule


def _printed_config(*argv: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["search", "--space", "chain", *argv, "--print-config"]) == 0
    return json.loads(out.getvalue())


def test_the_command_line_uses_each_hardware_presets_own_size_where_no_flag_names_one(tmp_path):
    """The default size (Method.search_defaults): fbnet 5 epochs, proxylessnas 15, single-path 10 (each under a
    minute on digits, benchmarks/bench_hardware.py); a flag or a config file wins; other methods keep 50."""
    got = {m: _printed_config("--method", m) for m in ("fbnet", "proxylessnas", "single-path", "darts-v1")}
    assert {m: c["epochs"] for m, c in got.items()} == {"fbnet": 5, "proxylessnas": 15, "single-path": 10,
                                                         "darts-v1": 50}
    assert got["fbnet"]["arch_lr"] == got["proxylessnas"]["arch_lr"] == 0.03
    assert got["darts-v1"]["arch_lr"] == 0.0003
    assert (got["proxylessnas"]["lr"], got["fbnet"]["lr"]) == (0.1, 0.025)
    flags = _printed_config("--method", "fbnet", "--epochs", "3", "--arch-lr", "0.1")
    assert (flags["epochs"], flags["arch_lr"]) == (3, 0.1)
    cfg = tmp_path / "c.toml"
    cfg.write_text("epochs = 4\n")
    assert _printed_config("--method", "proxylessnas", "--config", str(cfg))["epochs"] == 4

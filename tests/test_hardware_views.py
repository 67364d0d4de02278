"""Hardware views: the expected-latency curve's values, the Pareto front, the budget slider's commands, the chain
drawing, and the panels on a live chain search."""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest
import torch

from widgets.figures.hardware import (
    BUDGET,
    CHEAPEST,
    DERIVED,
    EXPECTED,
    FRONT,
    SAMPLED,
    latency_curve,
    pareto_figure,
    pareto_front,
    trace,
)
from widgets.figures.hardware_chain import COSTS, LAYERS, block_size, chain_figure
from widgets.views.hardware import BudgetSlider
from workbench import SearchConfig, StepEnded
from workbench.app.hardware import (
    ArchPoint,
    Target,
    arch_cost,
    expected_costs,
    sample_points,
    target_option,
)
from workbench.app.session import SearchSession
from workbench.history import History
from workbench.methods.costs import CostModel
from workbench.spaces import get_space
from workbench.spaces.chain.costs import block_cost_model, load_latency
from workbench.spaces.chain.space import chain_choices

FIXTURE = "tests/fixtures/chain_latency_1x8x8.json"


def _history(space, probs_per_step: list[np.ndarray]) -> History:
    h = History(space)
    (g,) = space.choice_groups()
    for i, p in enumerate(probs_per_step, start=1):
        h(StepEnded(i, 0, 1.0, 1.0, {}, {}, 0.1, 0.01, {g.name: np.log(p + 1e-9)}, {g.name: p}, 0.01))
    return h


def _uniform_legal(space) -> np.ndarray:
    (g,) = space.choice_groups()
    a = g.allowed_matrix().astype(float)
    return a / a.sum(1, keepdims=True)


def test_latency_curve_is_the_expected_and_the_derived_cost_of_each_step():
    space = get_space("chain")
    cost = load_latency(FIXTURE, space)
    (g,) = space.choice_groups()
    table = np.asarray(cost.costs[g.name])
    p1 = _uniform_legal(space)
    p2 = np.zeros(g.shape)
    p2[:, g.options.index("k3_e1")] = 0.7
    p2[:, g.options.index("k5_e6")] = 0.3
    h = _history(space, [p1, p2])
    fig = latency_curve(h, cost, budget=2.0)
    exp, der = trace(fig, EXPECTED), trace(fig, DERIVED)
    assert list(exp.x) == [1, 2] and list(der.x) == [1, 2]
    assert exp.y[0] == pytest.approx((p1 * table).sum()) and exp.y[1] == pytest.approx((p2 * table).sum())
    # step 2 derives k3_e1 everywhere: its cost is that column's sum; step 1 (uniform) the first legal option
    assert der.y[1] == pytest.approx(table[:, g.options.index("k3_e1")].sum())
    assert der.y[0] == pytest.approx(arch_cost(space, h.genotype_at(1), cost))
    assert list(trace(fig, BUDGET).y) == [2.0, 2.0] and trace(fig, CHEAPEST).y[0] == pytest.approx(cost.minimum())
    assert "ms" in fig.layout.yaxis.title.text and "(" not in fig.layout.yaxis.title.text  # short: fits 300 px
    assert cost.name in exp.hovertemplate  # the table it came from, on hover
    assert list(trace(latency_curve(h, cost), BUDGET).y) == []  # no budget: an empty trace, same layout
    assert expected_costs(np.stack([p1, p2]), cost) == pytest.approx(list(exp.y))


def test_pareto_front_on_a_hand_made_point_set():
    #            0    1    2    3    4    5    6
    costs = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 0.5]
    accs = [0.50, 0.60, 0.70, 0.65, 0.90, 0.90, 0.40]
    # 1 is dominated by 2 (same cost, worse), 3 by 2 (more cost, worse), 5 by 4 (more cost, same acc)
    assert list(pareto_front(costs, accs)) == [6, 0, 2, 4]
    assert list(pareto_front([1.0, 1.0], [0.5, 0.5])) == [0]  # identical points: the first
    assert list(pareto_front([1.0, np.nan, 2.0], [0.5, 0.9, np.inf])) == [0]  # non-finite points are never on it
    assert list(pareto_front([1.0, 2.0], [0.3, 0.1], higher_is_better=False)) == [0, 1]  # a loss: lower is better
    with pytest.raises(ValueError, match="equally long"):
        pareto_front([1.0], [0.1, 0.2])


def test_pareto_figure_draws_samples_front_derived_and_budget():
    pts = [ArchPoint(f"a{i}", c, m, "derived" if i == 2 else "sampled")
           for i, (c, m) in enumerate([(1.0, 0.5), (2.0, 0.6), (2.0, 0.7), (3.0, 0.65)])]
    fig = pareto_figure(pts, CostModel({"layers": np.ones((1, 1))}, unit="ms", name="latency"), budget=2.5)
    assert sorted(trace(fig, SAMPLED).x) == [1.0, 2.0, 3.0]
    assert list(trace(fig, FRONT).x) == [1.0, 2.0] and list(trace(fig, FRONT).y) == [0.5, 0.7]
    assert list(trace(fig, "derived").text) == ["a2"]
    assert list(trace(fig, BUDGET).x) == [2.5, 2.5]
    assert fig.layout.yaxis.tickformat == ".0%" and "ms" in fig.layout.xaxis.title.text


def test_chain_drawing_contains_every_layer_with_its_block_and_cost():
    space = get_space("chain")
    cost = load_latency(FIXTURE, space)
    picks = ["k3_e1", "skip", "k5_e6", "k3_e3", "k5_e3", "skip"]
    arch = chain_choices(space, picks)
    (g,) = space.choice_groups()
    fig = chain_figure(space, arch, cost, probs={g.name: _uniform_legal(space)}, input_shape=(1, 8, 8), n_outputs=10)
    layers = trace(fig, LAYERS)
    assert [tuple(c) for c in layers.customdata] == list(zip(g.rows, picks, strict=True))
    for row, text in zip(g.rows, layers.hovertext, strict=True):
        assert row in text and "predicted" in text and "%" in text  # label, cost and the relaxed probabilities
    bars = trace(fig, COSTS)
    table = np.asarray(cost.costs[g.name])
    assert list(bars.y) == pytest.approx([table[i, g.options.index(b)] for i, b in enumerate(picks)])
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert notes.count("skip") == 2 and "<b>k5</b><br>e6" in notes and f"{arch_cost(space, arch, cost):.4g} ms" in notes
    assert "8×8→8×8" in notes and "4×4→2×2" in notes  # stage resolutions
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 3 + 2 + 6  # stage bands, stem and head, one box per layer
    assert len([s for s in fig.layout.shapes if s.type == "path"]) == 4  # identity shortcuts: L1, L3, L5 and L0
    assert block_size("k5_e6")[0] > block_size("k3_e6")[0] and block_size("k3_e6")[1] > block_size("k3_e1")[1]
    assert len(chain_figure(space, arch).data) == 1  # without a cost model: the drawing only


class _FakeSession:
    """Records the commands a widget sends."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def restart(self, method_options=None, **changes) -> Future:
        self.calls.append(("restart", dict(method_options or {}), changes))
        fut: Future = Future()
        fut.set_result(None)
        return fut

    def run(self, n=None) -> None:
        self.calls.append(("run", n))


def test_budget_slider_restarts_the_search_through_the_session():
    fake = _FakeSession()
    cost = block_cost_model(get_space("chain"), (1, 8, 8), "params")
    slider = BudgetSlider(fake, target=Target("proxylessnas", "budget", "budget", None), cost=cost)
    assert slider.slider.min == pytest.approx(cost.minimum()) and slider.slider.max > slider.slider.min
    slider.slider.value = 12.5
    slider.button.click()
    assert fake.calls == [("restart", {"budget": 12.5}, {}), ("run", None)]
    assert slider.target.value == 12.5 and slider.restarts == 1
    weight = BudgetSlider(fake, target=Target("fbnet", "beta", "weight", 0.6), run_after=False)
    weight.apply(2.0)
    assert fake.calls[-1] == ("restart", {"beta": 2.0}, {})
    assert target_option("proxylessnas").option in ("budget", "lam") and target_option("darts-v1") is None


def test_budget_slider_restarts_a_real_session_with_the_new_target():
    torch.set_num_threads(1)
    s = SearchSession(SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=32, data_limit=64,
                                   seed=0, method_options={"warmup_epochs": 0}), threaded=False)
    s.run()
    old = s.searcher
    slider = BudgetSlider(s, target=Target("proxylessnas", "lam", "weight", 0.1))
    slider.apply(0.5)
    assert s.searcher is not old and s.searcher.config.method_options["lam"] == 0.5
    assert s.searcher.finished and len(s.history) == s.searcher.total_steps  # it searched again with the target
    refused = slider.apply(-1.0)  # a negative weight: refused by the preset, shown, the search kept
    assert refused.exception() is not None and "lam" in slider.status.value and s.searcher.config.method_options[
        "lam"] == 0.5


def test_hardware_panels_on_a_live_chain_search():
    torch.set_num_threads(1)
    from widgets.dashboard import dashboard
    s = SearchSession(SearchConfig(space="chain", method="proxylessnas", epochs=1, batch_size=32, data_limit=64,
                                   seed=0, method_options={"warmup_epochs": 0}), threaded=False)
    d = dashboard(s)
    assert {"hw_budget", "hw_latency", "hw_pareto", "hw_chain"} <= set(d.views)
    s.run()
    lat = d.views["hw_latency"]
    lat.set_visible(True)
    lat.refresh()
    n = s.searcher.total_steps
    assert len(trace(lat.figure, EXPECTED).y) == n
    assert trace(lat.figure, EXPECTED).y[-1] == pytest.approx(
        expected_costs(s.history.weights("layers")[-1], lat.cost))
    pareto = d.views["hw_pareto"]
    assert pareto.points and pareto.points[0].kind == "derived"  # sampled when the run finished
    assert len(trace(pareto.figure, SAMPLED).x) == len(pareto.points) - 1
    chain = d.views["hw_chain"]
    chain.set_visible(True)
    chain.refresh()
    assert [c[1] for c in trace(chain.figure, LAYERS).customdata] == list(s.searcher.genotype().picks["layers"])
    assert not any(p.name.startswith("hw_") for p in __import__("widgets.panels").panels.PANELS.for_space(
        get_space("nb201")))


def test_sampled_points_leave_the_search_untouched():
    torch.set_num_threads(1)
    s = SearchSession(SearchConfig(space="chain", method="fbnet", epochs=1, batch_size=32, data_limit=64, seed=0,
                                   method_options={"warmup_epochs": 0, "form": "log_power"}), threaded=False)
    s.run()
    sd = {k: v.clone() for k, v in s.searcher.model.state_dict().items()}
    gen = s.searcher.generator.get_state().clone()
    pts = sample_points(s.searcher, 6, seed=3)
    assert pts[0].kind == "derived" and 1 <= len(pts) - 1 <= 6 and len({p.label for p in pts}) == len(pts)
    assert all(0.0 <= p.metric <= 1.0 and p.cost > 0 for p in pts)
    assert all(torch.equal(v, s.searcher.model.state_dict()[k]) for k, v in sd.items())
    assert torch.equal(gen, s.searcher.generator.get_state())

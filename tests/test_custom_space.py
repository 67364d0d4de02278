"""A user's own space and task through the public API only: search, resume bit for bit, run folder, report, dashboard.

The space below is what a user writes (no engine change): a chain of layers, each choosing one op, with the
channel count changing between layers (so ``skip`` is only legal where it does not); the same class serves a
conv chain on digits (cross-entropy) and an MLP chain on synthetic 2-D points (a new regression task, MSE).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from workbench import SearchConfig, Searcher
from workbench.runs import RunStore, load_run, resume
from workbench.spaces import ChoiceGroup, Choices, ChoiceSupernet, SearchSpace
from workbench.tasks import TaskInfo, TensorDataset

# ----------------------------------------------------------------------------- the user's code (under 80 lines)
CONV = {"conv3x3": lambda a, b: nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()),
        "conv5x5": lambda a, b: nn.Sequential(nn.Conv2d(a, b, 5, padding=2), nn.BatchNorm2d(b), nn.ReLU()),
        "skip": lambda a, b: nn.Identity() if a == b else None}
MLP = {"relu": lambda a, b: nn.Sequential(nn.Linear(a, b), nn.ReLU()),
       "tanh": lambda a, b: nn.Sequential(nn.Linear(a, b), nn.Tanh()),
       "skip": lambda a, b: nn.Identity() if a == b else None}


class Chain(SearchSpace):
    """``len(widths) - 1`` layers in a row, each one op from ``ops`` (a factory returning None where illegal)."""

    def __init__(self, name: str, ops: dict, widths: tuple[int, ...], image: bool) -> None:
        self.name, self.ops, self.widths, self.image = name, ops, widths, image

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        pairs = list(zip(self.widths, self.widths[1:]))
        return (ChoiceGroup("layers", tuple(f"layer {i} ({a}→{b})" for i, (a, b) in enumerate(pairs)),
                            tuple(self.ops), tuple(tuple(f(a, b) is not None for f in self.ops.values())
                                                   for a, b in pairs)),)

    def build_supernet(self, task: TaskInfo, config=None) -> ChainNet:
        return ChainNet(self, task)

    def compile(self, arch: Choices, task: TaskInfo, **options) -> nn.Module:
        self.check(arch)
        return ChainNet(self, task, picks=arch.picks["layers"])


class ChainNet(ChoiceSupernet):
    def __init__(self, space: Chain, task: TaskInfo, picks: tuple[str, ...] | None = None) -> None:
        super().__init__(space.choice_groups())
        w, image, self.picks = space.widths, space.image, picks
        self.stem = nn.Conv2d(task.input_shape[0], w[0], 3, padding=1) if image else nn.Linear(task.input_shape[0],
                                                                                                w[0])
        self.layers = nn.ModuleList(nn.ModuleDict({o: f(a, b) for o, f in space.ops.items() if f(a, b) is not None
                                                   and (picks is None or o == picks[i])})
                                    for i, (a, b) in enumerate(zip(w, w[1:])))
        self.pool = nn.AdaptiveAvgPool2d(1) if image else nn.Identity()
        self.head = nn.Linear(w[-1], task.n_outputs)
        self.options = list(space.ops)

    def forward(self, x: torch.Tensor, weights=None, active=None) -> torch.Tensor:
        h = self.stem(x)
        for i, layer in enumerate(self.layers):
            if self.picks is not None:
                h = layer[self.picks[i]](h)
                continue
            w, a = weights["layers"][i], active["layers"][i]
            h = sum(w[self.options.index(o)] * op(h) for o, op in layer.items() if a[self.options.index(o)])
        return self.head(self.pool(h).flatten(1))


def points(n: int = 600, seed: int = 0) -> TensorDataset:
    """A new regression task: y = sin(3 x0) + x1^2 on 2-D points in [-1, 1]^2 (MSE is its default objective)."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, 2, generator=g) - 1
    y = (torch.sin(3 * x[:, 0]) + x[:, 1] ** 2).unsqueeze(1)
    return TensorDataset("points", x[: n // 2 * 2 - 100], y[: n // 2 * 2 - 100], x[-100:], y[-100:], n_outputs=1,
                         default_objective="mse")
# ----------------------------------------------------------------------------- end of the user's code


CONV_CHAIN = Chain("conv_chain", CONV, (8, 8, 8, 16, 16), image=True)
MLP_CHAIN = Chain("mlp_chain", MLP, (16, 16, 32, 32, 32), image=False)


def _mlp_search(**kw) -> Searcher:
    torch.set_num_threads(1)
    cfg = SearchConfig(epochs=4, batch_size=32, lr=0.1, arch_lr=3e-2, seed=1, **kw)
    return Searcher(cfg, space=MLP_CHAIN, dataset=points())


def test_the_space_declares_its_choices_and_legal_options():
    g, = CONV_CHAIN.choice_groups()
    assert g.rows[2] == "layer 2 (8→16)" and g.options == ("conv3x3", "conv5x5", "skip")
    assert g.allowed_matrix()[:, 2].tolist() == [True, True, False, True]  # skip only where channels stay
    s = Searcher(SearchConfig(epochs=1, batch_size=64, data_limit=256), space=CONV_CHAIN)
    s.run()
    arch = s.genotype()
    assert isinstance(arch, Choices) and arch.picks["layers"][2] != "skip"
    net = CONV_CHAIN.compile(arch, s.task.info)
    assert net(s.dataset.x_test[:5]).shape == (5, 10)
    assert s.config.space == "conv_chain" and s.objective.name == "cross_entropy"


def test_regression_task_reports_its_own_metrics_and_learns():
    s = _mlp_search()
    first = s.step()
    assert set(first.train_metrics) == {"mse", "mae"} and s.objective.primary == "mse"
    s.run()
    loss, metrics = s.evaluate()
    assert metrics["mse"] == pytest.approx(loss, rel=1e-5)  # the MSE objective's loss is its mse metric
    assert metrics["mse"] < 0.5 * float(points().y_train.var())  # better than predicting the mean
    assert not np.allclose(s.probabilities()["layers"], 1 / 3)  # the architecture moved


def test_custom_space_and_task_resume_bit_for_bit_through_a_run_folder(tmp_path):
    full = _mlp_search()
    full.run()
    s = _mlp_search()
    store = RunStore(tmp_path / "run", s)
    s.run(s.steps_per_epoch)  # one epoch: checkpoint written at its end
    store.close()
    with pytest.raises(Exception, match="space"):
        resume(tmp_path / "run")  # an unregistered space object must be passed again
    with pytest.raises(Exception, match="fingerprint"):
        resume(tmp_path / "run", space=CONV_CHAIN, dataset=points())
    with pytest.raises(Exception, match="not the one this run used"):
        resume(tmp_path / "run", space=MLP_CHAIN, dataset=points(seed=5))
    resumed, store = resume(tmp_path / "run", space=MLP_CHAIN, dataset=points())
    resumed.run()
    store.close()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    run = load_run(tmp_path / "run", space=MLP_CHAIN)
    assert run.finished and run.genotype == full.genotype()
    assert len(run.history.scalar("val_mse")) == full.total_steps


def test_report_and_dashboard_render_a_custom_space(tmp_path):
    pytest.importorskip("plotly")
    from widgets import dashboard
    from widgets.report import write_report

    s = _mlp_search()
    store = RunStore(tmp_path / "run", s)
    s.run()
    store.close()
    html = write_report(tmp_path / "run", load_run(tmp_path / "run", space=MLP_CHAIN).history).read_text()
    # MLP_CHAIN's rows: layer 0 (16→16), layer 1 (16→32), layer 2 (32→32), layer 3 (32→32)
    assert "mlp_chain" in html and "layer 1 (16→32)" in html and "mse" in html
    assert all(row in html for row in MLP_CHAIN.choice_groups()[0].rows)
    d = dashboard(s, static=True)
    assert "layers" in d.views  # the generic choice heatmap, curves and architecture view
    h = load_run(tmp_path / "run", space=MLP_CHAIN).history
    static = dashboard(h, static=True)
    np.testing.assert_allclose(np.asarray(static.figures()["heatmap/layers"].data[0].z, dtype=float),
                               h.weights("layers")[-1], rtol=1e-6)
    assert len(static.views["layers"]) == 2 and "genotype" in static.views and "curves" in static.views


def test_live_dashboard_of_a_custom_space_shows_the_recorded_probabilities():
    pytest.importorskip("anywidget")
    from widgets import Dashboard, dashboard
    from widgets.controls import SearchSession

    session = SearchSession(_mlp_search(), threaded=False)
    d = dashboard(session, static=False, min_interval=0)
    assert isinstance(d, Dashboard)
    assert "param_free" not in d.views and "genotype_diff" not in d.views  # cell-only panels are not offered
    session.run(5)
    h = session.history
    heat = d.views["heatmap"].heatmaps["layers"]
    np.testing.assert_allclose(np.asarray(heat.data[0].z, dtype=float), h.weights("layers")[-1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(heat.data[0].z, dtype=float), session.searcher.probabilities()["layers"],
                               rtol=1e-5, atol=1e-7)
    assert list(heat.layout.yaxis.ticktext[0].replace("<b>", "").split(" ●")[0:1]) == ["layer 0 (16→16)"]
    assert "step 5" in heat.layout.title.text
    arch = d.views["genotype"].genotype
    assert arch == session.searcher.genotype() and isinstance(arch, Choices)
    d.scrubber.scrub(2)
    np.testing.assert_allclose(np.asarray(heat.data[0].z, dtype=float), h.weights("layers")[1], rtol=1e-6)
    assert d.views["genotype"].genotype == h.genotype_at(2)
    assert MLP_CHAIN.label(h.genotype_at(2)) in d.scrubber.label.value
    d.close()


def test_op_swapper_switches_an_option_off_in_a_custom_space_group():
    pytest.importorskip("ipywidgets")
    from widgets.controls import OpSwapper, SearchSession

    session = SearchSession(_mlp_search(), threaded=False)
    sw = OpSwapper(session)
    g, = MLP_CHAIN.choice_groups()
    assert set(sw.toggles) == {"layers"} and list(sw.toggles["layers"]) == list(g.options)
    assert [label for label, _ in sw.edge_pickers["layers"].options][1:] == list(g.rows)
    tanh = g.options.index("tanh")
    sw.toggles["layers"]["tanh"].value = False
    assert not session.searcher.masks()["layers"][:, tanh].any() and "switched <b>off</b>" in sw.message.value
    session.run(2)
    assert np.all(session.history.weights("layers")[:, :, tanh] == 0)
    (ch,) = session.history.mask_changes
    assert (ch.group, ch.op, ch.enabled) == ("layers", "tanh", False)
    sw.edge_pickers["layers"].value = 1  # layer 1 (16→32) does not allow skip: its toggle is disabled there
    assert sw.toggles["layers"]["skip"].disabled
    sw.toggles["layers"]["relu"].value = False  # would leave layer 1 with no option at all
    assert sw.toggles["layers"]["relu"].value is True and "refused" in sw.message.value

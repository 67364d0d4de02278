"""The CLI's summaries, ``runs show`` and ``compare`` for a non-cell space (a Choices architecture) and a
regression task: no Genotype, no accuracy assumed anywhere."""
from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch
from torch import nn

from workbench import SearchConfig, Searcher
from workbench.app.cli import main
from workbench.app.cli.summary import summarize, summary_lines
from workbench.compare import ComparisonResult, compare
from workbench.runs import RunStore
from workbench.spaces import ChoiceGroup, Choices, ChoiceSupernet, SearchSpace
from workbench.spaces.base import SPACES
from workbench.tasks import TaskInfo, TensorDataset

OPS = {"relu": lambda w: nn.Sequential(nn.Linear(w, w), nn.ReLU()),
       "tanh": lambda w: nn.Sequential(nn.Linear(w, w), nn.Tanh()),
       "skip": lambda w: nn.Identity()}


class MlpChain(SearchSpace):
    """Flatten, then ``depth`` layers of width ``width``, each one op of OPS."""

    def __init__(self, name: str = "mlp_chain_cli", depth: int = 3, width: int = 16) -> None:
        self.name, self.depth, self.width = name, depth, width

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        return (ChoiceGroup("layers", tuple(f"layer {i}" for i in range(self.depth)), tuple(OPS)),)

    def build_supernet(self, task: TaskInfo, config=None) -> ChainNet:
        return ChainNet(self, task)

    def compile(self, arch: Choices, task: TaskInfo, **options) -> nn.Module:
        raise NotImplementedError


class ChainNet(ChoiceSupernet):
    def __init__(self, space: MlpChain, task: TaskInfo) -> None:
        super().__init__(space.choice_groups())
        w = space.width
        self.stem = nn.Linear(math.prod(task.input_shape), w)
        self.layers = nn.ModuleList(nn.ModuleDict({o: f(w) for o, f in OPS.items()}) for _ in range(space.depth))
        self.head = nn.Linear(w, task.n_outputs)
        self.options = list(OPS)

    def forward(self, x, weights=None, active=None):
        h = self.stem(x.flatten(1))
        for i, layer in enumerate(self.layers):
            w, a = weights["layers"][i], active["layers"][i]
            h = sum(w[k] * layer[o](h) for k, o in enumerate(self.options) if a[k])
        return self.head(h)


SPACE = MlpChain()


def points(n: int = 400) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(n, 2, generator=g) - 1
    y = (torch.sin(3 * x[:, 0]) + x[:, 1] ** 2).unsqueeze(1)
    return TensorDataset("points", x[:300], y[:300], x[300:], y[300:], n_outputs=1, default_objective="mse")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SPACES._items, SPACE.name, SPACE)  # as register_space(SPACE), undone after the test
    return SPACE


def _main(*argv: str) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(list(argv))
    return code, so.getvalue(), se.getvalue()


def test_summary_of_a_regression_search_on_a_choices_space(tmp_path, registered):
    s = Searcher(SearchConfig(space=SPACE.name, epochs=2, batch_size=32, lr=0.1, seed=1), dataset=points())
    store = RunStore(tmp_path / "run", s)
    s.run()
    store.close()
    summary = summarize(s, tmp_path / "run", 1.0)
    arch = s.genotype()
    assert isinstance(arch, Choices) and summary["label"] == SPACE.label(arch)
    assert summary["genotype"] == arch.to_dict() and SPACE.arch_from_dict(summary["genotype"]) == arch
    assert summary["darts"] is None and summary["nb201"] is None and summary["cell_counts"] is None
    assert summary["primary_metric"] == "mse" and set(summary["supernet"]["val_metrics"]) == {"mse", "mae"}
    assert summary["controller"] is None and summary["nb201_truth"] is None and summary["nb201_note"] is None
    json.dumps(summary)  # plain data
    text = "\n".join(summary_lines(summary))
    assert f"  architecture      {SPACE.label(arch)}" in text and "as JSON" in text
    assert "val mse " in text and "mae " in text and "%" not in text and "acc" not in text
    assert "genotype" not in text and "NB201" not in text and "parameter-free" not in text
    # runs show reads the folder back through the registered space: labels and the task's metric
    code, out, err = _main("runs", "show", str(tmp_path / "run"))
    assert code == 0, err
    assert out.count("  epoch ") == 2 and "val mse " in out and "acc" not in out
    assert f"architecture {SPACE.label(arch)}" in out


def test_cli_search_on_a_registered_choices_space(tmp_path, registered):
    out = tmp_path / "cli"
    code, stdout, stderr = _main("search", "--space", SPACE.name, "--epochs", "1", "--data-limit", "160",
                                 "--batch-size", "32", "--seed", "0", "--threads", "1", "--out", str(out),
                                 "--no-report")
    assert code == 0, stderr
    assert stdout.startswith(f"search finished: {SPACE.name} / darts-v1 / digits, seed 0, 1 epoch")
    summary = json.loads((out / "summary.json").read_text())
    arch = SPACE.arch_from_dict(summary["genotype"])
    assert f"  architecture      {SPACE.label(arch)}" in stdout and "val acc" in stdout
    assert "genotype" not in stdout and "cell ops" not in stdout
    assert "epoch 1/1 val acc" in stderr and SPACE.label(arch) in stderr
    # flags a space without a cell macro cannot take are refused with one line
    code, _, err = _main("search", "--space", SPACE.name, "--remove-op", "skip", "--out", str(tmp_path / "x"))
    assert code == 2 and "has no op list" in err


def test_compare_on_a_choices_space_drops_cell_columns(tmp_path, registered):
    base = SearchConfig(space=SPACE.name, batch_size=32, data_limit=160, seed=0)
    res = compare(["darts-v1"], [0], SPACE.name, "digits", 1, tmp_path, base_config=base, hessian=False)
    row = res.rows[0]
    arch = SPACE.arch_from_dict(row["arch"])
    assert row["genotype"] == SPACE.label(arch) and 0 <= row["supernet_val_accuracy"] <= 1
    assert not {"param_free", "skips", "nones"} & set(res.columns)
    assert res.curves["darts-v1"]["0"]["param_free"] == [None]
    assert SPACE.label(arch) in res.to_markdown()


def test_comparison_table_takes_the_objectives_metrics():
    rows = [{"method": "darts-v1", "seed": s, "genotype": "layers: relu", "supernet_val_mse": 0.01 * (s + 1),
             "supernet_val_mae": 0.1, "search_seconds": 1.0, "ms_per_step": 2.0, "run_dir": None,
             "status": "finished"} for s in (0, 1)]
    res = ComparisonResult(rows, "mlp", "points", 1)
    assert res.columns[:5] == ["method", "seed", "genotype", "supernet_val_mse", "supernet_val_mae"]
    summary = res.summary()[0]
    assert summary["seeds"] == 2 and summary["supernet_val_mse"] == pytest.approx(0.015)
    md = res.to_markdown()
    assert "supernet_val_mse" in md and "0.015 ± 0.0071" in md
    assert "supernet_val_mse" in res.to_csv().splitlines()[0]
    assert res.figure_data()["metrics"]["supernet_val_mae"]["mean"] == {"darts-v1": pytest.approx(0.1)}

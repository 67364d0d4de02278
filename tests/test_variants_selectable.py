"""SD-DARTS, RARTS and DASS are selectable like every method (issue 11, item 4): from the CLI, in ``compare``
with NB201 ground truth, and resumable bit for bit through a run folder (their state travels in checkpoints)."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_config

from workbench import Searcher
from workbench.app.cli import main
from workbench.compare import compare
from workbench.runs import RunStore, load_run, resume

VARIANTS = [("sd-darts", "toy"), ("rarts", "toy"), ("dass", "nb201-sparse")]


@pytest.mark.parametrize(("method", "space"), VARIANTS)
def test_cli_search_runs_each_variant(method, space, tmp_path):
    out = tmp_path / "run"
    assert main(["search", "--space", space, "--method", method, "--epochs", "1", "--batch-size", "16",
                 "--data-limit", "96", "--C", "4", "--out", str(out), "--no-report", "--quiet", "--threads", "1"]) == 0
    run = load_run(out)
    assert run.finished and run.config.method == method and run.config.space == space


@pytest.mark.parametrize(("method", "space"), VARIANTS)
def test_variant_resumes_bit_for_bit_through_a_run_folder(method, space, tmp_path):
    cfg = tiny_config(method=method, space=space, supernet=None, epochs=2, data_limit=96)
    full = Searcher(cfg)
    full.run()
    s = Searcher(cfg)
    store = RunStore(tmp_path / "run", s)
    s.run(s.steps_per_epoch)  # one epoch: its checkpoint is written at the end
    store.close()
    resumed, store = resume(tmp_path / "run")
    resumed.run()
    store.close()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k  # method state (teachers, RARTS's second copy, masks) included
    assert load_run(tmp_path / "run").genotype == full.genotype()


def test_compare_tabulates_the_variants_with_nb201_ground_truth(tmp_path):
    res = compare(["darts-v1", "sd-darts", "rarts"], [0], "nb201", "digits", 1, tmp_path / "cmp",
                  base_config=tiny_config(space="nb201", supernet=None, data_limit=96), hessian=False)
    rows = {r["method"]: r for r in res.rows}
    assert set(rows) == {"darts-v1", "sd-darts", "rarts"}
    for r in rows.values():
        truth = [v for k, v in r.items() if "nb201" in k and isinstance(v, float)]
        assert truth and all(math.isfinite(v) for v in truth), r

"""A run folder of a search that rolled back (DARTS-ADA): it reads back as the live History, and the checkpoint
written at a re-run epoch holds the state after the rollback, not the stale one from before it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import History, Searcher, load_run
from workbench.runs import RunStore
from workbench.serialize import load

ADA = {"ev_freq": 1, "window": 1, "delta": 1, "es_start_epoch": 0, "factor": 1.1}


def test_a_rolled_back_run_reads_back_as_the_live_history_and_checkpoints_the_new_state(tmp_path):
    pytest.importorskip("workbench.analysis.sharpness")
    torch.set_num_threads(1)
    s = Searcher(tiny_config(method="darts-ada", method_options=ADA, epochs=3))
    live = History.attach(s)
    store = RunStore(tmp_path / "run", s)
    s.run()
    store.close()
    assert s.controller.outcome.rollbacks, "the settings must make DARTS-ADA roll back"
    run = load_run(tmp_path / "run")
    assert run.bad_lines == []  # the re-run steps are a rollback, not corrupt lines
    assert np.array_equal(run.history.steps, live.steps)
    assert np.allclose(run.history.weights("cell"), live.weights("cell"))
    assert [(e.epoch, e.step) for e in run.history.epochs] == [(e.epoch, e.step) for e in live.epochs]
    assert [g for _, g in run.genotypes] == [e.genotype for e in live.epochs]
    # every checkpoint holds the state the search had when it passed that step for the last time
    final_wd = s.optimizer.param_groups[0]["weight_decay"]
    for ck in run.checkpoints:
        sd = load(ck)
        if int(sd["step"]) == s.step_count:
            assert sd["optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(final_wd)
    rolled_back_to = s.controller.outcome.rollbacks[-1][1]  # the epoch whose end state the search went back to
    re_run_end = (rolled_back_to + 2) * s.steps_per_epoch  # the end of the first epoch that was run again
    re_run = [ck for ck in run.checkpoints if int(load(ck)["step"]) == re_run_end]
    assert len(re_run) == 1
    assert load(re_run[0])["optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(final_wd)

"""Sharpness tracking on a live search and RobustDARTS early stopping (EVLocalAvg semantics)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import AnalysisResult, EventBus, Searcher
from workbench.analysis import (
    EarlyStopping,
    compute_sharpness,
    dense_hessian,
    run_with_early_stopping,
    track_sharpness,
)
from workbench.analysis.common import batch_loss, searcher_batches, softmax_weights


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            {n: m.training for n, m in model.named_modules()},
            {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})


def _assert_same_state(model, before):
    sd, modes, grads = before
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert {n: m.training for n, m in model.named_modules()} == modes
    for n, p in model.named_parameters():
        assert (p.grad is None) == (grads[n] is None), n


# -- EarlyStopping: Appendix A vector and an independent re-derivation ----------------------------

def _reference_trigger(evs: list[float], epochs: int, window=5, delta=4, factor=1.3, ev_freq=2, start=10):
    """Brute force from the written rule (ALGORITHMS.md §4.3): (trigger epoch, stop epoch) or None."""
    la = []
    half = math.ceil(window / 2)
    for i, _ in enumerate(evs):
        e = i * ev_freq
        if e == epochs - 1:
            break
        n = i + 1
        if n < half:
            continue
        la.append(float(np.mean(evs[:n])) if n < window else float(np.mean(evs[n - window:n])))
        la_epoch = e - ev_freq * (window // 2)
        if la_epoch - ev_freq * delta >= start and len(la) > delta and la[-1] / la[-1 - delta] > factor:
            return e, la_epoch - ev_freq * delta
    return None


def test_appendix_vector_first_check_and_offset():
    es = EarlyStopping(window=5, delta=4, factor=1.3, ev_freq=2, start=10, epochs=50)
    assert es.first_check_epoch() == 22
    # a huge jump at epoch 12: the ratio exceeds 1.3 from epoch 12 on, but no check is allowed before 22
    for e in range(0, 50, 2):
        fired = es.observe(e, 1.0 if e < 12 else 100.0)
        if e < 22:
            assert not fired
        if fired:
            break
    assert es.trigger_epoch == 22 and es.stop_epoch == 10


@pytest.mark.parametrize("jump", [12, 20, 26, 30, 38, 44])
def test_trigger_stops_twelve_epochs_earlier_and_matches_the_written_rule(jump):
    evs = [1.0 + 0.01 * i if 2 * i < jump else 5.0 for i in range(25)]
    es = EarlyStopping()
    for i, v in enumerate(evs):
        if es.observe(2 * i, v, genotype=f"g{2 * i}"):
            break
    want = _reference_trigger(evs, 50)
    assert want is not None
    assert (es.trigger_epoch, es.stop_epoch) == want
    assert es.trigger_epoch - es.stop_epoch == 12
    assert es.genotypes[es.stop_epoch] == f"g{es.stop_epoch}"


def test_no_trigger_on_slow_growth_and_tail_averages_at_last_epoch():
    es = EarlyStopping(epochs=50)
    epochs = list(range(0, 50, 2)) + [49]
    evs = [1.0 + 0.005 * e for e in epochs]  # +25% over the whole search: below the 1.3 ratio
    for e, v in zip(epochs, evs):
        assert not es.observe(e, v)
    assert _reference_trigger(evs, 50) is None
    assert len(es.local_avg) == len(es.ev) == 26  # the last epoch appends the shrinking windows 5, 4, 3
    assert es.local_avg[-3:] == pytest.approx([np.mean(evs[-5:]), np.mean(evs[-4:]), np.mean(evs[-3:])])
    assert es.la_epochs[4] == 0 and es.la_epochs[48] == 44 and es.la_epochs[0] == -1


def test_early_stopping_rejects_bad_settings():
    with pytest.raises(ValueError, match="window"):
        EarlyStopping(window=0)
    es = EarlyStopping()
    with pytest.raises(ValueError, match="no eigenvalue"):
        es.check(4)


# -- sharpness on a search ------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    s = Searcher(tiny_config(space="nb201", arch_lr=1e-2))
    s.run(6)
    return s


def test_compute_sharpness_methods_agree_and_restore_the_model(trained):
    s = trained
    s.model.eval()  # an unusual mode must survive too
    s.model.cells[0].train()
    before = _state(s.model)
    dense = compute_sharpness(s, "dense", k=3)
    _assert_same_state(s.model, before)
    power = compute_sharpness(s, "power", tol=1e-9, iters=1000)
    lanc = compute_sharpness(s, "lanczos", k=3)
    _assert_same_state(s.model, before)
    assert dense.n_alphas == 30 and len(dense.top_k) == 3 and dense.top_k[0] >= dense.top_k[1] >= dense.top_k[2]
    assert power.eigenvalue == pytest.approx(dense.eigenvalue, rel=1e-3)
    assert lanc.top_k == pytest.approx(dense.top_k, rel=1e-3)
    s.model.train()


def test_dense_sharpness_is_the_robustdarts_matrix(trained):
    s = trained
    batches = searcher_batches(s, "val", 1)
    s.model.train()
    H = dense_hessian(lambda: batch_loss(s.model, batches, softmax_weights(s.model), objective=s.objective), s.model.arch_parameters(),
                      weight_decay=s.config.arch_weight_decay)
    res = compute_sharpness(s, "dense", k=1)
    assert res.eigenvalue == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-5)
    # the arch weight decay term shifts the spectrum by exactly lambda
    res0 = compute_sharpness(s, "dense", k=1, weight_decay=0.0)
    assert res.eigenvalue - res0.eigenvalue == pytest.approx(s.config.arch_weight_decay, rel=1e-3)


def test_tracker_emits_every_n_steps_and_leaves_the_search_unchanged():
    bus = EventBus(strict=True)
    seen = []
    bus.subscribe(seen.append, kinds=(AnalysisResult,))
    cfg = tiny_config(epochs=1)
    s = Searcher(cfg, bus=bus)
    tracker = track_sharpness(s, every=2, method="dense", k=2)
    s.run()
    plain = Searcher(cfg)
    plain.run()
    assert [e.step for e in seen] == [2, 4] and all(e.kind == "sharpness" for e in seen)
    json.dumps(seen[0].values, allow_nan=False)  # the run store writes them as JSON
    assert len(seen[0].values["top_k"]) == 2 and seen[0].values["eigenvalue"] == seen[0].values["top_k"][0]
    for a, b in zip(s.model.parameters(), plain.model.parameters()):  # measuring did not change the search
        assert torch.equal(a, b)
    for (n, a), (_, b) in zip(s.model.named_buffers(), plain.model.named_buffers()):
        assert torch.equal(a, b), n
    tracker.close()


def test_early_stop_rolls_back_to_the_stop_epoch():
    cfg = tiny_config(epochs=5)
    s = Searcher(cfg)
    es = EarlyStopping(window=3, delta=1, factor=1e-9, ev_freq=1, start=0, epochs=5)  # fires at the first check
    assert es.first_check_epoch() == 2
    tracker = track_sharpness(s, every=1, unit="epoch", method="dense", early_stopping=es)
    out = run_with_early_stopping(s, tracker, mode="stop")
    assert out.stopped and out.stop_epoch == 0
    reference = Searcher(cfg)
    reference.run(reference.steps_per_epoch)  # the state at the end of epoch 0
    assert s.step_count == reference.step_count
    for a, b in zip(s.model.arch_parameters(), reference.model.arch_parameters()):
        assert torch.equal(a, b)
    assert s.genotype() == reference.genotype() == tracker.early_stopping.genotypes[0]


def test_ada_raises_weight_decay_until_the_maximum():
    events = []
    bus = EventBus(strict=True)
    bus.subscribe(events.append, kinds=(AnalysisResult,))
    s = Searcher(tiny_config(epochs=4), bus=bus)
    es = EarlyStopping(window=3, delta=1, factor=1e-9, ev_freq=1, start=0, epochs=4)
    tracker = track_sharpness(s, every=1, unit="epoch", early_stopping=es)
    out = run_with_early_stopping(s, tracker, mode="ada", mul_factor=10, max_weight_decay=3e-3)
    assert s.finished and not out.stopped
    assert len(out.rollbacks) == 1 and out.rollbacks[0][:2] == (2, 0)
    assert out.weight_decay == pytest.approx(3e-3)
    assert s.optimizer.param_groups[0]["weight_decay"] == pytest.approx(3e-3)
    assert sum(e.kind == "early_stop" for e in events) == 2  # fired twice; the second time wd was at its maximum


def test_tracker_validates_its_options():
    s = Searcher(tiny_config(epochs=2))
    with pytest.raises(ValueError, match="unit='epoch'"):
        track_sharpness(s, every=1, early_stopping=EarlyStopping(epochs=2, ev_freq=1))
    with pytest.raises(ValueError, match="method"):
        track_sharpness(s, method="exact")
    with pytest.raises(ValueError, match="epochs"):
        track_sharpness(s, unit="epoch", every=2, early_stopping=EarlyStopping())


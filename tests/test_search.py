"""The search loop: events, determinism, resume, failure handling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import (
    EpochEnded,
    EventBus,
    NonFiniteLossError,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    Searcher,
    StepEnded,
)


def _record(bus):
    seen = []
    bus.subscribe(seen.append)
    return seen


def test_event_order_and_payloads():
    bus = EventBus(strict=True)
    seen = _record(bus)
    s = Searcher(tiny_config(), bus=bus)
    s.run()
    kinds = [type(e) for e in seen]
    spe = s.steps_per_epoch
    assert kinds == [RunStarted] + ([StepEnded] * spe + [EpochEnded]) * 2 + [RunFinished]
    step = seen[1]
    assert step.step == 1 and step.epoch == 0
    assert set(step.alphas) == {"cell"} and step.alphas["cell"].shape == (3, 4)
    assert isinstance(step.alphas["cell"], np.ndarray)
    assert np.allclose(step.weights["cell"].sum(1), 1)
    assert step.lr == pytest.approx(0.025)
    ep = [e for e in seen if isinstance(e, EpochEnded)]
    assert [e.epoch for e in ep] == [0, 1] and 0 <= ep[-1].val_metrics["accuracy"] <= 1
    assert seen[-1].genotype == s.genotype()


def test_alphas_in_events_are_copies():
    s = Searcher(tiny_config())
    ev = s.step()
    ev.alphas["cell"][:] = 99
    assert not (s.alphas()["cell"] == 99).any()


def test_observer_that_raises_is_isolated(caplog):
    bus = EventBus()
    calls = []

    def bad(event):
        calls.append(event)
        raise RuntimeError("observer bug")

    bus.subscribe(bad)
    seen = _record(bus)
    s = Searcher(tiny_config(epochs=1), bus=bus)
    s.run()
    assert s.finished and isinstance(seen[-1], RunFinished)
    assert len(calls) == len(seen)
    assert "observer" in caplog.text and "observer bug" in caplog.text


def test_unsubscribe_and_kinds_filter():
    bus = EventBus(strict=True)
    only_epochs = []
    unsub = bus.subscribe(only_epochs.append, kinds=(EpochEnded,))
    s = Searcher(tiny_config(), bus=bus)
    s.run(s.steps_per_epoch)
    assert [type(e) for e in only_epochs] == [EpochEnded]
    unsub()
    s.run()
    assert len(only_epochs) == 1


def test_alphas_are_not_in_weight_optimizer_and_arch_step_comes_first():
    s = Searcher(tiny_config())
    opt_ids = {id(p) for g in s.optimizer.param_groups for p in g["params"]}
    assert not any(id(a) in opt_ids for a in s.model.arch_parameters())
    arch_ids = {id(p) for g in s.arch_optimizer.param_groups for p in g["params"]}
    assert arch_ids == {id(a) for a in s.model.arch_parameters()}
    # arch step first: the first step's validation metrics are from the untouched initial weights
    s2 = Searcher(tiny_config())
    w0 = [p.detach().clone() for p in s2.model.weight_parameters()]
    ev = s2.step()
    s3 = Searcher(tiny_config())
    s3.train_stream.next()
    xb, yb = s3.val_stream.next()
    with torch.no_grad():
        w, a = s3.mixing_weights()
        s3.model.train()
        loss = torch.nn.functional.cross_entropy(s3.model(xb, w, a), yb)
    assert ev.val_loss == pytest.approx(float(loss), rel=1e-6)
    assert any(not torch.equal(p, q) for p, q in zip(w0, s2.model.weight_parameters()))


@pytest.mark.parametrize("method", ["darts-v1", "darts-v2"])
def test_resume_equals_uninterrupted(method):
    cfg = tiny_config(method=method, epochs=3)
    full = Searcher(cfg)
    full_events = full.run()
    part = Searcher(cfg)
    part.run(7)  # stop mid-epoch
    state = part.state_dict()
    resumed = Searcher(cfg)
    resumed.load_state_dict(state)
    rest = resumed.run()
    assert len(rest) == len(full_events) - 7
    for a, b in zip(rest, full_events[7:]):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
        assert np.array_equal(a.alphas["cell"], b.alphas["cell"])
    for (k, v), (_, v2) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(v, v2), k


def test_same_seed_same_search_other_seed_differs():
    a, b, c = Searcher(tiny_config()), Searcher(tiny_config()), Searcher(tiny_config(seed=1))
    ea, eb, ec = a.run(5), b.run(5), c.run(5)
    assert all(np.array_equal(x.alphas["cell"], y.alphas["cell"]) for x, y in zip(ea, eb))
    assert not np.array_equal(ea[-1].alphas["cell"], ec[-1].alphas["cell"])


def test_lr_schedule_is_darts_cosine():
    s = Searcher(tiny_config(epochs=50))
    assert s.lr(0) == pytest.approx(0.025)
    assert s.lr(1) == pytest.approx(0.024976, abs=1e-6)
    assert s.lr(25) == pytest.approx(0.013)
    assert s.lr(49) == pytest.approx(0.001024, abs=1e-6)


def test_op_switched_off_mid_search_gets_zero_weight_thereafter():
    bus = EventBus(strict=True)
    seen = _record(bus)
    s = Searcher(tiny_config(), bus=bus)
    s.run(3)
    s.set_op_enabled("cell", "skip_connect", False)
    o = s.space.ops.index("skip_connect")
    evs = s.run(4)
    assert any(isinstance(e, OpMaskChanged) and e.op == "skip_connect" and not e.enabled for e in seen)
    assert all((e.weights["cell"][:, o] == 0).all() for e in evs)
    assert all(op != "skip_connect" for _, op, _ in s.genotype().cell("cell").edges())
    s.set_op_enabled("cell", "skip_connect", True)
    assert (s.run(1)[0].weights["cell"][:, o] > 0).all()


def test_nan_loss_stops_with_clear_error_and_keeps_state():
    bus = EventBus()
    seen = _record(bus)
    s = Searcher(tiny_config(), bus=bus)
    s.run(2)
    alphas = s.alphas()
    with torch.no_grad():
        s.model.classifier.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 3.*not applied"):
        s.step()
    assert isinstance(seen[-1], RunFailed) and "nan" in seen[-1].error
    assert np.array_equal(s.alphas()["cell"], alphas["cell"])
    assert s.step_count == 2
    with pytest.raises(RuntimeError, match="failed earlier"):
        s.step()


def test_finished_search_refuses_more_steps():
    s = Searcher(tiny_config(epochs=1))
    s.run()
    with pytest.raises(RuntimeError, match="finished"):
        s.step()


def test_bad_config_values_are_rejected():
    with pytest.raises(ValueError, match=r"SearchConfig\.epochs=0 is not accepted: expected an int >= 1"):
        tiny_config(epochs=0)
    with pytest.raises(ValueError, match="train_portion"):
        tiny_config(train_portion=1.5)
    with pytest.raises(KeyError, match="unknown method 'darts-v3'.*known: darts-v1, darts-v2"):
        Searcher(tiny_config(method="darts-v3"))


def test_config_round_trips_through_dict():
    from workbench import SearchConfig
    cfg = tiny_config(removed_ops=("none",), method_options={"r": 0.02}, method="darts-v2")
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown search config field"):
        SearchConfig.from_dict({"epochz": 3})


def test_load_state_from_other_config_is_rejected():
    a = Searcher(tiny_config())
    b = Searcher(tiny_config(removed_ops=("none",)))
    with pytest.raises(ValueError, match="ops"):
        b.load_state_dict(a.state_dict())


def test_history_forgets_steps_undone_by_a_rollback():
    from workbench.history import History
    cfg = tiny_config(epochs=3)
    s = Searcher(cfg)
    h = History.attach(s)
    s.run(4)
    state = s.state_dict()
    s.run(5)
    assert len(h) == 9
    s.load_state_dict(state)  # roll back to step 4, then continue
    s.run(2)
    assert list(h.steps) == [1, 2, 3, 4, 5, 6]
    fresh = Searcher(cfg)
    evs = fresh.run(6)
    assert np.array_equal(h.alphas("cell")[-1], evs[-1].alphas["cell"])

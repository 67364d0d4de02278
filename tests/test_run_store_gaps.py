"""Issue 9, the run store's last gaps: whole-checkpoint hashing, validate-before-apply, config.json checks,
corrupt log lines, orphan temporary files, and a failed step that is really not applied (every method)."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import NonFiniteLossError, Searcher
from workbench import serialize as ser
from workbench.methods import METHODS
from workbench.runs import RunError, RunStore, list_checkpoints, load_run, read_run_info, resume
from workbench.serialize import CheckpointError

CFG = tiny_config(epochs=3)  # 5 steps per epoch, 15 steps
PRESETS = [n for n in METHODS.names() if METHODS.get(n).__module__ == "workbench.methods.presets"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("gaps") / "run"
    s = Searcher(CFG)
    store = RunStore(out, s)
    s.run()
    store.close()
    return out, s


@pytest.fixture
def run_copy(finished_run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(finished_run[0], out)
    return out


def _flat(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        return {prefix: obj.clone()}
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _flat(val, f"{prefix}/{key}").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, val in enumerate(obj) for k, v in _flat(val, f"{prefix}/{i}").items()}
    return {prefix: obj}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


# ------------------------------------------------------------------ (a) the whole checkpoint is hashed
def test_one_edited_digit_in_the_json_tree_is_detected_and_resume_falls_back(run_copy, caplog):
    newest = run_copy / "checkpoints" / "step_00000015.json"
    text = newest.read_text()
    i = text.index('"step":15')
    newest.write_text(text[:i] + '"step":14' + text[i + len('"step":15'):])  # one digit of the tree
    with pytest.raises(CheckpointError, match=r"step_00000015\.json: the header's sha256 does not match"):
        ser.load(newest)
    with caplog.at_level(logging.WARNING):
        s, store = resume(run_copy)
    store.close()
    assert s.step_count == 10 and "step_00000015.json cannot be loaded" in caplog.text


def test_an_edited_float_in_the_tree_is_detected(tmp_path):
    ser.save(tmp_path / "ck", {"lr": 0.025, "w": torch.ones(3)})
    p = tmp_path / "ck.json"
    p.write_text(p.read_text().replace("0.025", "0.026"))
    with pytest.raises(CheckpointError, match="header's sha256"):
        ser.load(tmp_path / "ck")


def test_checkpoints_of_the_previous_format_still_load(tmp_path):
    ser.save(tmp_path / "ck", {"w": torch.arange(4.0), "step": 3})
    p = tmp_path / "ck.json"
    header = json.loads(p.read_text())
    header["format"] = "workbench-checkpoint/1"
    del header["header_sha256"]
    p.write_text(json.dumps(header))
    back = ser.load(tmp_path / "ck")
    assert back["step"] == 3 and torch.equal(back["w"], torch.arange(4.0))


# ------------------------------------------------------------------ (b) validate before applying anything
def _searcher_and_state():
    s = Searcher(CFG)
    s.run(3)
    good = s.state_dict()
    s.run(2)  # the searcher is now elsewhere: a rejected load must leave it exactly here
    return s, good


def _bool_weight(sd):
    k = next(k for k, v in sd["model"].items() if v.is_floating_point() and v.ndim == 4)
    sd["model"][k] = sd["model"][k] > 0
    return k


def _int_weight(sd):
    k = next(k for k, v in sd["model"].items() if v.is_floating_point() and v.ndim == 2)
    sd["model"][k] = sd["model"][k].long()
    return k


def _bad_momentum(sd):
    entry = next(iter(sd["optimizer"]["state"].values()))
    entry["momentum_buffer"] = torch.zeros(3, 3)
    return "momentum_buffer"


def _bad_adam(sd):
    entry = next(iter(sd["arch_optimizer"]["state"].values()))
    entry["exp_avg"] = entry["exp_avg"][:1]
    return "exp_avg"


def _mask_all_false(sd):
    k = next(k for k in sd["model"] if k.startswith("mask_"))
    sd["model"][k] = torch.zeros_like(sd["model"][k])
    return "without any enabled option"


def _nan_weight(sd):
    k = next(k for k, v in sd["model"].items() if v.is_floating_point())
    sd["model"][k] = sd["model"][k].clone().fill_(float("nan"))
    return "NaN"


def _bad_stream(sd):
    sd["val_stream"]["perm"] = sd["val_stream"]["perm"].float()
    return "val_stream"


def _bad_generator(sd):
    sd["generator"] = sd["generator"][:10]
    return "generator"


@pytest.mark.parametrize("damage", [_bool_weight, _int_weight, _bad_momentum, _bad_adam, _mask_all_false,
                                    _nan_weight, _bad_stream, _bad_generator])
def test_a_state_that_does_not_fit_is_rejected_and_nothing_is_applied(damage):
    s, good = _searcher_and_state()
    sd = good
    what = damage(sd)
    before = _flat(s.state_dict())
    with pytest.raises(CheckpointError, match="does not fit this search") as info:
        s.load_state_dict(sd)
    assert what.split(".")[-1] in str(info.value)
    _same(_flat(s.state_dict()), before)
    assert s.step_count == 5


def test_resume_skips_a_checkpoint_with_wrong_dtypes(run_copy, caplog):
    newest = list_checkpoints(run_copy)[-1]
    state = ser.load(newest)
    _bool_weight(state)
    ser.save(newest, state, ser.read_meta(newest))  # consistent hashes, wrong content
    with caplog.at_level(logging.WARNING):
        s, store = resume(run_copy)
    store.close()
    assert s.step_count == 10 and "bool tensor" in caplog.text


# ------------------------------------------------------------------ (c) config.json
@pytest.mark.parametrize("edit, message", [
    (lambda info: info["config"].update(epochs="3"), r"config.*SearchConfig\.epochs='3' is not accepted"),
    (lambda info: info["config"].pop("batch_size"), r"key 'config\.batch_size' is missing"),
    (lambda info: info["config"].update(lr=None), r"SearchConfig\.lr=None"),
    (lambda info: info.pop("space"), r"key 'space' is missing"),
    (lambda info: info.update(space=["nb201"]), r"key 'space' must be an object, got list"),
    (lambda info: info["space"].update(name=3), r"key 'space\.name' must be a string"),
    (lambda info: info.update(initial_masks={"cell": [[1, 0]]}), r"key 'initial_masks\.cell'"),
    (lambda info: info.update(config=[]), r"key 'config' must be an object"),
])
def test_config_json_with_a_wrong_type_or_missing_key_names_the_key(run_copy, edit, message):
    path = run_copy / "config.json"
    info = json.loads(path.read_text())
    edit(info)
    path.write_text(json.dumps(info))
    with pytest.raises(RunError, match=message):
        load_run(run_copy)
    with pytest.raises(RunError, match=message):
        resume(run_copy)


def test_config_json_without_a_later_added_field_still_loads(run_copy):
    path = run_copy / "config.json"
    info = json.loads(path.read_text())
    del info["config"]["objective"]  # run folders from before objectives
    path.write_text(json.dumps(info))
    assert load_run(run_copy).finished


# ------------------------------------------------------------------ (d) corrupt lines in the middle
def test_corrupt_middle_lines_never_make_a_run_unloadable_or_unresumable(run_copy, finished_run):
    steps = (run_copy / "steps.jsonl").read_bytes().split(b"\n")
    steps[6] = b'{"step": 7, "epoch": 1, "train_lo\x00ss'  # garbage in the middle
    steps[8] = b'{"step": "nine"}'  # valid JSON, not a valid record
    (run_copy / "steps.jsonl").write_bytes(b"\n".join(steps))
    events = (run_copy / "events.jsonl").read_bytes().split(b"\n")
    events.insert(1, b"[1, 2, ")
    (run_copy / "events.jsonl").write_bytes(b"\n".join(events))
    run = load_run(run_copy)
    assert run.skipped_lines == 3 and run.finished
    assert sorted((b.file, b.line) for b in run.bad_lines) == [("events.jsonl", 2), ("steps.jsonl", 7),
                                                              ("steps.jsonl", 9)]
    assert len(run.history) == 13
    s, store = resume(run_copy, epochs=4)  # continue the finished run by one epoch
    s.run()
    store.close()
    run = load_run(run_copy)
    assert run.skipped_lines == 0 and run.finished and len(run.history) == 18
    discarded = [json.loads(line) for line in (run_copy / "discarded.jsonl").read_text().splitlines()]
    assert sorted(d["corrupt_line"] for d in discarded if "corrupt_line" in d) == [2, 7]
    assert {"file": "steps.jsonl", "row": {"step": "nine"}} in [
        {k: d[k] for k in ("file", "row")} for d in discarded if "row" in d]
    assert read_run_info(run_copy)["resumes"][-1]["corrupt_lines"]


# ------------------------------------------------------------------ (e) orphan temporary files
def test_orphan_tmp_files_are_removed_on_resume(run_copy):
    dead = 2**22 + 12345  # above Linux's pid_max: no such process
    orphans = [run_copy / "checkpoints" / f".step_00000020.safetensors.{dead}.0123abcd.tmp",
               run_copy / f".config.json.{dead}.deadbeef.tmp"]
    for p in orphans:
        p.write_bytes(b"half a checkpoint")
    alive = run_copy / "checkpoints" / f".step_00000020.json.{__import__('os').getpid()}.00000000.tmp"
    alive.write_bytes(b"being written by a live process")
    s, store = resume(run_copy)
    store.close()
    assert not any(p.exists() for p in orphans) and alive.exists()
    assert sorted(read_run_info(run_copy)["resumes"][-1]["removed_tmp_files"]) == sorted(
        str(p.relative_to(run_copy)) for p in orphans)


# ------------------------------------------------------------------ (f) a failed step is not applied
@pytest.mark.parametrize("half", ["train", "val"])
@pytest.mark.parametrize("method", PRESETS)
def test_a_non_finite_loss_leaves_every_method_at_its_last_good_state(method, half):
    """NaN in the weight half fails the weight step (for arch-first methods after the arch update, whose
    forward has also moved the BN statistics); NaN in the arch half fails the arch step (for GDAS after its
    weight step and momentum update). Either way the state is exactly the one before the step."""
    s = Searcher(tiny_config(method=method, epochs=3))
    s.run(2)  # momentum buffers and Adam moments exist
    before = _flat(s.state_dict())
    stream = s.train_stream if half == "train" else s.val_stream
    stream.x = torch.full_like(stream.x, float("nan"))
    with pytest.raises(NonFiniteLossError, match="not applied"):
        s.step()
    _same(_flat(s.state_dict()), before)
    assert all(p.grad is None for p in s.model.parameters())
    for name, b in s.model.named_buffers():
        if b.is_floating_point():
            assert torch.isfinite(b).all(), name


def test_the_first_step_failing_leaves_no_optimizer_state():
    s = Searcher(tiny_config(method="gdas"))
    s.val_stream.x = torch.full_like(s.val_stream.x, float("nan"))
    before = _flat(s.state_dict())
    with pytest.raises(NonFiniteLossError):
        s.step()
    assert not s.optimizer.state and not s.arch_optimizer.state
    _same(_flat(s.state_dict()), before)
    assert np.isfinite(s.alphas()["cell"]).all()

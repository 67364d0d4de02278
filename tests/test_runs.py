"""The run store: folder contents, reload, torn logs, resume bit for bit, corrupt checkpoints, NaN failures."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import NonFiniteLossError, SearchConfig, Searcher
from workbench.history import SCALARS, History
from workbench.runs import RunError, RunStore, list_checkpoints, load_run, read_run_info, resume
from workbench.serialize import CheckpointError

CFG = tiny_config(epochs=3)  # 5 steps per epoch, 15 steps


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """An uninterrupted run with a mask change mid-run, recorded both live and on disk."""
    torch.set_num_threads(1)  # module scope runs before conftest's per-test fixture; results depend on threads
    out = tmp_path_factory.mktemp("runs") / "full"
    s = Searcher(CFG)
    live = History.attach(s)
    store = RunStore(out, s, command=["python", "-m", "workbench", "search"])
    events = s.run(6)
    s.set_op_enabled("cell", "skip_connect", False)
    events += s.run()
    store.close()
    return out, s, live, events


def test_folder_layout_and_config(full_run):
    out, s, _, events = full_run
    assert {p.name for p in out.iterdir()} == {"config.json", "steps.jsonl", "epochs.jsonl", "events.jsonl",
                                               "checkpoints"}
    info = read_run_info(out)
    assert SearchConfig.from_dict(info["config"]) == CFG
    assert info["space"]["groups"][0]["options"] == list(s.space.ops) and info["method"] == "darts-v1"
    assert info["versions"]["torch"] and info["command"] == ["python", "-m", "workbench", "search"]
    steps = _lines(out / "steps.jsonl")
    assert [r["step"] for r in steps] == list(range(1, 16))
    assert np.array_equal(np.asarray(steps[-1]["alphas"]["cell"], np.float32), events[-1].alphas["cell"])
    assert [r["epoch"] for r in _lines(out / "epochs.jsonl")] == [0, 1, 2]
    kinds = [r["type"] for r in _lines(out / "events.jsonl")]
    assert kinds == ["RunStarted", "OpMaskChanged", "RunFinished"]
    # checkpoint at each epoch end (5, 10, 15); the finish does not duplicate step 15
    assert [p.name for p in list_checkpoints(out)] == ["step_00000005.json", "step_00000010.json",
                                                       "step_00000015.json"]


def test_reloaded_history_equals_live_history(full_run):
    out, s, live, _ = full_run
    run = load_run(out)
    h = run.history
    assert run.finished and run.status == "finished" and run.genotype == s.genotype()
    assert len(h) == len(live) == 15
    for k in SCALARS:
        assert np.array_equal(h.scalar(k), live.scalar(k)), k
    assert np.array_equal(h.alphas("cell"), live.alphas("cell"))
    assert np.array_equal(h.weights("cell"), live.weights("cell"))
    assert [(c.step, c.op, c.rows, c.enabled) for c in h.mask_changes] == [(6, "skip_connect", (0, 1, 2), False)]
    for step in range(1, 16):
        assert h.genotype_at(step) == live.genotype_at(step), step
    assert [g for _, g in run.genotypes] == [e.genotype for e in live.epochs]
    assert h.started == live.started and h.finished == live.finished


def test_a_run_folder_written_before_the_gpu_fields_still_loads(full_run, tmp_path):
    import shutil
    out = tmp_path / "old"
    shutil.copytree(full_run[0], out)
    info = json.loads((out / "config.json").read_text())
    for key in ("cuda_graphs", "deterministic"):  # SearchConfig fields added after earlier runs were written
        del info["config"][key]
    (out / "config.json").write_text(json.dumps(info))
    run = load_run(out)
    assert run.finished and run.config.cuda_graphs is True and run.config.deterministic is False
    assert run.genotype == load_run(full_run[0]).genotype


def test_torn_last_line_and_corrupt_middle_line_are_skipped_and_reported(full_run, tmp_path, caplog):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(full_run[0], out)
    raw = (out / "steps.jsonl").read_bytes()
    (out / "steps.jsonl").write_bytes(raw[: len(raw) - 40])  # killed mid-write of the last line
    with caplog.at_level(logging.WARNING):
        run = load_run(out)
    assert len(run.history) == 14 and "torn last line" in caplog.text
    assert run.skipped_lines == 1 and run.bad_lines[0].reason.startswith("torn")
    lines = raw.split(b"\n")
    lines[3] = lines[3][:20]
    (out / "steps.jsonl").write_bytes(b"\n".join(lines))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run = load_run(out)  # one corrupt line in the middle: skipped and reported, the run still loads
    assert len(run.history) == 14 and 4 not in list(run.history.steps) and run.finished
    assert [(b.file, b.line) for b in run.bad_lines] == [("steps.jsonl", 4)]
    assert "steps.jsonl: skipping line 4: corrupt line" in caplog.text


def test_refuses_a_non_empty_folder_and_a_different_run(full_run, tmp_path):
    out = full_run[0]
    before = (out / "config.json").read_bytes()
    s = Searcher(tiny_config(epochs=1))
    with pytest.raises(RunError, match="holds a run; refusing.*resume"):
        RunStore(out, s)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RunError, match="is not empty"):
        RunStore(tmp_path, s)
    with pytest.raises(RunError, match=r"different run: its config differs in \['seed'\]"):
        RunStore(out, Searcher(tiny_config(epochs=3, seed=1)), resume=True)
    assert (out / "config.json").read_bytes() == before


def test_killed_run_resumes_bit_for_bit(full_run, tmp_path):
    _, _, _, ref = full_run
    out = tmp_path / "killed"
    s = Searcher(CFG)
    store = RunStore(out, s)
    s.run(6)
    s.set_op_enabled("cell", "skip_connect", False)
    s.run(2)  # step 8; the last checkpoint is step 5 (end of epoch 0)
    store.sync()
    with open(out / "steps.jsonl", "a") as f:  # the process dies while writing step 9
        f.write('{"step": 9, "epoch": 1, "train_lo')
    del s, store  # no close(): like a killed process
    resumed, store2 = resume(out)
    assert resumed.step_count == 5
    steps = _lines(out / "steps.jsonl")
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5]
    discarded = _lines(out / "discarded.jsonl")
    assert sorted({d["row"]["step"] for d in discarded}) == [6, 7, 8]  # the torn line is dropped
    # the mask change at step 6 was after the checkpoint: the resumed search does it again
    resumed.run(1)
    resumed.set_op_enabled("cell", "skip_connect", False)
    rest = resumed.run()
    store2.close()
    assert len(rest) == 9
    for a, b in zip(rest, ref[6:], strict=True):
        assert a.step == b.step and np.array_equal(a.alphas["cell"], b.alphas["cell"]), a.step
    assert _without_seconds(_lines(out / "steps.jsonl")) == _without_seconds(_lines(full_run[0] / "steps.jsonl"))
    run = load_run(out)
    assert run.finished and run.genotype == full_run[1].genotype()
    assert len(read_run_info(out)["resumes"]) == 1


def test_corrupt_newest_checkpoint_falls_back_to_previous(full_run, tmp_path, caplog):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(full_run[0], out)
    newest = out / "checkpoints" / "step_00000015.safetensors"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x55
    newest.write_bytes(bytes(data))
    damaged = newest.read_bytes()
    with caplog.at_level(logging.WARNING):
        s, store = resume(out)
    store.close()
    assert s.step_count == 10 and "step_00000015.json cannot be loaded" in caplog.text
    assert newest.read_bytes() == damaged  # evidence kept
    (out / "checkpoints" / "step_00000010.json").write_text("{trunc")
    (out / "checkpoints" / "step_00000005.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"no checkpoint loads \(step_00000015\.json: .*sha256.*; "
                                              r"step_00000010\.json: .*not valid JSON.*; step_00000005\.json"):
        resume(out)


def test_nan_mid_run_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "nan"
    s = Searcher(CFG)
    store = RunStore(out, s)
    s.run(5)  # checkpoint at step 5
    good = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    s.config = s.config.replace(lr=1e30)  # the weights explode within a step or two
    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        s.run()
    assert s.step_count < 10  # failed before the next epoch end
    assert store.checkpoint() is None  # a failed search is never checkpointed
    store.close()
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == good
    run = load_run(out)
    assert run.failed and "NonFiniteLossError" in run.error and "nan" in run.error
    resumed, store2 = resume(out)
    assert resumed.step_count == 5 and resumed.config.lr == CFG.lr
    store2.close()
    assert load_run(out).status == "incomplete"  # the failure was discarded with the steps after step 5


def test_prune_keeps_newest_and_never_the_last_good_one(tmp_path):
    out = tmp_path / "prune"
    s = Searcher(tiny_config(epochs=4))
    store = RunStore(out, s, keep=2)
    s.run(15)
    assert [p.name for p in list_checkpoints(out)] == ["step_00000010.json", "step_00000015.json"]
    for name in ("step_00000010.safetensors", "step_00000015.safetensors"):
        (out / "checkpoints" / name).write_bytes(b"broken")
    s.run()  # writes step 20 and prunes to the newest 2
    assert [p.name for p in list_checkpoints(out)] == ["step_00000015.json", "step_00000020.json"]
    store.keep = 1
    (out / "checkpoints" / "step_00000020.safetensors").write_bytes(b"broken")
    store._prune()  # the newest is broken and so is 15: nothing verifies, keep the newest only
    assert [p.name for p in list_checkpoints(out)] == ["step_00000020.json"]
    store.close()


def test_prune_keeps_a_verified_checkpoint_when_newer_ones_are_broken(tmp_path):
    out = tmp_path / "prune2"
    s = Searcher(tiny_config(epochs=2))
    store = RunStore(out, s, keep=1, checkpoint_every=0)
    s.run(3)
    good = store.checkpoint()
    s.run(1)
    newest = store.checkpoint()  # prunes `good` (keep=1, newest verifies)
    assert list_checkpoints(out) == [newest]
    s.run(1)
    store.keep = 5
    third = store.checkpoint()
    third.with_suffix(".safetensors").write_bytes(b"broken")
    store.keep = 1
    store._prune()
    assert list_checkpoints(out) == [newest, third]  # `newest` is the newest good one: never pruned
    assert good not in list_checkpoints(out)
    store.close()

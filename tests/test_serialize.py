"""Pickle-free checkpoints: exact round trips, resume, and clear errors on damaged files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from workbench import Searcher
from workbench import serialize as ser
from workbench.serialize import CheckpointError


def _assert_same(a, b, path="root"):
    """Structural equality that also checks types (int vs bool, tuple vs list) and tensor dtypes."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), path
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_tree_round_trip_keeps_types_exactly(tmp_path):
    obj = {
        "ints": {0: "a", 7: (1, 2.5, None)}, "tuple_key": {(1, "x"): True}, "__tensor__": 3,
        "nested": [(), [], {}, (False, 0, 1.0), {"deep": ((torch.arange(3, dtype=torch.int16),),)}],
        "floats": [float("nan"), float("inf"), -float("inf"), -0.0, 1e-310],
        "t_bool": torch.tensor([True, False]), "t_u8": torch.zeros(0, dtype=torch.uint8),
        "scalar": torch.tensor(2.5, dtype=torch.float64), "np": np.arange(6, dtype=np.float32).reshape(2, 3),
    }
    tree, tensors = ser.flatten(obj)
    json.dumps(tree, allow_nan=False)  # strict JSON
    assert all(isinstance(t, torch.Tensor) for t in tensors.values()) and len(tensors) == 5
    _assert_same(ser.unflatten(tree, tensors), obj)
    path = ser.save(tmp_path / "ck", obj, meta={"step": 3})
    assert path == tmp_path / "ck.json" and (tmp_path / "ck.safetensors").is_file()
    _assert_same(ser.load(tmp_path / "ck"), obj)
    _assert_same(ser.load(tmp_path / "ck.safetensors"), obj)
    assert ser.read_meta(path) == {"step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]  # no temp files left


def test_unsupported_value_names_its_path(tmp_path):
    with pytest.raises(TypeError, match=r"\.model\.bad\[1\].*object"):
        ser.save(tmp_path / "x", {"model": {"bad": [1, object()]}})
    assert list(tmp_path.iterdir()) == []


def test_searcher_state_round_trip_then_resume_is_bit_exact(tmp_path):
    cfg = tiny_config(method="darts-v2", epochs=2)
    full = Searcher(cfg)
    ref = full.run()
    part = Searcher(cfg)
    part.run(7)  # mid-epoch: data iterator position, momentum, Adam state, RNG all matter
    state = part.state_dict()
    ser.save(tmp_path / "state", state)
    back = ser.load(tmp_path / "state")
    _assert_same(back, state)
    assert isinstance(next(iter(back["arch_optimizer"]["state"])), int)  # torch's int keys survive
    assert isinstance(back["arch_optimizer"]["param_groups"][0]["betas"], tuple)
    resumed = Searcher(cfg)
    resumed.load_state_dict(back)
    rest = resumed.run()
    assert len(rest) == len(ref) - 7
    for a, b in zip(rest, ref[7:], strict=True):
        assert np.array_equal(a.alphas["cell"], b.alphas["cell"]) and a.train_loss == b.train_loss
    for (k, v), (_, w) in zip(full.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


@pytest.fixture
def saved(tmp_path):
    state = {"w": torch.randn(64, 8), "step": 4, "opt": {"state": {0: {"m": torch.ones(3)}}}}
    ser.save(tmp_path / "ck", state)
    return tmp_path, state


def _damage_flip(folder):
    p = folder / "ck.safetensors"
    data = bytearray(p.read_bytes())
    data[-5] ^= 0xFF
    p.write_bytes(bytes(data))


def _damage_truncate_tensors(folder):
    p = folder / "ck.safetensors"
    p.write_bytes(p.read_bytes()[:-100])


def _damage_truncate_json(folder):
    p = folder / "ck.json"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _damage_format(folder):
    p = folder / "ck.json"
    d = json.loads(p.read_text())
    d["format"] = "someone-else/9"
    p.write_text(json.dumps(d))


def _damage_missing(folder):
    (folder / "ck.safetensors").unlink()


def _damage_consistent_garbage(folder):
    """Garbage whose size and hash match the header: only the safetensors parser can tell."""
    import hashlib
    blob = b"\x00" * 200
    (folder / "ck.safetensors").write_bytes(blob)
    p = folder / "ck.json"
    d = json.loads(p.read_text())
    d.update(size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    d["header_sha256"] = ser._header_hash(d)  # a consistent header too
    p.write_text(json.dumps(d))


@pytest.mark.parametrize("damage, message", [
    (_damage_flip, r"ck\.safetensors: sha256 does not match .*corrupt"),
    (_damage_truncate_tensors, r"ck\.safetensors: \d+ bytes, the header ck\.json says \d+ \(truncated"),
    (_damage_truncate_json, r"ck\.json: not valid JSON, the file is truncated"),
    (_damage_format, r"ck\.json: format is 'someone-else/9', expected 'workbench-checkpoint/2'"),
    (_damage_missing, r"ck\.safetensors: tensor file of checkpoint ck\.json not found"),
    (_damage_consistent_garbage, r"ck\.safetensors: not a readable safetensors file"),
])
def test_damaged_checkpoint_gives_clear_error_and_touches_nothing(saved, damage, message):
    folder, _ = saved
    (folder / "other.txt").write_text("keep me")
    damage(folder)
    before = _snapshot(folder)
    with pytest.raises(CheckpointError, match=message):
        ser.load(folder / "ck")
    assert _snapshot(folder) == before
    assert issubclass(CheckpointError, ValueError)


def test_verify_detects_corruption_without_decoding(saved):
    folder, _ = saved
    ser.verify(folder / "ck")
    _damage_flip(folder)
    with pytest.raises(CheckpointError, match="sha256"):
        ser.verify(folder / "ck.json")


def test_a_failed_write_leaves_the_previous_checkpoint(saved, monkeypatch):
    folder, state = saved
    before = _snapshot(folder)

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ser.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ser.save(folder / "ck", {"w": torch.zeros(2)})
    monkeypatch.undo()
    assert _snapshot(folder) == before  # no temp files, old pair intact
    _assert_same(ser.load(folder / "ck"), state)

"""Run-folder files: names and formats, JSON helpers, append-only logs, tolerant line readers, config.json."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from workbench.config import SearchConfig  # building one (checked) imports torch and the registries
from workbench.events import StepEnded

log = logging.getLogger(__name__)

RUN_FORMAT = "workbench-run/1"
CONFIG, STEPS, EPOCHS, EVENTS = "config.json", "steps.jsonl", "epochs.jsonl", "events.jsonl"
DISCARDED = "discarded.jsonl"
CKPT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"step_(\d+)\.json\Z")
_MAY_DIFFER_ON_RESUME = ("epochs", "device", "data_root")


class RunError(ValueError):
    """A run folder cannot be used as asked (not a run, a different run, corrupt log)."""


# ---------------------------------------------------------------------- JSON helpers
def _jsonable(o: Any) -> Any:
    """Numpy -> Python, non-finite floats -> None (strict JSON; readers map None back to NaN)."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    torch = sys.modules.get("torch")  # without torch imported, nothing is a tensor
    if torch is not None and isinstance(o, torch.Tensor):
        return _jsonable(o.detach().cpu().tolist())
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    if hasattr(o, "to_dict") and callable(o.to_dict):  # architectures (Genotype, Choices), choice groups
        return o.to_dict()
    return o


def _dumps(o: Any) -> str:
    return json.dumps(_jsonable(o), allow_nan=False, separators=(",", ":"))


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


class _Log:
    """An append-only JSON-lines file: flushed per line, fsync'ed every ``every`` lines and on demand."""

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every, self._pending = path, every, 0
        self._f: IO[str] | None = open(path, "a", encoding="utf-8")

    def write(self, obj: Any) -> None:
        if self._f is None:
            raise RunError(f"{self.path} is closed")
        self._f.write(_dumps(obj) + "\n")
        self._f.flush()
        self._pending += 1
        if self._pending >= self.every:
            self.sync()

    def sync(self) -> None:
        if self._f is not None and self._pending:
            os.fsync(self._f.fileno())
            self._pending = 0

    def close(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None


@dataclass(frozen=True)
class BadLine:
    """A log line that was skipped: unparsable JSON, not an object, or not a valid record of its file."""

    file: str
    line: int  # 1-based
    reason: str
    raw: str  # the line as text (undecodable bytes replaced), cut to 200 characters

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason, "raw": self.raw}


def _read_jsonl(path: Path, bad: list[BadLine] | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, in order.

    A line that is not a JSON object (a torn last line after a kill, or a line corrupted in the middle) is
    skipped with a warning and appended to ``bad``: one bad line never makes a run unreadable.
    """
    return [row for _, row in _numbered(path, bad)]


def _numbered(path: Path, bad: list[BadLine] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for the good lines of a JSON-lines file; see :func:`_read_jsonl`."""
    if not path.is_file():
        return []
    raw = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            if i == len(raw) - 1:  # no newline after it: the write was cut short
                reason = "torn last line (the process was probably killed while writing it)"  # see _truncate_logs
            else:
                reason = f"corrupt line ({exc})"
            _skip(bad, path, i + 1, reason, line)
            continue
        out.append((i + 1, row))
    return out


def _skip(bad: list[BadLine] | None, path: Path, line: int, reason: str, raw: Any) -> None:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else _dumps(raw)
    log.warning("%s: skipping line %d: %s", path, line, reason)
    if bad is not None:
        bad.append(BadLine(path.name, line, reason, text[:200]))


# ---------------------------------------------------------------------- log records
def _metrics(d: dict[str, Any], split: str) -> dict[str, float]:
    """A step's metrics by name (run folders before 0.2 stored ``train_acc`` / ``val_acc``)."""
    if f"{split}_metrics" in d:
        return {k: _num(v) for k, v in d[f"{split}_metrics"].items()}
    return {"accuracy": _num(d[f"{split}_acc"])} if f"{split}_acc" in d else {}


def _epoch_metrics(d: dict[str, Any]) -> dict[str, float] | None:
    if d.get("val_metrics") is not None:
        return {k: _num(v) for k, v in d["val_metrics"].items()}
    return {"accuracy": _num(d["val_acc"])} if d.get("val_acc") is not None else None


def _step_event(d: dict[str, Any]) -> StepEnded:
    arr = {k: {c: np.asarray(v, dtype=np.float32) for c, v in d[k].items()} for k in ("alphas", "weights")}
    return StepEnded(int(d["step"]), int(d["epoch"]), _num(d["train_loss"]), _num(d["val_loss"]),
                     _metrics(d, "train"), _metrics(d, "val"), _num(d["lr"]), _num(d["arch_lr"]), arr["alphas"],
                     arr["weights"], _num(d["seconds"]), {k: _num(v) for k, v in d.get("extras", {}).items()})



# ---------------------------------------------------------------------- folder layout
def read_run_info(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``config.json`` of a run folder (raises RunError if it is not one)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder: {CONFIG} not found")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise RunError(f"{path}: format is {info.get('format') if isinstance(info, dict) else None!r}, "
                       f"expected {RUN_FORMAT!r}")
    _check_info(info, path)
    return info


#: config.json keys: (required, accepted types). Keys added after the first release are optional.
_INFO_KEYS: dict[str, tuple[bool, tuple[type, ...]]] = {
    "config": (True, (dict,)), "space": (True, (dict,)), "initial_masks": (True, (dict,)),
    "method": (False, (str,)), "method_record": (False, (dict,)), "task": (False, (dict,)),
    "genotype_rule": (False, (str, dict, type(None))), "steps_per_epoch": (False, (int,)),
    "store": (False, (dict,)), "resumes": (False, (list,)), "command": (False, (list, type(None))),
}
#: SearchConfig fields a run folder may lack (added after run folders existed; their defaults are the old
#: behaviour). Every other field must be in config.json.
# fields added after run folders were first written: a folder without them gets the field's default
_OPTIONAL_CONFIG_KEYS = ("objective", "cuda_graphs", "deterministic")


def _check_info(info: dict[str, Any], path: Path) -> None:
    for key, (required, kinds) in _INFO_KEYS.items():
        if key not in info:
            if required:
                raise RunError(f"{path}: key {key!r} is missing; this config.json is incomplete or damaged")
            continue
        if not isinstance(info[key], kinds) or isinstance(info[key], bool):
            names = " or ".join("null" if k is type(None) else {"dict": "an object", "list": "a list", "str":
                                "a string", "int": "an integer"}[k.__name__] for k in kinds)
            raise RunError(f"{path}: key {key!r} must be {names}, got {type(info[key]).__name__} "
                           f"{_short(info[key])}")
    space = info["space"]
    if not isinstance(space.get("name"), str):
        raise RunError(f"{path}: key 'space.name' must be a string, got {_short(space.get('name'))}")
    if not isinstance(space.get("fingerprint", ""), (str, type(None))):
        raise RunError(f"{path}: key 'space.fingerprint' must be a string, got {_short(space.get('fingerprint'))}")
    for group, mask in info["initial_masks"].items():
        if not isinstance(mask, list) or not all(isinstance(r, list) and all(isinstance(v, bool) for v in r)
                                                 for r in mask):
            raise RunError(f"{path}: key 'initial_masks.{group}' must be a list of rows of true/false")
    for k in ("name", "objective", "fingerprint"):
        if k in info.get("task", {}) and not isinstance(info["task"][k], str):
            raise RunError(f"{path}: key 'task.{k}' must be a string, got {_short(info['task'][k])}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_config_keys(info: dict[str, Any], path: Path) -> None:
    """Every SearchConfig field a run folder must have is in config.json (else RunError naming it)."""
    known = {f.name for f in dataclasses.fields(SearchConfig)}
    if missing := sorted(k for k in known - set(info["config"]) if k not in _OPTIONAL_CONFIG_KEYS):
        raise RunError(f"{path / CONFIG}: key 'config.{missing[0]}' is missing (missing: {missing}); this "
                       "config.json is incomplete or damaged")


def _config_of(info: dict[str, Any], path: Path) -> SearchConfig:
    """The run's SearchConfig from config.json; a missing or invalid field raises RunError naming it."""
    _check_config_keys(info, path)
    try:
        return SearchConfig.from_dict(info["config"])
    except (ValueError, TypeError, KeyError) as exc:
        raise RunError(f"{path / CONFIG}: key 'config' holds an invalid search config: {exc}") from None


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint headers ``checkpoints/step_<n>.json``, oldest first (by step)."""
    folder = Path(run_dir) / CKPT_DIR
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.json") if (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def _versions() -> dict[str, str]:
    import torch

    from workbench import __version__
    return {"workbench": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}



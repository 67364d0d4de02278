"""The run store: a search recorded to a folder that survives a killed process.

DESIGN.md section 7 ("History / run store"). A :class:`RunStore` observes a
searcher's bus and writes, append-only and without pickle::

    config.json          SearchConfig + space (name, fingerprint, choice groups) + task (dataset, objective,
                         fingerprint) + method + decoding rule + initial option masks + versions + command
    steps.jsonl          one line per StepEnded (losses, metrics by name, extras, alphas and probabilities)
    epochs.jsonl         one line per EpochEnded (architecture as JSON and text, validation loss and metrics)
    events.jsonl         RunStarted, OpMaskChanged, AnalysisResult, RunFinished, RunFailed
    checkpoints/step_<n>.{json,safetensors}   Searcher.state_dict() via workbench.serialize

Every log line is flushed as it is written and fsync'ed every ``fsync_every``
lines and at each epoch end, so a killed process leaves a readable prefix
(at worst a torn last line). :func:`load_run` skips any line that is not a
valid record -- a torn last line, or one corrupted in the middle -- with a
warning, and lists them on ``Run.bad_lines``; :func:`resume` moves corrupt
lines to ``discarded.jsonl`` and removes temporary files left by a process
killed during an atomic write. ``config.json`` is checked key by key (a
missing key or a wrong type raises :class:`RunError` naming it). Checkpoints are
written at every ``checkpoint_every``-th epoch end and at the finish, never
after a RunFailed, and pruned to the newest ``keep`` (a good one is always
kept). :func:`resume` rebuilds the searcher from ``config.json`` and the
newest checkpoint that loads, cuts the logs back to that step (the cut lines
go to ``discarded.jsonl``), and re-attaches a store, so a resumed run's files
read as if it had never stopped.

Registered things are recorded by name; objects a user passed to the
:class:`~workbench.search.Searcher` (a space object, a dataset or task, a
:class:`~workbench.methods.Method`) are recorded by name *and* fingerprint:
:func:`resume` and :func:`load_run` take them again as keyword arguments and
refuse, with a message naming what differs, an object whose fingerprint does
not match (or a registered name that now means something else).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from workbench import serialize
from workbench.events import (
    AnalysisResult,
    EpochEnded,
    EventBus,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)
from workbench.history import SCALARS, History
from workbench.search import SearchConfig, Searcher
from workbench.serialize import CheckpointError
from workbench.spaces import ChoiceGroup, SearchSpace, space_names
from workbench.spaces.base import SPACES
from workbench.tasks import OBJECTIVES, Task

__all__ = ["RUN_FORMAT", "Run", "RunError", "RunStore", "list_checkpoints", "load_run", "read_run_info", "resume"]

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
    if isinstance(o, torch.Tensor):
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
_OPTIONAL_CONFIG_KEYS = ("objective",)


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


def _config_of(info: dict[str, Any], path: Path) -> SearchConfig:
    """The run's SearchConfig from config.json; a missing or invalid field raises RunError naming it."""
    d = info["config"]
    known = {f.name for f in dataclasses.fields(SearchConfig)}
    if missing := sorted(k for k in known - set(d) if k not in _OPTIONAL_CONFIG_KEYS):
        raise RunError(f"{path / CONFIG}: key 'config.{missing[0]}' is missing (missing: {missing}); this "
                       "config.json is incomplete or damaged")
    try:
        return SearchConfig.from_dict(d)
    except (ValueError, TypeError, KeyError) as exc:
        raise RunError(f"{path / CONFIG}: key 'config' holds an invalid search config: {exc}") from None


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint headers ``checkpoints/step_<n>.json``, oldest first (by step)."""
    folder = Path(run_dir) / CKPT_DIR
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.json") if (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def _space_of(cfg: SearchConfig, info: dict[str, Any], space: SearchSpace | None = None) -> SearchSpace:
    """The run's space: ``space`` if given, else the registered one; checked against the recorded fingerprint."""
    rec = info["space"]
    if space is None:
        if cfg.space not in space_names():
            raise RunError(f"this run used a space object named {rec['name']!r} that is not registered; pass it "
                           f"again (resume(run_dir, space=...) / load_run(run_dir, space=...)); registered spaces: "
                           f"{', '.join(space_names())}")
        space = SPACES.get(cfg.space)
    if cfg.removed_ops:
        space = space.with_ops(remove=cfg.removed_ops)  # type: ignore[attr-defined]
    want = rec.get("fingerprint")
    if want is not None and space.fingerprint() != want:
        given = "the space passed" if rec.get("registered") is False else f"the registered space {cfg.space!r}"
        raise RunError(f"{given} (fingerprint {space.fingerprint()}) is not the space this run used "
                       f"({rec['name']!r}, fingerprint {want}, choices "
                       f"{[(g['name'], g['options']) for g in rec.get('groups', [])]}); pass the same space object "
                       "again: resume(run_dir, space=...)")
    if want is None and "ops" in rec and list(getattr(space, "ops", ())) != rec["ops"]:  # run folders before 0.2
        raise RunError(f"recorded ops {rec['ops']} differ from space {cfg.space!r} minus "
                       f"{list(cfg.removed_ops)} = {list(getattr(space, 'ops', ()))} in this version of workbench")
    return space


def _task_of(cfg: SearchConfig, info: dict[str, Any], task: Task | None, dataset: Any) -> Task | None:
    """The run's task (None = let the Searcher load it by name), checked against the recorded fingerprint."""
    rec = info.get("task")
    if task is None and dataset is not None:
        task = Task.of(dataset, cfg.objective)
    if rec is None or (task is None and rec.get("registered", True)):
        return task
    if task is None:
        raise RunError(f"this run searched on a dataset object {rec['name']!r} (objective {rec['objective']!r}) "
                       "that is not loadable by name; pass it again: resume(run_dir, dataset=...) or task=...")
    if task.fingerprint() != rec["fingerprint"]:
        raise RunError(f"the task passed ({task.name!r}, objective {task.objective.name!r}, fingerprint "
                       f"{task.fingerprint()}) is not the one this run used ({rec['name']!r}, objective "
                       f"{rec['objective']!r}, fingerprint {rec['fingerprint']}): different data or objective")
    return task


def _method_of(cfg: SearchConfig, info: dict[str, Any], method: Any) -> Any:
    rec = info.get("method_record", {})
    if method is None and rec.get("registered") is False:
        raise RunError(f"this run used a Method object {info.get('method')!r} that is not a registered preset; "
                       "pass it again: resume(run_dir, method=...)")
    if method is not None and getattr(method, "name", None) != info.get("method"):
        raise RunError(f"the method passed ({getattr(method, 'name', method)!r}) is not the one this run used "
                       f"({info.get('method')!r})")
    return method


def _versions() -> dict[str, str]:
    from workbench import __version__
    return {"workbench": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


# ---------------------------------------------------------------------- the store
class RunStore:
    """Records a searcher's events to ``out_dir`` and checkpoints it; see the module docstring."""

    def __init__(self, out_dir: str | os.PathLike[str], searcher: Searcher, checkpoint_every: int = 1,
                 keep: int = 3, *, command: Sequence[str] | None = None, fsync_every: int = 50,
                 resume: bool = False) -> None:
        if checkpoint_every < 0 or keep < 1 or fsync_every < 1:
            raise ValueError(f"need checkpoint_every >= 0 (0: only at the finish), keep >= 1 and fsync_every >= 1; "
                             f"got {checkpoint_every}, {keep}, {fsync_every}")
        self.dir = Path(out_dir)
        self.searcher, self.checkpoint_every, self.keep = searcher, checkpoint_every, keep
        self.failed: RunFailed | None = None
        self._last_ckpt_step: int | None = None
        if resume:
            self._check_same_run(read_run_info(self.dir))
        else:
            self._claim(command)
        (self.dir / CKPT_DIR).mkdir(exist_ok=True)
        self._logs = {name: _Log(self.dir / name, fsync_every) for name in (STEPS, EPOCHS, EVENTS)}
        self._unsubscribe = searcher.bus.subscribe(self)

    def _claim(self, command: Sequence[str] | None) -> None:
        if self.dir.exists() and any(self.dir.iterdir()):
            what = "holds a run" if (self.dir / CONFIG).is_file() else "is not empty"
            raise RunError(f"{self.dir} {what}; refusing to write into it. Choose a new output folder, or continue "
                           f"that run with `python -m workbench resume {self.dir}` / workbench.runs.resume()")
        self.dir.mkdir(parents=True, exist_ok=True)
        s = self.searcher
        info = {"format": RUN_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": s.config.to_dict(), "method": s.method.name,
                "method_record": {"registered": _method_registered(s)},
                "space": {"name": s.space.name, "fingerprint": s.space.fingerprint(),
                          "registered": _space_registered(s),
                          "groups": [g.to_dict() for g in s.space.choice_groups()]},
                "task": {"name": s.task.name, "objective": s.objective.name, "fingerprint": s.task.fingerprint(),
                         "registered": _task_registered(s)},
                "genotype_rule": s.method.genotype_rule, "steps_per_epoch": s.steps_per_epoch,
                "start_step": s.step_count, "initial_masks": s.masks(), "torch_threads": torch.get_num_threads(),
                "store": {"checkpoint_every": self.checkpoint_every, "keep": self.keep},
                "versions": _versions(), "command": list(command) if command is not None else None, "resumes": []}
        serialize.atomic_write_text(self.dir / CONFIG, json.dumps(_jsonable(info), indent=1, allow_nan=False))

    def _check_same_run(self, info: dict[str, Any]) -> None:
        mine, theirs = self.searcher.config.to_dict(), dict(info["config"])
        diff = sorted(k for k in set(mine) | set(theirs)
                      if k not in _MAY_DIFFER_ON_RESUME and _jsonable(mine.get(k)) != _jsonable(theirs.get(k)))
        fp = info["space"].get("fingerprint")
        same_space = (self.searcher.space.fingerprint() == fp if fp is not None
                      else info["space"].get("ops") == list(getattr(self.searcher.space, "ops", ())))
        if diff or not same_space:
            raise RunError(f"{self.dir} holds a different run: its config differs in {diff or ['space']}; "
                           "resume it with its own config (workbench.runs.resume) or choose a new folder")

    # -- observer ------------------------------------------------------------------------------
    def __call__(self, ev: Any) -> None:
        if isinstance(ev, StepEnded):
            row = {"step": ev.step, **{k: getattr(ev, k) for k in SCALARS}, "train_metrics": dict(ev.train_metrics),
                   "val_metrics": dict(ev.val_metrics), "extras": dict(ev.extras),
                   "alphas": dict(ev.alphas), "weights": dict(ev.weights)}
            self._logs[STEPS].write(row)
        elif isinstance(ev, EpochEnded):
            self._logs[EPOCHS].write({"epoch": ev.epoch, "step": ev.step, "genotype": ev.genotype.to_dict(),
                                      "genotype_text": str(ev.genotype), "val_loss": ev.val_loss,
                                      "val_metrics": ev.val_metrics})
            self.sync()
            if self.checkpoint_every and (ev.epoch + 1) % self.checkpoint_every == 0:
                self.checkpoint()
        elif isinstance(ev, (RunStarted, OpMaskChanged, AnalysisResult, RunFinished, RunFailed)):
            row = {"type": type(ev).__name__, **{k: getattr(ev, k) for k in ev.__dataclass_fields__}}
            if isinstance(ev, RunStarted):
                row.pop("config")  # already in config.json
                if ev.resumed:  # a rollback: the next checkpoint at a step seen before holds a new state
                    self._last_ckpt_step = None
            self._logs[EVENTS].write(row)
            if isinstance(ev, RunFailed):
                self.failed = ev
                self.sync()
                log.warning("search failed at step %d (%s); last good checkpoint kept: %s", ev.step, ev.error,
                            self.latest_checkpoint())
            elif isinstance(ev, RunFinished):
                self.sync()
                self.checkpoint()

    # -- commands ------------------------------------------------------------------------------
    def sync(self) -> None:
        """fsync every log now."""
        for lg in self._logs.values():
            lg.sync()

    def checkpoint(self) -> Path | None:
        """Write a checkpoint of the searcher now (between steps); returns its header path.

        Does nothing (returns None) after a failure: the last good checkpoint stays the newest.
        """
        s = self.searcher
        if s.failed or self.failed is not None:
            log.warning("not checkpointing a failed search (%s)", s.failed or self.failed.error)
            return None
        if self._last_ckpt_step == s.step_count:
            return self.latest_checkpoint()
        self.sync()  # the logs reach at least as far as the checkpoint
        meta = {"step": s.step_count, "epoch": s.step_count / s.steps_per_epoch, "finished": s.finished,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path = serialize.save(self.dir / CKPT_DIR / f"step_{s.step_count:08d}", s.state_dict(), meta)
        self._last_ckpt_step = s.step_count
        self._prune()
        return path

    def latest_checkpoint(self) -> Path | None:
        found = list_checkpoints(self.dir)
        return found[-1] if found else None

    def _prune(self) -> None:
        found = list_checkpoints(self.dir)
        if len(found) <= self.keep:
            return
        keep = set(found[-self.keep:])
        for p in reversed(found):  # never prune the newest checkpoint that verifies
            try:
                serialize.verify(p)
            except CheckpointError as exc:
                log.warning("checkpoint %s does not verify (%s)", p, exc)
                continue
            keep.add(p)
            break
        for p in found:
            if p not in keep:
                jpath, tpath = serialize.checkpoint_paths(p)
                jpath.unlink(missing_ok=True)  # the header first: it is the commit record
                tpath.unlink(missing_ok=True)

    def close(self) -> None:
        """Unsubscribe and close the logs (fsync'ed)."""
        self._unsubscribe()
        for lg in self._logs.values():
            lg.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------- reading a run back
@dataclass
class Run:
    """A run folder read back: config, rebuilt History, checkpoints and status."""

    path: Path
    config: SearchConfig
    info: dict[str, Any]
    history: History
    checkpoints: list[Path]
    genotypes: list[tuple[int, Any]] = field(default_factory=list)  # (epoch, architecture) per epoch end
    status: str = "incomplete"  # "finished", "failed", or "incomplete" (interrupted or still running)
    error: str | None = None
    bad_lines: list[BadLine] = field(default_factory=list)  # log lines skipped as corrupt (each also logged)

    @property
    def skipped_lines(self) -> int:
        """How many log lines were skipped as corrupt or torn (see ``bad_lines``)."""
        return len(self.bad_lines)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def genotype(self) -> Any:
        """The final genotype if finished, else the one at the last epoch end."""
        if self.history.finished is not None:
            return self.history.finished.genotype
        return self.genotypes[-1][1] if self.genotypes else None


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


def _other_event(d: dict[str, Any], config: dict[str, Any], space: SearchSpace) -> Any:
    d = dict(d)
    kind = d.pop("type")
    if kind == "OpMaskChanged":
        return OpMaskChanged(d["step"], d.get("group", d.get("cell_type")), d["op"],
                             tuple(d.get("rows", d.get("edges", ()))), d["enabled"])
    if kind == "AnalysisResult":
        return AnalysisResult(d["step"], d["kind"], d["values"])
    if kind == "RunFinished":
        return RunFinished(d["step"], space.arch_from_dict(d["genotype"]))
    if kind == "RunFailed":
        return RunFailed(d["step"], d["error"], d["error_type"])
    if kind == "RunStarted":
        if "groups" in d:
            groups = tuple(ChoiceGroup.from_dict(g) for g in d["groups"])
        else:  # run folders before 0.2
            groups = space.choice_groups()
        return RunStarted(d["step"], d["total_steps"], d["steps_per_epoch"], d["space"], d["method"], groups,
                          d.get("objective", "cross_entropy"), tuple(d.get("metrics", ("accuracy",))),
                          d.get("primary_metric", "accuracy"), d.get("higher_is_better", True), config,
                          d.get("resumed", False))
    raise RunError(f"unknown event type {kind!r} in {EVENTS}")


def _space_registered(s: Searcher) -> bool:
    """True when ``config.space`` names a registered space that is (after removed_ops) the searcher's space."""
    return s.provenance["space"] == "registered"


def _task_registered(s: Searcher) -> bool:
    """True when the data can be loaded again from the config alone (a registered dataset, loaded by name)."""
    return s.provenance["task"] == "registered"


def _method_registered(s: Searcher) -> bool:
    return s.provenance["method"] == "registered"


def load_run(run_dir: str | os.PathLike[str], *, space: SearchSpace | None = None) -> Run:
    """Read a run folder back (tolerates a torn last log line); its History gives the same genotype_at().

    A run of an unregistered space object needs that object again (``space=``; checked by fingerprint).

    Differences from the live History: RunStarted.config is the (current) config.json config, and
    AnalysisResult values come back as JSON types (lists, not numpy arrays); non-finite extras as NaN.
    """
    path = Path(run_dir)
    info = read_run_info(path)
    cfg = _config_of(info, path)
    space = _space_of(cfg, info, space)
    objective = OBJECTIVES.get(info.get("task", {}).get("objective", "cross_entropy")) \
        if info.get("task", {}).get("objective", "cross_entropy") in OBJECTIVES else None
    hist = History(space, info.get("genotype_rule"), objective.metric_names if objective else (),
                   objective.primary if objective else None)
    try:
        hist.initial_masks = {c: np.asarray(m, dtype=bool) for c, m in info["initial_masks"].items()}
    except ValueError as exc:  # ragged rows
        raise RunError(f"{path / CONFIG}: key 'initial_masks' is not a boolean matrix per group ({exc})") from None
    for g in hist.groups:
        if g.name in hist.initial_masks and hist.initial_masks[g.name].shape != tuple(g.shape):
            raise RunError(f"{path / CONFIG}: key 'initial_masks.{g.name}' has shape "
                           f"{hist.initial_masks[g.name].shape}, the space's group has {tuple(g.shape)}")
    bad: list[BadLine] = []
    last = 0
    for n, d in _numbered(path / STEPS, bad):
        try:
            ev = _step_event(d)
            if ev.step <= last:  # a rollback (DARTS-ADA, early stopping) re-ran these steps: keep the re-run
                hist.truncate(ev.step - 1)
            hist(ev)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            _skip(bad, path / STEPS, n, f"not a valid step record ({type(exc).__name__}: {exc})", d)
            continue
        last = ev.step
    genotypes = []
    for n, d in _numbered(path / EPOCHS, bad):
        try:
            g = space.arch_from_dict(d["genotype"])
            ev = EpochEnded(int(d["epoch"]), int(d["step"]), g, d["val_loss"], _epoch_metrics(d))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            _skip(bad, path / EPOCHS, n, f"not a valid epoch record ({type(exc).__name__}: {exc})", d)
            continue
        hist.epochs = [e for e in hist.epochs if e.step < ev.step]  # a re-run epoch replaces the rolled-back one
        genotypes = [(r.epoch, r.genotype) for r in hist.epochs]
        hist(ev)
        genotypes.append((ev.epoch, g))
    status, error = "incomplete", None
    for n, d in _numbered(path / EVENTS, bad):
        try:
            ev = _other_event(d, info["config"], space)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            _skip(bad, path / EVENTS, n, f"not a valid event record ({type(exc).__name__}: {exc})", d)
            continue
        if isinstance(ev, RunStarted):  # the logs were already cut back on resume: no rollback to replay
            hist.started = hist.started or ev
        else:
            hist(ev)
        if isinstance(ev, RunFinished):
            status, error = "finished", None
        elif isinstance(ev, RunFailed):
            status, error = "failed", f"{ev.error_type}: {ev.error}"
        elif isinstance(ev, RunStarted) and ev.resumed:
            status, error = "incomplete", None
    if bad:
        log.warning("%s: %d log line(s) were skipped as corrupt (Run.bad_lines lists them)", path, len(bad))
    return Run(path, cfg, info, hist, list_checkpoints(path), genotypes, status, error, bad)


# ---------------------------------------------------------------------- resume
def _truncate_logs(run_dir: Path, step: int, drop_endings: bool = True) -> list[BadLine]:
    """Drop log lines past ``step`` (and, if ``drop_endings``, earlier run endings) into discarded.jsonl.

    Corrupt lines are dropped too (recorded in discarded.jsonl with their text, and returned), so a resumed
    run's logs are clean again.
    """
    endings = ("RunFinished", "RunFailed") if drop_endings else ()
    cut: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    for name in (STEPS, EPOCHS, EVENTS):
        p = run_dir / name
        if not p.is_file():
            continue
        rows = _read_jsonl(p, bad)
        keep = []
        for r in rows:
            try:
                ok = int(r.get("step", 0)) <= step and r.get("type") not in endings
            except (TypeError, ValueError):
                ok = False
            if ok:
                keep.append(r)
            else:
                cut.append({"file": name, "row": r})
        serialize.atomic_write_text(p, "".join(_dumps(r) + "\n" for r in keep))  # also drops bad lines
    # corrupt lines are kept as evidence; a torn last line is only a cut-short write of a step that is redone
    cut += [{"file": b.file, "corrupt_line": b.line, "reason": b.reason, "raw": b.raw} for b in bad
            if not b.reason.startswith("torn")]
    if cut:
        with open(run_dir / DISCARDED, "a", encoding="utf-8") as f:
            f.write("".join(_dumps({"resumed_from_step": step, **c}) + "\n" for c in cut))
            f.flush()
            os.fsync(f.fileno())
    return bad


_TMP_RE = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}\.tmp\Z")  # serialize.atomic_write_bytes' temporary files


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False  # no cheap check; a resume does not run next to the writer
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists
        return True
    return True


def _remove_orphan_tmp_files(run_dir: Path) -> list[str]:
    """Delete temporary files left by a process killed in the middle of an atomic write (a checkpoint, a log
    rewrite, config.json); files of a writer that is still running are left alone. Returns their names."""
    removed = []
    for folder in (run_dir, run_dir / CKPT_DIR):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = _TMP_RE.match(p.name)
            if m is None or not p.is_file() or _pid_alive(int(m.group(1))):
                continue
            try:
                p.unlink()
            except OSError as exc:
                log.warning("cannot remove the orphan temporary file %s (%s)", p, exc)
                continue
            log.warning("removed %s, left by a process killed while writing", p)
            removed.append(str(p.relative_to(run_dir)))
    return removed


def resume(run_dir: str | os.PathLike[str], bus: EventBus | None = None, *, epochs: int | None = None,
           command: Sequence[str] | None = None, space: SearchSpace | None = None, task: Task | None = None,
           dataset: Any = None, method: Any = None) -> tuple[Searcher, RunStore]:
    """Rebuild a run's searcher from its folder at its newest loadable checkpoint and re-attach a store.

    ``epochs`` changes the search length (the cosine lr schedule follows it).
    ``space``, ``task`` / ``dataset`` and ``method``: the objects a run was
    started with when they are not registered by name (checked against the
    fingerprints in ``config.json``; a mismatch raises :class:`RunError`).
    A corrupt newest checkpoint is reported (logging) and the previous one
    used; :class:`CheckpointError` lists what was tried when none loads.
    """
    path = Path(run_dir)
    info = read_run_info(path)
    cfg = _config_of(info, path)
    if epochs is not None:
        cfg = cfg.replace(epochs=epochs)
    removed_tmp = _remove_orphan_tmp_files(path)
    the_space = _space_of(cfg, info, space)
    the_task = _task_of(cfg, info, task, dataset)
    the_method = _method_of(cfg, info, method)
    base_space = None
    if space is not None:  # _space_of applied removed_ops to check the fingerprint; the Searcher applies them again
        base_space = space
    searcher = Searcher(cfg, bus=bus, space=base_space, task=the_task, method=the_method)
    if searcher.space.fingerprint() != the_space.fingerprint():
        raise RunError(f"the rebuilt space (fingerprint {searcher.space.fingerprint()}) differs from the recorded "
                       f"one ({the_space.fingerprint()})")
    tried, used = [], None
    for ck in reversed(list_checkpoints(path)):
        try:
            searcher.load_state_dict(serialize.load(ck))
        except (CheckpointError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            log.warning("checkpoint %s cannot be loaded (%s); falling back to the previous one", ck, exc)
            tried.append(f"{ck.name}: {exc}")
            continue
        used = ck
        break
    if used is None:
        detail = "; ".join(tried) if tried else f"no checkpoints in {path / CKPT_DIR}"
        raise CheckpointError(f"cannot resume {path}: no checkpoint loads ({detail})")
    if searcher.step_count > searcher.total_steps:
        raise RunError(f"checkpoint {used.name} is at step {searcher.step_count}, past the end of a "
                       f"{cfg.epochs}-epoch search ({searcher.total_steps} steps); pass more epochs")
    bad = _truncate_logs(path, searcher.step_count, drop_endings=not searcher.finished)
    info["config"]["epochs"] = cfg.epochs
    info.setdefault("resumes", []).append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "checkpoint": used.name,
                                           "step": searcher.step_count, "epochs": cfg.epochs,
                                           "skipped": tried, "command": list(command) if command else None,
                                           "corrupt_lines": [b.to_dict() for b in bad],
                                           "removed_tmp_files": removed_tmp})
    serialize.atomic_write_text(path / CONFIG, json.dumps(_jsonable(info), indent=1, allow_nan=False))
    store_opts = info.get("store", {})
    store = RunStore(path, searcher, store_opts.get("checkpoint_every", 1), store_opts.get("keep", 3), resume=True)
    store._last_ckpt_step = searcher.step_count
    log.info("resumed %s from %s (step %d of %d)", path, used.name, searcher.step_count, searcher.total_steps)
    return searcher, store

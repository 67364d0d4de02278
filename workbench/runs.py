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
(at worst a torn last line, which :func:`load_run` skips). Checkpoints are
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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a JSON-lines file; a torn (unparsable, unterminated) last line is skipped with a warning."""
    if not path.is_file():
        return []
    raw = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if i == len(raw) - 1:  # no newline after it: the write was cut short
                log.warning("%s: skipping a torn last line (%d bytes; the process was probably killed)",
                            path, len(line))
                continue
            raise RunError(f"{path}: line {i + 1} is corrupt ({exc}); only a torn last line is tolerated") from None
    return out


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
    return info


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
    cfg = SearchConfig.from_dict(info["config"])
    space = _space_of(cfg, info, space)
    objective = OBJECTIVES.get(info.get("task", {}).get("objective", "cross_entropy")) \
        if info.get("task", {}).get("objective", "cross_entropy") in OBJECTIVES else None
    hist = History(space, info.get("genotype_rule"), objective.metric_names if objective else (),
                   objective.primary if objective else None)
    hist.initial_masks = {c: np.asarray(m, dtype=bool) for c, m in info["initial_masks"].items()}
    for d in _read_jsonl(path / STEPS):
        hist(_step_event(d))
    genotypes = []
    for d in _read_jsonl(path / EPOCHS):
        g = space.arch_from_dict(d["genotype"])
        hist(EpochEnded(d["epoch"], d["step"], g, d["val_loss"], _epoch_metrics(d)))
        genotypes.append((int(d["epoch"]), g))
    status, error = "incomplete", None
    for d in _read_jsonl(path / EVENTS):
        ev = _other_event(d, info["config"], space)
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
    return Run(path, cfg, info, hist, list_checkpoints(path), genotypes, status, error)


# ---------------------------------------------------------------------- resume
def _truncate_logs(run_dir: Path, step: int, drop_endings: bool = True) -> None:
    """Drop log lines past ``step`` (and, if ``drop_endings``, earlier run endings) into discarded.jsonl."""
    endings = ("RunFinished", "RunFailed") if drop_endings else ()
    cut: list[dict[str, Any]] = []
    for name in (STEPS, EPOCHS, EVENTS):
        p = run_dir / name
        if not p.is_file():
            continue
        rows = _read_jsonl(p)
        ok = [int(r.get("step", 0)) <= step and r.get("type") not in endings for r in rows]
        keep = [r for r, k in zip(rows, ok, strict=True) if k]
        cut += [{"file": name, "row": r} for r, k in zip(rows, ok, strict=True) if not k]
        serialize.atomic_write_text(p, "".join(_dumps(r) + "\n" for r in keep))  # also drops a torn last line
    if cut:
        with open(run_dir / DISCARDED, "a", encoding="utf-8") as f:
            f.write("".join(_dumps({"resumed_from_step": step, **c}) + "\n" for c in cut))
            f.flush()
            os.fsync(f.fileno())


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
    cfg = SearchConfig.from_dict(info["config"])
    if epochs is not None:
        cfg = cfg.replace(epochs=epochs)
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
    _truncate_logs(path, searcher.step_count, drop_endings=not searcher.finished)
    info["config"]["epochs"] = cfg.epochs
    info.setdefault("resumes", []).append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "checkpoint": used.name,
                                           "step": searcher.step_count, "epochs": cfg.epochs,
                                           "skipped": tried, "command": list(command) if command else None})
    serialize.atomic_write_text(path / CONFIG, json.dumps(_jsonable(info), indent=1, allow_nan=False))
    store_opts = info.get("store", {})
    store = RunStore(path, searcher, store_opts.get("checkpoint_every", 1), store_opts.get("keep", 3), resume=True)
    store._last_ckpt_step = searcher.step_count
    log.info("resumed %s from %s (step %d of %d)", path, used.name, searcher.step_count, searcher.total_steps)
    return searcher, store

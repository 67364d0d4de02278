"""Reading a run folder back: the History rebuilt from its logs, the objects it needs checked by fingerprint."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.events import (
    AnalysisResult,
    EpochEnded,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
)
from workbench.history import History
from workbench.runs.logs import (
    CONFIG,
    EPOCHS,
    EVENTS,
    STEPS,
    BadLine,
    RunError,
    _config_of,
    _epoch_metrics,
    _numbered,
    _skip,
    _step_event,
    list_checkpoints,
    read_run_info,
)
from workbench.search import SearchConfig
from workbench.spaces import ChoiceGroup, SearchSpace, space_names
from workbench.spaces.base import SPACES
from workbench.tasks import OBJECTIVES, Task

log = logging.getLogger(__name__)

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


def _other_event(d: dict[str, Any], config: dict[str, Any], space: SearchSpace) -> Any:
    d = dict(d)
    kind = d.pop("type")
    if kind == "OpMaskChanged":
        return OpMaskChanged(d["step"], d["group"] if "group" in d else d["cell_type"], d["op"],
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
            epoch = EpochEnded(int(d["epoch"]), int(d["step"]), g, d["val_loss"], _epoch_metrics(d))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            _skip(bad, path / EPOCHS, n, f"not a valid epoch record ({type(exc).__name__}: {exc})", d)
            continue
        hist.epochs = [e for e in hist.epochs if e.step < epoch.step]  # a re-run epoch replaces the rolled-back one
        genotypes = [(r.epoch, r.genotype) for r in hist.epochs]
        hist(epoch)
        genotypes.append((epoch.epoch, g))
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



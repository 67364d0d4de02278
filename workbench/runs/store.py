"""The run store: a searcher's events recorded to a folder, checkpoints written and pruned (see the package docstring)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from workbench import serialize
from workbench.events import (
    AnalysisResult,
    EpochEnded,
    OpMaskChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepEnded,
)
from workbench.history import SCALARS
from workbench.runs.logs import (
    _MAY_DIFFER_ON_RESUME,
    CKPT_DIR,
    CONFIG,
    EPOCHS,
    EVENTS,
    RUN_FORMAT,
    STEPS,
    RunError,
    _jsonable,
    _Log,
    _versions,
    list_checkpoints,
    read_run_info,
)
from workbench.search import Searcher
from workbench.serialize import CheckpointError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------- the store
def supernet_defaults(settings: Any) -> dict[str, Any] | None:
    """The default values of a supernet settings dataclass (None when it is not one, or has no defaults):
    recorded so that a run folder can be summarised without the space (:mod:`workbench.runs.digest`)."""
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        return None
    try:
        return dataclasses.asdict(type(settings)())
    except TypeError:  # no default instance
        return None


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
                "method_record": {"registered": s.provenance["method"] == "registered"},
                "space": {"name": s.space.name, "fingerprint": s.space.fingerprint(),
                          "registered": s.provenance["space"] == "registered",
                          "groups": [g.to_dict() for g in s.space.choice_groups()],
                          "supernet_defaults": supernet_defaults(s.config.supernet)},
                "task": {"name": s.task.name, "objective": s.objective.name, "fingerprint": s.task.fingerprint(),
                         "registered": s.provenance["task"] == "registered"},
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
                                      "genotype_text": str(ev.genotype), "label": self.searcher.space.label(ev.genotype),
                                      "val_loss": ev.val_loss, "val_metrics": ev.val_metrics})
            self.sync()
            if self.checkpoint_every and (ev.epoch + 1) % self.checkpoint_every == 0:
                self.checkpoint()
        elif isinstance(ev, (RunStarted, OpMaskChanged, AnalysisResult, RunFinished, RunFailed)):
            row = {"type": type(ev).__name__, **{k: getattr(ev, k) for k in ev.__dataclass_fields__}}
            if isinstance(ev, RunStarted):
                row.pop("config")  # already in config.json
                if ev.resumed:  # a rollback: the next checkpoint at a step seen before holds a new state
                    self._last_ckpt_step = None
            elif isinstance(ev, RunFinished):
                row["label"] = self.searcher.space.label(ev.genotype)
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
            log.warning("not checkpointing a failed search (%s)",
                        s.failed or (self.failed.error if self.failed is not None else None))
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

"""Resuming a run folder: the newest loadable checkpoint, logs cut back to it, orphan files removed, a store re-attached."""
from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench import serialize
from workbench.events import (
    EventBus,
)
from workbench.runs.logs import (
    CKPT_DIR,
    CONFIG,
    DISCARDED,
    EPOCHS,
    EVENTS,
    STEPS,
    BadLine,
    RunError,
    _config_of,
    _dumps,
    _jsonable,
    _read_jsonl,
    list_checkpoints,
    read_run_info,
)
from workbench.runs.reader import _method_of, _space_of, _task_of
from workbench.runs.store import RunStore
from workbench.search import Searcher
from workbench.serialize import CheckpointError
from workbench.spaces import SearchSpace
from workbench.tasks import Task

log = logging.getLogger(__name__)

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


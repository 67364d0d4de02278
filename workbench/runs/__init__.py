"""The run store: a search recorded to a folder that survives a killed process.

DESIGN.md section 7 ("History / run store"). A :class:`RunStore` observes a
searcher's bus and writes, append-only and without pickle::

    config.json          SearchConfig + space (name, fingerprint, choice groups, supernet settings' defaults) +
                         task (dataset, objective, fingerprint) + method + decoding rule + initial option masks +
                         versions + command
    steps.jsonl          one line per StepEnded (losses, metrics by name, extras, alphas and probabilities)
    epochs.jsonl         one line per EpochEnded (architecture as JSON, text and the space's label of it,
                         validation loss and metrics)
    events.jsonl         RunStarted, OpMaskChanged, AnalysisResult, RunFinished (with the label), RunFailed
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

:func:`~workbench.runs.digest.digest_run` summarises a folder from these files alone, without torch (the
labels and defaults are recorded for it): ``python -m workbench runs show`` / ``runs list``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.lazy import LazyExports

# Exported lazily (PEP 562): the run-folder readers that need no torch (logs, digest: ``runs show`` and ``runs
# list``) import without the store, the reader and resume (which build searchers, spaces and torch objects).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("CKPT_DIR", "CONFIG", "DISCARDED", "EPOCHS", "EVENTS", "RUN_FORMAT", "STEPS", "BadLine",
                     "RunError", "list_checkpoints", "read_run_info"), "workbench.runs.logs"),
    **dict.fromkeys(("Run", "load_run"), "workbench.runs.reader"),
    "resume": "workbench.runs.resume",
    "RunStore": "workbench.runs.store",
}

__all__ = ["CKPT_DIR", "CONFIG", "DISCARDED", "EPOCHS", "EVENTS", "RUN_FORMAT", "STEPS", "BadLine", "Run",
           "RunError", "RunStore", "list_checkpoints", "load_run", "read_run_info", "resume"]

LazyExports(__name__, _EXPORTS, globals())  # installs the package's __getattr__ / __dir__ (PEP 562)


if TYPE_CHECKING:  # pragma: no cover  (static checkers and IDEs see the eager imports)
    from workbench.runs.logs import (
        CKPT_DIR,
        CONFIG,
        DISCARDED,
        EPOCHS,
        EVENTS,
        RUN_FORMAT,
        STEPS,
        BadLine,
        RunError,
        list_checkpoints,
        read_run_info,
    )
    from workbench.runs.reader import Run, load_run
    from workbench.runs.resume import resume
    from workbench.runs.store import RunStore

"""A run folder summarised from its JSON files alone: what ``runs show`` and ``runs list`` print, without torch.

:func:`~workbench.runs.load_run` rebuilds a run with the engine's objects (its ``SearchConfig``, space and task
are built and checked: that imports torch, seconds). A summary needs only what the run store recorded:
``config.json``'s fields and the supernet settings' defaults, the steps done, each epoch's architecture as its
space's one-line ``label``, the events. :func:`digest_run` reads those and checks every log line as
:func:`~workbench.runs.load_run` does where that needs no space (a step's numbers and array shapes against the
recorded choice groups; an epoch's and an event's fields). It returns None when it cannot summarise the folder
alone -- written before the store recorded labels, a space object passed by hand (not registered), or a log
line that is not a valid record -- and the caller reads the folder with ``load_run`` instead, which lists the
corrupt lines or says what is wrong. :meth:`RunDigest.of_run` makes the same summary from a loaded
:class:`~workbench.runs.Run`, so the two paths print alike (tests/test_startup.py compares them).

What it does not check: that the space and the config still mean what they meant when the run was recorded
(``load_run`` compares fingerprints and validates the config against the registries): a summary shows what the
folder says.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.history import History
from workbench.runs.logs import (
    EPOCHS,
    EVENTS,
    STEPS,
    BadLine,
    _check_config_keys,
    _epoch_metrics,
    _jsonable,
    _numbered,
    _step_event,
    list_checkpoints,
    read_run_info,
)
from workbench.spaces.cell.genotype import JSON_FORMAT as GENOTYPE_FORMAT

if TYPE_CHECKING:  # pragma: no cover
    from workbench.runs.reader import Run

__all__ = ["EpochLine", "RunDigest", "digest_run", "settings_text"]

#: the fields each event type needs (``load_run`` reads these; the type must be one of them)
_EVENT_KEYS = {"OpMaskChanged": ("step", "op", "enabled"), "AnalysisResult": ("step", "kind", "values"),
               "RunFinished": ("step", "genotype", "label"), "RunFailed": ("step", "error", "error_type"),
               "RunStarted": ("step", "total_steps", "steps_per_epoch", "space", "method")}


@dataclass(frozen=True)
class EpochLine:
    """One epoch end: its index, step, the architecture's label and the validation metrics (if evaluated)."""

    epoch: int
    step: int
    label: str
    val_metrics: Mapping[str, float] | None


@dataclass
class RunDigest:
    """What a run folder says, as text and numbers (see the module docstring)."""

    path: Path
    info: dict[str, Any]
    config: dict[str, Any]  # SearchConfig.to_dict() of the run, as JSON types (as config.json holds it)
    status: str  # "finished", "failed", or "incomplete"
    error: str | None
    last_step: int  # the last step recorded (0: none)
    epochs: list[EpochLine]
    architecture: str | None  # the label of the final architecture (else the last epoch's)
    is_genotype: bool  # the architecture is a cell Genotype (else another space's architecture)
    supernet: str  # the supernet settings that differ from the defaults ("C=4"), or "defaults"
    primary_metric: str
    early_stops: list[dict[str, Any]]  # the values of the "early_stop" analysis results, in order
    checkpoints: list[Path]
    bad_lines: list[BadLine] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def total_steps(self) -> int:
        return int(self.info.get("steps_per_epoch", 0)) * int(self.config["epochs"])

    @classmethod
    def of_run(cls, run: Run) -> RunDigest:
        """The summary of a run read back by :func:`~workbench.runs.load_run` (with its space)."""
        from workbench.spaces.cell.genotype import Genotype

        h, space, arch = run.history, run.history.space, run.genotype
        return cls(run.path, run.info, _jsonable(run.config.to_dict()), run.status, run.error,
                   int(h.steps[-1]) if len(h) else 0,
                   [EpochLine(r.epoch, r.step, space.label(r.genotype), r.val_metrics) for r in h.epochs],
                   None if arch is None else space.label(arch), isinstance(arch, Genotype),
                   settings_text(run.config.supernet), h.primary_metric or "accuracy",
                   [dict(a.values) for a in h.analysis if a.kind == "early_stop"], list(run.checkpoints),
                   list(run.bad_lines))


def settings_text(settings: Any) -> str:
    """Supernet settings as their non-default fields (``C=4, layers=5``); ``defaults`` when there are none."""
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        return "defaults" if settings is None else str(settings)
    try:
        default = type(settings)()
    except TypeError:  # no default instance: show every field
        default = None
    return _changed({f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)},
                    None if default is None else dataclasses.asdict(default))


def _changed(values: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> str:
    changed = [f"{k}={v}" for k, v in values.items() if defaults is None or v != defaults[k]]
    return ", ".join(changed) or "defaults"


def _recorded_settings(supernet: Any, defaults: Any) -> str | None:
    """:func:`settings_text` of the settings as config.json records them (a dataclass's fields as JSON, with
    the defaults the store recorded); None when the record does not allow it."""
    if supernet is None:
        return "defaults"
    if not isinstance(supernet, dict) or not isinstance(defaults, dict) or list(supernet) != list(defaults):
        return None
    tupled = {k: _tuples(v) for k, v in supernet.items()}  # JSON lists were tuples (the dataclasses' sequences)
    return _changed(tupled, {k: _tuples(v) for k, v in defaults.items()})


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


@dataclass(frozen=True)
class _Group:
    """A choice group as config.json records it: enough for :meth:`History.check_step`."""

    name: str
    shape: tuple[int, int]

    def allowed_matrix(self) -> np.ndarray:
        return np.ones(self.shape, dtype=bool)


class _RecordedGroups:
    """The recorded choice groups standing in for the space (a History only asks for them)."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.groups = tuple(_Group(str(g["name"]), (len(g["rows"]), len(g["options"]))) for g in groups)

    def choice_groups(self) -> tuple[_Group, ...]:
        return self.groups


class _NotAlone(Exception):
    """The folder cannot be summarised from its files alone (see :func:`digest_run`)."""


def digest_run(run_dir: str | os.PathLike[str]) -> RunDigest | None:
    """A run folder's summary from its JSON files, without torch; None when ``load_run`` must read it.

    Raises :class:`~workbench.runs.RunError` (as ``load_run`` does) when it is not a run folder or its
    ``config.json`` is incomplete.
    """
    path = Path(run_dir)
    info = read_run_info(path)
    _check_config_keys(info, path)
    try:
        return _digest(path, info)
    except _NotAlone:
        return None


def _digest(path: Path, info: dict[str, Any]) -> RunDigest:
    cfg, space = info["config"], info["space"]
    if space.get("registered") is False or not isinstance(space.get("groups"), list):
        raise _NotAlone  # a space object passed by hand (load_run needs it again), or a folder before 0.2
    bad: list[BadLine] = []
    try:
        supernet = _recorded_settings(cfg["supernet"], space.get("supernet_defaults"))
        check = History(_RecordedGroups(space["groups"])).check_step  # type: ignore[arg-type]
        last = 0
        for _, d in _numbered(path / STEPS, bad):
            ev = _step_event(d)
            check(ev)
            last = ev.step
        epochs: list[EpochLine] = []
        last_arch = None  # the last epoch line's architecture
        for _, d in _numbered(path / EPOCHS, bad):
            line = EpochLine(int(d["epoch"]), int(d["step"]), str(d["label"]), _epoch_metrics(d))
            d["val_loss"]  # noqa: B018 - required, as load_run reads it
            epochs = [e for e in epochs if e.step < line.step] + [line]  # a re-run epoch replaces the rolled-back one
            last_arch = d["genotype"]
        status, error, final, primary, stops = "incomplete", None, None, None, []
        for _, d in _numbered(path / EVENTS, bad):
            kind = d["type"]
            for key in _EVENT_KEYS[kind]:
                d[key]  # noqa: B018 - required, as load_run reads it
            if kind == "OpMaskChanged" and "group" not in d:
                d["cell_type"]  # noqa: B018 - run folders before 0.2 name the group so
            if kind == "RunStarted":
                primary = d.get("primary_metric", "accuracy") if primary is None else primary
                if d.get("resumed", False):
                    status, error = "incomplete", None
            elif kind == "RunFinished":
                status, error, final = "finished", None, d
            elif kind == "RunFailed":
                status, error = "failed", f"{d['error_type']}: {d['error']}"
            elif kind == "AnalysisResult" and d["kind"] == "early_stop":
                stops.append(dict(d["values"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        raise _NotAlone from None  # load_run skips the line and lists it
    if bad or supernet is None:
        raise _NotAlone
    # the final architecture, else the last epoch line's (as Run.genotype)
    arch, label = (final["genotype"], str(final["label"])) if final is not None else (
        last_arch, epochs[-1].label if epochs else None)
    is_genotype = isinstance(arch, dict) and arch.get("format") == GENOTYPE_FORMAT
    return RunDigest(path, info, dict(cfg), status, error, last, epochs, label, is_genotype, supernet,
                     primary or "accuracy", stops, list_checkpoints(path))

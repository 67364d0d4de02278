"""Sweeps: many independent searches (methods x options x seeds), each into its own run folder, one table.

The comparison of :func:`workbench.compare.compare` (methods x seeds) and a
grid over a method's options or the search's settings (e.g. ``arch_lr`` x
seeds) are both lists of :class:`SweepTask`: one search each, with a
deterministic run-folder name per (method, gridded values, seed). An
*executor* runs the tasks and hands back their results as they finish:

* :class:`SerialExecutor` runs them one after the other in this process;
* :class:`RayExecutor` runs them as Ray tasks (Moritz et al., "Ray: A
  Distributed Framework for Emerging AI Applications", OSDI 2018) on a local
  runtime it starts (and stops) itself, or on an existing cluster by address.
  Ray is an optional dependency, imported only here, only when asked for.

Each task runs :func:`workbench.compare.run_one` on a plain-data payload (a
:meth:`SearchConfig.to_dict`), so both executors run the same code with the
same seeds and thread count: the rows, run folders and tables are the same
(timings aside). :func:`run_sweep` orders the rows as the tasks, whatever
order they finish in.

Resuming: a task whose run folder holds ``summary.json`` is finished and is
not run again (its saved row is read back); a folder with a checkpoint is
resumed from it (:func:`workbench.runs.resume`, via ``run_one``); a folder a
killed process left before its first checkpoint is started afresh. A folder
that holds a run of another configuration is refused (it would silently
mix two experiments in one table).

The engine stays free of Ray: this is the application layer.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover  (torch is imported by the functions that search)
    from workbench.compare import ComparisonResult
    from workbench.search import SearchConfig

log = logging.getLogger(__name__)

#: SearchConfig fields a grid may not vary: one table has one space and dataset; methods are compared with
#: ``compare`` and seeds come from ``seeds``; options and supernet settings are gridded by their own keys
NOT_GRIDDED = ("space", "dataset", "method", "method_options", "seed", "supernet", "device")
#: config fields that may differ between a run folder and the task that finds it (another machine's paths)
MAY_DIFFER = ("device", "data_root")
SUPERNET_PREFIX = "supernet."
OPTION_PREFIX = "option."
RAY_MISSING = "Ray is not installed; it is an optional dependency: pip install 'dnas-workbench[ray]' (or 'ray>=2.9'), or run without --ray"


class SweepError(ValueError):
    """A sweep that cannot run as given (bad grid, a run folder of another configuration, Ray missing)."""


class RayStartError(ConnectionError):
    """Ray is installed but its runtime could not be started or reached."""


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class SweepTask:
    """One search of a sweep: its config, its run-folder name and its label in the table."""

    config: SearchConfig
    name: str  # the run folder under the sweep's folder: <method>[-<key>=<value>...]-s<seed>
    label: str  # the table's "method" column: the method, then the gridded values
    values: Mapping[str, Any] = field(default_factory=dict)  # the gridded values of this task


def value_text(value: Any) -> str:
    """A gridded value as it appears in a label and a folder name (JSON, short floats: ``0.001``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def task_name(method: str, values: Mapping[str, Any], seed: int) -> str:
    """The deterministic run-folder name of (method, gridded values, seed): keys sorted, unsafe characters
    replaced (``darts-v1-arch_lr=0.001-s0``; without values the name ``compare`` has always used)."""
    parts = [method, *(f"{k}={value_text(values[k])}" for k in sorted(values)), f"s{seed}"]
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", "-".join(parts))


def task_label(method: str, values: Mapping[str, Any]) -> str:
    return " ".join([method, *(f"{k}={value_text(v)}" for k, v in values.items())])


def compare_tasks(base: SearchConfig, methods: Sequence[str], seeds: Sequence[int],
                  method_options: Mapping[str, Mapping[str, Any]] | None = None) -> list[SweepTask]:
    """The tasks of :func:`workbench.compare.compare`: methods x seeds, folders ``<method>-s<seed>``."""
    options = dict(method_options or {})
    unknown = sorted(set(options) - set(methods))
    if unknown:
        raise SweepError(f"method options given for {unknown}, which are not among the compared methods "
                         f"{list(methods)}")
    return [SweepTask(base.replace(method=m, method_options=dict(options.get(m, {})), seed=int(s)),
                      task_name(m, {}, int(s)), m) for m in methods for s in seeds]


def grid_tasks(base: SearchConfig, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> list[SweepTask]:
    """Every combination of the ``grid`` values x ``seeds`` for ``base``'s method (the last key varies fastest,
    seeds fastest of all).

    A key is a SearchConfig field (``arch_lr``, ``epochs``, ...; not one of :data:`NOT_GRIDDED`),
    ``supernet.<setting>`` (the space's supernet settings, e.g. ``supernet.C``), or a method option
    (``r``, or ``option.<name>`` when the name is also a SearchConfig field). Every config is built, and
    so validated, before anything runs.
    """
    fields = {f.name for f in dataclasses.fields(base)}
    keys = list(grid)
    for k in keys:
        if k in NOT_GRIDDED:
            raise SweepError(f"cannot grid over {k!r}: {_why_not(k)}")
        listed = grid[k]
        if isinstance(listed, (str, bytes)) or not isinstance(listed, Sequence) or not listed:
            raise SweepError(f"grid {k!r}: expected a non-empty list of values, got {listed!r}")
    if not seeds:
        raise SweepError("a sweep needs at least one seed")
    tasks = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        values: dict[str, Any] = dict(zip(keys, combo))
        flat: dict[str, Any] = {}
        supernet: dict[str, Any] = {}
        options = dict(base.method_options)
        for k, v in values.items():
            if k.startswith(SUPERNET_PREFIX):
                supernet[k[len(SUPERNET_PREFIX):]] = v
            elif k.startswith(OPTION_PREFIX):
                options[k[len(OPTION_PREFIX):]] = v
            elif k in fields:
                flat[k] = v
            else:
                options[k] = v
        if supernet:
            sn = base.supernet
            current = dataclasses.asdict(sn) if dataclasses.is_dataclass(sn) and not isinstance(sn, type) \
                else dict(sn or {})
            flat["supernet"] = {**current, **supernet}
        cfg = base.replace(method_options=options, **flat)
        for s in seeds:
            tasks.append(SweepTask(cfg.replace(seed=int(s)), task_name(base.method, values, int(s)),
                                   task_label(base.method, values), values))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SweepError(f"two tasks of the grid would share the run folder {dup!r}; make the values distinct")
    return tasks


def _why_not(key: str) -> str:
    return {"method": "compare methods with `compare --methods`", "seed": "list the seeds with --seeds",
            "method_options": "grid a method option by its own name (e.g. r=0.01,0.1)",
            "supernet": "grid a supernet setting as supernet.<name> (e.g. supernet.C=4,8)",
            "space": "one table holds one space", "dataset": "one table holds one dataset",
            "device": "every task of a sweep runs on the same kind of device"}[key]


# ---------------------------------------------------------------------- one task, as executors run it
def task_payload(task: SweepTask, run_dir: Path | None, *, hessian: bool, retrain: Any, table_path: Any,
                 resume: bool, threads: int | None = None) -> dict[str, Any]:
    """What an executor sends to :func:`run_task`: plain data only (a Ray worker rebuilds everything)."""
    return {"config": task.config.to_dict(), "run_dir": None if run_dir is None else str(run_dir),
            "hessian": hessian, "retrain": None if retrain is None else dataclasses.asdict(retrain),
            "table_path": None if table_path is None else str(table_path), "resume": resume, "threads": threads}


@lru_cache(maxsize=4)
def _table(space: str, path: str | None) -> tuple[Any, Any]:
    """(path, NAS-Bench-201 table) as :func:`workbench.compare.load_table`, once per process (a Ray worker
    reuses it for every task it runs)."""
    from workbench.compare import load_table
    return load_table(space, path)


def run_task(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list]]:
    """Run (or reuse / resume) one search of a sweep from its payload; returns (row, per-epoch curve).

    The function both executors call: in this process (serial) or in a Ray worker. ``threads`` sets torch's
    CPU threads for the search (a worker's results then match a serial run with the same thread count)."""
    from workbench.compare import Extras, run_one
    from workbench.search import SearchConfig

    if payload.get("threads"):
        import torch
        torch.set_num_threads(int(payload["threads"]))
    cfg = SearchConfig.from_dict(payload["config"])
    retrain = None
    if payload.get("retrain") is not None:
        from workbench.spaces.cell.discrete import EvalConfig
        retrain = EvalConfig(**payload["retrain"])
    table_path, table = _table(cfg.space, payload.get("table_path"))  # None: this machine's default, on nb201
    run_dir = None if payload.get("run_dir") is None else Path(payload["run_dir"])
    return run_one(cfg, run_dir, Extras(bool(payload["hessian"]), retrain, table_path), table,
                   bool(payload.get("resume", True)))


# ---------------------------------------------------------------------- executors
class Executor(Protocol):
    """Runs ``fn`` on every payload; yields ``(index, result)`` as each one finishes (any order)."""

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


class SerialExecutor:
    """One task after the other, in this process."""

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, p in enumerate(payloads):
            yield i, fn(p)

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`SweepError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    return ray


class RayExecutor:
    """Tasks as Ray remote functions: on a local runtime started on demand, or on an existing cluster.

    ``address``: None or ``"local"`` starts a local runtime (``num_cpus`` CPUs, default all; shut down on
    exit) unless this process is already connected to one; ``"auto"`` connects to the running cluster that
    ``ray start`` made (or ``$RAY_ADDRESS``); anything else is a cluster address (``host:6379``,
    ``ray://host:10001``). Each task reserves ``threads`` CPUs and runs torch with that many threads (so a
    task's numbers match a serial run with the same count), and ``gpus`` GPUs (Ray then points
    ``CUDA_VISIBLE_DEVICES`` at them: use device ``cuda``). Cluster workers need the workbench installed
    (``pip install dnas-workbench``) and the sweep's output folder on a filesystem they share with this
    machine (each task writes its run folder where it runs); on a local runtime the workers import this
    checkout. A local runtime
    is tried ``start_attempts`` times: on a busy machine Ray's raylet gives up when its agents take more than
    15 s to start (a fixed limit of Ray's), and a second try usually finds them faster.
    """

    def __init__(self, address: str | None = None, *, threads: int = 1, gpus: float = 0,
                 num_cpus: int | None = None, init_options: Mapping[str, Any] | None = None,
                 start_attempts: int = 2) -> None:
        if threads < 1:
            raise SweepError(f"threads per Ray task must be >= 1, got {threads}")
        self.address = None if address in (None, "local") else address
        self.threads, self.gpus, self.num_cpus = threads, gpus, num_cpus
        self.start_attempts = max(1, start_attempts)
        self.init_options = dict(init_options or {})
        self.ray = import_ray()
        self._started = False

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if ray.is_initialized():
            return self
        if self.address is None:
            root = str(Path(__file__).resolve().parents[2])  # this checkout, for the workers' imports
            path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
            opts = {"num_cpus": self.num_cpus, "include_dashboard": False, "log_to_driver": False,
                    "runtime_env": {"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": str(self.threads)}},
                    **self.init_options}
            where = "start a local Ray runtime"
        else:
            opts = {"address": self.address, **self.init_options}
            where = f"connect to the Ray cluster at {self.address}"
        attempts = self.start_attempts if self.address is None else 1
        for attempt in range(1, attempts + 1):
            try:
                ray.init(**opts)
                break
            except Exception as exc:  # Ray raises bare Exceptions (a raylet that timed out on a busy machine)
                ray.shutdown()
                if attempt == attempts:
                    raise RayStartError(f"could not {where} ({attempts} attempt{'s' if attempts > 1 else ''}): "
                                        f"{exc} (retry when the machine is less busy, or run without --ray)") from exc
                log.warning("could not %s (%s); trying again", where, exc)
        self._started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    def run(self, fn: Callable[[Any], Any], payloads: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        remote = ray.remote(num_cpus=self.threads, num_gpus=self.gpus)(fn)
        index = {remote.remote({**p, "threads": self.threads} if isinstance(p, dict) else p): i
                 for i, p in enumerate(payloads)}
        pending = list(index)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # the task's own error, not Ray's wrapper
                        cause = getattr(exc, "cause", None)
                        raise (cause if isinstance(cause, BaseException) else exc) from None
                    yield index[ref], result
        finally:
            for ref in pending:  # an error or an interrupt: stop what has not finished
                ray.cancel(ref, force=True)


# ---------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class Finished:
    """One finished task, as :func:`run_sweep` reports it to ``on_result``."""

    task: SweepTask
    row: dict[str, Any]
    reused: bool  # read back from its run folder (finished before), not searched now
    done: int  # finished tasks so far, this one included
    total: int


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(d), default=str))


def check_same_config(run_dir: Path, task: SweepTask) -> None:
    """Refuse a run folder that holds a run of another configuration than ``task``'s (device and data_root may
    differ: the same run on another machine)."""
    from workbench.runs import read_run_info

    theirs = _jsonable(read_run_info(run_dir)["config"])
    mine = _jsonable(task.config.to_dict())
    diff = [k for k in sorted(set(mine) | set(theirs)) if k not in MAY_DIFFER and mine.get(k) != theirs.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {theirs.get(k)!r} there, {mine.get(k)!r} now" for k in diff[:4])
        raise SweepError(f"{run_dir} holds a run of another configuration ({shown}); choose another output "
                         "folder, or remove that run folder to search it again")


def _prepare(run_dir: Path, task: SweepTask, resume: bool) -> bool:
    """Whether ``run_dir`` holds this task's finished result (reusable); checks and tidies the folder."""
    from workbench.compare import SUMMARY_FILE
    from workbench.runs import CONFIG, list_checkpoints

    if not resume or not run_dir.exists():
        return False
    if (run_dir / CONFIG).is_file():
        check_same_config(run_dir, task)
        if not (run_dir / SUMMARY_FILE).is_file() and not list_checkpoints(run_dir):
            log.warning("%s: killed before its first checkpoint; searching it again from the start", run_dir)
            shutil.rmtree(run_dir)
            return False
    return (run_dir / SUMMARY_FILE).is_file()


def run_sweep(tasks: Sequence[SweepTask], out_dir: str | Path | None, *, executor: Executor | None = None,
              table_path: str | Path | None = None, hessian: bool = True, retrain: Any = None,
              resume: bool = True, grid: Mapping[str, Sequence[Any]] | None = None,
              on_result: Callable[[Finished], None] | None = None) -> ComparisonResult:
    """Run ``tasks`` (all on one space and dataset) with ``executor`` (default serial) and tabulate them.

    With ``out_dir`` each task gets the folder ``out_dir/<task.name>`` and the table is written as
    ``comparison.{csv,md,json}``; finished folders are reused and interrupted ones resumed (``resume``).
    ``table_path``: a NAS-Bench-201 CSV (default on nb201: the shipped table). ``on_result`` is called once
    per task as it finishes (reused ones first). The rows come in the order of ``tasks``.
    """
    from workbench.compare import SUMMARY_FILE, ComparisonResult, comparison_config, load_table

    if not tasks:
        raise SweepError("a sweep needs at least one task")
    first = tasks[0].config
    spaces, datasets = {t.config.space for t in tasks}, {t.config.dataset for t in tasks}
    if len(spaces) > 1 or len(datasets) > 1:
        raise SweepError(f"one sweep runs on one space and one dataset, got {sorted(spaces)} and {sorted(datasets)}")
    labels = [(t.label, t.config.seed) for t in tasks]
    if len(set(labels)) != len(labels) or len({t.name for t in tasks}) != len(tasks):
        raise SweepError("two tasks of the sweep have the same label and seed (or the same folder name)")
    given = None if table_path is None else str(table_path)  # None: each worker finds its own shipped table
    table_path, _ = load_table(first.space, table_path)  # fails now on a missing table, not after the searches
    out = None if out_dir is None else Path(out_dir)
    results: dict[int, tuple[dict[str, Any], dict[str, list]]] = {}
    done = 0

    def record(i: int, row: dict[str, Any], curve: dict[str, list], reused: bool) -> None:
        nonlocal done
        t = tasks[i]
        row = {**row, "method": t.label, "seed": t.config.seed}
        if out is not None:
            row["run_dir"] = str(out / t.name)  # where it is now (a reused folder may have been moved)
        if t.values:
            row["grid"] = {"method": t.config.method, **_jsonable(t.values)}
        results[i] = row, curve
        done += 1
        if on_result is not None:
            on_result(Finished(t, row, reused, done, len(tasks)))

    payloads, todo = [], []
    for i, t in enumerate(tasks):
        run_dir = None if out is None else out / t.name
        if run_dir is not None and _prepare(run_dir, t, resume):
            saved = json.loads((run_dir / SUMMARY_FILE).read_text())
            record(i, saved["row"], saved["curve"], True)
            continue
        todo.append(i)
        payloads.append(task_payload(t, run_dir, hessian=hessian, retrain=retrain, table_path=given,
                                     resume=resume))
    executor = executor if executor is not None else SerialExecutor()
    for j, (row, curve) in executor.run(run_task, payloads):
        record(todo[j], row, curve, False)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, dict[str, list]]] = {}
    for i, t in enumerate(tasks):
        row, curve = results[i]
        rows.append(row)
        curves.setdefault(t.label, {})[str(t.config.seed)] = curve
    options = {t.label: dict(t.config.method_options) for t in tasks if t.config.method_options}
    info = comparison_config(first, options, retrain, table_path)
    if grid:
        info["grid"] = {"method": first.method, **_jsonable({k: list(v) for k, v in grid.items()})}
        info["search"]["method"] = first.method
    result = ComparisonResult(rows, first.space, first.dataset, first.epochs, info, curves)
    if out is not None:
        result.write(out)
    return result


def iter_seeds(items: Iterable[str]) -> list[int]:
    """Seeds from command-line items, each an integer or a comma-separated list (``0 1 2`` or ``0,1,2``)."""
    seeds = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                seeds.append(int(part))
            except ValueError:
                raise SweepError(f"--seeds takes integers (e.g. 0 1 2 or 0,1,2); got {item!r}") from None
    if not seeds:
        raise SweepError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds lists a seed twice: {seeds}")
    return seeds
